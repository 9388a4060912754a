//! The one notion of time: every reader of "now" and every wait goes through a [`Clock`]. The
//! shell's is the wall clock (or `--now`), the tests' and the emulator's are virtual, so nothing
//! depends on the date a test runs or on the machine's speed. The core only names the trait:
//! its own rules take the instant as a parameter and read no clock at all.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A waiting future, boxed so a `dyn Clock` can hand it out.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Now, and waiting. `sleep` on a virtual clock moves that clock instead of waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, d: Duration) -> Sleep;
}

/// `at + d`, saturating at the largest instant chrono can hold instead of overflowing (a
/// token's `expires_in` or a test's jump comes from outside).
pub fn saturating_add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The time from `earlier` to `later`; zero when `later` is not after it (a wall clock can be
/// stepped back, a virtual one set back).
pub fn duration_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_770_000, 0).unwrap()
    }

    #[test]
    fn adding_saturates() {
        assert_eq!(
            saturating_add(t0(), Duration::from_secs(90)),
            t0() + chrono::Duration::seconds(90)
        );
        assert_eq!(
            saturating_add(t0(), Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn a_backwards_interval_is_zero() {
        let later = t0() + chrono::Duration::milliseconds(1500);
        assert_eq!(duration_between(t0(), later), Duration::from_millis(1500));
        assert_eq!(duration_between(later, t0()), Duration::ZERO);
    }
}
