//! What a run announces, rendered: the Teams card and the GitHub job summary. Both, and the PR
//! comment, escape untrusted text with the one [`escape_markdown`]. Posting the card is an effect
//! (`kv_jit_effects::notify`); the webhook URL is a credential and never reaches this module.

use crate::ledger::{Event, NewEntry};

/// One Markdown table of what the run did, for the job summary. Request ids and messages are
/// escaped: they come from files and from Azure.
pub fn summary_markdown(title: &str, entries: &[NewEntry]) -> String {
    let mut out = format!("### {}\n\n", escape_markdown(title));
    if entries.iter().any(is_break_glass) {
        out.push_str("> **BREAK-GLASS**: access granted without code-owner approval; every owner of the request is listed below and a retrospective issue is opened.\n\n");
    }
    if entries.is_empty() {
        out.push_str("Nothing to do.\n");
        return out;
    }
    out.push_str(
        "| Outcome | Request | Who | Secret | Until | Detail |\n|---|---|---|---|---|---|\n",
    );
    for e in entries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            event_name(e),
            escape_markdown(e.request.as_deref().unwrap_or("-")),
            escape_markdown(e.requester.as_deref().unwrap_or("-")),
            escape_markdown(&format!(
                "{}/{}",
                e.vault.as_deref().unwrap_or("-"),
                e.secret.as_deref().unwrap_or("-")
            )),
            e.window.map_or("-".to_owned(), |w| w
                .expires
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            break_glass_detail(e)
                .unwrap_or_else(|| escape_markdown(e.error.as_deref().unwrap_or(""))),
        ));
    }
    out
}

fn event_name(e: &NewEntry) -> String {
    let name = e.event.as_str();
    match e.reason {
        Some(r) => format!("{name} ({})", r.as_str()),
        None if is_break_glass(e) => format!("{name} (BREAK-GLASS)"),
        None => name.to_owned(),
    }
}

/// A break-glass grant: granted without code-owner approvals.
pub fn is_break_glass(e: &NewEntry) -> bool {
    e.event == Event::Granted && e.break_glass == Some(true)
}

/// What a break-glass grant says besides its outcome: that nobody approved it and which owners
/// of the file are told (every one, escaped like all untrusted text).
pub fn break_glass_detail(e: &NewEntry) -> Option<String> {
    if !is_break_glass(e) {
        return None;
    }
    let owners: Vec<String> = e
        .approvals
        .iter()
        .flat_map(|a| a.owners.iter())
        .map(|o| escape_markdown(o))
        .collect();
    let pr = e
        .approvals
        .as_ref()
        .map(|a| format!(" merged in pull request {}", a.pr))
        .unwrap_or_default();
    Some(format!(
        "BREAK-GLASS: granted without code-owner approval{pr}; owners told: {}; a retrospective issue follows",
        if owners.is_empty() {
            "none recorded".to_owned()
        } else {
            owners.join(", ")
        }
    ))
}

/// The longest untrusted text any Markdown sink shows; the rest is cut (a request file can hold
/// anything).
pub const MAX_MARKDOWN_CHARS: usize = 400;

/// The one escaper for every Markdown sink: the PR comment and plan table, the job summary and
/// the Teams card. Untrusted text comes out as one line of literal text, and plain names and
/// times come out as they were:
/// - every character that can open inline Markdown is backslash-escaped (CommonMark lets any
///   ASCII punctuation be, and then it means only itself): `\\` `` ` `` `*` `_` `~` `[` `]` `<`
///   `>` `&` `|` `$` `!` `#`, so no code span, emphasis, link, image, HTML tag or entity, table
///   cell break or math;
/// - what would make a block at the start (`-`, `+`, `=`, `1.`, `1)`) is escaped there;
/// - autolinks are defused: the `:` of `scheme://` and the `.` of `www.` are escaped;
/// - `@` and `#` are followed by a zero-width space, so GitHub makes no @mention, e-mail
///   autolink or issue reference of them (those filters run on the rendered text, where an
///   escape is already gone);
/// - line breaks and tabs become spaces; other control characters and bidirectional overrides
///   are dropped;
/// - at most [`MAX_MARKDOWN_CHARS`] characters are kept, then `…`.
pub fn escape_markdown(text: &str) -> String {
    let chars: Vec<char> = text.chars().take(MAX_MARKDOWN_CHARS + 1).collect();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    // Still at the start of the line (only spaces so far): block markers count here.
    let mut at_start = true;
    for (i, &c) in chars.iter().enumerate() {
        if i == MAX_MARKDOWN_CHARS {
            out.push('…');
            break;
        }
        let c = match c {
            '\r' | '\n' | '\t' => ' ',
            c => c,
        };
        // `1.` or `1)` after nothing but spaces: an ordered list item.
        let ordered_marker = || {
            let digits = chars[..i]
                .iter()
                .rev()
                .take_while(|d| d.is_ascii_digit())
                .count();
            digits > 0 && chars[..i - digits].iter().all(|s| s.is_whitespace())
        };
        let escape = match c {
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '&' | '|' | '$' | '!' | '#' => {
                true
            }
            '-' | '+' | '=' => at_start,
            '.' | ')' => ordered_marker() || (c == '.' && follows_www(&chars[..i])),
            ':' => chars.get(i + 1..i + 3) == Some(&['/', '/'][..]),
            _ => false,
        };
        if c == ' ' {
            out.push(c);
            continue;
        }
        at_start = false;
        match c {
            c if escape => {
                out.push('\\');
                out.push(c);
                if c == '#' {
                    out.push('\u{200B}');
                }
            }
            '@' => out.push_str("@\u{200B}"),
            c if c.is_control() => {}
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether `before` ends with `www` as a word (GitHub autolinks `www.` there).
fn follows_www(before: &[char]) -> bool {
    let n = before.len();
    n >= 3
        && before[n - 3..].iter().all(|c| c.eq_ignore_ascii_case(&'w'))
        && (n == 3 || !before[n - 4].is_alphanumeric())
}

/// The Adaptive Card body a Teams incoming webhook (Workflows) accepts.
pub fn teams_card(title: &str, run_url: Option<&str>, entries: &[NewEntry]) -> serde_json::Value {
    let facts: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            // FactSet text is Markdown in Teams: everything from files or Azure is escaped.
            let mut value = format!(
                "{} on {}/{}",
                escape_markdown(e.requester.as_deref().unwrap_or("-")),
                escape_markdown(e.vault.as_deref().unwrap_or("-")),
                escape_markdown(e.secret.as_deref().unwrap_or("-"))
            );
            if let Some(w) = e.window {
                value.push_str(&format!(
                    " until {}",
                    w.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
            }
            if let Some(err) = &e.error {
                value.push_str(&format!(": {}", escape_markdown(err)));
            }
            if let Some(detail) = break_glass_detail(e) {
                value.push_str(&format!(". {detail}"));
            }
            serde_json::json!({
                "title": format!("{} {}", event_name(e), escape_markdown(e.request.as_deref().unwrap_or("-"))),
                "value": value,
            })
        })
        .collect();
    let failed = entries.iter().any(|e| {
        matches!(
            e.event,
            Event::GrantFailed | Event::RevokeFailed | Event::Refused | Event::Drift
        )
    });
    let break_glass = entries.iter().any(is_break_glass);
    let title = if break_glass {
        format!("BREAK-GLASS: {title}")
    } else {
        title.to_owned()
    };
    let mut body = vec![
        serde_json::json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
            "color": if failed || break_glass { "Attention" } else { "Good" }}),
        serde_json::json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(url) = run_url {
        body.push(serde_json::json!({"type": "TextBlock", "text": format!("[Workflow run]({url})"), "wrap": true}));
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Reason, Window};

    fn entry() -> NewEntry {
        NewEntry {
            request: Some("2026/a|b".into()),
            requester: Some("@alice".into()),
            vault: Some("kv".into()),
            secret: Some("s".into()),
            window: Some(Window {
                start: "2026-11-27T09:00:00Z".parse().unwrap(),
                expires: "2026-11-27T11:00:00Z".parse().unwrap(),
            }),
            reason: Some(Reason::Expired),
            ..NewEntry::new("2026-11-27T11:00:00Z".parse().unwrap(), Event::Revoked)
        }
    }

    #[test]
    fn summary_escapes_untrusted_text() {
        let md = summary_markdown("kv-jit revoke", &[entry()]);
        assert!(
            md.contains(
                "| revoked (expired) | 2026/a\\|b | @\u{200b}alice | kv/s | 2026-11-27T11:00:00Z |"
            ),
            "{md}"
        );
    }

    fn break_glass() -> NewEntry {
        NewEntry {
            event: Event::Granted,
            reason: None,
            break_glass: Some(true),
            approvals: Some(crate::ledger::Approvals {
                pr: 7,
                commit: "h".into(),
                by: vec![],
                owners: vec!["@carol".into(), "@acme/security".into()],
            }),
            ..entry()
        }
    }

    #[test]
    fn a_break_glass_grant_says_so_and_names_every_owner() {
        let md = summary_markdown("kv-jit grant", &[break_glass()]);
        assert!(md.contains("**BREAK-GLASS**"), "{md}");
        assert!(md.contains("| granted (BREAK-GLASS) |"), "{md}");
        assert!(
            md.contains("owners told: @\u{200b}carol, @\u{200b}acme/security"),
            "{md}"
        );
        let card = teams_card("kv-jit grant", None, &[break_glass()]);
        let content = &card["attachments"][0]["content"]["body"];
        assert_eq!(content[0]["text"], "BREAK-GLASS: kv-jit grant");
        assert_eq!(content[0]["color"], "Attention");
        let fact = content[1]["facts"][0]["value"].as_str().unwrap();
        assert!(
            fact.contains("BREAK-GLASS") && fact.contains("acme/security"),
            "{fact}"
        );
        // An ordinary grant says nothing of it.
        let plain = NewEntry {
            break_glass: None,
            ..break_glass()
        };
        assert!(!summary_markdown("kv-jit grant", &[plain]).contains("BREAK-GLASS"));
    }

    #[test]
    fn card_is_an_adaptive_card_message() {
        let card = teams_card(
            "kv-jit revoke",
            Some("https://github.com/o/r/actions/runs/1"),
            &[entry()],
        );
        assert_eq!(
            card["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(
            card["attachments"][0]["content"]["body"][1]["facts"][0]["title"],
            "revoked (expired) 2026/a\\|b"
        );
    }
}
