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
    /// Every revoke completes before any grant starts: a due extension must not race the
    /// revoke of the grant whose assignment it is about to share.
    pub async fn run(&self, actions: &[Action]) -> Vec<NewEntry> {
        let (revokes, rest): (Vec<&Action>, Vec<&Action>) = actions
            .iter()
            .partition(|a| matches!(a, Action::Revoke { .. }));
        let mut out = self.batch(&revokes).await;
        out.extend(self.batch(&rest).await);
        out
    }

    /// Up to `concurrency` at once; results in the given order.
    async fn batch(&self, actions: &[&Action]) -> Vec<NewEntry> {
        let results: Vec<(usize, Option<NewEntry>)> =
            stream::iter(actions.iter().copied().enumerate())
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
            reason: Some(reason),
            ..about(g, Event::Revoked, self.now, self.run_url.clone())
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
            Ok(RevokeOutcome::Deleted) => entry,
            // Gone under today's expiry mode. If the vault's mode changed (or the vault left the
            // config) since the grant, the access may live under the other mechanism: end it
            // there too, so a config edit cannot leave access running.
            Ok(RevokeOutcome::AlreadyGone) => {
                let other = RevokeSpec {
                    mode: match spec.mode {
                        ExpiryMode::Revoker => ExpiryMode::Pim,
                        ExpiryMode::Pim => ExpiryMode::Revoker,
                    },
                    ..spec
                };
                match self.azure.revoke(&other).await {
                    Ok(_) => entry,
                    Err(e) => failed(entry, Event::RevokeFailed, e.to_string()),
                }
            }
            Err(e) => failed(entry, Event::RevokeFailed, e.to_string()),
        }
    }
}

/// An entry about an active grant, carrying everything the ledger recorded for it.
fn about(g: &ActiveGrant, event: Event, now: DateTime<Utc>, run_url: Option<String>) -> NewEntry {
    NewEntry {
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
        run_url,
        ..NewEntry::new(now, event)
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

/// Drift and orphans in every managed vault (its own scope and its secrets'), after this run's
/// own effects. PIM vaults are left out: there Azure ends access itself and the assignment PIM
/// creates is not the one kv-jit named.
pub async fn reconcile<A: Azure>(
    azure: &A,
    config: &Config,
    active: &BTreeMap<crate::request::RequestId, ActiveGrant>,
    already_drifted: &std::collections::BTreeSet<String>,
    now: DateTime<Utc>,
    run_url: Option<String>,
) -> Vec<NewEntry> {
    let is_pim = |vault: &VaultName| {
        config
            .vaults
            .get(vault)
            .is_some_and(|p| p.expiry == Expiry::Pim)
    };
    let mut vaults: BTreeMap<String, VaultRef> = BTreeMap::new();
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
            vaults.insert(vault.scope().to_ascii_lowercase(), vault);
        }
    }
    // A vault dropped from the config still has its recorded grants watched.
    for g in active.values() {
        if let Some(t) = target_from_scope(&g.scope)
            && !is_pim(t.vault.vault())
        {
            vaults
                .entry(t.vault.scope().to_ascii_lowercase())
                .or_insert(t.vault);
        }
    }
    let held = |name: &str| {
        active
            .values()
            .any(|g| g.assignment.eq_ignore_ascii_case(name))
    };
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut listed_vaults = std::collections::BTreeSet::new();
    for (key, vault) in &vaults {
        let listed = match azure.list_managed_in_vault(vault).await {
            Ok(l) => l,
            Err(e) => {
                out.push(NewEntry {
                    vault: Some(vault.vault().to_string()),
                    scope: Some(vault.scope()),
                    run_url: run_url.clone(),
                    error: Some(crate::ledger::scrub_error(&format!(
                        "reconcile could not list assignments: {e}"
                    ))),
                    ..NewEntry::new(now, Event::RevokeFailed)
                });
                continue;
            }
        };
        listed_vaults.insert(key.clone());
        for a in listed {
            seen.insert(a.name.to_ascii_lowercase());
            if held(&a.name) {
                continue;
            }
            out.push(remove_orphan(azure, a, now, run_url.clone()).await);
        }
    }
    for g in active.values() {
        let Some(t) = target_from_scope(&g.scope) else {
            continue;
        };
        let watched = listed_vaults.contains(&t.vault.scope().to_ascii_lowercase());
        if watched
            && !seen.contains(&g.assignment.to_ascii_lowercase())
            && !already_drifted.contains(&g.assignment)
        {
            out.push(NewEntry {
                error: Some(
                    "the ledger holds this grant as active but Azure has no such role assignment"
                        .into(),
                ),
                ..about(g, Event::Drift, now, run_url.clone())
            });
        }
    }
    out
}

/// An assignment kv-jit made (its marker) that the ledger does not hold as active: removed.
async fn remove_orphan<A: Azure>(
    azure: &A,
    a: crate::azure::Assignment,
    now: DateTime<Utc>,
    run_url: Option<String>,
) -> NewEntry {
    let entry = NewEntry {
        request: a.marker.as_ref().map(|m| m.request_id.clone()),
        principal_id: Some(a.principal_id.clone()),
        scope: Some(a.scope.clone()),
        role: Some(Role {
            id: a.role.clone(),
            alias: None,
        }),
        assignment: Some(a.name.clone()),
        run_url,
        reason: Some(Reason::Orphan),
        ..NewEntry::new(now, Event::Revoked)
    };
    match delete_listed(azure, &a).await {
        Ok(()) => entry,
        Err(why) => failed(entry, Event::RevokeFailed, why),
    }
}

/// Deletes exactly an assignment Azure listed: its own name at its own scope (validated again
/// before it reaches a URL).
pub async fn delete_listed<A: Azure>(
    azure: &A,
    a: &crate::azure::Assignment,
) -> Result<(), String> {
    let (Some(target), Ok(object_id), Ok(role), Ok(name)) = (
        target_from_scope(&a.scope),
        a.principal_id.parse(),
        a.role.parse(),
        a.name.parse(),
    ) else {
        return Err("the assignment's scope, principal, role or name is malformed".into());
    };
    let spec = RevokeSpec {
        name: Some(name),
        request_id: a
            .marker
            .as_ref()
            .map(|m| m.request_id.clone())
            .unwrap_or_default(),
        target,
        role,
        principal: Principal {
            object_id,
            kind: PrincipalType::User,
        },
        mode: ExpiryMode::Revoker,
    };
    azure
        .revoke(&spec)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::{Assignment, AzureError, GrantSpec, SecretStatus};
    use crate::engine::plan::RevokeReason;
    use crate::names::{SecretName, VaultName};
    use crate::request::{Duration, Request, RequestId, Upn};
    use std::sync::Mutex;

    /// Records the order of effects; a revoke yields several times before it completes, so a
    /// grant running concurrently would overtake it.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);

    impl Azure for Recorder {
        async fn check_secret(
            &self,
            _: &VaultRef,
            _: &SecretName,
        ) -> Result<SecretStatus, AzureError> {
            Ok(SecretStatus::Exists)
        }
        async fn resolve_principal(&self, _: &str) -> Result<Principal, AzureError> {
            Ok(Principal {
                object_id: uuid::Uuid::nil(),
                kind: PrincipalType::User,
            })
        }
        async fn grant(&self, spec: &GrantSpec) -> Result<Assignment, AzureError> {
            self.0.lock().unwrap().push("grant");
            Ok(Assignment {
                id: String::new(),
                name: "n".into(),
                scope: spec.target.scope(),
                role: spec.role.to_string(),
                principal_id: String::new(),
                principal_type: None,
                description: None,
                marker: None,
                marker_not_updated: None,
            })
        }
        async fn revoke(&self, _: &RevokeSpec) -> Result<RevokeOutcome, AzureError> {
            self.0.lock().unwrap().push("revoke started");
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            self.0.lock().unwrap().push("revoke done");
            Ok(RevokeOutcome::Deleted)
        }
        async fn list_managed(&self, _: &Target) -> Result<Vec<Assignment>, AzureError> {
            Ok(vec![])
        }
        async fn list_managed_in_vault(&self, _: &VaultRef) -> Result<Vec<Assignment>, AzureError> {
            Ok(vec![])
        }
    }

    struct Approved;
    impl ApprovalCheck for Approved {
        async fn check(&self, _: &Desired) -> Result<Approvals, Denied> {
            Ok(Approvals {
                pr: 1,
                commit: "c".into(),
                by: vec![],
            })
        }
    }

    #[tokio::test]
    async fn every_revoke_completes_before_a_grant_starts() {
        let cfg = "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  kv-one:\n    subscription_id: 11111111-1111-1111-1111-111111111111\n    resource_group: rg\n    secrets: [s]\n    max_duration: 4h\n";
        let config =
            crate::config::parse(cfg.as_bytes(), &mut crate::diag::Sink::new("c")).unwrap();
        let now: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let request = Request {
            id: RequestId::parse("b").unwrap(),
            path: "requests/b.yaml".into(),
            requester_pos: crate::diag::Pos::START,
            vault_pos: crate::diag::Pos::START,
            secret_pos: crate::diag::Pos::START,
            requester: Upn::parse("a@b.co").unwrap(),
            vault: VaultName::parse("kv-one").unwrap(),
            secret: SecretName::parse("s").unwrap(),
            duration: Duration::parse("1h").unwrap(),
            justification: "long enough reason".into(),
            role: "secrets-user".into(),
            role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            start: None,
            ticket: None,
            extends: None,
            revoke: false,
        };
        let grant = ActiveGrant {
            request: RequestId::parse("a").unwrap(),
            request_sha256: "x".into(),
            start: now - chrono::Duration::hours(2),
            expires: now,
            assignment: uuid::Uuid::nil().to_string(),
            scope: "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-one".into(),
            vault: "kv-one".into(),
            secret: "s".into(),
            requester: "a@b.co".into(),
            principal_id: uuid::Uuid::nil().to_string(),
            role_id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
        };
        // The grant is listed first: order in the plan must not matter.
        let actions = vec![
            Action::Grant {
                desired: Box::new(Desired {
                    request,
                    sha256: "y".into(),
                }),
                request: RequestId::parse("b").unwrap(),
                start: now,
                expires: now + chrono::Duration::hours(1),
            },
            Action::Revoke {
                grant,
                reason: RevokeReason::Expired,
                shared_with: None,
            },
        ];
        let azure = Recorder::default();
        let exec = Executor {
            azure: &azure,
            approvals: &Approved,
            config: &config,
            now,
            run_url: None,
            concurrency: 8,
        };
        let entries = exec.run(&actions).await;
        assert_eq!(
            *azure.0.lock().unwrap(),
            ["revoke started", "revoke done", "grant"]
        );
        assert_eq!(entries.len(), 2);
    }
}
