//! ARM under `/subscriptions/`: bearer authentication (audience: the ARM endpoint), the
//! `api-version` check, scope resolution against the seed, and dispatch to role assignments, PIM
//! and the Key Vault management plane.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::{
    AzureState, Token, activity_log, arm_error, bearer, keyvault, permissions, pim, query_map,
    role_assignments, roles,
};

pub(super) fn routes() -> Router<Arc<AzureState>> {
    Router::new().route("/subscriptions/{*rest}", any(arm))
}

/// Where an ARM scope points, resolved against the seed.
pub(super) struct ScopeInfo {
    pub(super) tenant: String,
    pub(super) subscription: String,
    /// Index into the seed's vaults, for a scope at or below a vault.
    pub(super) vault: Option<usize>,
    /// For a scope at a secret: its name as the seed spells it.
    pub(super) secret: Option<String>,
}

impl AzureState {
    pub(super) fn resolve_scope(&self, scope: &str) -> Result<ScopeInfo, Response> {
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
            secret: None,
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
                if let Some(name) = self.vaults[vi].secrets.keys().find(|k| eq(k, segs[9])) {
                    info.secret = Some(name.clone());
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
    pub(super) fn may_write(&self, token: &Token, info: &ScopeInfo) -> bool {
        let Some(vi) = info.vault else { return false };
        let vault = &self.vaults[vi];
        token.kind == "ServicePrincipal"
            && match &vault.admins {
                Some(admins) => admins.iter().any(|a| a.eq_ignore_ascii_case(&token.oid)),
                None => true,
            }
    }
}

pub(super) fn not_found(path: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("The emulator has no resource at '{path}'."),
    )
}

pub(super) fn authorization_failed(token: &Token, action: &str, scope: &str) -> Response {
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

pub(super) fn api_version_error(given: &str, supported: &[&str]) -> Response {
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
    if let Some(sub) = activity_log_subscription(&path) {
        if api != activity_log::API_VERSION {
            return api_version_error(&api, &[activity_log::API_VERSION]);
        }
        let info = match st.resolve_scope(&format!("/subscriptions/{sub}")) {
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
        return match method {
            Method::GET => activity_log::list(&st, &token, &info, &path, &q),
            _ => method_not_allowed(),
        };
    }
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
                    (&Method::PUT, Some(n)) => {
                        role_assignments::put(&st, &token, &info, scope, n, &body)
                    }
                    (&Method::GET, Some(n)) => role_assignments::get(&st, scope, n),
                    (&Method::DELETE, Some(n)) => {
                        role_assignments::delete(&st, &token, &info, scope, n)
                    }
                    (&Method::GET, None) => role_assignments::list(&st, scope, &path, &q),
                    _ => method_not_allowed(),
                }
            }
            "permissions" => {
                if api != "2022-04-01" {
                    return api_version_error(&api, &["2022-04-01"]);
                }
                match (&method, name) {
                    (&Method::GET, None) => permissions::list(&st, &token, &info, scope),
                    _ => method_not_allowed(),
                }
            }
            "roleassignmentschedulerequests" => {
                if api != "2020-10-01" {
                    return api_version_error(&api, &["2020-10-01"]);
                }
                match (&method, name) {
                    (&Method::POST, Some(n)) if cancel => {
                        pim::cancel_request(&st, &token, &info, scope, n)
                    }
                    _ if cancel => method_not_allowed(),
                    (&Method::PUT, Some(n)) => {
                        pim::put_request(&st, &token, &info, scope, n, &body)
                    }
                    (&Method::GET, Some(n)) => pim::get_request(&st, scope, n),
                    _ => method_not_allowed(),
                }
            }
            "roledefinitions" => {
                if api != "2022-04-01" {
                    return api_version_error(&api, &["2022-04-01"]);
                }
                match (&method, name) {
                    (&Method::GET, Some(n)) => {
                        match roles::definition_json(n, &info.subscription) {
                            Some(d) => axum::Json(d).into_response(),
                            None => arm_error(
                                StatusCode::NOT_FOUND,
                                "RoleDefinitionDoesNotExist",
                                format!(
                                    "The specified role definition with ID '{n}' does not exist."
                                ),
                            ),
                        }
                    }
                    _ => method_not_allowed(),
                }
            }
            "roleassignmentschedules" => {
                if api != "2020-10-01" {
                    return api_version_error(&api, &["2020-10-01"]);
                }
                match (&method, name) {
                    (&Method::GET, None) => pim::list_schedules(&st, scope, &q),
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
    keyvault::get(&st, &token, &method, &path, &api)
}

/// `/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values` → `sub`.
fn activity_log_subscription(path: &str) -> Option<&str> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let tail = [
        "providers",
        "microsoft.insights",
        "eventtypes",
        "management",
        "values",
    ];
    (segs.len() == 8
        && segs[0].is_empty()
        && segs[1].eq_ignore_ascii_case("subscriptions")
        && segs[3..]
            .iter()
            .zip(tail)
            .all(|(a, b)| a.eq_ignore_ascii_case(b)))
    .then_some(segs[2])
}

pub(super) fn method_not_allowed() -> Response {
    arm_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested method is not allowed on this resource.",
    )
}

pub(super) fn bad_body(message: impl Into<String>) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
}
