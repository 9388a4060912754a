//! ARM's write throttling: a token bucket per subscription and operation (writes, deletes), with
//! the `x-ms-ratelimit-remaining-subscription-*` headers and a 429 with `Retry-After` when empty.
//!
//! The buckets refill on the emulator's virtual clock only, never on the wall clock or the
//! machine's speed: a test that moves the clock (or waits through a virtual
//! `kv_jit_core::clock::Clock`) gets exactly the refill that much time buys, on any machine.

use std::collections::HashMap;

use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{AzureState, Inner, Limits, arm_error};

/// What ARM counts separately per subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Operation {
    Writes,
    Deletes,
}

impl Operation {
    fn header(self) -> HeaderName {
        HeaderName::from_static(match self {
            Operation::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Operation::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date (virtual time).
    at: DateTime<Utc>,
}

/// Every subscription's buckets; a bucket starts full the first time it is drawn from.
#[derive(Debug, Default)]
pub(super) struct Buckets(HashMap<(String, Operation), Bucket>);

impl Buckets {
    /// Draws one token at `now`: `Ok(remaining)` or `Err(retry_after_secs)`.
    fn take(
        &mut self,
        limits: &Limits,
        sub: &str,
        op: Operation,
        now: DateTime<Utc>,
    ) -> Result<u64, u64> {
        let (cap, rate) = (limits.write_bucket_capacity, limits.write_refill_per_sec);
        let b = self
            .0
            .entry((sub.to_ascii_lowercase(), op))
            .or_insert(Bucket {
                tokens: cap,
                at: now,
            });
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(b.tokens.floor() as u64)
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

impl AzureState {
    /// Draws one `op` from the subscription's bucket at the emulated now: the remaining count,
    /// or the 429 to answer with.
    pub(super) fn draw(
        &self,
        inner: &mut Inner,
        sub: &str,
        op: Operation,
    ) -> Result<u64, Response> {
        inner
            .buckets
            .take(&self.limits, sub, op, self.clock.now())
            .map_err(|wait| throttled(wait, op))
    }
}

fn throttled(retry_after: u64, op: Operation) -> Response {
    let mut r = arm_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Write.",
    );
    let h = r.headers_mut();
    h.insert("retry-after", retry_after.into());
    h.insert(op.header(), 0u64.into());
    r
}

/// `r` with the remaining count of `op` in its rate-limit header.
pub(super) fn with_remaining(mut r: Response, op: Operation, remaining: u64) -> Response {
    r.headers_mut().insert(op.header(), remaining.into());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(capacity: f64, per_sec: f64) -> Limits {
        Limits {
            write_bucket_capacity: capacity,
            write_refill_per_sec: per_sec,
            ..Limits::default()
        }
    }

    #[test]
    fn refills_with_virtual_time_only() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let limits = limits(2.0, 0.5);
        let mut b = Buckets::default();
        let w = Operation::Writes;
        assert_eq!(b.take(&limits, "s", w, t0), Ok(1));
        assert_eq!(b.take(&limits, "s", w, t0), Ok(0));
        // Empty: one token takes two (virtual) seconds at 0.5 per second.
        assert_eq!(b.take(&limits, "s", w, t0), Err(2));
        // However long the machine took, the clock has not moved: still empty.
        assert_eq!(b.take(&limits, "S", w, t0), Err(2));
        let later = t0 + chrono::Duration::seconds(2);
        assert_eq!(b.take(&limits, "s", w, later), Ok(0));
        // Deletes and other subscriptions have buckets of their own.
        assert_eq!(b.take(&limits, "s", Operation::Deletes, t0), Ok(1));
        assert_eq!(b.take(&limits, "t", w, t0), Ok(1));
        // Never above capacity, however long the pause.
        let much_later = t0 + chrono::Duration::days(1);
        assert_eq!(b.take(&limits, "t", w, much_later), Ok(1));
    }
}
