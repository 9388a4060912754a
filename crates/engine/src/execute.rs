//! Executes a plan: every action becomes exactly one ledger entry, success or failure, and one
//! item's failure never blocks the others. Azure writes are idempotent (deterministic assignment
//! names), so running the same plan twice converges instead of duplicating.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use kv_jit_core::azure::{
    self, Assignment, AzureError, ExpiryMode, GrantSpec, Principal, PrincipalType, RevokeSpec,
    SecretStatus, Target, VaultRef,
};
use kv_jit_core::config::{Config, Expiry, Scope};
use kv_jit_core::ledger::{self as ledger_mod, Event, NewEntry, Reason, Role, Window};
use kv_jit_core::names::{SecretName, VaultName};
use kv_jit_core::plan::{Action, ActiveGrant, Desired, Extension, RevokeReason};

use crate::ports::{ApprovalCheck, Azure, Denied};

/// Whether an Azure error is worth retrying on a later run ([`AzureError::class`] is the one
/// place that sorts them). Everything else is an answer that will not change by itself (a
/// missing secret, a refusal by policy): recorded once as `refused`, not retried by every
/// scheduled run until the window ends.
fn transient(e: &AzureError) -> bool {
    e.class() == kv_jit_core::azure::ErrorClass::Transient
}

pub struct Executor<'a, A, P> {
    pub azure: &'a A,
    pub approvals: &'a P,
    pub config: &'a Config,
    pub now: DateTime<Utc>,
    pub run_url: Option<String>,
    /// How many Azure items run at once (the Azure client paces per subscription on top).
    pub concurrency: u16,
    /// The deterministic assignment names (lowercase) of every request the ledger records as
    /// granted: the only names a revoke may delete.
    pub known_names: &'a BTreeSet<String>,
    /// Told about each entry as its item completes.
    pub progress: &'a dyn crate::ports::Progress,
}

/// The key of a vault's listing: its ARM scope, case-folded as ARM compares scopes.
fn vault_key(vault: &VaultRef) -> String {
    vault.scope().to_ascii_lowercase()
}

/// What Azure listed for the vault holding `scope` (an assignment's scope, vault or secret).
fn listing<'l>(listings: &'l Listings, scope: &str) -> Result<&'l [Assignment], String> {
    let key = target_from_scope(scope)
        .map(|t| vault_key(&t.vault))
        .ok_or_else(|| format!("cannot read the scope `{scope}`"))?;
    match listings.get(&key) {
        Some(Ok(l)) => Ok(l),
        Some(Err(e)) => Err(format!("cannot list the vault's assignments: {e}")),
        None => Err("the vault's assignments were not listed".into()),
    }
}

/// Another active grant that holds the same assignment as the one being revoked.
#[derive(Debug, Clone, Copy)]
pub struct Shared<'a> {
    pub other: &'a kv_jit_core::request::RequestId,
    /// The request files link the two by `extends`.
    pub by_extends: bool,
}

/// What Azure listed for each vault this run touches, read once before any effect: a revoke
/// deletes only an assignment found here with kv-jit's marker, and an extension continues only
/// a base found here.
type Listings = HashMap<String, Result<Vec<Assignment>, String>>;

impl<A: Azure, P: ApprovalCheck> Executor<'_, A, P> {
    /// Runs every action; returns one entry per effect in the plan's order (waits have none).
    /// Every revoke completes before any grant starts: a due extension must not race the
    /// revoke of the grant whose assignment it is about to share.
    pub async fn run(&self, actions: &[Action]) -> Vec<NewEntry> {
        self.run_deferring(actions).await.0
    }

    /// [`Executor::run`], and why each grant that was not started was deferred (the approval
    /// check could not afford to run: [`Denied::Deferred`]). A deferred grant has no entry: the
    /// next run plans it again. While the grants run, [`ApprovalCheck::prepare`] reads ahead
    /// what their checks need.
    pub async fn run_deferring(&self, actions: &[Action]) -> (Vec<NewEntry>, Vec<String>) {
        let listings = self.list_touched(actions).await;
        let (revokes, rest): (Vec<&Action>, Vec<&Action>) = actions
            .iter()
            .partition(|a| matches!(a, Action::Revoke { .. }));
        let (mut out, mut deferred) = self.batch(&revokes, &listings).await;
        let due: Vec<&Desired> = rest
            .iter()
            .filter_map(|a| match a {
                Action::Grant { desired, .. } => Some(&**desired),
                _ => None,
            })
            .collect();
        let width = usize::from(self.concurrency.max(1));
        let ((more, more_deferred), ()) = futures_util::future::join(
            self.batch(&rest, &listings),
            self.approvals.prepare(&due, width),
        )
        .await;
        out.extend(more);
        deferred.extend(more_deferred);
        (out, deferred)
    }

    /// One listing per vault that a revoke (in revoker mode) or an extension touches.
    async fn list_touched(&self, actions: &[Action]) -> Listings {
        let mut vaults: BTreeMap<String, VaultRef> = BTreeMap::new();
        for a in actions {
            let scope = match a {
                Action::Revoke { grant, .. } if self.mode_of(grant) == ExpiryMode::Revoker => {
                    &grant.scope
                }
                Action::Grant {
                    extends: Some(x), ..
                } => &x.base.scope,
                _ => continue,
            };
            if let Some(t) = target_from_scope(scope) {
                vaults.entry(vault_key(&t.vault)).or_insert(t.vault);
            }
        }
        let mut out = HashMap::new();
        for (key, vault) in vaults {
            let listed = self
                .azure
                .list_managed_in_vault(&vault)
                .await
                .map_err(|e| e.to_string());
            out.insert(key, listed);
        }
        out
    }

    /// Up to `concurrency` at once; results in the given order, and why each deferred grant was.
    async fn batch(
        &self,
        actions: &[&Action],
        listings: &Listings,
    ) -> (Vec<NewEntry>, Vec<String>) {
        let results: Vec<(usize, Result<Option<NewEntry>, String>)> =
            stream::iter(actions.iter().copied().enumerate())
                .map(|(i, action)| async move {
                    let entry = self.one(action, listings).await;
                    if let Ok(Some(e)) = &entry {
                        self.progress.completed(e);
                    }
                    (i, entry)
                })
                .buffer_unordered(usize::from(self.concurrency.max(1)))
                .collect()
                .await;
        let mut results = results;
        results.sort_by_key(|(i, _)| *i);
        let mut entries = Vec::new();
        let mut deferred = Vec::new();
        for (_, r) in results {
            match r {
                Ok(Some(e)) => entries.push(e),
                Ok(None) => {}
                Err(why) => deferred.push(why),
            }
        }
        (entries, deferred)
    }

    /// One action's entry (none for a wait), or why a grant was deferred.
    async fn one(&self, action: &Action, listings: &Listings) -> Result<Option<NewEntry>, String> {
        Ok(match action {
            Action::Grant {
                desired,
                start,
                expires,
                extends,
                ..
            } => Some(
                self.grant(desired, *start, *expires, extends.as_deref(), listings)
                    .await?,
            ),
            Action::Revoke {
                grant,
                reason,
                shared_with,
                shared_by_extends,
                note,
            } => {
                let shared = shared_with.as_ref().map(|other| Shared {
                    other,
                    by_extends: *shared_by_extends,
                });
                let mut entry = self
                    .revoke(grant, ledger_reason(*reason), shared, listings)
                    .await;
                entry.note = note.clone();
                Some(entry)
            }
            Action::Refuse {
                request,
                sha256,
                reason,
                ..
            } => Some(NewEntry {
                request: Some(request.to_string()),
                request_sha256: Some(sha256.clone()),
                run_url: self.run_url.clone(),
                error: Some(reason.to_string()),
                ..NewEntry::new(self.now, Event::Refused)
            }),
            Action::Wait { .. } => None,
        })
    }

    /// The mechanism a grant ends by: what was recorded when it was made; for ledgers from
    /// before that was recorded, the vault's configured mode (never both, never a fallback).
    fn mode_of(&self, g: &ActiveGrant) -> ExpiryMode {
        match g.expiry {
            Some(ledger_mod::ExpiryMode::Pim) => ExpiryMode::Pim,
            Some(ledger_mod::ExpiryMode::Revoker) => ExpiryMode::Revoker,
            None => target_from_scope(&g.scope)
                .and_then(|t| self.config.vaults.get(t.vault.vault()))
                .map_or(ExpiryMode::Revoker, |p| mode(p.expiry)),
        }
    }

    /// A grant's entry, or why it was deferred (its approval could not be afforded).
    async fn grant(
        &self,
        d: &Desired,
        start: DateTime<Utc>,
        expires: DateTime<Utc>,
        extends: Option<&Extension>,
        listings: &Listings,
    ) -> Result<NewEntry, String> {
        let mut deferred = None;
        let entry = self
            .grant_entry(d, start, expires, extends, listings, &mut deferred)
            .await;
        match deferred {
            Some(why) => Err(why),
            None => Ok(entry),
        }
    }

    async fn grant_entry(
        &self,
        d: &Desired,
        start: DateTime<Utc>,
        expires: DateTime<Utc>,
        extends: Option<&Extension>,
        listings: &Listings,
        deferred: &mut Option<String>,
    ) -> NewEntry {
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
            extends: extends.map(|x| x.base.request.to_string()),
            ..NewEntry::new(self.now, Event::Granted)
        };
        // Fail closed: a request whose vault left the config since validation is not granted.
        let Some(policy) = self.config.vaults.get(&r.vault) else {
            return refused(
                entry,
                format!("vault `{}` is no longer configured", r.vault),
            );
        };
        entry.expiry = Some(match policy.expiry {
            Expiry::Revoker => ledger_mod::ExpiryMode::Revoker,
            Expiry::Pim => ledger_mod::ExpiryMode::Pim,
        });
        let approvals = match self.approvals.check(d).await {
            Ok(a) => a,
            Err(Denied::Refused(why)) => return refused(entry, why.message),
            Err(Denied::Unavailable(why)) => return failed(entry, Event::GrantFailed, why),
            Err(Denied::Deferred(why)) => {
                *deferred = Some(why.clone());
                return failed(entry, Event::GrantFailed, why);
            }
        };
        // A break-glass grant is marked: approved by nobody, its owners told (`owners`).
        entry.break_glass = r.break_glass.then_some(true);
        entry.approvals = Some(approvals);
        let vault = match VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            r.vault.clone(),
        ) {
            Ok(vault) => vault,
            Err(m) => return refused(entry, m),
        };
        // The secret must exist and the vault must use RBAC (metadata only, never the value):
        // an assignment for a secret that is not there is refused once, not retried forever.
        match self.azure.check_secret(&vault, &r.secret).await {
            Ok(SecretStatus::Exists) => {}
            Ok(status) => return refused(entry, secret_refusal(status, &r.vault, &r.secret)),
            Err(e) if transient(&e) => return failed(entry, Event::GrantFailed, e.to_string()),
            Err(e) => return refused(entry, e.to_string()),
        }
        let target = Target {
            vault,
            secret: (policy.scope == Scope::Secret).then(|| r.secret.clone()),
        };
        let scope = target.scope();
        entry.scope = Some(scope.clone());
        entry.assignment =
            Some(azure::assignment_name(&self.config.tenant_id, &scope, r.id.as_str()).to_string());
        let principal = match self.azure.resolve_principal(r.requester.as_str()).await {
            Ok(p) => p,
            Err(e) if transient(&e) => return failed(entry, Event::GrantFailed, e.to_string()),
            Err(e) => return refused(entry, e.to_string()),
        };
        entry.principal_id = Some(principal.object_id.to_string());
        if let Some(x) = extends
            && let Err(why) = self.base_is_held(x, &scope, &principal, &r.role_id, listings)
        {
            return refused(entry, why);
        }
        let Ok(role) = r.role_id.parse() else {
            return refused(entry, format!("role id `{}` is not a GUID", r.role_id));
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
            // grant it extends: record that one, so the two share it.
            // (A PIM grant is the schedule request kv-jit just made, named per request body.)
            Ok(assignment)
                if created_by_kv_jit(&assignment, &self.config.tenant_id, self.known_names)
                    || (spec.mode == ExpiryMode::Pim && assignment.marker.is_some()) =>
            {
                NewEntry {
                // Azure may refuse to rewrite an existing assignment's description: the base's
                // marker stays, and only the expiry sweep (when the ledger cannot be trusted)
                // reads it; it would end this access early, never late. Said in the entry.
                note: assignment.marker_not_updated.as_ref().and_then(|_| {
                    assignment.marker.as_ref().map(|m| {
                        format!(
                            "Azure kept the shared assignment's marker for {} (expires {}); the ledger's window holds",
                            m.request_id,
                            m.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )
                    })
                }),
                assignment: Some(assignment.name),
                ..entry
                }
            }
            // The PUT resolved to an assignment kv-jit did not create (standing access made by
            // hand): kv-jit granted nothing, so there is nothing it may ever remove. Recorded
            // as refused, so no revoke and no reconcile ever touches that assignment.
            Ok(assignment)
                if !assignment
                    .name
                    .eq_ignore_ascii_case(entry.assignment.as_deref().unwrap_or_default()) =>
            {
                refused(
                    entry,
                    format!(
                        "{} already holds this role here through assignment {}, which kv-jit did not create; nothing was granted and kv-jit will not remove it",
                        r.requester, assignment.name
                    ),
                )
            }
            Ok(_) => entry,
            Err(e) if transient(&e) => failed(entry, Event::GrantFailed, e.to_string()),
            Err(e) => refused(entry, e.to_string()),
        }
    }

    /// An extension continues only a base whose assignment Azure holds with kv-jit's marker:
    /// the recorded assignment, at this scope, for this principal and role, named
    /// deterministically for the base or a grant it extends, marked for one of them.
    fn base_is_held(
        &self,
        x: &Extension,
        scope: &str,
        principal: &Principal,
        role_id: &str,
        listings: &Listings,
    ) -> Result<(), String> {
        let base = &x.base.request;
        let refuse = |why: &str| {
            Err(format!(
                "`extends: {base}`: {why}; file a new request without `extends`"
            ))
        };
        if !x.base.scope.eq_ignore_ascii_case(scope) {
            return refuse("the grant it extends is at another scope");
        }
        let listed = match listing(listings, scope) {
            Ok(l) => l,
            Err(e) => return refuse(&e),
        };
        let derivable = x.lineage.iter().any(|id| {
            azure::assignment_name(&self.config.tenant_id, scope, id.as_str())
                .to_string()
                .eq_ignore_ascii_case(&x.base.assignment)
        });
        let held = listed.iter().any(|a| {
            a.name.eq_ignore_ascii_case(&x.base.assignment)
                && a.scope.eq_ignore_ascii_case(scope)
                && a.principal_id
                    .eq_ignore_ascii_case(&principal.object_id.to_string())
                && a.role.eq_ignore_ascii_case(role_id)
                && a.marker
                    .as_ref()
                    .is_some_and(|m| x.lineage.iter().any(|id| id.as_str() == m.request_id))
        });
        if derivable && held {
            Ok(())
        } else {
            refuse("Azure holds no assignment kv-jit made for that grant")
        }
    }

    /// Revokes from what the ledger recorded at grant time, not from today's config: a vault
    /// removed from the config still has its grants taken back. Deletes only an assignment
    /// kv-jit created: listed by Azure under a name kv-jit derives for a request it granted,
    /// with kv-jit's marker, for the recorded principal and role. Never anything a ledger line
    /// merely names, and only in the mode recorded at grant time.
    pub async fn revoke(
        &self,
        g: &ActiveGrant,
        reason: Reason,
        shared: Option<Shared<'_>>,
        listings: &Listings,
    ) -> NewEntry {
        let entry = NewEntry {
            reason: Some(reason),
            ..about(g, Event::Revoked, self.now, self.run_url.clone())
        };
        // Another grant holds the same assignment: this one ends in the ledger only, if that
        // sharing is real: approved (the files link them by `extends`) or made by kv-jit (Azure's
        // marker names the other grant). A ledger line claiming the assignment is neither.
        if let Some(s) = shared {
            let marked_for_other = listing(listings, &g.scope).is_ok_and(|l| {
                l.iter().any(|a| {
                    a.name.eq_ignore_ascii_case(&g.assignment)
                        && a.marker
                            .as_ref()
                            .is_some_and(|m| m.request_id == s.other.as_str())
                })
            });
            if s.by_extends || marked_for_other {
                return entry;
            }
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
        let mode = self.mode_of(g);
        let name = match mode {
            ExpiryMode::Pim => g.assignment.parse().ok(),
            ExpiryMode::Revoker => {
                let listed = match listing(listings, &g.scope) {
                    Ok(l) => l,
                    Err(e) => {
                        return failed(
                            entry,
                            Event::RevokeFailed,
                            format!("{e} (before deleting)"),
                        );
                    }
                };
                let Some(found) = listed
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&g.assignment))
                else {
                    // Nothing to delete: gone already (drift, or removed by hand).
                    return entry;
                };
                let ours = self
                    .known_names
                    .contains(&g.assignment.to_ascii_lowercase())
                    && found.marker.is_some()
                    && found.scope.eq_ignore_ascii_case(&g.scope)
                    && found.principal_id.eq_ignore_ascii_case(&g.principal_id)
                    && found.role.eq_ignore_ascii_case(&g.role_id);
                if !ours {
                    return NewEntry {
                        error: Some(format!(
                            "assignment {} is not one kv-jit created for this grant (no kv-jit name, marker, principal or role match); left in place",
                            g.assignment
                        )),
                        ..entry
                    };
                }
                g.assignment.parse().ok()
            }
        };
        let spec = RevokeSpec {
            // Exactly the assignment the ledger recorded (an extension shares its base's).
            name,
            request_id: g.request.to_string(),
            target,
            role,
            principal: Principal {
                object_id,
                kind: PrincipalType::User,
            },
            mode,
        };
        // One mechanism: the one the grant was made with. Finding nothing there means it is
        // gone; kv-jit never goes looking for the access under another mechanism, where it
        // would find (and remove) access it did not create.
        match self.azure.revoke(&spec).await {
            Ok(_) => entry,
            Err(e) => failed(entry, Event::RevokeFailed, e.to_string()),
        }
    }
}

fn secret_refusal(status: SecretStatus, vault: &VaultName, secret: &SecretName) -> String {
    match status {
        SecretStatus::Exists => String::new(),
        SecretStatus::SecretMissing => {
            format!("secret `{secret}` does not exist in vault `{vault}`")
        }
        SecretStatus::VaultMissing => format!("vault `{vault}` does not exist in Azure"),
        SecretStatus::VaultNotRbac => format!(
            "vault `{vault}` does not use Azure RBAC authorization, so a role assignment would grant nothing"
        ),
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
    entry.error = Some(ledger_mod::scrub_error(&why));
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
    active: &BTreeMap<kv_jit_core::request::RequestId, ActiveGrant>,
    already_drifted: &std::collections::BTreeSet<String>,
    known_names: &BTreeSet<String>,
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
            vaults.insert(vault_key(&vault), vault);
        }
    }
    // A vault dropped from the config still has its recorded grants watched.
    for g in active.values() {
        if let Some(t) = target_from_scope(&g.scope)
            && !is_pim(t.vault.vault())
        {
            vaults.entry(vault_key(&t.vault)).or_insert(t.vault);
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
                    error: Some(kv_jit_core::ledger::scrub_error(&format!(
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
            // A marker alone is words in a description anyone with write access can type: an
            // orphan is removed only when its name is one kv-jit derives too.
            if held(&a.name) || !created_by_kv_jit(&a, &config.tenant_id, known_names) {
                continue;
            }
            out.push(remove_orphan(azure, a, now, run_url.clone()).await);
        }
    }
    for g in active.values() {
        let Some(t) = target_from_scope(&g.scope) else {
            continue;
        };
        let watched = listed_vaults.contains(&vault_key(&t.vault));
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

/// Whether kv-jit created `a`: it carries kv-jit's marker, and its name is the deterministic
/// name (UUIDv5 of tenant, scope, request id) of the request its marker names or of one in
/// `known` (names kv-jit derives for requests it granted, or for the requests on the default
/// branch; an extension's shared assignment keeps its base's name while its marker names the
/// extension). Nothing else is ever deleted as an orphan or by the expiry sweep.
pub fn created_by_kv_jit(a: &Assignment, tenant_id: &str, known: &BTreeSet<String>) -> bool {
    let Some(marker) = &a.marker else {
        return false;
    };
    known.contains(&a.name.to_ascii_lowercase())
        || azure::assignment_name(tenant_id, &a.scope, &marker.request_id)
            .to_string()
            .eq_ignore_ascii_case(&a.name)
}

/// An assignment kv-jit made (its marker) that the ledger does not hold as active: removed.
async fn remove_orphan<A: Azure>(
    azure: &A,
    a: kv_jit_core::azure::Assignment,
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
    a: &kv_jit_core::azure::Assignment,
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
    use kv_jit_core::azure::{Assignment, AzureError, GrantSpec, RevokeOutcome, SecretStatus};
    use kv_jit_core::ledger::Approvals;
    use kv_jit_core::names::{SecretName, VaultName};
    use kv_jit_core::plan::RevokeReason;
    use kv_jit_core::request::{Duration, Request, RequestId, Upn};
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
        async fn list_managed_in_vault(
            &self,
            vault: &VaultRef,
        ) -> Result<Vec<Assignment>, AzureError> {
            Ok(vec![Assignment {
                id: String::new(),
                name: uuid::Uuid::nil().to_string(),
                scope: vault.scope(),
                role: "4633458b-17de-408a-b874-0445c86b69e6".into(),
                principal_id: uuid::Uuid::nil().to_string(),
                principal_type: None,
                description: None,
                marker: Some(kv_jit_core::azure::Marker {
                    request_id: "a".into(),
                    expires_at: chrono::DateTime::UNIX_EPOCH,
                }),
                marker_not_updated: None,
            }])
        }
    }

    struct Approved;
    impl ApprovalCheck for Approved {
        async fn check(&self, _: &Desired) -> Result<Approvals, Denied> {
            Ok(Approvals {
                pr: 1,
                commit: "c".into(),
                by: vec![],
                owners: vec![],
            })
        }
    }

    #[tokio::test]
    async fn every_revoke_completes_before_a_grant_starts() {
        let cfg = "tenant_id: 00000000-0000-0000-0000-000000000000\nvaults:\n  kv-one:\n    subscription_id: 11111111-1111-1111-1111-111111111111\n    resource_group: rg\n    secrets: [s]\n    max_duration: 4h\n";
        let config =
            kv_jit_core::config::parse(cfg.as_bytes(), &mut kv_jit_core::diag::Sink::new("c"))
                .unwrap();
        let now: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let request = Request {
            id: RequestId::parse("b").unwrap(),
            path: "requests/b.yaml".into(),
            requester_pos: kv_jit_core::diag::Pos::START,
            vault_pos: kv_jit_core::diag::Pos::START,
            secret_pos: kv_jit_core::diag::Pos::START,
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
            break_glass: false,
            issue: None,
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
            expiry: None,
            extends: None,
        };
        // The grant is listed first: order in the plan must not matter.
        let actions = vec![
            Action::Grant {
                desired: Box::new(Desired {
                    request,
                    sha256: "y".into(),
                    merged: None,
                }),
                request: RequestId::parse("b").unwrap(),
                start: now,
                expires: now + chrono::Duration::hours(1),
                extends: None,
            },
            Action::Revoke {
                grant: grant.clone(),
                reason: RevokeReason::Expired,
                shared_with: None,
                shared_by_extends: false,
                note: None,
            },
        ];
        let azure = Recorder::default();
        let known: BTreeSet<String> = [grant.assignment.clone()].into();
        let exec = Executor {
            known_names: &known,
            azure: &azure,
            approvals: &Approved,
            config: &config,
            now,
            run_url: None,
            concurrency: 8,
            progress: &|_: &NewEntry| {},
        };
        let entries = exec.run(&actions).await;
        assert_eq!(
            *azure.0.lock().unwrap(),
            ["revoke started", "revoke done", "grant"]
        );
        assert_eq!(entries.len(), 2);
    }
}
