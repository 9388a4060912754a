//! A stateful GitHub REST emulator: the routes kv-jit calls, with GitHub's JSON shapes (complete
//! enough for octocrab's strict models), `Link` paging on the emulator's own host, GitHub's error
//! bodies, and an optional `/api/v3` prefix (GitHub Enterprise Server).
//!
//! Seed it with [`GithubSeed`] (JSON) at start or through `POST /_emulator/github/seed`. Control
//! routes live under `/_emulator/github/`. The router is `Router<()>` so it merges into the shared
//! emulator with one `Router::merge`. One module per group of routes: [`contents`] (the
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
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub use comments::StoredComment;
pub use seed::{
    CommentSeed, CommitSeed, FileSeed, GithubSeed, PullSeed, RepoSeed, ReviewSeed, TeamSeed,
    TokenSeed,
};

use rest::error;

/// Fixed instant for every timestamp the emulator invents (no wall clock in tests).
const EPOCH: &str = "2026-11-27T08:00:00Z";

/// A fault armed through the control route: the next `times` requests whose method matches and
/// whose path contains `path_contains` get `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub times: u32,
    /// Sent as `Retry-After` (seconds) when set.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

/// One API request as the emulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query as sent (the `/api/v3` prefix included).
    pub path: String,
    /// The `X-GitHub-Api-Version` header, if sent.
    pub api_version: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    seed: GithubSeed,
    comments: Vec<StoredComment>,
    next_comment_id: u64,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
}

/// The emulator's state, shared by its handlers.
#[derive(Debug, Default)]
pub struct GithubState {
    inner: Mutex<Inner>,
}

impl GithubState {
    pub fn new(seed: GithubSeed) -> GithubState {
        let state = GithubState::default();
        state.reseed(seed);
        state
    }

    /// Replaces everything with `seed` (seeded comments get fresh ids).
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
            faults: Vec::new(),
            log: Vec::new(),
        };
    }

    /// Every comment, in creation order.
    pub fn comments(&self) -> Vec<StoredComment> {
        self.lock().comments.clone()
    }

    /// Every API request so far, in order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
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
        .route("/_emulator/github/faults", post(control_fault))
        .with_state(state);
    Router::new()
        .merge(api.clone())
        .nest("/api/v3", api)
        .merge(control)
}

/// Binds 127.0.0.1 on a free port and serves the GitHub emulator alone; for tests.
pub async fn spawn_for_tests(
    seed: GithubSeed,
) -> (String, Arc<GithubState>, tokio::task::JoinHandle<()>) {
    let state = Arc::new(GithubState::new(seed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = router(state.clone());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state, handle)
}

/// Logs, applies armed faults and checks the token, before any API handler.
async fn gate(
    State(state): State<Arc<GithubState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Inside `/api/v3` the router sees the stripped path; log and match what the client sent.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| request.uri().clone());
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    {
        let mut inner = state.lock();
        let api_version = request
            .headers()
            .get("x-github-api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        inner.log.push(LoggedRequest {
            method: method.to_string(),
            path: path_and_query,
            api_version,
        });
        if let Some(fault) = inner.faults.iter_mut().find(|f| {
            f.times > 0
                && f.method.eq_ignore_ascii_case(method.as_str())
                && uri.path().contains(&f.path_contains)
        }) {
            fault.times -= 1;
            let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = error(status, "Emulated fault");
            if let Some(secs) = fault.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
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

async fn control_requests(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<LoggedRequest>> {
    axum::Json(s.request_log())
}

async fn control_fault(
    State(s): State<Arc<GithubState>>,
    axum::Json(fault): axum::Json<Fault>,
) -> StatusCode {
    s.add_fault(fault);
    StatusCode::NO_CONTENT
}
