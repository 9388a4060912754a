//! `kv-jit plan` reads the ledger in one streaming pass (verified, checked against its git
//! history and reduced to the planner's state as git streams it): it must stop exactly where
//! the engine's full read stops, and plan what the engine's state plans.

#[allow(unused_imports)]
mod support;
#[path = "support/world.rs"]
mod world;

use support::{T0, t0_plus};
use world::{REQUEST_ID, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_stops_on_a_ledger_that_lost_lines_and_goes_on_once_restored() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let before = w.kv_jit(&["plan", "--now", T0, "--format", "json"]).await;
    assert_eq!(before.code, 0, "{}{}", before.stdout, before.stderr);
    assert!(
        before.stdout.contains("\"action\": \"grant\""),
        "{}",
        before.stdout
    );
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // Granted and recorded: nothing left to do until the window ends, then its revoke.
    let done = w.kv_jit(&["plan", "--now", &t0_plus(5)]).await;
    assert_eq!(
        (done.code, done.stdout.as_str()),
        (0, "nothing to do\n"),
        "{}",
        done.stderr
    );
    let later = w.kv_jit(&["plan", "--now", &t0_plus(125)]).await;
    assert!(
        later.stdout.starts_with(&format!("revoke  {REQUEST_ID}:")),
        "{}{}",
        later.stdout,
        later.stderr
    );
    // A writer of the ledger branch empties the file: the plan refuses to guess, naming the
    // commit, as grant does.
    let truncation = w.push_to_main("truncate", |work| {
        std::fs::write(work.join("audit/ledger.jsonl"), "").unwrap()
    });
    let run = w.kv_jit(&["plan", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&truncation), "{}", run.stderr);
    let grant = w.kv_jit(&["grant", "--now", &t0_plus(5)]).await;
    assert_eq!(grant.code, 1);
    // Restored: the plan is back to nothing to do.
    world::git(&w.work, &["revert", "--no-edit", &truncation]);
    world::git(&w.work, &["push", "--quiet", "origin", "main"]);
    let again = w.kv_jit(&["plan", "--now", &t0_plus(10)]).await;
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, "nothing to do\n"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_stops_on_an_edited_line() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    assert_eq!(w.kv_jit(&["grant", "--now", T0]).await.code, 0);
    // An edit in place, same size: the earlier version is no longer a prefix of today's.
    w.push_to_main("edit", |work| {
        let path = work.join("audit/ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("alice@contoso.com"));
        std::fs::write(
            &path,
            text.replacen("alice@contoso.com", "alicf@contoso.com", 1),
        )
        .unwrap();
    });
    let run = w.kv_jit(&["plan", "--now", &t0_plus(5)]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot use the ledger"),
        "{}",
        run.stderr
    );
}
