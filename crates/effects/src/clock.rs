//! The two [`Clock`]s the effects run on, and the only place in this crate that reads the wall
//! clock or starts a timer.
//!
//! [`SystemClock`] is the real one: `chrono::Utc::now()` and `tokio::time::sleep`. It is what
//! every client uses unless told otherwise (`with_clock`). [`ManualClock`] is virtual: it stands
//! at an instant until a test moves it, and a `sleep` moves it by the wait and returns at once,
//! so retries, backoff, `Retry-After` dates and token expiry behave exactly as if the time had
//! passed, however fast or slow the machine is.
//!
//! Which instant a client should run on: the wall clock, even when the shell plans "as of"
//! `--now`. Token lifetimes and `Retry-After` dates are the servers' real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use kv_jit_core::clock::{Clock, Sleep, duration_between, saturating_add};

/// The wall clock and tokio's timer. Under `#[tokio::test(start_paused = true)]` its sleeps are
/// tokio's paused (auto-advancing) time, but `now` stays the wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// As the `Arc<dyn Clock>` the clients carry.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A virtual clock for tests: `now` is whatever it was set to; `sleep(d)` advances it by `d`
/// and is ready at once. Shareable (`Arc<ManualClock>` is an `Arc<dyn Clock>`), so a test can
/// keep a handle and move the clock while a client reads it.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(at),
        }
    }

    /// Moves the clock to `at` (backwards too: a test may simulate a wall-clock step).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = at;
    }

    /// Moves the clock forward by `d` (saturating at chrono's largest instant).
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now = saturating_add(*now, d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    fn sleep(&self, d: Duration) -> Sleep {
        self.advance(d);
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-27T09:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told_or_slept_on() {
        let c = ManualClock::new(t0());
        assert_eq!(c.now(), t0());
        c.sleep(Duration::from_secs(90)).await;
        assert_eq!(c.now(), t0() + chrono::Duration::seconds(90));
        c.advance(Duration::from_millis(500));
        assert_eq!(
            duration_between(t0(), c.now()),
            Duration::from_millis(90_500)
        );
        c.set(t0() - chrono::Duration::hours(1));
        assert_eq!(c.now(), t0() - chrono::Duration::hours(1));
    }

    #[test]
    fn a_manual_clock_saturates_instead_of_overflowing() {
        let c = ManualClock::new(t0());
        c.advance(Duration::MAX);
        assert_eq!(c.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clock_sleeps_on_tokio_time() {
        let started = tokio::time::Instant::now();
        SystemClock.sleep(Duration::from_secs(30)).await;
        assert!(started.elapsed() >= Duration::from_secs(30));
    }
}
