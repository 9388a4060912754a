//! A borrowing mirror of [`Entry`] for `verify`'s hot loop: the same members, the same order,
//! the same strictness, but every string points into the line instead of being allocated.
//! A line with an escape sequence in a string cannot be borrowed and fails to parse here;
//! `verify` then takes the slow path through `Entry` (rare: ledger strings are names, ids and
//! URLs). Parsing into it is about twice as fast as into `Entry`, which is what lets a million
//! lines verify in about two seconds on two cores.
//!
//! A test below pins that both types accept and write exactly the same lines.
//!
//! [`Entry`]: super::Entry

use serde::{Deserialize, Serialize};

use super::entry::{Event, ExpiryMode, Reason};

type Str<'a> = &'a str;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryRef<'a> {
    pub v: u32,
    pub seq: u64,
    #[serde(borrow, with = "time")]
    pub time: Str<'a>,
    pub event: Event,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleRef<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowRef<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsRef<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryMode>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
    #[serde(borrow)]
    pub prev: Str<'a>,
    #[serde(borrow)]
    pub hash: Str<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleRef<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Str<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowRef<'a> {
    #[serde(borrow, with = "time")]
    pub start: Str<'a>,
    #[serde(borrow, with = "time")]
    pub expires: Str<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalsRef<'a> {
    pub pr: u64,
    #[serde(borrow)]
    pub commit: Str<'a>,
    #[serde(borrow)]
    pub by: Vec<ApprovalRef<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<Str<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalRef<'a> {
    #[serde(borrow)]
    pub login: Str<'a>,
    #[serde(borrow)]
    pub commit: Str<'a>,
}

impl EntryRef<'_> {
    /// Writes the canonical form (no `hash` member), byte for byte what serde_json writes for
    /// the same [`super::Entry`], but copying strings as they are instead of scanning them
    /// again: a string borrowed from the line had no escape sequence, and JSON strings cannot
    /// hold raw control characters, so it needs none.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"v\":");
        int(out, self.v);
        out.extend_from_slice(b",\"seq\":");
        int(out, self.seq);
        member(out, "time", self.time);
        out.extend_from_slice(b",\"event\":\"");
        out.extend_from_slice(self.event.as_str().as_bytes());
        out.push(b'"');
        opt(out, "request", &self.request);
        opt(out, "request_sha256", &self.request_sha256);
        opt(out, "requester", &self.requester);
        opt(out, "principal_id", &self.principal_id);
        opt(out, "vault", &self.vault);
        opt(out, "secret", &self.secret);
        opt(out, "scope", &self.scope);
        if let Some(r) = &self.role {
            out.extend_from_slice(b",\"role\":{\"id\":");
            string(out, r.id);
            opt(out, "alias", &r.alias);
            out.push(b'}');
        }
        opt(out, "assignment", &self.assignment);
        if let Some(w) = &self.window {
            out.extend_from_slice(b",\"window\":{\"start\":");
            string(out, w.start);
            member(out, "expires", w.expires);
            out.push(b'}');
        }
        if let Some(a) = &self.approvals {
            out.extend_from_slice(b",\"approvals\":{\"pr\":");
            int(out, a.pr);
            member(out, "commit", a.commit);
            out.extend_from_slice(b",\"by\":[");
            for (i, b) in a.by.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"login\":");
                string(out, b.login);
                member(out, "commit", b.commit);
                out.push(b'}');
            }
            out.push(b']');
            if !a.owners.is_empty() {
                out.extend_from_slice(b",\"owners\":[");
                for (i, o) in a.owners.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(out, o);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        opt(out, "run_url", &self.run_url);
        if let Some(r) = self.reason {
            out.extend_from_slice(b",\"reason\":\"");
            out.extend_from_slice(r.as_str().as_bytes());
            out.push(b'"');
        }
        if let Some(l) = self.lag_seconds {
            out.extend_from_slice(b",\"lag_seconds\":");
            int(out, l);
        }
        opt(out, "error", &self.error);
        if let Some(m) = self.expiry {
            out.extend_from_slice(b",\"expiry\":\"");
            out.extend_from_slice(m.as_str().as_bytes());
            out.push(b'"');
        }
        opt(out, "extends", &self.extends);
        opt(out, "actor", &self.actor);
        opt(out, "note", &self.note);
        if let Some(b) = self.break_glass {
            out.extend_from_slice(if b {
                b",\"break_glass\":true"
            } else {
                b",\"break_glass\":false"
            });
        }
        if let Some(n) = self.issue {
            out.extend_from_slice(b",\"issue\":");
            int(out, n);
        }
        member(out, "prev", self.prev);
        out.push(b'}');
    }
}

impl EntryRef<'_> {
    /// The owned entry, as serde_json would read the same line into [`super::Entry`]. `None`
    /// only for a time that does not parse, which the strict reader (the same parse) has
    /// already refused.
    pub fn to_entry(&self) -> Option<super::Entry> {
        use super::entry::{Approval, Approvals, Entry, Role, Window};
        let time = super::entry::rfc3339::parse;
        let s = |v: &Option<Str<'_>>| v.map(str::to_owned);
        Some(Entry {
            v: self.v,
            seq: self.seq,
            time: time(self.time)?,
            event: self.event,
            request: s(&self.request),
            request_sha256: s(&self.request_sha256),
            requester: s(&self.requester),
            principal_id: s(&self.principal_id),
            vault: s(&self.vault),
            secret: s(&self.secret),
            scope: s(&self.scope),
            role: self.role.as_ref().map(|r| Role {
                id: r.id.to_owned(),
                alias: s(&r.alias),
            }),
            assignment: s(&self.assignment),
            window: match &self.window {
                Some(w) => Some(Window {
                    start: time(w.start)?,
                    expires: time(w.expires)?,
                }),
                None => None,
            },
            approvals: self.approvals.as_ref().map(|a| Approvals {
                pr: a.pr,
                commit: a.commit.to_owned(),
                by: a
                    .by
                    .iter()
                    .map(|b| Approval {
                        login: b.login.to_owned(),
                        commit: b.commit.to_owned(),
                    })
                    .collect(),
                owners: a.owners.iter().map(|o| (*o).to_owned()).collect(),
            }),
            run_url: s(&self.run_url),
            reason: self.reason,
            lag_seconds: self.lag_seconds,
            error: s(&self.error),
            expiry: self.expiry,
            extends: s(&self.extends),
            actor: s(&self.actor),
            note: s(&self.note),
            break_glass: self.break_glass,
            issue: self.issue,
            prev: self.prev.to_owned(),
            hash: self.hash.to_owned(),
        })
    }
}

fn int(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn member(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, value);
}

fn opt(out: &mut Vec<u8>, key: &str, value: &Option<&str>) {
    if let Some(v) = value {
        member(out, key, v);
    }
}

/// Times stay text, but only text that [`super::entry`]'s strict reader accepts.
mod time {
    use super::*;
    use serde::de::IntoDeserializer;

    pub fn serialize<S: serde::Serializer>(t: &Str<'_>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Str<'de>, D::Error> {
        let s = <Str<'de>>::deserialize(d)?;
        let check: Result<_, serde::de::value::Error> =
            crate::ledger::entry::rfc3339::deserialize(s.into_deserializer());
        check.map_err(serde::de::Error::custom)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Approval, Approvals, Entry, NewEntry, Role, Tip, Window, append, to_line};

    #[test]
    fn mirrors_entry_exactly() {
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let full = NewEntry {
            request: Some("2026/a".into()),
            request_sha256: Some("1".repeat(64)),
            requester: Some("a@b.c".into()),
            principal_id: Some("p".into()),
            vault: Some("kv".into()),
            secret: Some("s".into()),
            scope: Some("/x".into()),
            role: Some(Role {
                id: "r".into(),
                alias: Some("secrets-user".into()),
            }),
            assignment: Some("as".into()),
            window: Some(Window {
                start: t("2026-11-27T09:00:00Z"),
                expires: t("2026-11-27T10:00:00Z"),
            }),
            approvals: Some(Approvals {
                pr: 7,
                commit: "c".into(),
                by: vec![Approval {
                    login: "l".into(),
                    commit: "c".into(),
                }],
                owners: vec!["@carol".into(), "@acme/security".into()],
            }),
            break_glass: Some(true),
            issue: Some(42),
            run_url: Some("https://github.com/o/r/actions/runs/1".into()),
            reason: Some(Reason::Expired),
            error: Some("plain é ✓".into()),
            ..NewEntry::new(t("2026-11-27T10:00:07Z"), Event::Revoked)
        };
        let e = &append(&Tip::genesis(), vec![full])[0];
        assert!(e.lag_seconds.is_some());
        let line = to_line(e);
        let r: EntryRef<'_> = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(format!("{}\n", serde_json::to_string(&r).unwrap()), line);
        assert_eq!(r.to_entry().as_ref(), Some(e));
        let mut canonical = Vec::new();
        r.write_canonical(&mut canonical);
        let mut expected = Vec::new();
        crate::ledger::canonical_into(e, &mut expected);
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        // Minimal entries too (every optional member absent).
        let min = &append(
            &Tip::genesis(),
            vec![NewEntry::new(t("2026-11-27T10:00:07Z"), Event::Drift)],
        )[0];
        let min_line = to_line(min);
        let r: EntryRef<'_> = serde_json::from_str(min_line.trim_end()).unwrap();
        let mut canonical = Vec::new();
        r.write_canonical(&mut canonical);
        let mut expected = Vec::new();
        crate::ledger::canonical_into(min, &mut expected);
        assert_eq!(canonical, expected);
        // A string with an escape cannot be borrowed: the slow path handles it.
        let escaped = line.replacen("plain", "pl\\u0061in", 1);
        assert!(serde_json::from_str::<EntryRef<'_>>(escaped.trim_end()).is_err());
        // And the reverse: what the mirror refuses, Entry refuses.
        for bad in [
            line.replacen("\"v\":1,", "\"v\":1,\"x\":1,", 1),
            line.replacen("\"role\":{\"id\"", "\"role\":{\"x\":1,\"id\"", 1),
            line.replacen("2026-11-27T09:00:00Z", "2026-11-27T09:00:00+00:00", 1),
        ] {
            assert!(serde_json::from_str::<EntryRef<'_>>(bad.trim_end()).is_err());
            assert!(serde_json::from_str::<Entry>(bad.trim_end()).is_err());
        }
    }
}
