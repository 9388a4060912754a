//! The fault matrix (issue 11 §4): every effect kv-jit's grant and revoke depend on, crossed
//! with every way it can fail, each case run until it converges (at most three runs) and then
//! checked against the one invariant ([`support::invariants`]): exactly one assignment per
//! approved request, one ledger entry per event, the chain verifies.
//!
//! The table is generated: `matrix!` takes the targets and the faults once, emits
//! `TARGETS`, `FAULTS`, the cross product `CASES` and one nextest test per case
//! (`<target>::<fault>`), so nextest runs them in parallel. Extra cases that are not a
//! (target, fault) pair follow it (`extra::*`). Every wait is virtual
//! (`KV_JIT_TEST_VIRTUAL_WAITS=1`), and a "delay past the timeout" is 900 ms against a 400 ms
//! client timeout (`KV_JIT_TEST_HTTP_TIMEOUT_MS`).

#[path = "support/invariants.rs"]
mod invariants;
mod support;
#[path = "support/world.rs"]
mod world;

use std::path::Path;

use invariants::Expect;
use kv_jit_emulator::{Fault as Armed, FaultKind};
use support::t0_plus;
use world::{REQUEST_ID, World};

/// What a case breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Entra's token endpoint (the sign-in, and every token kv-jit asks for).
    Token,
    /// Microsoft Graph (the requester's UPN to an object id).
    Graph,
    /// ARM's role assignment PUT (the grant).
    ArmPut,
    /// ARM's role assignment DELETE (the revoke).
    ArmDelete,
    /// ARM's role assignment list (reconcile, the revoker's view).
    ArmList,
    /// GitHub's pull request, its reviews, files and commits (the approval).
    GithubPr,
    /// `git push` of the ledger to the bare origin (a real `pre-receive` hook).
    GitPush,
}

/// How it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 429 with `Retry-After: 2`.
    TooManyWithRetryAfter,
    /// 429 without `Retry-After`.
    TooMany,
    Status500,
    Status503,
    /// The connection is closed without an answer.
    ConnectionReset,
    /// The answer comes after the client's timeout.
    DelayPastTimeout,
    /// Every request fails (503; git: the hook declines) for the whole first run, then the
    /// service is back.
    OutageOneRun,
}

const TIMEOUT_MS: &str = "400";
const DELAY_MS: u64 = 900;

macro_rules! matrix {
    (targets: [$($t:ident = $target:expr),* $(,)?], faults: $faults:tt) => {
        const TARGETS: &[Target] = &[$($target),*];
        matrix!(@faults_const $faults);
        $(
            mod $t {
                use super::*;
                matrix!(@tests $target, $faults);
            }
        )*
    };
    (@faults_const [$($f:ident = $fault:expr),* $(,)?]) => {
        const FAULTS: &[Fault] = &[$($fault),*];
    };
    (@tests $target:expr, [$($f:ident = $fault:expr),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $f() {
                run_case($target, $fault).await;
            }
        )*
    };
}

matrix! {
    targets: [
        token = Target::Token,
        graph = Target::Graph,
        arm_put = Target::ArmPut,
        arm_delete = Target::ArmDelete,
        arm_list = Target::ArmList,
        github_pr = Target::GithubPr,
        git_push = Target::GitPush,
    ],
    faults: [
        too_many_with_retry_after = Fault::TooManyWithRetryAfter,
        too_many = Fault::TooMany,
        status_500 = Fault::Status500,
        status_503 = Fault::Status503,
        connection_reset = Fault::ConnectionReset,
        delay_past_timeout = Fault::DelayPastTimeout,
        outage_one_run = Fault::OutageOneRun,
    ]
}

/// The whole table: every target crossed with every fault.
const CASES: [(Target, Fault); TARGETS.len() * FAULTS.len()] = {
    let mut out = [(Target::Token, Fault::TooMany); TARGETS.len() * FAULTS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = (TARGETS[i / FAULTS.len()], FAULTS[i % FAULTS.len()]);
        i += 1;
    }
    out
};

#[test]
fn the_table_is_the_whole_cross_product() {
    assert_eq!(CASES.len(), 7 * 7);
    for t in TARGETS {
        for f in FAULTS {
            assert_eq!(
                CASES.iter().filter(|c| **c == (*t, *f)).count(),
                1,
                "{t:?} x {f:?}"
            );
        }
    }
}

/// The emulator fault that breaks `target` this way (`None` for git, broken by its hook).
fn armed(target: Target, fault: Fault) -> Option<Armed> {
    let base = match target {
        Target::Token => Armed::new(FaultKind::Hang)
            .method("POST")
            .path_contains("/oauth2/v2.0/token"),
        Target::Graph => Armed::new(FaultKind::Hang).path_prefix("/graph/"),
        Target::ArmPut => Armed::new(FaultKind::Hang)
            .method("PUT")
            .path_contains("/roleAssignments/"),
        Target::ArmDelete => Armed::new(FaultKind::Hang)
            .method("DELETE")
            .path_contains("/roleAssignments/"),
        Target::ArmList => Armed::new(FaultKind::Hang)
            .method("GET")
            .path_suffix("/roleAssignments"),
        Target::GithubPr => Armed::new(FaultKind::Hang)
            .method("GET")
            .path_contains("/pulls/7"),
        Target::GitPush => return None,
    };
    let status = |status: u16, retry_after: Option<u64>| FaultKind::Status {
        status,
        code: None,
        retry_after,
    };
    let (kind, count) = match fault {
        Fault::TooManyWithRetryAfter => (status(429, Some(2)), 1),
        Fault::TooMany => (status(429, None), 1),
        Fault::Status500 => (status(500, None), 1),
        Fault::Status503 => (status(503, None), 1),
        Fault::ConnectionReset => (FaultKind::Drop, 1),
        Fault::DelayPastTimeout => (FaultKind::Delay { ms: DELAY_MS }, 1),
        Fault::OutageOneRun => (status(503, None), u32::MAX),
    };
    Some(Armed { kind, ..base }.times(count))
}

/// The revoke of an expired grant is the run under test for the DELETE; every other target is
/// met by the grant.
fn revokes(target: Target) -> bool {
    target == Target::ArmDelete
}

async fn run_case(target: Target, fault: Fault) {
    let case = format!("{target:?} x {fault:?}");
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let start = if revokes(target) {
        let g = w
            .kv_jit_in(&w.work, &["grant", "--now", &t0_plus(0)], &env(None))
            .await;
        assert_eq!(
            g.code, 0,
            "{case}: the grant before the revoke: {}",
            g.stderr
        );
        121
    } else {
        0
    };
    match armed(target, fault) {
        Some(f) if target == Target::GithubPr => w.github.core().add_fault(f),
        Some(f) => w.azure.core().add_fault(f),
        None => git_fault(&w.origin, fault),
    }
    let timeout = (fault == Fault::DelayPastTimeout).then_some(TIMEOUT_MS);
    let cmd = if revokes(target) { "revoke" } else { "grant" };
    let mut outputs = Vec::new();
    let mut converged = false;
    for run in 0..3 {
        let now = t0_plus(start + run);
        let r = w
            .kv_jit_in(&w.work, &[cmd, "--now", &now], &env(timeout))
            .await;
        outputs.push(format!(
            "run {}: exit {}\n{}{}",
            run + 1,
            r.code,
            r.stdout,
            r.stderr
        ));
        if run == 0 {
            // The outage lasted one run.
            w.azure.core().clear_faults();
            w.github.core().clear_faults();
            let _ = std::fs::remove_file(w.origin.join("hooks/pre-receive"));
        }
        if r.code == 0 {
            converged = true;
            break;
        }
    }
    let outputs = outputs.join("\n");
    assert!(converged, "{case}: no run of three converged\n{outputs}");
    // The delay really outlasted the client's timeout: the Azure client says so as it retries.
    if fault == Fault::DelayPastTimeout && !matches!(target, Target::GithubPr | Target::GitPush) {
        assert!(
            outputs.contains("timed out"),
            "{case}: no timeout was reported\n{outputs}"
        );
    }
    let expect = if revokes(target) {
        Expect {
            revoked: &[REQUEST_ID],
            ..Expect::default()
        }
    } else {
        Expect {
            active: &[REQUEST_ID],
            ..Expect::default()
        }
    };
    if let Err(e) = invariants::check(&w, expect).await {
        panic!("{case}: {e}\n{outputs}");
    }
    // The fault was met: the log shows it (git's hook counts its own refusals).
    if target != Target::GitPush {
        let core = if target == Target::GithubPr {
            w.github.core()
        } else {
            w.azure.core()
        };
        assert!(
            core.log().iter().any(|e| e.fault.is_some()),
            "{case}: the armed fault was never met\n{outputs}"
        );
    } else {
        let n = std::fs::read_to_string(w.origin.join("hook-refusals")).unwrap_or_default();
        assert!(
            !n.trim().is_empty(),
            "{case}: the hook never refused\n{outputs}"
        );
    }
}

/// The workflow's extra environment for a test run: virtual waits, and the short timeout.
/// `KV_JIT_MATRIX_REAL_WAITS=1` in the test's own environment leaves the waits real (to
/// measure what the virtual ones save).
fn env(timeout: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let real = std::env::var("KV_JIT_MATRIX_REAL_WAITS").is_ok_and(|v| v == "1");
    let mut env = vec![("KV_JIT_TEST_VIRTUAL_WAITS", if real { "0" } else { "1" })];
    if let Some(t) = timeout {
        env.push(("KV_JIT_TEST_HTTP_TIMEOUT_MS", t));
    }
    env
}

/// The git side of a fault: a `pre-receive` hook on origin. HTTP statuses have no git
/// equivalent, so every fault but the outage is a push that loses once to another writer (the
/// hook moves `main` to a foreign commit while the push is in flight: git answers "failed to
/// update ref", a lost race); the outage is a hook that declines every push for a run.
fn git_fault(origin: &Path, fault: Fault) {
    let refusals = origin.join("hook-refusals");
    let script = match fault {
        Fault::OutageOneRun => format!(
            "#!/bin/sh\necho x >> '{}'\necho 'kv-jit fault matrix: declined' >&2\nexit 1\n",
            refusals.display()
        ),
        _ => lose_race_hook(origin, 1),
    };
    install_hook(origin, &script);
}

/// A hook that, for the first `n` pushes, commits a foreign change onto `main` (as a human
/// merging meanwhile would) before git updates the ref, so the push loses the race.
fn lose_race_hook(origin: &Path, n: u32) -> String {
    let refusals = origin.join("hook-refusals");
    format!(
        r#"#!/bin/sh
# Git quarantines a push's objects while pre-receive runs; the foreign commit goes to the real
# object store and the ref moves outside the quarantine.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
count=$(wc -l < '{r}' 2>/dev/null || echo 0)
if [ "$count" -lt {n} ]; then
  echo x >> '{r}'
  tip=$(git rev-parse refs/heads/main)
  tree=$(git rev-parse "$tip^{{tree}}")
  c=$(GIT_AUTHOR_NAME=Dana GIT_AUTHOR_EMAIL=dana@contoso.com GIT_COMMITTER_NAME=Dana \
      GIT_COMMITTER_EMAIL=dana@contoso.com GIT_AUTHOR_DATE='@1796029200 +0000' \
      GIT_COMMITTER_DATE='@1796029200 +0000' \
      git commit-tree "$tree" -p "$tip" -m "Someone else's commit $count")
  git update-ref refs/heads/main "$c" "$tip"
fi
exit 0
"#,
        r = refusals.display()
    )
}

fn install_hook(origin: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let hook = origin.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The cases that are not a (target, fault) pair.
mod extra {
    use super::*;

    /// Converges within three runs of `cmd`, the faults armed before the first, then checks.
    async fn converge(w: &World, cmd: &str, start: i64, expect: Expect<'_>, case: &str) -> String {
        let mut outputs = Vec::new();
        for run in 0..3 {
            let r = w
                .kv_jit_in(&w.work, &[cmd, "--now", &t0_plus(start + run)], &env(None))
                .await;
            outputs.push(format!(
                "run {}: exit {}\n{}{}",
                run + 1,
                r.code,
                r.stdout,
                r.stderr
            ));
            if r.code == 0 {
                break;
            }
        }
        let outputs = outputs.join("\n");
        if let Err(e) = invariants::check(w, expect).await {
            panic!("{case}: {e}\n{outputs}");
        }
        outputs
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_that_loses_the_race_three_times_is_rebuilt_and_lands_in_one_run() {
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        install_hook(&w.origin, &lose_race_hook(&w.origin, 3));
        let r = w
            .kv_jit_in(&w.work, &["grant", "--now", &t0_plus(0)], &env(None))
            .await;
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let refusals = std::fs::read_to_string(w.origin.join("hook-refusals")).unwrap();
        assert_eq!(refusals.lines().count(), 3, "three lost races");
        invariants::check(
            &w,
            Expect {
                active: &[REQUEST_ID],
                ..Expect::default()
            },
        )
        .await
        .unwrap();
        // The three foreign commits are still there, under kv-jit's.
        let log = world::git(&w.origin, &["log", "--format=%an", "main"]);
        assert_eq!(log.lines().filter(|l| *l == "Dana").count(), 3, "{log}");
    }

    /// Another clone's kv-jit recorded something on the ledger branch between this run's read
    /// and its push: the append is rebuilt on the new tip, both entries survive, chained.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_ledger_branch_moved_under_us() {
        use kv_jit_core::ledger::{Event, NewEntry, Tip, append, parse_ledger, to_line};
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        // The other writer's ledger commit, prepared in its own clone and parked on a side
        // branch of origin; the hook moves main to it while kv-jit's push is in flight.
        let other = w.clone("other");
        let path = other.join("audit/ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let entries = parse_ledger("ledger", text.as_bytes()).unwrap();
        let foreign = NewEntry {
            request: Some("2026/bob-other".into()),
            request_sha256: Some("0".repeat(64)),
            error: Some("another run refused it".into()),
            ..NewEntry::new(support::t0(), Event::Refused)
        };
        let mut text = text;
        for e in append(&Tip::of(&entries), vec![foreign]) {
            text.push_str(&to_line(&e));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        world::git(&other, &["add", "-A"]);
        world::git(
            &other,
            &["commit", "--quiet", "-m", "audit: refused 2026/bob-other"],
        );
        world::git(
            &other,
            &["push", "--quiet", "origin", "HEAD:refs/heads/other-writer"],
        );
        let moved = world::git(&other, &["rev-parse", "HEAD"]);
        let refusals = w.origin.join("hook-refusals");
        install_hook(
            &w.origin,
            &format!(
                "#!/bin/sh\nunset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\nif [ ! -e '{r}' ]; then echo x > '{r}'; git update-ref refs/heads/main {moved}; fi\nexit 0\n",
                r = refusals.display()
            ),
        );
        converge(
            &w,
            "grant",
            0,
            Expect {
                active: &[REQUEST_ID],
                ..Expect::default()
            },
            "ledger moved",
        )
        .await;
        assert!(refusals.exists(), "the branch was moved");
        let events = w.ledger_events();
        assert_eq!(
            events,
            [
                ("refused".into(), "2026/bob-other".into(), None),
                ("granted".into(), REQUEST_ID.into(), None)
            ]
        );
    }

    /// A permanent answer: the first run refuses the request and records it once; later runs
    /// (the fault still armed) do nothing more, and nothing is ever granted.
    async fn refused_for_good(w: &World, fault: Armed, says: &str) {
        w.azure.core().add_fault(fault.until_cleared());
        let first = w
            .kv_jit_in(&w.work, &["grant", "--now", &t0_plus(0)], &env(None))
            .await;
        assert_ne!(first.code, 0, "{}{}", first.stdout, first.stderr);
        let first_ledger = w.origin_ledger();
        assert!(first_ledger.contains(says), "{first_ledger}");
        for run in 1..3 {
            let r = w
                .kv_jit_in(&w.work, &["grant", "--now", &t0_plus(run)], &env(None))
                .await;
            assert_eq!(r.code, 0, "run {}: {}{}", run + 1, r.stdout, r.stderr);
        }
        assert_eq!(
            w.origin_ledger(),
            first_ledger,
            "no run adds to the refusal"
        );
        let entries = invariants::check(
            w,
            Expect {
                never: &[REQUEST_ID],
                ..Expect::default()
            },
        )
        .await
        .unwrap();
        let refused: Vec<_> = entries
            .iter()
            .filter(|e| e.event == kv_jit_core::ledger::Event::Refused)
            .collect();
        assert_eq!(refused.len(), 1, "{first_ledger}");
    }

    /// ARM refuses the PUT: the subscription has no room for another assignment. A permanent
    /// answer: refused once, with what to do, never retried for the same file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_role_assignment_limit_is_reached() {
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        let limit = Armed::new(FaultKind::Status {
            status: 400,
            code: Some("RoleAssignmentLimitExceeded".into()),
            retry_after: None,
        })
        .method("PUT")
        .path_contains("/roleAssignments/");
        refused_for_good(&w, limit, "RoleAssignmentLimitExceeded").await;
    }

    /// The requester's account is deleted after the approval: Graph no longer knows the UPN.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_principal_is_deleted_between_approval_and_grant_graph_404() {
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        let gone = Armed::new(FaultKind::Status {
            status: 404,
            code: Some("Request_ResourceNotFound".into()),
            retry_after: None,
        })
        .path_prefix("/graph/");
        refused_for_good(&w, gone, "\"refused\"").await;
    }

    /// The object id resolved, then the principal went: ARM answers `PrincipalNotFound`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_principal_is_deleted_between_approval_and_grant_arm_principal_not_found() {
        let w = World::new(&world::request("alice@contoso.com", "2h")).await;
        w.azure.core().add_fault(
            Armed::new(FaultKind::Status {
                status: 400,
                code: Some("PrincipalNotFound".into()),
                retry_after: None,
            })
            .method("PUT")
            .path_contains("/roleAssignments/")
            .until_cleared(),
        );
        let mut last = String::new();
        for run in 0..3 {
            let r = w
                .kv_jit_in(&w.work, &["grant", "--now", &t0_plus(run)], &env(None))
                .await;
            assert_ne!(r.code, 0, "run {run}: {}", r.stdout);
            last = format!("{}{}", r.stdout, r.stderr);
        }
        assert!(
            last.contains("PrincipalNotFound") || last.contains("does not exist"),
            "{last}"
        );
        let entries = invariants::check(
            &w,
            Expect {
                never: &[REQUEST_ID],
                ..Expect::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{last}"));
        assert!(!entries.is_empty(), "the failure is recorded: {last}");
    }
}
