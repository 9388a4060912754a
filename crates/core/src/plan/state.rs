//! The ledger reduced to what the planner needs. The ledger is the only state kv-jit keeps.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::ledger::{self, Entry, Event};

use crate::config::{Config, Scope};
use crate::plan::{ActiveGrant, Desired, GrantedOnce, LedgerState};
use crate::request::RequestId;

/// Derives the planner's view of `entries` (a verified ledger).
pub fn from_ledger(entries: &[Entry]) -> LedgerState {
    let mut state = LedgerState::default();
    for e in entries.iter().filter(|e| e.event == Event::Granted) {
        if let (Some(id), Some(sha)) = (
            e.request.as_deref().and_then(|r| RequestId::parse(r).ok()),
            &e.request_sha256,
        ) {
            state.granted.entry(id).or_insert_with(|| GrantedOnce {
                sha256: sha.clone(),
                at: e.time,
            });
        }
    }
    // Ids are granted once: only the first `granted` line of a request can ever be active. A
    // later one (which only a hand-made append could produce) is ignored, before and after the
    // real grant is revoked, so it can neither extend a grant nor take over an assignment.
    let mut first_grant: BTreeMap<&str, u64> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.event == Event::Granted) {
        if let Some(r) = e.request.as_deref() {
            first_grant.entry(r).or_insert(e.seq);
        }
    }
    let mut granted_seq: BTreeMap<&str, u64> = BTreeMap::new();
    for e in ledger::active_grants(entries) {
        let first = e
            .request
            .as_deref()
            .and_then(|r| first_grant.get(r))
            .is_some_and(|&seq| seq == e.seq);
        if !first {
            continue;
        }
        if let Some(g) = active_grant(e) {
            if let Some(a) = e.assignment.as_deref() {
                granted_seq.insert(a, e.seq);
            }
            state.active.insert(g.request.clone(), g);
        }
    }
    for (request, sha) in ledger::refused(entries) {
        if let Ok(id) = RequestId::parse(request) {
            state.refused.insert((id, sha.to_owned()));
        }
    }
    for e in entries.iter().filter(|e| e.event == Event::Drift) {
        if let Some(a) = e.assignment.as_deref()
            && granted_seq.get(a).is_some_and(|&seq| seq < e.seq)
        {
            state.drifted.insert(a.to_owned());
        }
    }
    state
}

/// Which request ids a caller will ask [`LedgerState::granted`] and [`LedgerState::refused`]
/// about. The planner only asks about the request files on the default branch, so a state
/// derived for them need not keep the first grant and refusals of every id the ledger ever
/// named: with `Only`, memory follows the request files and the active grants, not the
/// ledger's length. `active` and `drifted` are always complete.
#[derive(Debug, Clone, Copy)]
pub enum Interest<'a> {
    All,
    Only(&'a HashSet<RequestId>),
}

impl Interest<'_> {
    fn wants(&self, id: &RequestId) -> bool {
        match self {
            Interest::All => true,
            Interest::Only(ids) => ids.contains(id),
        }
    }
}

/// What one verified entry contributes to the state, gathered on the thread that verified it
/// and folded in ledger order by [`StateBuilder`]. Only the events the state reads, and only
/// what it reads of them.
#[derive(Debug)]
pub struct Fact(FactKind);

#[derive(Debug)]
enum FactKind {
    Granted {
        seq: u64,
        /// The raw `request` (only the first `granted` line of a request can be active).
        request: Box<str>,
        /// For [`LedgerState::granted`], when the id parses, has a file hash and is wanted.
        once: Option<(RequestId, GrantedOnce)>,
        /// The grant as an active one, when it carries all a revoke needs.
        active: Option<Box<ActiveGrant>>,
    },
    Revoked {
        request: Box<str>,
        assignment: Box<str>,
    },
    Refused(RequestId, String),
    Drift {
        seq: u64,
        assignment: Box<str>,
    },
}

/// The facts of one checked chunk, in line order.
#[derive(Debug, Default)]
pub struct Facts(Vec<Fact>);

/// Verifies `chunk` as [`ledger::check_chunk`] does and, in the same pass over its lines,
/// gathers what [`from_ledger`] would derive from them. Pure; any thread. Discard the facts
/// when the chunk (or its link to the previous one) reports a problem.
pub fn check_chunk_state(chunk: &[u8], interest: Interest<'_>) -> (ledger::ChunkCheck, Facts) {
    let mut facts = Vec::new();
    let check = ledger::check_chunk_visit(chunk, &mut |line| {
        if let Some(f) = fact(&line, interest) {
            facts.push(f);
        }
    });
    (check, Facts(facts))
}

fn fact(line: &ledger::Line<'_>, interest: Interest<'_>) -> Option<Fact> {
    use ledger::Line;
    let kind = match line {
        Line::Borrowed(e) => match e.event {
            Event::Granted => {
                let request = e.request?;
                let once = RequestId::parse(request)
                    .ok()
                    .filter(|id| interest.wants(id))
                    .and_then(|id| {
                        let at = time(e.time)?;
                        Some((
                            id,
                            GrantedOnce {
                                sha256: e.request_sha256?.to_owned(),
                                at,
                            },
                        ))
                    });
                FactKind::Granted {
                    seq: e.seq,
                    request: request.into(),
                    once,
                    active: active_grant_ref(e).map(Box::new),
                }
            }
            Event::Revoked => FactKind::Revoked {
                request: e.request?.into(),
                assignment: e.assignment?.into(),
            },
            Event::Refused => {
                let id = RequestId::parse(e.request?).ok()?;
                let sha = e.request_sha256?;
                if !interest.wants(&id) {
                    return None;
                }
                FactKind::Refused(id, sha.to_owned())
            }
            Event::Drift => FactKind::Drift {
                seq: e.seq,
                assignment: e.assignment?.into(),
            },
            _ => return None,
        },
        Line::Owned(e) => match e.event {
            Event::Granted => {
                let request = e.request.as_deref()?;
                let once = RequestId::parse(request)
                    .ok()
                    .filter(|id| interest.wants(id))
                    .and_then(|id| {
                        Some((
                            id,
                            GrantedOnce {
                                sha256: e.request_sha256.clone()?,
                                at: e.time,
                            },
                        ))
                    });
                FactKind::Granted {
                    seq: e.seq,
                    request: request.into(),
                    once,
                    active: active_grant(e).map(Box::new),
                }
            }
            Event::Revoked => FactKind::Revoked {
                request: e.request.as_deref()?.into(),
                assignment: e.assignment.as_deref()?.into(),
            },
            Event::Refused => {
                let Ok(ledger::Body::Refused {
                    request,
                    request_sha256,
                    ..
                }) = e.body()
                else {
                    return None;
                };
                let id = RequestId::parse(request).ok()?;
                if !interest.wants(&id) {
                    return None;
                }
                FactKind::Refused(id, request_sha256.to_owned())
            }
            Event::Drift => FactKind::Drift {
                seq: e.seq,
                assignment: e.assignment.as_deref()?.into(),
            },
            _ => return None,
        },
    };
    Some(Fact(kind))
}

/// Verifies a ledger held in memory and derives its state in the same pass, on this thread
/// (`kv_jit_effects::ledger::verify_state` streams a file and uses every core).
pub fn verify_state(
    name: &str,
    bytes: &[u8],
    interest: Interest<'_>,
) -> Result<(ledger::VerifyReport, LedgerState), ledger::VerifyError> {
    let mut builder = StateBuilder::new();
    let report = ledger::verify_bytes_with(name, bytes, |b| {
        let (check, facts) = check_chunk_state(b, interest);
        builder.absorb(facts);
        vec![check]
    })?;
    Ok((report, builder.finish()))
}

/// The grant still in force for a request, while the ledger streams by.
#[derive(Debug)]
struct Candidate {
    seq: u64,
    grant: Box<ActiveGrant>,
}

/// [`from_ledger`] as a fold over [`Facts`] fed in ledger order, so a ledger of any length is
/// verified and reduced in one streaming pass without holding its entries. Equal to
/// `from_ledger` over the same entries (a property test pins it), except that `granted` and
/// `refused` hold only the ids of its [`Interest`].
#[derive(Debug, Default)]
pub struct StateBuilder {
    /// Every request ever granted (raw text): a later `granted` line of one is never active.
    ever_granted: HashSet<Box<str>>,
    /// First grants not revoked since, by raw request.
    candidates: HashMap<Box<str>, Candidate>,
    granted: BTreeMap<RequestId, GrantedOnce>,
    refused: BTreeSet<(RequestId, String)>,
    /// The last `drift` line's seq per assignment.
    last_drift: HashMap<Box<str>, u64>,
}

impl StateBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds the facts of the next chunk.
    pub fn absorb(&mut self, facts: Facts) {
        for Fact(f) in facts.0 {
            match f {
                FactKind::Granted {
                    seq,
                    request,
                    once,
                    active,
                } => {
                    if let Some((id, once)) = once {
                        self.granted.entry(id).or_insert(once);
                    }
                    if self.ever_granted.contains(&request) {
                        continue;
                    }
                    if let Some(grant) = active {
                        self.candidates
                            .insert(request.clone(), Candidate { seq, grant });
                    }
                    self.ever_granted.insert(request);
                }
                FactKind::Revoked {
                    request,
                    assignment,
                } => {
                    if self
                        .candidates
                        .get(&request)
                        .is_some_and(|c| *c.grant.assignment == *assignment)
                    {
                        self.candidates.remove(&request);
                    }
                }
                FactKind::Refused(id, sha) => {
                    self.refused.insert((id, sha));
                }
                FactKind::Drift { seq, assignment } => {
                    self.last_drift.insert(assignment, seq);
                }
            }
        }
    }

    pub fn finish(self) -> LedgerState {
        let mut active: Vec<Candidate> = self.candidates.into_values().collect();
        active.sort_unstable_by_key(|c| c.seq);
        let mut state = LedgerState {
            granted: self.granted,
            refused: self.refused,
            ..LedgerState::default()
        };
        // The seq of the last active grant holding each assignment, as `from_ledger` computes.
        let mut granted_seq: HashMap<&str, u64> = HashMap::new();
        for c in &active {
            granted_seq.insert(&c.grant.assignment, c.seq);
        }
        for (a, drift) in &self.last_drift {
            if granted_seq.get(&**a).is_some_and(|&seq| seq < *drift) {
                state.drifted.insert(a.to_string());
            }
        }
        for c in active {
            state.active.insert(c.grant.request.clone(), *c.grant);
        }
        state
    }
}

/// A verified line's time, read as the owned entry reads it.
fn time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    ledger::parse_time(t)
}

/// A borrowed `granted` line as an active grant: [`active_grant`] without the owned entry.
fn active_grant_ref(e: &ledger::EntryRef<'_>) -> Option<ActiveGrant> {
    let window = e.window.as_ref()?;
    Some(ActiveGrant {
        request: RequestId::parse(e.request?).ok()?,
        request_sha256: e.request_sha256?.to_owned(),
        start: time(window.start)?,
        expires: time(window.expires)?,
        assignment: e.assignment?.to_owned(),
        scope: e.scope?.to_owned(),
        vault: e.vault?.to_owned(),
        secret: e.secret?.to_owned(),
        requester: e.requester?.to_owned(),
        principal_id: e.principal_id?.to_owned(),
        role_id: e.role.as_ref()?.id.to_owned(),
        expiry: e.expiry,
        extends: e.extends.and_then(|b| RequestId::parse(b).ok()),
    })
}

/// A `granted` entry as an active grant; `None` if it lacks what a revoke needs (kv-jit always
/// writes these fields; a hand-made entry without them cannot be acted on).
fn active_grant(e: &Entry) -> Option<ActiveGrant> {
    let Ok(ledger::Body::Granted(g)) = e.body() else {
        return None;
    };
    Some(ActiveGrant {
        request: RequestId::parse(g.request).ok()?,
        request_sha256: g.request_sha256.to_owned(),
        start: g.window.start,
        expires: g.window.expires,
        assignment: g.assignment.to_owned(),
        scope: g.scope.to_owned(),
        vault: g.vault.to_owned(),
        secret: g.secret.to_owned(),
        requester: g.requester.to_owned(),
        principal_id: g.principal_id.to_owned(),
        role_id: g.role_id.to_owned(),
        expiry: g.expiry,
        extends: g.extends.and_then(|b| RequestId::parse(b).ok()),
    })
}

/// The deterministic assignment name of every request the ledger records as granted (at the
/// scope it was granted at), lowercase: the only names a revoke may delete.
pub fn known_names(entries: &[Entry], tenant_id: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter_map(|e| match e.body() {
            Ok(ledger::Body::Granted(g)) => Some(lowercase_name(tenant_id, g.scope, g.request)),
            _ => None,
        })
        .collect()
}

/// The names kv-jit derives for the requests on the default branch, lowercase: with the
/// marker's own request, what identifies an assignment kv-jit created when the ledger cannot be
/// trusted.
pub fn derived_names(desired: &[Desired], config: &Config) -> BTreeSet<String> {
    desired
        .iter()
        .filter_map(|d| {
            let r = &d.request;
            let p = config.vaults.get(&r.vault)?;
            let scope = match p.scope {
                Scope::Vault => p.vault_scope(),
                Scope::Secret => format!("{}/secrets/{}", p.vault_scope(), r.secret),
            };
            Some(lowercase_name(&config.tenant_id, &scope, r.id.as_str()))
        })
        .collect()
}

fn lowercase_name(tenant_id: &str, scope: &str, request: &str) -> String {
    crate::azure::assignment_name(tenant_id, scope, request)
        .to_string()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{NewEntry, Role, Tip, Window};

    fn granted(expires: &str) -> NewEntry {
        NewEntry {
            request: Some("2026/a".into()),
            request_sha256: Some("sha".into()),
            requester: Some("alice@contoso.com".into()),
            principal_id: Some("p".into()),
            vault: Some("kv".into()),
            secret: Some("s".into()),
            scope: Some(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv".into(),
            ),
            role: Some(Role {
                id: "r".into(),
                alias: None,
            }),
            assignment: Some("asg".into()),
            window: Some(Window {
                start: "2026-11-27T09:00:00Z".parse().unwrap(),
                expires: expires.parse().unwrap(),
            }),
            ..NewEntry::new("2026-11-27T09:00:00Z".parse().unwrap(), Event::Granted)
        }
    }

    #[test]
    fn a_later_granted_line_cannot_extend_a_grant() {
        // A correctly chained but hand-appended line: the chain verifies, the grant does not move.
        let entries = ledger::append(
            &Tip::genesis(),
            vec![
                granted("2026-11-27T11:00:00Z"),
                granted("2027-01-01T00:00:00Z"),
            ],
        );
        let state = from_ledger(&entries);
        let id = RequestId::parse("2026/a").unwrap();
        assert_eq!(
            state.active[&id].expires,
            "2026-11-27T11:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        );
    }
}
