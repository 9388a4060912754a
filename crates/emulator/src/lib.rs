//! A local emulator of the services kv-jit talks to, on one loopback port, for tests and demos.
//!
//! The core here is service-agnostic: one accept loop, an emulated clock tests can move,
//! settable latency, fault injection (status codes, delays, hangs, dropped connections, per path
//! prefix, for N requests), and a log of every request served. Control endpoints live under
//! `/_emulator/` and are not logged:
//!
//! | method | path | body / answer |
//! |---|---|---|
//! | GET | `/_emulator/log` | `[{"seq","at","method","path","query","status","fault"}]` |
//! | DELETE | `/_emulator/log` | clears it |
//! | GET, POST, DELETE | `/_emulator/faults` | list / add one [`Fault`] / clear all |
//! | GET, POST | `/_emulator/clock` | `{"now"}` / `{"advance_secs": N}` or `{"set": "<rfc3339>"}` |
//! | POST | `/_emulator/latency` | `{"ms": N}` added to every request |
//!
//! Services are plain axum routers with their state already applied (`Router<()>`); the core
//! middleware (log, faults, latency) wraps the merged router, so it applies to every route.
//! To mount another service, add one line in [`build_app`]:
//!
//! ```ignore
//! let app = Router::new()
//!     .merge(azure::router(azure_state))
//!     // however github.rs builds its state; hand it `core.clock.clone()` if it needs time
//!     .merge(github::router(Arc::new(github_state)));
//! ```
//!
//! and give its seed section a typed field in place of [`Seed::github`]'s placeholder. A service
//! that needs time reads `core.clock` (an `Arc<Clock>`), never the wall clock, so tests can move it.

pub mod azure;
pub mod github;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use axum::{Json, response::IntoResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The seed file: what exists in the emulated world at start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub tenants: Vec<azure::TenantSeed>,
    #[serde(default)]
    pub vaults: Vec<azure::VaultSeed>,
    /// The GitHub-Actions-style OIDC token endpoint (`/actions/oidc/token`).
    #[serde(default)]
    pub actions_oidc: Option<azure::OidcSeed>,
    #[serde(default)]
    pub limits: azure::Limits,
    /// The GitHub side: repositories, pull requests, reviews, teams (see [`github::GithubSeed`]).
    #[serde(default)]
    pub github: github::GithubSeed,
}

impl Seed {
    /// Parses a seed file's text (YAML; JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<Seed, String> {
        let seed: Seed = serde_saphyr::from_str(text).map_err(|e| format!("seed file: {e}"))?;
        seed.check()?;
        Ok(seed)
    }

    /// Cross-references a YAML schema cannot express: every vault's tenant exists, vault names
    /// are unique.
    pub fn check(&self) -> Result<(), String> {
        for (i, v) in self.vaults.iter().enumerate() {
            if !self
                .tenants
                .iter()
                .any(|t| t.id.eq_ignore_ascii_case(&v.tenant))
            {
                return Err(format!(
                    "seed file: vault {} names tenant {}, which is not under `tenants:`",
                    v.name, v.tenant
                ));
            }
            if self.vaults[..i]
                .iter()
                .any(|w| w.name.eq_ignore_ascii_case(&v.name))
            {
                return Err(format!("seed file: vault {} is listed twice", v.name));
            }
        }
        Ok(())
    }
}

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

/// One request the emulator served (control endpoints excluded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// Emulated time of arrival.
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `None` when the connection was dropped or left hanging by a fault.
    pub status: Option<u16>,
    /// The fault applied, if any (`status 503`, `drop`, `hang`, `delay 200ms`).
    pub fault: Option<String>,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and an ARM-style error body (`code` defaults to a generic one).
    Status {
        status: u16,
        #[serde(default)]
        code: Option<String>,
        /// `Retry-After` in seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait, then serve normally.
    Delay { ms: u64 },
    /// Never answer (the client's timeout fires).
    Hang,
    /// Close the connection without an answer.
    Drop,
}

/// A fault for the next `count` requests whose path starts with `path_prefix`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    pub path_prefix: String,
    /// Only this method (case-insensitive), when given.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(flatten)]
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

/// The service-agnostic state: clock, log, faults, latency.
#[derive(Debug)]
pub struct Core {
    pub clock: Arc<Clock>,
    log: Mutex<Vec<LogEntry>>,
    faults: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
}

impl Core {
    /// A core whose clock stands at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            clock: Arc::new(Clock::starting_at(now)),
            log: Mutex::default(),
            faults: Mutex::default(),
            latency: Mutex::default(),
        }
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.log.lock().expect("log lock").clone()
    }

    pub fn clear_log(&self) {
        self.log.lock().expect("log lock").clear();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.faults.lock().expect("faults lock").push_back(fault);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().expect("faults lock").clear();
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().expect("latency lock") = latency;
    }

    /// Takes one use of the first fault matching this request.
    fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().expect("faults lock");
        let i = faults.iter().position(|f| {
            path.starts_with(&f.path_prefix)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let kind = faults[i].kind.clone();
        faults[i].count = faults[i].count.saturating_sub(1);
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(kind)
    }

    fn record(&self, method: &str, path: &str, query: Option<&str>, fault: Option<String>) -> u64 {
        let mut log = self.log.lock().expect("log lock");
        let seq = log.len() as u64 + 1;
        log.push(LogEntry {
            seq,
            at: self
                .clock
                .now()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            status: None,
            fault,
        });
        seq
    }

    fn set_status(&self, seq: u64, status: u16) {
        let mut log = self.log.lock().expect("log lock");
        if let Some(e) = log.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = Some(status);
        }
    }
}

/// A running emulator; dropping it stops the server.
pub struct EmulatorHandle {
    addr: SocketAddr,
    core: Arc<Core>,
    github: Arc<github::GithubState>,
    task: tokio::task::JoinHandle<()>,
}

impl EmulatorHandle {
    /// The GitHub side's state, for tests that reseed it or read its comments.
    pub fn github(&self) -> &Arc<github::GithubState> {
        &self.github
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Clock, log, faults and latency, for in-process tests.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an emulator on `127.0.0.1:0` in the current runtime, its clock standing at `now`
/// (tests pass the instant they give kv-jit as `--now`).
pub async fn spawn_at(seed: Seed, now: DateTime<Utc>) -> std::io::Result<EmulatorHandle> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let core = Arc::new(Core::at(now));
    let (app, github) = build_app(&core, seed, &format!("http://{addr}"));
    let task = tokio::spawn(serve(listener, core.clone(), app));
    Ok(EmulatorHandle {
        addr,
        core,
        github,
        task,
    })
}

/// `kv-jit emulator --listen ADDR --seed FILE`: prints the base URL and serves until Ctrl-C.
/// Only loopback addresses are accepted: the emulator hands out tokens to anyone who asks.
pub async fn run(listen: SocketAddr, seed_path: &Path, start: DateTime<Utc>) -> Result<(), String> {
    if !listen.ip().is_loopback() {
        return Err(format!(
            "--listen {listen}: the emulator serves only loopback addresses (e.g. 127.0.0.1:8080)"
        ));
    }
    let text = std::fs::read_to_string(seed_path)
        .map_err(|e| format!("cannot read seed file {}: {e}", seed_path.display()))?;
    let seed = Seed::from_yaml(&text)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // The caller says when the virtual clock starts (`kv-jit emulator` passes `--now`, else the
    // wall clock); from then on only `/_emulator/clock` moves it.
    let core = Arc::new(Core::at(start));
    let (app, _github) = build_app(&core, seed, &format!("http://{addr}"));
    // The one line a user starting the emulator needs (the library prints nothing else).
    #[allow(clippy::print_stdout, clippy::disallowed_macros)]
    {
        println!("kv-jit emulator listening on http://{addr}");
    }
    tokio::select! {
        _ = serve(listener, core, app) => Ok(()),
        r = tokio::signal::ctrl_c() => r.map_err(|e| format!("waiting for Ctrl-C: {e}")),
    }
}

/// Every service's router, merged. Mount new services here (see the module docs).
fn build_app(core: &Arc<Core>, seed: Seed, base_url: &str) -> (Router, Arc<github::GithubState>) {
    let azure_state = Arc::new(azure::AzureState::new(&seed, base_url, core.clock.clone()));
    let github_state = Arc::new(github::GithubState::new(seed.github));
    let app = Router::new()
        .merge(azure::router(azure_state))
        .merge(github::router(github_state.clone()))
        .fallback(not_found);
    (app, github_state)
}

/// Unknown paths answer in the shape of the service the path looks like.
async fn not_found(uri: axum::http::Uri) -> Response<Body> {
    let path = uri.path();
    let body = if path.starts_with("/repos/")
        || path.starts_with("/orgs/")
        || path.starts_with("/api/v3/")
    {
        serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
    } else {
        serde_json::json!({"error": {"code": "NotFound", "message": format!("The emulator has no route for '{path}'.")}})
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn serve(listener: TcpListener, core: Arc<Core>, app: Router) {
    let control = control_router(core.clone());
    // Connection tasks live in the set, so aborting this task (handle dropped) ends them too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (core, app, control) = (core.clone(), app.clone(), control.clone());
        connections.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                handle(core.clone(), app.clone(), control.clone(), req)
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // Errors here are clients going away or injected drops; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// An injected connection drop: returning an error makes hyper close the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    core: Arc<Core>,
    app: Router,
    control: Router,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Dropped> {
    let req = req.map(Body::new);
    let path = req.uri().path().to_owned();
    if path.starts_with("/_emulator/github/") {
        // The GitHub side's own seeding and inspection routes: not logged, never faulted.
        return Ok(call(app, req).await);
    }
    if path.starts_with("/_emulator/") {
        return Ok(call(control, req).await);
    }
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let fault = core.take_fault(&method, &path);
    let label = fault.as_ref().map(|f| match f {
        FaultKind::Status { status, .. } => format!("status {status}"),
        FaultKind::Delay { ms } => format!("delay {ms}ms"),
        FaultKind::Hang => "hang".into(),
        FaultKind::Drop => "drop".into(),
    });
    let seq = core.record(&method, &path, query.as_deref(), label);
    let latency = *core.latency.lock().expect("latency lock");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let resp = match fault {
        Some(FaultKind::Drop) => return Err(Dropped),
        Some(FaultKind::Hang) => std::future::pending().await,
        Some(FaultKind::Status {
            status,
            code,
            retry_after,
        }) => fault_response(status, code, retry_after),
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call(app, req).await
        }
        None => call(app, req).await,
    };
    core.set_status(seq, resp.status().as_u16());
    Ok(resp)
}

async fn call(router: Router, req: Request<Body>) -> Response<Body> {
    match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}

fn fault_response(status: u16, code: Option<String>, retry_after: Option<u64>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = code.unwrap_or_else(|| match status.as_u16() {
        429 => "TooManyRequests".into(),
        503 => "ServiceUnavailable".into(),
        _ => "InternalServerError".into(),
    });
    let body = serde_json::json!({"error": {"code": code, "message": "injected by the emulator"}});
    let mut resp = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("digits"));
    }
    resp
}

fn control_router(core: Arc<Core>) -> Router {
    Router::new()
        .route(
            "/_emulator/log",
            get(|State(c): State<Arc<Core>>| async move { Json(c.log()) }).delete(
                |State(c): State<Arc<Core>>| async move {
                    c.clear_log();
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_emulator/faults",
            get(|State(c): State<Arc<Core>>| async move {
                Json(c.faults.lock().expect("faults lock").clone())
            })
            .post(
                |State(c): State<Arc<Core>>, Json(f): Json<Fault>| async move {
                    c.add_fault(f);
                    StatusCode::NO_CONTENT
                },
            )
            .delete(|State(c): State<Arc<Core>>| async move {
                c.clear_faults();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_emulator/clock",
            get(|State(c): State<Arc<Core>>| async move { Json(clock_json(&c)) }).post(clock_post),
        )
        .route(
            "/_emulator/latency",
            axum::routing::post(
                |State(c): State<Arc<Core>>, Json(l): Json<LatencyBody>| async move {
                    c.set_latency(Duration::from_millis(l.ms));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route("/_emulator/health", get(|| async { "ok" }))
        .with_state(core)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyBody {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    #[serde(default)]
    advance_secs: Option<i64>,
    #[serde(default)]
    set: Option<DateTime<Utc>>,
}

fn clock_json(core: &Core) -> serde_json::Value {
    serde_json::json!({"now": core.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true)})
}

async fn clock_post(
    State(core): State<Arc<Core>>,
    Json(body): Json<ClockBody>,
) -> impl IntoResponse {
    match (body.advance_secs, body.set) {
        (Some(s), None) => core.clock.advance(chrono::Duration::seconds(s)),
        (None, Some(t)) => core.clock.set(t),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "give exactly one of advance_secs or set"})),
            );
        }
    }
    (StatusCode::OK, Json(clock_json(&core)))
}
