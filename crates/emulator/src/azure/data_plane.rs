//! The Key Vault data plane: `GET /kv/{vault}/secrets/{name}[/{version}]?api-version=7.4` with a
//! token for `https://vault.azure.net`, answered with the secret's value only when the emulated
//! RBAC allows it (an active role assignment with `secrets/getSecret/action` at the vault or the
//! secret). This is the one module of the emulator that serves a secret value: kv-jit never calls
//! it; the demo's requester does, with their own token, to show the loop end to end.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{AzureState, arm_error, bearer, is_at_or_above, query_map, roles};

const KEY_VAULT_AUDIENCE: &str = "https://vault.azure.net";

/// The one version every emulated secret has.
pub(super) const VERSION: &str = "0000000000000000000000000000000a";

/// A vault's data-plane URI (`vaultUri`), with its trailing slash.
pub(super) fn vault_uri(base: &str, vault: &str) -> String {
    format!("{base}/kv/{vault}/")
}

/// A secret's data-plane URI (`secretUri`, or with a version `secretUriWithVersion` and `id`).
pub(super) fn secret_uri(base: &str, vault: &str, name: &str, version: Option<&str>) -> String {
    let uri = format!("{}secrets/{name}", vault_uri(base, vault));
    match version {
        Some(v) => format!("{uri}/{v}"),
        None => uri,
    }
}

pub(super) fn routes() -> Router<Arc<AzureState>> {
    Router::new()
        .route("/kv/{vault}/secrets/{name}", get(data_plane_secret))
        .route(
            "/kv/{vault}/secrets/{name}/{version}",
            get(data_plane_secret_version),
        )
}

async fn data_plane_secret(
    State(st): State<Arc<AzureState>>,
    Path((vault, name)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    read_secret(&st, &vault, &name, &headers, &uri)
}

async fn data_plane_secret_version(
    State(st): State<Arc<AzureState>>,
    Path((vault, name, _version)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    read_secret(&st, &vault, &name, &headers, &uri)
}

fn read_secret(
    st: &AzureState,
    vault: &str,
    name: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Response {
    let Some(v) = st
        .vaults
        .iter()
        .find(|v| v.name.eq_ignore_ascii_case(vault))
    else {
        return (StatusCode::NOT_FOUND, "no such vault").into_response();
    };
    if !query_map(uri).contains_key("api-version") {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The 'api-version' query parameter is missing.",
        );
    }
    let token = bearer(headers).and_then(|raw| st.inner().tokens.get(raw).cloned());
    let Some(token) =
        token.filter(|t| t.aud == KEY_VAULT_AUDIENCE && t.tenant.eq_ignore_ascii_case(&v.tenant))
    else {
        let mut r = arm_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Request is missing a Bearer or PoP token.",
        );
        let challenge = format!(
            "Bearer authorization=\"{}/{}\", resource=\"{KEY_VAULT_AUDIENCE}\"",
            st.base, v.tenant
        );
        r.headers_mut()
            .insert("www-authenticate", challenge.parse().expect("header value"));
        return r;
    };
    let vault_scope = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        v.subscription_id, v.resource_group, v.name
    );
    let secret_scope = format!("{vault_scope}/secrets/{name}");
    let forbidden = |inner_code: &str, decision: &str| {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": {
                "code": "Forbidden",
                "message": format!(
                    "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: oid={}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDecisionReason: '{decision}'",
                    token.oid, secret_scope.to_ascii_lowercase()
                ),
                "innererror": {"code": inner_code}
            }})),
        )
            .into_response()
    };
    if !v.rbac {
        return forbidden("AccessDenied", "AccessPolicyModel");
    }
    let now = st.clock.now();
    let allowed = st.inner().assignments.iter().any(|a| {
        a.active(now)
            && a.principal_id.eq_ignore_ascii_case(&token.oid)
            && roles::reads_secret_values(&a.role)
            && is_at_or_above(&a.scope, &secret_scope)
    });
    if !allowed {
        return forbidden("ForbiddenByRbac", "DeniedWithNoValidRBAC");
    }
    let Some((real_name, value)) = v.secrets.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("A secret with (name/id) {name} was not found in this key vault."),
        );
    };
    Json(json!({
        "value": value,
        "id": secret_uri(&st.base, &v.name, real_name, Some(VERSION)),
        "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable"},
    }))
    .into_response()
}
