//! `--shard K/N`: the shards of a run, as real processes racing on the ledger push, together do
//! exactly what one unsharded run does: the same ledger events (one per event, none twice),
//! a chain that verifies, the same Azure writes; and each shard writes only to its own
//! subscriptions. Worlds come from the benchmark's generators (several subscriptions).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Utc};
use kv_jit_bench::world::{self, Spec};
use kv_jit_core::shard::{Shard, scope_subscription};
use kv_jit_emulator::EmulatorHandle;

mod support;

fn spec() -> Spec {
    Spec {
        requests: 36,
        vaults: 4,
        subscriptions: 4,
        prs: 6,
        requesters: 3,
        minutes: 60,
    }
}

struct Bench {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    emu: EmulatorHandle,
    repo: world::Repo,
}

async fn bench_world() -> Bench {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let emu = kv_jit_emulator::spawn_at(world::azure_seed(&spec(), false), support::t0())
        .await
        .unwrap();
    let repo = world::generate(&root, &spec(), &emu.base_url(), support::t0()).unwrap();
    emu.github().reseed(repo.github.clone());
    Bench {
        _tmp: tmp,
        root,
        emu,
        repo,
    }
}

impl Bench {
    fn env(&self) -> Vec<(String, String)> {
        let base = self.emu.base_url();
        [
            ("AZURE_CLIENT_ID", world::CLIENT_ID),
            ("AZURE_TENANT_ID", world::TENANT),
            ("AZURE_CLIENT_SECRET", world::APP_SECRET),
            ("KV_JIT_ALLOWED_ENDPOINTS", base.as_str()),
            ("GITHUB_API_URL", base.as_str()),
            ("GITHUB_TOKEN", "test-token"),
            ("GITHUB_REPOSITORY", "acme/access"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn clone(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        world::git(
            &self.root,
            support::t0(),
            &[
                "clone",
                "--quiet",
                self.repo.origin.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        )
        .unwrap();
        dir
    }

    /// Runs `cmd` at `now` in one fresh clone per shard, all at once (`None`: one unsharded run).
    async fn run(&self, cmd: &str, now: DateTime<Utc>, n: Option<u16>) -> Vec<support::Run> {
        self.emu.core().clock.set(now);
        let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let shards: Vec<Option<String>> = match n {
            None => vec![None],
            Some(n) => (1..=n).map(|k| Some(format!("{k}/{n}"))).collect(),
        };
        let mut handles = Vec::new();
        for (i, shard) in shards.into_iter().enumerate() {
            let dir = self.clone(&format!("{cmd}-{}-{i}", n.unwrap_or(0)));
            let env = self.env();
            let now = now.clone();
            let cmd = cmd.to_owned();
            handles.push(tokio::task::spawn_blocking(move || {
                let mut args = vec![cmd.as_str(), "--now", now.as_str()];
                if let Some(s) = &shard {
                    args.extend(["--shard", s.as_str()]);
                }
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                support::kv_jit(&dir, &args, &env)
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    fn ledger(&self) -> String {
        let out = Command::new("git")
            .args([
                "--git-dir",
                self.repo.origin.to_str().unwrap(),
                "show",
                "main:audit/ledger.jsonl",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (event, request, reason) of every ledger line, sorted (shards append in any order).
    fn events(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = self
            .ledger()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
                (s("event"), s("request"), s("reason"))
            })
            .collect();
        v.sort();
        v
    }

    /// Every role-assignment write Azure carried out: (method, path), and the log's writes.
    fn azure_writes(&self) -> BTreeSet<(String, String)> {
        self.emu
            .core()
            .log()
            .into_iter()
            .filter(|e| {
                e.path.contains("/roleAssignments/")
                    && (e.method == "PUT" || e.method == "DELETE")
                    && matches!(e.status, Some(200..=299))
            })
            .map(|e| (e.method, e.path.to_ascii_lowercase()))
            .collect()
    }

    fn verify(&self) -> support::Run {
        let path = self.root.join("ledger-copy.jsonl");
        std::fs::write(&path, self.ledger()).unwrap();
        support::kv_jit(
            &self.root,
            &["audit", "verify", path.to_str().unwrap()],
            &[],
        )
    }
}

fn minutes(m: i64) -> DateTime<Utc> {
    support::t0() + chrono::Duration::minutes(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_racing_shards_do_what_one_unsharded_run_does() {
    let whole = bench_world().await;
    let split = bench_world().await;

    for (cmd, at) in [("grant", minutes(1)), ("revoke", minutes(61))] {
        let one = whole.run(cmd, at, None).await;
        assert_eq!(one[0].code, 0, "{cmd}: {}", one[0].stderr);
        let three = split.run(cmd, at, Some(3)).await;
        for (i, r) in three.iter().enumerate() {
            assert_eq!(r.code, 0, "{cmd} shard {}/3: {}", i + 1, r.stderr);
        }
        // The same entries: one per event, none lost or doubled by the racing pushes.
        assert_eq!(split.events(), whole.events(), "after {cmd}");
        let want = if cmd == "grant" { "granted" } else { "revoked" };
        let ids: BTreeSet<String> = split
            .events()
            .into_iter()
            .filter(|e| e.0 == want)
            .map(|e| e.1)
            .collect();
        assert_eq!(ids.len(), spec().requests, "after {cmd}");
        // The same Azure writes (assignment names are deterministic, so paths compare).
        assert_eq!(split.azure_writes(), whole.azure_writes(), "after {cmd}");
        let v = split.verify();
        assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    }
    assert_eq!(
        split.events().len(),
        2 * spec().requests,
        "granted and revoked, nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_writes_only_to_its_own_subscriptions() {
    let b = bench_world().await;
    let n = 3;
    // Pick a shard that owns some but not all of the subscriptions.
    let owned = |k: u16| {
        (0..spec().subscriptions)
            .filter(|&s| {
                Shard::new(k, n)
                    .unwrap()
                    .owns_subscription(&world::subscription(s))
            })
            .count()
    };
    let k = (1..=n)
        .find(|&k| owned(k) > 0 && owned(k) < spec().subscriptions)
        .expect("4 subscriptions over 3 shards split somewhere");
    let shard = Shard::new(k, n).unwrap();
    let dir = b.clone("one-shard");
    b.emu.core().clock.set(minutes(1));
    let env = b.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let arg = shard.to_string();
    let now = minutes(1).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = support::kv_jit(&dir, &["grant", "--now", &now, "--shard", &arg], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let writes = b.azure_writes();
    assert!(!writes.is_empty());
    for (_, path) in &writes {
        let sub = scope_subscription(path).unwrap();
        assert!(
            shard.owns_subscription(sub),
            "{path} is not shard {shard}'s"
        );
    }
    // Every request of its subscriptions is granted and recorded, and no other.
    let mine = (0..spec().requests)
        .filter(|&k| {
            let it = world::item(&spec(), k);
            shard.owns_subscription(&world::vault_subscription(&spec(), it.vault))
        })
        .count();
    assert_eq!(writes.len(), mine);
    let granted = b.events().iter().filter(|e| e.0 == "granted").count();
    assert_eq!(granted, mine);
    assert_eq!(b.events().len(), mine, "{:?}", b.events());
}
