//! `kv-jit report`: who could read which secret, when, approved by whom, and how it ended,
//! from the ledger alone, as Markdown (a GitHub job summary), one self-contained HTML page
//! with an SVG timeline, or JSON ([`REPORT_VERSION`], schema `schema/report.schema.json`).
//!
//! The ledger is evidence and hostile input: only the lines that verify are reported (a broken
//! chain is named on the report's first line), and every string from it is escaped for the
//! form it lands in ([`text`]). Pure: bytes, range and "now" are handed in.

pub mod html;
pub mod markdown;
pub mod model;
pub mod text;

#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, Utc};

pub use model::{
    Approver, ChainBreak, ClassCount, End, EndClass, Failure, Grant, Lag, REPORT_VERSION,
    ReasonCount, Refusal, Report, Scope, Totals, Verified, build, reason_of, verified_prefix,
};

/// The JSON form: [`Report`] serialised, pretty, with a final newline.
pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report always serializes");
    s.push('\n');
    s
}

/// The JSON Schema of the JSON form (committed as `schema/report.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    s.push('\n');
    s
}

/// `--since` / `--until`: any RFC 3339 instant (`2026-11-01T00:00:00+01:00`), or a plain date
/// `2026-11-01`, meaning its midnight UTC.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && t.len() == 10
    {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "`{}` is neither an RFC 3339 instant nor a date; e.g. 2026-11-01T09:00:00Z or 2026-11-01 (midnight UTC)",
        t.escape_debug()
    ))
}

/// Checks a range: `since` must not be after `until`.
pub fn check_range(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(), String> {
    match (since, until) {
        (Some(s), Some(u)) if s > u => Err(format!(
            "--since {} is after --until {}: nothing can be in that range",
            text::rfc3339(s),
            text::rfc3339(u)
        )),
        _ => Ok(()),
    }
}

/// `all time`, `since …`, `until …`, `from … to …` (raw text).
fn range_words(r: &Report) -> String {
    match (r.since, r.until) {
        (None, None) => "all time".into(),
        (Some(s), None) => format!("since {}", text::time(s)),
        (None, Some(u)) => format!("until {}", text::time(u)),
        (Some(s), Some(u)) => format!("from {} to {}", text::time(s), text::time(u)),
    }
}

/// What an empty report says (raw text), or `None` when there is something to report.
fn empty_words(r: &Report) -> Option<String> {
    if r.entries == 0 {
        return Some(match &r.chain_break {
            Some(_) => "No entry verifies: there is nothing to report.".into(),
            None => "The ledger is empty: nothing was ever granted, revoked or refused.".into(),
        });
    }
    if r.grants.is_empty() && r.refusals.is_empty() && r.failures.is_empty() {
        let mut s = String::from("No grant, refusal or failure");
        if r.vault.is_some() || r.since.is_some() || r.until.is_some() {
            s.push_str(" in this range");
            if let Some(v) = &r.vault {
                s.push_str(&format!(" for vault {v}"));
            }
        }
        if let (Some(a), Some(b)) = (r.first_entry, r.last_entry) {
            s.push_str(&format!(
                ". The ledger's {} entries run from {} to {}.",
                r.entries,
                text::time(a),
                text::time(b)
            ));
        } else {
            s.push('.');
        }
        return Some(s);
    }
    None
}
