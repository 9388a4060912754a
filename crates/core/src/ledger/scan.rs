//! `verify`'s fastest path: a line read as exactly the canonical form, in one forward pass.
//!
//! A line is valid when it parses strictly as an entry *and* re-serialises to its own bytes.
//! A line in canonical form can be read without a general JSON parser: its members come in the
//! one fixed order, without whitespace, strings without escapes, integers in plain decimal. So
//! [`scan`] walks that grammar and either returns the same [`EntryRef`] serde_json would, or
//! gives up (`None`); giving up is never an error, it only sends the line down the general
//! path (serde_json, then the canonical comparison), which accepts or explains it exactly as
//! before. What `scan` accepts is therefore canonical by construction, and its canonical bytes
//! are the line's own content: no re-serialisation or comparison is needed.
//!
//! Soundness is what matters (never accept what the general path refuses, never read a value
//! differently); tests below compare both paths on every kind of member and on mutated lines.

use super::borrowed::{ApprovalRef, ApprovalsRef, EntryRef, RoleRef, WindowRef};
use super::entry::{Event, ExpiryMode, Reason};

/// The line (without its `\n`) as an entry, if it is written exactly in canonical form with
/// no escape sequence in any string; `None` otherwise (take the general path).
pub(crate) fn scan(line: &str) -> Option<EntryRef<'_>> {
    let mut s = Scanner {
        b: line.as_bytes(),
        text: line,
        i: 0,
    };
    s.lit(b"{\"v\":")?;
    let v = u32::try_from(s.uint()?).ok()?;
    s.lit(b",\"seq\":")?;
    let seq = s.uint()?;
    s.lit(b",\"time\":")?;
    let time = s.time()?;
    s.lit(b",\"event\":")?;
    let event = match s.string()? {
        "granted" => Event::Granted,
        "grant_failed" => Event::GrantFailed,
        "revoked" => Event::Revoked,
        "revoke_failed" => Event::RevokeFailed,
        "refused" => Event::Refused,
        "drift" => Event::Drift,
        "retrospective" => Event::Retrospective,
        _ => return None,
    };
    let request = s.opt_string(b",\"request\":")?;
    let request_sha256 = s.opt_string(b",\"request_sha256\":")?;
    let requester = s.opt_string(b",\"requester\":")?;
    let principal_id = s.opt_string(b",\"principal_id\":")?;
    let vault = s.opt_string(b",\"vault\":")?;
    let secret = s.opt_string(b",\"secret\":")?;
    let scope = s.opt_string(b",\"scope\":")?;
    let role = if s.eat(b",\"role\":{\"id\":") {
        let id = s.string()?;
        let alias = s.opt_string(b",\"alias\":")?;
        s.lit(b"}")?;
        Some(RoleRef { id, alias })
    } else {
        None
    };
    let assignment = s.opt_string(b",\"assignment\":")?;
    let window = if s.eat(b",\"window\":{\"start\":") {
        let start = s.time()?;
        s.lit(b",\"expires\":")?;
        let expires = s.time()?;
        s.lit(b"}")?;
        Some(WindowRef { start, expires })
    } else {
        None
    };
    let approvals = if s.eat(b",\"approvals\":{\"pr\":") {
        let pr = s.uint()?;
        s.lit(b",\"commit\":")?;
        let commit = s.string()?;
        s.lit(b",\"by\":[")?;
        let mut by = Vec::new();
        if !s.eat(b"]") {
            loop {
                s.lit(b"{\"login\":")?;
                let login = s.string()?;
                s.lit(b",\"commit\":")?;
                let commit = s.string()?;
                s.lit(b"}")?;
                by.push(ApprovalRef { login, commit });
                if s.eat(b"]") {
                    break;
                }
                s.lit(b",")?;
            }
        }
        // An empty `owners` is not canonical (it is left out): the general path says so.
        let mut owners = Vec::new();
        if s.eat(b",\"owners\":[") {
            loop {
                owners.push(s.string()?);
                if s.eat(b"]") {
                    break;
                }
                s.lit(b",")?;
            }
        }
        s.lit(b"}")?;
        Some(ApprovalsRef {
            pr,
            commit,
            by,
            owners,
        })
    } else {
        None
    };
    let run_url = s.opt_string(b",\"run_url\":")?;
    let reason = if s.eat(b",\"reason\":") {
        Some(match s.string()? {
            "expired" => Reason::Expired,
            "early" => Reason::Early,
            "orphan" => Reason::Orphan,
            "external" => Reason::External,
            _ => return None,
        })
    } else {
        None
    };
    let lag_seconds = if s.eat(b",\"lag_seconds\":") {
        Some(s.int()?)
    } else {
        None
    };
    let error = s.opt_string(b",\"error\":")?;
    let expiry = if s.eat(b",\"expiry\":") {
        Some(match s.string()? {
            "revoker" => ExpiryMode::Revoker,
            "pim" => ExpiryMode::Pim,
            _ => return None,
        })
    } else {
        None
    };
    let extends = s.opt_string(b",\"extends\":")?;
    let actor = s.opt_string(b",\"actor\":")?;
    let note = s.opt_string(b",\"note\":")?;
    let break_glass = if s.eat(b",\"break_glass\":true") {
        Some(true)
    } else if s.eat(b",\"break_glass\":false") {
        Some(false)
    } else {
        None
    };
    let issue = if s.eat(b",\"issue\":") {
        Some(s.uint()?)
    } else {
        None
    };
    s.lit(b",\"prev\":")?;
    let prev = s.string()?;
    s.lit(b",\"hash\":")?;
    let hash = s.string()?;
    s.lit(b"}")?;
    (s.i == s.b.len()).then_some(EntryRef {
        v,
        seq,
        time,
        event,
        request,
        request_sha256,
        requester,
        principal_id,
        vault,
        secret,
        scope,
        role,
        assignment,
        window,
        approvals,
        run_url,
        reason,
        lag_seconds,
        error,
        expiry,
        extends,
        actor,
        note,
        break_glass,
        issue,
        prev,
        hash,
    })
}

struct Scanner<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Consumes `lit` if the input continues with it.
    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// A string without escapes or control characters (what serde_json borrows), its text.
    fn string(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let len = memchr::memchr2(b'"', b'\\', &self.b[start..])?;
        let end = start + len;
        if self.b[end] != b'"' || self.b[start..end].iter().any(|&c| c < 0x20) {
            return None;
        }
        self.i = end + 1;
        // Both ends are ASCII quotes, so these are character boundaries.
        self.text.get(start..end)
    }

    fn opt_string(&mut self, key: &[u8]) -> Option<Option<&'a str>> {
        if self.eat(key) {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    /// A time string the strict reader accepts (`YYYY-MM-DDTHH:MM:SSZ`, a real instant).
    fn time(&mut self) -> Option<&'a str> {
        let t = self.string()?;
        let b = t.as_bytes();
        let shape = b.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z';
        (shape && chrono::DateTime::parse_from_rfc3339(t).is_ok()).then_some(t)
    }

    /// Plain decimal digits as written for a `u64`: no sign, no leading zero, no fraction.
    fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let digits = &self.text[start..self.i];
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        digits.parse().ok()
    }

    /// An `i64` as written: an optional `-` before a [`Self::uint`], never `-0`.
    fn int(&mut self) -> Option<i64> {
        if self.eat(b"-") {
            let n = self.uint()?;
            if n == 0 {
                return None;
            }
            0i64.checked_sub_unsigned(n)
        } else {
            i64::try_from(self.uint()?).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{
        Approval, Approvals, Entry, NewEntry, Role, Tip, Window, append, canonical_into, to_line,
    };

    fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    fn full() -> NewEntry {
        NewEntry {
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
                by: vec![
                    Approval {
                        login: "l".into(),
                        commit: "c".into(),
                    },
                    Approval {
                        login: "m".into(),
                        commit: "d".into(),
                    },
                ],
                owners: vec!["@carol".into(), "@acme/security".into()],
            }),
            run_url: Some("https://github.com/o/r/actions/runs/1".into()),
            reason: Some(Reason::Early),
            error: Some("plain é ✓".into()),
            expiry: Some(ExpiryMode::Pim),
            extends: Some("2026/z".into()),
            actor: Some("alice-gh".into()),
            note: Some("n".into()),
            break_glass: Some(true),
            issue: Some(42),
            ..NewEntry::new(t("2026-11-27T09:59:07Z"), Event::Revoked)
        }
    }

    /// What the general path reads: the entry, if the line is valid and canonical.
    fn general(line: &str) -> Option<Vec<u8>> {
        let e: EntryRef<'_> = serde_json::from_str(line).ok()?;
        let mut canon = Vec::new();
        e.write_canonical(&mut canon);
        let content = &line.as_bytes()[..line.len().checked_sub(75)?];
        (canon.len() == content.len() + 1 && canon.starts_with(content)).then_some(canon)
    }

    fn scanned(line: &str) -> Option<Vec<u8>> {
        let e = scan(line)?;
        let mut canon = Vec::new();
        e.write_canonical(&mut canon);
        // And it reads every member as serde_json does.
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            serde_json::to_string(&serde_json::from_str::<EntryRef<'_>>(line).unwrap()).unwrap()
        );
        Some(canon)
    }

    #[test]
    fn reads_canonical_lines_as_serde_does() {
        let mut news = vec![
            full(),
            NewEntry::new(t("2026-11-27T10:00:07Z"), Event::Drift),
        ];
        for event in [
            Event::Granted,
            Event::GrantFailed,
            Event::RevokeFailed,
            Event::Refused,
            Event::Retrospective,
        ] {
            news.push(NewEntry { event, ..full() });
        }
        let mut neg = full();
        neg.time = t("2026-11-27T08:00:00Z");
        news.push(neg);
        for e in append(&Tip::genesis(), news) {
            let line = to_line(&e);
            let line = line.trim_end();
            let mut expected = Vec::new();
            canonical_into(&e, &mut expected);
            assert_eq!(scanned(line), Some(expected), "{line}");
        }
    }

    #[test]
    fn never_accepts_what_the_general_path_refuses() {
        let e: Entry = append(&Tip::genesis(), vec![full()]).remove(0);
        let line = to_line(&e);
        let line = line.trim_end().to_owned();
        let edits: Vec<(&str, &str)> = vec![
            ("\"v\":1", "\"v\":01"),
            ("\"v\":1", "\"v\":1.0"),
            ("\"seq\":1", "\"seq\":-1"),
            ("\"seq\":1", "\"seq\": 1"),
            ("\"pr\":7", "\"pr\":07"),
            ("\"issue\":42", "\"issue\":4e1"),
            ("\"event\":\"revoked\"", "\"event\":\"Revoked\""),
            ("\"reason\":\"early\"", "\"reason\":\"late\""),
            ("\"expiry\":\"pim\"", "\"expiry\":\"PIM\""),
            ("\"break_glass\":true", "\"break_glass\":1"),
            ("2026-11-27T09:00:00Z", "2026-11-27T09:00:00+00:00"),
            ("2026-11-27T09:00:00Z", "2026-02-30T09:00:00Z"),
            ("\"request\":\"2026/a\",", ""),
            ("\"vault\":\"kv\",", "\"vault\":\"kv\",\"vault\":\"kv\","),
            (
                "\"owners\":[\"@carol\",\"@acme/security\"]",
                "\"owners\":[]",
            ),
            (",\"alias\":\"secrets-user\"", ",\"alias\":null"),
            ("\"by\":[", "\"by\":[ "),
            ("\"note\":\"n\"", "\"note\":\"n\\u0041\""),
            ("\"note\":\"n\"", "\"note\":\"n\\\"\""),
            ("\"note\":\"n\"", "\"note\":\"n\tx\""),
            ("\"note\":\"n\"", "\"note\":\"n\",\"x\":1"),
            ("{\"v\"", " {\"v\""),
        ];
        for (from, to) in edits {
            assert!(line.contains(from), "{from}");
            let bad = line.replacen(from, to, 1);
            // Whatever the general path says, the scanner never says more.
            if scan(&bad).is_some() {
                assert_eq!(scanned(&bad), general(&bad), "{bad}");
            }
        }
        // Moving a member, or cutting the line anywhere, is never read.
        let swapped = line.replacen(
            ",\"vault\":\"kv\",\"secret\":\"s\"",
            ",\"secret\":\"s\",\"vault\":\"kv\"",
            1,
        );
        assert!(scan(&swapped).is_none());
        for cut in 0..line.len() {
            if line.is_char_boundary(cut) {
                assert!(scan(&line[..cut]).is_none(), "{cut}");
            }
        }
        assert!(scan(&format!("{line} ")).is_none());
        // Large numbers: within the type, read; beyond it, left to the general path.
        let big = line.replacen("\"seq\":1", "\"seq\":18446744073709551615", 1);
        assert_eq!(scan(&big).map(|e| e.seq), Some(u64::MAX));
        let over = line.replacen("\"seq\":1", "\"seq\":18446744073709551616", 1);
        assert!(scan(&over).is_none());
        let v_over = line.replacen("\"v\":1", "\"v\":4294967296", 1);
        assert!(scan(&v_over).is_none());
    }
}
