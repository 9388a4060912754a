//! The command line's conventions (issue 10, item 8): completions, `--version` with the commit,
//! one JSON document on stdout whatever happens, `::error` workflow commands for fatal errors,
//! fast credential failures, progress lines, `plan --format json`, `new`'s prompts, the
//! emulator seed that matches the example config.

mod support;
#[path = "support/world.rs"]
mod world;

use support::{NOW, T0, kv_jit, root, t0_plus};
use world::{REQUEST_ID, SUB, World};

/// A throwaway repository with the example config.
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".github")).unwrap();
    std::fs::copy(
        root().join(".github/kv-jit.yml"),
        tmp.path().join(".github/kv-jit.yml"),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("requests/2026")).unwrap();
    tmp
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{s}"))
}

const GOOD: &str = "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: alice@contoso.com\nvault: flowlibs-demo-kv\nsecret: demo-api-key\nduration: 2h\njustification: Rotate the partner API client after INC-4821\n";

// 1. Completions.

#[test]
fn completions_for_bash_zsh_and_fish_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let run = kv_jit(&root(), &["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for sub in [
            "validate",
            "new",
            "plan",
            "grant",
            "revoke",
            "status",
            "audit",
            "completions",
        ] {
            assert!(run.stdout.contains(sub), "{shell} completions lack `{sub}`");
        }
        assert!(run.stdout.contains("format"), "{shell}: the global flags");
    }
    for shell in ["elvish", "powershell"] {
        let run = kv_jit(&root(), &["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("validate"));
    }
    let bad = kv_jit(&root(), &["completions", "tcsh"], &[]);
    assert_eq!(bad.code, 2);
}

// 2. The version and its commit.

#[test]
fn version_names_the_commit_it_was_built_from() {
    let run = kv_jit(&root(), &["--version"], &[]);
    assert_eq!(run.code, 0);
    let line = run.stdout.trim();
    let prefix = format!("kv-jit {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = line
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("`{line}` is not `{prefix}COMMIT)`"));
    // The build script stamps what git says about this checkout (the test binary and kv-jit are
    // built by the same cargo run, so HEAD is the same); outside git it says `unknown`.
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(root())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    match (head, option_env!("KV_JIT_BUILD_COMMIT")) {
        (_, Some(release)) if !release.is_empty() => assert_eq!(commit, release),
        (Some(head), _) => assert!(
            commit == head || commit == format!("{head}-dirty"),
            "{commit} vs HEAD {head}"
        ),
        (None, _) => assert_eq!(commit, "unknown"),
    }
}

// 4. `--format json` prints one JSON document, fatal errors included.

#[test]
fn fatal_errors_are_one_json_document_with_the_exit_code() {
    let tmp = repo();
    std::fs::write(tmp.path().join("requests/2026/good.yaml"), GOOD).unwrap();
    std::fs::write(
        tmp.path().join("invalid.yml"),
        "tenant_id: x\nvaults: {}\nsurprise: 1\n",
    )
    .unwrap();
    // (arguments, extra environment, error code, exit code)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, i64);
    let cases: &[Case] = &[
        (
            &["validate", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (
            &["plan", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (
            &["status", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (
            &["grant", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (
            &["revoke", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (
            &["audit", "verify", "--config", "nope.yml"],
            &[],
            "config-not-found",
            2,
        ),
        (&["new", "--config", "nope.yml"], &[], "config-not-found", 2),
        (
            &["validate", "--offline", "--config", "invalid.yml"],
            &[],
            "config-invalid",
            2,
        ),
        (
            &["validate"],
            &[("PATH", "/nonexistent")],
            "azure-credential",
            2,
        ),
        (
            &["validate", "--now", "yesterday"],
            &[],
            "invalid-argument",
            2,
        ),
        (
            &["plan", "--now", "2026-13-01T00:00:00Z"],
            &[],
            "invalid-argument",
            2,
        ),
        (&["frobnicate"], &[], "usage", 2),
        (
            &["audit", "verify", "no/such/ledger.jsonl"],
            &[],
            "ledger-not-found",
            2,
        ),
        (
            &["validate", "--offline", "no/such/dir"],
            &[],
            "requests-unreadable",
            2,
        ),
        (&["plan"], &[], "ledger-unreadable", 1),
    ];
    for (args, env, code, exit) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--format", "json"]);
        let run = kv_jit(tmp.path(), &all, env);
        let doc = json(&run.stdout);
        assert_eq!(
            doc["error"]["code"], *code,
            "{args:?}: {doc}\n{}",
            run.stderr
        );
        assert_eq!(doc["exit"], *exit, "{args:?}");
        assert_eq!(i64::from(run.code), *exit, "{args:?}: {}", run.stderr);
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        // People still read the error on stderr.
        assert!(run.stderr.contains("error"), "{args:?}: {}", run.stderr);
    }
    // An invalid config's problems travel inside the document, located.
    let run = kv_jit(
        tmp.path(),
        &[
            "validate",
            "--offline",
            "--config",
            "invalid.yml",
            "--format",
            "json",
        ],
        &[],
    );
    let doc = json(&run.stdout);
    let codes: Vec<&str> = doc["error"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"unknown-key"), "{doc}");
    // `--format=json` is understood even when clap refuses the rest of the line.
    let run = kv_jit(tmp.path(), &["--format=json", "plan", "--bogus"], &[]);
    assert_eq!(json(&run.stdout)["error"]["code"], "usage");
    assert_eq!(run.code, 2);
}

#[test]
fn text_mode_fatal_errors_stay_text() {
    let tmp = repo();
    let run = kv_jit(tmp.path(), &["plan", "--config", "nope.yml"], &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error: config file `nope.yml` not found\n  help: "),
        "{}",
        run.stderr
    );
}

// 5. `::error` workflow commands for fatal errors in GitHub Actions.

#[test]
fn fatal_errors_become_workflow_commands_in_actions() {
    let tmp = repo();
    let actions = [("GITHUB_ACTIONS", "true")];
    let run = kv_jit(tmp.path(), &["plan", "--config", "nope.yml"], &actions);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stdout,
        "::error title=kv-jit::config file `nope.yml` not found%0Ahelp: run kv-jit from the repository root, or pass --config FILE\n"
    );
    // Hostile text in the message cannot start a command of its own or break the line.
    let run = kv_jit(
        tmp.path(),
        &["plan", "--config", "50%\n::warning::x,y:z"],
        &actions,
    );
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        "::error title=kv-jit::config file `50%25%0A::warning::x,y:z` not found%0Ahelp: run kv-jit from the repository root, or pass --config FILE"
    );
    assert_eq!(run.stdout.lines().count(), 1);
    // In JSON mode stdout stays one document; the command goes to stderr (the runner reads it).
    let run = kv_jit(
        tmp.path(),
        &["plan", "--config", "nope.yml", "--format", "json"],
        &actions,
    );
    assert_eq!(json(&run.stdout)["error"]["code"], "config-not-found");
    assert!(
        run.stderr
            .contains("::error title=kv-jit::config file `nope.yml` not found")
    );
    // A refused command line too.
    let run = kv_jit(tmp.path(), &["plan", "--now", "soon"], &actions);
    assert!(
        run.stdout
            .starts_with("::error title=kv-jit::invalid value 'soon' for '--now <RFC3339>'"),
        "{}",
        run.stdout
    );
    // Outside Actions: none.
    let run = kv_jit(tmp.path(), &["plan", "--config", "nope.yml"], &[]);
    assert!(!run.stdout.contains("::error"));
    let _ = NOW;
}

// 3. Progress lines as each item completes.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_and_revoke_print_a_progress_line_per_item_as_it_completes() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let grant = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(grant.code, 0, "{}{}", grant.stdout, grant.stderr);
    let line = format!(
        "granted {REQUEST_ID} (alice@contoso.com, flowlibs-demo-kv/demo-api-key, until 2026-11-27T11:00:00Z)"
    );
    let at = grant
        .stderr
        .find(&line)
        .unwrap_or_else(|| panic!("no progress line in:\n{}", grant.stderr));
    // Printed when the grant completed, before the ledger was pushed and the run summed up.
    let ledger = grant.stderr.find("ledger: ").expect("the ledger line");
    assert!(at < ledger, "{}", grant.stderr);
    assert_eq!(grant.stderr.matches("granted ").count(), 1);

    let revoke = w.kv_jit(&["revoke", "--now", &t0_plus(180)]).await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    let line =
        format!("revoked {REQUEST_ID} (alice@contoso.com, flowlibs-demo-kv/demo-api-key, expired)");
    let at = revoke
        .stderr
        .find(&line)
        .unwrap_or_else(|| panic!("{}", revoke.stderr));
    assert!(at < revoke.stderr.find("ledger: ").unwrap());
}

// 7. `plan --format json` says who, what, where, which role and when.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_carries_requester_vault_secret_role_scope_and_times() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    // A `--now` with a fraction of a second: the plan's times are still to the second.
    let run = w
        .kv_jit(&[
            "plan",
            "--now",
            "2026-11-27T09:00:00.250Z",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = json(&run.stdout);
    assert_eq!(
        plan,
        serde_json::json!([{
            "action": "grant",
            "request": REQUEST_ID,
            "requester": "alice@contoso.com",
            "vault": "flowlibs-demo-kv",
            "secret": "demo-api-key",
            "role": {"alias": "secrets-user", "id": "4633458b-17de-408a-b874-0445c86b69e6"},
            "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-flowlibs-demo/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv"),
            "duration": "2h",
            "start": "2026-11-27T09:00:00Z",
            "expires": "2026-11-27T11:00:00Z",
        }])
    );
    // After the grant, past its window: the revoke, from the ledger's record.
    let grant = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(grant.code, 0, "{}", grant.stderr);
    let run = w
        .kv_jit(&["plan", "--now", &t0_plus(180), "--format", "json"])
        .await;
    let plan = json(&run.stdout);
    let revoke = &plan[0];
    assert_eq!(revoke["action"], "revoke", "{plan}");
    assert_eq!(revoke["requester"], "alice@contoso.com");
    assert_eq!(revoke["secret"], "demo-api-key");
    assert_eq!(revoke["role"]["alias"], "secrets-user");
    assert_eq!(revoke["role"]["id"], "4633458b-17de-408a-b874-0445c86b69e6");
    assert!(
        revoke["scope"]
            .as_str()
            .unwrap()
            .ends_with("/vaults/flowlibs-demo-kv")
    );
    assert_eq!(revoke["start"], "2026-11-27T09:00:00Z");
    assert_eq!(revoke["expires"], "2026-11-27T11:00:00Z");
    assert_eq!(revoke["reason"], "expired");
}

// 6. Credential failures: exit 2, fast, saying which credential and which endpoint.

/// A repository whose config points every Azure endpoint at `base`, with one valid request,
/// and the environment of a client-secret sign-in that the operator allows to go there.
fn azure_repo(base: &str, secret: &str) -> (tempfile::TempDir, Vec<(String, String)>) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".github")).unwrap();
    std::fs::write(tmp.path().join(".github/kv-jit.yml"), world::config(base)).unwrap();
    std::fs::create_dir_all(tmp.path().join("requests/2026")).unwrap();
    std::fs::write(tmp.path().join("requests/2026/good.yaml"), GOOD).unwrap();
    let origin = url::Url::parse(base)
        .unwrap()
        .origin()
        .ascii_serialization();
    let env = [
        ("AZURE_CLIENT_ID", world::CLIENT_ID),
        ("AZURE_TENANT_ID", world::TENANT),
        ("AZURE_CLIENT_SECRET", secret),
        ("KV_JIT_ALLOWED_ENDPOINTS", origin.as_str()),
        ("PATH", "/nonexistent"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (tmp, env)
}

/// [`kv_jit`] off the async runtime that serves the emulator.
async fn kv_jit_async(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(String, String)],
) -> support::Run {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        kv_jit(&dir, &args, &env)
    })
    .await
    .unwrap()
}

fn token_requests(emu: &kv_jit_emulator::EmulatorHandle) -> usize {
    emu.core()
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/oauth2/v2.0/token"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_authority_is_a_configuration_error_without_retries() {
    // A loopback port nobody listens on: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let (tmp, env) = azure_repo(&base, "app-secret");
    for args in [
        &["validate", "--now", NOW][..],
        &["grant", "--now", NOW][..],
    ] {
        let run = kv_jit_async(tmp.path(), args, &env).await;
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        for part in [
            "client secret (AZURE_CLIENT_SECRET",
            &format!("cannot connect to the Entra token request endpoint {base}"),
            "check the endpoint",
        ] {
            assert!(
                run.stderr.contains(part),
                "{args:?}: `{part}` not in:\n{}",
                run.stderr
            );
        }
        assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
        let doc = {
            let mut json_args = args.to_vec();
            json_args.extend(["--format", "json"]);
            json(&kv_jit_async(tmp.path(), &json_args, &env).await.stdout)
        };
        assert_eq!(doc["error"]["code"], "azure-credential", "{doc}");
        assert_eq!(doc["exit"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_refused_once_and_exits_2() {
    let emu = kv_jit_emulator::spawn_at(
        kv_jit_emulator::Seed::from_yaml(&world::azure_seed()).unwrap(),
        support::t0(),
    )
    .await
    .unwrap();
    let base = emu.base_url().trim_end_matches('/').to_owned();
    let (tmp, env) = azure_repo(&base, "not-the-secret");
    let run = kv_jit_async(tmp.path(), &["validate", "--now", NOW], &env).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("client secret (AZURE_CLIENT_SECRET"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("invalid_client"), "{}", run.stderr);
    assert!(
        run.stderr.contains("check AZURE_CLIENT_ID and its secret"),
        "{}",
        run.stderr
    );
    assert_eq!(token_requests(&emu), 1, "a refusal is not retried");
    let grant = kv_jit_async(tmp.path(), &["grant", "--now", NOW], &env).await;
    assert_eq!(grant.code, 2, "{}{}", grant.stdout, grant.stderr);
    assert_eq!(token_requests(&emu), 2);
    assert!(
        emu.core()
            .log()
            .iter()
            .all(|e| !e.path.starts_with("/subscriptions")),
        "nothing reached ARM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_outage_is_retried_briefly_with_a_line_per_retry() {
    let emu = kv_jit_emulator::spawn_at(
        kv_jit_emulator::Seed::from_yaml(&world::azure_seed()).unwrap(),
        support::t0(),
    )
    .await
    .unwrap();
    // Entra answers 503 (asking to retry at once, so the test never waits) for a while.
    emu.core().add_fault(kv_jit_emulator::Fault {
        path_prefix: format!("/{}/oauth2", world::TENANT),
        path_contains: None,
        path_suffix: None,
        method: None,
        count: 100,
        kind: kv_jit_emulator::FaultKind::Status {
            status: 503,
            code: None,
            retry_after: Some(0),
        },
    });
    let base = emu.base_url().trim_end_matches('/').to_owned();
    let (tmp, env) = azure_repo(&base, "app-secret");
    let run = kv_jit_async(tmp.path(), &["validate", "--now", NOW], &env).await;
    // An outage is not a configuration error: the check could not be made (exit 1).
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("error[azure-check-failed]"),
        "{}",
        run.stdout
    );
    let retries: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("retrying Entra token request"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", run.stderr);
    assert!(
        retries[0].contains("(attempt 2 of 3): HTTP 503"),
        "{}",
        retries[0]
    );
    assert_eq!(token_requests(&emu), 3, "the token budget: 3 attempts");
}

// 8. `new`: never guesses the requester; every file ends with a newline.

/// `git config user.email` as git reads it from the environment, whatever the machine's config.
fn git_email(email: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".to_owned()),
    ];
    if let Some(e) = email {
        env.extend([
            ("GIT_CONFIG_COUNT", "1".to_owned()),
            ("GIT_CONFIG_KEY_0", "user.email".to_owned()),
            ("GIT_CONFIG_VALUE_0", e.to_owned()),
        ]);
    }
    env
}

const NEW: [&str; 8] = [
    "new",
    "--secret",
    "demo-api-key",
    "--duration",
    "2h",
    "--justification",
    "Rotate the partner API client after INC-4821",
    "--now",
];

#[test]
fn new_without_a_terminal_refuses_to_guess_the_requester() {
    let tmp = repo();
    for email in [None, Some("alice@gmail.com")] {
        let env = git_email(email);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut args = NEW.to_vec();
        args.push(NOW);
        let run = kv_jit(tmp.path(), &args, &env);
        assert_eq!(run.code, 2, "{email:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("missing --requester"), "{}", run.stderr);
        assert!(run.stderr.contains("will not guess"), "{}", run.stderr);
        assert!(run.stderr.contains("pass --requester"), "{}", run.stderr);
        if let Some(e) = email {
            assert!(
                run.stderr.contains(e),
                "names the address it did not use: {}",
                run.stderr
            );
        }
        assert!(
            !tmp.path()
                .join("requests/2026")
                .read_dir()
                .unwrap()
                .any(|_| true)
        );
    }
}

#[test]
fn new_uses_a_known_git_email_and_ends_the_file_with_a_newline() {
    let tmp = repo();
    let env = git_email(Some("alice@contoso.com"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = NEW.to_vec();
    args.extend([NOW, "--ticket", "INC-4821"]);
    let run = kv_jit(tmp.path(), &args, &env);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let path = run.stdout.trim();
    let text = std::fs::read_to_string(tmp.path().join(path)).unwrap();
    assert!(
        text.contains("requester: \"alice@contoso.com\"\n"),
        "{text}"
    );
    assert!(text.ends_with('\n'), "{text:?}");
    // And what it wrote validates.
    let check = kv_jit(tmp.path(), &["validate", "--offline", "--now", NOW], &[]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
}

// 9. The emulator seed in docs/ matches the example config.

#[test]
fn the_documented_emulator_seed_agrees_with_the_example_config() {
    use kv_jit_core::names::SecretName;
    let seed_text = std::fs::read_to_string(root().join("docs/emulator-seed.yaml")).unwrap();
    let seed = kv_jit_emulator::Seed::from_yaml(&seed_text).expect("the documented seed loads");
    let mut sink = kv_jit_core::diag::Sink::new(".github/kv-jit.yml".to_owned());
    let config = kv_jit_core::config::parse(
        &std::fs::read(root().join(".github/kv-jit.yml")).unwrap(),
        &mut sink,
    )
    .expect("the example config parses");

    let tenant = seed
        .tenants
        .iter()
        .find(|t| t.id.eq_ignore_ascii_case(&config.tenant_id))
        .unwrap_or_else(|| panic!("the seed has no tenant {}", config.tenant_id));
    for (name, policy) in &config.vaults {
        let vault = seed
            .vaults
            .iter()
            .find(|v| v.name == name.as_str())
            .unwrap_or_else(|| panic!("the seed has no vault {name}"));
        assert!(
            vault.tenant.eq_ignore_ascii_case(&config.tenant_id),
            "{name}: tenant"
        );
        assert_eq!(
            vault.subscription_id, policy.subscription_id,
            "{name}: subscription"
        );
        assert_eq!(
            vault.resource_group, policy.resource_group,
            "{name}: resource group"
        );
        assert!(vault.rbac, "{name}: kv-jit manages only RBAC vaults");
        // Every allow-list entry names (or, as a glob, matches) a secret the vault holds.
        for pattern in &policy.secrets.value {
            assert!(
                vault
                    .secrets
                    .keys()
                    .any(|s| SecretName::parse(s).is_ok_and(|s| pattern.matches(&s))),
                "{name}: the allow-list's `{}` matches no secret in the seed",
                pattern.text
            );
        }
    }
    // Everyone the config lets request exists in the tenant.
    for upn in config.identities.values() {
        assert!(
            tenant
                .users
                .iter()
                .any(|u| u.upn.eq_ignore_ascii_case(&upn.to_string())),
            "the seed has no user {upn}"
        );
    }
    // The GitHub section: the example request's pull request, by a login the identities bind,
    // approved on its head commit by the code owner of requests/.
    let repo = &seed.github.repos[0];
    let pull = &repo.pulls[0];
    assert!(
        config.identities.contains_key(&pull.author),
        "{} is not in identities",
        pull.author
    );
    assert!(
        pull.files
            .iter()
            .any(|f| root().join(&f.filename).is_file()),
        "the PR adds the example request"
    );
    let codeowners = &repo.files[&repo.default_branch][".github/CODEOWNERS"];
    let approval = pull.reviews.last().unwrap();
    assert_eq!(approval.state, "APPROVED");
    assert_eq!(approval.commit_id.as_deref(), Some(pull.head_sha.as_str()));
    assert!(
        codeowners.contains(&format!("@{}", approval.user)),
        "{codeowners}"
    );
    assert_ne!(approval.user, pull.author);
}
