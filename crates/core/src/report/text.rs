//! Escaping and the words shared by the Markdown and HTML forms. Everything a ledger line
//! holds is hostile text: it goes through [`html`] or [`md`] before it reaches a page.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::{End, Grant};

/// Text for HTML or XML (elements and quoted attributes alike): `& < > " '` become
/// character references, control characters become spaces.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Markdown table cell or inline run (GitHub Flavored Markdown): one line, every
/// character that could start markup backslash-escaped, `< > &` as character references (so
/// no raw HTML reaches the page), `|` escaped so a cell cannot be split.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-27 09:00Z`, or with seconds when they are not zero.
pub fn time(t: DateTime<Utc>) -> String {
    if t.timestamp() % 60 == 0 {
        t.format("%Y-%m-%d %H:%MZ").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%SZ").to_string()
    }
}

/// RFC 3339, as the ledger writes it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `1d 2h`, `2h 5m`, `45m`, `30s`: the two largest units.
pub fn duration(seconds: i64) -> String {
    let neg = seconds < 0;
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let _ = if d > 0 {
        write!(out, "{d}d {h}h")
    } else if h > 0 {
        write!(out, "{h}h {m}m")
    } else if m > 0 {
        if sec > 0 {
            write!(out, "{m}m {sec}s")
        } else {
            write!(out, "{m}m")
        }
    } else {
        write!(out, "{sec}s")
    };
    out
}

/// Hours with one decimal: `12.5 h`.
pub fn hours(seconds: i64) -> String {
    format!("{:.1} h", seconds as f64 / 3600.0)
}

/// A revoke lag: `+2m 5s` late, `-1h 0m` early, `—` when none.
pub fn lag(seconds: Option<i64>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s >= 0 => format!("+{}", duration(s)),
        Some(s) => duration(s),
    }
}

/// The approved window: `2026-11-27 09:00Z → 11:00Z (2h 0m)`.
pub fn window(g: &Grant) -> String {
    match (g.window_start, g.window_expires) {
        (Some(s), Some(e)) => {
            let end = if s.date_naive() == e.date_naive() {
                e.format("%H:%MZ").to_string()
            } else {
                time(e)
            };
            format!("{} → {end} ({})", time(s), duration((e - s).num_seconds()))
        }
        _ => "not recorded".into(),
    }
}

/// How it ended, in words (raw text: escape it for the form).
pub fn ending(g: &Grant) -> String {
    let mut out = match g.end {
        End::Active => "still active".to_owned(),
        End::Expired => "expired".to_owned(),
        End::Early => {
            let mut s = "revoked early".to_owned();
            if let Some(by) = &g.revoked_by {
                let _ = write!(s, " by {by}");
            }
            if let Some(note) = &g.revoke_note {
                let _ = write!(s, ": {note}");
            }
            s
        }
        End::Orphan => "orphan removed (the ledger did not hold it as active)".to_owned(),
        End::Drift => "drift: Azure lost the assignment".to_owned(),
    };
    if let Some(t) = g.revoked_at
        && g.end != End::Active
    {
        let _ = write!(out, " at {}", time(t));
    }
    if g.end == End::Drift && g.revoked_at.is_none() {
        out.push_str(" (not revoked yet)");
    }
    if let Some(err) = &g.revoke_error {
        let _ = write!(out, "; left in place: {err}");
    }
    out
}

/// Who approved: `bob-sec, carol`; break-glass: `break-glass (owners told: @a, @b)`.
pub fn approvers(g: &Grant) -> String {
    if g.break_glass {
        let mut s = "break-glass, no approval".to_owned();
        if !g.owners.is_empty() {
            let _ = write!(s, " (owners told: {})", g.owners.join(", "));
        }
        if let Some(i) = g.retrospective_issue {
            let _ = write!(s, "; retrospective #{i}");
        }
        return s;
    }
    if g.approvers.is_empty() {
        return if g.pr.is_some() {
            "none recorded".into()
        } else {
            "—".into()
        };
    }
    g.approvers
        .iter()
        .map(|a| a.login.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn pr(g: &Grant) -> String {
    g.pr.map_or_else(|| "—".into(), |n| format!("#{n}"))
}

/// The hover text of a grant's bar (raw).
pub fn hover(g: &Grant) -> String {
    let mut s = format!(
        "{} — {}\nrequest: {}\nwindow: {}\napproved by: {}",
        g.person(),
        g.target(),
        g.request.as_deref().unwrap_or("(none recorded)"),
        window(g),
        approvers(g),
    );
    if let Some(n) = g.pr {
        let _ = write!(s, " (PR #{n})");
    }
    let _ = write!(
        s,
        "\nended: {}\nrevoke lag: {}",
        ending(g),
        lag(g.lag_seconds)
    );
    s
}
