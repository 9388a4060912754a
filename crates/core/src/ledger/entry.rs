//! One ledger line: what kv-jit did (or refused to do), to whom, where, and on whose approval.
//!
//! There is deliberately no field that could hold a secret value, an access token or a webhook
//! URL, and parsing refuses unknown fields, so none can be smuggled in by hand either. The one
//! free-text field, `error`, is scrubbed of URLs' secrets and bearer tokens on the way in
//! ([`scrub_error`]).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The format version written in every line's `v`.
pub const FORMAT_VERSION: u32 = 1;

/// What happened. Serialised in snake_case: `granted`, `grant_failed`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The role assignment exists (PUT returned 2xx or 409 "exists").
    Granted,
    /// The PUT failed; `error` says why. The grant is not active.
    GrantFailed,
    /// The role assignment is gone (DELETE returned 2xx or 404). Ends the grant.
    Revoked,
    /// The DELETE failed; the grant stays active and is retried on the next run.
    RevokeFailed,
    /// The request was refused (policy, approval, changed after grant, reused id); `error` says why.
    Refused,
    /// Azure lost an assignment the ledger holds as active. Does not end the grant.
    Drift,
    /// The retrospective issue of a break-glass grant was opened (or found): `issue` is its
    /// number. One per request; evidence that the owners were asked, never a grant's authority.
    Retrospective,
}

impl Event {
    /// The name as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Granted => "granted",
            Event::GrantFailed => "grant_failed",
            Event::Revoked => "revoked",
            Event::RevokeFailed => "revoke_failed",
            Event::Refused => "refused",
            Event::Drift => "drift",
            Event::Retrospective => "retrospective",
        }
    }
}

/// Why a grant was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The window ended.
    Expired,
    /// The request file was deleted, set `revoke: true`, or a manual revoke was run.
    Early,
    /// An assignment kv-jit made (its description marker) that the ledger did not hold as active.
    Orphan,
    /// Removed outside kv-jit (found gone while revoking).
    External,
}

impl Reason {
    /// The name as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Early => "early",
            Reason::Orphan => "orphan",
            Reason::External => "external",
        }
    }
}

/// The Azure role, as configured: its definition id and the alias the request used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role definition GUID, e.g. `4633458b-17de-408a-b874-0445c86b69e6`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// The access window. Times are whole seconds, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub expires: DateTime<Utc>,
}

/// The approvals the grant relied on, as verified through the GitHub API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// Pull request number.
    pub pr: u64,
    /// The head commit that was approved (and merged).
    pub commit: String,
    /// One per distinct approving code owner.
    pub by: Vec<Approval>,
    /// For a break-glass grant: every owner of the request file in the trusted CODEOWNERS
    /// (`@login` or `@org/team`), all of whom were told. Absent (empty) otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

/// One approving review.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// GitHub login of the reviewer.
    pub login: String,
    /// The commit the review was made on.
    pub commit: String,
}

/// A ledger entry as stored: one JSON object per line, fields in exactly this order.
///
/// Which optional fields an event carries is the writer's business; the ledger only requires
/// `v`, `seq`, `time`, `event`, `prev` and `hash`. See [`crate::ledger`] for the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// 1 for the first line, then +1 per line.
    pub seq: u64,
    /// When it happened (the effect, not the commit), whole seconds, `Z`.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    pub event: Event,
    /// The request id (path below `requests/` without extension). Absent for an orphan whose
    /// marker named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// SHA-256 (lowercase hex) of the request file's bytes as granted or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<String>,
    /// The requester's user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The requester's Entra object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The ARM scope of the assignment (the vault, or one secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The deterministic role assignment name (UUIDv5), the same for PUT and DELETE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
    /// The workflow run that did it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// For `revoked` (and `revoke_failed`): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// For `revoked` with a window: `time − window.expires` in seconds (negative when early).
    /// Computed by [`crate::ledger::append`], never supplied by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
    /// For failures and refusals: what went wrong, scrubbed by [`scrub_error`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `granted`: how the grant ends, `revoker` or `pim`, as configured when it was made.
    /// Its revoke uses that mechanism and no other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryMode>,
    /// For `granted`: the request this one extends (its assignment is shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// For an early `revoked`: who triggered it (the GitHub login of a manual revoke, or the
    /// commit that deleted the file or set `revoke: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// For an early `revoked`: the reason they gave, scrubbed like `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For `granted`: `true` when it was granted by break-glass, without code-owner approvals
    /// (absent otherwise, and in ledgers from before break-glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
    /// For `retrospective`: the number of the GitHub issue opened for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
    /// `hash` of the previous line; 64 zeros on the first line.
    pub prev: String,
    /// SHA-256 (lowercase hex) of this line's canonical form.
    pub hash: String,
}

/// An entry before it has a place in the chain: [`crate::ledger::append`] gives it `seq`,
/// `prev`, `hash` and (for revokes) `lag_seconds`. Fields mean what they mean on [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub time: DateTime<Utc>,
    pub event: Event,
    pub request: Option<String>,
    pub request_sha256: Option<String>,
    pub requester: Option<String>,
    pub principal_id: Option<String>,
    pub vault: Option<String>,
    pub secret: Option<String>,
    pub scope: Option<String>,
    pub role: Option<Role>,
    pub assignment: Option<String>,
    pub window: Option<Window>,
    pub approvals: Option<Approvals>,
    pub run_url: Option<String>,
    pub reason: Option<Reason>,
    pub error: Option<String>,
    pub expiry: Option<ExpiryMode>,
    pub extends: Option<String>,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub break_glass: Option<bool>,
    pub issue: Option<u64>,
}

/// How a grant ends, as recorded at grant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryMode {
    /// kv-jit's scheduled revoker deletes the role assignment.
    Revoker,
    /// PIM ends the schedule by itself.
    Pim,
}

impl ExpiryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryMode::Revoker => "revoker",
            ExpiryMode::Pim => "pim",
        }
    }
}

impl NewEntry {
    /// An entry with only the required fields set; fill the rest with struct update syntax.
    pub fn new(time: DateTime<Utc>, event: Event) -> Self {
        Self {
            time,
            event,
            request: None,
            request_sha256: None,
            requester: None,
            principal_id: None,
            vault: None,
            secret: None,
            scope: None,
            role: None,
            assignment: None,
            window: None,
            approvals: None,
            run_url: None,
            reason: None,
            error: None,
            expiry: None,
            extends: None,
            actor: None,
            note: None,
            break_glass: None,
            issue: None,
        }
    }
}

impl Entry {
    /// The fields a writer supplied, without the chain's bookkeeping.
    pub fn to_new(&self) -> NewEntry {
        NewEntry {
            time: self.time,
            event: self.event,
            request: self.request.clone(),
            request_sha256: self.request_sha256.clone(),
            requester: self.requester.clone(),
            principal_id: self.principal_id.clone(),
            vault: self.vault.clone(),
            secret: self.secret.clone(),
            scope: self.scope.clone(),
            role: self.role.clone(),
            assignment: self.assignment.clone(),
            window: self.window,
            approvals: self.approvals.clone(),
            run_url: self.run_url.clone(),
            reason: self.reason,
            error: self.error.clone(),
            expiry: self.expiry,
            extends: self.extends.clone(),
            actor: self.actor.clone(),
            note: self.note.clone(),
            break_glass: self.break_glass,
            issue: self.issue,
        }
    }
}

/// Truncates to whole seconds: the ledger's time resolution, so an entry reads back equal to
/// what was written.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The longest `error` kept; longer messages are cut (with `…`) so one bad response cannot
/// bloat the ledger.
pub const MAX_ERROR_CHARS: usize = 1000;

/// Makes a failure message safe to record: URLs lose their user info, query and fragment (where
/// SAS signatures and `sig=` live), webhook URLs lose their path too, the word after `Bearer`
/// or `Basic` is replaced, JWT-looking words are replaced, control characters become spaces,
/// and the result is cut at [`MAX_ERROR_CHARS`].
///
/// This is defence in depth: kv-jit never puts a token in an error on purpose, but an error
/// from below (an HTTP library echoing a URL) might.
pub fn scrub_error(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(MAX_ERROR_CHARS));
    let mut redact_next = false;
    for (i, word) in msg.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if redact_next {
            out.push_str("***");
            redact_next = false;
            continue;
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic") {
            redact_next = true;
            out.push_str(word);
        } else if bare.starts_with("eyJ") && bare.matches('.').count() >= 2 {
            out.push_str("***");
        } else if let Some(pos) = word.find("://") {
            out.push_str(&scrub_url(word, pos));
        } else {
            out.push_str(word);
        }
    }
    let mut cleaned: String = out
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_CHARS)
        .collect();
    if out.chars().count() > MAX_ERROR_CHARS {
        cleaned.pop();
        cleaned.push('…');
    }
    cleaned
}

fn scrub_url(word: &str, scheme_end: usize) -> String {
    let (head, rest) = word.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let path_end = path.find(['?', '#']).unwrap_or(path.len());
    let (path, tail) = path.split_at(path_end);
    let path = if host.to_ascii_lowercase().contains("webhook") || path.contains("/workflows/") {
        "/***"
    } else {
        path
    };
    let tail = if tail.is_empty() { "" } else { "?***" };
    format!("{head}{host}{path}{tail}")
}

/// RFC 3339 in the one form the ledger writes: `YYYY-MM-DDTHH:MM:SSZ`. Reading accepts that
/// form only, so every time has a single spelling (the canonical form relies on it).
pub(crate) mod rfc3339 {
    use super::*;

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// A time the strict reader accepted, as it reads it (for the borrowing mirror, whose
    /// times stay text until needed).
    pub fn parse(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let b = s.as_bytes();
        let shape_ok = b.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z';
        let parsed = shape_ok
            .then(|| DateTime::parse_from_rfc3339(&s).ok())
            .flatten();
        match parsed {
            Some(t) => Ok(t.with_timezone(&Utc)),
            None => Err(serde::de::Error::custom(format_args!(
                "time `{}` is not of the form YYYY-MM-DDTHH:MM:SSZ",
                s.escape_default()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {

    /// One spelling of every event and reason: the ledger's (serde) and the one messages use.
    #[test]
    fn event_and_reason_names_are_the_ledgers() {
        use super::{Event, Reason};
        for e in [
            Event::Granted,
            Event::GrantFailed,
            Event::Revoked,
            Event::RevokeFailed,
            Event::Refused,
            Event::Drift,
            Event::Retrospective,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        for r in [
            Reason::Expired,
            Reason::Early,
            Reason::Orphan,
            Reason::External,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    use super::*;

    #[test]
    fn scrub_error_removes_credentials() {
        let msg = "POST https://user:pw@x.webhook.office.com/webhookb2/abc/IncomingWebhook/def failed; \
                   GET https://management.azure.com/subscriptions/1/x?api-version=1&sig=SECRET: \
                   header Authorization: Bearer abc.def.ghi and eyJhbGc.eyJzdWI.sig\nnext";
        let s = scrub_error(msg);
        for bad in ["pw", "webhookb2", "SECRET", "abc.def.ghi", "eyJhbGc", "\n"] {
            assert!(!s.contains(bad), "{bad} left in {s}");
        }
        assert!(s.contains("https://management.azure.com/subscriptions/1/x?***"));
        assert!(s.contains("Bearer ***"));
    }

    #[test]
    fn scrub_error_caps_length() {
        let s = scrub_error(&"x".repeat(5000));
        assert_eq!(s.chars().count(), MAX_ERROR_CHARS);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn times_have_one_spelling() {
        let ok: Window = serde_json::from_str(
            r#"{"start":"2026-11-27T09:00:00Z","expires":"2026-11-27T11:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(rfc3339::format(&ok.start), "2026-11-27T09:00:00Z");
        for bad in [
            "2026-11-27T09:00:00+00:00",
            "2026-11-27T09:00:00.5Z",
            "2026-11-27 09:00:00Z",
            "2026-13-27T09:00:00Z",
        ] {
            let json = format!(r#"{{"start":"{bad}","expires":"2026-11-27T11:00:00Z"}}"#);
            assert!(serde_json::from_str::<Window>(&json).is_err(), "{bad}");
        }
    }
}
