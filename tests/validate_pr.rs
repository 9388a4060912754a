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
fn seed() -> kv_jit::emulator::github::GithubSeed {
    let mut seed = gh::seed();
    for files in seed.repos[0].files.values_mut() {
        files.insert(".github/kv-jit.yml".into(), config_text());
    }
    let pull = gh::pull_mut(&mut seed);
    pull.merged = false;
    pull.merge_commit_sha = None;
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
            ],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_pr_gets_one_sticky_plan_comment_across_three_runs() {
    let (url, state, _server) = kv_jit::emulator::github::spawn_for_tests(seed()).await;
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
    let (url, state, _server) = kv_jit::emulator::github::spawn_for_tests(seed()).await;
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
    let (url, _state, _server) = kv_jit::emulator::github::spawn_for_tests(seed()).await;
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
    let (url, state, _server) = kv_jit::emulator::github::spawn_for_tests(seed()).await;
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
