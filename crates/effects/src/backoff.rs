//! The one backoff schedule, shared by the Azure transport (retries, PIM polls, principal
//! replication lag), the GitHub client's reads and git's compare-and-swap retries.
//!
//! A schedule is exponential and capped: the step before retry `n` (1-based) is
//! `min(max, initial · 2^(n−1))`. It is then spread by a [`Jitter`], drawn from a number in
//! [0, 1) the caller passes, so the schedule itself is a pure function and its tests pin exact
//! values; [`random_unit`] is the source the clients use. Waiting is the caller's business (a
//! [`crate::clock::Clock`] for async code, an injected blocking sleeper for git).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How a step is spread so that clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the step: GitHub's reads (a few short waits, one client, nobody to collide with).
    None,
    /// Uniform in [step/2, step]: Azure's retries keep at least half the step, so a burst of
    /// throttled writes backs off for real while still spreading out.
    Equal,
    /// Uniform in [0, step]: git's racers, which lost to each other and should spread widely.
    Full,
}

/// Exponential, capped, jittered waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The step before the first retry; doubled for each one after.
    pub initial: Duration,
    /// The cap on one step.
    pub max: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// The un-jittered step before retry number `retry` (1-based; 0 counts as 1):
    /// `min(max, initial · 2^(retry−1))`.
    pub fn step(&self, retry: u32) -> Duration {
        // 2^20 · any sane initial is far past any cap; the shift stays in range.
        let doublings = retry.saturating_sub(1).min(20);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The wait before retry number `retry`, with `unit` in [0, 1) choosing within the jitter
    /// band (clamped into it; pass [`random_unit()`] outside tests).
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let step = self.step(retry);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match self.jitter {
            Jitter::None => step,
            Jitter::Equal => step.mul_f64(0.5 + 0.5 * unit),
            Jitter::Full => step.mul_f64(unit),
        }
    }
}

/// A number in [0, 1) without a dependency: each std `RandomState` is freshly keyed from the
/// process's random seed, so two calls (and two processes) draw differently. Not for secrets.
pub fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_step_doubles_and_is_capped() {
        let b = Backoff {
            initial: MS(250),
            max: Duration::from_secs(8),
            jitter: Jitter::None,
        };
        let steps: Vec<_> = (1..=8).map(|n| b.step(n)).collect();
        assert_eq!(
            steps,
            [250, 500, 1000, 2000, 4000, 8000, 8000, 8000].map(MS)
        );
        assert_eq!(b.step(0), MS(250));
        assert_eq!(b.step(u32::MAX), Duration::from_secs(8));
        assert_eq!(b.delay(3, 0.99), MS(1000), "no jitter");
    }

    #[test]
    fn jitter_bands_are_exact() {
        let equal = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: Jitter::Equal,
        };
        assert_eq!(equal.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(equal.delay(3, 0.5), Duration::from_secs(3));
        assert_eq!(equal.delay(10, 0.0), Duration::from_secs(15));
        let full = Backoff {
            jitter: Jitter::Full,
            ..equal
        };
        assert_eq!(full.delay(3, 0.0), Duration::ZERO);
        assert_eq!(full.delay(3, 0.25), Duration::from_secs(1));
        // Out-of-range draws stay inside the band.
        assert_eq!(full.delay(3, 7.0), Duration::from_secs(4));
        assert_eq!(full.delay(3, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn random_units_are_in_range_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|u| *u != draws[0]));
    }
}
