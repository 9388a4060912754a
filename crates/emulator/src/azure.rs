//! The Azure side of the emulator: Entra token endpoint, a GitHub-Actions-style OIDC endpoint,
//! ARM role assignments and PIM schedule requests, Key Vault metadata (management plane),
//! Microsoft Graph users, and a Key Vault data plane that enforces the emulated RBAC.
//!
//! Paths (ARM at the root, as in `Endpoints::emulator`):
//! - `POST /{tenant}/oauth2/v2.0/token` (client secret, client assertion, or password grant)
//! - `GET  /actions/oidc/token?audience=…` with `Authorization: Bearer <request token>`
//! - `PUT|GET|DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}?api-version=2022-04-01`
//! - `GET  {scope}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01[&$filter=…]`
//! - `PUT|GET {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{guid}?api-version=2020-10-01`
//!   (`AdminAssign`, `AdminExtend`, `AdminUpdate`, `AdminRemove`), `POST …/{guid}/cancel`
//! - `GET  {scope}/providers/Microsoft.Authorization/roleAssignmentSchedules?api-version=2020-10-01[&$filter=…]`
//! - `GET  /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}[/secrets/{n}]?api-version=2024-11-01`
//! - `GET  /graph/v1.0/users/{upn}[?$select=id]`
//! - `GET  /kv/{vault}/secrets/{name}[/{version}]?api-version=7.4` (data plane: the value)
//!
//! Behaviour follows the official contracts where they are documented (status codes, the
//! `{"error":{"code","message"}}` envelope, paging with `nextLink`, `Retry-After`, the
//! `x-ms-ratelimit-remaining-subscription-*` headers). Where Azure's behaviour is unverified the
//! emulator picks one and says so: `RoleAssignmentLimitExceeded` is a 400; a repeated PUT of a
//! PIM schedule request with the same name returns the stored request; a role assignment at a
//! secret that does not exist is a 404 `ResourceNotFound`. Propagation is instant and tokens do
//! not expire inside the emulator.

// Checks return the error `Response` itself for an early return; boxing it buys nothing in a
// test server.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Clock, Seed};

/// A tenant: its apps (service principals) and users.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    pub id: String,
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    #[serde(default)]
    pub users: Vec<UserSeed>,
}

/// An app registration with its service principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    pub client_id: String,
    /// The service principal's object id (what role assignments name).
    pub object_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Accepts the client-secret grant with this secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Federated credentials: OIDC subjects accepted as client assertions.
    #[serde(default)]
    pub federated_subjects: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    pub upn: String,
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Lets the user sign in with the password grant (demo: read a secret as the requester).
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSeed {
    pub name: String,
    pub tenant: String,
    pub subscription_id: String,
    pub resource_group: String,
    /// `enableRbacAuthorization`; false models a vault on access policies.
    #[serde(default = "yes")]
    pub rbac: bool,
    /// Object ids allowed to write role assignments here (Key Vault Data Access
    /// Administrator); absent means every app of the tenant.
    #[serde(default)]
    pub admins: Option<Vec<String>>,
    /// Secret name to value.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default = "default_location")]
    pub location: String,
}

fn yes() -> bool {
    true
}

fn default_location() -> String {
    "westeurope".into()
}

/// The GitHub Actions OIDC endpoint: the request token it accepts and the subject it issues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSeed {
    pub request_token: String,
    pub subject: String,
}

/// Azure's limits, lowered in tests to reach them quickly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub role_assignments_per_subscription: usize,
    /// Token bucket for writes and (separately) deletes, per subscription.
    pub write_bucket_capacity: f64,
    pub write_refill_per_sec: f64,
    pub list_page_size: usize,
    /// Refuse a PUT that changes an existing assignment's description (400
    /// `RoleAssignmentUpdateNotPermitted`). The RBAC docs say "you can't change the properties of
    /// an existing role assignment" while `az role assignment update` changes the description, so
    /// both behaviours are modelled; the default allows it.
    pub refuse_description_updates: bool,
    /// The status PIM gives every new `AdminAssign`/`AdminExtend` request (`Provisioned`, or
    /// `Granted` for a future start, when unset). A status that is not a success leaves the
    /// request without an assignment, as a pending or failed PIM request would.
    pub pim_status: Option<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            role_assignments_per_subscription: 4000,
            write_bucket_capacity: 200.0,
            write_refill_per_sec: 10.0,
            list_page_size: 100,
            refuse_description_updates: false,
            pim_status: None,
        }
    }
}

/// Key Vault built-in roles (the ones Key Vault Data Access Administrator may assign), and
/// whether they carry `secrets/getSecret/action`.
const KV_ROLES: &[(&str, &str, bool)] = &[
    (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
        true,
    ),
    (
        "a4417e6f-fecd-4de8-b567-7b0420556985",
        "Key Vault Certificates Officer",
        false,
    ),
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        false,
    ),
    (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        false,
    ),
    (
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        false,
    ),
    (
        "21090545-7ca7-4776-b22c-e363652d74d2",
        "Key Vault Reader",
        false,
    ),
    (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        true,
    ),
    (
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        true,
    ),
];

const KEY_VAULT_AUDIENCE: &str = "https://vault.azure.net";
const EXCHANGE_AUDIENCES: &[&str] = &[
    "api://AzureADTokenExchange",
    "api://AzureADTokenExchangeUSGov",
    "api://AzureADTokenExchangeChina",
];
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Clone)]
struct Token {
    tenant: String,
    oid: String,
    /// `User` or `ServicePrincipal`.
    kind: &'static str,
    aud: String,
    client_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Assertion {
    sub: String,
    aud: String,
}

/// A role assignment (plain, or made by a PIM schedule request with an end).
#[derive(Debug, Clone)]
struct Ra {
    name: String,
    scope: String,
    subscription: String,
    role: String,
    principal_id: String,
    principal_type: String,
    description: Option<String>,
    created_on: DateTime<Utc>,
    created_by: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    /// For an assignment PIM made: the id of the schedule request that made (or last changed) it.
    pim_request: Option<String>,
}

impl Ra {
    fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|e| now < e)
    }

    fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope, self.name
        )
    }

    fn json(&self) -> Value {
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        json!({
            "properties": {
                "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{}", self.role),
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
                "condition": null,
                "conditionVersion": null,
                "createdOn": at(self.created_on),
                "updatedOn": at(self.created_on),
                "createdBy": self.created_by,
                "updatedBy": self.created_by,
                "delegatedManagedIdentityResourceId": null,
                "description": self.description,
            },
            "id": self.id(),
            "type": "Microsoft.Authorization/roleAssignments",
            "name": self.name,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, Token>,
    assertions: HashMap<String, Assertion>,
    assignments: Vec<Ra>,
    schedule_requests: Vec<(String, Value)>,
    buckets: HashMap<(String, &'static str), Bucket>,
}

/// The Azure emulator's state.
pub struct AzureState {
    base: String,
    clock: Arc<Clock>,
    tenants: Vec<TenantSeed>,
    vaults: Vec<VaultSeed>,
    oidc: Option<OidcSeed>,
    limits: Limits,
    inner: Mutex<Inner>,
}

impl AzureState {
    pub fn new(seed: &Seed, base_url: &str, clock: Arc<Clock>) -> Self {
        AzureState {
            base: base_url.trim_end_matches('/').to_owned(),
            clock,
            tenants: seed.tenants.clone(),
            vaults: seed.vaults.clone(),
            oidc: seed.actions_oidc.clone(),
            limits: seed.limits.clone(),
            inner: Mutex::default(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("emulator state lock")
    }

    fn tenant(&self, id: &str) -> Option<&TenantSeed> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    fn graph_audience(&self) -> String {
        format!("{}/graph", self.base)
    }

    /// The principal's type in `tenant`, if it exists there.
    fn principal_kind(&self, tenant: &str, oid: &str) -> Option<&'static str> {
        let t = self.tenant(tenant)?;
        if t.users.iter().any(|u| u.id.eq_ignore_ascii_case(oid)) {
            Some("User")
        } else if t.apps.iter().any(|a| a.object_id.eq_ignore_ascii_case(oid)) {
            Some("ServicePrincipal")
        } else {
            None
        }
    }

    /// Draws one token from the subscription's bucket: `Ok(remaining)` or `Err(retry_after)`.
    fn take(&self, inner: &mut Inner, sub: &str, kind: &'static str) -> Result<u64, u64> {
        let now = self.clock.now();
        let (cap, rate) = (
            self.limits.write_bucket_capacity,
            self.limits.write_refill_per_sec,
        );
        let b = inner
            .buckets
            .entry((sub.to_ascii_lowercase(), kind))
            .or_insert(Bucket {
                tokens: cap,
                at: now,
            });
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(b.tokens.floor() as u64)
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// All Azure routes, state applied.
pub fn router(state: Arc<AzureState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/actions/oidc/token", get(actions_oidc))
        .route("/subscriptions/{*rest}", any(arm))
        .route("/graph/v1.0/users/{upn}", get(graph_user))
        .route("/kv/{vault}/secrets/{name}", get(data_plane_secret))
        .route(
            "/kv/{vault}/secrets/{name}/{version}",
            get(data_plane_secret_version),
        )
        .with_state(state)
}

fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    format!("{:016x}", h.finish())
}

fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

// ---------------------------------------------------------------------------------------------
// Entra token endpoint and the GitHub OIDC endpoint

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

// ---------------------------------------------------------------------------------------------
// ARM

/// Where an ARM scope points, resolved against the seed.
struct ScopeInfo {
    tenant: String,
    subscription: String,
    vault: Option<usize>,
}

impl AzureState {
    fn resolve_scope(&self, scope: &str) -> Result<ScopeInfo, Response> {
        let segs: Vec<&str> = scope.split('/').skip(1).collect();
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if segs.len() < 2 || !eq(segs[0], "subscriptions") {
            return Err(arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidScope",
                format!("The scope '{scope}' is not valid."),
            ));
        }
        let sub = segs[1];
        let Some(first) = self.vaults.iter().find(|v| eq(&v.subscription_id, sub)) else {
            return Err(arm_error(
                StatusCode::NOT_FOUND,
                "SubscriptionNotFound",
                format!("The subscription '{sub}' could not be found."),
            ));
        };
        let mut info = ScopeInfo {
            tenant: first.tenant.clone(),
            subscription: first.subscription_id.clone(),
            vault: None,
        };
        if segs.len() == 2 {
            return Ok(info);
        }
        if segs.len() < 4 || !eq(segs[2], "resourceGroups") {
            return Err(not_found(scope));
        }
        let rg = segs[3];
        if !self
            .vaults
            .iter()
            .any(|v| eq(&v.subscription_id, sub) && eq(&v.resource_group, rg))
        {
            return Err(arm_error(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            ));
        }
        if segs.len() == 4 {
            return Ok(info);
        }
        if segs.len() < 8
            || !eq(segs[4], "providers")
            || !eq(segs[5], "Microsoft.KeyVault")
            || !eq(segs[6], "vaults")
        {
            return Err(not_found(scope));
        }
        let Some(vi) = self.vaults.iter().position(|v| {
            eq(&v.subscription_id, sub) && eq(&v.resource_group, rg) && eq(&v.name, segs[7])
        }) else {
            return Err(arm_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!(
                    "The Resource 'Microsoft.KeyVault/vaults/{}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                    segs[7]
                ),
            ));
        };
        info.vault = Some(vi);
        match segs.len() {
            8 => Ok(info),
            10 if eq(segs[8], "secrets") => {
                if self.vaults[vi].secrets.keys().any(|k| eq(k, segs[9])) {
                    Ok(info)
                } else {
                    Err(arm_error(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFound",
                        format!(
                            "The Resource 'Microsoft.KeyVault/vaults/{}/secrets/{}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                            segs[7], segs[9]
                        ),
                    ))
                }
            }
            _ => Err(not_found(scope)),
        }
    }

    /// Role-assignment write/delete: an app that administers the vault (Key Vault Data Access
    /// Administrator), nothing above vault scope.
    fn may_write(&self, token: &Token, info: &ScopeInfo) -> bool {
        let Some(vi) = info.vault else { return false };
        let vault = &self.vaults[vi];
        token.kind == "ServicePrincipal"
            && match &vault.admins {
                Some(admins) => admins.iter().any(|a| a.eq_ignore_ascii_case(&token.oid)),
                None => true,
            }
    }
}

fn not_found(path: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("The emulator has no resource at '{path}'."),
    )
}

fn authorization_failed(token: &Token, action: &str, scope: &str) -> Response {
    arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization or an ABAC condition not fulfilled to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            token.client_id.as_deref().unwrap_or(&token.oid),
            token.oid
        ),
    )
}

fn throttled(retry_after: u64, header: &str) -> Response {
    let mut r = arm_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Write.",
    );
    let h = r.headers_mut();
    h.insert("retry-after", retry_after.into());
    h.insert(
        axum::http::HeaderName::from_bytes(header.as_bytes()).expect("header name"),
        0u64.into(),
    );
    r
}

fn with_remaining(mut r: Response, header: &str, remaining: u64) -> Response {
    r.headers_mut().insert(
        axum::http::HeaderName::from_bytes(header.as_bytes()).expect("header name"),
        remaining.into(),
    );
    r
}

const WRITES: &str = "x-ms-ratelimit-remaining-subscription-writes";
const DELETES: &str = "x-ms-ratelimit-remaining-subscription-deletes";

fn authenticate(st: &AzureState, headers: &HeaderMap, audience: &str) -> Result<Token, Response> {
    let Some(raw) = bearer(headers) else {
        return Err(arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = st.inner().tokens.get(raw).cloned() else {
        return Err(arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ));
    };
    if token.aud != audience {
        return Err(arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences '{audience}'.",
                token.aud
            ),
        ));
    }
    Ok(token)
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn api_version_error(given: &str, supported: &[&str]) -> Response {
    arm_error(
        StatusCode::BAD_REQUEST,
        "InvalidApiVersionParameter",
        format!(
            "The api-version '{given}' is invalid. The supported versions are '{}'.",
            supported.join(",")
        ),
    )
}

async fn arm(
    State(st): State<Arc<AzureState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let q = query_map(&uri);
    let token = match authenticate(&st, &headers, &st.base) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(api) = q.get("api-version").cloned() else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    let marker = "/providers/microsoft.authorization/";
    if let Some(i) = path.to_ascii_lowercase().rfind(marker) {
        let scope = &path[..i];
        let tail: Vec<&str> = path[i + marker.len()..].split('/').collect();
        let info = match st.resolve_scope(scope) {
            Ok(i) => i,
            Err(r) => return r,
        };
        if !token.tenant.eq_ignore_ascii_case(&info.tenant) {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer. It must match the tenant associated with this subscription.",
            );
        }
        let kind = tail[0].to_ascii_lowercase();
        let name = tail.get(1).copied();
        let cancel = tail.len() == 3
            && kind == "roleassignmentschedulerequests"
            && tail[2].eq_ignore_ascii_case("cancel");
        if tail.len() > 2 && !cancel {
            return not_found(&path);
        }
        return match kind.as_str() {
            "roleassignments" => {
                if api != "2022-04-01" {
                    return api_version_error(&api, &["2022-04-01"]);
                }
                match (&method, name) {
                    (&Method::PUT, Some(n)) => put_assignment(&st, &token, &info, scope, n, &body),
                    (&Method::GET, Some(n)) => get_assignment(&st, scope, n),
                    (&Method::DELETE, Some(n)) => delete_assignment(&st, &token, &info, scope, n),
                    (&Method::GET, None) => list_assignments(&st, scope, &path, &q),
                    _ => method_not_allowed(),
                }
            }
            "roleassignmentschedulerequests" => {
                if api != "2020-10-01" {
                    return api_version_error(&api, &["2020-10-01"]);
                }
                match (&method, name) {
                    (&Method::POST, Some(n)) if cancel => {
                        cancel_schedule_request(&st, &token, &info, scope, n)
                    }
                    _ if cancel => method_not_allowed(),
                    (&Method::PUT, Some(n)) => {
                        put_schedule_request(&st, &token, &info, scope, n, &body)
                    }
                    (&Method::GET, Some(n)) => get_schedule_request(&st, scope, n),
                    _ => method_not_allowed(),
                }
            }
            "roleassignmentschedules" => {
                if api != "2020-10-01" {
                    return api_version_error(&api, &["2020-10-01"]);
                }
                match (&method, name) {
                    (&Method::GET, None) => list_schedules(&st, scope, &q),
                    _ => method_not_allowed(),
                }
            }
            _ => arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidResourceType",
                format!(
                    "The resource type '{}' could not be found in the namespace 'Microsoft.Authorization'.",
                    tail[0]
                ),
            ),
        };
    }
    // Key Vault management plane: the vault and its secrets' metadata.
    if method != Method::GET {
        return method_not_allowed();
    }
    const KV_API: &[&str] = &["2023-07-01", "2024-11-01"];
    if !KV_API.contains(&api.as_str()) {
        return api_version_error(&api, KV_API);
    }
    let info = match st.resolve_scope(&path) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if !token.tenant.eq_ignore_ascii_case(&info.tenant) {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
            "The access token is from the wrong issuer.",
        );
    }
    let Some(vi) = info.vault else {
        return not_found(&path);
    };
    let v = &st.vaults[vi];
    let vault_id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
        v.subscription_id, v.resource_group, v.name
    );
    let vault_uri = format!("{}/kv/{}/", st.base, v.name);
    match path.rsplit_once("/secrets/") {
        None => Json(json!({
            "id": vault_id,
            "name": v.name,
            "type": "Microsoft.KeyVault/vaults",
            "location": v.location,
            "tags": {},
            "properties": {
                "tenantId": v.tenant,
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": v.rbac,
                "vaultUri": vault_uri,
                "publicNetworkAccess": "Enabled",
                "provisioningState": "Succeeded",
            }
        }))
        .into_response(),
        Some((_, secret)) => {
            let name = v
                .secrets
                .keys()
                .find(|k| k.eq_ignore_ascii_case(secret))
                .cloned()
                .unwrap_or_default();
            // The management-plane secret model has a `value`, but the service never returns it.
            Json(json!({
                "id": format!("{vault_id}/secrets/{name}"),
                "name": name,
                "type": "Microsoft.KeyVault/vaults/secrets",
                "location": v.location,
                "properties": {
                    "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000},
                    "secretUri": format!("{vault_uri}secrets/{name}"),
                    "secretUriWithVersion": format!("{vault_uri}secrets/{name}/0000000000000000000000000000000a"),
                }
            }))
            .into_response()
        }
    }
}

fn method_not_allowed() -> Response {
    arm_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested method is not allowed on this resource.",
    )
}

/// `(/subscriptions/{sub})?/providers/Microsoft.Authorization/roleDefinitions/{guid}` → guid.
fn role_guid(role_definition_id: &str) -> Option<String> {
    let lower = role_definition_id.to_ascii_lowercase();
    let rest = match lower.strip_prefix("/subscriptions/") {
        Some(r) => &r[r.find('/')?..],
        None => lower.as_str(),
    };
    let guid = rest.strip_prefix("/providers/microsoft.authorization/roledefinitions/")?;
    uuid::Uuid::parse_str(guid).ok()?;
    Some(guid.to_owned())
}

fn bad_body(message: impl Into<String>) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
}

/// The common checks of a role-assignment body; returns (role guid, principal id, principal type).
fn check_principal_and_role(
    st: &AzureState,
    info: &ScopeInfo,
    props: &Value,
) -> Result<(String, String, String), Response> {
    let Some(rd) = props.get("roleDefinitionId").and_then(Value::as_str) else {
        return Err(bad_body(
            "The request content is missing the required property 'roleDefinitionId'.",
        ));
    };
    let Some(pid) = props.get("principalId").and_then(Value::as_str) else {
        return Err(bad_body(
            "The request content is missing the required property 'principalId'.",
        ));
    };
    let Some(role) = role_guid(rd) else {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            format!("The role definition ID '{rd}' is not valid."),
        ));
    };
    if !KV_ROLES.iter().any(|(g, _, _)| *g == role) {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "RoleDefinitionDoesNotExist",
            format!("The specified role definition with ID '{role}' does not exist."),
        ));
    }
    let Ok(puid) = uuid::Uuid::parse_str(pid) else {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
            format!("The principal ID '{pid}' is not a valid GUID."),
        ));
    };
    let given_type = match props.get("principalType") {
        None | Some(Value::Null) => None,
        Some(Value::String(t))
            if [
                "User",
                "Group",
                "ServicePrincipal",
                "ForeignGroup",
                "Device",
            ]
            .contains(&t.as_str()) =>
        {
            Some(t.clone())
        }
        Some(other) => {
            return Err(bad_body(format!(
                "The value '{other}' of 'principalType' is not valid."
            )));
        }
    };
    let Some(actual) = st.principal_kind(&info.tenant, pid) else {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "PrincipalNotFound",
            format!(
                "Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                puid.simple(),
                info.tenant
            ),
        ));
    };
    if let Some(t) = &given_type
        && t != actual
    {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "UnmatchedPrincipalType",
            format!(
                "The PrincipalId '{}' has type '{actual}', which is different from specified PrincipalType '{t}'.",
                puid.simple()
            ),
        ));
    }
    Ok((role, pid.to_ascii_lowercase(), actual.to_owned()))
}

fn same_scope(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// `outer` is `inner` or one of its ancestors (segment-wise).
fn is_at_or_above(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.to_ascii_lowercase(), inner.to_ascii_lowercase());
    i == o || i.starts_with(&format!("{o}/"))
}

fn put_assignment(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
    body: &[u8],
) -> Response {
    let action = "Microsoft.Authorization/roleAssignments/write";
    if !st.may_write(token, info) {
        return authorization_failed(
            token,
            action,
            &format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        );
    }
    let mut inner = st.inner();
    let remaining = match st.take(&mut inner, &info.subscription, "writes") {
        Ok(r) => r,
        Err(wait) => return throttled(wait, WRITES),
    };
    let respond = |r: Response| with_remaining(r, WRITES, remaining);
    if uuid::Uuid::parse_str(name).is_err() {
        return respond(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRoleAssignmentId",
            format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return respond(bad_body(
            "The request content was invalid and could not be deserialized.",
        ));
    };
    let Some(props) = body.get("properties").filter(|p| p.is_object()) else {
        return respond(bad_body(
            "The request content is missing the required property 'properties'.",
        ));
    };
    let (role, pid, ptype) = match check_principal_and_role(st, info, props) {
        Ok(x) => x,
        Err(r) => return respond(r),
    };
    let description = match props.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) if d.len() <= 2048 => Some(d.clone()),
        Some(_) => {
            return respond(bad_body(
                "The description must be a string of at most 2 KB.",
            ));
        }
    };
    let now = st.clock.now();
    let name = name.to_ascii_lowercase();
    if let Some(existing) = inner
        .assignments
        .iter_mut()
        .find(|a| a.name == name && a.active(now))
    {
        if same_scope(&existing.scope, scope)
            && existing.principal_id == pid
            && existing.role == role
        {
            // Principal, role and scope are fixed; the description may be updated (as ARM
            // allows, e.g. `az role assignment update`), unless the seed says Azure refuses it.
            if description.is_some() && description != existing.description {
                if st.limits.refuse_description_updates {
                    return respond(arm_error(
                        StatusCode::BAD_REQUEST,
                        "RoleAssignmentUpdateNotPermitted",
                        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                    ));
                }
                existing.description = description;
            }
            return respond((StatusCode::OK, Json(existing.json())).into_response());
        }
        return respond(arm_error(
            StatusCode::BAD_REQUEST,
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        ));
    }
    if inner.assignments.iter().any(|a| {
        a.active(now) && same_scope(&a.scope, scope) && a.principal_id == pid && a.role == role
    }) {
        return respond(arm_error(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            "The role assignment already exists.",
        ));
    }
    let in_sub = inner
        .assignments
        .iter()
        .filter(|a| a.active(now) && a.subscription.eq_ignore_ascii_case(&info.subscription))
        .count();
    if in_sub >= st.limits.role_assignments_per_subscription {
        return respond(arm_error(
            StatusCode::BAD_REQUEST,
            "RoleAssignmentLimitExceeded",
            "No more role assignments can be created (code: RoleAssignmentLimitExceeded).",
        ));
    }
    let ra = Ra {
        name,
        scope: scope.to_owned(),
        subscription: info.subscription.clone(),
        role,
        principal_id: pid,
        principal_type: ptype,
        description,
        created_on: now,
        created_by: token.oid.clone(),
        starts_at: now,
        ends_at: None,
        pim_request: None,
    };
    let json = ra.json();
    inner.assignments.push(ra);
    respond((StatusCode::CREATED, Json(json)).into_response())
}

fn get_assignment(st: &AzureState, scope: &str, name: &str) -> Response {
    let now = st.clock.now();
    let inner = st.inner();
    match inner
        .assignments
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name) && same_scope(&a.scope, scope) && a.active(now))
    {
        Some(a) => Json(a.json()).into_response(),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentNotFound",
            "The role assignment does not exist.",
        ),
    }
}

fn delete_assignment(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
) -> Response {
    let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    if !st.may_write(token, info) {
        return authorization_failed(token, "Microsoft.Authorization/roleAssignments/delete", &id);
    }
    let now = st.clock.now();
    let mut inner = st.inner();
    let remaining = match st.take(&mut inner, &info.subscription, "deletes") {
        Ok(r) => r,
        Err(wait) => return throttled(wait, DELETES),
    };
    let found = inner.assignments.iter().position(|a| {
        a.name.eq_ignore_ascii_case(name) && same_scope(&a.scope, scope) && a.active(now)
    });
    let resp = match found {
        Some(i) => {
            let ra = inner.assignments.remove(i);
            (StatusCode::OK, Json(ra.json())).into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    };
    with_remaining(resp, DELETES, remaining)
}

fn list_assignments(
    st: &AzureState,
    scope: &str,
    path: &str,
    q: &HashMap<String, String>,
) -> Response {
    let filter = q.get("$filter").map(|f| f.trim().to_owned());
    let (at_scope, principal) = match filter.as_deref() {
        None | Some("") => (false, None),
        Some(f) => {
            let mut at_scope = false;
            let mut principal = None;
            for part in f.split(" and ") {
                let part = part.trim();
                if part.eq_ignore_ascii_case("atScope()") {
                    at_scope = true;
                } else if let Some(id) = part
                    .strip_prefix("principalId eq '")
                    .and_then(|r| r.strip_suffix('\''))
                {
                    principal = Some(id.to_ascii_lowercase());
                } else {
                    return arm_error(
                        StatusCode::BAD_REQUEST,
                        "UnsupportedQuery",
                        format!(
                            "The filter '{f}' is not supported. Supported filters are either 'atScope()' or 'principalId eq '{{value}}' or assignedTo('{{value}}')'."
                        ),
                    );
                }
            }
            (at_scope, principal)
        }
    };
    let now = st.clock.now();
    let inner = st.inner();
    let matching: Vec<Value> = inner
        .assignments
        .iter()
        .filter(|a| a.active(now))
        .filter(|a| {
            let above = is_at_or_above(&a.scope, scope);
            let below = is_at_or_above(scope, &a.scope);
            if at_scope { above } else { above || below }
        })
        .filter(|a| principal.as_ref().is_none_or(|p| &a.principal_id == p))
        .map(Ra::json)
        .collect();
    let skip: usize = q
        .get("$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page = st.limits.list_page_size.max(1);
    let value: Vec<Value> = matching.iter().skip(skip).take(page).cloned().collect();
    let mut out = json!({"value": value});
    if skip + page < matching.len() {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        qs.append_pair("api-version", "2022-04-01");
        if let Some(f) = &filter {
            qs.append_pair("$filter", f);
        }
        qs.append_pair("$skipToken", &(skip + page).to_string());
        out["nextLink"] = json!(format!("{}{path}?{}", st.base, qs.finish()));
    }
    Json(out).into_response()
}

/// ISO 8601 durations as PIM uses them: `PT8H`, `PT1H30M`, `P1D`, `PT300S`.
fn parse_iso_duration(s: &str) -> Option<chrono::Duration> {
    let rest = s.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = chrono::Duration::zero();
    if !days.is_empty() {
        total += chrono::Duration::days(days.strip_suffix('D')?.parse().ok()?);
    }
    let mut num = String::new();
    for c in time.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = std::mem::take(&mut num).parse().ok()?;
        total += match c {
            'H' => chrono::Duration::hours(n),
            'M' => chrono::Duration::minutes(n),
            'S' => chrono::Duration::seconds(n),
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

/// The PIM success states (see `azure::error::pim_status`).
fn pim_success(status: &str) -> bool {
    matches!(status, "Provisioned" | "Granted" | "ScheduleCreated")
}

/// `scheduleInfo` of a request: its start (`default_start` when absent) and its end (`None`:
/// `NoExpiration`).
fn schedule_window(
    props: &Value,
    default_start: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), Response> {
    let sched = props.get("scheduleInfo").cloned().unwrap_or(Value::Null);
    let start = match sched.get("startDateTime").and_then(Value::as_str) {
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(_) => return Err(bad_body(format!("startDateTime '{s}' is not a date-time."))),
        },
        None => default_start,
    };
    let exp = sched.get("expiration").cloned().unwrap_or(Value::Null);
    let end = match exp.get("type").and_then(Value::as_str) {
        Some("AfterDateTime") => match exp
            .get("endDateTime")
            .and_then(Value::as_str)
            .map(DateTime::parse_from_rfc3339)
        {
            Some(Ok(t)) => Some(t.with_timezone(&Utc)),
            _ => {
                return Err(bad_body(
                    "expiration.endDateTime is required for AfterDateTime.",
                ));
            }
        },
        Some("AfterDuration") => match exp
            .get("duration")
            .and_then(Value::as_str)
            .and_then(parse_iso_duration)
        {
            Some(d) => Some(start + d),
            None => {
                return Err(bad_body(
                    "expiration.duration is required for AfterDuration.",
                ));
            }
        },
        Some("NoExpiration") | None => None,
        Some(other) => return Err(bad_body(format!("expiration.type '{other}' is not valid."))),
    };
    Ok((start, end))
}

fn schedule_id(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignmentSchedules/{name}")
}

fn put_schedule_request(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
    body: &[u8],
) -> Response {
    let id =
        format!("{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}");
    if !st.may_write(token, info) {
        return authorization_failed(
            token,
            "Microsoft.Authorization/roleAssignmentScheduleRequests/write",
            &id,
        );
    }
    if uuid::Uuid::parse_str(name).is_err() {
        return bad_body(format!(
            "The schedule request name '{name}' must be a GUID."
        ));
    }
    let mut inner = st.inner();
    let remaining = match st.take(&mut inner, &info.subscription, "writes") {
        Ok(r) => r,
        Err(wait) => return throttled(wait, WRITES),
    };
    let respond = |r: Response| with_remaining(r, WRITES, remaining);
    let key = id.to_ascii_lowercase();
    if let Some((_, stored)) = inner.schedule_requests.iter().find(|(k, _)| *k == key) {
        return respond((StatusCode::CREATED, Json(stored.clone())).into_response());
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return respond(bad_body(
            "The request content was invalid and could not be deserialized.",
        ));
    };
    let Some(props) = body.get("properties").filter(|p| p.is_object()) else {
        return respond(bad_body(
            "The request content is missing the required property 'properties'.",
        ));
    };
    let (role, pid, ptype) = match check_principal_and_role(st, info, props) {
        Ok(x) => x,
        Err(r) => return respond(r),
    };
    let now = st.clock.now();
    let request_type = props
        .get("requestType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let matches = |a: &Ra| same_scope(&a.scope, scope) && a.principal_id == pid && a.role == role;
    let min = chrono::Duration::minutes(5);
    let too_short = || {
        arm_error(
            StatusCode::BAD_REQUEST,
            "ActiveDurationTooShort",
            "The Active duration is too short. Miniumum Required is 5 minutes.",
        )
    };
    // Echoed back as sent (the type and any duration), with the computed end.
    let expiration = props
        .pointer("/scheduleInfo/expiration")
        .cloned()
        .unwrap_or(Value::Null);
    let justification = props
        .get("justification")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let forced = st.limits.pim_status.clone();
    let (status, start, end, target) = match request_type {
        "AdminAssign" => {
            let (start, end) = match schedule_window(props, now) {
                Ok(w) => w,
                Err(r) => return respond(r),
            };
            if let Some(end) = end
                && end - start.max(now) < min
            {
                return respond(too_short());
            }
            if inner
                .assignments
                .iter()
                .any(|a| a.active(now) && matches(a))
            {
                return respond(arm_error(
                    StatusCode::CONFLICT,
                    "RoleAssignmentExists",
                    "The Role assignment already exists.",
                ));
            }
            let ra_name =
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes()).to_string();
            let status = forced.unwrap_or_else(|| {
                if start <= now {
                    "Provisioned".into()
                } else {
                    "Granted".into()
                }
            });
            if pim_success(&status) {
                inner.assignments.push(Ra {
                    name: ra_name.clone(),
                    scope: scope.to_owned(),
                    subscription: info.subscription.clone(),
                    role: role.clone(),
                    principal_id: pid.clone(),
                    principal_type: ptype.clone(),
                    description: justification.clone(),
                    created_on: now,
                    created_by: token.oid.clone(),
                    starts_at: start,
                    ends_at: end,
                    pim_request: Some(id.clone()),
                });
            }
            (status, Some(start), end, Some(schedule_id(scope, &ra_name)))
        }
        // Both move an existing PIM schedule: Extend its end (keeping its start), Update its
        // window. Only a schedule PIM made can be changed this way.
        "AdminExtend" | "AdminUpdate" => {
            let Some(i) = inner.assignments.iter().position(|a| {
                a.pim_request.is_some() && a.ends_at.is_none_or(|e| now < e) && matches(a)
            }) else {
                return respond(arm_error(
                    StatusCode::BAD_REQUEST,
                    "RoleAssignmentDoesNotExist",
                    "The Role assignment does not exist.",
                ));
            };
            let sched = schedule_id(scope, &inner.assignments[i].name);
            if let Some(t) = props
                .get("targetRoleAssignmentScheduleId")
                .and_then(Value::as_str)
                && !t.eq_ignore_ascii_case(&sched)
                && !t.eq_ignore_ascii_case(&inner.assignments[i].name)
            {
                return respond(bad_body(format!(
                    "targetRoleAssignmentScheduleId '{t}' does not name the role assignment schedule of this principal, role and scope."
                )));
            }
            let current = inner.assignments[i].starts_at;
            let (start, end) = match schedule_window(props, current) {
                Ok(w) => w,
                Err(r) => return respond(r),
            };
            let start = if request_type == "AdminExtend" {
                current
            } else {
                start
            };
            if let Some(end) = end
                && end - start.max(now) < min
            {
                return respond(too_short());
            }
            let status = forced.unwrap_or_else(|| "Provisioned".into());
            if pim_success(&status) {
                let ra = &mut inner.assignments[i];
                ra.starts_at = start;
                ra.ends_at = end;
                ra.description = justification.clone();
                ra.pim_request = Some(id.clone());
            }
            (status, Some(start), end, Some(sched))
        }
        // Removes the assignment, active or scheduled for later. Like PIM (which lists every
        // assignment at a scope, not only its own), it removes a standing one too.
        "AdminRemove" => {
            let Some(i) = inner
                .assignments
                .iter()
                .position(|a| a.ends_at.is_none_or(|e| now < e) && matches(a))
            else {
                return respond(arm_error(
                    StatusCode::BAD_REQUEST,
                    "RoleAssignmentDoesNotExist",
                    "The Role assignment does not exist.",
                ));
            };
            let started = inner.assignments[i].starts_at;
            if started <= now && now - started < min {
                return respond(too_short());
            }
            let sched = schedule_id(scope, &inner.assignments[i].name);
            inner.assignments.remove(i);
            ("Revoked".to_owned(), None, None, Some(sched))
        }
        other => {
            return respond(bad_body(format!(
                "requestType '{other}' is not supported by the emulator (AdminAssign, AdminExtend, AdminUpdate, AdminRemove)."
            )));
        }
    };
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let stored = json!({
        "id": id,
        "name": name,
        "type": "Microsoft.Authorization/RoleAssignmentScheduleRequests",
        "properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", info.subscription),
            "principalId": pid,
            "principalType": ptype,
            "requestType": request_type,
            "status": status,
            "scope": scope,
            "targetRoleAssignmentScheduleId": target,
            "justification": props.get("justification").cloned().unwrap_or(Value::Null),
            "scheduleInfo": {
                "startDateTime": start.map(at),
                "expiration": {
                    "type": expiration.get("type").cloned().unwrap_or(json!("NoExpiration")),
                    "endDateTime": end.map(at),
                    "duration": expiration.get("duration").cloned().unwrap_or(Value::Null),
                }
            },
            "requestorId": token.oid,
            "createdOn": at(now),
        }
    });
    inner.schedule_requests.push((key, stored.clone()));
    respond((StatusCode::CREATED, Json(stored)).into_response())
}

fn get_schedule_request(st: &AzureState, scope: &str, name: &str) -> Response {
    let key =
        format!("{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}")
            .to_ascii_lowercase();
    match st.inner().schedule_requests.iter().find(|(k, _)| *k == key) {
        Some((_, v)) => Json(v.clone()).into_response(),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentScheduleRequestNotFound",
            "The role assignment schedule request does not exist.",
        ),
    }
}

/// `POST …/roleAssignmentScheduleRequests/{name}/cancel`: a request still pending becomes
/// `Canceled` (200); one that finished cannot be cancelled (400, a code the emulator picks).
fn cancel_schedule_request(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
) -> Response {
    let id =
        format!("{scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}");
    if !st.may_write(token, info) {
        return authorization_failed(
            token,
            "Microsoft.Authorization/roleAssignmentScheduleRequests/cancel/action",
            &id,
        );
    }
    let key = id.to_ascii_lowercase();
    let mut inner = st.inner();
    let Some((_, stored)) = inner.schedule_requests.iter_mut().find(|(k, _)| *k == key) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "RoleAssignmentScheduleRequestNotFound",
            "The role assignment schedule request does not exist.",
        );
    };
    let status = stored["properties"]["status"].as_str().unwrap_or_default();
    let finished = pim_success(status)
        || matches!(
            status,
            "Denied"
                | "Failed"
                | "Canceled"
                | "Revoked"
                | "AdminDenied"
                | "TimedOut"
                | "Invalid"
                | "FailedAsResourceIsLocked"
        );
    if finished {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "RoleAssignmentScheduleRequestNotCancelable",
            format!("The request is {status} and can no longer be cancelled."),
        );
    }
    stored["properties"]["status"] = json!("Canceled");
    StatusCode::OK.into_response()
}

/// `GET …/roleAssignmentSchedules`: the schedules PIM made that have not ended (active now or
/// later), with the same `$filter` forms as role assignments.
fn list_schedules(st: &AzureState, scope: &str, q: &HashMap<String, String>) -> Response {
    let filter = q.get("$filter").map(|f| f.trim().to_owned());
    let (at_scope, principal) = match filter.as_deref() {
        None | Some("") => (false, None),
        Some(f) if f.eq_ignore_ascii_case("atScope()") => (true, None),
        Some(f) => match f
            .strip_prefix("principalId eq '")
            .and_then(|r| r.strip_suffix('\''))
        {
            Some(id) => (false, Some(id.to_ascii_lowercase())),
            None => {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "UnsupportedQuery",
                    format!("The filter '{f}' is not supported by the emulator."),
                );
            }
        },
    };
    let now = st.clock.now();
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let inner = st.inner();
    let value: Vec<Value> = inner
        .assignments
        .iter()
        .filter(|a| a.pim_request.is_some() && a.ends_at.is_none_or(|e| now < e))
        .filter(|a| {
            let above = is_at_or_above(&a.scope, scope);
            let below = is_at_or_above(scope, &a.scope);
            if at_scope { above } else { above || below }
        })
        .filter(|a| principal.as_ref().is_none_or(|p| &a.principal_id == p))
        .map(|a| {
            json!({
                "id": schedule_id(&a.scope, &a.name),
                "name": a.name,
                "type": "Microsoft.Authorization/RoleAssignmentSchedules",
                "properties": {
                    "scope": a.scope,
                    "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}", a.subscription, a.role),
                    "principalId": a.principal_id,
                    "principalType": a.principal_type,
                    "roleAssignmentScheduleRequestId": a.pim_request,
                    "assignmentType": "Assigned",
                    "memberType": "Direct",
                    "status": "Provisioned",
                    "startDateTime": at(a.starts_at),
                    "endDateTime": a.ends_at.map(at),
                    "createdOn": at(a.created_on),
                    "updatedOn": at(a.created_on),
                }
            })
        })
        .collect();
    Json(json!({ "value": value })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph

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

// ---------------------------------------------------------------------------------------------
// Key Vault data plane (secret values). kv-jit never calls this; the demo's requester does.

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
            && KV_ROLES.iter().any(|(g, _, reads)| *reads && *g == a.role)
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
        "id": format!("{}/kv/{}/secrets/{real_name}/0000000000000000000000000000000a", st.base, v.name),
        "attributes": {"enabled": true, "created": 1_700_000_000, "updated": 1_700_000_000, "recoveryLevel": "Recoverable+Purgeable"},
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(parse_iso_duration("PT8H"), Some(chrono::Duration::hours(8)));
        assert_eq!(
            parse_iso_duration("PT1H30M"),
            Some(chrono::Duration::minutes(90))
        );
        assert_eq!(parse_iso_duration("P1D"), Some(chrono::Duration::days(1)));
        assert_eq!(parse_iso_duration("PT5"), None);
        assert_eq!(parse_iso_duration("8H"), None);
    }

    #[test]
    fn role_definition_ids() {
        let g = "4633458b-17de-408a-b874-0445c86b69e6";
        assert_eq!(
            role_guid(&format!(
                "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/{g}"
            )),
            Some(g.to_owned())
        );
        assert_eq!(
            role_guid(&format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{g}"
            )),
            Some(g.to_owned())
        );
        assert_eq!(
            role_guid("/providers/Microsoft.Authorization/roleDefinitions/nope"),
            None
        );
    }

    #[test]
    fn scope_ancestry() {
        assert!(is_at_or_above(
            "/subscriptions/a",
            "/subscriptions/a/resourceGroups/b"
        ));
        assert!(is_at_or_above("/subscriptions/A/x", "/subscriptions/a/x"));
        assert!(!is_at_or_above("/subscriptions/a/x", "/subscriptions/a/xy"));
    }
}
