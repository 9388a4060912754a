//! GitHub's primary rate limit: a budget of REST calls per window (an hour), counted on the
//! shared virtual clock. Every API answer carries `x-ratelimit-limit`, `-remaining`, `-used`,
//! `-reset` (UTC epoch seconds) and `-resource: core`; once the budget is used up, every call
//! is answered 403 (or 429, settable) with `x-ratelimit-remaining: 0` and GitHub's error body
//! ("API rate limit exceeded for installation ID …", GitHub's troubleshooting guide: "you will
//! receive a 403 Forbidden or 429 Too Many Requests response, and the x-ratelimit-remaining
//! header will be 0"). Set it through `POST /_emulator/github/ratelimit`
//! `{"limit", "remaining", "reset_secs", "status"}` or [`super::GithubState::set_rate_limit`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The budget's state; the default is a personal token's 5,000 calls an hour (a workflow's
/// `GITHUB_TOKEN` gets 1,000: set it).
#[derive(Debug, Clone, Serialize)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    /// When the window ends and the budget is renewed (virtual time).
    pub reset: DateTime<Utc>,
    /// The status of an answer once used up: 403 (GitHub's usual) or 429.
    pub status: u16,
    /// Length of a window, in seconds.
    pub window_secs: i64,
}

/// What the control route sets (each field optional: the rest stays).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitUpdate {
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub remaining: Option<u64>,
    /// Seconds from the clock's now until the budget is renewed.
    #[serde(default)]
    pub reset_secs: Option<i64>,
    #[serde(default)]
    pub status: Option<u16>,
}

impl RateLimit {
    pub(super) fn new(now: DateTime<Utc>) -> RateLimit {
        RateLimit {
            limit: 5000,
            remaining: 5000,
            reset: now + chrono::Duration::hours(1),
            status: 403,
            window_secs: 3600,
        }
    }

    pub(super) fn update(&mut self, u: &RateLimitUpdate, now: DateTime<Utc>) {
        if let Some(l) = u.limit {
            self.limit = l;
            self.remaining = self.remaining.min(l);
        }
        if let Some(r) = u.remaining {
            self.remaining = r;
        }
        if let Some(s) = u.reset_secs {
            self.reset = now + chrono::Duration::seconds(s);
        }
        if let Some(s) = u.status.filter(|s| matches!(s, 403 | 429)) {
            self.status = s;
        }
    }

    /// A new window once the clock passed the reset.
    fn renew(&mut self, now: DateTime<Utc>) {
        if now >= self.reset {
            self.remaining = self.limit;
            self.reset = now + chrono::Duration::seconds(self.window_secs);
        }
    }

    /// Draws one call at `now`: `None`, or the answer when the budget is used up.
    pub(super) fn draw(&mut self, now: DateTime<Utc>) -> Option<Response> {
        self.renew(now);
        if self.remaining == 0 {
            let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::FORBIDDEN);
            let body = serde_json::json!({
                "message": "API rate limit exceeded for installation ID 1000001. If you reach out to GitHub Support for help, please include the request ID.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": self.status.to_string(),
            });
            let mut r = (status, axum::Json(body)).into_response();
            self.headers(r.headers_mut());
            return Some(r);
        }
        self.remaining -= 1;
        None
    }

    /// Adds the `x-ratelimit-*` headers.
    pub(super) fn headers(&self, h: &mut HeaderMap) {
        let num = |n: i64| HeaderValue::from_str(&n.to_string()).expect("digits");
        let (limit, remaining) = (self.limit as i64, self.remaining as i64);
        h.insert("x-ratelimit-limit", num(limit));
        h.insert("x-ratelimit-remaining", num(remaining));
        h.insert("x-ratelimit-used", num(limit - remaining));
        h.insert("x-ratelimit-reset", num(self.reset.timestamp()));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
}

/// `GET /rate_limit`: the budget, without drawing on it (GitHub: "Accessing this endpoint does
/// not count against your REST API rate limit").
pub(super) fn routes() -> Router<Arc<super::GithubState>> {
    Router::new().route("/rate_limit", get(rate_limit))
}

async fn rate_limit(State(s): State<Arc<super::GithubState>>) -> Response {
    let rl = s.set_rate_limit(&RateLimitUpdate::default());
    let core = serde_json::json!({
        "limit": rl.limit,
        "remaining": rl.remaining,
        "reset": rl.reset.timestamp(),
        "used": rl.limit - rl.remaining,
        "resource": "core",
    });
    let mut r =
        axum::Json(serde_json::json!({"resources": {"core": core}, "rate": core})).into_response();
    rl.headers(r.headers_mut());
    r
}

/// Whether a call to `path` is free (the rate limit's own endpoint).
pub(super) fn is_free(path: &str) -> bool {
    path == "/rate_limit" || path == "/api/v3/rate_limit"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_answers_in_githubs_shape_and_renews_at_the_reset() {
        let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
        let mut rl = RateLimit::new(t0);
        rl.update(
            &RateLimitUpdate {
                limit: Some(1000),
                remaining: Some(2),
                reset_secs: Some(60),
                status: None,
            },
            t0,
        );
        assert!(rl.draw(t0).is_none());
        assert!(rl.draw(t0).is_none());
        let refused = rl.draw(t0).unwrap();
        assert_eq!(refused.status(), 403);
        let h = refused.headers();
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-used"], "1000");
        assert_eq!(h["x-ratelimit-limit"], "1000");
        assert_eq!(
            h["x-ratelimit-reset"],
            (t0.timestamp() + 60).to_string().as_str()
        );
        assert_eq!(h["x-ratelimit-resource"], "core");
        // The window ends on the virtual clock: the budget is whole again.
        let later = t0 + chrono::Duration::seconds(60);
        assert!(rl.draw(later).is_none());
        assert_eq!(rl.remaining, 999);
        rl.update(
            &RateLimitUpdate {
                remaining: Some(0),
                status: Some(429),
                ..Default::default()
            },
            later,
        );
        assert_eq!(rl.draw(later).unwrap().status(), 429);
    }
}
