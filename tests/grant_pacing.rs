//! ARM's write and delete buckets at concurrency 32: 300 grants, then their 300 revokes, run by
//! the engine against the emulator's throttle (a small bucket, refilled only by the virtual
//! clock, which the client's waits move). The pacer reserves each token before sending, so
//! Azure never answers 429 and every revoke completes in one run. Counts from the request log
//! and the entries, never timing.

#[path = "support/azure.rs"]
mod support;

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use kv_jit_core::config::Config;
use kv_jit_core::diag::Sink;
use kv_jit_core::ledger::{self, Approvals, Entry, Event, NewEntry, Tip};
use kv_jit_core::plan::{Desired, Merge};
use kv_jit_emulator::Seed;
use kv_jit_engine::ports::{ApprovalCheck, Denied, LedgerProblem, LedgerStore, Notifier};
use kv_jit_engine::run::{Inputs, Mode, Outcome, Ports, run};
use support::{CLIENT_ID, SUB, TENANT, client_with, policy, recording_clock, secret_env, time};

const USERS: usize = 300;

fn seed(capacity: u32) -> Seed {
    let mut users = String::new();
    for u in 0..USERS {
        users.push_str(&format!(
            "      - {{ upn: u{u}@contoso.com, id: {u:08x}-0000-4000-8000-000000000000 }}\n"
        ));
    }
    Seed::from_yaml(&format!(
        "tenants:\n  - id: {TENANT}\n    apps:\n      - {{ client_id: {CLIENT_ID}, object_id: 44444444-4444-4444-4444-444444444444, name: kv-jit-workflow, secret: app-secret }}\n    users:\n{users}vaults:\n  - name: kv-load\n    tenant: {TENANT}\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: {{ s: v }}\nlimits: {{ write_bucket_capacity: {capacity}, write_refill_per_sec: 10 }}\n"
    ))
    .unwrap()
}

fn config(base: &str) -> Config {
    let text = format!(
        "tenant_id: {TENANT}\ncloud:\n  authority_host: {base}\n  resource_manager: {base}\n  graph: {base}/graph\nvaults:\n  kv-load:\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: [s]\n    max_duration: 4h\n"
    );
    let mut sink = Sink::new("config");
    kv_jit_core::config::parse(text.as_bytes(), &mut sink)
        .unwrap_or_else(|| panic!("{:?}", sink.diags))
}

/// One request per user, merged at T0 for an hour.
fn requests(config: &Config) -> Vec<Desired> {
    (0..USERS)
        .map(|u| {
            let text = format!(
                "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: u{u}@contoso.com\nvault: kv-load\nsecret: s\nduration: 1h\njustification: Load test of the write bucket\n"
            );
            let path = format!("requests/r{u:03}.yaml");
            let mut sink = Sink::new(path.clone());
            let raw = kv_jit_core::request::parse_raw(text.as_bytes(), &mut sink).unwrap();
            let id = kv_jit_core::request::RequestId::parse(&format!("r{u:03}")).unwrap();
            let mut request = kv_jit_core::policy::check(&raw, Some(id), config, None, &mut sink)
                .unwrap_or_else(|| panic!("{:?}", sink.diags));
            request.path = path;
            Desired {
                request,
                sha256: ledger::sha256_hex(text.as_bytes()),
                merged: Some(Merge {
                    commit: "c0ffee".into(),
                    at: time::t0(),
                }),
            }
        })
        .collect()
}

#[derive(Default)]
struct MemLedger(Mutex<Vec<Entry>>);

impl LedgerStore for MemLedger {
    fn read(&self) -> Result<Vec<Entry>, LedgerProblem> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn append(&self, new: &[NewEntry]) -> Result<String, String> {
        let mut all = self.0.lock().unwrap();
        let more = ledger::append(&Tip::of(&all), new.to_vec());
        all.extend(more);
        Ok(format!("{} entries", new.len()))
    }
}

struct Quiet;
impl Notifier for Quiet {
    async fn announce(&self, _: &str, _: Option<&str>, _: &[NewEntry]) -> Vec<String> {
        Vec::new()
    }
}

struct Approved;
impl ApprovalCheck for Approved {
    async fn check(&self, d: &Desired) -> Result<Approvals, Denied> {
        Ok(Approvals {
            pr: 1,
            commit: d.merged.as_ref().unwrap().commit.clone(),
            by: vec![],
            owners: vec![],
        })
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    time::t0() + chrono::Duration::minutes(minutes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_grants_and_revokes_at_concurrency_32_meet_no_429_and_all_complete() {
    // A bucket far smaller than the run (40 tokens, 10 a second), and the pacer's default model
    // of ARM's (200): it learns the real one from the first answers.
    let emu = kv_jit_emulator::spawn_at(seed(40), time::t0())
        .await
        .unwrap();
    let base = emu.base_url();
    let (clock, waits) = recording_clock(Some(emu.core().clock.clone()));
    let azure = client_with(&base, &secret_env(), policy(clock));
    let config = config(base.trim_end_matches('/'));
    let ledger = MemLedger::default();
    let failpoint = |_: &str| {};
    let go = |mode, now| {
        let inputs = Inputs {
            mode,
            config: &config,
            now,
            requests: Ok((requests(&config), Vec::new())),
            manual: None,
            shallow: false,
            run_url: None,
            concurrency: 32,
            shard: None,
        };
        let ports = Ports {
            azure: Ok(&azure),
            ledger: &ledger,
            notifier: &Quiet,
            failpoint: &failpoint,
            progress: &|_: &NewEntry| {},
        };
        run(inputs, ports, || Ok(Approved))
    };

    let granted = go(Mode::Grant, at(0)).await;
    assert_eq!(granted.outcome, Outcome::Ok, "{:?}", granted.messages);
    let count = |new: &[NewEntry], event: Event| new.iter().filter(|e| e.event == event).count();
    assert_eq!(count(&granted.new, Event::Granted), USERS);

    // The clock moves past every window (the revoke run is a later run).
    emu.core().clock.set(at(61));
    let revoked = go(Mode::Revoke, at(61)).await;
    assert_eq!(revoked.outcome, Outcome::Ok, "{:?}", revoked.messages);
    assert_eq!(count(&revoked.new, Event::Revoked), USERS);
    assert_eq!(count(&revoked.new, Event::RevokeFailed), 0);

    let log = emu.core().log();
    let writes = |m: &str| log.iter().filter(|e| e.method == m).count();
    assert_eq!(writes("PUT"), USERS, "one PUT per grant");
    assert_eq!(writes("DELETE"), USERS, "one DELETE per revoke");
    let throttled = log.iter().filter(|e| e.status == Some(429)).count();
    assert_eq!(throttled, 0, "Azure throttled {throttled} requests");
    // The pacer did wait (the bucket is far smaller than the run).
    assert!(!waits.lock().unwrap().is_empty());
}
