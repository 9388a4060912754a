//! The Azure side of the emulator, one module per service:
//!
//! - [`entra`]: `POST /{tenant}/oauth2/v2.0/token` (client secret, client assertion, or password
//!   grant) and `GET /actions/oidc/token?audience=…` with `Authorization: Bearer <request token>`
//!   (a GitHub-Actions-style OIDC endpoint);
//! - [`arm`]: everything under `/subscriptions/`: authentication, scopes, and dispatch to
//!   [`role_assignments`] (`PUT|GET|DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{guid}`,
//!   list with `$filter`, `api-version=2022-04-01`), [`pim`] (`roleAssignmentScheduleRequests`:
//!   `AdminAssign`, `AdminExtend`, `AdminUpdate`, `AdminRemove`, `POST …/{guid}/cancel`, and
//!   `roleAssignmentSchedules`, `api-version=2020-10-01`) and [`keyvault`] (the management plane:
//!   `GET …/providers/Microsoft.KeyVault/vaults/{v}[/secrets/{n}]?api-version=2024-11-01`), with
//!   writes throttled per subscription by [`throttle`];
//! - [`permissions`]: `GET {scope}/providers/Microsoft.Authorization/permissions`
//!   (`api-version=2022-04-01`), the caller's effective permissions, read-only;
//! - [`activity_log`]: `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`
//!   (`api-version=2015-04-01`), the Activity Log of every role assignment write and delete served,
//!   plus planted events (`POST /_emulator/azure/activity-log`);
//! - [`graph`]: `GET /graph/v1.0/users/{upn}[?$select=id]`;
//! - [`data_plane`]: the Key Vault data plane, which enforces the emulated RBAC and is the only
//!   module that serves a secret value.
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

mod activity_log;
mod arm;
mod data_plane;
mod entra;
mod graph;
mod keyvault;
mod permissions;
mod pim;
mod role_assignments;
mod roles;
mod throttle;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Clock, Seed};

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

#[derive(Debug, Clone)]
struct Token {
    tenant: String,
    oid: String,
    /// `User` or `ServicePrincipal`.
    kind: &'static str,
    aud: String,
    client_id: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, Token>,
    assertions: HashMap<String, entra::Assertion>,
    assignments: Vec<role_assignments::Ra>,
    schedule_requests: Vec<(String, Value)>,
    buckets: throttle::Buckets,
    activity_log: activity_log::Log,
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
}

/// All Azure routes, state applied.
pub fn router(state: Arc<AzureState>) -> Router {
    Router::new()
        .merge(entra::routes())
        .merge(arm::routes())
        .merge(activity_log::routes())
        .merge(graph::routes())
        .merge(data_plane::routes())
        .with_state(state)
}

fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    format!("{:016x}", h.finish())
}

/// ARM's error envelope (Key Vault's data plane uses the same shape).
pub(crate) fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(error_body(code, &message))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
