//! The engine against in-memory fakes of its ports: no HTTP, no git, no emulator. Each test is
//! one rule of a run (what is held back, what is recorded, how the run ends).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use kv_jit_core::azure::{
    Assignment, AzureError, GrantSpec, Marker, Principal, PrincipalType, RevokeOutcome, RevokeSpec,
    SecretStatus, Target, VaultRef, assignment_name,
};
use kv_jit_core::config::Config;
use kv_jit_core::diag::Sink;
use kv_jit_core::ledger::{self, Approvals, Entry, Event, NewEntry, Tip};
use kv_jit_core::names::SecretName;
use kv_jit_core::plan::{Desired, Merge};

use super::*;
use crate::ports::LedgerProblem;

const CONFIG: &str = "tenant_id: 00000000-0000-0000-0000-000000000000
identities:
  alice-gh: alice@contoso.com
vaults:
  kv-one:
    subscription_id: 11111111-1111-1111-1111-111111111111
    resource_group: rg
    secrets: [api-key]
    max_duration: 4h
";

const REQUEST: &str = "apiVersion: kv-jit/v1
kind: AccessRequest
requester: alice@contoso.com
vault: kv-one
secret: api-key
duration: 2h
justification: debugging the payment outage INC-42
";

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn config() -> Config {
    kv_jit_core::config::parse(CONFIG.as_bytes(), &mut Sink::new("c")).unwrap()
}

/// The request file `requests/a.yaml`, merged at T0.
fn desired(config: &Config) -> Desired {
    let mut sink = Sink::new("requests/a.yaml");
    let raw = kv_jit_core::request::parse_raw(REQUEST.as_bytes(), &mut sink).unwrap();
    let id = kv_jit_core::request::RequestId::parse("a").unwrap();
    let mut request = kv_jit_core::policy::check(&raw, Some(id), config, None, &mut sink)
        .unwrap_or_else(|| panic!("{:?}", sink.diags));
    request.path = "requests/a.yaml".into();
    Desired {
        request,
        sha256: ledger::sha256_hex(REQUEST.as_bytes()),
        merged: Some(Merge {
            commit: "c0ffee".into(),
            at: t0(),
        }),
    }
}

/// Azure as a map of assignments by name.
#[derive(Default)]
struct FakeAzure(Mutex<BTreeMap<String, Assignment>>);

impl FakeAzure {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl Azure for FakeAzure {
    async fn check_secret(&self, _: &VaultRef, _: &SecretName) -> Result<SecretStatus, AzureError> {
        Ok(SecretStatus::Exists)
    }
    async fn resolve_principal(&self, _: &str) -> Result<Principal, AzureError> {
        Ok(Principal {
            object_id: uuid::Uuid::from_u128(7),
            kind: PrincipalType::User,
        })
    }
    async fn grant(&self, spec: &GrantSpec) -> Result<Assignment, AzureError> {
        let scope = spec.target.scope();
        let name = assignment_name(
            "00000000-0000-0000-0000-000000000000",
            &scope,
            &spec.request_id,
        )
        .to_string();
        let marker = Marker {
            request_id: spec.request_id.clone(),
            expires_at: spec.expires_at,
        };
        let a = Assignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            name: name.clone(),
            scope,
            role: spec.role.to_string(),
            principal_id: spec.principal.object_id.to_string(),
            principal_type: Some("User".into()),
            description: Some(marker.render()),
            marker: Some(marker),
            marker_not_updated: None,
        };
        self.0.lock().unwrap().insert(name, a.clone());
        Ok(a)
    }
    async fn revoke(&self, spec: &RevokeSpec) -> Result<RevokeOutcome, AzureError> {
        let name = spec.name.map(|n| n.to_string()).unwrap_or_default();
        Ok(match self.0.lock().unwrap().remove(&name) {
            Some(_) => RevokeOutcome::Deleted,
            None => RevokeOutcome::AlreadyGone,
        })
    }
    async fn list_managed(&self, target: &Target) -> Result<Vec<Assignment>, AzureError> {
        let scope = target.scope().to_ascii_lowercase();
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.scope.to_ascii_lowercase() == scope)
            .cloned()
            .collect())
    }
    async fn list_managed_in_vault(&self, vault: &VaultRef) -> Result<Vec<Assignment>, AzureError> {
        let scope = vault.scope().to_ascii_lowercase();
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|a| a.scope.to_ascii_lowercase().starts_with(&scope))
            .cloned()
            .collect())
    }
}

/// The ledger in memory; `unreadable` makes reads fail, `push_fails` appends.
#[derive(Default)]
struct FakeLedger {
    entries: Mutex<Vec<Entry>>,
    unreadable: Option<LedgerProblem>,
    push_fails: bool,
}

impl LedgerStore for FakeLedger {
    fn read(&self) -> Result<Vec<Entry>, LedgerProblem> {
        match &self.unreadable {
            Some(p) => Err(p.clone()),
            None => Ok(self.entries.lock().unwrap().clone()),
        }
    }
    fn append(&self, new: &[NewEntry]) -> Result<String, String> {
        if self.push_fails {
            return Err("the remote refused the push".into());
        }
        let mut entries = self.entries.lock().unwrap();
        let fresh = ledger::dedupe(&entries, new.to_vec());
        let appended = ledger::append(&Tip::of(&entries), fresh);
        let n = appended.len();
        entries.extend(appended);
        Ok(format!("{n} appended"))
    }
}

#[derive(Default)]
struct FakeNotifier(Mutex<Vec<String>>);

impl Notifier for FakeNotifier {
    async fn announce(&self, title: &str, _: Option<&str>, _: &[NewEntry]) -> Vec<String> {
        self.0.lock().unwrap().push(title.to_owned());
        Vec::new()
    }
}

struct Approve;

impl ApprovalCheck for Approve {
    async fn check(&self, _: &Desired) -> Result<Approvals, Denied> {
        Ok(Approvals {
            pr: 7,
            commit: "head".into(),
            by: Vec::new(),
            owners: Vec::new(),
        })
    }
}

struct World {
    config: Config,
    azure: FakeAzure,
    ledger: FakeLedger,
    notifier: FakeNotifier,
    shard: Option<kv_jit_core::shard::Shard>,
}

impl World {
    fn new() -> World {
        World {
            config: config(),
            azure: FakeAzure::default(),
            ledger: FakeLedger::default(),
            notifier: FakeNotifier::default(),
            shard: None,
        }
    }

    async fn run(
        &self,
        mode: Mode,
        now: DateTime<Utc>,
        github: Result<(), &str>,
        manual: Option<Manual<'_>>,
    ) -> RunReport {
        let inputs = Inputs {
            mode,
            config: &self.config,
            now,
            requests: Ok((vec![desired(&self.config)], Vec::new())),
            manual,
            shallow: false,
            run_url: None,
            concurrency: 4,
            shard: self.shard,
        };
        let ports = Ports {
            azure: Ok(&self.azure),
            ledger: &self.ledger,
            notifier: &self.notifier,
            failpoint: &|_| {},
            progress: &|_: &NewEntry| {},
        };
        run(inputs, ports, || {
            github.map(|()| Approve).map_err(str::to_owned)
        })
        .await
    }

    fn events(&self) -> Vec<Event> {
        self.ledger
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event)
            .collect()
    }
}

#[tokio::test]
async fn a_due_grant_is_granted_recorded_and_announced_then_revoked_at_its_end() {
    let w = World::new();
    let done = w
        .run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    assert_eq!(done.outcome, Outcome::Ok, "{:?}", done.messages);
    assert_eq!(w.events(), [Event::Granted]);
    assert_eq!(w.azure.names().len(), 1);
    assert_eq!(*w.notifier.0.lock().unwrap(), ["kv-jit grant"]);

    // Before the window ends nothing happens; after it, the scheduled run revokes.
    let quiet = w
        .run(
            Mode::Revoke,
            t0() + Duration::minutes(90),
            Err("no GitHub"),
            None,
        )
        .await;
    assert!(quiet.new.is_empty() && quiet.recorded.is_none());
    let done = w
        .run(
            Mode::Revoke,
            t0() + Duration::hours(2),
            Err("no GitHub"),
            None,
        )
        .await;
    assert_eq!(done.outcome, Outcome::Ok, "{:?}", done.messages);
    assert_eq!(w.events(), [Event::Granted, Event::Revoked]);
    assert!(w.azure.names().is_empty());
}

/// kv-one's subscription (11111111-…) is shard 3 of 10 (`kv_jit_core::shard`'s pinned value).
#[tokio::test]
async fn a_sharded_run_does_only_its_own_subscriptions_work() {
    let shard = |k| Some(kv_jit_core::shard::Shard::new(k, 10).unwrap());
    let mut w = World::new();
    w.shard = shard(4);
    let other = w
        .run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    assert_eq!(other.outcome, Outcome::Ok, "{:?}", other.messages);
    assert!(other.new.is_empty() && other.recorded.is_none());
    assert!(w.events().is_empty() && w.azure.names().is_empty());
    w.shard = shard(3);
    w.run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    assert_eq!(w.events(), [Event::Granted]);
    // Another shard neither revokes it nor, seeing the ledger lose it, calls it an orphan.
    w.ledger.entries.lock().unwrap().clear();
    w.shard = shard(4);
    let other = w
        .run(
            Mode::Revoke,
            t0() + Duration::hours(3),
            Err("no GitHub"),
            None,
        )
        .await;
    assert!(other.new.is_empty(), "{:?}", other.new);
    assert_eq!(w.azure.names().len(), 1);
    // Its own shard removes the orphan (and refuses the file the ledger no longer explains:
    // a refusal is that subscription's work too, which the other shard left alone).
    w.shard = shard(3);
    let own = w
        .run(
            Mode::Revoke,
            t0() + Duration::hours(3),
            Err("no GitHub"),
            None,
        )
        .await;
    assert_eq!(
        w.events(),
        [Event::Refused, Event::Revoked],
        "{:?}",
        own.messages
    );
    assert!(w.azure.names().is_empty());
}

#[tokio::test]
async fn without_github_grants_wait_and_a_grant_run_says_it_could_not_grant() {
    let w = World::new();
    let done = w
        .run(
            Mode::Grant,
            t0() + Duration::minutes(5),
            Err("GITHUB_TOKEN is not set"),
            None,
        )
        .await;
    assert_eq!(done.outcome, Outcome::Usage);
    assert!(done.executed);
    assert!(w.events().is_empty() && w.azure.names().is_empty());
    assert!(
        done.messages.iter().any(|m| m.level == Level::Error
            && m.text
                .contains("1 grant(s) are due but cannot run: GITHUB_TOKEN is not set")),
        "{:?}",
        done.messages
    );
    // The same in a revoke run is a warning, and the run is fine.
    let done = w
        .run(
            Mode::Revoke,
            t0() + Duration::minutes(5),
            Err("no GitHub"),
            None,
        )
        .await;
    assert_eq!(done.outcome, Outcome::Ok);
    assert!(done.messages.iter().all(|m| m.level == Level::Warning));
}

#[tokio::test]
async fn an_untrusted_ledger_sweeps_by_marker_and_records_nothing() {
    let granted = World::new();
    granted
        .run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    let w = World {
        azure: granted.azure,
        ledger: FakeLedger {
            unreadable: Some(LedgerProblem::Untrusted("hash mismatch at line 2".into())),
            ..FakeLedger::default()
        },
        ..World::new()
    };
    // Within the window the marker keeps the assignment.
    let done = w
        .run(Mode::Revoke, t0() + Duration::minutes(30), Ok(()), None)
        .await;
    assert_eq!(done.outcome, Outcome::Problems);
    assert!(!done.executed && done.recorded.is_none());
    assert_eq!(w.azure.names().len(), 1);
    // Past the marked expiry the sweep deletes it, and says it could not record that.
    let done = w
        .run(Mode::Revoke, t0() + Duration::hours(3), Ok(()), None)
        .await;
    assert_eq!(done.outcome, Outcome::Problems);
    assert!(w.azure.names().is_empty());
    assert!(
        done.messages
            .iter()
            .any(|m| m.level == Level::Info
                && m.text.contains("expired by its marker; not recorded"))
    );
    assert!(w.notifier.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_push_ends_in_problems_and_the_announcement_says_so() {
    let w = World {
        ledger: FakeLedger {
            push_fails: true,
            ..FakeLedger::default()
        },
        ..World::new()
    };
    let done = w
        .run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    assert_eq!(done.outcome, Outcome::Problems);
    assert!(matches!(done.recorded, Some(Err(_))));
    assert_eq!(done.new.len(), 1);
    assert!(w.notifier.0.lock().unwrap()[0].contains("ledger push failed"));
}

#[tokio::test]
async fn a_manual_revoke_ends_only_that_grant_and_names_who_asked() {
    let w = World::new();
    w.run(Mode::Grant, t0() + Duration::minutes(5), Ok(()), None)
        .await;
    let unknown = Manual {
        request: "nope",
        by: Some("carol"),
        reason: "leaver",
    };
    let done = w
        .run(
            Mode::Revoke,
            t0() + Duration::minutes(20),
            Err("-"),
            Some(unknown),
        )
        .await;
    assert_eq!(done.outcome, Outcome::Problems);
    assert!(!done.executed);
    assert_eq!(w.azure.names().len(), 1);

    let manual = Manual {
        request: "a",
        by: Some("carol"),
        reason: "laptop stolen",
    };
    let done = w
        .run(
            Mode::Revoke,
            t0() + Duration::minutes(20),
            Err("-"),
            Some(manual),
        )
        .await;
    assert_eq!(done.outcome, Outcome::Ok, "{:?}", done.messages);
    assert!(w.azure.names().is_empty());
    let entries = w.ledger.entries.lock().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.event, Event::Revoked);
    assert_eq!(last.actor.as_deref(), Some("carol"));
    assert_eq!(last.note.as_deref(), Some("laptop stolen"));
}
