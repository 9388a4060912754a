//! PR feedback: changed files over pages, one sticky comment across runs, the escaped plan table.

#[path = "support/github.rs"]
mod support;

use kv_jit_core::notice::escape_markdown;
use kv_jit_effects::github::feedback::{
    PLAN_MARKER, PlanRow, Sticky, changed_files, render_plan, upsert_sticky_comment,
};
use kv_jit_emulator::github::{CommentSeed, FileSeed};
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
        break_glass: false,
    };
    let table = render_plan(&[row]);
    let lines: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 3, "one header, one rule, one row:\n{table}");
    let row = lines[2];
    // Every pipe inside a cell is escaped, so the row keeps its 8 cells.
    assert_eq!(row.matches(" | ").count(), 7, "{row}");
    assert!(row.contains(r"requests/a\|b.yaml"), "{row}");
    assert!(row.contains(r"demo\`api\`"), "{row}");
    assert!(row.contains(r"\<img src=x onerror=alert(1)\>"), "{row}");
    assert!(
        row.contains("alice@\u{200B}contoso.com \\| injected \\| row \\|"),
        "{row}"
    );
    assert!(row.contains("1 of @\u{200B}acme/security, @\u{200B}carol"));
    assert!(
        !table.contains("@carol"),
        "owners must not be pinged on every push"
    );
}

#[test]
fn escape_markdown_rules() {
    assert_eq!(escape_markdown("a|b"), r"a\|b");
    assert_eq!(escape_markdown("x\r\ny"), "x  y");
    assert_eq!(escape_markdown("<b>&amp;"), r"\<b\>\&amp;");
    assert_eq!(escape_markdown("@here"), "@\u{200B}here");
    assert_eq!(escape_markdown("see #12"), "see \\#\u{200B}12");
    assert_eq!(
        escape_markdown("[link](javascript:x)"),
        r"\[link\](javascript:x)"
    );
    assert_eq!(escape_markdown("![i](x)"), r"\!\[i\](x)");
    assert_eq!(escape_markdown("go https://x.io"), r"go https\://x.io");
    assert_eq!(escape_markdown("www.x.io, WWW.y"), r"www\.x.io, WWW\.y");
    assert_eq!(escape_markdown("awww.x"), "awww.x");
    assert_eq!(escape_markdown("- item"), r"\- item");
    assert_eq!(escape_markdown("  12. item"), r"  12\. item");
    assert_eq!(escape_markdown("3) item"), r"3\) item");
    assert_eq!(escape_markdown("a-b 1. c"), "a-b 1. c");
    assert_eq!(
        escape_markdown("$x$ ~s~ *b* _i_"),
        r"\$x\$ \~s\~ \*b\* \_i\_"
    );
    assert_eq!(escape_markdown(r"\[x]"), r"\\\[x\]");
    assert_eq!(escape_markdown("a\u{0}b\u{202E}c"), "abc");
    // Names and times stay readable.
    assert_eq!(
        escape_markdown("alice on flowlibs-demo-kv/demo-api-key until 2026-11-27T11:00:00Z"),
        "alice on flowlibs-demo-kv/demo-api-key until 2026-11-27T11:00:00Z"
    );
    assert_eq!(escape_markdown(&"x".repeat(500)).chars().count(), 401);
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
fn a_break_glass_row_says_so_and_names_every_owner_it_tells() {
    let row = |break_glass| PlanRow {
        request: "requests/x.yaml".into(),
        owners: vec!["@acme/security".into(), "@carol".into()],
        approvals: 2,
        break_glass,
        ..Default::default()
    };
    let table = render_plan(&[row(true)]);
    assert!(
        table.contains(
            "**BREAK-GLASS**: none before merge; told: @\u{200B}acme/security, @\u{200B}carol"
        ),
        "{table}"
    );
    assert!(
        table.contains("a retrospective issue must be closed"),
        "{table}"
    );
    let normal = render_plan(&[row(false)]);
    assert!(normal.contains("2 of @\u{200B}acme/security"), "{normal}");
    assert!(
        !normal.contains("BREAK-GLASS") && !normal.contains("Break-glass"),
        "{normal}"
    );
}

#[test]
fn pr_number_from_pull_request_event() {
    use kv_jit_effects::github::feedback::pr_number_from_event;
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
    use kv_jit_effects::github::client::{IssueComment, User};
    use kv_jit_effects::github::feedback::{ACTIONS_BOT_LOGIN, bot_login, is_own_plan_comment};
    let comment = |login: &str, kind: &str, body: &str| IssueComment {
        id: 1,
        body: Some(body.into()),
        user: Some(User {
            login: login.into(),
            kind: Some(kind.into()),
        }),
        created_at: None,
        updated_at: None,
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

/// Request text a hostile requester could write into any field that reaches a Markdown sink.
const HOSTILE: &str = "[click](https://evil.example) @someone <img src=x onerror=alert(1)> `x` a|b\nrow www.evil.example *bold* _i_ ~s~ #7 $x$ \\[y](z)";

/// What must never survive into Markdown: links, mentions, HTML, code spans, emphasis, math,
/// table breaks. A Markdown character counts only when no backslash escapes it.
fn assert_inert(sink: &str, out: &str) {
    for raw in ["https://", "www.evil", "@someone", "\nrow", "\r"] {
        assert!(!out.contains(raw), "{sink}: `{raw}` survived in {out:?}");
    }
    let chars: Vec<char> = out.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !"<>[]`*_~$&!".contains(c) {
            continue;
        }
        let backslashes = chars[..i].iter().rev().take_while(|&&b| b == '\\').count();
        assert!(
            backslashes % 2 == 1,
            "{sink}: unescaped `{c}` at {i} in {out:?}"
        );
    }
}

#[test]
fn request_text_cannot_form_a_link_mention_html_or_break_a_table_in_any_sink() {
    use kv_jit_core::ledger::{Event, NewEntry};
    use kv_jit_core::notice::{summary_markdown, teams_card};
    let entry = NewEntry {
        request: Some("2026/alice-api-key".into()),
        requester: Some(HOSTILE.into()),
        vault: Some("kv".into()),
        secret: Some(HOSTILE.into()),
        error: Some(HOSTILE.into()),
        ..NewEntry::new("2026-11-27T09:00:00Z".parse().unwrap(), Event::Refused)
    };
    // Job summary: still one table row of six cells.
    let md = summary_markdown("kv-jit grant", std::slice::from_ref(&entry));
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 3, "{md}");
    assert_eq!(rows[2].matches(" | ").count(), 5, "{}", rows[2]);
    assert_inert("job summary", rows[2]);
    // Teams card: every text that reaches the card.
    let card = teams_card("kv-jit grant", None, &[entry]);
    let fact = &card["attachments"][0]["content"]["body"][1]["facts"][0];
    assert_inert("teams title", fact["title"].as_str().unwrap());
    assert_inert("teams value", fact["value"].as_str().unwrap());
    // PR comment: the plan table.
    let table = render_plan(&[PlanRow {
        request: "requests/2026/a.yaml".into(),
        who: HOSTILE.into(),
        secret: HOSTILE.into(),
        vault: "kv".into(),
        role: HOSTILE.into(),
        duration: "2h".into(),
        start: "at merge".into(),
        owners: vec!["@acme/security".into()],
        approvals: 1,
        break_glass: false,
    }]);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert_eq!(rows[2].matches(" | ").count(), 7, "{}", rows[2]);
    // `<code>` is the table's own markup around names; what it wraps must be inert.
    assert_inert(
        "PR comment",
        &rows[2].replace("<code>", "").replace("</code>", ""),
    );
}
