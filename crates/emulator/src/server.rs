//! The accept loop: every request to either service passes through the shared [`Core`] (log,
//! faults, latency) before it reaches the service's router; `/_emulator/` control routes bypass
//! it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::{Json, response::IntoResponse};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::control::{Core, FaultKind, control_router};
use crate::{azure, github};

/// Which emulated service a path belongs to, for answers the core gives itself (no route,
/// an injected status): each in its service's error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Azure,
    Github,
}

impl Service {
    pub(crate) fn of(path: &str) -> Service {
        let github = ["/repos/", "/orgs/", "/api/v3/", "/_emulator/github/"];
        if github.iter().any(|p| path.starts_with(p)) {
            Service::Github
        } else {
            Service::Azure
        }
    }
}

/// Unknown paths answer in the shape of the service the path looks like.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response<Body> {
    let path = uri.path();
    let body = match Service::of(path) {
        Service::Github => github::error_body("Not Found"),
        Service::Azure => azure::error_body(
            "NotFound",
            &format!("The emulator has no route for '{path}'."),
        ),
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

pub(crate) async fn serve(listener: TcpListener, core: Arc<Core>, app: Router) {
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
    if path.starts_with("/_emulator/github/") || path.starts_with("/_emulator/azure/") {
        // Each side's own seeding and inspection routes: not logged, never faulted.
        return Ok(call(app, req).await);
    }
    if path.starts_with("/_emulator/") {
        return Ok(call(control, req).await);
    }
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let api_version = api_version(&req);
    let fault = core.take_fault(&method, &path);
    let label = fault.as_ref().map(|f| match f {
        FaultKind::Status { status, .. } => format!("status {status}"),
        FaultKind::Delay { ms } => format!("delay {ms}ms"),
        FaultKind::Hang => "hang".into(),
        FaultKind::Drop => "drop".into(),
    });
    let seq = core.record(&method, &path, query.as_deref(), api_version, label);
    let latency = core.latency();
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
        }) => fault_response(Service::of(&path), status, code, retry_after),
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

/// GitHub's `X-GitHub-Api-Version` header, else Azure's `api-version` query parameter.
fn api_version(req: &Request<Body>) -> Option<String> {
    let header = req
        .headers()
        .get("x-github-api-version")
        .and_then(|v| v.to_str().ok());
    match header {
        Some(v) => Some(v.to_owned()),
        None => url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.into_owned()),
    }
}

/// An injected status, in the error shape of the service the path belongs to.
fn fault_response(
    service: Service,
    status: u16,
    code: Option<String>,
    retry_after: Option<u64>,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match service {
        Service::Github => github::error_body("Emulated fault"),
        Service::Azure => {
            let code = code.unwrap_or_else(|| match status.as_u16() {
                429 => "TooManyRequests".into(),
                503 => "ServiceUnavailable".into(),
                _ => "InternalServerError".into(),
            });
            azure::error_body(&code, "injected by the emulator")
        }
    };
    let mut resp = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("digits"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response<Body>) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn paths_belong_to_the_service_they_look_like() {
        for p in ["/repos/a/b", "/orgs/a/teams/t", "/api/v3/repos/a/b/pulls/7"] {
            assert_eq!(Service::of(p), Service::Github, "{p}");
        }
        for p in [
            "/subscriptions/s",
            "/graph/v1.0/users/x",
            "/t/oauth2/v2.0/token",
        ] {
            assert_eq!(Service::of(p), Service::Azure, "{p}");
        }
    }

    #[tokio::test]
    async fn an_injected_status_answers_in_its_services_error_shape() {
        let r = fault_response(Service::Github, 502, None, Some(3));
        assert_eq!(r.status(), 502);
        assert_eq!(r.headers()["retry-after"], "3");
        assert_eq!(
            body(r).await,
            serde_json::json!({"message": "Emulated fault", "documentation_url": "https://docs.github.com/rest"})
        );
        let r = fault_response(Service::Azure, 429, None, None);
        assert_eq!(
            body(r).await,
            serde_json::json!({"error": {"code": "TooManyRequests", "message": "injected by the emulator"}})
        );
        let r = fault_response(Service::Azure, 500, Some("Custom".into()), None);
        assert_eq!(body(r).await["error"]["code"], "Custom");
    }
}
