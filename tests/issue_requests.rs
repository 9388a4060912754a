//! Requests filed through the issue form reach the default branch in a pull request opened by
//! a bot. At grant time such a pull request is bound to whoever opened the issue its request
//! names (`issue: N`): an issue (not a pull request) of this repository, opened before the pull
//! request, by a login `identities` binds to the requester. Everything else fails closed, and a
//! person's own pull request cannot borrow someone else's identity through `issue:`.

mod support;
#[path = "support/world.rs"]
mod world;

use kv_jit_emulator::github::{GithubSeed, IssueSeed, ReviewSeed};
use support::T0;
use world::World;

const BOT: &str = "kv-jit-app[bot]";

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

fn request(requester: &str, issue: Option<u64>) -> String {
    let mut text = world::request(requester, "2h");
    if let Some(n) = issue {
        text.push_str(&format!("issue: {n}\n"));
    }
    text
}

/// PR #7 as the request workflow opens it: by the bot, at 08:30, approved by carol; issue #5
/// opened by `opener` at `opened`.
fn bot_world(w: &World, opener: &str, opened: &str) -> GithubSeed {
    let config = std::fs::read_to_string(w.work.join(".github/kv-jit.yml")).unwrap();
    let mut seed = w.reseed_github(&config, "carol");
    let repo = &mut seed.repos[0];
    let pull = &mut repo.pulls[0];
    pull.author = BOT.into();
    pull.commits[0].author = Some(BOT.into());
    pull.created_at = Some(t("2026-11-27T08:30:00Z"));
    repo.issues.push(IssueSeed {
        number: 5,
        title: "Access request: demo-api-key".into(),
        body: Some("### Vault\n\nflowlibs-demo-kv".into()),
        author: opener.into(),
        labels: vec!["kv-jit-request".into()],
        created_at: Some(t(opened)),
        ..IssueSeed::default()
    });
    seed
}

async fn grant(w: &World, seed: GithubSeed) -> support::Run {
    w.github.reseed(seed);
    w.kv_jit(&["grant", "--now", T0]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_pull_request_is_granted_for_the_person_who_opened_the_issue() {
    let w = World::new(&request("alice@contoso.com", Some(5))).await;
    let run = grant(&w, bot_world(&w, "alice-gh", "2026-11-27T08:00:00Z")).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 1);
    assert_eq!(w.ledger_events()[0].0, "granted");
    // The outcome goes back to the issue.
    let comments: Vec<_> = w
        .github
        .comments()
        .into_iter()
        .filter(|c| c.issue == 5)
        .collect();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0]
            .body
            .starts_with("kv-jit granted `2026/alice-api-key` until 2026-11-27T11:00:00Z"),
        "{}",
        comments[0].body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_the_issue_binding_fail_closed() {
    type Edit = fn(&mut GithubSeed);
    let rows: &[(&str, Option<u64>, &str, Edit, &str)] = &[
        (
            "the issue was opened by someone else",
            Some(5),
            "bob-gh",
            |_| {},
            "issue #5 was opened by @bob-gh, who may request only for `bob@contoso.com`",
        ),
        (
            "the issue was opened by an account identities does not know",
            Some(5),
            "mallory",
            |_| {},
            "issue #5 was opened by @mallory, who is not in `identities`",
        ),
        (
            "the number is a pull request's",
            Some(7),
            "alice-gh",
            |_| {},
            "`issue: 7` is a pull request, not an issue",
        ),
        (
            "the issue was opened after the pull request",
            Some(5),
            "alice-gh",
            |s| s.repos[0].issues[0].created_at = Some(t("2026-11-27T08:45:00Z")),
            "issue #5 was not opened before pull request #7",
        ),
        (
            "no such issue",
            Some(9),
            "alice-gh",
            |_| {},
            "issue #9 does not exist or has no author GitHub can show",
        ),
        (
            "a bot's pull request without issue:",
            None,
            "alice-gh",
            |_| {},
            "its request names no `issue:`",
        ),
    ];
    for (name, issue, opener, edit, want) in rows {
        let w = World::new(&request("alice@contoso.com", *issue)).await;
        let mut seed = bot_world(&w, opener, "2026-11-27T08:00:00Z");
        edit(&mut seed);
        let run = grant(&w, seed).await;
        assert_eq!(run.code, 1, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(want), "{name}: {}", run.stdout);
        assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0, "{name}");
        assert_eq!(w.ledger_events()[0].0, "refused", "{name}");
        // The refusal is told on the request's issue (when it names one that exists).
        if *issue == Some(5) {
            let told = w
                .github
                .comments()
                .iter()
                .any(|c| c.issue == 5 && c.body.starts_with("kv-jit refused"));
            assert!(told, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_pull_request_cannot_borrow_an_identity_through_issue() {
    // alice-gh files a request for bob, naming bob's issue: still bound to alice.
    let w = World::new(&request("bob@contoso.com", Some(5))).await;
    let mut seed = bot_world(&w, "bob-gh", "2026-11-27T08:00:00Z");
    let pull = &mut seed.repos[0].pulls[0];
    pull.author = "alice-gh".into();
    pull.commits[0].author = Some("alice-gh".into());
    let run = grant(&w, seed).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "pull request author @alice-gh may request only for `alice@contoso.com` (identities on the default branch), not for `bob@contoso.com`"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_who_opened_the_issue_cannot_approve_it() {
    // alice, who opened the issue (and is the requester), approves the bot's pull request.
    let w = World::new(&request("alice@contoso.com", Some(5))).await;
    let mut seed = bot_world(&w, "alice-gh", "2026-11-27T08:00:00Z");
    let head = seed.repos[0].pulls[0].head_sha.clone();
    seed.repos[0].pulls[0].reviews = vec![ReviewSeed {
        user: "alice-gh".into(),
        state: "APPROVED".into(),
        commit_id: Some(head),
    }];
    let run = grant(&w, seed).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("@alice-gh approved their own pull request"),
        "{}",
        run.stdout
    );
    assert_eq!(w.azure_calls("PUT", "/roleAssignments/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_from_issue_writes_the_request_for_the_issues_author() {
    let w = World::new(&request("alice@contoso.com", None)).await;
    let mut seed = bot_world(&w, "alice-gh", "2026-11-27T08:00:00Z");
    let body = "### Vault\n\nflowlibs-demo-kv\n\n### Secret\n\ndemo-api-key\n\n### Duration\n\n2h\n\n### Justification\n\nRotate the partner API client after INC-4821\nrequester: mallory@evil.com\n\n### Ticket\n\n_No response_\n\n### Role\n\n_No response_\n\n### Start\n\n_No response_\n";
    seed.repos[0].issues[0].body = Some(body.into());
    // Issue 6: the same form by someone identities does not know; 7 is a pull request.
    seed.repos[0].issues.push(IssueSeed {
        number: 6,
        author: "mallory".into(),
        labels: vec!["kv-jit-request".into()],
        body: Some(body.into()),
        ..IssueSeed::default()
    });
    w.github.reseed(seed);
    let run = w.kv_jit(&["new", "--from-issue", "5", "--now", T0]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "requests/issue-5.yaml\n");
    let text = std::fs::read_to_string(w.work.join("requests/issue-5.yaml")).unwrap();
    assert!(
        text.contains("requester: \"alice@contoso.com\"\n"),
        "{text}"
    );
    assert!(text.ends_with("issue: 5\n"), "{text}");
    // The injected line stayed inside the justification.
    assert_eq!(text.matches("\nrequester:").count(), 1, "{text}");
    assert!(
        text.contains("INC-4821\\nrequester: mallory@evil.com\"\n"),
        "{text}"
    );
    // Never overwritten.
    let again = w.kv_jit(&["new", "--from-issue", "5", "--now", T0]).await;
    assert_eq!(again.code, 1, "{}", again.stderr);
    for (n, want) in [
        ("6", "@mallory opened issue #6 but is not in `identities`"),
        ("7", "#7 is a pull request, not an issue"),
    ] {
        let run = w.kv_jit(&["new", "--from-issue", n, "--now", T0]).await;
        assert_eq!(run.code, 1, "{n}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(want), "{n}: {}", run.stderr);
    }
}

/// The PR check (`validate --pr`) applies the same binding before merge: the bot's pull request
/// passes for the issue's opener, and names the problem for an issue opened by someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pr_check_binds_a_bots_pull_request_through_its_issue() {
    for (opener, want_code) in [("alice-gh", 0), ("bob-gh", 1)] {
        let w = World::new(&request("alice@contoso.com", Some(5))).await;
        let mut seed = bot_world(&w, opener, "2026-11-27T08:00:00Z");
        let repo = &mut seed.repos[0];
        // The pull request is still open: main's tip is its base.
        repo.pulls[0].merged = false;
        repo.pulls[0].merge_commit_sha = None;
        repo.branches.insert("main".into(), w.base_sha.clone());
        w.github.reseed(seed);
        let run = w
            .kv_jit(&["validate", "--pr", "7", "--offline", "--now", T0])
            .await;
        assert_eq!(
            run.code, want_code,
            "{opener}: {}{}",
            run.stdout, run.stderr
        );
        if want_code == 1 {
            assert!(
                run.stdout
                    .contains("error[requester-not-bound]: issue #5 was opened by @bob-gh"),
                "{}",
                run.stdout
            );
        }
    }
}
