//! The ledger reduced to what the planner needs. The ledger is the only state kv-jit keeps.

use std::collections::BTreeMap;

use crate::ledger::{self, Entry, Event};
use std::collections::BTreeSet;

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
