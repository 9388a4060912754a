//! An entry by its event: the typed view of the flat wire form. [`Entry`] keeps the canonical
//! member order (the ledger's format); [`Body`] says which members each event carries, so a
//! reader matches on the event and gets them, instead of unwrapping optional fields one by one.
//! An entry that lacks what its event needs (kv-jit always writes them; only a hand-made line
//! can lack them) is a [`Missing`], which readers treat as not acted on.

use super::entry::{Approvals, Entry, Event, ExpiryMode, Reason, Window};

/// What a `granted` entry carries: everything its revoke needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted<'a> {
    pub request: &'a str,
    pub request_sha256: &'a str,
    pub requester: &'a str,
    pub principal_id: &'a str,
    pub vault: &'a str,
    pub secret: &'a str,
    pub scope: &'a str,
    pub role_id: &'a str,
    pub assignment: &'a str,
    pub window: Window,
    pub approvals: Option<&'a Approvals>,
    /// `None` in ledgers from before it was recorded.
    pub expiry: Option<ExpiryMode>,
    pub extends: Option<&'a str>,
    /// Granted by break-glass, without code-owner approvals.
    pub break_glass: bool,
}

/// An entry's body, by event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    Granted(Granted<'a>),
    GrantFailed {
        request: Option<&'a str>,
        error: Option<&'a str>,
    },
    /// `request` is absent for an orphan whose marker named none.
    Revoked {
        request: Option<&'a str>,
        assignment: Option<&'a str>,
        reason: Option<Reason>,
        lag_seconds: Option<i64>,
    },
    RevokeFailed {
        request: Option<&'a str>,
        error: Option<&'a str>,
    },
    /// A refusal is recorded once per (request, file content).
    Refused {
        request: &'a str,
        request_sha256: &'a str,
        error: Option<&'a str>,
    },
    Drift {
        request: Option<&'a str>,
        assignment: Option<&'a str>,
    },
    /// A break-glass grant's retrospective issue.
    Retrospective {
        request: &'a str,
        issue: u64,
    },
}

/// An entry without a member its event needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a `{event}` entry has no `{member}`")]
pub struct Missing {
    pub event: &'static str,
    pub member: &'static str,
}

impl Entry {
    /// This entry's body, or the first member its event needs that it lacks.
    pub fn body(&self) -> Result<Body<'_>, Missing> {
        let need = |member: &'static str| Missing {
            event: self.event.as_str(),
            member,
        };
        Ok(match self.event {
            Event::Granted => Body::Granted(Granted {
                request: self.request.as_deref().ok_or(need("request"))?,
                request_sha256: self
                    .request_sha256
                    .as_deref()
                    .ok_or(need("request_sha256"))?,
                requester: self.requester.as_deref().ok_or(need("requester"))?,
                principal_id: self.principal_id.as_deref().ok_or(need("principal_id"))?,
                vault: self.vault.as_deref().ok_or(need("vault"))?,
                secret: self.secret.as_deref().ok_or(need("secret"))?,
                scope: self.scope.as_deref().ok_or(need("scope"))?,
                role_id: self
                    .role
                    .as_ref()
                    .map(|r| r.id.as_str())
                    .ok_or(need("role"))?,
                assignment: self.assignment.as_deref().ok_or(need("assignment"))?,
                window: self.window.ok_or(need("window"))?,
                approvals: self.approvals.as_ref(),
                expiry: self.expiry,
                extends: self.extends.as_deref(),
                break_glass: self.break_glass == Some(true),
            }),
            Event::GrantFailed => Body::GrantFailed {
                request: self.request.as_deref(),
                error: self.error.as_deref(),
            },
            Event::Revoked => Body::Revoked {
                request: self.request.as_deref(),
                assignment: self.assignment.as_deref(),
                reason: self.reason,
                lag_seconds: self.lag_seconds,
            },
            Event::RevokeFailed => Body::RevokeFailed {
                request: self.request.as_deref(),
                error: self.error.as_deref(),
            },
            Event::Refused => Body::Refused {
                request: self.request.as_deref().ok_or(need("request"))?,
                request_sha256: self
                    .request_sha256
                    .as_deref()
                    .ok_or(need("request_sha256"))?,
                error: self.error.as_deref(),
            },
            Event::Drift => Body::Drift {
                request: self.request.as_deref(),
                assignment: self.assignment.as_deref(),
            },
            Event::Retrospective => Body::Retrospective {
                request: self.request.as_deref().ok_or(need("request"))?,
                issue: self.issue.ok_or(need("issue"))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{NewEntry, Role, Tip, append};

    fn granted() -> NewEntry {
        let t = "2026-11-27T09:00:00Z".parse().unwrap();
        NewEntry {
            request: Some("2026/a".into()),
            request_sha256: Some("ab".repeat(32)),
            requester: Some("alice@contoso.com".into()),
            principal_id: Some("p".into()),
            vault: Some("kv".into()),
            secret: Some("s".into()),
            scope: Some("/subscriptions/x".into()),
            role: Some(Role {
                id: "r".into(),
                alias: None,
            }),
            assignment: Some("n".into()),
            window: Some(Window {
                start: t,
                expires: t + chrono::Duration::hours(2),
            }),
            ..NewEntry::new(t, Event::Granted)
        }
    }

    #[test]
    fn a_granted_entry_carries_what_its_revoke_needs() {
        let e = &append(&Tip::genesis(), vec![granted()])[0];
        let Ok(Body::Granted(g)) = e.body() else {
            panic!("{:?}", e.body());
        };
        assert_eq!(
            (g.request, g.scope, g.role_id),
            ("2026/a", "/subscriptions/x", "r")
        );
        type Strip = fn(&mut NewEntry);
        let rows: &[(&str, Strip)] = &[
            ("scope", |n| n.scope = None),
            ("assignment", |n| n.assignment = None),
            ("window", |n| n.window = None),
            ("role", |n| n.role = None),
            ("principal_id", |n| n.principal_id = None),
        ];
        for (member, strip) in rows {
            let mut n = granted();
            strip(&mut n);
            let e = &append(&Tip::genesis(), vec![n])[0];
            assert_eq!(
                e.body(),
                Err(Missing {
                    event: "granted",
                    member
                })
            );
        }
    }

    #[test]
    fn a_refusal_names_its_request_and_content() {
        let t = "2026-11-27T09:00:00Z".parse().unwrap();
        let n = NewEntry {
            request: Some("2026/a".into()),
            request_sha256: Some("cd".repeat(32)),
            error: Some("not approved".into()),
            ..NewEntry::new(t, Event::Refused)
        };
        let e = &append(&Tip::genesis(), vec![n.clone()])[0];
        assert!(matches!(
            e.body(),
            Ok(Body::Refused {
                request: "2026/a",
                error: Some("not approved"),
                ..
            })
        ));
        let e = &append(
            &Tip::genesis(),
            vec![NewEntry {
                request_sha256: None,
                ..n
            }],
        )[0];
        assert_eq!(e.body().unwrap_err().member, "request_sha256");
    }
}
