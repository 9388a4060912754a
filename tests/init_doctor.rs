//! `kv-jit init` into a fresh git repository, and `kv-jit doctor` on what it wrote, against the
//! Azure and GitHub emulator (one loopback port, virtual clock at T0). Each broken piece of a
//! setup is named by the check that catches it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use kv_jit_emulator::{EmulatorHandle, Seed};
use support::{Run, t0};

const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const SUB: &str = "22222222-2222-2222-2222-222222222222";
const CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

const ALL_FILES: [&str; 8] = [
    ".github/kv-jit.yml",
    ".github/CODEOWNERS",
    ".github/workflows/kv-jit-validate.yml",
    ".github/workflows/kv-jit-grant.yml",
    ".github/workflows/kv-jit-revoke.yml",
    ".github/workflows/kv-jit-request.yml",
    ".github/ISSUE_TEMPLATE/kv-jit-request.yml",
    "requests/README.md",
];

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A fresh, empty git repository whose origin is on GitHub.
fn empty_repo(tmp: &Path) -> PathBuf {
    let dir = tmp.join("access");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "--quiet", "--initial-branch=main"]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/access.git",
        ],
    );
    dir
}

fn init_flags() -> Vec<&'static str> {
    vec![
        "init",
        "--yes",
        "--tenant-id",
        TENANT,
        "--vault",
        "flowlibs-demo-kv",
        "--subscription",
        SUB,
        "--resource-group",
        "rg-flowlibs-demo",
        "--secrets",
        "demo-api-key,demo-connection-string",
        "--owners",
        "@carol",
        "--identity",
        "alice-gh=alice@contoso.com",
        "--action-ref",
        SHA,
    ]
}

fn init(dir: &Path, extra: &[&str]) -> Run {
    let mut args = init_flags();
    args.extend_from_slice(extra);
    support::kv_jit(dir, &args, &[])
}

#[test]
fn init_writes_files_that_validate_doctor_and_yaml_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = empty_repo(tmp.path());
    let run = init(&dir, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for f in ALL_FILES {
        assert!(
            run.stdout.contains(&format!("wrote    {f}")),
            "{f}: {}",
            run.stdout
        );
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        if f.ends_with(".yml") {
            let mut sink = kv_jit_core::diag::Sink::new(f);
            assert!(
                kv_jit_core::yaml::parse(text.as_bytes(), &mut sink).is_some(),
                "{f} is not YAML: {:?}",
                sink.diags
            );
            assert!(!text.contains("uses: ./\n"), "{f} still uses ./");
        }
    }
    let grant = std::fs::read_to_string(dir.join(".github/workflows/kv-jit-grant.yml")).unwrap();
    assert!(
        grant.contains(&format!("uses: acme/kv-jit@{SHA}")),
        "{grant}"
    );
    // The repository came from `git remote get-url origin`, the branch from HEAD.
    assert!(run.stdout.contains("repo:acme/access:environment:kv-jit"));
    assert!(run.stdout.contains("repo:acme/access:pull_request"));
    assert!(run.stdout.contains("--role \"Key Vault Data Access Administrator\" --scope /subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/rg-flowlibs-demo/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv"));
    assert!(run.stdout.contains("--role \"Key Vault Reader\""));
    assert!(
        run.stdout
            .contains("df021288-bdef-4463-88db-98f22de89214=Role")
    );
    assert!(
        run.stdout
            .contains("deployment-branch-policies -f name=main")
    );

    let validate = support::kv_jit(&dir, &["validate", "--offline"], &[]);
    assert_eq!(validate.code, 0, "{}{}", validate.stdout, validate.stderr);
    let doctor = support::kv_jit(&dir, &["doctor", "--offline", "--format", "json"], &[]);
    assert_eq!(doctor.code, 0, "{}{}", doctor.stdout, doctor.stderr);
    let doc: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert_eq!(doc["ok"], true, "{doc}");
    for c in doc["checks"].as_array().unwrap() {
        assert!(
            c["status"] == "ok" || c["status"] == "skipped",
            "{c} in {doc}"
        );
    }
}

#[test]
fn init_twice_overwrites_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = empty_repo(tmp.path());
    assert_eq!(init(&dir, &[]).code, 0);
    // The owner edits a file; a second init (other answers) must keep it as it is.
    std::fs::write(dir.join(".github/CODEOWNERS"), "/requests/ @dave\n").unwrap();
    let before: Vec<String> = ALL_FILES
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect();
    let again = init(&dir, &["--max-duration", "1h", "--action", "other/kv-jit"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    for (f, text) in ALL_FILES.iter().zip(&before) {
        assert!(
            again.stdout.contains(&format!("skipped  {f} (exists")),
            "{f}: {}",
            again.stdout
        );
        assert_eq!(&std::fs::read_to_string(dir.join(f)).unwrap(), text, "{f}");
    }
    assert!(!again.stdout.contains("wrote"), "{}", again.stdout);
}

#[test]
fn a_bad_or_missing_value_is_a_usage_error_naming_its_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = empty_repo(tmp.path());
    for (flag, bad, words) in [
        ("--vault", "bad_vault", "--vault"),
        ("--tenant-id", "not-a-guid", "--tenant-id"),
        ("--subscription", "42", "--subscription"),
        ("--secrets", "a/b", "--secrets"),
        ("--owners", "carol", "--owners"),
        ("--identity", "alice-gh=alice", "--identity"),
        ("--max-duration", "forever", "--max-duration"),
    ] {
        let mut args = init_flags();
        let i = args.iter().position(|a| *a == flag);
        match i {
            Some(i) => args[i + 1] = bad,
            None => args.extend([flag, bad]),
        }
        let run = support::kv_jit(&dir, &args, &[]);
        assert_eq!(run.code, 2, "{flag}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(words), "{flag}: {}", run.stderr);
    }
    // Nothing was written by the refused runs.
    assert!(!dir.join(".github").exists());
    // A missing value without a terminal names its flag too.
    let run = support::kv_jit(
        &dir,
        &["init", "--yes", "--tenant-id", TENANT, "--vault", "kv-a"],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("missing --subscription"),
        "{}",
        run.stderr
    );
    // No origin to infer the repository from: --repo is asked for by name.
    let bare = tmp.path().join("no-origin");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--quiet", "--initial-branch=main"]);
    let run = init(&bare, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("missing --repo"), "{}", run.stderr);
    let run = init(&bare, &["--repo", "acme/other"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("repo:acme/other:pull_request"));
}

// ---- doctor against the emulator ----

struct Vault {
    rbac: bool,
    /// `Some(vec![])`: no identity administers the vault (no roleAssignments/write).
    admins: Option<Vec<&'static str>>,
}

const GOOD_VAULT: Vault = Vault {
    rbac: true,
    admins: None,
};

const FULL_RULESET: &str = "
      rulesets:
        - id: 1
          branches: ['~DEFAULT_BRANCH']
          non_fast_forward: true
          deletion: true
          pull_request: { require_code_owner_review: true, dismiss_stale_reviews_on_push: true, require_last_push_approval: true }";

fn seed(vault: &Vault, github_repo_extra: &str, tokens: &str) -> String {
    let admins = match &vault.admins {
        None => String::new(),
        Some(a) => format!("\n    admins: [{}]", a.join(", ")),
    };
    format!(
        r#"
tenants:
  - id: {TENANT}
    apps:
      - {{ client_id: {CLIENT_ID}, object_id: 44444444-4444-4444-4444-444444444444, name: kv-jit-workflow, secret: app-secret }}
    users:
      - {{ upn: alice@contoso.com, id: aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa }}
vaults:
  - name: flowlibs-demo-kv
    tenant: {TENANT}
    subscription_id: {SUB}
    resource_group: rg-flowlibs-demo
    rbac: {rbac}{admins}
    secrets:
      demo-api-key: s3cr3t-value
github:
  repos:
    - owner: acme
      name: access{github_repo_extra}
{tokens}
"#,
        rbac = vault.rbac,
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    emu: EmulatorHandle,
}

impl Setup {
    /// `kv-jit init` in a fresh repository, its config pointed at the emulator.
    async fn new(seed_yaml: &str) -> Setup {
        let emu = kv_jit_emulator::spawn_at(Seed::from_yaml(seed_yaml).unwrap(), t0())
            .await
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = empty_repo(tmp.path());
        let run = init(&dir, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let base = emu.base_url();
        let path = dir.join(".github/kv-jit.yml");
        let config = std::fs::read_to_string(&path).unwrap().replace(
            "cloud: AzureCloud\n",
            &format!(
                "cloud:\n  authority_host: {base}\n  resource_manager: {base}\n  graph: {base}/graph\n"
            ),
        );
        std::fs::write(&path, config).unwrap();
        Setup {
            _tmp: tmp,
            dir,
            emu,
        }
    }

    /// `kv-jit doctor --format json` with a grant workflow's environment (plus `extra`).
    async fn doctor(&self, extra: &[(&str, &str)]) -> (i32, serde_json::Value) {
        let base = self.emu.base_url();
        let mut env: Vec<(String, String)> = [
            ("AZURE_CLIENT_ID", CLIENT_ID),
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_SECRET", "app-secret"),
            ("KV_JIT_ALLOWED_ENDPOINTS", base.as_str()),
            ("GITHUB_API_URL", base.as_str()),
            ("GITHUB_TOKEN", "test-token"),
            ("GITHUB_REPOSITORY", "acme/access"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let dir = self.dir.clone();
        let run = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            support::kv_jit(&dir, &["doctor", "--format", "json"], &env)
        })
        .await
        .unwrap();
        let doc = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
        (run.code, doc)
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.dir.join(path), text).unwrap();
    }

    /// Writes a valid two-entry ledger at the config's path.
    fn write_ledger(&self) -> String {
        use kv_jit_core::ledger::{Event, NewEntry, Tip, append, to_line};
        let new = |request: &str| NewEntry {
            request: Some(request.into()),
            error: Some("refused for the test".into()),
            ..NewEntry::new(t0(), Event::Refused)
        };
        let entries = append(
            &Tip::of(&[]),
            vec![new("2026/alice-one"), new("2026/alice-two")],
        );
        let text: String = entries.iter().map(to_line).collect();
        std::fs::create_dir_all(self.dir.join("audit")).unwrap();
        self.write("audit/ledger.jsonl", &text);
        text
    }
}

fn check<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {doc}"))
}

/// Exactly the checks named in `problems` report a problem, and the run exits 1 (0 if none).
fn assert_problems(code: i32, doc: &serde_json::Value, problems: &[&str]) {
    let found: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "problem")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(found, problems, "{doc:#}");
    assert_eq!(code, if problems.is_empty() { 0 } else { 1 }, "{doc:#}");
    assert_eq!(doc["ok"], problems.is_empty());
    for c in doc["checks"].as_array().unwrap() {
        if c["status"] == "problem" {
            assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_writes_nothing() {
    let s = Setup::new(&seed(&GOOD_VAULT, FULL_RULESET, "")).await;
    s.write_ledger();
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &[]);
    for name in [
        "config",
        "codeowners",
        "codeowners-requests",
        "codeowners-config",
        "vault-owners",
        "workflows",
        "workflows-action",
        "workflows-pinned",
        "ledger",
        "azure-credential",
        "vault flowlibs-demo-kv",
        "vault flowlibs-demo-kv permissions",
        "graph",
        "branch main (default)",
    ] {
        assert_eq!(check(&doc, name)["status"], "ok", "{name}: {doc:#}");
    }
    assert!(
        check(&doc, "ledger")["message"]
            .as_str()
            .unwrap()
            .contains("2 entries")
    );
    // Read-only: every request the emulator served was a GET or a token request.
    let log = s.emu.core().log();
    assert!(!log.is_empty());
    for e in &log {
        assert!(
            e.method == "GET" || e.path.ends_with("/oauth2/v2.0/token"),
            "doctor wrote: {} {}",
            e.method,
            e.path
        );
    }
    assert!(log.iter().any(|e| {
        e.path
            .ends_with("/providers/Microsoft.Authorization/permissions")
    }));
    assert!(log.iter().any(|e| e.path.ends_with("/rules/branches/main")));
    assert!(
        log.iter()
            .any(|e| e.path.ends_with("/branches/main/protection"))
    );

    // Text output: one line per check, and the verdict.
    let dir = s.dir.clone();
    let base = s.emu.base_url();
    let text = tokio::task::spawn_blocking(move || {
        support::kv_jit(
            &dir,
            &["doctor", "--offline"],
            &[("KV_JIT_ALLOWED_ENDPOINTS", &base)],
        )
    })
    .await
    .unwrap();
    assert_eq!(text.code, 0, "{}", text.stdout);
    assert!(
        text.stdout.contains("ok       workflows-pinned: "),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.ends_with("doctor: no problems found\n"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_each_broken_codeowners_workflow_and_ledger_piece() {
    let s = Setup::new(&seed(&GOOD_VAULT, FULL_RULESET, "")).await;

    // Missing CODEOWNERS.
    std::fs::remove_file(s.dir.join(".github/CODEOWNERS")).unwrap();
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["codeowners"]);
    assert!(
        check(&doc, "codeowners")["message"]
            .as_str()
            .unwrap()
            .contains("no CODEOWNERS file")
    );

    // The request paths uncovered (only the config is owned).
    s.write(".github/CODEOWNERS", "/.github/ @carol\n");
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["codeowners-requests", "vault-owners"]);
    let msg = check(&doc, "codeowners-requests")["message"]
        .as_str()
        .unwrap();
    assert!(msg.contains("requests/kv-jit-probe.yaml"), "{msg}");
    assert!(
        check(&doc, "vault-owners")["message"]
            .as_str()
            .unwrap()
            .contains("flowlibs-demo-kv")
    );

    // The config uncovered.
    s.write(".github/CODEOWNERS", "/requests/ @carol\n");
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["codeowners-config"]);
    s.write(
        ".github/CODEOWNERS",
        "/requests/ @carol\n/.github/ @carol\n",
    );

    // An unpinned workflow, named by file and line.
    let path = ".github/workflows/kv-jit-revoke.yml";
    let text = std::fs::read_to_string(s.dir.join(path)).unwrap();
    // Whatever commit the shipped workflow pins, unpin it to a tag.
    let pinned = text
        .lines()
        .find_map(|l| l.split("uses: actions/checkout@").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the revoke workflow checks out the repository")
        .to_owned();
    assert_eq!(pinned.len(), 40, "{pinned}");
    s.write(
        path,
        &text.replace(&format!("actions/checkout@{pinned}"), "actions/checkout@v4"),
    );
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["workflows-pinned"]);
    let msg = check(&doc, "workflows-pinned")["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("{path}:")) && msg.contains("actions/checkout@v4"),
        "{msg}"
    );
    s.write(path, &text);

    // A tampered ledger.
    let ledger = s.write_ledger();
    s.write(
        "audit/ledger.jsonl",
        &ledger.replacen("2026/alice-one", "2026/alice-0ne", 1),
    );
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["ledger"]);

    // Repaired: all good again.
    s.write_ledger();
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_rejected_credential() {
    let s = Setup::new(&seed(&GOOD_VAULT, FULL_RULESET, "")).await;
    let (code, doc) = s.doctor(&[("AZURE_CLIENT_SECRET", "wrong")]).await;
    assert_problems(code, &doc, &["azure-credential"]);
    // The checks that need the credential are skipped, not failed a second time.
    assert_eq!(check(&doc, "azure")["status"], "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_vault_not_in_rbac_mode() {
    let vault = Vault {
        rbac: false,
        admins: None,
    };
    let s = Setup::new(&seed(&vault, FULL_RULESET, "")).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["vault flowlibs-demo-kv"]);
    let c = check(&doc, "vault flowlibs-demo-kv");
    assert!(
        c["message"].as_str().unwrap().contains("access policies"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("--enable-rbac-authorization true"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_missing_role_assignment_write_permission() {
    let vault = Vault {
        rbac: true,
        admins: Some(vec![]),
    };
    let s = Setup::new(&seed(&vault, FULL_RULESET, "")).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["vault flowlibs-demo-kv permissions"]);
    let c = check(&doc, "vault flowlibs-demo-kv permissions");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains("Microsoft.Authorization/roleAssignments/write"),
        "{msg}"
    );
    assert!(
        msg.contains("Microsoft.Authorization/roleAssignments/delete"),
        "{msg}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("Key Vault Data Access Administrator")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_an_unprotected_branch_and_stale_approvals() {
    // No ruleset, no classic protection.
    let s = Setup::new(&seed(&GOOD_VAULT, "", "")).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["branch main (default)"]);
    let msg = check(&doc, "branch main (default)")["message"]
        .as_str()
        .unwrap();
    assert!(msg.starts_with("branch not protected"), "{msg}");
    for words in [
        "code-owner review is not required",
        "force pushes are allowed",
        "the branch may be deleted",
    ] {
        assert!(msg.contains(words), "{words}: {msg}");
    }

    // A ruleset that does not dismiss stale approvals.
    let stale = FULL_RULESET.replace(
        "dismiss_stale_reviews_on_push: true",
        "dismiss_stale_reviews_on_push: false",
    );
    let s = Setup::new(&seed(&GOOD_VAULT, &stale, "")).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &["branch main (default)"]);
    let c = check(&doc, "branch main (default)");
    assert_eq!(
        c["message"], "stale approvals are not dismissed on new pushes",
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("Dismiss stale pull request approvals")
    );

    // Classic protection alone, complete, also passes.
    let classic = "
      protection:
        main:
          required_pull_request_reviews: { require_code_owner_reviews: true, dismiss_stale_reviews: true, require_last_push_approval: true }";
    let s = Setup::new(&seed(&GOOD_VAULT, classic, "")).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_when_the_token_cannot_read_classic_protection() {
    // An Actions token: no Administration read; no ruleset either.
    let tokens = "  tokens:\n    test-token: { login: 'github-actions[bot]' }";
    let s = Setup::new(&seed(&GOOD_VAULT, "", tokens)).await;
    let (code, doc) = s.doctor(&[]).await;
    assert_problems(code, &doc, &[]);
    let c = check(&doc, "branch main (default)");
    assert_eq!(c["status"], "warning", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("could not be read"),
        "{c}"
    );
    assert!(
        c["fix"].as_str().unwrap().contains("Administration: read"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_a_dedicated_ledger_branch_for_force_pushes_and_deletion() {
    let ledger_rules = format!(
        "{FULL_RULESET}
        - id: 2
          branches: ['refs/heads/audit/ledger']
          non_fast_forward: true
          deletion: true"
    );
    for (rules, problems) in [
        (
            FULL_RULESET.to_owned(),
            &["branch audit/ledger (ledger)"][..],
        ),
        (ledger_rules, &[][..]),
    ] {
        let s = Setup::new(&seed(&GOOD_VAULT, &rules, "")).await;
        let config = std::fs::read_to_string(s.dir.join(".github/kv-jit.yml")).unwrap();
        s.write(
            ".github/kv-jit.yml",
            &config.replace("  branch: main\n", "  branch: audit/ledger\n"),
        );
        let (code, doc) = s.doctor(&[]).await;
        assert_problems(code, &doc, problems);
        let c = check(&doc, "branch audit/ledger (ledger)");
        if !problems.is_empty() {
            // The grant workflow pushes to it directly: only force pushes and deletion count.
            assert_eq!(
                c["message"],
                "branch not protected: force pushes are allowed, the branch may be deleted",
                "{c}"
            );
        }
    }
}
