//! Test-only hooks the crash and fault tests drive through the environment of the real binary.
//! All of them are inert unless their variable is set; none of them can grant, revoke or record
//! anything: they can only kill the process or shorten its waits.
//!
//! - `KV_JIT_FAILPOINT=<name>` SIGKILLs the process at the effect boundary `<name>` (one of
//!   [`FAILPOINTS`]); `KV_JIT_FAILPOINT=nth:<k>` at the `k`-th boundary it crosses, whichever
//!   (the kill tests draw `k` from a fixed seed).
//! - `KV_JIT_FAILPOINT_TRACE=<file>` appends the name of every boundary crossed, one a line
//!   (so a test knows how many boundaries a run crosses, and where a kill landed).
//! - `KV_JIT_TEST_HTTP_TIMEOUT_MS=<ms>` replaces the per-attempt HTTP timeout of the Azure and
//!   GitHub clients (30 s), so a "delay past the timeout" fault costs milliseconds.
//! - `KV_JIT_TEST_VIRTUAL_WAITS=1` makes every retry wait (Azure and GitHub backoff,
//!   `Retry-After`, git's compare-and-swap backoff) virtual: the clients' clock moves by the
//!   wait and returns at once, exactly as [`crate::clock::ManualClock`] does in unit tests.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::clock::{Clock, ManualClock, SystemClock};

/// Every effect boundary a run can be killed at, in the order a grant run crosses them. The one
/// list: `hit` refuses (in debug builds) a name not in it, and the kill tests walk it.
pub const FAILPOINTS: &[&str] = &[
    // The shell signed in to Entra (a token in hand, nothing done yet).
    "after-sign-in",
    // ARM answered a role assignment PUT with success (Azure changed, nothing recorded).
    "after-role-assignment-put",
    // ARM answered a role assignment DELETE with success (or 404: already gone).
    "after-role-assignment-delete",
    // Every effect and reconcile of the run is done; nothing is recorded yet.
    "after-effects",
    // The ledger append is built on the fetched tip; the commit object is not written yet.
    "before-ledger-commit",
    // The commit exists locally; the push has not started.
    "before-ledger-push",
    // The remote accepted the push; kv-jit has not told anyone yet.
    "after-push-accepted",
    // The engine heard the append succeed (notices and issue comments still to come).
    "after-ledger-push",
    // A break-glass grant's retrospective issue was opened, not yet recorded.
    "after-retrospective-issue",
];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Kills the process here if `KV_JIT_FAILPOINT` names this boundary (or its turn came).
pub fn hit(name: &str) {
    debug_assert!(FAILPOINTS.contains(&name), "unknown failpoint {name}");
    static CROSSED: AtomicU64 = AtomicU64::new(0);
    let n = CROSSED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(path) = var("KV_JIT_FAILPOINT_TRACE")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(f, "{name}");
    }
    let Some(spec) = var("KV_JIT_FAILPOINT") else {
        return;
    };
    let due = match spec.strip_prefix("nth:") {
        Some(k) => k.parse::<u64>().is_ok_and(|k| k == n),
        None => spec == name,
    };
    if due {
        kill_self();
    }
}

/// [`hit`] when `cond` holds (a boundary only some answers cross).
pub fn hit_if(cond: bool, name: &str) {
    if cond {
        hit(name);
    }
}

/// SIGKILL: no destructors, no flush, as a runner losing its machine.
fn kill_self() -> ! {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    // `kill` is not there: end as abruptly as we can.
    std::process::abort();
}

/// The per-attempt HTTP timeout: `default`, or `KV_JIT_TEST_HTTP_TIMEOUT_MS`.
pub fn http_timeout(default: Duration) -> Duration {
    var("KV_JIT_TEST_HTTP_TIMEOUT_MS")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

fn virtual_waits() -> bool {
    var("KV_JIT_TEST_VIRTUAL_WAITS").is_some_and(|v| v == "1")
}

/// The clock the HTTP clients wait on: the wall clock, or (`KV_JIT_TEST_VIRTUAL_WAITS=1`) one
/// virtual clock for the whole process that starts at the wall clock's now and moves only by
/// the waits slept on it.
pub fn retry_clock() -> Arc<dyn Clock> {
    if !virtual_waits() {
        return SystemClock::shared();
    }
    static VIRTUAL: OnceLock<Arc<ManualClock>> = OnceLock::new();
    VIRTUAL
        .get_or_init(|| Arc::new(ManualClock::new(SystemClock.now())))
        .clone()
}

/// Blocking sleeps (git's compare-and-swap backoff): `std::thread::sleep`, or nothing under
/// `KV_JIT_TEST_VIRTUAL_WAITS=1`.
pub fn blocking_sleep(d: Duration) {
    if !virtual_waits() {
        std::thread::sleep(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failpoint_names_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for n in FAILPOINTS {
            assert!(seen.insert(n), "{n} listed twice");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{n}");
        }
    }
}
