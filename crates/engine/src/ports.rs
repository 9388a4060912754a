//! The engine's ports: the narrow interfaces through which it reaches the world. Production
//! implements them over HTTP and git (`kv_jit_effects`), the tests with in-memory fakes or the
//! emulator; the engine cannot tell which.

use std::future::Future;

use kv_jit_core::azure::{
    Assignment, AzureError, GrantSpec, Principal, RevokeOutcome, RevokeSpec, SecretStatus, Target,
    VaultRef,
};
use kv_jit_core::ledger::{Approvals, Entry, NewEntry};
use kv_jit_core::names::SecretName;
use kv_jit_core::plan::Desired;

/// The narrow interface the engine uses. Futures are `Send` so the engine can run grants
/// concurrently on a multi-threaded runtime; use it as a generic (`A: Azure`), not `dyn`.
pub trait Azure: Send + Sync {
    /// Vault exists with RBAC authorization, and the secret exists (metadata only).
    fn check_secret(
        &self,
        vault: &VaultRef,
        secret: &SecretName,
    ) -> impl Future<Output = Result<SecretStatus, AzureError>> + Send;

    /// A user principal name to its Entra object id (cached per client).
    fn resolve_principal(
        &self,
        upn: &str,
    ) -> impl Future<Output = Result<Principal, AzureError>> + Send;

    /// Creates the assignment (idempotent: same spec, same name; an equal existing one counts).
    fn grant(
        &self,
        spec: &GrantSpec,
    ) -> impl Future<Output = Result<Assignment, AzureError>> + Send;

    /// Ends the assignment; gone already is success.
    fn revoke(
        &self,
        spec: &RevokeSpec,
    ) -> impl Future<Output = Result<RevokeOutcome, AzureError>> + Send;

    /// Assignments exactly at the target scope (not inherited) that carry kv-jit's marker.
    fn list_managed(
        &self,
        target: &Target,
    ) -> impl Future<Output = Result<Vec<Assignment>, AzureError>> + Send;

    /// Assignments carrying kv-jit's marker at the vault's scope and at every secret in it: what
    /// reconcile must see, including single-secret grants the ledger never recorded.
    fn list_managed_in_vault(
        &self,
        vault: &VaultRef,
    ) -> impl Future<Output = Result<Vec<Assignment>, AzureError>> + Send;
}

pub use kv_jit_core::approval::Denied;

/// Verifies that a request on the default branch was approved (GitHub in production).
pub trait ApprovalCheck: Send + Sync {
    fn check(&self, desired: &Desired) -> impl Future<Output = Result<Approvals, Denied>> + Send;

    /// Told every grant due before they start, and run alongside them: reads ahead what
    /// [`ApprovalCheck::check`] will need (up to `concurrency` at once), so the grants find it
    /// read. Decides nothing; the default reads nothing.
    fn prepare(&self, due: &[&Desired], concurrency: usize) -> impl Future<Output = ()> + Send {
        let _ = (due, concurrency);
        async {}
    }
}

/// Why the ledger cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerProblem {
    /// Not reachable now (network, GitHub): the next run retries.
    Unavailable(String),
    /// Read, but it cannot be trusted (tampered, lost entries, lost altogether).
    Untrusted(String),
}

impl LedgerProblem {
    pub fn message(&self) -> &str {
        match self {
            LedgerProblem::Unavailable(m) | LedgerProblem::Untrusted(m) => m,
        }
    }
}

/// Where the ledger lives (git in production): read whole and verified, appended by
/// compare-and-swap. Blocking: called once at the start of a run and once at its end.
pub trait LedgerStore {
    /// The verified entries; a ledger that cannot be trusted or read is a [`LedgerProblem`]
    /// (never an empty start).
    fn read(&self) -> Result<Vec<Entry>, LedgerProblem>;

    /// Appends `new` (deduplicated against what is there); says what happened, for the log.
    fn append(&self, new: &[NewEntry]) -> Result<String, String>;
}

/// Told about each ledger entry of a run as its item completes (a grant, a revoke, a refusal,
/// an orphan removed, drift found), before the run ends: the shell prints a progress line, so a
/// long run shows its work as it goes. Must return quickly; it cannot change the outcome.
pub trait Progress: Sync {
    fn completed(&self, entry: &NewEntry);
}

/// Any `Fn(&NewEntry)` closure is a progress hook; `&|_| {}` is none.
impl<F: Fn(&NewEntry) + Sync> Progress for F {
    fn completed(&self, entry: &NewEntry) {
        self(entry)
    }
}

/// Announces a run's outcome (the job summary, Teams). Best effort: returns warnings, never
/// undoes anything.
pub trait Notifier: Send + Sync {
    fn announce(
        &self,
        title: &str,
        run_url: Option<&str>,
        new: &[NewEntry],
    ) -> impl Future<Output = Vec<String>> + Send;
}
