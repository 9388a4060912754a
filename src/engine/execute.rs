//! Executes a plan: every action becomes exactly one ledger entry, success or failure, and one
//! item's failure never blocks the others. Azure writes are idempotent (deterministic assignment
//! names), so running the same plan twice converges instead of duplicating.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use crate::azure::{
    self, Azure, ExpiryMode, GrantSpec, Principal, PrincipalType, RevokeOutcome, RevokeSpec,
    Target, VaultRef,
};
use crate::config::{Config, Expiry, Scope};
use crate::engine::plan::{Action, ActiveGrant, Desired, RevokeReason};
use crate::ledger::{Approvals, Event, NewEntry, Reason, Role, Window};
use crate::names::{SecretName, VaultName};

/// Why a grant went ahead without approval proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not approved as policy demands: recorded as `refused`, not retried for the same file.
    Refused(String),
    /// Could not be checked (GitHub unreachable): recorded as `grant_failed`, retried next run.
    Unavailable(String),
}

/// Verifies that a request on the default branch was approved (GitHub in production).
pub trait ApprovalCheck: Send + Sync {
    fn check(&self, desired: &Desired) -> impl Future<Output = Result<Approvals, Denied>> + Send;
}

pub struct Executor<'a, A, P> {
    pub azure: &'a A,
    pub approvals: &'a P,
    pub config: &'a Config,
    pub now: DateTime<Utc>,
    pub run_url: Option<String>,
    /// How many Azure items run at once (the Azure client paces per subscription on top).
    pub concurrency: u16,
}

impl<A: Azure, P: ApprovalCheck> Executor<'_, A, P> {
    /// Runs every action; returns one entry per effect in the plan's order (waits have none).
    pub async fn run(&self, actions: &[Action]) -> Vec<NewEntry> {
        let results: Vec<(usize, Option<NewEntry>)> = stream::iter(actions.iter().enumerate())
            .map(|(i, action)| async move { (i, self.one(action).await) })
            .buffer_unordered(usize::from(self.concurrency.max(1)))
            .collect()
            .await;
        let mut results = results;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().filter_map(|(_, e)| e).collect()
    }

    async fn one(&self, action: &Action) -> Option<NewEntry> {
        match action {
            Action::Grant {
                desired,
                start,
                expires,
                ..
            } => Some(self.grant(desired, *start, *expires).await),
            Action::Revoke {
                grant,
                reason,
                shared_with,
            } => Some(
                self.revoke(grant, ledger_reason(*reason), shared_with.is_some())
                    .await,
            ),
            Action::Refuse {
                request,
                sha256,
                reason,
                ..
            } => Some(NewEntry {
                request: Some(request.to_string()),
                request_sha256: Some(sha256.clone()),
                run_url: self.run_url.clone(),
                error: Some(reason.clone()),
                ..NewEntry::new(self.now, Event::Refused)
            }),
            Action::Wait { .. } => None,
        }
    }

    async fn grant(&self, d: &Desired, start: DateTime<Utc>, expires: DateTime<Utc>) -> NewEntry {
        let r = &d.request;
        let mut entry = NewEntry {
            request: Some(r.id.to_string()),
            request_sha256: Some(d.sha256.clone()),
            requester: Some(r.requester.to_string()),
            vault: Some(r.vault.to_string()),
            secret: Some(r.secret.to_string()),
            role: Some(Role {
                id: r.role_id.clone(),
                alias: Some(r.role.clone()),
            }),
            window: Some(Window { start, expires }),
            run_url: self.run_url.clone(),
            ..NewEntry::new(self.now, Event::Granted)
        };
        // Fail closed: a request whose vault left the config since validation is not granted.
        let Some(policy) = self.config.vaults.get(&r.vault) else {
            return refused(
                entry,
                format!("vault `{}` is no longer configured", r.vault),
            );
        };
        let approvals = match self.approvals.check(d).await {
            Ok(a) => a,
            Err(Denied::Refused(why)) => return refused(entry, why),
            Err(Denied::Unavailable(why)) => return failed(entry, Event::GrantFailed, why),
        };
        entry.approvals = Some(approvals);
        let target = match VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            r.vault.clone(),
        ) {
            Ok(vault) => Target {
                vault,
                secret: (policy.scope == Scope::Secret).then(|| r.secret.clone()),
            },
            Err(m) => return failed(entry, Event::GrantFailed, m),
        };
        let scope = target.scope();
        entry.scope = Some(scope.clone());
        entry.assignment =
            Some(azure::assignment_name(&self.config.tenant_id, &scope, r.id.as_str()).to_string());
        let principal = match self.azure.resolve_principal(r.requester.as_str()).await {
            Ok(p) => p,
            Err(e) => return failed(entry, Event::GrantFailed, e.to_string()),
        };
        entry.principal_id = Some(principal.object_id.to_string());
        let Ok(role) = r.role_id.parse() else {
            return failed(
                entry,
                Event::GrantFailed,
                format!("role id `{}` is not a GUID", r.role_id),
            );
        };
        let spec = GrantSpec {
            request_id: r.id.to_string(),
            target,
            role,
            principal,
            starts_at: start,
            expires_at: expires,
            mode: mode(policy.expiry),
            justification: Some(r.justification.clone()),
        };
        match self.azure.grant(&spec).await {
            // An extension's PUT resolves (409) to the assignment kv-jit already made for the
            // grant it extends: record that one, so the two share it. An assignment without
            // kv-jit's marker (made by hand) is not ours: keep our own name, so the revoke never
            // deletes someone's standing access.
            Ok(assignment) if assignment.marker.is_some() => NewEntry {
                assignment: Some(assignment.name),
                ..entry
            },
            Ok(_) => entry,
            Err(e) => failed(entry, Event::GrantFailed, e.to_string()),
        }
    }

    /// Revokes from what the ledger recorded at grant time, not from today's config: a vault
    /// removed from the config still has its grants taken back.
    pub async fn revoke(&self, g: &ActiveGrant, reason: Reason, ledger_only: bool) -> NewEntry {
        let entry = NewEntry {
            request: Some(g.request.to_string()),
            request_sha256: Some(g.request_sha256.clone()),
            requester: Some(g.requester.clone()),
            principal_id: Some(g.principal_id.clone()),
            vault: Some(g.vault.clone()),
            secret: Some(g.secret.clone()),
            scope: Some(g.scope.clone()),
            role: Some(Role {
                id: g.role_id.clone(),
                alias: None,
            }),
            assignment: Some(g.assignment.clone()),
            window: Some(Window {
                start: g.start,
                expires: g.expires,
            }),
            run_url: self.run_url.clone(),
            reason: Some(reason),
            ..NewEntry::new(self.now, Event::Revoked)
        };
        if ledger_only {
            return entry;
        }
        let Some(target) = target_from_scope(&g.scope) else {
            return failed(
                entry,
                Event::RevokeFailed,
                format!("cannot read the scope `{}` recorded in the ledger", g.scope),
            );
        };
        let (Ok(object_id), Ok(role)) = (g.principal_id.parse(), g.role_id.parse()) else {
            return failed(
                entry,
                Event::RevokeFailed,
                "the ledger's principal or role id is not a GUID".into(),
            );
        };
        let mode = self
            .config
            .vaults
            .get(target.vault.vault())
            .map_or(ExpiryMode::Revoker, |p| mode(p.expiry));
        let spec = RevokeSpec {
            // Exactly the assignment the ledger recorded (an extension shares its base's).
            name: g.assignment.parse().ok(),
            request_id: g.request.to_string(),
            target,
            role,
            principal: Principal {
                object_id,
                kind: PrincipalType::User,
            },
            mode,
        };
        match self.azure.revoke(&spec).await {
            Ok(RevokeOutcome::Deleted | RevokeOutcome::AlreadyGone) => entry,
            Err(e) => failed(entry, Event::RevokeFailed, e.to_string()),
        }
    }
}

fn refused(entry: NewEntry, why: String) -> NewEntry {
    failed(entry, Event::Refused, why)
}

fn failed(mut entry: NewEntry, event: Event, why: String) -> NewEntry {
    entry.event = event;
    entry.error = Some(crate::ledger::scrub_error(&why));
    entry
}

fn mode(expiry: Expiry) -> ExpiryMode {
    match expiry {
        Expiry::Revoker => ExpiryMode::Revoker,
        Expiry::Pim => ExpiryMode::Pim,
    }
}

fn ledger_reason(r: RevokeReason) -> Reason {
    match r {
        RevokeReason::Expired => Reason::Expired,
        RevokeReason::Early => Reason::Early,
    }
}

/// Reads `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}[/secrets/{x}]`
/// back into a target, validating every segment again.
pub fn target_from_scope(scope: &str) -> Option<Target> {
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [
            "",
            "subscriptions",
            sub,
            "resourceGroups",
            rg,
            "providers",
            "Microsoft.KeyVault",
            "vaults",
            vault,
            rest @ ..,
        ] => {
            let vault = VaultRef::new(sub, rg, VaultName::parse(vault).ok()?).ok()?;
            let secret = match rest {
                [] => None,
                ["secrets", s] => Some(SecretName::parse(s).ok()?),
                _ => return None,
            };
            Some(Target { vault, secret })
        }
        _ => None,
    }
}

/// Drift and orphans at every managed scope, after this run's own effects.
pub async fn reconcile<A: Azure>(
    azure: &A,
    config: &Config,
    active: &BTreeMap<crate::request::RequestId, ActiveGrant>,
    already_drifted: &std::collections::BTreeSet<String>,
    now: DateTime<Utc>,
    run_url: Option<String>,
) -> Vec<NewEntry> {
    let mut out = Vec::new();
    // Every scope a grant may live at: each vault, and each secret scope the ledger knows of.
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    for policy in config
        .vaults
        .values()
        .filter(|p| p.expiry == Expiry::Revoker)
    {
        if let Ok(vault) = VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            policy.name.clone(),
        ) {
            let t = Target {
                vault,
                secret: None,
            };
            targets.insert(t.scope().to_ascii_lowercase(), t);
        }
    }
    for g in active.values() {
        if let Some(t) = target_from_scope(&g.scope) {
            targets.entry(t.scope().to_ascii_lowercase()).or_insert(t);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (scope_key, target) in &targets {
        let listed = match azure.list_managed(target).await {
            Ok(l) => l,
            Err(e) => {
                out.push(NewEntry {
                    scope: Some(target.scope()),
                    run_url: run_url.clone(),
                    error: Some(crate::ledger::scrub_error(&format!(
                        "reconcile could not list assignments: {e}"
                    ))),
                    ..NewEntry::new(now, Event::RevokeFailed)
                });
                continue;
            }
        };
        for a in listed {
            seen.insert(a.name.to_ascii_lowercase());
            if active
                .values()
                .any(|g| g.assignment.eq_ignore_ascii_case(&a.name))
            {
                continue;
            }
            // kv-jit made it (marker) but the ledger does not hold it as active: remove it.
            let request = a.marker.as_ref().map(|m| m.request_id.clone());
            let mut entry = NewEntry {
                request: request.clone(),
                principal_id: Some(a.principal_id.clone()),
                scope: Some(a.scope.clone()),
                role: Some(Role {
                    id: a.role.clone(),
                    alias: None,
                }),
                assignment: Some(a.name.clone()),
                run_url: run_url.clone(),
                reason: Some(Reason::Orphan),
                ..NewEntry::new(now, Event::Revoked)
            };
            let (Ok(object_id), Ok(role)) = (a.principal_id.parse(), a.role.parse()) else {
                out.push(failed(
                    entry,
                    Event::RevokeFailed,
                    "orphan has a malformed principal or role id".into(),
                ));
                continue;
            };
            let spec = RevokeSpec {
                name: a.name.parse().ok(),
                request_id: request.unwrap_or_default(),
                target: target.clone(),
                role,
                principal: Principal {
                    object_id,
                    kind: PrincipalType::User,
                },
                mode: ExpiryMode::Revoker,
            };
            if let Err(e) = azure.revoke(&spec).await {
                entry = failed(entry, Event::RevokeFailed, e.to_string());
            }
            out.push(entry);
            let _ = scope_key;
        }
    }
    for g in active.values() {
        let listed_scope = targets.contains_key(&g.scope.to_ascii_lowercase());
        if listed_scope
            && !seen.contains(&g.assignment.to_ascii_lowercase())
            && !already_drifted.contains(&g.assignment)
        {
            out.push(NewEntry {
                request: Some(g.request.to_string()),
                request_sha256: Some(g.request_sha256.clone()),
                requester: Some(g.requester.clone()),
                principal_id: Some(g.principal_id.clone()),
                vault: Some(g.vault.clone()),
                secret: Some(g.secret.clone()),
                scope: Some(g.scope.clone()),
                assignment: Some(g.assignment.clone()),
                window: Some(Window {
                    start: g.start,
                    expires: g.expires,
                }),
                run_url: run_url.clone(),
                error: Some(
                    "the ledger holds this grant as active but Azure has no such role assignment"
                        .into(),
                ),
                ..NewEntry::new(now, Event::Drift)
            });
        }
    }
    out
}
