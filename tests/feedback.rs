//! PR feedback: changed files over pages, one sticky comment across runs, the escaped plan table.

#[path = "support/github.rs"]
mod support;

use kv_jit::emulator::github::{CommentSeed, FileSeed};
use kv_jit::github::feedback::{
    PLAN_MARKER, PlanRow, Sticky, changed_files, escape_cell, render_plan, upsert_sticky_comment,
};
use support::*;

/// The login APP_TOKEN comments as (a GitHub App: `<slug>[bot]`).
const BOT: &str = "kv-jit[bot]";

#[tokio::test]
async fn sticky_comment_is_updated_not_duplicated_across_three_runs() {
    let mut seed = seed();
    repo_mut(&mut seed).comments.push(CommentSeed {
        issue: 7,
        user: "bob".into(),
        body: "LGTM".into(),
    });
    // Someone quoting the marker mid-comment does not capture the sticky.
    repo_mut(&mut seed).comments.push(CommentSeed {
        issue: 7,
        user: "bob".into(),
        body: format!("see {PLAN_MARKER}"),
    });
    let (url, state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let repo = repo();

    let first = upsert_sticky_comment(&client, &repo, 7, BOT, "plan v1")
        .await
        .unwrap();
    let Sticky::Created(id) = first else {
        panic!("{first:?}")
    };
    assert_eq!(
        upsert_sticky_comment(&client, &repo, 7, BOT, "plan v1")
            .await
            .unwrap(),
        Sticky::Unchanged(id)
    );
    assert_eq!(
        upsert_sticky_comment(&client, &repo, 7, BOT, "plan v2")
            .await
            .unwrap(),
        Sticky::Updated(id)
    );

    let comments = state.comments();
    let ours: Vec<_> = comments
        .iter()
        .filter(|c| c.body.starts_with(PLAN_MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].body, format!("{PLAN_MARKER}\nplan v2"));
    assert_eq!(ours[0].user, "kv-jit[bot]");
    assert_eq!(ours[0].updated, 1);
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[0].body, "LGTM");
    let posts = state
        .request_log()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    let patches = state
        .request_log()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!((posts, patches), (1, 1));
}

#[tokio::test]
async fn sticky_comment_found_beyond_the_first_page() {
    let mut seed = seed();
    for i in 0..120 {
        repo_mut(&mut seed).comments.push(CommentSeed {
            issue: 7,
            user: "bob".into(),
            body: format!("c{i}"),
        });
    }
    repo_mut(&mut seed).comments.push(CommentSeed {
        issue: 7,
        user: "kv-jit[bot]".into(),
        body: format!("{PLAN_MARKER}\nold"),
    });
    let (url, state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let outcome = upsert_sticky_comment(&client, &repo(), 7, BOT, "new")
        .await
        .unwrap();
    assert!(matches!(outcome, Sticky::Updated(_)), "{outcome:?}");
    assert_eq!(state.comments().len(), 121);
}

#[tokio::test]
async fn changed_files_follow_pages() {
    let mut seed = seed();
    pull_mut(&mut seed).files = (0..250)
        .map(|i| FileSeed {
            filename: format!("requests/r{i}.yaml"),
            ..Default::default()
        })
        .collect();
    let (url, _state) = start(seed).await;
    let files = changed_files(&client(&url, APP_TOKEN), &repo(), 7)
        .await
        .unwrap();
    assert_eq!(files.len(), 250);
    assert_eq!(files[249].filename, "requests/r249.yaml");
    assert_eq!(files[0].status, "added");
}

#[test]
fn plan_table_escapes_untrusted_text() {
    let row = PlanRow {
        request: "requests/a|b.yaml".into(),
        who: "alice@contoso.com\n| injected | row |".into(),
        secret: "demo`api`".into(),
        vault: "<img src=x onerror=alert(1)>".into(),
        role: "secrets-user".into(),
        duration: "2h".into(),
        start: "at merge".into(),
        owners: vec!["@acme/security".into(), "@carol".into()],
        approvals: 1,
    };
    let table = render_plan(&[row]);
    let lines: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 3, "one header, one rule, one row:\n{table}");
    let row = lines[2];
    // Every pipe inside a cell is escaped, so the row keeps its 8 cells.
    assert_eq!(row.matches(" | ").count(), 7, "{row}");
    assert!(row.contains(r"requests/a\|b.yaml"));
    assert!(row.contains(r"demo\`api\`"));
    assert!(row.contains("&lt;img src=x onerror=alert\\(1\\)&gt;"));
    assert!(!row.contains("<img"));
    assert!(row.contains("alice@\u{200B}contoso.com \\| injected \\| row \\|"));
    assert!(row.contains("1 of @\u{200B}acme/security, @\u{200B}carol"));
    assert!(
        !table.contains("@carol"),
        "owners must not be pinged on every push"
    );
}

#[test]
fn escape_cell_rules() {
    assert_eq!(escape_cell("a|b"), r"a\|b");
    assert_eq!(escape_cell("x\r\ny"), "x  y");
    assert_eq!(escape_cell("<b>&"), "&lt;b&gt;&amp;");
    assert_eq!(escape_cell("@here"), "@\u{200B}here");
    assert_eq!(
        escape_cell("[link](javascript:x)"),
        r"\[link\]\(javascript:x\)"
    );
    assert_eq!(escape_cell("a\u{0}b"), "ab");
    assert_eq!(escape_cell(&"x".repeat(500)).chars().count(), 201);
}

#[test]
fn empty_plan_and_unowned_rows() {
    assert!(render_plan(&[]).contains("changes no access request"));
    let table = render_plan(&[PlanRow {
        request: "requests/x.yaml".into(),
        ..Default::default()
    }]);
    assert!(table.contains("no code owner: cannot be approved"));
}

#[test]
fn pr_number_from_pull_request_event() {
    use kv_jit::github::feedback::pr_number_from_event;
    assert_eq!(
        pr_number_from_event(r#"{"action":"synchronize","number":7,"pull_request":{"number":7}}"#),
        Some(7)
    );
    assert_eq!(
        pr_number_from_event(r#"{"ref":"refs/heads/main","commits":[]}"#),
        None
    );
    assert_eq!(pr_number_from_event("not json"), None);
}

#[tokio::test]
async fn a_humans_comment_starting_with_the_marker_is_neither_edited_nor_adopted() {
    let mut seed = seed();
    repo_mut(&mut seed).comments.push(CommentSeed {
        issue: 7,
        user: "mallory".into(),
        body: format!("{PLAN_MARKER}\nAll approved, nothing to see here"),
    });
    let (url, state) = start(seed).await;
    let client = client(&url, APP_TOKEN);
    let outcome = upsert_sticky_comment(&client, &repo(), 7, BOT, "the real plan")
        .await
        .unwrap();
    assert!(matches!(outcome, Sticky::Created(_)), "{outcome:?}");
    let comments = state.comments();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].user, "mallory");
    assert_eq!(comments[0].updated, 0, "mallory's comment was edited");
    assert_eq!(
        comments[0].body,
        format!("{PLAN_MARKER}\nAll approved, nothing to see here")
    );
    assert_eq!(comments[1].user, "kv-jit[bot]");
    assert_eq!(comments[1].body, format!("{PLAN_MARKER}\nthe real plan"));
}

#[test]
fn own_plan_comment_needs_the_bots_login_and_type() {
    use kv_jit::github::client::{IssueComment, User};
    use kv_jit::github::feedback::{ACTIONS_BOT_LOGIN, bot_login, is_own_plan_comment};
    let comment = |login: &str, kind: &str, body: &str| IssueComment {
        id: 1,
        body: Some(body.into()),
        user: Some(User {
            login: login.into(),
            kind: Some(kind.into()),
        }),
    };
    let plan = format!("{PLAN_MARKER}\nplan");
    assert!(is_own_plan_comment(
        &comment("kv-jit[bot]", "Bot", &plan),
        BOT
    ));
    assert!(is_own_plan_comment(
        &comment("KV-JIT[bot]", "Bot", &plan),
        BOT
    ));
    assert!(!is_own_plan_comment(
        &comment("mallory", "User", &plan),
        BOT
    ));
    assert!(!is_own_plan_comment(
        &comment("kv-jit[bot]", "User", &plan),
        BOT
    ));
    assert!(!is_own_plan_comment(
        &comment("github-actions[bot]", "Bot", &plan),
        BOT
    ));
    assert!(!is_own_plan_comment(
        &comment("kv-jit[bot]", "Bot", "LGTM"),
        BOT
    ));
    // A machine user (PAT) named through KV_JIT_BOT_LOGIN is a User.
    assert!(is_own_plan_comment(
        &comment("acme-bot", "User", &plan),
        "acme-bot"
    ));
    let env = |v: Option<&str>| -> std::collections::HashMap<String, String> {
        v.map(|v| ("KV_JIT_BOT_LOGIN".to_string(), v.to_string()))
            .into_iter()
            .collect()
    };
    assert_eq!(bot_login(&env(None)), ACTIONS_BOT_LOGIN);
    assert_eq!(bot_login(&env(Some(" "))), ACTIONS_BOT_LOGIN);
    assert_eq!(bot_login(&env(Some("kv-jit[bot]"))), "kv-jit[bot]");
}
