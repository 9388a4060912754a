//! The three renderers. All output of diagnostics goes through here.

use super::{Diagnostic, Severity};

/// How a reporting command prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `PATH:LINE:COL: error[CODE]: message`, with `help:` and `note:` lines.
    Text,
    /// One JSON document, for scripts.
    Json,
    /// Text plus GitHub Actions `::error` workflow commands (annotations on the diff).
    Github,
}

/// Renders diagnostics in `format`; text gains annotations when `annotate` (GITHUB_ACTIONS=true).
pub fn render(diags: &[Diagnostic], format: Format, annotate: bool) -> String {
    match format {
        Format::Json => render_json(diags),
        Format::Github => render_text(diags) + &render_github(diags),
        Format::Text if annotate => render_text(diags) + &render_github(diags),
        Format::Text => render_text(diags),
    }
}

pub fn render_text(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "{}:{}:{}: {sev}[{}]: {}\n",
            one_line(&d.file),
            d.line,
            d.column,
            d.code,
            one_line(&d.message)
        ));
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {}\n", one_line(help)));
        }
        for n in &d.notes {
            out.push_str(&format!(
                "  note: {}:{}:{}: {}\n",
                one_line(&n.file),
                n.line,
                n.column,
                one_line(&n.message)
            ));
        }
    }
    out
}

pub fn render_json(diags: &[Diagnostic]) -> String {
    let mut s = serde_json::to_string_pretty(diags).expect("diagnostics always serialize");
    s.push('\n');
    s
}

/// GitHub workflow commands, escaped as the runner expects: `%`, CR and LF in the message;
/// additionally `:` and `,` in property values. Without it a message holding `::` or a newline
/// from a hostile file could inject a command of its own.
pub fn render_github(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let cmd = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        for n in &d.notes {
            message.push_str(&format!("\nnote: {}:{}: {}", n.file, n.line, n.message));
        }
        out.push_str(&format!(
            "::{cmd} file={},line={},col={},title={}::{}\n",
            escape_property(&d.file),
            d.line,
            d.column,
            escape_property(d.code.as_str()),
            escape_data(&message)
        ));
    }
    out
}

pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Messages quote user text; keep every diagnostic on its own line whatever that text holds.
fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Pos};

    fn sample() -> Diagnostic {
        Diagnostic::error(
            Code::DurationTooLong,
            "requests/a,b.yaml",
            Pos::new(6, 11),
            "6h is over 4h",
        )
        .help("ask for 4h or less")
        .note(
            ".github/kv-jit.yml",
            Pos::new(12, 19),
            "max_duration 4h set here",
        )
    }

    #[test]
    fn text_has_location_code_help_and_note() {
        assert_eq!(
            render_text(&[sample()]),
            "requests/a,b.yaml:6:11: error[duration-too-long]: 6h is over 4h\n  help: ask for 4h or less\n  note: .github/kv-jit.yml:12:19: max_duration 4h set here\n"
        );
    }

    #[test]
    fn github_escapes_data_and_properties() {
        let mut d = sample();
        d.message = "50% done\r\n::error::injected".into();
        let out = render_github(&[d]);
        assert_eq!(
            out,
            "::error file=requests/a%2Cb.yaml,line=6,col=11,title=duration-too-long::50%25 done%0D%0A::error::injected%0Ahelp: ask for 4h or less%0Anote: .github/kv-jit.yml:12: max_duration 4h set here\n"
        );
        assert_eq!(out.lines().count(), 1, "one command per diagnostic");
    }

    #[test]
    fn json_is_an_array_of_objects() {
        let v: serde_json::Value = serde_json::from_str(&render_json(&[sample()])).unwrap();
        assert_eq!(v[0]["code"], "duration-too-long");
        assert_eq!(v[0]["line"], 6);
        assert_eq!(v[0]["column"], 11);
        assert_eq!(v[0]["notes"][0]["line"], 12);
    }

    #[test]
    fn a_hostile_file_name_cannot_start_a_line() {
        let mut d = sample();
        d.file = "requests/x\n::error::forged.yaml".into();
        let out = render_text(&[d]);
        assert!(out.lines().all(|l| !l.starts_with("::")), "{out}");
    }

    #[test]
    fn text_keeps_hostile_newlines_on_one_line() {
        let mut d = sample();
        d.message = "a\nfake.yaml:1:1: error[x]: y".into();
        assert_eq!(
            render_text(&[d])
                .lines()
                .filter(|l| l.contains("error["))
                .count(),
            1
        );
    }
}
