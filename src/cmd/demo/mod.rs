//! `kv-jit demo [--keep DIR]`: the whole loop on one machine in seconds, narrated.
//!
//! It starts the emulator in-process (Azure and GitHub on one 127.0.0.1 port, virtual clock),
//! builds a repository with a bare origin, and then plays the people and the workflows: Alice
//! files a request with `kv-jit new` and opens a pull request, the PR check runs, Carol (the
//! code owner) approves, the pull request is merged, the grant workflow runs `kv-jit grant`,
//! Alice reads the secret, the clock passes the window, `kv-jit revoke` runs, the read is
//! refused, an attack (Alice approving her own request from a second account) is refused, and
//! `audit verify` and `status` close it.
//!
//! Every kv-jit step is a child process of this same executable with the environment a
//! workflow gives it: the production code path, nothing demo-only in the engine. What the demo
//! itself does is what people and GitHub do: git commits and pushes, and the GitHub REST calls
//! to open, review and merge a pull request. The emulator does not host git, so each push is
//! also told to it in-process ([`GithubState::push`]). Time is an input: the virtual clock
//! starts at `--now` (default [`START`]) and the demo moves it; nothing sleeps.

mod requester;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::Exit;
use crate::cli::DemoArgs;
use crate::output;
use kv_jit_emulator::github::{GithubSeed, GithubState, PushedCommit, RepoSeed, TokenSeed};
use kv_jit_emulator::{EmulatorHandle, Seed};

/// Where the virtual clock starts without `--now`.
pub const START: &str = "2026-11-27T09:00:00Z";

const TENANT: &str = "00000000-0000-0000-0000-00000000a001";
const SUB: &str = "00000000-0000-0000-0000-00000000b001";
const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000c001";
const CLIENT_SECRET: &str = "demo-client-secret";
const PR_CHECK_ID: &str = "00000000-0000-0000-0000-00000000c002";
const PR_CHECK_SECRET: &str = "demo-pr-check-secret";
const ALICE_PASSWORD: &str = "alice-demo-password";
const OWNER: &str = "contoso";
const REPO: &str = "access-requests";
const VAULT: &str = "flowlibs-demo-kv";
const SECRET: &str = "demo-api-key";
/// The token kv-jit's workflows use (the Actions bot), and the people's own.
const BOT_TOKEN: &str = "demo-actions-token";
const ALICE_TOKEN: &str = "demo-alice-token";
const ALICE_OPS_TOKEN: &str = "demo-alice-ops-token";
const CAROL_TOKEN: &str = "demo-carol-token";

const CODEOWNERS: &str =
    "# Access requests are approved by the platform team.\n/requests/ @carol @alice-ops\n";

fn azure_seed() -> String {
    format!(
        "tenants:
  - id: {TENANT}
    apps:
      - {{ client_id: {CLIENT_ID}, object_id: 00000000-0000-0000-0000-00000000d001, name: kv-jit-workflow, secret: {CLIENT_SECRET} }}
      - {{ client_id: {PR_CHECK_ID}, object_id: 00000000-0000-0000-0000-00000000d002, name: kv-jit-pr-check, secret: {PR_CHECK_SECRET} }}
    users:
      - {{ upn: alice@contoso.com, id: 00000000-0000-0000-0000-0000000a11ce, display_name: Alice, password: {ALICE_PASSWORD} }}
      - {{ upn: carol@contoso.com, id: 00000000-0000-0000-0000-00000000ca01, display_name: Carol }}
vaults:
  - name: {VAULT}
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: rg-flowlibs-demo
    rbac: true
    secrets:
      {SECRET}: the-demo-api-key-value
"
    )
}

fn config(base: &str) -> String {
    format!(
        "# kv-jit's policy for this repository (the demo's emulator stands in for Azure).
tenant_id: {TENANT}
cloud:
  authority_host: {base}
  resource_manager: {base}
  graph: {base}/graph
vaults:
  {VAULT}:
    subscription_id: {SUB}
    resource_group: rg-flowlibs-demo
    secrets: [{SECRET}]
    max_duration: 4h
identities:
  alice-gh: alice@contoso.com
  alice-ops: alice@contoso.com
  carol: carol@contoso.com
ledger:
  path: audit/ledger.jsonl
  branch: main
"
    )
}

fn github_seed() -> GithubSeed {
    let token = |login: &str| TokenSeed {
        login: login.into(),
        permissions: vec![],
    };
    GithubSeed {
        repos: vec![RepoSeed {
            owner: OWNER.into(),
            name: REPO.into(),
            default_branch: "main".into(),
            collaborators: [
                ("alice-gh", "write"),
                ("alice-ops", "write"),
                ("carol", "maintain"),
            ]
            .into_iter()
            .map(|(l, p)| (l.to_owned(), p.to_owned()))
            .collect(),
            ..RepoSeed::default()
        }],
        teams: vec![],
        tokens: [
            (BOT_TOKEN, token("github-actions[bot]")),
            (ALICE_TOKEN, token("alice-gh")),
            (ALICE_OPS_TOKEN, token("alice-ops")),
            (CAROL_TOKEN, token("carol")),
        ]
        .into_iter()
        .map(|(t, s)| (t.to_owned(), s))
        .collect(),
    }
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn say(text: &str) {
    output::stdout(&format!("{text}\n"));
}

fn step(n: u32, title: &str) {
    output::stdout(&format!("\n== step {n}/10: {title}\n"));
}

/// Indents a command's output under the line that ran it.
fn show(text: &str) {
    for line in text.lines() {
        output::stdout(&format!("    {line}\n"));
    }
}

/// Where the demo works: a temporary folder removed at the end, or `--keep DIR`.
struct Workspace {
    root: PathBuf,
    keep: bool,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

pub fn run(args: &DemoArgs, now: Option<DateTime<Utc>>) -> Exit {
    let start = now.unwrap_or_else(|| START.parse().expect("START is RFC 3339"));
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            output::stderr(&format!("error: cannot find this executable: {e}\n"));
            return Exit::Usage;
        }
    };
    let workspace = match &args.keep {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
                output::stderr(&format!(
                    "error: --keep {}: the folder exists and is not empty; give a new or empty folder\n",
                    dir.display()
                ));
                return Exit::Usage;
            }
            Workspace {
                root: dir.clone(),
                keep: true,
            }
        }
        None => match fresh_temp_dir() {
            Ok(root) => Workspace { root, keep: false },
            Err(e) => {
                output::stderr(&format!("error: cannot make a temporary folder: {e}\n"));
                return Exit::Usage;
            }
        },
    };
    if let Err(e) = std::fs::create_dir_all(&workspace.root) {
        output::stderr(&format!(
            "error: cannot create {}: {e}\n",
            workspace.root.display()
        ));
        return Exit::Usage;
    }
    let root = match workspace.root.canonicalize() {
        Ok(r) => r,
        Err(e) => {
            output::stderr(&format!("error: {}: {e}\n", workspace.root.display()));
            return Exit::Usage;
        }
    };
    let runtime = super::runtime();
    let mut demo = match runtime.block_on(Demo::start(exe, root, start)) {
        Ok(d) => d,
        Err(e) => {
            output::stderr(&format!("error: the demo could not start: {e}\n"));
            return Exit::Problems;
        }
    };
    let mut result = demo.play(&runtime);
    if result.is_ok() {
        let out = report_path(args.keep.as_deref(), &demo.root);
        result = demo.report(&out);
    }
    if workspace.keep {
        demo.keep_notes(&args.keep.clone().unwrap_or_default());
    }
    match result {
        Ok(()) => {
            if !workspace.keep {
                say(&format!(
                    "\nDone. The demo's folder {} is removed; run `kv-jit demo --keep DIR` to keep it.",
                    demo.root.display()
                ));
            }
            Exit::Ok
        }
        Err(e) => {
            output::stderr(&format!("error: the demo stopped: {e}\n"));
            Exit::Problems
        }
    }
}

/// Where the demo's HTML report goes: in the kept folder with `--keep`, else in the current
/// directory (the temporary folder is removed; `./kv-jit-demo-report.html` is where someone who
/// just ran `cargo run -- demo` in a clone looks, and the next demo replaces it).
fn report_path(keep: Option<&Path>, root: &Path) -> PathBuf {
    match keep {
        Some(_) => root.join("kv-jit-report.html"),
        None => std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("."))
            .join("kv-jit-demo-report.html"),
    }
}

/// A new folder under the system's temporary one, made by us: `create_dir` fails on anything
/// already there (a stale demo's folder, or someone's symlink), so the next name is tried.
fn fresh_temp_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last = None;
    for n in 0..100 {
        let dir = base.join(format!("kv-jit-demo-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
}

struct Demo {
    exe: PathBuf,
    root: PathBuf,
    emulator: EmulatorHandle,
    http: reqwest::Client,
    /// The virtual now: the emulator's clock, every `--now`, every git date.
    now: DateTime<Utc>,
    /// Fresh workflow checkouts made so far (each run gets its own, as in Actions).
    runs: u32,
    /// How many times the requester read the secret.
    reads: usize,
    /// The last workflow checkout (the report is made there).
    last_checkout: Option<PathBuf>,
}

type Step<T = ()> = Result<T, String>;

impl Demo {
    async fn start(exe: PathBuf, root: PathBuf, now: DateTime<Utc>) -> Step<Demo> {
        let mut seed = Seed::from_yaml(&azure_seed())?;
        seed.github = github_seed();
        let emulator = kv_jit_emulator::spawn_at(seed, now)
            .await
            .map_err(|e| format!("cannot start the emulator: {e}"))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Demo {
            exe,
            root,
            emulator,
            http,
            now,
            runs: 0,
            reads: 0,
            last_checkout: None,
        })
    }

    fn github(&self) -> &Arc<GithubState> {
        self.emulator.github()
    }

    fn base(&self) -> String {
        self.emulator.base_url()
    }

    fn origin(&self) -> PathBuf {
        self.root.join("origin.git")
    }

    fn work(&self) -> PathBuf {
        self.root.join("alice")
    }

    /// Moves the virtual clock (never backwards).
    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.emulator.core().clock.set(self.now);
    }

    fn play(&mut self, rt: &tokio::runtime::Runtime) -> Step {
        step(1, "start the emulator");
        say(&format!(
            "Azure (Entra, ARM, Key Vault, Graph) and GitHub are emulated in this process on {}.",
            self.base()
        ));
        say(&format!(
            "Its clock is virtual and starts at {}; the demo moves it, nothing waits.",
            at(self.now)
        ));
        say(&format!(
            "Seeded: tenant {TENANT}, vault {VAULT} (RBAC) holding secret {SECRET}, users alice@contoso.com and carol@contoso.com, repository {OWNER}/{REPO}."
        ));

        step(2, "make the repository");
        self.make_repository()?;
        say(&format!(
            "Bare origin {} with main holding .github/kv-jit.yml (its `cloud:` section points at the emulator), .github/CODEOWNERS (/requests/ @carol @alice-ops) and `identities` (alice-gh and alice-ops are alice@contoso.com, carol is carol@contoso.com).",
            self.origin().display()
        ));

        step(3, "Alice files a request and opens a pull request");
        let (number, path) =
            self.file_request(rt, "alice/demo-api-key", "30m", "alice@contoso.com")?;
        say(&format!(
            "Alice (GitHub alice-gh) pushed branch alice/demo-api-key and opened pull request #{number} adding {path}."
        ));

        step(4, "the PR check");
        self.advance(Duration::minutes(1));
        let check = self.kv_jit(
            &self.work(),
            &["validate", "--pr", &number.to_string()],
            true,
        )?;
        say(&format!(
            "$ kv-jit validate --pr {number}    (exit {})",
            check.code
        ));
        show(&check.stdout);
        show(&check.stderr);
        let comment = rt.block_on(self.plan_comment(number))?;
        say(&format!(
            "The sticky plan comment kv-jit keeps on pull request #{number} (by @{}):",
            comment.0
        ));
        show(&comment.1);
        if check.code != 0 {
            return Err(format!("the PR check failed (exit {})", check.code));
        }

        step(5, "Carol approves, the pull request is merged");
        self.advance(Duration::minutes(2));
        let review = rt.block_on(self.review(number, CAROL_TOKEN, "APPROVE"))?;
        say(&format!(
            "Carol (code owner) approved pull request #{number} on its head commit: POST …/pulls/{number}/reviews answered {}.",
            review.0
        ));
        let merged = self.merge(rt, number, "alice/demo-api-key")?;
        let merged_at = self.now;
        say(&format!(
            "Merged with a merge commit {merged} (pushed to origin's main); PUT …/pulls/{number}/merge told GitHub, merged at {}: the 30m window starts there.",
            at(merged_at)
        ));

        step(6, "the grant workflow runs `kv-jit grant`");
        self.advance(Duration::minutes(1));
        let grant = self.workflow(&["grant"])?;
        if grant.code != 0 {
            return Err(format!("kv-jit grant failed (exit {})", grant.code));
        }

        step(7, "Alice reads the secret with her own identity");
        self.advance(Duration::minutes(2));
        let read = self.read(rt)?;
        if read.status != 200 {
            return Err(format!("the read answered {}, not 200", read.status));
        }

        step(8, "the window ends; the scheduled `kv-jit revoke` runs");
        let window_end = merged_at + Duration::minutes(30);
        let by = window_end + Duration::minutes(3) - self.now;
        self.advance(by);
        say(&format!(
            "The 30m window ended at {}; the clock now stands at {} (the revoker runs every 5 minutes).",
            at(window_end),
            at(self.now)
        ));
        let revoke = self.workflow(&["revoke"])?;
        if revoke.code != 0 {
            return Err(format!("kv-jit revoke failed (exit {})", revoke.code));
        }
        let read = self.read(rt)?;
        if read.status != 403 {
            return Err(format!("the read answered {}, not 403", read.status));
        }

        step(
            9,
            "attacks: Alice asks for Carol's access, then approves her own request",
        );
        self.attack(rt)?;

        step(10, "anyone can check the record");
        self.advance(Duration::minutes(1));
        let dir = self.checkout()?;
        self.last_checkout = Some(dir.clone());
        let verify = self.kv_jit(&dir, &["audit", "verify"], false)?;
        say(&format!("$ kv-jit audit verify    (exit {})", verify.code));
        show(&verify.stdout);
        show(&verify.stderr);
        let status = self.kv_jit(&dir, &["status"], false)?;
        say(&format!("$ kv-jit status    (exit {})", status.code));
        show(&status.stdout);
        show(&status.stderr);
        self.show_ledger(&dir)?;
        if let Some(lag) = status.stdout.lines().find(|l| l.starts_with("revoke lag")) {
            say(&format!(
                "Revoke lag (how long after its window ended access was removed): {}",
                lag.trim_start_matches("revoke lag").trim()
            ));
        }
        // kv-jit never reads a secret value: every data-plane request the emulator served was
        // the requester's own (the demo made `self.reads` of them).
        let log = self.emulator.core().log();
        let data_plane = log.iter().filter(|e| e.path.starts_with("/kv/")).count();
        say(&format!(
            "The emulator served {} requests; {data_plane} went to the Key Vault data plane, all {} of them Alice's own reads: kv-jit made none.",
            log.len(),
            self.reads
        ));
        if data_plane != self.reads {
            return Err(format!(
                "{data_plane} data-plane requests, but the requester made {}",
                self.reads
            ));
        }
        if verify.code != 0 {
            return Err("the ledger does not verify".into());
        }
        Ok(())
    }

    /// The audit report of the demo's ledger, as HTML, written to `out` by `kv-jit report` run in
    /// the last workflow checkout.
    fn report(&self, out: &Path) -> Step {
        let dir = self
            .last_checkout
            .clone()
            .ok_or("no checkout to report from")?;
        let out_arg = out.to_string_lossy().into_owned();
        let run = self.kv_jit(
            &dir,
            &["report", "--format", "html", "--out", &out_arg],
            false,
        )?;
        say(&format!(
            "\n$ kv-jit report --format html --out {}    (exit {})",
            out.display(),
            run.code
        ));
        show(&run.stderr);
        if run.code != 0 {
            return Err(format!("kv-jit report failed: {}", run.stderr.trim()));
        }
        say(&format!(
            "The audit report (who could read which secret, when, approved by whom, how it ended), one self-contained page: open file://{}",
            out.display()
        ));
        Ok(())
    }

    /// Origin and Alice's clone, main holding the config, CODEOWNERS; GitHub learns of it.
    fn make_repository(&mut self) -> Step {
        let origin = self.origin();
        let work = self.work();
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        let origin_arg = origin.to_string_lossy().into_owned();
        self.git(
            &self.root,
            Who::Platform,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &origin_arg,
            ],
        )?;
        self.git(
            &work,
            Who::Alice,
            &["init", "--quiet", "--initial-branch=main"],
        )?;
        self.git(&work, Who::Alice, &["remote", "add", "origin", &origin_arg])?;
        write(&work, ".github/kv-jit.yml", &config(&self.base()))?;
        write(&work, ".github/CODEOWNERS", CODEOWNERS)?;
        write(
            &work,
            "requests/README.md",
            "Access requests: one file each, filed with `kv-jit new`.\n",
        )?;
        self.git(&work, Who::Platform, &["add", "-A"])?;
        self.git(
            &work,
            Who::Platform,
            &["commit", "--quiet", "-m", "kv-jit config"],
        )?;
        self.git(&work, Who::Platform, &["push", "--quiet", "origin", "main"])?;
        self.tell_github(&work, "main", None, None)
    }

    /// Alice runs `kv-jit new` on a branch, pushes it and opens a pull request. Returns its
    /// number and the request's path.
    fn file_request(
        &mut self,
        rt: &tokio::runtime::Runtime,
        branch: &str,
        duration: &str,
        requester: &str,
    ) -> Step<(u64, String)> {
        let work = self.work();
        self.git(&work, Who::Alice, &["fetch", "--quiet", "origin"])?;
        self.git(
            &work,
            Who::Alice,
            &["checkout", "--quiet", "-B", branch, "origin/main"],
        )?;
        let args = [
            "new",
            "--secret",
            SECRET,
            "--duration",
            duration,
            "--justification",
            "Rotate the partner API client after INC-4821",
            "--requester",
            requester,
        ];
        let new = self.kv_jit(&work, &args, false)?;
        say(&format!(
            "$ kv-jit new --secret {SECRET} --duration {duration} --justification \"Rotate the partner API client after INC-4821\" --requester {requester}    (exit {})",
            new.code
        ));
        show(&new.stdout);
        show(&new.stderr);
        if new.code != 0 {
            return Err(format!("kv-jit new failed (exit {})", new.code));
        }
        let path = new.stdout.trim().to_owned();
        let text = std::fs::read_to_string(work.join(&path)).map_err(|e| e.to_string())?;
        show(&text);
        self.git(&work, Who::Alice, &["add", &path])?;
        self.git(
            &work,
            Who::Alice,
            &["commit", "--quiet", "-m", &format!("Request {SECRET}")],
        )?;
        self.git(&work, Who::Alice, &["push", "--quiet", "origin", branch])?;
        let base = self.emulator_tip("main")?;
        self.tell_github(&work, branch, Some(&base), Some("alice-gh"))?;
        let number = rt.block_on(self.open_pull(branch))?;
        Ok((number, path))
    }

    /// The default branch's tip as the emulator last heard it.
    fn emulator_tip(&self, branch: &str) -> Step<String> {
        self.github()
            .snapshot()
            .repos
            .first()
            .and_then(|r| r.branches.get(branch).cloned())
            .ok_or_else(|| format!("the emulator knows no branch {branch}"))
    }

    /// Tells the emulated GitHub what `git push` of `branch` sent: the commits after `since`
    /// (all when `None`), oldest first, with parents and trees.
    fn tell_github(
        &self,
        dir: &Path,
        branch: &str,
        since: Option<&str>,
        author: Option<&str>,
    ) -> Step {
        let range = match since {
            Some(s) => format!("{s}..{branch}"),
            None => branch.to_owned(),
        };
        let list = self.git(
            dir,
            Who::Alice,
            &["rev-list", "--reverse", "--parents", &range],
        )?;
        let mut commits = Vec::new();
        for line in list.lines() {
            let mut shas = line.split_whitespace().map(str::to_owned);
            let Some(sha) = shas.next() else { continue };
            let parents: Vec<String> = shas.collect();
            let mut tree = BTreeMap::new();
            let paths = self.git(dir, Who::Alice, &["ls-tree", "-r", "--name-only", &sha])?;
            for p in paths.lines() {
                let text = self.git_raw(dir, &["show", &format!("{sha}:{p}")])?;
                tree.insert(p.to_owned(), text);
            }
            commits.push(PushedCommit {
                sha,
                parents,
                author: author.map(str::to_owned),
                tree,
            });
        }
        if commits.is_empty() {
            return Ok(());
        }
        self.github().push(OWNER, REPO, branch, commits)
    }

    async fn open_pull(&self, branch: &str) -> Step<u64> {
        let url = format!("{}/repos/{OWNER}/{REPO}/pulls", self.base());
        let response = self
            .http
            .post(url)
            .bearer_auth(ALICE_TOKEN)
            .json(&serde_json::json!({
                "title": format!("Access to {SECRET} for alice@contoso.com"),
                "head": branch, "base": "main",
                "body": "Filed with `kv-jit new`."
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        if status != 201 {
            return Err(format!("POST …/pulls answered {status}: {body}"));
        }
        body["number"]
            .as_u64()
            .ok_or_else(|| "the new pull request has no number".into())
    }

    /// `(status, body)` of a review by the token's owner on the pull request's head.
    async fn review(
        &self,
        number: u64,
        token: &str,
        event: &str,
    ) -> Step<(u16, serde_json::Value)> {
        let url = format!(
            "{}/repos/{OWNER}/{REPO}/pulls/{number}/reviews",
            self.base()
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "event": event, "body": "Approved for INC-4821." }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// The plan comment's author and body.
    async fn plan_comment(&self, number: u64) -> Step<(String, String)> {
        let url = format!(
            "{}/repos/{OWNER}/{REPO}/issues/{number}/comments",
            self.base()
        );
        let comments: serde_json::Value = self
            .http
            .get(url)
            .bearer_auth(BOT_TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let last = comments
            .as_array()
            .and_then(|c| c.last())
            .ok_or("kv-jit posted no comment")?;
        Ok((
            last["user"]["login"].as_str().unwrap_or("?").to_owned(),
            last["body"].as_str().unwrap_or("").to_owned(),
        ))
    }

    /// Merges `branch` into main with a merge commit dated now, pushes it to origin, tells
    /// GitHub the push and merges the pull request there. Returns the merge commit (short).
    fn merge(&mut self, rt: &tokio::runtime::Runtime, number: u64, branch: &str) -> Step<String> {
        let work = self.work();
        let head = self.git(&work, Who::Alice, &["rev-parse", branch])?;
        let before = self.emulator_tip("main")?;
        self.git(&work, Who::Alice, &["fetch", "--quiet", "origin"])?;
        self.git(
            &work,
            Who::Alice,
            &["checkout", "--quiet", "-B", "main", "origin/main"],
        )?;
        self.git(
            &work,
            Who::Github,
            &[
                "merge",
                "--quiet",
                "--no-ff",
                "-m",
                &format!("Merge pull request #{number} from {OWNER}/{branch}"),
                branch,
            ],
        )?;
        self.git(&work, Who::Github, &["push", "--quiet", "origin", "main"])?;
        self.tell_github(&work, "main", Some(&before), None)?;
        let merge = self.git(&work, Who::Alice, &["rev-parse", "HEAD"])?;
        let url = format!("{}/repos/{OWNER}/{REPO}/pulls/{number}/merge", self.base());
        let response = rt.block_on(async {
            let r = self
                .http
                .put(url)
                .bearer_auth(CAROL_TOKEN)
                .json(&serde_json::json!({ "merge_method": "merge", "sha": head }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, body))
        })?;
        if response.0 != 200 || response.1["sha"].as_str() != Some(merge.as_str()) {
            return Err(format!(
                "PUT …/pulls/{number}/merge answered {}: {}",
                response.0, response.1
            ));
        }
        Ok(merge.chars().take(12).collect())
    }

    /// A fresh clone of origin with full history, as `actions/checkout` with `fetch-depth: 0`.
    fn checkout(&mut self) -> Step<PathBuf> {
        self.runs += 1;
        let dir = self.root.join("runs").join(self.runs.to_string());
        std::fs::create_dir_all(dir.parent().expect("has a parent")).map_err(|e| e.to_string())?;
        let origin = self.origin().to_string_lossy().into_owned();
        let dir_arg = dir.to_string_lossy().into_owned();
        self.git(
            &self.root,
            Who::Alice,
            &["clone", "--quiet", &origin, &dir_arg],
        )?;
        Ok(dir)
    }

    /// Runs `kv-jit ARGS --now NOW` as a grant or revoke workflow would, in a fresh checkout;
    /// prints what it said.
    fn workflow(&mut self, args: &[&str]) -> Step<Ran> {
        let dir = self.checkout()?;
        let run = self.runs;
        let summary = self.root.join("runs").join(format!("{run}.summary.md"));
        let mut extra = vec![(
            "GITHUB_STEP_SUMMARY",
            summary.to_string_lossy().into_owned(),
        )];
        // The grant runs on the push of the merge to main: Actions names the ref and hands
        // over the push event's payload, which says which branch is the default.
        if args.first() == Some(&"grant") {
            let sha = self.git(&dir, Who::Alice, &["rev-parse", "HEAD"])?;
            let event = self.root.join("runs").join(format!("{run}.event.json"));
            let payload = serde_json::json!({
                "ref": "refs/heads/main", "after": sha,
                "repository": { "full_name": format!("{OWNER}/{REPO}"), "default_branch": "main" }
            });
            std::fs::write(&event, payload.to_string()).map_err(|e| e.to_string())?;
            extra.push(("GITHUB_EVENT_NAME", "push".into()));
            extra.push(("GITHUB_EVENT_PATH", event.to_string_lossy().into_owned()));
            extra.push(("GITHUB_REF", "refs/heads/main".into()));
            extra.push(("GITHUB_SHA", sha));
        }
        let ran = self.kv_jit_env(&dir, args, true, &extra)?;
        say(&format!(
            "$ kv-jit {} --now {}    (exit {}; in a fresh checkout of main, with the workflow's AZURE_*, KV_JIT_ALLOWED_ENDPOINTS and GITHUB_* environment)",
            args.join(" "),
            at(self.now),
            ran.code
        ));
        show(&ran.stdout);
        show(&ran.stderr);
        if let Ok(text) = std::fs::read_to_string(&summary) {
            say("The job summary it wrote (GITHUB_STEP_SUMMARY):");
            show(&text);
        }
        Ok(ran)
    }

    fn read(&mut self, rt: &tokio::runtime::Runtime) -> Step<requester::Read> {
        self.reads += 1;
        let read = rt.block_on(requester::read_secret(
            &self.http,
            &self.base(),
            TENANT,
            "alice@contoso.com",
            ALICE_PASSWORD,
            VAULT,
            SECRET,
        ))?;
        let what = match (read.status, read.value_chars, &read.error) {
            (200, Some(n), _) => {
                format!("200 OK: the secret's value came back ({n} characters; not shown)")
            }
            (403, _, Some(e)) => format!("403 Forbidden: {e}; access has ended"),
            (s, _, e) => format!("{s}: {}", e.as_deref().unwrap_or("unexpected answer")),
        };
        say(&format!(
            "Alice signs in to Entra as alice@contoso.com (her own token, not kv-jit's) and reads {VAULT}/{SECRET} from Key Vault: {what}."
        ));
        Ok(read)
    }

    /// Alice (a code owner under her second account, alice-ops) files a request and approves
    /// it herself. GitHub refuses the approval from the author's own account; from the second
    /// account it accepts it, the PR check shows only what it can know before merge, and the
    /// grant refuses: an approver who maps to the requester does not count.
    fn attack(&mut self, rt: &tokio::runtime::Runtime) -> Step {
        self.advance(Duration::minutes(1));
        // The grant and revoke runs pushed ledger commits GitHub has not heard of yet.
        let known = self.emulator_tip("main")?;
        let work = self.work();
        self.git(&work, Who::Alice, &["fetch", "--quiet", "origin"])?;
        self.git(
            &work,
            Who::Alice,
            &["checkout", "--quiet", "-B", "main", "origin/main"],
        )?;
        self.tell_github(&work, "main", Some(&known), Some("github-actions[bot]"))?;
        say("First try: Alice files a request for Carol's identity, to read the secret as Carol.");
        let (number, _) = self.file_request(rt, "alice/for-carol", "1h", "carol@contoso.com")?;
        let check = self.kv_jit(&work, &["validate", "--pr", &number.to_string()], true)?;
        say(&format!(
            "$ kv-jit validate --pr {number}    (exit {})",
            check.code
        ));
        show(&check.stdout);
        show(&check.stderr);
        if check.code != 1 || !check.stdout.contains("error[requester-not-bound]") {
            return Err("the PR check did not refuse a request for someone else".into());
        }
        say("Refused by the PR check (requester-not-bound): nobody merges that. Second try:");
        let (number, _) =
            self.file_request(rt, "alice/demo-api-key-again", "2h", "alice@contoso.com")?;
        say(&format!(
            "Alice opened pull request #{number} for another 2h of {SECRET}."
        ));
        let own = rt.block_on(self.review(number, ALICE_TOKEN, "APPROVE"))?;
        say(&format!(
            "As alice-gh (the author) she tries to approve it: GitHub answers {} {}.",
            own.0,
            own.1["errors"][0].as_str().unwrap_or("")
        ));
        let check = self.kv_jit(&work, &["validate", "--pr", &number.to_string()], true)?;
        say(&format!(
            "$ kv-jit validate --pr {number}    (exit {}; the PR check cannot know approvals yet, it only lists the code owners)",
            check.code
        ));
        show(&check.stderr);
        self.advance(Duration::minutes(1));
        let alt = rt.block_on(self.review(number, ALICE_OPS_TOKEN, "APPROVE"))?;
        say(&format!(
            "As alice-ops (her second account, a code owner) she approves it: GitHub answers {} {}, and the pull request is merged.",
            alt.0,
            alt.1["state"].as_str().unwrap_or("")
        ));
        self.merge(rt, number, "alice/demo-api-key-again")?;
        self.advance(Duration::minutes(1));
        let grant = self.workflow(&["grant"])?;
        let refused = grant.stdout.lines().any(|l| l.starts_with("refused"));
        if !refused {
            return Err("the grant did not refuse the self-approved request".into());
        }
        say(
            "Refused: `identities` maps alice-ops to alice@contoso.com, the requester, so the approval does not count (not-enough-approvals); the refusal is in the ledger, and no role assignment was made.",
        );
        let read = self.read(rt)?;
        if read.status != 403 {
            return Err(format!("the read answered {}, not 403", read.status));
        }
        Ok(())
    }

    fn show_ledger(&self, dir: &Path) -> Step {
        let text = std::fs::read_to_string(dir.join("audit/ledger.jsonl"))
            .map_err(|e| format!("cannot read the ledger: {e}"))?;
        say("The ledger (audit/ledger.jsonl on main), one line per entry:");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            let mut out = format!(
                "    #{} {} {:<8} {}",
                v["seq"],
                s("time"),
                s("event"),
                s("request")
            );
            if !s("requester").is_empty() {
                out.push_str(&format!(" for {}", s("requester")));
            }
            if let Some(role) = v["role"]["alias"].as_str() {
                out.push_str(&format!(" as {role}"));
            }
            if let (Some(from), Some(until)) = (
                v["window"]["start"].as_str(),
                v["window"]["expires"].as_str(),
            ) {
                out.push_str(&format!(" window {from}..{until}"));
            }
            if let Some(pr) = v["approvals"]["pr"].as_u64() {
                let by: Vec<String> = v["approvals"]["by"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x["login"].as_str())
                            .map(|l| format!("@{l}"))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push_str(&format!(" approved in PR #{pr} by {}", by.join(", ")));
            }
            if !s("reason").is_empty() {
                out.push_str(&format!(" ({})", s("reason")));
            }
            if let Some(lag) = v["lag_seconds"].as_i64() {
                out.push_str(&format!(" lag {lag}s"));
            }
            if !s("error").is_empty() {
                out.push_str(&format!(": {}", s("error")));
            }
            say(&out);
        }
        Ok(())
    }

    /// With `--keep`: the emulator's world as a seed, and how to poke at it.
    fn keep_notes(&self, shown: &Path) {
        let mut seed = azure_seed();
        let github = serde_json::to_string(&self.github().snapshot()).unwrap_or_default();
        seed.push_str(&format!("github: {github}\n"));
        let path = self.root.join("emulator-seed.yaml");
        if let Err(e) = std::fs::write(&path, seed) {
            output::stderr(&format!("warning: cannot write {}: {e}\n", path.display()));
        }
        let base = self.base();
        let port = base.rsplit(':').next().unwrap_or("8080");
        say(&format!(
            "\nKept in {}: origin.git (the bare origin), alice (Alice's clone), runs/N (each workflow run's checkout), emulator-seed.yaml (the emulator's world as the demo left it; role assignments are not in a seed).",
            shown.display()
        ));
        say("To poke at it, start the emulator again on the same port (the config points there):");
        say(&format!(
            "    kv-jit emulator --listen 127.0.0.1:{port} --seed {} --now {}",
            path.display(),
            at(self.now)
        ));
        say("and in another shell, in a checkout (e.g. the last runs/N):");
        say(&format!(
            "    export AZURE_CLIENT_ID={CLIENT_ID} AZURE_TENANT_ID={TENANT} AZURE_CLIENT_SECRET={CLIENT_SECRET}"
        ));
        say(&format!(
            "    export KV_JIT_ALLOWED_ENDPOINTS={base} GITHUB_API_URL={base} GITHUB_TOKEN={BOT_TOKEN} GITHUB_REPOSITORY={OWNER}/{REPO}"
        ));
        say(&format!(
            "    kv-jit audit verify; kv-jit status; kv-jit plan --now {}",
            at(self.now)
        ));
    }

    /// Runs this executable as kv-jit with `--now` and a clean environment (nothing of the
    /// caller's GitHub, Actions, Azure or kv-jit variables), plus the workflow's when `workflow`.
    fn kv_jit(&self, dir: &Path, args: &[&str], workflow: bool) -> Step<Ran> {
        self.kv_jit_env(dir, args, workflow, &[])
    }

    /// As [`Demo::kv_jit`], with `extra` variables on top.
    fn kv_jit_env(
        &self,
        dir: &Path,
        args: &[&str],
        workflow: bool,
        extra: &[(&str, String)],
    ) -> Step<Ran> {
        let mut cmd = Command::new(&self.exe);
        cmd.current_dir(dir)
            .args(args)
            .arg("--now")
            .arg(at(self.now));
        scrub(&mut cmd);
        git_env(&mut cmd, Who::Github, self.now);
        if workflow {
            let base = self.base();
            let pr_check = args.first() == Some(&"validate");
            // The PR check signs in as its own read-only identity, never the one that assigns.
            let (id, secret) = if pr_check {
                (PR_CHECK_ID, PR_CHECK_SECRET)
            } else {
                (CLIENT_ID, CLIENT_SECRET)
            };
            cmd.env("AZURE_CLIENT_ID", id)
                .env("AZURE_TENANT_ID", TENANT)
                .env("AZURE_CLIENT_SECRET", secret)
                .env("KV_JIT_ALLOWED_ENDPOINTS", &base)
                .env("GITHUB_API_URL", &base)
                .env("GITHUB_TOKEN", BOT_TOKEN)
                .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"));
        }
        cmd.envs(extra.iter().map(|(k, v)| (k, v)));
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.exe.display()))?;
        Ok(Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn git(&self, dir: &Path, who: Who, args: &[&str]) -> Step<String> {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir).args(args);
        scrub(&mut cmd);
        git_env(&mut cmd, who, self.now);
        let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `git` output exactly as printed (file contents).
    fn git_raw(&self, dir: &Path, args: &[&str]) -> Step<String> {
        let mut cmd = Command::new("git");
        cmd.current_dir(dir).args(args);
        scrub(&mut cmd);
        git_env(&mut cmd, Who::Alice, self.now);
        let out = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!("git {}: failed", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

#[derive(Clone, Copy)]
enum Who {
    Platform,
    Alice,
    /// Merges, and kv-jit's own ledger commits in the workflow.
    Github,
}

/// Removes what the caller's environment could change in a child: GitHub, Actions, Azure and
/// kv-jit variables, and git's own (`GIT_DIR` and friends) so each command works on its folder.
fn scrub(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if [
            "GITHUB_", "RUNNER_", "ACTIONS_", "AZURE_", "GH_", "KV_JIT_", "GIT_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
}

/// Never the user's git config; fixed names; the virtual clock's date.
fn git_env(cmd: &mut Command, who: Who, now: DateTime<Utc>) {
    let (name, email) = match who {
        Who::Platform => ("Platform Team", "platform@contoso.com"),
        Who::Alice => ("Alice", "alice@contoso.com"),
        Who::Github => ("GitHub", "noreply@github.com"),
    };
    let date = format!("@{} +0000", now.timestamp());
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date);
}

fn write(dir: &Path, rel: &str, text: &str) -> Step {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
}
