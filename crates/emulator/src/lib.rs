//! A local emulator of the services kv-jit talks to, on one loopback port, for tests and demos.
//!
//! Two services, each split by the API it emulates: [`azure`] (Entra tokens, ARM role
//! assignments and PIM, the Key Vault management and data planes, Graph) and [`github`] (REST).
//! What they share is service-agnostic and exists once: one accept loop, one virtual [`Clock`]
//! tests move, and one [`Core`] with settable latency, fault injection (status codes, delays,
//! hangs, dropped connections, per path prefix or substring and method, for N requests) and a log
//! of every request served ([`LogEntry`]), whichever service answered it. Control endpoints live
//! under `/_emulator/` and are not logged:
//!
//! | method | path | body / answer |
//! |---|---|---|
//! | GET | `/_emulator/log` | `[{"seq","at","method","path","query","api_version","status","fault"}]` |
//! | DELETE | `/_emulator/log` | clears it |
//! | GET, POST, DELETE | `/_emulator/faults` | list / add one [`Fault`] / clear all |
//! | GET, POST | `/_emulator/clock` | `{"now"}` / `{"advance_secs": N}` or `{"set": "<rfc3339>"}` |
//! | POST | `/_emulator/latency` | `{"ms": N}` added to every request |
//! | POST | `/_emulator/github/seed` | replaces the GitHub world ([`github::GithubSeed`]) |
//! | GET | `/_emulator/github/comments`, `/_emulator/github/requests` | its comments / its slice of the log |
//! | POST | `/_emulator/azure/activity-log` | plants one role assignment operation in the Activity Log |
//! | PUT | `/_emulator/azure/activity-log/readers` | `{"readers": [oid…] \| null}`: who may read the Activity Log |
//!
//! Services are plain axum routers with their state already applied (`Router<()>`); the core
//! (log, faults, latency) wraps the merged router, so it applies to every route, and an injected
//! status or a missing route answers in the error shape of the service the path belongs to. To
//! mount another service, add one line in [`build_app`]:
//!
//! ```ignore
//! let app = Router::new()
//!     .merge(azure::router(azure_state))
//!     .merge(github::router(github_state))
//!     .merge(other::router(Arc::new(other::State::new(&seed.other, core.clone()))));
//! ```
//!
//! and give its seed section a typed field in [`Seed`]. A service that needs time reads
//! `core.clock` (an `Arc<Clock>`), never the wall clock, so tests can move it.

pub mod azure;
mod clock;
mod control;
pub mod github;
mod server;

pub use clock::Clock;
pub use control::{Core, Fault, FaultKind, LogEntry};

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::net::TcpListener;

use server::{not_found, serve};

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
    let github_state = Arc::new(github::GithubState::new(seed.github, core.clone()));
    let app = Router::new()
        .merge(azure::router(azure_state))
        .merge(github::router(github_state.clone()))
        .fallback(not_found);
    (app, github_state)
}
