//! What a batch of grants costs in HTTP calls, and what it does when GitHub's rate limit cannot
//! pay for it. A world of 100 requests in 20 merged pull requests by 10 requesters across 3
//! vaults, run through the real binary against the emulators (counts from their request logs,
//! never from timing).

mod support;
#[path = "support/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kv_jit_emulator::github::{
    CommitSeed, FileSeed, GithubSeed, GithubState, PullSeed, RateLimitUpdate, RepoSeed, ReviewSeed,
};
use kv_jit_emulator::{EmulatorHandle, LogEntry, Seed};
use world::{CLIENT_ID, SUB, TENANT, git, origin_and_clone};

const VAULTS: [&str; 3] = ["kv-alpha", "kv-beta", "kv-gamma"];
const PULLS: usize = 20;
const PER_PULL: usize = 5;
const REQUESTERS: usize = 10;
const CODEOWNERS: &str = "/requests/ @carol\n";

fn azure_seed() -> String {
    let mut users = String::new();
    for u in 0..REQUESTERS {
        users.push_str(&format!(
            "      - {{ upn: u{u}@contoso.com, id: {u:08x}-0000-4000-8000-000000000000 }}\n"
        ));
    }
    let mut vaults = String::new();
    for v in VAULTS {
        vaults.push_str(&format!(
            "  - name: {v}\n    tenant: {TENANT}\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: {{ s0: zero, s1: one, s2: two, s3: three }}\n"
        ));
    }
    format!(
        "tenants:\n  - id: {TENANT}\n    apps:\n      - {{ client_id: {CLIENT_ID}, object_id: 44444444-4444-4444-4444-444444444444, name: kv-jit-workflow, secret: app-secret }}\n    users:\n{users}vaults:\n{vaults}"
    )
}

fn config(azure: &str) -> String {
    let mut text = format!(
        "tenant_id: {TENANT}\ncloud:\n  authority_host: {azure}\n  resource_manager: {azure}\n  graph: {azure}/graph\nvaults:\n"
    );
    for v in VAULTS {
        text.push_str(&format!(
            "  {v}:\n    subscription_id: {SUB}\n    resource_group: rg\n    secrets: [s0, s1, s2, s3]\n    scope: secret\n    max_duration: 4h\n"
        ));
    }
    text.push_str("identities:\n");
    for u in 0..REQUESTERS {
        text.push_str(&format!("  gh-u{u}: u{u}@contoso.com\n"));
    }
    text.push_str("ledger:\n  path: audit/ledger.jsonl\n  branch: main\n");
    text
}

/// Request `n`, the `j`th of its requester's: each of a requester's requests is for another
/// secret (one assignment per principal, role and scope), 12 secrets in 3 vaults.
fn request(requester: usize, n: usize, j: usize) -> String {
    let vault = VAULTS[j % VAULTS.len()];
    let secret = format!("s{}", j / VAULTS.len());
    format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: u{requester}@contoso.com\nvault: {vault}\nsecret: {secret}\nduration: 1h\njustification: Batch access for the load test {n}\n"
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

struct Batch {
    _tmp: tempfile::TempDir,
    azure: EmulatorHandle,
    github_url: String,
    github: std::sync::Arc<GithubState>,
    work: PathBuf,
    origin: PathBuf,
}

impl Batch {
    /// 20 pull requests, each by one of 10 requesters and adding 5 requests, merged one after
    /// the other, each approved by the code owner carol on its head.
    async fn new() -> Batch {
        let azure =
            kv_jit_emulator::spawn_at(Seed::from_yaml(&azure_seed()).unwrap(), support::t0())
                .await
                .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (origin, work) = origin_and_clone(tmp.path());
        let config = config(azure.base_url().trim_end_matches('/'));
        write(&work, ".github/kv-jit.yml", &config);
        write(&work, ".github/CODEOWNERS", CODEOWNERS);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "--quiet", "-m", "kv-jit config"]);
        let mut base_files = BTreeMap::new();
        base_files.insert(".github/CODEOWNERS".to_string(), CODEOWNERS.to_string());
        base_files.insert(".github/kv-jit.yml".to_string(), config.clone());
        let mut files = BTreeMap::new();
        let mut pulls = Vec::new();
        let mut tip = String::new();
        for p in 0..PULLS {
            let number = 100 + p as u64;
            let author = p % REQUESTERS;
            let base = git(&work, &["rev-parse", "HEAD"]);
            files.insert(base.clone(), base_files.clone());
            let branch = format!("pr-{number}");
            git(&work, &["checkout", "--quiet", "-b", &branch]);
            let mut added = Vec::new();
            for k in 0..PER_PULL {
                let n = p * PER_PULL + k;
                let path = format!("requests/2026/r{n:03}.yaml");
                write(
                    &work,
                    &path,
                    &request(author, n, (p / REQUESTERS) * PER_PULL + k),
                );
                added.push(path);
            }
            git(&work, &["add", "-A"]);
            git(
                &work,
                &["commit", "--quiet", "-m", &format!("Requests of #{number}")],
            );
            let head = git(&work, &["rev-parse", "HEAD"]);
            git(&work, &["checkout", "--quiet", "main"]);
            git(
                &work,
                &[
                    "merge",
                    "--quiet",
                    "--no-ff",
                    "-m",
                    &format!("Merge pull request #{number}"),
                    &branch,
                ],
            );
            let merge = git(&work, &["rev-parse", "HEAD"]);
            tip = merge.clone();
            pulls.push(PullSeed {
                number,
                title: format!("Access batch {number}"),
                author: format!("gh-u{author}"),
                head_ref: branch,
                head_sha: head.clone(),
                base_ref: "main".into(),
                base_sha: base,
                merged: true,
                merged_at: Some(support::t0()),
                merge_commit_sha: Some(merge),
                created_at: None,
                files: added
                    .iter()
                    .map(|f| FileSeed {
                        filename: f.clone(),
                        status: "added".into(),
                        previous_filename: None,
                    })
                    .collect(),
                commits: vec![CommitSeed {
                    sha: head.clone(),
                    author: Some(format!("gh-u{author}")),
                    files: added.clone(),
                    pulls: vec![],
                }],
                reviews: vec![ReviewSeed {
                    user: "carol".into(),
                    state: "APPROVED".into(),
                    commit_id: Some(head),
                }],
            });
        }
        git(&work, &["push", "--quiet", "origin", "main"]);
        let mut collaborators: BTreeMap<String, String> = (0..REQUESTERS)
            .map(|u| (format!("gh-u{u}"), "write".to_string()))
            .collect();
        collaborators.insert("carol".into(), "write".into());
        let seed = GithubSeed {
            repos: vec![RepoSeed {
                owner: "acme".into(),
                name: "access".into(),
                default_branch: "main".into(),
                branches: [("main".to_string(), tip)].into_iter().collect(),
                files,
                pulls,
                commits: vec![],
                collaborators,
                comments: vec![],
                ..Default::default()
            }],
            teams: vec![],
            tokens: BTreeMap::new(),
        };
        let (github_url, github, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
        Batch {
            _tmp: tmp,
            azure,
            github_url,
            github,
            work,
            origin,
        }
    }

    async fn kv_jit(&self, args: &[&str]) -> support::Run {
        if let Some(now) = args.windows(2).find(|w| w[0] == "--now").map(|w| w[1]) {
            let now: chrono::DateTime<chrono::Utc> = now.parse().unwrap();
            self.azure.core().clock.set(now);
            self.github.core().clock.set(now);
        }
        let azure = self.azure.base_url();
        let env: Vec<(String, String)> = [
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", "app-secret"),
            ("KV_JIT_ALLOWED_ENDPOINTS", azure.as_str()),
            ("GITHUB_API_URL", self.github_url.as_str()),
            ("GITHUB_TOKEN", "test-token"),
            ("GITHUB_REPOSITORY", "acme/access"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let dir = self.work.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            support::kv_jit(&dir, &args, &env)
        })
        .await
        .unwrap()
    }

    /// (event, request) of every line of origin's ledger.
    fn ledger(&self) -> Vec<(String, String)> {
        let out = std::process::Command::new("git")
            .args([
                "--git-dir",
                self.origin.to_str().unwrap(),
                "show",
                "main:audit/ledger.jsonl",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["event"].as_str().unwrap().to_owned(),
                    v["request"].as_str().unwrap_or("-").to_owned(),
                )
            })
            .collect()
    }

    fn clear_logs(&self) {
        self.azure.core().clear_log();
        self.github.core().clear_log();
    }

    /// The requests each service answered since the logs were cleared.
    fn calls(&self) -> Calls {
        let azure = self.azure.core().log();
        let by = |f: &dyn Fn(&LogEntry) -> bool| azure.iter().filter(|e| f(e)).count();
        Calls {
            github: self.github.request_log().len(),
            token: by(&|e| e.path.ends_with("/oauth2/v2.0/token")),
            graph: by(&|e| e.path.starts_with("/graph/")),
            arm_reads: by(&|e| e.path.starts_with("/subscriptions/") && e.method == "GET"),
            arm_writes: by(&|e| e.path.starts_with("/subscriptions/") && e.method != "GET"),
            throttled: azure.iter().filter(|e| e.status == Some(429)).count(),
            // The emulator serves Key Vault's data plane under `/kv/`.
            data_plane: by(&|e| e.path.starts_with("/kv/")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Calls {
    github: usize,
    token: usize,
    graph: usize,
    arm_reads: usize,
    arm_writes: usize,
    throttled: usize,
    data_plane: usize,
}

impl Calls {
    fn total(&self) -> usize {
        self.github + self.token + self.graph + self.arm_reads + self.arm_writes
    }
}

fn count(events: &[(String, String)], event: &str) -> usize {
    events.iter().filter(|(e, _)| e == event).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sharing_pull_requests_costs_at_most_three_calls_per_grant_and_one_per_revoke() {
    let b = Batch::new().await;
    let total = PULLS * PER_PULL;
    b.clear_logs();
    let grant = b.kv_jit(&["grant", "--now", support::T0]).await;
    assert_eq!(grant.code, 0, "{}\n{}", grant.stdout, grant.stderr);
    let events = b.ledger();
    assert_eq!(count(&events, "granted"), total, "{events:?}");
    let calls = b.calls();
    // Per grant, by service: one PUT each; GitHub once per pull request's facts; Graph once
    // per requester; the secret check once per vault and secret; a token per audience.
    assert_eq!(calls.arm_writes, total, "{calls:?}");
    assert_eq!(calls.throttled, 0, "{calls:?}");
    assert_eq!(calls.data_plane, 0, "{calls:?}");
    assert_eq!(calls.graph, REQUESTERS, "{calls:?}");
    assert!(calls.token <= 2, "{calls:?}");
    // Each vault (3) and secret (12) once, and one listing per vault to reconcile.
    assert!(calls.arm_reads <= VAULTS.len() * 2 + 12, "{calls:?}");
    assert!(calls.github <= PULLS * 8, "{calls:?}");
    assert!(
        calls.total() <= 3 * total,
        "{} calls for {total} grants: {calls:?}",
        calls.total()
    );
    assert!(
        grant.stderr.contains(&format!(
            "github: {} calls for {total} grants, ratelimit remaining",
            calls.github
        )),
        "{}",
        grant.stderr
    );

    // Every window has ended: the revoke needs no GitHub, and one delete per grant.
    b.clear_logs();
    let revoke = b.kv_jit(&["revoke", "--now", &support::t0_plus(61)]).await;
    assert_eq!(revoke.code, 0, "{}\n{}", revoke.stdout, revoke.stderr);
    let events = b.ledger();
    assert_eq!(count(&events, "revoked"), total, "{events:?}");
    assert_eq!(count(&events, "revoke_failed"), 0, "{events:?}");
    let calls = b.calls();
    assert_eq!(calls.github, 0, "{calls:?}");
    assert_eq!(calls.arm_writes, total, "{calls:?}");
    assert!(
        calls.total() <= total + 2 * VAULTS.len() + 2,
        "{} calls for {total} revokes: {calls:?}",
        calls.total()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_rate_limit_cannot_pay_for_stops_its_grants_cleanly_and_the_next_finishes_them() {
    let b = Batch::new().await;
    let total = PULLS * PER_PULL;
    // The budget's window is counted on GitHub's clock: where the run's `--now` puts it.
    b.github.core().clock.set(support::t0());
    // Enough for a few pull requests' facts, not for twenty.
    b.github.set_rate_limit(&RateLimitUpdate {
        limit: Some(1000),
        remaining: Some(30),
        reset_secs: Some(600),
        status: None,
    });
    let first = b.kv_jit(&["grant", "--now", support::T0]).await;
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first
            .stderr
            .contains("grant(s) not started, they wait for the next run")
            && first.stderr.contains("GitHub's API rate limit is used up"),
        "{}",
        first.stderr
    );
    let events = b.ledger();
    let granted = count(&events, "granted");
    assert!(granted > 0 && granted < total, "{events:?}");
    // Nothing half-recorded: only grants, no failures or refusals for what was not started.
    assert_eq!(events.len(), granted, "{events:?}");
    // A pull request was read only while the budget could pay for it: GitHub never had to
    // refuse a call.
    let refused = b
        .github
        .request_log()
        .iter()
        .filter(|e| matches!(e.status, Some(403 | 429)))
        .count();
    assert_eq!(refused, 0, "GitHub refused {refused} calls");

    // The budget is renewed: the next run grants the rest, each once.
    b.github.set_rate_limit(&RateLimitUpdate {
        remaining: Some(1000),
        ..Default::default()
    });
    let second = b.kv_jit(&["grant", "--now", &support::t0_plus(5)]).await;
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let events = b.ledger();
    assert_eq!(events.len(), total, "{events:?}");
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(ids.len(), total, "one entry per request");
    assert!(events.iter().all(|(e, _)| e == "granted"), "{events:?}");
}
