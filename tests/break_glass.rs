//! Break-glass end to end: a request with `break_glass: true` on a vault that allows it is
//! granted on merge without code-owner approvals, every other rule holding; the grant is marked
//! in the ledger, the run's output and the job summary; a retrospective issue is opened once
//! (also across crashes), and `status` shows it open until a code owner approves and closes it.

mod support;
#[path = "support/world.rs"]
mod world;

use std::collections::BTreeMap;

use kv_jit_emulator::github::{GithubSeed, TokenSeed};
use support::T0;
use world::World;

/// The vault allows break-glass for up to 1h.
fn allowing(config: String) -> String {
    config.replace(
        "    max_duration: 4h\n",
        "    max_duration: 4h\n    break_glass:\n      max_duration: 1h\n",
    )
}

fn break_glass(duration: &str) -> String {
    world::request("alice@contoso.com", duration) + "break_glass: true\n"
}

/// Tokens: kv-jit's acts as the workflow's bot; carol (the code owner) and alice-gh (the
/// requester) comment with their own.
fn with_tokens(mut seed: GithubSeed) -> GithubSeed {
    let token = |login: &str| TokenSeed {
        login: login.into(),
        permissions: vec![],
    };
    seed.tokens = BTreeMap::from([
        ("test-token".to_owned(), token("github-actions[bot]")),
        ("carol-token".to_owned(), token("carol")),
        ("alice-token".to_owned(), token("alice-gh")),
    ]);
    seed
}

/// A world whose PR #7 was merged by an admin past branch protection: nobody reviewed it.
async fn unreviewed(request: &str, edit: impl Fn(String) -> String) -> World {
    let w = World::new_with(request, edit).await;
    let config = std::fs::read_to_string(w.work.join(".github/kv-jit.yml")).unwrap();
    let mut seed = w.reseed_github(&config, "carol");
    seed.repos[0].pulls[0].reviews.clear();
    w.github.reseed(with_tokens(seed));
    w
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn ledger_lines(w: &World) -> Vec<serde_json::Value> {
    w.origin_ledger()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The retrospective issues on the GitHub side (as kv-jit's token sees them).
async fn retrospective_issues(w: &World) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/repos/acme/access/issues?state=all&labels=kv-jit-retrospective",
        w.github_url
    );
    http()
        .get(url)
        .bearer_auth("test-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn as_user(
    w: &World,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) {
    let response = http()
        .request(method, format!("{}{path}", w.github_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_granted_without_approvals_and_marked_everywhere() {
    let w = unreviewed(&break_glass("1h"), allowing).await;
    let summary = w.tmp.path().join("summary.md");
    let run = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
        )
        .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("granted       2026/alice-api-key (BREAK-GLASS: no code-owner approval)"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 1);
    // The ledger marks it: no approver, every owner told, then the retrospective's issue.
    let lines = ledger_lines(&w);
    assert_eq!(lines[0]["event"], "granted");
    assert_eq!(lines[0]["break_glass"], true);
    assert_eq!(lines[0]["approvals"]["by"], serde_json::json!([]));
    assert_eq!(
        lines[0]["approvals"]["owners"],
        serde_json::json!(["@carol"])
    );
    assert_eq!(lines[0]["approvals"]["pr"], 7);
    assert_eq!(lines[1]["event"], "retrospective");
    assert_eq!(lines[1]["request"], "2026/alice-api-key");
    // The issue: titled, labelled, mentioning every owner, linking the pull request.
    let issues = retrospective_issues(&w).await;
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = &issues[0];
    assert_eq!(lines[1]["issue"], issue["number"]);
    assert_eq!(
        issue["title"],
        "Break-glass retrospective: 2026/alice-api-key"
    );
    let body = issue["body"].as_str().unwrap();
    for want in [
        "- **Owners:** @carol",
        "- **Pull request:** #7",
        "2026-11-27T09:00:00Z until 2026-11-27T10:00:00Z",
    ] {
        assert!(body.contains(want), "{want} not in {body}");
    }
    // The job summary says BREAK-GLASS and names the owner.
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("**BREAK-GLASS**"), "{summary}");
    assert!(summary.contains("owners told: @\u{200b}carol"), "{summary}");
    assert!(
        kv_jit_core::ledger::verify_bytes("l", w.origin_ledger().as_bytes()).is_ok(),
        "the ledger verifies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_break_glass_the_same_unreviewed_merge_is_refused() {
    // The control: only `break_glass: true` makes the missing approval acceptable.
    let w = unreviewed(&world::request("alice@contoso.com", "1h"), allowing).await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("has 0 of 1 required code-owner approvals"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert!(retrospective_issues(&w).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_refused_on_a_vault_that_does_not_allow_it() {
    let w = unreviewed(&break_glass("1h"), |c| c).await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("break-glass-not-allowed")
            || run.stderr.contains("break-glass-not-allowed"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert_eq!(ledger_lines(&w)[0]["event"], "refused");
    assert!(retrospective_issues(&w).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_refused_over_its_maximum() {
    // 2h is within the vault's 4h, over break-glass's 1h.
    let w = unreviewed(&break_glass("2h"), allowing).await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("break-glass-too-long"), "{all}");
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert_eq!(ledger_lines(&w)[0]["event"], "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_cannot_allow_break_glass_for_itself() {
    // Main before the PR does not allow break-glass; the PR adds `break_glass:` to the config.
    let w = World::new_with_pr_config(&break_glass("1h"), allowing).await;
    let config = std::fs::read_to_string(w.work.join(".github/kv-jit.yml")).unwrap();
    let mut seed = w.reseed_github(&config, "carol");
    seed.repos[0].pulls[0].reviews.clear();
    w.github.reseed(with_tokens(seed));
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("under the config before this pull request the request is not allowed (break-glass-not-allowed"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_still_binds_the_requester_to_the_pr_author() {
    // bob-gh opens a break-glass request for alice: the binding holds for break-glass too.
    let w = unreviewed(&break_glass("1h"), allowing).await;
    let config = std::fs::read_to_string(w.work.join(".github/kv-jit.yml")).unwrap();
    let mut seed = w.reseed_github(&config, "carol");
    seed.repos[0].pulls[0].reviews.clear();
    seed.repos[0].pulls[0].author = "bob-gh".into();
    seed.repos[0].pulls[0].commits[0].author = Some("bob-gh".into());
    w.github.reseed(with_tokens(seed));
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("may request only for `bob@contoso.com`"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
    assert!(retrospective_issues(&w).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retrospective_is_opened_once_across_reruns_and_crashes() {
    let w = unreviewed(&break_glass("1h"), allowing).await;
    // Killed right after the ledger push: granted, no issue yet.
    let run = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[("KV_JIT_FAILPOINT", "after-ledger-push")],
        )
        .await;
    assert_eq!(run.code, -9, "{}{}", run.stdout, run.stderr);
    assert!(retrospective_issues(&w).await.is_empty());
    let events: Vec<String> = w.ledger_events().into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["granted"]);
    // Killed right after creating the issue, before recording it.
    let run = w
        .kv_jit_in(
            &w.work,
            &["grant", "--now", T0],
            &[("KV_JIT_FAILPOINT", "after-retrospective-issue")],
        )
        .await;
    assert_eq!(run.code, -9, "{}{}", run.stdout, run.stderr);
    assert_eq!(retrospective_issues(&w).await.len(), 1);
    let events: Vec<String> = w.ledger_events().into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["granted"]);
    // The next run finds the issue by its marker and records it; later runs do nothing.
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("was already open; recorded"),
        "{}",
        run.stderr
    );
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let issues = retrospective_issues(&w).await;
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let events: Vec<String> = w.ledger_events().into_iter().map(|e| e.0).collect();
    assert_eq!(events, ["granted", "retrospective"]);
    assert_eq!(ledger_lines(&w)[1]["issue"], issues[0]["number"]);
    // Exactly one create call ever reached GitHub.
    let creates = w
        .github
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/repos/acme/access/issues"))
        .count();
    assert_eq!(creates, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_retrospective_open_then_done() {
    let w = unreviewed(&break_glass("1h"), allowing).await;
    let run = w.kv_jit(&["grant", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let number = retrospective_issues(&w).await[0]["number"]
        .as_u64()
        .unwrap();
    let later = "2026-11-27T09:30:00Z";
    let status = w.kv_jit(&["status", "--now", later]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("BREAK-GLASS"), "{}", status.stdout);
    assert!(
        status.stdout.contains(&format!(
            "2026/alice-api-key  open  #{number}: no `/approve` from a code owner of the request"
        )),
        "{}",
        status.stdout
    );
    // The revoke run warns while it is not done.
    let revoke = w.kv_jit(&["revoke", "--now", later]).await;
    assert!(
        revoke.stderr.contains(&format!(
            "warning: break-glass grant 2026/alice-api-key: retrospective #{number} is not done"
        )),
        "{}",
        revoke.stderr
    );
    // The requester's own approval does not count, even once the issue is closed.
    let comments = format!("/repos/acme/access/issues/{number}/comments");
    let issue = format!("/repos/acme/access/issues/{number}");
    as_user(
        &w,
        "alice-token",
        reqwest::Method::POST,
        &comments,
        serde_json::json!({"body": "/approve"}),
    )
    .await;
    as_user(
        &w,
        "alice-token",
        reqwest::Method::PATCH,
        &issue,
        serde_json::json!({"state": "closed"}),
    )
    .await;
    let status = w
        .kv_jit(&["status", "--now", later, "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["retrospectives"][0]["state"], "open", "{v:#}");
    assert!(
        v["retrospectives"][0]["missing"]
            .as_str()
            .unwrap()
            .contains("the requester's own does not count"),
        "{v:#}"
    );
    assert_eq!(v["active"][0]["break_glass"], true);
    // A code owner's `/approve` on the closed issue: done.
    as_user(
        &w,
        "carol-token",
        reqwest::Method::POST,
        &comments,
        serde_json::json!({"body": "/approve\nReviewed the run."}),
    )
    .await;
    let status = w
        .kv_jit(&["status", "--now", later, "--format", "json"])
        .await;
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["retrospectives"][0]["state"], "done", "{v:#}");
    assert_eq!(v["retrospectives"][0]["by"], "carol");
    let revoke = w.kv_jit(&["revoke", "--now", later]).await;
    assert!(
        !revoke.stderr.contains("retrospective"),
        "{}",
        revoke.stderr
    );
}
