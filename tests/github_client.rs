//! The GitHub client and the emulator's contract: token never printed, API version sent, GETs
//! retried and POSTs not, GitHub's error shapes, and octocrab's own strict models reading every
//! route the emulator serves.

#[path = "support/github.rs"]
mod support;

use std::sync::Arc;

use kv_jit_effects::clock::{Clock, ManualClock};
use kv_jit_effects::github::client::{
    API_VERSION, GithubClient, GithubError, Repo, RetryPolicy, TeamMembership, Token,
};
use kv_jit_emulator::Fault;
use octocrab::commits::PullRequestTarget;
use octocrab::models::CommentId;
use support::*;

#[test]
fn token_debug_is_redacted() {
    assert_eq!(format!("{:?}", Token::new("ghp_supersecret")), "***");
}

#[tokio::test]
async fn client_debug_does_not_show_the_token() {
    let client = GithubClient::new("http://127.0.0.1:9", Token::new("ghp_supersecret")).unwrap();
    assert!(!format!("{client:?}").contains("supersecret"));
}

#[tokio::test]
async fn base_url_must_be_https_or_loopback() {
    for ok in [
        "https://api.github.com",
        "https://ghe.example.com/api/v3/",
        "http://127.0.0.1:8080",
        "http://localhost:1/api/v3",
        "http://[::1]:9",
    ] {
        assert!(GithubClient::new(ok, Token::new("t")).is_ok(), "{ok}");
    }
    for bad in [
        "http://ghe.example.com/api/v3",
        "http://127.0.0.1.evil.com",
        "ftp://x",
        "api.github.com",
    ] {
        let err = GithubClient::new(bad, Token::new("t")).unwrap_err();
        assert!(matches!(err, GithubError::Config(_)), "{bad}");
    }
}

#[test]
fn repo_parse() {
    assert_eq!(
        Repo::parse("acme/access").unwrap().to_string(),
        "acme/access"
    );
    for bad in ["acme", "/x", "a/b/c", "a/..", "a b/c"] {
        assert!(Repo::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn api_version_header_is_sent() {
    let (url, state) = start(seed()).await;
    client(&url, APP_TOKEN).pull(&repo(), 7).await.unwrap();
    let log = state.request_log();
    assert_eq!(log[0].api_version.as_deref(), Some(API_VERSION));
}

#[tokio::test]
async fn github_error_shapes() {
    let (url, _state) = start(seed()).await;
    let err = client(&url, "wrong").pull(&repo(), 7).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.to_string().contains("Bad credentials"), "{err}");
    let err = client(&url, APP_TOKEN).pull(&repo(), 99).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.to_string(),
        "GitHub answered 404 to /repos/acme/access/pulls/99: Not Found"
    );
    // The body has GitHub's shape: octocrab reads `message` and `documentation_url` from it.
    let gh = client(&url, APP_TOKEN);
    match gh
        .octocrab()
        .get::<serde_json::Value, _, ()>("/repos/acme/access/pulls/99", None)
        .await
    {
        Err(octocrab::Error::GitHub { source, .. }) => {
            assert_eq!(source.message, "Not Found");
            assert_eq!(
                source.documentation_url.as_deref(),
                Some("https://docs.github.com/rest")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn idempotent_reads_are_retried() {
    let (url, state) = start(seed()).await;
    state.add_fault(
        Fault::status(502)
            .method("GET")
            .path_contains("/pulls/7/reviews")
            .times(2),
    );
    let reviews = client(&url, APP_TOKEN).reviews(&repo(), 7).await.unwrap();
    assert_eq!(reviews.len(), 1);
    let tries = state
        .request_log()
        .iter()
        .filter(|r| r.path.contains("/reviews"))
        .count();
    assert_eq!(tries, 3);
}

#[tokio::test]
async fn retries_back_off_on_the_clients_clock() {
    let (url, state) = start(seed()).await;
    state.add_fault(
        Fault::status(502)
            .method("GET")
            .path_contains("/pulls/7/reviews")
            .times(2),
    );
    let clock = Arc::new(ManualClock::new(test_instant()));
    let client = client_on(&url, APP_TOKEN, clock.clone());
    client.reviews(&repo(), 7).await.unwrap();
    // 0.5 s then 1 s (the default schedule), on the virtual clock: nothing slept for real.
    assert_eq!(
        clock.now() - test_instant(),
        chrono::Duration::milliseconds(1500)
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let (url, state) = start(seed()).await;
    state.add_fault(
        Fault::status(503)
            .method("GET")
            .path_contains("/pulls/7")
            .times(10),
    );
    let err = client(&url, APP_TOKEN).pull(&repo(), 7).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(state.request_log().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_and_long_waits_are_not_taken() {
    let (url, state) = start(seed()).await;
    // A secondary rate limit (403 + Retry-After: 0) is retried ...
    state.add_fault(
        Fault::status(403)
            .method("GET")
            .path_contains("/pulls/7")
            .retry_after(0),
    );
    client(&url, APP_TOKEN).pull(&repo(), 7).await.unwrap();
    assert_eq!(state.request_log().len(), 2);
    // ... an hour's wait is not: the error comes back at once.
    state.add_fault(
        Fault::status(429)
            .method("GET")
            .path_contains("/pulls/7")
            .retry_after(3600),
    );
    let err = client(&url, APP_TOKEN).pull(&repo(), 7).await.unwrap_err();
    assert!(
        matches!(
            err,
            GithubError::Status {
                status: 429,
                retry_after: Some(3600),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(state.request_log().len(), 3);
    // A plain 403 (permission) is never retried.
    state.add_fault(Fault::status(403).method("GET").path_contains("/pulls/7"));
    assert_eq!(
        client(&url, APP_TOKEN)
            .pull(&repo(), 7)
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    assert_eq!(state.request_log().len(), 4);
}

#[tokio::test]
async fn control_routes_seed_and_inspect_over_http() {
    let (url, _state) = start(kv_jit_emulator::github::GithubSeed::default()).await;
    let gh = octocrab::Octocrab::builder()
        .base_uri(url.as_str())
        .unwrap()
        .build()
        .unwrap();
    let seed = serde_json::to_value(seed()).unwrap();
    let response = gh
        ._post(format!("{url}/_emulator/github/seed"), Some(&seed))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let client = client(&url, APP_TOKEN);
    client.create_comment(&repo(), 7, "hi").await.unwrap();
    let comments: serde_json::Value = gh
        .get(format!("{url}/_emulator/github/comments"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(comments[0]["body"], "hi");
    let requests: serde_json::Value = gh
        .get(format!("{url}/_emulator/github/requests"), None::<&()>)
        .await
        .unwrap();
    assert_eq!(requests[0]["method"], "POST");
}

#[tokio::test]
async fn posts_are_never_retried() {
    let (url, state) = start(seed()).await;
    state.add_fault(
        Fault::status(502)
            .method("POST")
            .path_contains("/issues/7/comments"),
    );
    let err = client(&url, APP_TOKEN)
        .create_comment(&repo(), 7, "hello")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    let posts = state
        .request_log()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
    assert!(state.comments().is_empty());
}

#[tokio::test]
async fn not_found_file_is_none_and_text_decodes() {
    let (url, _state) = start(seed()).await;
    let client = client(&url, APP_TOKEN);
    assert_eq!(
        client.file_text(&repo(), "CODEOWNERS", BASE).await.unwrap(),
        None
    );
    assert_eq!(
        client
            .file_text(&repo(), ".github/CODEOWNERS", BASE)
            .await
            .unwrap()
            .as_deref(),
        Some(CODEOWNERS)
    );
}

#[tokio::test]
async fn team_membership_answers() {
    let (url, _state) = start(seed()).await;
    let app = client(&url, APP_TOKEN);
    assert_eq!(
        app.team_membership("acme", "security", "dave")
            .await
            .unwrap(),
        TeamMembership::Active
    );
    assert_eq!(
        app.team_membership("acme", "security", "gina")
            .await
            .unwrap(),
        TeamMembership::Pending
    );
    assert_eq!(
        app.team_membership("acme", "security", "bob")
            .await
            .unwrap(),
        TeamMembership::NotMember
    );
    let missing = app
        .team_membership("acme", "nope", "dave")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
    let actions = client(&url, ACTIONS_TOKEN);
    let denied = actions
        .team_membership("acme", "security", "dave")
        .await
        .unwrap_err();
    assert!(
        matches!(denied, GithubError::Status { status: 403, .. }),
        "{denied}"
    );
}

#[tokio::test]
async fn octocrab_models_read_every_emulated_route() {
    let mut seed = seed();
    pull_mut(&mut seed).reviews = (0..105)
        .map(|i| review(&format!("u{i}"), "COMMENTED", Some(HEAD)))
        .collect();
    pull_mut(&mut seed).files = (0..45)
        .map(|i| kv_jit_emulator::github::FileSeed {
            filename: format!("f{i}"),
            ..Default::default()
        })
        .collect();
    for prefix in ["", "/api/v3"] {
        let (url, _state) = start(seed.clone()).await;
        let client = client(&format!("{url}{prefix}"), APP_TOKEN);
        let gh = client.octocrab();
        let pr = gh
            .pulls("acme", "access")
            .get(7)
            .await
            .expect("PullRequest");
        assert_eq!(pr.head.sha, HEAD);
        assert_eq!(pr.merged, Some(true));
        let page = gh
            .pulls("acme", "access")
            .list_reviews(7)
            .per_page(100)
            .send()
            .await
            .expect("Review page");
        assert_eq!(gh.all_pages(page).await.expect("all reviews").len(), 105);
        let files = gh
            .pulls("acme", "access")
            .list_files(7)
            .await
            .expect("DiffEntry page");
        assert_eq!(files.items.len(), 30);
        assert_eq!(gh.all_pages(files).await.expect("all files").len(), 45);
        let commits = gh
            .pulls("acme", "access")
            .pr_commits(7)
            .send()
            .await
            .expect("RepoCommit page");
        assert_eq!(commits.items.len(), 2);
        let single = gh
            .commits("acme", "access")
            .get(HEAD)
            .await
            .expect("RepoCommit");
        assert_eq!(single.sha, HEAD);
        let assoc = gh
            .commits("acme", "access")
            .associated_pull_requests(PullRequestTarget::Sha(MERGE.into()))
            .send()
            .await
            .expect("associated PullRequest page");
        assert_eq!(assoc.items[0].number, 7);
        let created = gh
            .issues("acme", "access")
            .create_comment(7, "one")
            .await
            .expect("Comment");
        let updated = gh
            .issues("acme", "access")
            .update_comment(CommentId(*created.id), "two")
            .await
            .expect("Comment");
        assert_eq!(updated.body.as_deref(), Some("two"));
        let listed = gh
            .issues("acme", "access")
            .list_comments(7)
            .send()
            .await
            .expect("Comment page");
        assert_eq!(listed.items.len(), 1);
        let membership = gh
            .teams("acme")
            .memberships("security")
            .get("dave")
            .await
            .expect("TeamMembership");
        assert_eq!(format!("{:?}", membership.state), "Active");
        gh.teams("acme").get("security").await.expect("Team");
        let mut content = gh
            .repos("acme", "access")
            .get_content()
            .path(".github/CODEOWNERS")
            .r#ref(BASE)
            .send()
            .await
            .expect("ContentItems");
        assert_eq!(
            content.take_items()[0].decoded_content().as_deref(),
            Some(CODEOWNERS)
        );
    }
}

#[tokio::test]
async fn codeowners_errors_route() {
    let mut seed = seed();
    repo_mut(&mut seed)
        .files
        .get_mut(BASE)
        .unwrap()
        .insert("CODEOWNERS".into(), "!x @y\n* nobody\n".into());
    repo_mut(&mut seed)
        .files
        .get_mut(BASE)
        .unwrap()
        .remove(".github/CODEOWNERS");
    let (url, _state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let body: serde_json::Value = client
        .octocrab()
        .get(
            format!("/repos/acme/access/codeowners/errors?ref={BASE}"),
            None::<&()>,
        )
        .await
        .unwrap();
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["kind"], "Invalid pattern");
    assert_eq!(errors[1]["kind"], "Invalid owner");
    assert_eq!(errors[1]["path"], "CODEOWNERS");
}

#[tokio::test]
async fn retry_policy_default_is_bounded() {
    let policy = RetryPolicy::default();
    assert!(policy.attempts >= 2 && policy.attempts <= 5);
}

#[tokio::test]
async fn commit_files_are_paged_like_github_and_read_to_the_end() {
    let mut seed = seed();
    let files: Vec<String> = (0..650).map(|i| format!("docs/f{i}.md")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    repo_mut(&mut seed)
        .commits
        .push(commit("abcdabcdabcdabcd", Some("bob"), &files));
    let (url, state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    // As GitHub: 300 files on the first answer, `Link` to the rest, on our own host.
    let raw = client
        .octocrab()
        ._get("/repos/acme/access/commits/abcdabcdabcdabcd")
        .await
        .unwrap();
    let link = raw.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains(&format!(
            "<{url}/repos/acme/access/commits/abcdabcdabcdabcd?page=2>; rel=\"next\""
        )),
        "{link}"
    );
    let body: serde_json::Value =
        serde_json::from_str(&client.octocrab().body_to_string(raw).await.unwrap()).unwrap();
    assert_eq!(body["files"].as_array().unwrap().len(), 300);
    assert_eq!(body["sha"], "abcdabcdabcdabcd");

    let listed = client
        .commit_paths(&repo(), "abcdabcdabcdabcd")
        .await
        .unwrap();
    assert_eq!(listed.files_listed, 650);
    assert_eq!(
        listed.paths.last().map(String::as_str),
        Some("docs/f649.md")
    );
    assert!(!listed.maybe_truncated());
    let pages: Vec<String> = state
        .request_log()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains("/commits/abcd"))
        .collect();
    assert_eq!(pages.len(), 1 + 7, "{pages:#?}");
}

#[tokio::test]
async fn a_commit_at_githubs_file_limit_may_hide_more() {
    let mut seed = seed();
    let files: Vec<String> = (0..3005).map(|i| format!("f{i}")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    repo_mut(&mut seed)
        .commits
        .push(commit("dededededededede", None, &files));
    let (url, _state) = start(seed).await;
    let listed = client(&url, APP_TOKEN)
        .commit_paths(&repo(), "dededededededede")
        .await
        .unwrap();
    assert_eq!(listed.files_listed, 3000, "GitHub lists no more");
    assert!(listed.maybe_truncated());
}

#[tokio::test]
async fn team_repo_permissions_answers() {
    use kv_jit_emulator::github::TeamSeed;
    let mut seed = seed();
    seed.teams.push(TeamSeed {
        org: "acme".into(),
        slug: "readers".into(),
        members: vec!["bob".into()],
        pending: vec![],
        repositories: team_access("pull"),
    });
    seed.teams.push(TeamSeed {
        org: "acme".into(),
        slug: "elsewhere".into(),
        members: vec!["bob".into()],
        pending: vec![],
        repositories: Default::default(),
    });
    let (url, _state) = start(seed).await;
    let app = client(&url, APP_TOKEN);
    let push = app
        .team_repo_permissions("acme", "security", &repo())
        .await
        .unwrap()
        .unwrap();
    assert!(push.can_write() && push.pull && !push.admin, "{push:?}");
    let pull = app
        .team_repo_permissions("acme", "readers", &repo())
        .await
        .unwrap()
        .unwrap();
    assert!(!pull.can_write());
    assert_eq!(pull.role(), "pull");
    assert_eq!(
        app.team_repo_permissions("acme", "elsewhere", &repo())
            .await
            .unwrap(),
        None
    );
    let denied = client(&url, ACTIONS_TOKEN)
        .team_repo_permissions("acme", "security", &repo())
        .await
        .unwrap_err();
    assert_eq!(denied.status(), Some(403));
}

#[tokio::test]
async fn default_branch_and_merged_at_are_read() {
    let mut seed = seed();
    repo_mut(&mut seed).default_branch = "trunk".into();
    let (url, _state) = start(seed.clone()).await;
    let client = client(&url, APP_TOKEN);
    assert_eq!(client.default_branch(&repo()).await.unwrap(), "trunk");
    let pull = client.pull(&repo(), 7).await.unwrap();
    assert_eq!(
        pull.merged_at,
        Some("2026-11-27T08:00:00Z".parse().unwrap()),
        "a merged seed without merged_at: the emulator's fixed instant"
    );
    pull_mut(&mut seed).merged_at = Some("2026-11-27T08:30:15Z".parse().unwrap());
    let (url, _state) = start(seed).await;
    let pull = support::client(&url, APP_TOKEN)
        .pull(&repo(), 7)
        .await
        .unwrap();
    assert_eq!(
        pull.merged_at,
        Some("2026-11-27T08:30:15Z".parse().unwrap())
    );
    assert_eq!(pull.changed_files, Some(1));
}

#[test]
fn an_issue_is_in_a_repository_only_when_github_says_so() {
    use kv_jit_effects::github::client::{Issue, Repo};
    let repo = Repo::parse("acme/access").unwrap();
    let issue = |url: Option<&str>| -> Issue {
        serde_json::from_value(serde_json::json!({
            "number": 5, "title": "t", "user": null, "state": "open",
            "repository_url": url,
        }))
        .unwrap()
    };
    let cases = [
        (Some("https://api.github.com/repos/acme/access"), true),
        (Some("https://ghe.example/api/v3/repos/ACME/Access"), true),
        // Transferred: GitHub answers from the new repository.
        (Some("https://api.github.com/repos/acme/elsewhere"), false),
        (Some("https://api.github.com/repos/evil-acme/access"), false),
        (None, false),
    ];
    for (url, want) in cases {
        assert_eq!(issue(url).is_in(&repo), want, "{url:?}");
    }
}
