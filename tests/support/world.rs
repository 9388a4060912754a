//! A whole kv-jit world on one machine: the Azure and GitHub emulators on 127.0.0.1, a bare
//! origin repository and a clone with one merged, approved request, and the environment a
//! workflow would give `kv-jit grant`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kv_jit_emulator::github::{
    CommitSeed, FileSeed, GithubSeed, GithubState, PullSeed, RepoSeed, ReviewSeed,
};
use kv_jit_emulator::{EmulatorHandle, Seed};

pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const SUB: &str = "22222222-2222-2222-2222-222222222222";
pub const CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";
pub const ALICE_OID: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
pub const REQUEST: &str = "requests/2026/alice-api-key.yaml";
pub const REQUEST_ID: &str = "2026/alice-api-key";

pub fn azure_seed() -> String {
    format!(
        r#"
tenants:
  - id: {TENANT}
    apps:
      - {{ client_id: {CLIENT_ID}, object_id: 44444444-4444-4444-4444-444444444444, name: kv-jit-workflow, secret: app-secret }}
    users:
      - {{ upn: alice@contoso.com, id: {ALICE_OID}, password: alice-pw }}
      - {{ upn: bob@contoso.com, id: bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb }}
vaults:
  - name: flowlibs-demo-kv
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: rg-flowlibs-demo
    secrets:
      demo-api-key: s3cr3t-value
      demo-connection-string: Server=db;Password=pw
"#
    )
}

pub fn config(azure: &str) -> String {
    format!(
        "tenant_id: {TENANT}
cloud:
  authority_host: {azure}
  resource_manager: {azure}
  graph: {azure}/graph
vaults:
  flowlibs-demo-kv:
    subscription_id: {SUB}
    resource_group: rg-flowlibs-demo
    secrets: [demo-api-key, demo-connection-string]
    max_duration: 4h
identities:
  alice-gh: alice@contoso.com
  bob-gh: bob@contoso.com
notify:
  teams_webhook_env: KV_JIT_TEAMS_WEBHOOK
ledger:
  path: audit/ledger.jsonl
  branch: main
"
    )
}

pub fn request(requester: &str, duration: &str) -> String {
    format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: {requester}\nvault: flowlibs-demo-kv\nsecret: demo-api-key\nduration: {duration}\njustification: Rotate the partner API client after INC-4821\n"
    )
}

pub const CODEOWNERS: &str = "/requests/ @carol\n";

/// A bare `origin.git` and an empty clone `work` of it (branch `main`) under `dir`.
pub fn origin_and_clone(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let origin = dir.join("origin.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(
        dir,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            origin.to_str().unwrap(),
        ],
    );
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    (origin, work)
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@contoso.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@contoso.com")
        .env("GIT_AUTHOR_DATE", crate::support::git_date())
        .env("GIT_COMMITTER_DATE", crate::support::git_date())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub azure: EmulatorHandle,
    pub github_url: String,
    pub github: Arc<GithubState>,
    /// The clone kv-jit runs in (a checkout of main, as in the grant workflow).
    pub work: PathBuf,
    pub origin: PathBuf,
    pub base_sha: String,
    pub head_sha: String,
    pub merge_sha: String,
}

impl World {
    /// Origin with config + CODEOWNERS on main, then PR #7 (by alice-gh, approved by the code
    /// owner carol on its head) merged with a merge commit.
    pub async fn new(request_text: &str) -> World {
        Self::new_with(request_text, |c| c).await
    }

    /// As [`World::new`], with the config text changed by `edit` (e.g. `scope: secret`).
    pub async fn new_with(request_text: &str, edit: impl Fn(String) -> String) -> World {
        Self::build(request_text, edit, |c| c).await
    }

    /// As [`World::new`], but PR #7 itself changes the config with `edit` (main before it holds
    /// the plain config); GitHub lists the config among the PR's files.
    pub async fn new_with_pr_config(request_text: &str, edit: impl Fn(String) -> String) -> World {
        Self::build(request_text, |c| c, edit).await
    }

    async fn build(
        request_text: &str,
        edit: impl Fn(String) -> String,
        edit_in_pr: impl Fn(String) -> String,
    ) -> World {
        let azure = kv_jit_emulator::spawn_at(
            Seed::from_yaml(&azure_seed()).unwrap(),
            crate::support::t0(),
        )
        .await
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (origin, work) = origin_and_clone(tmp.path());
        let config = edit(config(azure.base_url().trim_end_matches('/')));
        write(&work, ".github/kv-jit.yml", &config);
        write(&work, ".github/CODEOWNERS", CODEOWNERS);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "--quiet", "-m", "kv-jit config"]);
        let base_sha = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["checkout", "--quiet", "-b", "alice/api-key"]);
        let pr_config = edit_in_pr(config.clone());
        if pr_config != config {
            write(&work, ".github/kv-jit.yml", &pr_config);
        }
        write(&work, REQUEST, request_text);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "--quiet", "-m", "Request demo-api-key"]);
        let head_sha = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["checkout", "--quiet", "main"]);
        git(
            &work,
            &[
                "merge",
                "--quiet",
                "--no-ff",
                "-m",
                "Merge pull request #7",
                "alice/api-key",
            ],
        );
        let merge_sha = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["push", "--quiet", "origin", "main"]);

        let mut seed = github_seed(&config, &base_sha, &head_sha, &merge_sha, "carol");
        if pr_config != config {
            let pull = &mut seed.repos[0].pulls[0];
            pull.files.push(FileSeed {
                filename: ".github/kv-jit.yml".into(),
                status: "modified".into(),
                previous_filename: None,
            });
            pull.commits[0].files.push(".github/kv-jit.yml".into());
        }
        let (github_url, github, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
        World {
            tmp,
            azure,
            github_url,
            github,
            work,
            origin,
            base_sha,
            head_sha,
            merge_sha,
        }
    }

    /// The environment of a grant or revoke workflow, pointed at the emulators.
    pub fn env(&self) -> Vec<(String, String)> {
        let azure = self.azure.base_url();
        [
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", "app-secret"),
            // The operator allows the emulator's explicit endpoints, outside the repository.
            ("KV_JIT_ALLOWED_ENDPOINTS", azure.as_str()),
            ("GITHUB_API_URL", self.github_url.as_str()),
            ("GITHUB_TOKEN", "test-token"),
            ("GITHUB_REPOSITORY", "acme/access"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Runs kv-jit in the work clone (off the async runtime, which serves the emulators).
    pub async fn kv_jit(&self, args: &[&str]) -> crate::support::Run {
        self.kv_jit_in(&self.work, args, &[]).await
    }

    /// Runs kv-jit in `dir` with `extra` environment on top of the workflow's.
    pub async fn kv_jit_in(
        &self,
        dir: &Path,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> crate::support::Run {
        // The emulator's clock is virtual: it stands where the run's `--now` says.
        if let Some(now) = args.windows(2).find(|w| w[0] == "--now").map(|w| w[1]) {
            let now = chrono::DateTime::parse_from_rfc3339(now).expect("--now is RFC 3339");
            self.azure.core().clock.set(now.with_timezone(&chrono::Utc));
            // GitHub's clock too: what the run creates there (issues, comments) is dated then.
            self.github
                .core()
                .clock
                .set(now.with_timezone(&chrono::Utc));
        }
        let dir = dir.to_owned();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crate::support::kv_jit(&dir, &args, &env)
        })
        .await
        .unwrap()
    }

    /// Another checkout of origin's main, as a second workflow run would have.
    pub fn clone(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        git(
            self.tmp.path(),
            &[
                "clone",
                "--quiet",
                self.origin.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        dir
    }

    /// An Azure client of the workflow's own identity, for arranging Azure behind kv-jit's back.
    pub fn azure_client(&self) -> kv_jit_effects::azure::AzureClient {
        use kv_jit_effects::azure::{AzureClient, Credential, Endpoints, RetryPolicy};
        let env: std::collections::HashMap<String, String> = self.env().into_iter().collect();
        let endpoints = Endpoints::emulator(&url::Url::parse(&self.azure.base_url()).unwrap());
        let credential = Credential::from_env(&env, TENANT, &endpoints).unwrap();
        AzureClient::new(TENANT, endpoints, credential, RetryPolicy::default()).unwrap()
    }

    pub fn vault_target() -> kv_jit_effects::azure::Target {
        use kv_jit_core::names::VaultName;
        kv_jit_effects::azure::Target {
            vault: kv_jit_effects::azure::VaultRef::new(
                SUB,
                "rg-flowlibs-demo",
                VaultName::parse("flowlibs-demo-kv").unwrap(),
            )
            .unwrap(),
            secret: None,
        }
    }

    /// (event, request, reason) of every line of origin's ledger.
    pub fn ledger_events(&self) -> Vec<(String, String, Option<String>)> {
        self.origin_ledger()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["event"].as_str().unwrap().to_owned(),
                    v["request"].as_str().unwrap_or("-").to_owned(),
                    v["reason"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    /// Merges a second pull request (#number, by alice-gh, approved by carol on its head) that
    /// adds `path`; the GitHub side learns of it. Returns the merge commit.
    pub fn merge_pr(&self, number: u64, path: &str, text: &str) -> String {
        let branch = format!("pr-{number}");
        git(
            &self.work,
            &["pull", "--quiet", "--ff-only", "origin", "main"],
        );
        let base = git(&self.work, &["rev-parse", "HEAD"]);
        git(&self.work, &["checkout", "--quiet", "-b", &branch]);
        write(&self.work, path, text);
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "--quiet", "-m", &format!("Request {path}")],
        );
        let head = git(&self.work, &["rev-parse", "HEAD"]);
        git(&self.work, &["checkout", "--quiet", "main"]);
        git(
            &self.work,
            &[
                "merge",
                "--quiet",
                "--no-ff",
                "-m",
                &format!("Merge pull request #{number}"),
                &branch,
            ],
        );
        let merge = git(&self.work, &["rev-parse", "HEAD"]);
        git(&self.work, &["push", "--quiet", "origin", "main"]);
        let config = config(self.azure.base_url().trim_end_matches('/'));
        let mut seed = github_seed(
            &config,
            &self.base_sha,
            &self.head_sha,
            &self.merge_sha,
            "carol",
        );
        let mut pull = seed.repos[0].pulls[0].clone();
        pull.number = number;
        pull.head_ref = branch;
        pull.head_sha = head.clone();
        pull.base_sha = base.clone();
        pull.merge_commit_sha = Some(merge.clone());
        pull.files[0].filename = path.into();
        pull.commits[0].sha = head.clone();
        pull.commits[0].files = vec![path.into()];
        pull.reviews[0].commit_id = Some(head);
        seed.repos[0].pulls.push(pull);
        let base_files = seed.repos[0].files[&self.base_sha].clone();
        seed.repos[0].files.insert(base, base_files);
        self.github.reseed(seed);
        merge
    }

    /// Replaces the GitHub side with PR #7 approved by `reviewer`, the base holding `config`.
    pub fn reseed_github(&self, config: &str, reviewer: &str) -> GithubSeed {
        let seed = github_seed(
            config,
            &self.base_sha,
            &self.head_sha,
            &self.merge_sha,
            reviewer,
        );
        self.github.reseed(seed.clone());
        seed
    }

    /// The ledger as pushed to origin.
    pub fn origin_ledger(&self) -> String {
        let out = Command::new("git")
            .args([
                "--git-dir",
                self.origin.to_str().unwrap(),
                "show",
                "main:audit/ledger.jsonl",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn azure_calls(&self, method: &str, path_contains: &str) -> usize {
        self.azure
            .core()
            .log()
            .iter()
            .filter(|e| e.method == method && e.path.contains(path_contains))
            .count()
    }
}

/// Test-only powers of a repository writer or an Azure admin, for the trust-model tests.
impl World {
    /// Appends `new` to origin's ledger as a writer of its branch could: correctly chained,
    /// committed and pushed by hand, so `audit verify` passes.
    pub fn forge_ledger(&self, new: Vec<kv_jit_core::ledger::NewEntry>) {
        use kv_jit_core::ledger::{Tip, append, parse_ledger, to_line};
        git(
            &self.work,
            &["pull", "--quiet", "--ff-only", "origin", "main"],
        );
        let path = self.work.join("audit/ledger.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        let entries = parse_ledger("ledger", text.as_bytes()).unwrap();
        for e in append(&Tip::of(&entries), new) {
            text.push_str(&to_line(&e));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "-m", "audit: granted"]);
        git(&self.work, &["push", "--quiet", "origin", "main"]);
    }

    /// A commit pushed straight to origin's main, as a writer of the branch could: `change`
    /// edits the work clone (brought up to date first). Returns the commit.
    pub fn push_to_main(&self, message: &str, change: impl FnOnce(&Path)) -> String {
        git(
            &self.work,
            &["pull", "--quiet", "--ff-only", "origin", "main"],
        );
        change(&self.work);
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(&self.work, &["push", "--quiet", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// An ARM token of the workflow's identity from the emulator.
    async fn arm_token(&self) -> String {
        let tok: serde_json::Value = Self::http()
            .post(format!(
                "{}/{TENANT}/oauth2/v2.0/token",
                self.azure.base_url()
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", "app-secret"),
                ("scope", &format!("{}/.default", self.azure.base_url())),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tok["access_token"].as_str().unwrap().to_owned()
    }

    fn assignment_url(name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
            Self::vault_target().scope()
        )
    }

    fn http() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    /// A standing assignment made by hand in the portal: a random name, no kv-jit marker.
    pub async fn assign_by_hand(&self, principal_id: &str, role_id: &str, name: &str) {
        self.assign_by_hand_described(principal_id, role_id, name, None)
            .await
    }

    /// As [`World::assign_by_hand`], with a description (a typed copy of kv-jit's marker, say).
    pub async fn assign_by_hand_described(
        &self,
        principal_id: &str,
        role_id: &str,
        name: &str,
        description: Option<&str>,
    ) {
        let token = self.arm_token().await;
        let resp = Self::http()
            .put(format!("{}{}", self.azure.base_url(), Self::assignment_url(name)))
            .bearer_auth(token)
            .json(&serde_json::json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"),
                "principalId": principal_id,
                "description": description,
            }}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            201,
            "{}",
            resp.text().await.unwrap()
        );
    }

    /// Whether the assignment `name` exists at the vault's scope.
    pub async fn assignment_exists(&self, name: &str) -> bool {
        let token = self.arm_token().await;
        let resp = Self::http()
            .get(format!(
                "{}{}",
                self.azure.base_url(),
                Self::assignment_url(name)
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 => true,
            404 => false,
            other => panic!("GET assignment: {other}"),
        }
    }
}

pub fn github_seed(
    config: &str,
    base: &str,
    head: &str,
    merge: &str,
    reviewer: &str,
) -> GithubSeed {
    let mut base_files = BTreeMap::new();
    base_files.insert(".github/CODEOWNERS".to_string(), CODEOWNERS.to_string());
    base_files.insert(".github/kv-jit.yml".to_string(), config.to_string());
    let pull = PullSeed {
        number: 7,
        title: "Access for alice".into(),
        author: "alice-gh".into(),
        head_ref: "alice/api-key".into(),
        head_sha: head.into(),
        base_ref: "main".into(),
        base_sha: base.into(),
        merged: true,
        merged_at: Some(crate::support::t0()),
        merge_commit_sha: Some(merge.into()),
        created_at: None,
        files: vec![FileSeed {
            filename: REQUEST.into(),
            status: "added".into(),
            previous_filename: None,
        }],
        commits: vec![CommitSeed {
            sha: head.into(),
            author: Some("alice-gh".into()),
            files: vec![REQUEST.into()],
            pulls: vec![],
        }],
        reviews: vec![ReviewSeed {
            user: reviewer.into(),
            state: "APPROVED".into(),
            commit_id: Some(head.into()),
        }],
    };
    GithubSeed {
        repos: vec![RepoSeed {
            owner: "acme".into(),
            name: "access".into(),
            default_branch: "main".into(),
            branches: [("main".to_string(), merge.to_string())]
                .into_iter()
                .collect(),
            files: [(base.to_string(), base_files)].into_iter().collect(),
            pulls: vec![pull],
            commits: vec![],
            collaborators: [
                ("alice-gh", "write"),
                ("carol", "write"),
                ("bob-gh", "write"),
            ]
            .into_iter()
            .map(|(l, p)| (l.to_string(), p.to_string()))
            .collect(),
            comments: vec![],
            ..Default::default()
        }],
        teams: vec![],
        tokens: BTreeMap::new(),
    }
}
