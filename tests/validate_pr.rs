//! `kv-jit validate --pr N` against the GitHub emulator: only the PR's request files, the
//! PR-context checks, and one sticky plan comment however often it runs.

#[path = "support/github.rs"]
mod gh;
mod support;

use std::path::Path;

use support::{NOW, kv_jit, root};

const REQUEST: &str = gh::REQUEST;

fn config_text() -> String {
    std::fs::read_to_string(root().join(".github/kv-jit.yml")).unwrap()
}

fn request(requester: &str) -> String {
    format!(
        "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: {requester}\nvault: flowlibs-demo-kv\nsecret: demo-api-key\nduration: 2h\njustification: Rotate the partner API client after INC-4821\n"
    )
}

/// PR #7 (open) by alice-gh adds REQUEST; the base has the example config and CODEOWNERS.
fn seed() -> kv_jit_emulator::github::GithubSeed {
    let mut seed = gh::seed();
    for files in seed.repos[0].files.values_mut() {
        files.insert(".github/kv-jit.yml".into(), config_text());
    }
    let pull = gh::pull_mut(&mut seed);
    pull.merged = false;
    pull.merge_commit_sha = None;
    // The PR is open: main's tip is still its base.
    gh::repo_mut(&mut seed)
        .branches
        .insert("main".into(), gh::BASE.into());
    seed
}

fn checkout(requester: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(".github/kv-jit.yml", &config_text());
    write(REQUEST, &request(requester));
    // Not part of the PR: must not be checked.
    write("requests/2026/other.yaml", "not: [valid");
    tmp
}

async fn run(dir: &Path, url: &str) -> support::Run {
    let (dir, url) = (dir.to_owned(), url.to_owned());
    tokio::task::spawn_blocking(move || {
        kv_jit(
            &dir,
            &["validate", "--pr", "7", "--offline", "--now", NOW],
            &[
                ("GITHUB_API_URL", url.as_str()),
                ("GITHUB_TOKEN", gh::APP_TOKEN),
                ("GITHUB_REPOSITORY", "acme/access"),
                // APP_TOKEN is a GitHub App's: it comments as `<slug>[bot]`.
                ("KV_JIT_BOT_LOGIN", "kv-jit[bot]"),
            ],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_pr_gets_one_sticky_plan_comment_across_three_runs() {
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed()).await;
    let repo = checkout("alice@contoso.com");
    for _ in 0..3 {
        let out = run(repo.path(), &url).await;
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    let comments = state.comments();
    assert_eq!(comments.len(), 1, "one sticky comment, not one per run");
    let body = &comments[0].body;
    assert!(body.starts_with("<!-- kv-jit:plan -->"));
    assert!(body.contains("alice"), "{body}");
    assert!(body.contains("<code>flowlibs-demo-kv</code>"), "{body}");
    assert!(
        body.contains("1 of @\u{200b}carol, @\u{200b}acme/security"),
        "owners listed without pinging them: {body}"
    );
    assert!(body.contains("No problems found."), "{body}");
    assert!(
        !body.contains("other.yaml"),
        "files outside the PR are not checked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_for_someone_else_is_flagged_on_its_line_and_in_the_comment() {
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed()).await;
    let repo = checkout("bob@contoso.com");
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("{REQUEST}:3:12: error[requester-not-bound]: pull request author @alice-gh may request only for `alice@contoso.com`")),
        "{}",
        out.stdout
    );
    let body = &state.comments()[0].body;
    assert!(body.contains("1 problem(s) must be fixed"), "{body}");
    assert!(body.contains("requester-not-bound"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_problems_in_the_pr_file_are_reported_with_positions() {
    let (url, _state, _server) = kv_jit_emulator::github::spawn_for_tests(seed()).await;
    let repo = checkout("alice@contoso.com");
    std::fs::write(
        repo.path().join(REQUEST),
        request("alice@contoso.com").replace("2h", "9h"),
    )
    .unwrap();
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains(&format!("{REQUEST}:6:11: error[duration-too-long]")),
        "{}",
        out.stdout
    );
}

#[test]
fn without_a_token_it_is_a_usage_error() {
    let repo = checkout("alice@contoso.com");
    let out = kv_jit(
        repo.path(),
        &["validate", "--pr", "7"],
        &[("GITHUB_REPOSITORY", "acme/access")],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("GITHUB_TOKEN is not set"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_offline_the_pr_check_confirms_the_secret_or_says_it_could_not() {
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed()).await;
    let repo = checkout("alice@contoso.com");
    let (dir, url2) = (repo.path().to_owned(), url.clone());
    // No Azure credentials here (a fork's pull request gets none): fail closed, visibly.
    let out = tokio::task::spawn_blocking(move || {
        kv_jit(
            &dir,
            &["validate", "--pr", "7", "--now", NOW],
            &[
                ("GITHUB_API_URL", url2.as_str()),
                ("GITHUB_TOKEN", gh::APP_TOKEN),
                ("GITHUB_REPOSITORY", "acme/access"),
                ("PATH", "/nonexistent"),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{REQUEST}:5:9: error[azure-check-failed]: could not confirm the secret exists"
        )),
        "{}",
        out.stdout
    );
    assert!(state.comments()[0].body.contains("azure-check-failed"));
}

// ---- issue 8: the PR check uses the default branch, never the checkout ---------------------

#[path = "support/world.rs"]
mod world;

/// Counts TCP connections to a loopback port: where a pull request would like the credential sent.
async fn catcher() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_check_never_sends_the_credential_where_the_pr_config_says() {
    // main's config names the Azure emulator; the PR moves `cloud.authority_host` elsewhere.
    let azure = kv_jit_emulator::spawn_at(
        kv_jit_emulator::Seed::from_yaml(&world::azure_seed()).unwrap(),
        support::t0(),
    )
    .await
    .unwrap();
    let azure_url = azure.base_url().trim_end_matches('/').to_owned();
    let main_config = world::config(&azure_url);
    let (evil, hits) = catcher().await;
    let pr_config = main_config.replace(
        &format!("authority_host: {azure_url}"),
        &format!("authority_host: {evil}"),
    );
    assert_ne!(pr_config, main_config);
    let mut seed = seed();
    for files in seed.repos[0].files.values_mut() {
        files.insert(".github/kv-jit.yml".into(), main_config.clone());
    }
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
    let repo = checkout("alice@contoso.com");
    std::fs::write(repo.path().join(".github/kv-jit.yml"), &pr_config).unwrap();
    let dir = repo.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        kv_jit(
            &dir,
            &["validate", "--pr", "7", "--now", NOW],
            &[
                ("GITHUB_API_URL", url.as_str()),
                ("GITHUB_TOKEN", gh::APP_TOKEN),
                ("GITHUB_REPOSITORY", "acme/access"),
                ("AZURE_CLIENT_ID", world::CLIENT_ID),
                ("AZURE_TENANT_ID", world::TENANT),
                ("AZURE_CLIENT_SECRET", "app-secret"),
                // The operator allows main's emulator; even the PR's host being allowed
                // would not matter: the PR's config is never used.
                ("KV_JIT_ALLOWED_ENDPOINTS", azure_url.as_str()),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the PR's host got a connection"
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            ".github/kv-jit.yml:1:1: warning[changes-outside-requests]: checked under the config on the default branch `main`"
        ),
        "{}",
        out.stdout
    );
    // The secret's existence was confirmed with main's endpoints.
    assert!(
        azure
            .core()
            .log()
            .iter()
            .any(|e| e.path.contains("/secrets/demo-api-key")),
        "{:#?}",
        azure.core().log()
    );
    let body = &state.comments()[0].body;
    assert!(
        body.contains("checked under the config on the default branch"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_check_uses_the_default_branch_policy_not_the_checkout() {
    // The PR widens the allow-list in its own config and requests the new secret.
    let (url, _state, _server) = kv_jit_emulator::github::spawn_for_tests(seed()).await;
    let repo = checkout("alice@contoso.com");
    let widened = config_text().replace("demo-storage-key]", "demo-storage-key, demo-extra]");
    std::fs::write(repo.path().join(".github/kv-jit.yml"), widened).unwrap();
    std::fs::write(
        repo.path().join(REQUEST),
        request("alice@contoso.com").replace("secret: demo-api-key", "secret: demo-extra"),
    )
    .unwrap();
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("{REQUEST}:5:9: error[secret-not-allowed]")),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_check_fails_closed_when_the_default_branch_config_is_invalid() {
    let mut seed = seed();
    seed.repos[0]
        .files
        .get_mut(gh::BASE)
        .unwrap()
        .insert(".github/kv-jit.yml".into(), "tenant_id: [oops\n".into());
    let (url, _state, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
    let repo = checkout("alice@contoso.com");
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("the config `.github/kv-jit.yml` on the default branch `main` is invalid"),
        "{}",
        out.stderr
    );
    // Missing there: the same.
    let mut missing = self::seed();
    missing.repos[0]
        .files
        .get_mut(gh::BASE)
        .unwrap()
        .remove(".github/kv-jit.yml");
    let (url, _state, _server) = kv_jit_emulator::github::spawn_for_tests(missing).await;
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("there is no config `.github/kv-jit.yml` on the default branch `main`"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_check_reads_codeowners_at_the_default_branch_tip_not_the_base_sha() {
    // `base.sha` (BASE) still names carol; main has moved on and names only @acme/security.
    const TIP: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
    let mut seed = seed();
    let mut tip = seed.repos[0].files[gh::BASE].clone();
    tip.insert(
        ".github/CODEOWNERS".into(),
        "/requests/ @acme/security\n".into(),
    );
    seed.repos[0].files.insert(TIP.into(), tip);
    seed.repos[0].branches.insert("main".into(), TIP.into());
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
    let repo = checkout("alice@contoso.com");
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let body = &state.comments()[0].body;
    assert!(body.contains("1 of @\u{200b}acme/security |"), "{body}");
    assert!(!body.contains("carol"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_pr_that_changes_files_outside_requests_is_flagged() {
    let mut seed = seed();
    gh::pull_mut(&mut seed)
        .files
        .push(kv_jit_emulator::github::FileSeed {
            filename: ".github/workflows/grant.yml".into(),
            status: "modified".into(),
            previous_filename: None,
        });
    let (url, _state, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
    let repo = checkout("alice@contoso.com");
    let out = run(repo.path(), &url).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{REQUEST}:1:1: error[changes-outside-requests]: pull request #7 changes files outside requests/ (`.github/workflows/grant.yml`)"
        )),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_github_token_the_sticky_comment_is_github_actions_bots() {
    // A human planted a comment that starts with the marker: it is neither edited nor adopted.
    let mut seed = seed();
    gh::repo_mut(&mut seed)
        .comments
        .push(kv_jit_emulator::github::CommentSeed {
            issue: 7,
            user: "mallory".into(),
            body: "<!-- kv-jit:plan -->\nApproved by security, merge away".into(),
        });
    let (url, state, _server) = kv_jit_emulator::github::spawn_for_tests(seed).await;
    let repo = checkout("alice@contoso.com");
    for _ in 0..2 {
        let (dir, url) = (repo.path().to_owned(), url.clone());
        let out = tokio::task::spawn_blocking(move || {
            kv_jit(
                &dir,
                &["validate", "--pr", "7", "--offline", "--now", NOW],
                &[
                    ("GITHUB_API_URL", url.as_str()),
                    ("GITHUB_TOKEN", gh::ACTIONS_TOKEN),
                    ("GITHUB_REPOSITORY", "acme/access"),
                ],
            )
        })
        .await
        .unwrap();
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    let comments = state.comments();
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(
        (comments[0].user.as_str(), comments[0].updated),
        ("mallory", 0)
    );
    assert_eq!(comments[1].user, "github-actions[bot]");
    assert!(comments[1].body.contains("No problems found."));
}
