//! The plan: a pure function of (requests on the default branch, ledger state, now) → actions.
//! It reads no clock and calls nothing, so `kv-jit plan --now T` answers "what would happen at T"
//! and the table of cases below is tested exhaustively without a cloud.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::request::{Request, RequestId};

/// A valid request file as found on the default branch.
#[derive(Debug, Clone)]
pub struct Desired {
    pub request: Request,
    /// SHA-256 (hex) of the file's bytes, so a grant is bound to exactly what was approved.
    pub sha256: String,
}

/// A request file on the default branch that did not validate: refused, never granted.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub id: RequestId,
    pub path: String,
    pub sha256: String,
    pub problems: Vec<String>,
}

/// What the ledger says about one grant that is still active (granted, not revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveGrant {
    pub request: RequestId,
    pub request_sha256: String,
    pub start: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// Everything a revoke needs, copied from the `granted` entry.
    pub assignment: String,
    pub scope: String,
    pub vault: String,
    pub secret: String,
    pub requester: String,
    pub principal_id: String,
    pub role_id: String,
}

/// The ledger reduced to what planning needs.
#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    pub active: BTreeMap<RequestId, ActiveGrant>,
    /// Ids that were ever granted, with the file hash they were granted for.
    pub granted: BTreeMap<RequestId, String>,
    /// (id, file hash) pairs already refused, so a refusal is recorded once, not every run.
    pub refused: BTreeSet<(RequestId, String)>,
    /// Assignments already recorded as drifted since their grant, so drift is recorded once.
    pub drifted: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// The window ended.
    Expired,
    /// The request file was deleted or set `revoke: true`.
    Early,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Revoke {
        grant: ActiveGrant,
        reason: RevokeReason,
        /// Another active grant holds the same Azure assignment (an extension: Azure keeps one
        /// assignment per principal, role and scope), so this grant ends in the ledger only.
        #[serde(skip_serializing_if = "Option::is_none")]
        shared_with: Option<RequestId>,
    },
    Grant {
        #[serde(skip)]
        desired: Box<Desired>,
        request: RequestId,
        start: DateTime<Utc>,
        expires: DateTime<Utc>,
    },
    Refuse {
        request: RequestId,
        path: String,
        sha256: String,
        reason: String,
    },
    /// Nothing to do yet: the request starts later.
    Wait {
        request: RequestId,
        starts: DateTime<Utc>,
    },
}

/// Plans every action due at `now`. Revokes come first: a run that is cut short has removed
/// access before it adds any.
pub fn plan(
    desired: &[Desired],
    invalid: &[Invalid],
    ledger: &LedgerState,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let mut revokes = Vec::new();
    let mut grants = Vec::new();
    let mut refusals = Vec::new();
    let mut waits = Vec::new();
    let on_main: BTreeMap<&RequestId, &Desired> =
        desired.iter().map(|d| (&d.request.id, d)).collect();
    let invalid_ids: BTreeSet<&RequestId> = invalid.iter().map(|i| &i.id).collect();

    let mut ending = Vec::new();
    for grant in ledger.active.values() {
        if grant.expires <= now {
            ending.push((grant, RevokeReason::Expired));
            continue;
        }
        let early = match on_main.get(&grant.request) {
            None => !invalid_ids.contains(&grant.request),
            Some(d) => d.request.revoke,
        };
        if early {
            ending.push((grant, RevokeReason::Early));
        }
    }
    for (grant, reason) in &ending {
        let shared_with = ledger
            .active
            .values()
            .find(|other| {
                other.request != grant.request
                    && other.assignment.eq_ignore_ascii_case(&grant.assignment)
                    && !ending.iter().any(|(e, _)| e.request == other.request)
            })
            .map(|other| other.request.clone());
        revokes.push(Action::Revoke {
            grant: (*grant).clone(),
            reason: *reason,
            shared_with,
        });
    }

    let mut refuse = |id: &RequestId, path: &str, sha: &str, reason: String| {
        if !ledger.refused.contains(&(id.clone(), sha.to_owned())) {
            refusals.push(Action::Refuse {
                request: id.clone(),
                path: path.to_owned(),
                sha256: sha.to_owned(),
                reason,
            });
        }
    };

    for bad in invalid {
        refuse(
            &bad.id,
            &bad.path,
            &bad.sha256,
            format!(
                "the request is invalid on the default branch: {}",
                bad.problems.join("; ")
            ),
        );
    }

    for d in desired {
        let r = &d.request;
        if let Some(granted_sha) = ledger.granted.get(&r.id) {
            // Seen before. The same bytes mean "already done"; a `revoke: true` edit is handled
            // above; any other change is refused, whether the grant is still active or not.
            if *granted_sha != d.sha256 && !r.revoke {
                let reason = if ledger.active.contains_key(&r.id) {
                    "the request file changed after it was granted; file a new request (ids are never reused)"
                } else {
                    "the request id was already used; ids are unique for all time, file it under a new name"
                };
                refuse(&r.id, &r.path, &d.sha256, reason.to_owned());
            }
            continue;
        }
        if r.revoke || ledger.refused.contains(&(r.id.clone(), d.sha256.clone())) {
            // Revoking something never granted, or exactly this file was refused already
            // (not approved): nothing to do until the file changes.
            continue;
        }
        let extended = match &r.extends {
            None => None,
            Some(base) => match ledger.active.get(base) {
                Some(g)
                    if g.vault != r.vault.as_str()
                        || g.secret != r.secret.as_str()
                        || g.requester != r.requester.as_str() =>
                {
                    refuse(
                        &r.id,
                        &r.path,
                        &d.sha256,
                        format!(
                            "`extends: {base}` names a grant for another vault, secret or requester"
                        ),
                    );
                    continue;
                }
                // Its window is still open: continue it without a gap.
                Some(g) if g.expires > now => Some(g),
                // The grant it extends already ended (revoked, or due for it in this very run):
                // this is simply a new grant.
                _ => None,
            },
        };
        let (start, expires) = match (extended, r.start) {
            // No gap: the extension is granted now and runs on from the old expiry, so the old
            // grant's revoke (a different assignment) does not cut it.
            (Some(g), _) => (now, g.expires + r.duration.to_chrono()),
            (None, Some(s)) => (s, s + r.duration.to_chrono()),
            (None, None) => (now, now + r.duration.to_chrono()),
        };
        if start > now {
            waits.push(Action::Wait {
                request: r.id.clone(),
                starts: start,
            });
        } else if expires <= now {
            refuse(
                &r.id,
                &r.path,
                &d.sha256,
                format!(
                    "its window ended at {} before it could be granted",
                    expires.to_rfc3339()
                ),
            );
        } else {
            grants.push(Action::Grant {
                desired: Box::new(d.clone()),
                request: r.id.clone(),
                start,
                expires,
            });
        }
    }

    revokes
        .into_iter()
        .chain(grants)
        .chain(refusals)
        .chain(waits)
        .collect()
}

#[cfg(test)]
mod tests;
