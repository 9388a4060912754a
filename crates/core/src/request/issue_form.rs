//! Requests filed through the GitHub issue form (`.github/ISSUE_TEMPLATE/kv-jit-request.yml`).
//! GitHub renders a submitted form as Markdown: one `### <label>` heading per field, then the
//! answer; an optional field left empty reads `_No response_`. [`parse`] reads that body back
//! into the fields, [`to_yaml`] writes the request file `kv-jit new --from-issue` commits. The
//! body is hostile (anyone who can open an issue writes it): every value is written as one
//! quoted YAML scalar, and the file then goes through the same parser and policy as any request.

use std::collections::BTreeMap;

/// The form's labels (the `### ` headings), in the order of the request's keys.
pub const FIELDS: [(&str, &str); 7] = [
    ("Vault", "vault"),
    ("Secret", "secret"),
    ("Duration", "duration"),
    ("Justification", "justification"),
    ("Ticket", "ticket"),
    ("Role", "role"),
    ("Start", "start"),
];

/// The label every form submission carries.
pub const LABEL: &str = "kv-jit-request";

/// What GitHub writes for an optional field left empty.
pub const NO_RESPONSE: &str = "_No response_";

/// The answers of a rendered form body, by request key (`vault`, `secret`, ...); empty and
/// `_No response_` answers are left out, unknown headings ignored, a repeated heading's first
/// answer kept.
pub fn parse(body: &str) -> BTreeMap<&'static str, String> {
    let mut out: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut current: Option<&'static str> = None;
    let mut text: Vec<&str> = Vec::new();
    let mut flush = |key: Option<&'static str>, text: &mut Vec<&str>| {
        if let Some(key) = key {
            let value = text.join("\n").trim().to_owned();
            if !value.is_empty() && value != NO_RESPONSE {
                out.entry(key).or_insert(value);
            }
        }
        text.clear();
    };
    for line in body.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(heading) = line.strip_prefix("### ") {
            flush(current, &mut text);
            current = FIELDS
                .iter()
                .find(|(label, _)| label.eq_ignore_ascii_case(heading.trim()))
                .map(|(_, key)| *key);
            continue;
        }
        text.push(line);
    }
    flush(current, &mut text);
    out
}

/// The request file for `fields` (from [`parse`]), for `requester`, naming `issue`. Values are
/// JSON-quoted, which YAML reads as double-quoted scalars: nothing in them can start a key, a
/// comment, an anchor or a second document.
pub fn to_yaml(fields: &BTreeMap<&'static str, String>, requester: &str, issue: u64) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut out = format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: {}\n",
        q(requester)
    );
    for (_, key) in FIELDS {
        if let Some(value) = fields.get(key) {
            out.push_str(&format!("{key}: {}\n", q(value)));
        }
    }
    out.push_str(&format!("issue: {issue}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Sink;

    const BODY: &str = "### Vault\n\nflowlibs-demo-kv\n\n### Secret\n\ndemo-api-key\n\n### Duration\n\n2h\n\n### Justification\n\nRotate the partner API client\nafter INC-4821\n\n### Ticket\n\nINC-4821\n\n### Role\n\n_No response_\n\n### Start\n\n_No response_\n";

    #[test]
    fn a_rendered_form_reads_back() {
        let f = parse(BODY);
        assert_eq!(f["vault"], "flowlibs-demo-kv");
        assert_eq!(
            f["justification"],
            "Rotate the partner API client\nafter INC-4821"
        );
        assert!(!f.contains_key("role") && !f.contains_key("start"));
        let yaml = to_yaml(&f, "alice@contoso.com", 5);
        assert!(yaml.ends_with("ticket: \"INC-4821\"\nissue: 5\n"), "{yaml}");
        let mut sink = Sink::new("requests/issue-5.yaml");
        let raw = crate::request::parse_raw(yaml.as_bytes(), &mut sink).unwrap();
        assert!(sink.diags.is_empty(), "{:?}", sink.diags);
        assert_eq!(raw.issue.unwrap().value, 5);
        assert_eq!(
            raw.justification.unwrap().value,
            "Rotate the partner API client\nafter INC-4821"
        );
    }

    #[test]
    fn hostile_answers_stay_values() {
        let body = "### Vault\n\nkv\nrequester: mallory@evil.com\n### Secret\n\n&a x\n### Duration\n\n\"2h\" # \\\n### Justification\n\n---\nkind: Other\n### Unknown\n\nignored\n### Vault\n\nsecond\n";
        let f = parse(body);
        assert_eq!(f["vault"], "kv\nrequester: mallory@evil.com");
        let yaml = to_yaml(&f, "alice@contoso.com", 5);
        let mut sink = Sink::new("requests/issue-5.yaml");
        let raw = crate::request::parse_raw(yaml.as_bytes(), &mut sink).unwrap();
        assert!(sink.diags.is_empty(), "{:?}", sink.diags);
        assert_eq!(raw.requester.unwrap().value, "alice@contoso.com");
        assert_eq!(raw.vault.unwrap().value, "kv\nrequester: mallory@evil.com");
        assert_eq!(raw.secret.unwrap().value, "&a x");
        assert_eq!(raw.justification.unwrap().value, "---\nkind: Other");
        assert_eq!(raw.kind.unwrap().value, "AccessRequest");
    }
}
