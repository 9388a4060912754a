//! The one retry policy every Azure call goes through, the per-subscription pacer, and the HTTP
//! transport that applies both.
//!
//! Policy: 408, 429, 500, 502, 503, 504 (`error::retried_in_call`) and transport failures
//! (connect errors, resets, timeouts) are retried with exponential backoff jittered in
//! [50 %, 100 %] of the step (the shared [`crate::backoff`] schedule, [`Jitter::Equal`]);
//! a `Retry-After` (or `x-ms-retry-after-ms` / `retry-after-ms`) is honoured exactly. Attempts
//! and total time are both bounded; a wait that would break the total budget ends the call with
//! the last error instead of sleeping. Every other status is returned to the caller, which maps
//! it to a precise error; `AzureError::class` then says whether a later run may succeed.
//!
//! Token requests (`Call::token`) differ in two ways: a connection that cannot be made at all
//! (refused, no such host; not a timeout) is a configuration error at once (the authority is
//! wrong or unreachable from this machine: retrying for half a minute only hides that), and
//! transient answers get a shorter budget (`token_attempts`, `token_total`). Every retry can be
//! announced (`on_retry`), so a slow run says why.
//!
//! Time: every wait, the call's elapsed time and the `Retry-After` date arithmetic go through
//! the policy's [`Clock`] ([`SystemClock`] unless [`RetryPolicy::with_clock`] says otherwise);
//! the credential's token expiry reads the same clock through the transport.
//!
//! Pacer: a local model of ARM's per-subscription token buckets (writes and deletes apart; 200
//! tokens refilling 10 per second by default). Every write or delete reserves its token before
//! it is sent, so requests in flight never spend the same token twice; when the model is empty
//! the request waits for the refill that covers it. ARM's
//! `x-ms-ratelimit-remaining-subscription-writes` / `-deletes` only ever lower the model (the
//! answer minus the requests still in flight, which ARM may not have counted yet): another
//! client spending the same bucket slows this one down, a stale answer never speeds it up. A
//! large run at any concurrency therefore waits before Azure would answer 429.
//! A successful answer without a count (a server that meters nothing: ARM always sends one)
//! turns the model off for that bucket until an answer carries a count again.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use super::AzureError;
use crate::backoff::{Backoff, Jitter, random_unit};
use crate::clock::{Clock, SystemClock, duration_between};

/// Told the line to show before each retry.
pub type RetryNotice = Arc<dyn Fn(&str) + Send + Sync>;

/// Retry, pacing and timeout settings for every Azure call.
#[derive(Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff step; doubled on each retry.
    pub initial_delay: Duration,
    /// Cap on one backoff step (a `Retry-After` may exceed it, within `max_total`).
    pub max_delay: Duration,
    /// Cap on the time one call may take, waits and attempts together.
    pub max_total: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (per attempt).
    pub request_timeout: Duration,
    /// Tokens the pacer leaves in each bucket (for other clients of the subscription); 0 turns
    /// the pacer off.
    pub pace_low_water: u32,
    /// The bucket the pacer models until ARM says less: capacity and refill per second
    /// (ARM's write bucket: 200 tokens, 10 per second).
    pub pace_capacity: u32,
    pub pace_refill_per_sec: f64,
    /// `PrincipalNotFound` right after a principal was created is Entra replication lag; PUTs
    /// are retried this many extra times (with the backoff above) before giving up.
    pub principal_not_found_retries: u32,
    /// What "now" and "wait" mean: the wall clock by default; tests pass a virtual clock that
    /// records waits (and may move an emulator's clock) instead of sleeping.
    pub clock: Arc<dyn Clock>,
    /// Attempts and total time for a token request (Entra, the GitHub OIDC token): a sign-in
    /// that keeps failing is more likely misconfigured than down, so it gives up sooner.
    pub token_attempts: u32,
    pub token_total: Duration,
    /// Told before each retry ("retrying Entra token request in 1.2s (attempt 2 of 3): HTTP
    /// 503"), so a slow run says why it is slow; the shell prints it on stderr.
    pub on_retry: Option<RetryNotice>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            pace_low_water: 10,
            pace_capacity: 200,
            pace_refill_per_sec: 10.0,
            principal_not_found_retries: 3,
            clock: SystemClock::shared(),
            token_attempts: 3,
            token_total: Duration::from_secs(10),
            on_retry: None,
        }
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("max_total", &self.max_total)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// The same policy on another clock (a virtual one in tests; the shell's, once it has one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same policy, telling `notify` before each retry.
    pub fn with_retry_notices(mut self, notify: RetryNotice) -> Self {
        self.on_retry = Some(notify);
        self
    }

    /// The schedule: `initial_delay` doubled per retry, capped at `max_delay`, jittered to
    /// 50-100 % of the step.
    pub fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.initial_delay,
            max: self.max_delay,
            jitter: Jitter::Equal,
        }
    }

    /// The backoff before retry number `retry` (1-based), jittered to 50-100 % of the step.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.schedule().delay(retry, random_unit())
    }
}

/// The server's requested wait: `x-ms-retry-after-ms` / `retry-after-ms` (milliseconds) or
/// `Retry-After` (seconds, or an HTTP date counted from `now`).
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = text("retry-after")?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?;
    let wait = when.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Which ARM bucket a call draws from, for the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Writes,
    Deletes,
}

impl Bucket {
    fn header(self) -> &'static str {
        match self {
            Bucket::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Bucket::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// The local model of one bucket.
#[derive(Debug, Clone, Copy)]
struct Model {
    /// Tokens left after every reservation made (negative: owed to the refill).
    tokens: f64,
    /// When `tokens` was last refilled (the policy's clock).
    at: DateTime<Utc>,
    /// Reserved and not yet answered: ARM may not have counted them in its last header.
    in_flight: u32,
    /// The most the model refills to: the policy's, or more if ARM's first answer said more.
    cap: f64,
    /// ARM has answered with the bucket's count at least once.
    known: bool,
    /// The last successful answer carried no count for this bucket: the server meters nothing
    /// here (ARM always sends one), so requests go unpaced until an answer carries a count.
    unmetered: bool,
}

/// The per-(subscription, bucket) models; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    buckets: Mutex<HashMap<(String, Bucket), Model>>,
}

impl Pacer {
    /// Reserves one token for a request about to be sent at `now`: how long to wait first
    /// (zero while the model has more than the low-water mark left). Every call must be matched
    /// by one [`Pacer::observe`] (with the answer's headers, or none).
    fn reserve(
        &self,
        policy: &RetryPolicy,
        sub: &str,
        bucket: Bucket,
        now: DateTime<Utc>,
    ) -> Duration {
        if policy.pace_low_water == 0 {
            return Duration::ZERO;
        }
        let rate = policy.pace_refill_per_sec.max(0.001);
        let cap = f64::from(policy.pace_capacity);
        let mut map = self.buckets.lock().expect("pacer lock");
        let m = map
            .entry((sub.to_ascii_lowercase(), bucket))
            .or_insert(Model {
                tokens: cap,
                at: now,
                in_flight: 0,
                cap,
                known: false,
                unmetered: false,
            });
        if m.unmetered {
            m.in_flight += 1;
            return Duration::ZERO;
        }
        if now > m.at {
            let elapsed = duration_between(m.at, now).as_secs_f64();
            m.tokens = (m.tokens + elapsed * rate).min(m.cap);
            m.at = now;
        }
        m.tokens -= 1.0;
        m.in_flight += 1;
        let floor = f64::from(policy.pace_low_water);
        if m.tokens >= floor {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((floor - m.tokens) / rate)
        }
    }

    /// The answer to a reserved request: ARM's remaining count lowers the model (never raises
    /// it); `None` when there was no answer. `success`: the answer was a 2xx (only a successful
    /// answer without a count says the server meters nothing; a 429 without one says nothing).
    fn observe(
        &self,
        policy: &RetryPolicy,
        sub: &str,
        bucket: Bucket,
        headers: Option<&HeaderMap>,
        success: bool,
    ) {
        if policy.pace_low_water == 0 {
            return;
        }
        let left = headers
            .and_then(|h| h.get(bucket.header()))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let mut map = self.buckets.lock().expect("pacer lock");
        if let Some(m) = map.get_mut(&(sub.to_ascii_lowercase(), bucket)) {
            m.in_flight = m.in_flight.saturating_sub(1);
            if left.is_none() && success {
                m.unmetered = true;
            }
            if let Some(left) = left {
                m.unmetered = false;
                let seen = f64::from(left) - f64::from(m.in_flight);
                if m.known {
                    m.tokens = m.tokens.min(seen);
                } else {
                    // ARM's first word on this bucket sets the model (a bucket larger than the
                    // modelled one is taken as it is); from then on answers only lower it.
                    m.known = true;
                    m.cap = m.cap.max(f64::from(left) + 1.0);
                    m.tokens = seen;
                }
            }
        }
    }
}

/// One HTTP call to describe to the transport.
pub(crate) struct Call<'a> {
    pub method: reqwest::Method,
    pub url: String,
    /// What the call does, for error messages ("PUT role assignment at <scope>").
    pub what: String,
    pub bearer: Option<&'a str>,
    pub json: Option<&'a serde_json::Value>,
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub headers: Vec<(&'static str, String)>,
    /// Subscription and bucket to pace, for ARM writes and deletes.
    pub pace: Option<(&'a str, Bucket)>,
    /// A token request: a connection that cannot be made at all (refused, no such host) is a
    /// configuration error ([`AzureError::Credential`], no retries: the endpoint is wrong or
    /// unreachable from here), and transient answers get the policy's shorter token budget.
    pub token: bool,
}

impl<'a> Call<'a> {
    pub fn new(method: reqwest::Method, url: String, what: String) -> Self {
        Call {
            method,
            url,
            what,
            bearer: None,
            json: None,
            form: None,
            headers: Vec::new(),
            pace: None,
            token: false,
        }
    }
}

/// A final (non-retryable or successful) response, body read.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, AzureError> {
        serde_json::from_slice(&self.body).map_err(|e| AzureError::BadResponse {
            what: what.to_owned(),
            detail: format!(
                "status {} with a body that does not parse: {e}",
                self.status
            ),
        })
    }

    /// The `{"error":{"code","message"}}` envelope used by ARM, Graph and Key Vault; Entra's
    /// token endpoint uses `{"error","error_description"}` and is read separately.
    pub fn error(&self) -> (String, String) {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_slice::<Envelope>(&self.body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (
                String::new(),
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(300)
                    .collect(),
            ),
        }
    }
}

/// The HTTP client plus the policy and pacer applied to every call.
pub(crate) struct Transport {
    http: reqwest::Client,
    pub policy: RetryPolicy,
    pacer: Pacer,
}

impl Transport {
    pub fn new(policy: RetryPolicy) -> Result<Self, AzureError> {
        // reqwest is built without a bundled crypto provider; ring is installed process-wide
        // (an `Err` means another part of the process installed one first, which is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kv-jit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AzureError::BadResponse {
                what: "building the HTTP client".into(),
                detail: e.to_string(),
            })?;
        Ok(Transport {
            http,
            policy,
            pacer: Pacer::default(),
        })
    }

    /// The policy's clock's "now": token expiry and `Retry-After` dates are read against it.
    pub fn now(&self) -> DateTime<Utc> {
        self.policy.clock.now()
    }

    pub async fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            self.policy.clock.sleep(d).await;
        }
    }

    /// Sends `call`, retrying transient failures; returns the first non-transient reply.
    pub async fn execute(&self, call: &Call<'_>) -> Result<Reply, AzureError> {
        let started = self.now();
        let mut slept = Duration::ZERO;
        let mut attempt = 0;
        let (max_attempts, max_total) = if call.token {
            (
                self.policy.token_attempts.min(self.policy.max_attempts),
                self.policy.token_total.min(self.policy.max_total),
            )
        } else {
            (self.policy.max_attempts, self.policy.max_total)
        };
        loop {
            attempt += 1;
            if let Some((sub, bucket)) = call.pace {
                let wait = self.pacer.reserve(&self.policy, sub, bucket, self.now());
                self.sleep(wait).await;
                slept += wait;
            }
            let outcome = self.send_once(call).await;
            if let Some((sub, bucket)) = call.pace {
                let headers = outcome.as_ref().ok().map(|r| &r.headers);
                let success = outcome
                    .as_ref()
                    .is_ok_and(|r| (200..300).contains(&r.status));
                self.pacer
                    .observe(&self.policy, sub, bucket, headers, success);
            }
            let (wait_hint, failure) = match outcome {
                Ok(reply) if !super::error::retried_in_call(reply.status) => return Ok(reply),
                Ok(reply) => {
                    let (code, message) = reply.error();
                    let throttled = reply.status == 429;
                    (
                        retry_after(&reply.headers, self.now()),
                        Failure {
                            throttled,
                            detail: format!("HTTP {} {code} {message}", reply.status)
                                .trim()
                                .to_owned(),
                        },
                    )
                }
                Err(e) if call.token && e.is_connect() && !e.is_timeout() => {
                    return Err(AzureError::Credential(format!(
                        "cannot connect to the {} endpoint {} ({}); check the endpoint (the config's `cloud:`, or the variable that names it) and that this machine can reach it",
                        call.what,
                        origin(&call.url),
                        describe_transport_error(&e)
                    )));
                }
                Err(e) => (
                    None,
                    Failure {
                        throttled: false,
                        detail: describe_transport_error(&e),
                    },
                ),
            };
            let wait = wait_hint.unwrap_or_else(|| self.policy.backoff(attempt));
            // The clock's elapsed time counts the attempts too; the waits alone are a floor
            // (a virtual clock that does not move, a wall clock stepped back).
            let used = duration_between(started, self.now()).max(slept);
            if attempt >= max_attempts || used + wait > max_total {
                return Err(if failure.throttled {
                    AzureError::Throttled {
                        what: call.what.clone(),
                        attempts: attempt,
                        retry_after: wait_hint,
                    }
                } else {
                    AzureError::Unavailable {
                        what: call.what.clone(),
                        attempts: attempt,
                        last: failure.detail,
                    }
                });
            }
            if let Some(notify) = &self.policy.on_retry {
                notify(&format!(
                    "retrying {} in {:.1}s (attempt {} of {max_attempts}): {}",
                    call.what,
                    wait.as_secs_f64(),
                    attempt + 1,
                    failure.detail
                ));
            }
            self.sleep(wait).await;
            slept += wait;
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<Reply, reqwest::Error> {
        let mut req = self.http.request(call.method.clone(), &call.url);
        if let Some(token) = call.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = call.json {
            req = req.json(body);
        }
        if let Some(form) = call.form {
            req = req.form(form);
        }
        for (name, value) in &call.headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// A single attempt with a short timeout and no retries: for probing an optional endpoint
    /// (the managed-identity service) where absence is an answer, not an outage.
    pub async fn probe(&self, call: &Call<'_>, timeout: Duration) -> Result<Reply, String> {
        match tokio::time::timeout(timeout, self.send_once(call)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(describe_transport_error(&e)),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

struct Failure {
    throttled: bool,
    detail: String,
}

/// `scheme://host:port` of a URL, for messages: never its path or query (the GitHub OIDC request
/// URL carries a token-bound query).
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "(unparseable URL)".into())
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    // The URL is left out on purpose: the caller's `what` names the call, and a URL with a
    // query (the OIDC request URL) is not something to print.
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 1..10 {
            let d = p.backoff(retry);
            let step = (p.initial_delay * (1 << (retry - 1))).min(p.max_delay);
            assert!(d >= step / 2 && d <= step, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        // An HTTP date is counted from the clock's now, not the machine's.
        h.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 27 Nov 2026 09:00:42 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(42)));
        let later = now + chrono::Duration::seconds(40);
        assert_eq!(retry_after(&h, later), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn the_pacer_reserves_before_sending_and_headers_only_lower_it() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let p = RetryPolicy {
            pace_low_water: 1,
            pace_capacity: 4,
            pace_refill_per_sec: 2.0,
            ..RetryPolicy::default()
        };
        let pacer = Pacer::default();
        let w = Bucket::Writes;
        // Three in flight at once take three distinct tokens: the fourth must wait.
        for _ in 0..3 {
            assert_eq!(pacer.reserve(&p, "S", w, t0), Duration::ZERO);
        }
        assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::from_millis(500));
        assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::from_secs(1));
        // Deletes and other subscriptions have models of their own.
        assert_eq!(pacer.reserve(&p, "s", Bucket::Deletes, t0), Duration::ZERO);
        assert_eq!(pacer.reserve(&p, "t", w, t0), Duration::ZERO);
        // ARM's first answer sets the model: one left, four still in flight.
        let one = |n: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(
                "x-ms-ratelimit-remaining-subscription-writes",
                HeaderValue::from_static(n),
            );
            h
        };
        pacer.observe(&p, "s", w, Some(&one("1")), true);
        // From then on a header saying more is left than the model holds does not raise it.
        pacer.observe(&p, "s", w, Some(&one("199")), true);
        assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::from_millis(2500));
        // Refill on the clock: one second buys two tokens.
        let later = t0 + chrono::Duration::seconds(1);
        assert_eq!(pacer.reserve(&p, "s", w, later), Duration::from_secs(2));
        // A header saying less lowers it, counting the requests still in flight.
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-ratelimit-remaining-subscription-writes",
            HeaderValue::from_static("0"),
        );
        pacer.observe(&p, "t", w, Some(&h), true);
        assert_eq!(pacer.reserve(&p, "t", w, t0), Duration::from_secs(1));
        // The pacer off (low water 0) never waits.
        let off = RetryPolicy {
            pace_low_water: 0,
            ..p
        };
        assert_eq!(pacer.reserve(&off, "s", w, t0), Duration::ZERO);
    }

    #[test]
    fn a_server_that_sends_no_count_is_not_paced_until_it_does() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let p = RetryPolicy {
            pace_low_water: 1,
            pace_capacity: 2,
            pace_refill_per_sec: 1.0,
            ..RetryPolicy::default()
        };
        let pacer = Pacer::default();
        let w = Bucket::Writes;
        assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::ZERO);
        // A 429 without a count says nothing about metering: still paced.
        pacer.observe(&p, "s", w, Some(&HeaderMap::new()), false);
        assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::from_secs(1));
        // A success without a count: the server meters nothing here.
        pacer.observe(&p, "s", w, Some(&HeaderMap::new()), true);
        for _ in 0..50 {
            assert_eq!(pacer.reserve(&p, "s", w, t0), Duration::ZERO);
        }
        // An answer with a count turns the model back on, counting what is in flight.
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-ratelimit-remaining-subscription-writes",
            HeaderValue::from_static("3"),
        );
        pacer.observe(&p, "s", w, Some(&h), true);
        assert!(pacer.reserve(&p, "s", w, t0) > Duration::ZERO);
    }
}
