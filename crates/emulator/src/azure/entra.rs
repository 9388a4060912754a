//! Entra ID (Azure AD) tokens: the v2.0 token endpoint (client secret, client assertion, or
//! password grant) and a GitHub-Actions-style OIDC endpoint whose tokens are accepted as client
//! assertions by apps with a matching federated credential. Tokens are opaque; the emulator
//! remembers who each one was issued to and for which audience.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use super::{AzureState, Token, bearer, random_hex};

const EXCHANGE_AUDIENCES: &[&str] = &[
    "api://AzureADTokenExchange",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeChina",
];
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An OIDC token the Actions endpoint issued, to be presented as a client assertion.
#[derive(Debug, Clone)]
pub(super) struct Assertion {
    sub: String,
    aud: String,
}

pub(super) fn routes() -> Router<Arc<AzureState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/actions/oidc/token", get(actions_oidc))
}

fn entra_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    (
        status,
        Json(json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {description}"),
            "error_codes": [aadsts],
        })),
    )
        .into_response()
}

async fn token(
    State(st): State<Arc<AzureState>>,
    Path(tenant_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(tenant) = st.tenant(&tenant_id) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant_id}' not found."),
        );
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let Some(aud) = field("scope").strip_suffix("/.default") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
        );
    };
    let aud = aud.trim_end_matches('/').to_owned();
    let (oid, kind, client_id) = match field("grant_type") {
        "client_credentials" => {
            let Some(app) = tenant
                .apps
                .iter()
                .find(|a| a.client_id.eq_ignore_ascii_case(field("client_id")))
            else {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    700016,
                    &format!(
                        "Application with identifier '{}' was not found in the directory '{}'.",
                        field("client_id"),
                        tenant.id
                    ),
                );
            };
            if let Some(secret) = form.get("client_secret") {
                if app.secret.as_deref() != Some(secret.as_str()) {
                    return entra_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000215,
                        "Invalid client secret provided.",
                    );
                }
            } else if let Some(assertion) = form.get("client_assertion") {
                if field("client_assertion_type") != JWT_BEARER {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        50027,
                        "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                    );
                }
                let known = st.inner().assertions.get(assertion).cloned();
                let Some(a) = known else {
                    return entra_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        50027,
                        "JWT token is invalid or malformed.",
                    );
                };
                if !EXCHANGE_AUDIENCES.contains(&a.aud.as_str()) {
                    return entra_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        700212,
                        &format!(
                            "No matching federated identity record found for presented assertion audience '{}'.",
                            a.aud
                        ),
                    );
                }
                if !app.federated_subjects.contains(&a.sub) {
                    return entra_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_client",
                        700213,
                        &format!(
                            "No matching federated identity record found for presented assertion subject '{}'.",
                            a.sub
                        ),
                    );
                }
            } else {
                return entra_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                );
            }
            (
                app.object_id.clone(),
                "ServicePrincipal",
                Some(app.client_id.clone()),
            )
        }
        "password" => {
            let user = tenant.users.iter().find(|u| {
                u.upn.eq_ignore_ascii_case(field("username"))
                    && u.password.as_deref() == Some(field("password"))
            });
            let Some(user) = user else {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                );
            };
            (user.id.clone(), "User", None)
        }
        other => {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            );
        }
    };
    let access_token = format!("emu.{}", random_hex());
    st.inner().tokens.insert(
        access_token.clone(),
        Token {
            tenant: tenant.id.clone(),
            oid,
            kind,
            aud,
            client_id,
        },
    );
    Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    }))
    .into_response()
}

async fn actions_oidc(
    State(st): State<Arc<AzureState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(seed) = &st.oidc else {
        return (StatusCode::NOT_FOUND, "no actions_oidc in the seed").into_response();
    };
    if bearer(&headers) != Some(seed.request_token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "bad request token").into_response();
    }
    let aud = q
        .get("audience")
        .cloned()
        .unwrap_or_else(|| "https://github.com".into());
    let value = format!("gh-oidc.{}", random_hex());
    st.inner().assertions.insert(
        value.clone(),
        Assertion {
            sub: seed.subject.clone(),
            aud,
        },
    );
    Json(json!({"count": 1, "value": value})).into_response()
}
