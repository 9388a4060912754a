//! Generated worlds: a bare origin and a clone whose main holds the config, CODEOWNERS and
//! `requests` request files brought by merged, approved pull requests (one merge commit each),
//! the Azure seed (tenant, requesters, vaults in their subscriptions, their secrets) and the
//! GitHub seed (the pull requests, their files, commits and code-owner reviews) that match.
//!
//! Request `k` (0-based) is for requester `k % R`, vault `(k / R) % V` and secret
//! `s-{k / (R·V)}`, so every request names its own (principal, scope) pair (the vaults use
//! `scope: secret`): Azure keeps one assignment per principal, role and scope, and the
//! benchmark wants one assignment per request. Vault `v` lives in subscription `v % S`.
//! Requester `r` (login `user{r}-gh`) authors the pull requests holding their own requests,
//! and `carol` (the code owner of `requests/`) approves each on its head.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use kv_jit_emulator::Seed;
use kv_jit_emulator::github::{CommitSeed, FileSeed, GithubSeed, PullSeed, RepoSeed, ReviewSeed};

pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";
pub const APP_OBJECT_ID: &str = "44444444-4444-4444-4444-444444444444";
pub const APP_SECRET: &str = "app-secret";
pub const OWNER: &str = "acme";
pub const REPO: &str = "access";
pub const CODEOWNERS: &str = "/requests/ @carol\n";
/// Key Vault Secrets User.
pub const ROLE_ID: &str = "4633458b-17de-408a-b874-0445c86b69e6";

/// The shape of a generated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub requests: usize,
    pub vaults: usize,
    pub subscriptions: usize,
    pub prs: usize,
    pub requesters: usize,
    /// Each request's duration, in minutes.
    pub minutes: u32,
}

impl Spec {
    /// P1: 1,000 requests across 5 vaults in one subscription, 20 pull requests, 10 requesters.
    pub fn p1(requests: usize) -> Spec {
        Spec {
            requests,
            vaults: 5,
            subscriptions: 1,
            prs: 20,
            requesters: 10,
            minutes: 60,
        }
    }

    /// Scale-out: `per_sub` requests in each of `subs` subscriptions (one vault each).
    pub fn scale_out(subs: usize, per_sub: usize) -> Spec {
        Spec {
            requests: subs * per_sub,
            vaults: subs,
            subscriptions: subs,
            prs: 20,
            requesters: 10,
            minutes: 60,
        }
    }

    fn secrets_per_vault(&self) -> usize {
        self.requests.div_ceil(self.requesters * self.vaults).max(1)
    }
}

/// Request `k` of a spec: who, where, which secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub requester: usize,
    pub vault: usize,
    pub secret: usize,
}

pub fn item(spec: &Spec, k: usize) -> Item {
    Item {
        id: format!("bench/r{k:06}"),
        requester: k % spec.requesters,
        vault: (k / spec.requesters) % spec.vaults,
        secret: k / (spec.requesters * spec.vaults),
    }
}

pub fn vault_name(v: usize) -> String {
    format!("bench-kv-{v:03}")
}

pub fn subscription(s: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0xb0_0000 + s, s)
}

pub fn vault_subscription(spec: &Spec, v: usize) -> String {
    subscription(v % spec.subscriptions)
}

pub fn resource_group(v: usize) -> String {
    format!("rg-bench-{v:03}")
}

pub fn user_oid(r: usize) -> String {
    format!("aaaaaaaa-0000-4000-8000-{r:012x}")
}

pub fn upn(r: usize) -> String {
    format!("user{r}@contoso.com")
}

pub fn login(r: usize) -> String {
    format!("user{r}-gh")
}

pub fn request_text(spec: &Spec, it: &Item) -> String {
    format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: {}\nvault: {}\nsecret: s-{:04}\nduration: {}m\njustification: Benchmark request {} for the partner API rotation\n",
        upn(it.requester),
        vault_name(it.vault),
        it.secret,
        spec.minutes,
        it.id
    )
}

/// The config, pointed at the emulator's `azure` base URL.
pub fn config(spec: &Spec, azure: &str) -> String {
    let mut c = format!(
        "tenant_id: {TENANT}\ncloud:\n  authority_host: {azure}\n  resource_manager: {azure}\n  graph: {azure}/graph\nvaults:\n"
    );
    for v in 0..spec.vaults {
        c.push_str(&format!(
            "  {}:\n    subscription_id: {}\n    resource_group: {}\n    secrets: [\"s-*\"]\n    max_duration: 4h\n    scope: secret\n",
            vault_name(v),
            vault_subscription(spec, v),
            resource_group(v)
        ));
    }
    c.push_str("identities:\n");
    for r in 0..spec.requesters {
        c.push_str(&format!("  {}: {}\n", login(r), upn(r)));
    }
    c.push_str("ledger:\n  path: audit/ledger.jsonl\n  branch: main\n");
    c
}

/// The Azure side: the workflow's app, the requesters, every vault with its secrets. `throttle`
/// keeps ARM's default write buckets (200, then 10 a second per subscription); without it they
/// never run dry.
pub fn azure_seed(spec: &Spec, throttle: bool) -> Seed {
    let mut y = format!(
        "tenants:\n  - id: {TENANT}\n    apps:\n      - {{ client_id: {CLIENT_ID}, object_id: {APP_OBJECT_ID}, name: kv-jit-workflow, secret: {APP_SECRET} }}\n    users:\n"
    );
    for r in 0..spec.requesters {
        y.push_str(&format!(
            "      - {{ upn: {}, id: {} }}\n",
            upn(r),
            user_oid(r)
        ));
    }
    y.push_str("vaults:\n");
    for v in 0..spec.vaults {
        y.push_str(&format!(
            "  - name: {}\n    tenant: {TENANT}\n    subscription_id: {}\n    resource_group: {}\n    secrets:\n",
            vault_name(v),
            vault_subscription(spec, v),
            resource_group(v)
        ));
        for s in 0..spec.secrets_per_vault() {
            y.push_str(&format!("      s-{s:04}: value-{v}-{s}\n"));
        }
    }
    y.push_str(&format!(
        "limits:\n  role_assignments_per_subscription: {}\n",
        spec.requests + 1000
    ));
    if !throttle {
        y.push_str("  write_bucket_capacity: 1.0e12\n  write_refill_per_sec: 1.0e12\n");
    }
    Seed::from_yaml(&y).expect("the generated seed parses")
}

/// A generated repository: its origin, its clone (on main) and the GitHub side that matches.
pub struct Repo {
    pub origin: PathBuf,
    pub work: PathBuf,
    pub github: GithubSeed,
    /// Every request id, in `k` order.
    pub ids: Vec<String>,
}

/// Runs git in `dir` with a clean, dated environment.
pub fn git(dir: &Path, at: DateTime<Utc>, args: &[&str]) -> Result<String, String> {
    let date = format!("@{} +0000", at.timestamp());
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@contoso.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@contoso.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .map_err(|e| format!("git {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn write(dir: &Path, rel: &str, text: &str) -> Result<(), String> {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The requests of pull request `p`: requester `p % R`'s requests, in `prs / R` chunks.
pub fn pr_items(spec: &Spec, p: usize) -> Vec<Item> {
    let r = p % spec.requesters;
    let chunks = spec.prs.div_ceil(spec.requesters).max(1);
    let chunk = p / spec.requesters;
    let mine: Vec<Item> = (0..spec.requests)
        .map(|k| item(spec, k))
        .filter(|it| it.requester == r)
        .collect();
    let per = mine.len().div_ceil(chunks).max(1);
    mine.into_iter().skip(chunk * per).take(per).collect()
}

/// Builds origin and its clone under `root`: main holds the config (pointing at `azure`) and
/// CODEOWNERS, then one merged pull request (#1..#prs, merge commits at `at`) per chunk of
/// requests. Returns the repository and the GitHub seed that matches it.
pub fn generate(root: &Path, spec: &Spec, azure: &str, at: DateTime<Utc>) -> Result<Repo, String> {
    let origin = root.join("origin.git");
    let work = root.join("work");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let o = origin.to_str().ok_or("non-UTF-8 path")?;
    git(
        root,
        at,
        &["init", "--quiet", "--bare", "--initial-branch=main", o],
    )?;
    git(&work, at, &["init", "--quiet", "--initial-branch=main"])?;
    git(&work, at, &["remote", "add", "origin", o])?;
    let config = config(spec, azure.trim_end_matches('/'));
    write(&work, ".github/kv-jit.yml", &config)?;
    write(&work, ".github/CODEOWNERS", CODEOWNERS)?;
    git(&work, at, &["add", "-A"])?;
    git(&work, at, &["commit", "--quiet", "-m", "kv-jit config"])?;
    let mut base_files = BTreeMap::new();
    base_files.insert(".github/CODEOWNERS".to_string(), CODEOWNERS.to_string());
    base_files.insert(".github/kv-jit.yml".to_string(), config.clone());
    let mut files = BTreeMap::new();
    let mut pulls = Vec::new();
    for p in 0..spec.prs {
        let items = pr_items(spec, p);
        if items.is_empty() {
            continue;
        }
        let number = (p + 1) as u64;
        let base = git(&work, at, &["rev-parse", "HEAD"])?;
        files.insert(base.clone(), base_files.clone());
        let branch = format!("pr-{number}");
        git(&work, at, &["checkout", "--quiet", "-b", &branch])?;
        let paths: Vec<String> = items
            .iter()
            .map(|it| format!("requests/{}.yaml", it.id))
            .collect();
        for (it, path) in items.iter().zip(&paths) {
            write(&work, path, &request_text(spec, it))?;
        }
        git(&work, at, &["add", "-A"])?;
        git(
            &work,
            at,
            &[
                "commit",
                "--quiet",
                "-m",
                &format!("Requests of PR {number}"),
            ],
        )?;
        let head = git(&work, at, &["rev-parse", "HEAD"])?;
        git(&work, at, &["checkout", "--quiet", "main"])?;
        let msg = format!("Merge pull request #{number}");
        git(
            &work,
            at,
            &["merge", "--quiet", "--no-ff", "-m", &msg, &branch],
        )?;
        let merge = git(&work, at, &["rev-parse", "HEAD"])?;
        let author = login(items[0].requester);
        pulls.push(PullSeed {
            number,
            title: format!("Access for {author}"),
            author: author.clone(),
            head_ref: branch,
            head_sha: head.clone(),
            base_ref: "main".into(),
            base_sha: base,
            merged: true,
            merged_at: Some(at),
            merge_commit_sha: Some(merge),
            created_at: None,
            files: paths
                .iter()
                .map(|p| FileSeed {
                    filename: p.clone(),
                    status: "added".into(),
                    previous_filename: None,
                })
                .collect(),
            commits: vec![CommitSeed {
                sha: head.clone(),
                author: Some(author),
                files: paths.clone(),
                pulls: vec![],
            }],
            reviews: vec![ReviewSeed {
                user: "carol".into(),
                state: "APPROVED".into(),
                commit_id: Some(head),
            }],
        });
    }
    git(&work, at, &["push", "--quiet", "origin", "main"])?;
    let main = git(&work, at, &["rev-parse", "HEAD"])?;
    let mut collaborators: BTreeMap<String, String> = (0..spec.requesters)
        .map(|r| (login(r), "write".to_string()))
        .collect();
    collaborators.insert("carol".into(), "write".into());
    let github = GithubSeed {
        repos: vec![RepoSeed {
            owner: OWNER.into(),
            name: REPO.into(),
            default_branch: "main".into(),
            branches: [("main".to_string(), main)].into_iter().collect(),
            files,
            pulls,
            collaborators,
            ..Default::default()
        }],
        teams: vec![],
        tokens: BTreeMap::new(),
    };
    Ok(Repo {
        origin,
        work,
        github,
        ids: (0..spec.requests).map(|k| item(spec, k).id).collect(),
    })
}

/// A plain repository for `kv-jit plan`: `requests` request files (one commit) and a ledger of
/// `entries` lines (granted/revoked pairs of other, ended requests) pushed to origin's main.
pub fn generate_plan_repo(
    root: &Path,
    requests: usize,
    entries: u64,
    at: DateTime<Utc>,
) -> Result<PathBuf, String> {
    let spec = Spec {
        requests,
        vaults: 5,
        subscriptions: 1,
        prs: 1,
        requesters: 10,
        minutes: 60,
    };
    let origin = root.join("origin.git");
    let work = root.join("work");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let o = origin.to_str().ok_or("non-UTF-8 path")?;
    git(
        root,
        at,
        &["init", "--quiet", "--bare", "--initial-branch=main", o],
    )?;
    git(&work, at, &["init", "--quiet", "--initial-branch=main"])?;
    git(&work, at, &["remote", "add", "origin", o])?;
    write(
        &work,
        ".github/kv-jit.yml",
        &config(&spec, "http://127.0.0.1:9"),
    )?;
    write(&work, ".github/CODEOWNERS", CODEOWNERS)?;
    for k in 0..requests {
        let it = item(&spec, k);
        write(
            &work,
            &format!("requests/{}.yaml", it.id),
            &request_text(&spec, &it),
        )?;
    }
    let ledger = work.join("audit/ledger.jsonl");
    std::fs::create_dir_all(ledger.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    crate::ledger::write_ledger(&ledger, entries)?;
    git(&work, at, &["add", "-A"])?;
    git(
        &work,
        at,
        &["commit", "--quiet", "-m", "requests and ledger"],
    )?;
    git(&work, at, &["push", "--quiet", "origin", "main"])?;
    Ok(work)
}
