//! Microsoft Graph: `GET /graph/v1.0/users/{upn or id}[?$select=…]`, for a token whose audience
//! is the emulator's Graph endpoint (`{base}/graph`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{AzureState, bearer, random_hex};

pub(super) fn routes() -> Router<Arc<AzureState>> {
    Router::new().route("/graph/v1.0/users/{upn}", get(graph_user))
}

impl AzureState {
    fn graph_audience(&self) -> String {
        format!("{}/graph", self.base)
    }
}

async fn graph_user(
    State(st): State<Arc<AzureState>>,
    Path(upn): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let graph_error = |status: StatusCode, code: &str, message: String| {
        (
            status,
            Json(json!({"error": {"code": code, "message": message, "innerError": {"request-id": random_hex()}}})),
        )
            .into_response()
    };
    let token = bearer(&headers).and_then(|raw| st.inner().tokens.get(raw).cloned());
    let Some(token) = token.filter(|t| t.aud == st.graph_audience()) else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.".into(),
        );
    };
    let user = st.tenant(&token.tenant).and_then(|t| {
        t.users
            .iter()
            .find(|u| u.upn.eq_ignore_ascii_case(&upn) || u.id.eq_ignore_ascii_case(&upn))
    });
    let Some(user) = user else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{upn}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let full = json!({
        "id": user.id,
        "userPrincipalName": user.upn,
        "displayName": user.display_name,
        "mail": user.upn,
    });
    let mut out =
        json!({"@odata.context": format!("{}/graph/v1.0/$metadata#users/$entity", st.base)});
    match q.get("$select") {
        Some(sel) => {
            for field in sel.split(',').map(str::trim) {
                if let Some(v) = full.get(field) {
                    out[field] = v.clone();
                }
            }
        }
        None => {
            for (k, v) in full.as_object().expect("object") {
                out[k] = v.clone();
            }
        }
    }
    Json(out).into_response()
}
