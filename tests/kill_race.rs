//! Crash consistency and races with the real binary (issue 11 §4): SIGKILL at every effect
//! boundary in [`kv_jit_effects::testing::FAILPOINTS`] and at seeded random boundaries, each
//! followed by runs to convergence; four processes racing grant and revoke on one repository.
//! Every case ends with the one invariant check ([`support::invariants`]).
//!
//! The scenario is a break-glass grant (it crosses every boundary, the retrospective issue
//! included) and its revoke an hour later. Every wait is virtual (`KV_JIT_TEST_VIRTUAL_WAITS`).

#[path = "support/invariants.rs"]
mod invariants;
mod support;
#[path = "support/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::path::Path;

use invariants::Expect;
use kv_jit_effects::testing::FAILPOINTS;
use kv_jit_emulator::github::TokenSeed;
use support::t0_plus;
use world::{REQUEST_ID, World};

/// A world whose PR #7 (a break-glass request for 1h) was merged without review, on a vault
/// that allows break-glass; GitHub knows kv-jit's token as the workflow's bot.
async fn break_glass_world() -> World {
    let allowing = |c: String| {
        c.replace(
            "    max_duration: 4h\n",
            "    max_duration: 4h\n    break_glass:\n      max_duration: 1h\n",
        )
    };
    let request = world::request("alice@contoso.com", "1h") + "break_glass: true\n";
    let w = World::new_with(&request, allowing).await;
    let config = std::fs::read_to_string(w.work.join(".github/kv-jit.yml")).unwrap();
    let mut seed = w.reseed_github(&config, "carol");
    seed.repos[0].pulls[0].reviews.clear();
    seed.tokens = BTreeMap::from([(
        "test-token".to_owned(),
        TokenSeed {
            login: "github-actions[bot]".into(),
            permissions: vec![],
        },
    )]);
    w.github.reseed(seed);
    w
}

const GRANT_AT: i64 = 0;
/// After the 1h window.
const REVOKE_AT: i64 = 61;

fn env<'a>(trace: &'a str, failpoint: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("KV_JIT_TEST_VIRTUAL_WAITS", "1"),
        ("KV_JIT_FAILPOINT_TRACE", trace),
    ];
    if let Some(f) = failpoint {
        env.push(("KV_JIT_FAILPOINT", f));
    }
    env
}

fn trace_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `cmd` with `failpoint`, then plain runs until one exits 0 (at most three). Returns the
/// boundaries the first run crossed, and whether it was killed.
async fn kill_then_converge(
    w: &World,
    dir: &Path,
    cmd: &str,
    at: i64,
    failpoint: &str,
    case: &str,
) -> (Vec<String>, bool) {
    let trace = dir.join(format!("trace-{cmd}"));
    let trace_s = trace.to_str().unwrap().to_owned();
    let first = w
        .kv_jit_in(
            &w.work,
            &[cmd, "--now", &t0_plus(at)],
            &env(&trace_s, Some(failpoint)),
        )
        .await;
    let crossed = trace_lines(&trace);
    let killed = first.code == -9;
    let mut log = format!(
        "{case}: {cmd} with {failpoint}: exit {}\n{}{}",
        first.code, first.stdout, first.stderr
    );
    let mut converged = first.code == 0;
    for run in 1..=3 {
        if converged {
            break;
        }
        let plain = dir.join("trace-plain");
        let r = w
            .kv_jit_in(
                &w.work,
                &[cmd, "--now", &t0_plus(at + run)],
                &env(plain.to_str().unwrap(), None),
            )
            .await;
        log.push_str(&format!(
            "rerun {run}: exit {}\n{}{}",
            r.code, r.stdout, r.stderr
        ));
        converged = r.code == 0;
    }
    assert!(converged, "no run converged after the kill\n{log}");
    (crossed, killed)
}

/// Grant killed at `failpoint`, rerun to convergence, checked; the revoke likewise.
async fn crash_scenario(failpoint: &str) -> bool {
    let w = break_glass_world().await;
    let dir = tempfile::tempdir().unwrap();
    let mut hit = false;
    for (cmd, at, expect) in [
        (
            "grant",
            GRANT_AT,
            Expect {
                active: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
        (
            "revoke",
            REVOKE_AT,
            Expect {
                revoked: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
    ] {
        let (crossed, killed) =
            kill_then_converge(&w, dir.path(), cmd, at, failpoint, failpoint).await;
        // Killed exactly when, and where, the run reached the boundary.
        let reached = crossed.iter().any(|c| c == failpoint);
        assert_eq!(killed, reached, "{failpoint} in {cmd}: crossed {crossed:?}");
        if reached {
            assert_eq!(crossed.last().map(String::as_str), Some(failpoint));
        }
        hit |= reached;
        if let Err(e) = invariants::check(&w, expect).await {
            panic!("{failpoint} in {cmd}: {e}");
        }
    }
    retrospective_once(&w).await;
    hit
}

/// However the runs died, one retrospective issue was opened and one recorded.
async fn retrospective_once(w: &World) {
    let retros = w
        .ledger_events()
        .into_iter()
        .filter(|e| e.0 == "retrospective")
        .count();
    assert_eq!(retros, 1, "{}", w.origin_ledger());
    let creates = w
        .github
        .core()
        .log()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/issues"))
        .count();
    assert_eq!(creates, 1, "issues opened");
}

macro_rules! every_failpoint {
    ($($test:ident = $name:literal),* $(,)?) => {
        /// The failpoints this file kills at, one test each.
        const TESTED: &[&str] = &[$($name),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                assert!(crash_scenario($name).await, "the scenario never reached {}", $name);
            }
        )*
    };
}

every_failpoint! {
    killed_after_sign_in = "after-sign-in",
    killed_after_role_assignment_put = "after-role-assignment-put",
    killed_after_role_assignment_delete = "after-role-assignment-delete",
    killed_after_effects = "after-effects",
    killed_before_ledger_commit = "before-ledger-commit",
    killed_before_ledger_push = "before-ledger-push",
    killed_after_push_accepted = "after-push-accepted",
    killed_after_ledger_push = "after-ledger-push",
    killed_after_retrospective_issue = "after-retrospective-issue",
}

#[test]
fn every_failpoint_is_tested() {
    assert_eq!(
        TESTED, FAILPOINTS,
        "one test per failpoint, in the list's order"
    );
}

/// A small deterministic generator (SplitMix64): the same seed kills at the same boundaries.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Kills at the k-th boundary crossed (`KV_JIT_FAILPOINT=nth:<k>`), k drawn from `seed`, in the
/// grant and again in the revoke; each time reruns to convergence and checks.
async fn random_kills(seed: u64) {
    let mut state = seed;
    let w = break_glass_world().await;
    let dir = tempfile::tempdir().unwrap();
    for (cmd, at, expect) in [
        (
            "grant",
            GRANT_AT,
            Expect {
                active: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
        (
            "revoke",
            REVOKE_AT,
            Expect {
                revoked: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
    ] {
        // A grant crosses about ten boundaries, a revoke about five: now and then k is past
        // the last one, and the run is not killed at all.
        let k = 1 + splitmix(&mut state) % 10;
        let spec = format!("nth:{k}");
        let case = format!("seed {seed}, {cmd} {spec}");
        let (crossed, killed) = kill_then_converge(&w, dir.path(), cmd, at, &spec, &case).await;
        if killed {
            assert_eq!(crossed.len() as u64, k, "{case}: killed at {crossed:?}");
        } else {
            assert!((crossed.len() as u64) < k, "{case}: crossed {crossed:?}");
        }
        if let Err(e) = invariants::check(&w, expect).await {
            panic!("{case}: {e}");
        }
    }
    retrospective_once(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_boundaries_seed_1() {
    random_kills(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_boundaries_seed_2() {
    random_kills(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_boundaries_seed_3() {
    random_kills(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_boundaries_seed_4() {
    random_kills(4).await;
}

/// Runs `cmd` in `dir` until it exits 0 (at most five times); the outputs when it never does.
async fn until_ok(w: &World, dir: &Path, cmd: &str, at: i64) -> Result<(), String> {
    let mut log = String::new();
    for run in 0..5 {
        let r = w
            .kv_jit_in(
                dir,
                &[cmd, "--now", &t0_plus(at + run)],
                &[("KV_JIT_TEST_VIRTUAL_WAITS", "1")],
            )
            .await;
        if r.code == 0 {
            return Ok(());
        }
        log.push_str(&format!(
            "run {run}: exit {}\n{}{}",
            r.code, r.stdout, r.stderr
        ));
    }
    Err(log)
}

/// Four clones of one origin (four workflow runs), started together, grant the approved
/// request, then revoke it together after its window. (Two requests of one requester on one
/// vault would share one role assignment: kv-jit refuses the second, so one request it is.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_processes_race_grant_and_revoke_on_one_repository() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let clones: Vec<_> = (0..4).map(|i| w.clone(&format!("racer-{i}"))).collect();
    for (cmd, at, expect) in [
        (
            "grant",
            0,
            Expect {
                active: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
        (
            "revoke",
            121,
            Expect {
                revoked: &[REQUEST_ID],
                ..Expect::default()
            },
        ),
    ] {
        let (a, b, c, d) = tokio::join!(
            until_ok(&w, &clones[0], cmd, at),
            until_ok(&w, &clones[1], cmd, at),
            until_ok(&w, &clones[2], cmd, at),
            until_ok(&w, &clones[3], cmd, at),
        );
        for (i, r) in [a, b, c, d].into_iter().enumerate() {
            if let Err(log) = r {
                panic!("{cmd}: racer {i} never converged\n{log}");
            }
        }
        if let Err(e) = invariants::check(&w, expect).await {
            panic!("{cmd}: {e}");
        }
    }
}
