//! Access durations: `30m`, `2h`, `1h30m`, or ISO 8601 `PT2H`, `PT90M`, `PT1H30M`. Minutes are
//! the resolution; a bare number is refused because `2` could mean hours or minutes.

use std::fmt;

/// A positive whole number of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    minutes: u32,
}

/// A refusal with the words for the message and, where known, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    pub message: String,
    pub help: Option<String>,
}

/// Longest duration any config may allow: a year (kv-jit is for just-in-time access).
const MAX_MINUTES: u64 = 366 * 24 * 60;

impl Duration {
    pub fn from_minutes(minutes: u32) -> Option<Self> {
        (minutes > 0 && u64::from(minutes) <= MAX_MINUTES).then_some(Self { minutes })
    }

    pub fn minutes(self) -> u32 {
        self.minutes
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.minutes))
    }

    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let err = |message: String, help: Option<&str>| DurationError {
            message,
            help: help.map(str::to_owned),
        };
        let shown = crate::names::escape(s);
        if s.starts_with('-') {
            return Err(err(
                format!("duration `{shown}` is negative"),
                Some("ask for a positive duration such as `2h`"),
            ));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DurationError {
                message: format!("duration `{shown}` has no unit"),
                help: Some(format!("write `{s}h` for hours or `{s}m` for minutes")),
            });
        }
        let (body, hour, minute, iso) = match s.strip_prefix("PT") {
            Some(rest) => (rest, 'H', 'M', true),
            None => (s, 'h', 'm', false),
        };
        let form_help = Some("use minutes or hours: `30m`, `2h`, `1h30m`, or ISO 8601 `PT2H`");
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut seen_hours = false;
        let mut seen_minutes = false;
        for c in body.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let value: u64 = match number.parse() {
                Ok(v) if number.len() <= 9 => v,
                _ => {
                    return Err(err(
                        format!("duration `{shown}` is not understood"),
                        form_help,
                    ));
                }
            };
            number.clear();
            if c == hour && !seen_hours && !seen_minutes {
                seen_hours = true;
                total += value * 60;
            } else if c == minute && !seen_minutes {
                seen_minutes = true;
                total += value;
            } else if !iso && matches!(c, 'd' | 's' | 'w') || iso && matches!(c, 'S') {
                return Err(err(
                    format!("duration `{shown}` uses a unit kv-jit does not take"),
                    form_help,
                ));
            } else {
                return Err(err(
                    format!("duration `{shown}` is not understood"),
                    form_help,
                ));
            }
        }
        if !number.is_empty() || !(seen_hours || seen_minutes) {
            return Err(err(
                format!("duration `{shown}` is not understood"),
                form_help,
            ));
        }
        if total == 0 {
            return Err(err(
                format!("duration `{shown}` is zero"),
                Some("ask for at least one minute, e.g. `30m`"),
            ));
        }
        if total > MAX_MINUTES {
            return Err(err(
                format!("duration `{shown}` is over a year"),
                Some("ask for hours, not months"),
            ));
        }
        Ok(Self {
            minutes: total as u32,
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m) = (self.minutes / 60, self.minutes % 60);
        match (h, m) {
            (0, m) => write!(f, "{m}m"),
            (h, 0) => write!(f, "{h}h"),
            (h, m) => write!(f, "{h}h{m}m"),
        }
    }
}

/// The JSON Schema pattern of the accepted forms (the parser is the authority; this helps editors).
pub const PATTERN: &str = r"^(([0-9]+h)?([0-9]+m)?|PT([0-9]+H)?([0-9]+M)?)$";

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(s: &str) -> u32 {
        Duration::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {}", e.message))
            .minutes()
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(mins("30m"), 30);
        assert_eq!(mins("2h"), 120);
        assert_eq!(mins("1h30m"), 90);
        assert_eq!(mins("90m"), 90);
        assert_eq!(mins("PT2H"), 120);
        assert_eq!(mins("PT90M"), 90);
        assert_eq!(mins("PT1H30M"), 90);
    }

    #[test]
    fn refused_forms_say_why() {
        for (s, words) in [
            ("0h", "zero"),
            ("PT0M", "zero"),
            ("-2h", "negative"),
            ("2", "no unit"),
            ("", "not understood"),
            ("h", "not understood"),
            ("2H", "not understood"),
            ("30m1h", "not understood"),
            ("2h2h", "not understood"),
            ("1d", "unit"),
            ("PT30S", "unit"),
            ("P1D", "not understood"),
            ("2 h", "not understood"),
            ("99999999999h", "not understood"),
            ("9000h", "over a year"),
            ("２h", "not understood"),
        ] {
            let e = Duration::parse(s).expect_err(s);
            assert!(e.message.contains(words), "{s}: {}", e.message);
        }
        assert_eq!(
            Duration::parse("2").unwrap_err().help.unwrap(),
            "write `2h` for hours or `2m` for minutes"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["30m", "2h", "1h30m"] {
            assert_eq!(Duration::parse(s).unwrap().to_string(), s);
        }
    }
}
