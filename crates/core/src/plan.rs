//! The plan: a pure function of (requests on the default branch, ledger state, policy, now) →
//! actions. It reads no clock and calls nothing, so `kv-jit plan --now T` answers "what would
//! happen at T" and the table of cases below is tested exhaustively without a cloud.
//!
//! The ledger is evidence, never authority: it says what kv-jit did, so the plan does not do it
//! twice, but no window, extension or grant is derived from ledger content alone. A window is
//! fixed by what was approved: the request file (its `start:` and `duration`) and the merge that
//! brought it. A grant made late (a retry, a missed run) still ends when that window ends, and
//! a window that is over is never granted, whatever the ledger lost.

pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::ledger::ExpiryMode;
use crate::request::{Request, RequestId};

/// A valid request file as found on the default branch.
#[derive(Debug, Clone)]
pub struct Desired {
    pub request: Request,
    /// SHA-256 (hex) of the file's bytes, so a grant is bound to exactly what was approved.
    pub sha256: String,
    /// The commit on the default branch's first-parent line that last changed the file (the
    /// merge or squash commit of its pull request), and its committer time: when the approval
    /// took effect. `None` when git cannot tell (no such commit in this checkout).
    pub merged: Option<Merge>,
}

/// The commit that brought a request file to the default branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub commit: String,
    pub at: DateTime<Utc>,
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
    /// How it ends, as recorded when it was granted (`None` in ledgers written before kv-jit
    /// recorded it: then the vault's configured mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryMode>,
    /// The grant it extends (whose assignment it shares), as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<RequestId>,
}

/// When an id was first granted, and for which file content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedOnce {
    pub sha256: String,
    pub at: DateTime<Utc>,
}

/// The ledger reduced to what planning needs.
#[derive(Debug, Clone, Default)]
pub struct LedgerState {
    pub active: BTreeMap<RequestId, ActiveGrant>,
    /// Ids that were ever granted: the file hash and time of their first grant.
    pub granted: BTreeMap<RequestId, GrantedOnce>,
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

/// An extension continues its base's assignment; the executor confirms in Azure that the base
/// is really held by kv-jit before it takes it over.
#[derive(Debug, Clone, Serialize)]
pub struct Extension {
    /// The grant being extended, as the ledger holds it.
    pub base: ActiveGrant,
    /// The base and the grants it extends in turn (nearest first): whose deterministic
    /// assignment name the shared assignment may carry.
    pub lineage: Vec<RequestId>,
}

// A plan holds one action per request: boxing the revoke's grant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
        /// Whether the request files on the default branch link the two by `extends` (approved
        /// sharing); otherwise the executor shares only if Azure's marker names the other grant.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        shared_by_extends: bool,
        /// For an early revoke: what triggered it, for the ledger.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Grant {
        #[serde(skip)]
        desired: Box<Desired>,
        request: RequestId,
        start: DateTime<Utc>,
        expires: DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        extends: Option<Box<Extension>>,
    },
    Refuse {
        request: RequestId,
        path: String,
        sha256: String,
        #[serde(serialize_with = "as_text")]
        reason: RefuseReason,
    },
    /// Nothing to do yet: the request starts later.
    Wait {
        request: RequestId,
        starts: DateTime<Utc>,
    },
}

/// How much later than an id's first grant a commit bringing its file again must be to count
/// as a re-use (runner and GitHub clocks differ a little).
const REUSE_SKEW_MINUTES: i64 = 5;

/// How far back an extension's lineage is followed.
const MAX_LINEAGE: usize = 16;

/// Why the planner refuses a request. The words are what the ledger's `error` records and the
/// run prints; [`RefuseReason::code`] is the stable name scripts and tests match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefuseReason {
    /// The file does not pass the checks on the default branch.
    Invalid { problems: Vec<String> },
    /// The file changed while its grant is active.
    ChangedAfterGrant,
    /// The id was granted before and the file is not the one granted.
    IdReused,
    /// The id was granted before and a later commit brought the file again.
    IdBroughtAgain,
    /// The request's vault left the config.
    VaultGone { vault: String },
    /// No commit in this checkout brought the file: no approved window.
    NoMerge,
    /// `start:` is further after the merge than the vault's `max_start_delay`.
    StartTooLate {
        start: DateTime<Utc>,
        max_start_delay: String,
        merged: DateTime<Utc>,
        vault: String,
    },
    /// `extends:` names a grant of other access.
    ExtendsOtherAccess { base: RequestId },
    /// The approved window ended before a run could grant it.
    WindowEnded { expires: DateTime<Utc> },
}

impl RefuseReason {
    /// The stable name of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            RefuseReason::Invalid { .. } => "invalid-request",
            RefuseReason::ChangedAfterGrant => "changed-after-grant",
            RefuseReason::IdReused => "id-reused",
            RefuseReason::IdBroughtAgain => "id-brought-again",
            RefuseReason::VaultGone { .. } => "vault-not-configured",
            RefuseReason::NoMerge => "no-merge-commit",
            RefuseReason::StartTooLate { .. } => "start-too-late",
            RefuseReason::ExtendsOtherAccess { .. } => "extends-other-access",
            RefuseReason::WindowEnded { .. } => "window-ended",
        }
    }
}

impl std::fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefuseReason::Invalid { problems } => write!(
                f,
                "the request is invalid on the default branch: {}",
                problems.join("; ")
            ),
            RefuseReason::ChangedAfterGrant => f.write_str(
                "the request file changed after it was granted; file a new request (ids are never reused)",
            ),
            RefuseReason::IdReused => f.write_str(
                "the request id was already used; ids are unique for all time, file it under a new name",
            ),
            RefuseReason::IdBroughtAgain => f.write_str(
                "the request id was already used (the file was brought again after its grant); ids are unique for all time, file it under a new name",
            ),
            RefuseReason::VaultGone { vault } => {
                write!(f, "vault `{vault}` is no longer configured")
            }
            RefuseReason::NoMerge => f.write_str(
                "no commit on the default branch brought this file, so there is no approved window; run kv-jit in a full clone of the default branch (fetch-depth: 0)",
            ),
            RefuseReason::StartTooLate {
                start,
                max_start_delay,
                merged,
                vault,
            } => write!(
                f,
                "`start: {}` is more than {max_start_delay} after the merge ({}); vault `{vault}` allows a start at most that far ahead (`max_start_delay`)",
                rfc3339(*start),
                rfc3339(*merged),
            ),
            RefuseReason::ExtendsOtherAccess { base } => write!(
                f,
                "`extends: {base}` names a grant for another vault, secret, requester or role; an extension continues the same access"
            ),
            RefuseReason::WindowEnded { expires } => write!(
                f,
                "its approved window ended at {} before it could be granted",
                rfc3339(*expires)
            ),
        }
    }
}

/// Serialises a value by its words (the plan's JSON keeps `reason` a string).
fn as_text<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The window a request's approval covers, from its file and its merge alone (never from the
/// ledger): `start:` (else the merge) plus `duration`. An extension merged while its base's
/// approved window was open runs from its merge to that window's end plus `duration` instead, but only when the base is the
/// same access (vault, secret, requester, role), its own `start:` kept to `max_start_delay`,
/// and no id repeats in the chain: an `extends` a reviewer cannot see through moves nothing.
/// `None` without a merge.
pub fn approved_window(
    d: &Desired,
    on_main: &BTreeMap<&RequestId, &Desired>,
    config: &Config,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    approved_window_at(d, on_main, config, &mut Vec::new())
}

fn approved_window_at<'a>(
    d: &'a Desired,
    on_main: &BTreeMap<&RequestId, &'a Desired>,
    config: &Config,
    seen: &mut Vec<&'a RequestId>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let r = &d.request;
    let merged = d.merged.as_ref()?.at;
    let duration = r.duration.to_chrono();
    seen.push(&r.id);
    let base = r
        .extends
        .as_ref()
        .filter(|b| seen.len() < MAX_LINEAGE && !seen.contains(b))
        .and_then(|b| on_main.get(b).copied())
        .filter(|b| same_access(&b.request, r) && start_in_bounds(b, config));
    if let Some(base) = base
        && let Some((base_start, base_end)) = approved_window_at(base, on_main, config, seen)
        && base_start <= merged
        && merged < base_end
    {
        // Granted at once (sharing the base's assignment), so it is in force from its merge.
        return Some((merged, base_end + duration));
    }
    let start = r.start.unwrap_or(merged);
    Some((start, start + duration))
}

/// Whether `from`'s file on the default branch extends `to`, directly or through a chain.
fn extends_reaches(
    from: &RequestId,
    to: &RequestId,
    on_main: &BTreeMap<&RequestId, &Desired>,
) -> bool {
    let mut at = from;
    for _ in 0..MAX_LINEAGE {
        match on_main.get(at).and_then(|d| d.request.extends.as_ref()) {
            Some(next) if next == to => return true,
            Some(next) => at = next,
            None => return false,
        }
    }
    false
}

/// Whether two requests are for the same access: what an extension may continue.
fn same_access(a: &Request, b: &Request) -> bool {
    a.vault == b.vault
        && a.secret == b.secret
        && a.requester == b.requester
        && a.role_id == b.role_id
}

/// Whether a request's `start:` lies within its vault's `max_start_delay` of its merge.
fn start_in_bounds(d: &Desired, config: &Config) -> bool {
    match (
        d.request.start,
        &d.merged,
        config.vaults.get(&d.request.vault),
    ) {
        (None, _, _) => true,
        (Some(s), Some(m), Some(p)) => s <= m.at + p.max_start_delay.value.to_chrono(),
        _ => false,
    }
}

/// Plans every action due at `now`. Revokes come first: a run that is cut short has removed
/// access before it adds any.
pub fn plan(
    desired: &[Desired],
    invalid: &[Invalid],
    ledger: &LedgerState,
    config: &Config,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let mut revokes = Vec::new();
    let mut grants = Vec::new();
    let mut refusals = Vec::new();
    let mut waits = Vec::new();
    let on_main: BTreeMap<&RequestId, &Desired> =
        desired.iter().map(|d| (&d.request.id, d)).collect();
    let invalid_ids: BTreeSet<&RequestId> = invalid.iter().map(|i| &i.id).collect();

    let mut ending: Vec<(&ActiveGrant, RevokeReason, Option<String>)> = Vec::new();
    for grant in ledger.active.values() {
        // The ledger's expiry is evidence; the approval is the authority. A grant whose file is
        // on the default branch ends by its approved window at the latest, whatever a line says,
        // and one whose approved window has not begun is not a grant kv-jit made: it ends now.
        let approved = on_main
            .get(&grant.request)
            .and_then(|d| approved_window(d, &on_main, config));
        let expires = approved.map_or(grant.expires, |(_, end)| end.min(grant.expires));
        if expires <= now {
            ending.push((grant, RevokeReason::Expired, None));
            continue;
        }
        let early = match on_main.get(&grant.request) {
            None if invalid_ids.contains(&grant.request) => Some(
                "the request file no longer passes the policy on the default branch".to_owned(),
            ),
            None => Some("the request file was deleted from the default branch".to_owned()),
            Some(d) if d.request.revoke => Some(match &d.merged {
                Some(m) => format!(
                    "the request file set `revoke: true` in commit {}",
                    short(&m.commit)
                ),
                None => "the request file set `revoke: true`".to_owned(),
            }),
            Some(_) if approved.is_some_and(|(start, _)| start > now) => {
                Some("the ledger holds a grant whose approved window has not begun".to_owned())
            }
            Some(_) => None,
        };
        if let Some(note) = early {
            ending.push((grant, RevokeReason::Early, Some(note)));
        }
    }
    let ending_ids: HashSet<&RequestId> = ending.iter().map(|(g, ..)| &g.request).collect();
    let holders = holders_by_assignment(ledger);
    for (grant, reason, note) in &ending {
        revokes.push(revoke_action(
            grant,
            *reason,
            note.clone(),
            &holders,
            &ending_ids,
            Some(&on_main),
        ));
    }

    let mut refuse = |id: &RequestId, path: &str, sha: &str, reason: RefuseReason| {
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
            RefuseReason::Invalid {
                problems: bad.problems.clone(),
            },
        );
    }

    for d in desired {
        let r = &d.request;
        if let Some(first) = ledger.granted.get(&r.id) {
            // Seen before. The same bytes, untouched since the grant, are "already done"; a
            // `revoke: true` edit is handled above. Anything else is refused, whether the grant
            // is still active or not: a changed file, or the same id brought again by a later
            // commit (deleted and re-added: ids are unique for all time, whatever the bytes).
            // (The grant's time is the runner's clock, the merge's GitHub's: allow for skew.)
            let touched_since = d
                .merged
                .as_ref()
                .is_some_and(|m| m.at > first.at + chrono::Duration::minutes(REUSE_SKEW_MINUTES));
            let reason = if first.sha256 != d.sha256 && !r.revoke {
                Some(if ledger.active.contains_key(&r.id) {
                    RefuseReason::ChangedAfterGrant
                } else {
                    RefuseReason::IdReused
                })
            } else if touched_since && !r.revoke && !ledger.active.contains_key(&r.id) {
                Some(RefuseReason::IdBroughtAgain)
            } else {
                None
            };
            if let Some(reason) = reason {
                refuse(&r.id, &r.path, &d.sha256, reason);
            }
            continue;
        }
        if r.revoke || ledger.refused.contains(&(r.id.clone(), d.sha256.clone())) {
            // Revoking something never granted, or exactly this file was refused already
            // (not approved): nothing to do until the file changes.
            continue;
        }
        let Some(policy) = config.vaults.get(&r.vault) else {
            refuse(
                &r.id,
                &r.path,
                &d.sha256,
                RefuseReason::VaultGone {
                    vault: r.vault.to_string(),
                },
            );
            continue;
        };
        let Some(merged) = &d.merged else {
            refuse(&r.id, &r.path, &d.sha256, RefuseReason::NoMerge);
            continue;
        };
        if let Some(s) = r.start {
            let latest = merged.at + policy.max_start_delay.value.to_chrono();
            if s > latest {
                refuse(
                    &r.id,
                    &r.path,
                    &d.sha256,
                    RefuseReason::StartTooLate {
                        start: s,
                        max_start_delay: policy.max_start_delay.value.to_string(),
                        merged: merged.at,
                        vault: r.vault.to_string(),
                    },
                );
                continue;
            }
        }
        let extension = match &r.extends {
            None => None,
            Some(base) => match (ledger.active.get(base), on_main.get(base)) {
                (Some(g), Some(base_file))
                    if g.vault != r.vault.as_str()
                        || g.secret != r.secret.as_str()
                        || g.requester != r.requester.as_str()
                        || g.role_id != r.role_id
                        || base_file.request.role_id != r.role_id =>
                {
                    refuse(
                        &r.id,
                        &r.path,
                        &d.sha256,
                        RefuseReason::ExtendsOtherAccess { base: base.clone() },
                    );
                    continue;
                }
                (Some(g), Some(base_file)) => match approved_window(base_file, &on_main, config) {
                    // Its approved window is still open: continue it without a gap. Only if
                    // the approval itself makes this an extension in force now: one merged
                    // before its base's window opened runs from its own start instead.
                    Some((_, base_end))
                        if base_end > now
                            && approved_window(d, &on_main, config)
                                .is_some_and(|(start, _)| start <= now) =>
                    {
                        Some((g, base_end))
                    }
                    // The grant it extends already ended (or is due for it in this very run):
                    // this is simply a new grant.
                    _ => None,
                },
                // Not active, or its file is gone (revoked early): a new grant.
                _ => None,
            },
        };
        let (start, expires, extends) = match extension {
            Some((g, base_end)) => {
                // The extension is granted now and runs on from the base's approved end; never
                // more than the vault's maximum past it, whatever the ledger claims.
                let max = policy.max_duration.value.to_chrono();
                let expires = (base_end + r.duration.to_chrono()).min(base_end + max);
                let mut lineage = vec![g.request.clone()];
                while lineage.len() < MAX_LINEAGE {
                    match ledger
                        .active
                        .get(lineage.last().expect("non-empty"))
                        .and_then(|x| x.extends.clone())
                    {
                        Some(next) if !lineage.contains(&next) => lineage.push(next),
                        _ => break,
                    }
                }
                (
                    now,
                    expires,
                    Some(Box::new(Extension {
                        base: g.clone(),
                        lineage,
                    })),
                )
            }
            None => {
                let start = r.start.unwrap_or(merged.at);
                (start, start + r.duration.to_chrono(), None)
            }
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
                RefuseReason::WindowEnded { expires },
            );
        } else {
            grants.push(Action::Grant {
                desired: Box::new(d.clone()),
                request: r.id.clone(),
                start,
                expires,
                extends,
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

/// The revoke of `grant`, with the one rule for a shared assignment: another active grant that
/// holds the same assignment and is not ending in the same run shares it. `on_main` (the request
/// files) tells whether the two are linked by `extends`; without it (a manual revoke) only
/// Azure's marker can show sharing, which the executor checks.
fn revoke_action(
    grant: &ActiveGrant,
    reason: RevokeReason,
    note: Option<String>,
    holders: &HashMap<String, Vec<&ActiveGrant>>,
    ending: &HashSet<&RequestId>,
    on_main: Option<&BTreeMap<&RequestId, &Desired>>,
) -> Action {
    let shared_with = holders
        .get(&grant.assignment.to_ascii_lowercase())
        .into_iter()
        .flatten()
        .find(|other| other.request != grant.request && !ending.contains(&other.request))
        .map(|other| other.request.clone());
    let shared_by_extends = match (&shared_with, on_main) {
        (Some(other), Some(on_main)) => {
            extends_reaches(other, &grant.request, on_main)
                || extends_reaches(&grant.request, other, on_main)
        }
        _ => false,
    };
    Action::Revoke {
        grant: grant.clone(),
        reason,
        shared_with,
        shared_by_extends,
        note,
    }
}

/// The active grants by assignment name (compared without case, as Azure names are), each list
/// in the order of `ledger.active`: so finding who else holds an assignment is a lookup, not a
/// search of every active grant per revoke.
fn holders_by_assignment(ledger: &LedgerState) -> HashMap<String, Vec<&ActiveGrant>> {
    let mut by: HashMap<String, Vec<&ActiveGrant>> = HashMap::new();
    for g in ledger.active.values() {
        by.entry(g.assignment.to_ascii_lowercase())
            .or_default()
            .push(g);
    }
    by
}

/// A revoke asked for by hand (`kv-jit revoke --request ID --reason TEXT`): the one action of
/// that run. `None` when the ledger holds no active grant for `request`.
pub fn manual_revoke(ledger: &LedgerState, request: &str, note: &str) -> Option<Action> {
    let grant = RequestId::parse(request)
        .ok()
        .and_then(|id| ledger.active.get(&id))?;
    Some(revoke_action(
        grant,
        RevokeReason::Early,
        Some(note.to_owned()),
        &holders_by_assignment(ledger),
        &HashSet::from([&grant.request]),
        None,
    ))
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;
