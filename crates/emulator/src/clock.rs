//! The emulator's one clock, virtual, shared by every service it emulates.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kv_jit_core::clock::Sleep;

/// The emulated clock: virtual. It stands still until a test (or `POST /_emulator/clock`) moves
/// it, so a test that passes `--now T` to kv-jit sets the emulator to `T` too, and nothing the
/// emulator decides (PIM windows, token lifetimes, throttle refills) depends on the machine's
/// date or speed. Only the standalone `kv-jit emulator` starts it at the wall clock.
#[derive(Debug)]
pub struct Clock {
    now: Mutex<DateTime<Utc>>,
}

impl Clock {
    /// A clock standing at `t`.
    pub fn starting_at(t: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(t) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.now.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = to;
    }
}

/// The emulator's clock as kv-jit's own notion of time, so the engine and the emulator can
/// share one clock in a test: `sleep` moves the virtual clock by `d` and is ready at once (no
/// wall-clock wait), exactly as if the time had passed.
impl kv_jit_core::clock::Clock for Clock {
    fn now(&self) -> DateTime<Utc> {
        Clock::now(self)
    }

    fn sleep(&self, d: Duration) -> Sleep {
        // Durations beyond chrono's range (centuries) are clamped rather than panicking.
        self.advance(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_still_until_moved() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let clock = Clock::starting_at(t0);
        assert_eq!(clock.now(), t0);
        clock.advance(chrono::Duration::minutes(5));
        assert_eq!(clock.now(), t0 + chrono::Duration::minutes(5));
        clock.set(t0);
        assert_eq!(clock.now(), t0);
    }

    #[tokio::test]
    async fn sleeping_moves_the_clock_and_waits_for_nothing() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let clock = std::sync::Arc::new(Clock::starting_at(t0));
        let dyn_clock: std::sync::Arc<dyn kv_jit_core::clock::Clock> = clock.clone();
        // An hour's sleep completes at once (the test would hang otherwise) ...
        dyn_clock.sleep(Duration::from_secs(3600)).await;
        // ... and the hour has passed for everyone reading the clock.
        assert_eq!(dyn_clock.now(), t0 + chrono::Duration::hours(1));
        assert_eq!(clock.now(), t0 + chrono::Duration::hours(1));
    }
}
