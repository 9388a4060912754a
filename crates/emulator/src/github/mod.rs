//! A stateful GitHub REST emulator: the routes kv-jit calls, with GitHub's JSON shapes (complete
//! enough for octocrab's strict models), `Link` paging on the emulator's own host, GitHub's error
//! bodies, and an optional `/api/v3` prefix (GitHub Enterprise Server).
//!
//! Seed it with [`GithubSeed`] (JSON) at start or through `POST /_emulator/github/seed`; its
//! own control routes live under `/_emulator/github/` (seed, comments, and its slice of the
//! request log). The request log, faults, latency and the clock are the emulator's shared ones
//! ([`Core`], `/_emulator/log`, `/_emulator/faults`, ...), so a GitHub fault is armed exactly
//! like an Azure one. The router is `Router<()>` so it merges into the shared emulator with one
//! `Router::merge`. One module per group of routes: [`contents`] (the
//! repository, files, commits), [`pulls`] (pull requests, reviews), [`comments`], [`issues`],
//! [`teams`] (collaborator permissions and teams), [`protection`] (branch protection and
//! rulesets), [`writes`] (opening, reviewing and merging a pull request, and the `git push`es the
//! emulator is told in-process); [`rest`] holds what they share.

mod comments;
mod contents;
mod issues;
mod protection;
mod pulls;
mod ratelimit;
mod rest;
mod seed;
mod teams;
mod writes;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use crate::server::{self, Service};
use crate::{Core, Fault, LogEntry};

pub use comments::StoredComment;
pub use protection::{ProtectionSeed, PullRequestRuleSeed, ReviewsSeed, RulesetSeed};
pub use ratelimit::{RateLimit, RateLimitUpdate};
pub use seed::{
    CommentSeed, CommitSeed, FileSeed, GithubSeed, IssueSeed, PullSeed, RepoSeed, ReviewSeed,
    TeamSeed, TokenSeed,
};
pub use writes::PushedCommit;

use rest::error;
pub(crate) use rest::error_body;

#[derive(Debug, Default)]
struct Inner {
    seed: GithubSeed,
    /// The shared clock's time at the last (re)seed: when everything seeded without a time of
    /// its own (pull requests, reviews, commits, comments, a merge without `merged_at`) happened.
    seeded_at: DateTime<Utc>,
    comments: Vec<StoredComment>,
    next_comment_id: u64,
    /// What `git push`es told the emulator (see [`writes`]); a reseed forgets them.
    pushes: writes::Pushes,
}

/// The GitHub side's state, shared by its handlers; the clock, log and faults are the shared
/// [`Core`]'s.
#[derive(Debug)]
pub struct GithubState {
    core: Arc<Core>,
    inner: Mutex<Inner>,
    ratelimit: Mutex<RateLimit>,
}

impl GithubState {
    pub fn new(seed: GithubSeed, core: Arc<Core>) -> GithubState {
        let state = GithubState {
            ratelimit: Mutex::new(RateLimit::new(core.clock.now())),
            core,
            inner: Mutex::default(),
        };
        state.reseed(seed);
        state
    }

    /// Replaces the GitHub world with `seed`, as of the shared clock's now (seeded comments get
    /// fresh ids). The request log
    /// and armed faults are the emulator's, not the world's: they stay (`DELETE /_emulator/log`
    /// and `/_emulator/faults` clear them).
    pub fn reseed(&self, seed: GithubSeed) {
        let seeded_at = self.core.clock.now();
        let mut inner = self.lock();
        let mut comments = Vec::new();
        let mut id = 1000;
        for repo in &seed.repos {
            for c in &repo.comments {
                id += 1;
                comments.push(StoredComment {
                    repo: format!("{}/{}", repo.owner, repo.name),
                    issue: c.issue,
                    id,
                    user: c.user.clone(),
                    body: c.body.clone(),
                    updated: 0,
                    created_at: seeded_at,
                    updated_at: seeded_at,
                });
            }
        }
        *inner = Inner {
            seed,
            seeded_at,
            comments,
            next_comment_id: id + 1,
            pushes: writes::Pushes::default(),
        };
    }

    /// Every comment, in creation order.
    pub fn comments(&self) -> Vec<StoredComment> {
        self.lock().comments.clone()
    }

    /// The shared log's GitHub requests, in order.
    pub fn request_log(&self) -> Vec<LogEntry> {
        let mut log = self.core.log();
        log.retain(|e| Service::of(&e.path) == Service::Github);
        log
    }

    /// Arms a fault in the shared core (it matches whatever path it names, GitHub's or not).
    pub fn add_fault(&self, fault: Fault) {
        self.core.add_fault(fault);
    }

    /// Changes the REST rate limit (see [`ratelimit`]); returns it as it now stands.
    pub fn set_rate_limit(&self, update: &RateLimitUpdate) -> RateLimit {
        let mut rl = self.ratelimit.lock().unwrap_or_else(|p| p.into_inner());
        rl.update(update, self.core.clock.now());
        rl.clone()
    }

    /// The shared clock, log, faults and latency.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicked handler must not wedge every later test request.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The GitHub routes at `/` and under `/api/v3`, plus `/_emulator/github/...` control routes.
pub fn router(state: Arc<GithubState>) -> Router {
    let api = Router::new()
        .merge(contents::routes())
        .merge(pulls::routes())
        .merge(comments::routes())
        .merge(issues::routes())
        .merge(teams::routes())
        .merge(protection::routes())
        .merge(writes::routes())
        .merge(ratelimit::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    let control = Router::new()
        .route("/_emulator/github/seed", post(control_seed))
        .route("/_emulator/github/comments", get(control_comments))
        .route("/_emulator/github/requests", get(control_requests))
        .route(
            "/_emulator/github/ratelimit",
            post(control_ratelimit).get(control_ratelimit_get),
        )
        .with_state(state);
    Router::new()
        .merge(api.clone())
        .nest("/api/v3", api)
        .merge(control)
}

/// Where the clock of [`spawn_for_tests`] starts, so the timestamps of what the tests seed are
/// fixed (the instant the GitHub emulator has always given them).
pub const TEST_START: &str = "2026-11-27T08:00:00Z";

/// Binds 127.0.0.1 on a free port and serves the GitHub emulator alone (with the shared core:
/// log, faults, latency, a virtual clock at [`TEST_START`]); for tests.
pub async fn spawn_for_tests(
    seed: GithubSeed,
) -> (String, Arc<GithubState>, tokio::task::JoinHandle<()>) {
    let start: DateTime<Utc> = TEST_START.parse().expect("TEST_START is RFC 3339");
    let core = Arc::new(Core::at(start));
    let state = Arc::new(GithubState::new(seed, core.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = router(state.clone()).fallback(server::not_found);
    let handle = tokio::spawn(server::serve(listener, core, app));
    (format!("http://{addr}"), state, handle)
}

/// Checks the token before any API handler (the shared core has logged the request and applied
/// any fault already).
async fn gate(
    State(state): State<Arc<GithubState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let inner = state.lock();
        if !inner.seed.tokens.is_empty() && token_of(request.headers(), &inner).is_none() {
            return error(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
    }
    // Every authenticated call draws on the rate limit; every answer says what is left.
    let now = state.core.clock.now();
    if ratelimit::is_free(request.uri().path()) {
        return next.run(request).await;
    }
    if let Some(refused) = state
        .ratelimit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .draw(now)
    {
        return refused;
    }
    let mut response = next.run(request).await;
    state
        .ratelimit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .headers(response.headers_mut());
    response
}

fn token_of<'a>(headers: &HeaderMap, inner: &'a Inner) -> Option<&'a TokenSeed> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))?;
    inner.seed.tokens.get(token.trim())
}

/// The permissions and login a request acts with (everything when no tokens are seeded).
fn caller(headers: &HeaderMap, inner: &Inner) -> (String, Vec<String>) {
    if inner.seed.tokens.is_empty() {
        return ("github-actions[bot]".into(), vec!["members:read".into()]);
    }
    token_of(headers, inner)
        .map(|t| (t.login.clone(), t.permissions.clone()))
        .unwrap_or_default()
}

async fn control_seed(
    State(s): State<Arc<GithubState>>,
    axum::Json(seed): axum::Json<GithubSeed>,
) -> StatusCode {
    s.reseed(seed);
    StatusCode::NO_CONTENT
}

async fn control_comments(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<StoredComment>> {
    axum::Json(s.comments())
}

async fn control_ratelimit(
    State(s): State<Arc<GithubState>>,
    axum::Json(update): axum::Json<RateLimitUpdate>,
) -> axum::Json<RateLimit> {
    axum::Json(s.set_rate_limit(&update))
}

async fn control_ratelimit_get(State(s): State<Arc<GithubState>>) -> axum::Json<RateLimit> {
    axum::Json(s.set_rate_limit(&RateLimitUpdate::default()))
}

async fn control_requests(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<LogEntry>> {
    axum::Json(s.request_log())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn state(seed: GithubSeed, now: &str) -> Arc<GithubState> {
        Arc::new(GithubState::new(seed, Arc::new(Core::at(t(now)))))
    }

    fn seed() -> GithubSeed {
        serde_json::from_value(json!({"repos": [{
            "owner": "acme", "name": "access",
            "pulls": [
                {"number": 7, "author": "alice", "head_sha": "h", "base_sha": "b", "merged": true,
                 "reviews": [{"user": "carol", "state": "APPROVED", "commit_id": "h"}]},
                {"number": 8, "author": "alice", "head_sha": "h8", "base_sha": "b", "merged": true,
                 "merged_at": "2026-11-27T07:59:00Z"}
            ],
            "comments": [{"issue": 7, "user": "carol", "body": "LGTM"}]
        }]}))
        .unwrap()
    }

    async fn call(state: &Arc<GithubState>, method: &str, uri: &str, body: Option<Value>) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        assert!(
            response.status().is_success(),
            "{method} {uri}: {}",
            response.status()
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn what_the_seed_leaves_undated_happened_when_it_was_seeded() {
        let state = state(seed(), "2026-11-27T08:00:00Z");
        // Moving the clock later does not re-date the seeded world.
        state.core().clock.advance(chrono::Duration::hours(3));
        let pull = call(&state, "GET", "/repos/acme/access/pulls/7", None).await;
        assert_eq!(pull["merged_at"], "2026-11-27T08:00:00Z");
        assert_eq!(pull["created_at"], "2026-11-27T08:00:00Z");
        let reviews = call(&state, "GET", "/repos/acme/access/pulls/7/reviews", None).await;
        assert_eq!(reviews[0]["submitted_at"], "2026-11-27T08:00:00Z");
        let comments = call(&state, "GET", "/repos/acme/access/issues/7/comments", None).await;
        assert_eq!(comments[0]["created_at"], "2026-11-27T08:00:00Z");
        // A seeded merge time stays as seeded.
        let pull = call(&state, "GET", "/repos/acme/access/pulls/8", None).await;
        assert_eq!(pull["merged_at"], "2026-11-27T07:59:00Z");
        // A reseed happens at the clock's now.
        state.reseed(seed());
        let pull = call(&state, "GET", "/repos/acme/access/pulls/7", None).await;
        assert_eq!(pull["merged_at"], "2026-11-27T11:00:00Z");
    }

    #[tokio::test]
    async fn comments_are_dated_by_the_shared_clock() {
        let state = state(seed(), "2026-11-27T09:00:00Z");
        state.core().clock.advance(chrono::Duration::minutes(5));
        let body = json!({"body": "plan v1"});
        let created = call(
            &state,
            "POST",
            "/repos/acme/access/issues/7/comments",
            Some(body),
        )
        .await;
        assert_eq!(created["created_at"], "2026-11-27T09:05:00Z");
        assert_eq!(created["updated_at"], "2026-11-27T09:05:00Z");
        state.core().clock.advance(chrono::Duration::minutes(10));
        let id = created["id"].as_u64().unwrap();
        let body = json!({"body": "plan v2"});
        let uri = format!("/repos/acme/access/issues/comments/{id}");
        let updated = call(&state, "PATCH", &uri, Some(body)).await;
        assert_eq!(updated["created_at"], "2026-11-27T09:05:00Z");
        assert_eq!(updated["updated_at"], "2026-11-27T09:15:00Z");
        let stored = state.comments();
        assert_eq!(stored[1].updated_at, t("2026-11-27T09:15:00Z"));
    }
}
