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
//! repository, files, commits), [`pulls`] (pull requests, reviews), [`comments`], [`teams`]
//! (collaborator permissions and teams); [`rest`] holds what they share.

mod comments;
mod contents;
mod pulls;
mod rest;
mod seed;
mod teams;

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
pub use seed::{
    CommentSeed, CommitSeed, FileSeed, GithubSeed, PullSeed, RepoSeed, ReviewSeed, TeamSeed,
    TokenSeed,
};

use rest::error;
pub(crate) use rest::error_body;

/// Fixed instant for every timestamp the emulator invents (no wall clock in tests).
const EPOCH: &str = "2026-11-27T08:00:00Z";

#[derive(Debug, Default)]
struct Inner {
    seed: GithubSeed,
    comments: Vec<StoredComment>,
    next_comment_id: u64,
}

/// The GitHub side's state, shared by its handlers; the clock, log and faults are the shared
/// [`Core`]'s.
#[derive(Debug)]
pub struct GithubState {
    core: Arc<Core>,
    inner: Mutex<Inner>,
}

impl GithubState {
    pub fn new(seed: GithubSeed, core: Arc<Core>) -> GithubState {
        let state = GithubState {
            core,
            inner: Mutex::default(),
        };
        state.reseed(seed);
        state
    }

    /// Replaces the GitHub world with `seed` (seeded comments get fresh ids). The request log
    /// and armed faults are the emulator's, not the world's: they stay (`DELETE /_emulator/log`
    /// and `/_emulator/faults` clear them).
    pub fn reseed(&self, seed: GithubSeed) {
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
                });
            }
        }
        *inner = Inner {
            seed,
            comments,
            next_comment_id: id + 1,
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
        .merge(teams::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    let control = Router::new()
        .route("/_emulator/github/seed", post(control_seed))
        .route("/_emulator/github/comments", get(control_comments))
        .route("/_emulator/github/requests", get(control_requests))
        .with_state(state);
    Router::new()
        .merge(api.clone())
        .nest("/api/v3", api)
        .merge(control)
}

/// Where the clock of [`spawn_for_tests`] stands: the instant every GitHub timestamp of the
/// tests' seeds has always had.
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
    next.run(request).await
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

async fn control_requests(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<LogEntry>> {
    axum::Json(s.request_log())
}
