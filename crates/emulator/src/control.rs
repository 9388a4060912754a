//! The control side every emulated service shares: the clock, the request log, injected faults
//! and latency ([`Core`]), and the `/_emulator/` routes that read and change them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router, response::IntoResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::Clock;

/// One request the emulator served (control endpoints excluded), whichever service answered it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// Emulated time of arrival.
    pub at: String,
    pub method: String,
    /// The path as sent (a GitHub Enterprise `/api/v3` prefix included), without the query.
    pub path: String,
    pub query: Option<String>,
    /// The API version the client asked for: GitHub's `X-GitHub-Api-Version` header, else the
    /// `api-version` query parameter of Azure's APIs.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `None` when the connection was dropped or left hanging by a fault.
    pub status: Option<u16>,
    /// The fault applied, if any (`status 503`, `drop`, `hang`, `delay 200ms`).
    pub fault: Option<String>,
}

impl LogEntry {
    /// `path?query`, as the request line had it.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and the error body of the service the path belongs to: ARM's
    /// `{"error":{"code","message"}}` (`code` defaults to a generic one) or GitHub's
    /// `{"message","documentation_url"}`.
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

/// A fault for the next `count` requests whose path starts with `path_prefix` (every path when
/// empty) and contains `path_contains` (when given), for either service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    /// Only paths ending so, when given (an ARM list `…/roleAssignments`, not one assignment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_suffix: Option<String>,
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

/// Building a fault in code: `Fault::status(503).method("GET").path_contains("/pulls/7").times(2)`.
impl Fault {
    /// `kind` for the next request, whatever its method and path.
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            path_prefix: String::new(),
            path_contains: None,
            path_suffix: None,
            method: None,
            count: 1,
            kind,
        }
    }

    /// Answers `status` with the service's generic error body.
    pub fn status(status: u16) -> Fault {
        Fault::new(FaultKind::Status {
            status,
            code: None,
            retry_after: None,
        })
    }

    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_owned());
        self
    }

    pub fn path_prefix(mut self, prefix: &str) -> Fault {
        self.path_prefix = prefix.to_owned();
        self
    }

    pub fn path_contains(mut self, part: &str) -> Fault {
        self.path_contains = Some(part.to_owned());
        self
    }

    pub fn path_suffix(mut self, suffix: &str) -> Fault {
        self.path_suffix = Some(suffix.to_owned());
        self
    }

    /// For every matching request until the fault is cleared (`DELETE /_emulator/faults`):
    /// an outage that lasts as long as the test says.
    pub fn until_cleared(self) -> Fault {
        self.times(u32::MAX)
    }

    /// For the next `count` matching requests.
    pub fn times(mut self, count: u32) -> Fault {
        self.count = count;
        self
    }

    /// Sends `Retry-After: secs` with a status fault (other kinds have no answer to carry it).
    pub fn retry_after(mut self, secs: u64) -> Fault {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(secs);
        }
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self
                .path_suffix
                .as_deref()
                .is_none_or(|s| path.ends_with(s))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// The service-agnostic state every emulated service shares: the one clock, the one request log,
/// the armed faults and the added latency.
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
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().expect("faults lock");
        let i = faults.iter().position(|f| f.matches(method, path))?;
        let kind = faults[i].kind.clone();
        if faults[i].count != u32::MAX {
            faults[i].count -= 1;
        }
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(kind)
    }

    pub(crate) fn record(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        api_version: Option<String>,
        fault: Option<String>,
    ) -> u64 {
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
            api_version,
            status: None,
            fault,
        });
        seq
    }

    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        let mut log = self.log.lock().expect("log lock");
        if let Some(e) = log.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = Some(status);
        }
    }

    /// The latency added to every request.
    pub(crate) fn latency(&self) -> Duration {
        *self.latency.lock().expect("latency lock")
    }
}

pub(crate) fn control_router(core: Arc<Core>) -> Router {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_matches_prefix_substring_and_method_and_is_used_up() {
        let core = Core::at("2026-11-27T09:00:00Z".parse().unwrap());
        core.add_fault(
            Fault::status(502)
                .method("get")
                .path_contains("/pulls/7")
                .times(2),
        );
        core.add_fault(Fault::new(FaultKind::Drop).path_prefix("/subscriptions"));
        assert_eq!(core.take_fault("POST", "/repos/a/b/pulls/7"), None);
        let github = "/api/v3/repos/a/b/pulls/7/reviews";
        assert!(matches!(
            core.take_fault("GET", github),
            Some(FaultKind::Status { status: 502, .. })
        ));
        assert!(core.take_fault("GET", github).is_some());
        assert_eq!(core.take_fault("GET", github), None);
        assert_eq!(core.take_fault("PUT", "/graph/v1.0/users/x"), None);
        assert_eq!(
            core.take_fault("PUT", "/subscriptions/s"),
            Some(FaultKind::Drop)
        );
        assert_eq!(core.take_fault("PUT", "/subscriptions/s"), None);
    }

    #[test]
    fn a_suffix_tells_a_list_from_one_item_and_an_outage_lasts_until_cleared() {
        let core = Core::at("2026-11-27T09:00:00Z".parse().unwrap());
        let list = "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments";
        core.add_fault(
            Fault::new(FaultKind::Drop)
                .path_suffix("/roleAssignments")
                .until_cleared(),
        );
        assert_eq!(core.take_fault("GET", &format!("{list}/abc")), None);
        for _ in 0..1000 {
            assert_eq!(core.take_fault("GET", list), Some(FaultKind::Drop));
        }
        core.clear_faults();
        assert_eq!(core.take_fault("GET", list), None);
    }

    #[test]
    fn the_fault_wire_format_is_unchanged_for_azure_callers() {
        let f: Fault = serde_json::from_str(
            r#"{"path_prefix":"/graph/","count":1,"kind":"status","status":503,"retry_after":4}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::status(503).path_prefix("/graph/").retry_after(4));
        let back = serde_json::to_value(&f).unwrap();
        assert!(back.get("path_contains").is_none(), "{back}");
        // A substring alone is enough (every path prefix).
        let f: Fault =
            serde_json::from_str(r#"{"path_contains":"/pulls/7","kind":"hang"}"#).unwrap();
        assert_eq!(f, Fault::new(FaultKind::Hang).path_contains("/pulls/7"));
    }

    #[test]
    fn log_entries_give_back_the_request_target() {
        let core = Core::at("2026-11-27T09:00:00Z".parse().unwrap());
        core.record(
            "GET",
            "/repos/a/b/pulls/7/reviews",
            Some("page=2"),
            None,
            None,
        );
        core.record("GET", "/graph/v1.0/users/x", None, None, None);
        let log = core.log();
        assert_eq!(log[0].path_and_query(), "/repos/a/b/pulls/7/reviews?page=2");
        assert_eq!(log[1].path_and_query(), "/graph/v1.0/users/x");
        assert_eq!(log[1].seq, 2);
        assert_eq!(log[1].at, "2026-11-27T09:00:00.000Z");
    }
}
