//! ARM role assignments, api-version 2022-04-01 (Microsoft.Authorization).
//!
//! PUT/GET/DELETE `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}` and the
//! scope list with `$filter=atScope()`. Names are deterministic ([`super::assignment_name`]), so a
//! retried or re-run grant lands on the same assignment and the revoke deletes exactly it.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::retry::{Bucket, Call, Reply};
use super::{
    Assignment, AzureClient, AzureError, ErrorClass, GrantSpec, Marker, MarkerNotUpdated,
    RevokeOutcome, RevokeSpec, Target, assignment_name,
};

pub const API_VERSION: &str = "2022-04-01";

const PROVIDER: &str = "/providers/Microsoft.Authorization/roleAssignments";

/// `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}`
pub fn role_definition_id(subscription_id: &str, role: &uuid::Uuid) -> String {
    format!(
        "/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
    )
}

/// The request body of a PUT, exactly as ARM documents it.
pub fn put_body(spec: &GrantSpec) -> serde_json::Value {
    let marker = Marker {
        request_id: spec.request_id.clone(),
        expires_at: spec.expires_at,
    };
    json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "principalType": spec.principal.kind.as_str(),
            "description": marker.render(),
        }
    })
}

pub(crate) async fn grant(az: &AzureClient, spec: &GrantSpec) -> Result<Assignment, AzureError> {
    spec.check_request_id("grant")?;
    let scope = spec.target.scope();
    let name = assignment_name(&az.tenant_id, &scope, &spec.request_id);
    let url = az.arm_url(&format!("{scope}{PROVIDER}/{name}"), API_VERSION);
    let body = put_body(spec);
    let what = format!("creating role assignment {name} at {scope}");
    let mut principal_retries = 0;
    loop {
        let token = az.arm_token().await?;
        let mut call = Call::new(Method::PUT, url.clone(), what.clone());
        call.bearer = Some(token.secret());
        call.json = Some(&body);
        call.pace = Some((spec.target.vault.subscription_id(), Bucket::Writes));
        let reply = az.transport.execute(&call).await?;
        if reply.is_success() {
            crate::testing::hit("after-role-assignment-put");
            return parse_assignment(&reply, &what);
        }
        let (code, message) = reply.error();
        match code.as_str() {
            "RoleAssignmentExists" => {
                let existing = find_existing(az, spec, &scope, &what).await?;
                return Ok(take_over(az, spec, &scope, &body, existing).await);
            }
            "PrincipalNotFound"
                if principal_retries < az.transport.policy.principal_not_found_retries =>
            {
                principal_retries += 1;
                let wait = az.transport.policy.backoff(principal_retries);
                az.transport.sleep(wait).await;
            }
            "PrincipalNotFound" => {
                return Err(AzureError::PrincipalNotFound {
                    what,
                    principal_id: spec.principal.object_id.to_string(),
                    tenant: az.tenant_id.clone(),
                    attempts: principal_retries + 1,
                });
            }
            _ => return Err(map_error(&reply, what, &spec.target, code, message)),
        }
    }
}

/// A 409 means the same principal already holds the same role at the same scope under another
/// name (made by hand or by an earlier tool): the grant is in effect, so return that one.
/// Its `marker` tells the engine whether kv-jit owns it; revoking by our name never touches it.
/// An extension lands on the assignment kv-jit made for the grant it extends (Azure keeps one
/// per principal, role and scope). Its marker is rewritten to the extension's request and later
/// expiry, so nothing that reads markers (reconcile, the expiry sweep) ends the access early.
/// Azure may refuse that rewrite ("you can't change the properties of an existing role
/// assignment", `RoleAssignmentUpdateNotPermitted`), or be unreachable: the grant is still in
/// effect, so the existing assignment is returned with its OLD marker and
/// [`Assignment::marker_not_updated`] saying why, never an error that loses the grant. An
/// assignment without kv-jit's marker (made by hand) is never touched.
async fn take_over(
    az: &AzureClient,
    spec: &GrantSpec,
    scope: &str,
    body: &serde_json::Value,
    mut existing: Assignment,
) -> Assignment {
    // Only an assignment kv-jit made is rewritten: a marker someone typed into a hand-made
    // assignment's description does not make its name one kv-jit derives.
    let ours = existing.marker.as_ref().is_some_and(|m| {
        crate::azure::assignment_name(az.tenant_id(), scope, &m.request_id)
            .to_string()
            .eq_ignore_ascii_case(&existing.name)
    });
    let later = ours
        && existing
            .marker
            .as_ref()
            .is_some_and(|m| m.request_id != spec.request_id && m.expires_at < spec.expires_at);
    if !later {
        return existing;
    }
    let url = az.arm_url(&format!("{scope}{PROVIDER}/{}", existing.name), API_VERSION);
    let what = format!(
        "updating the marker of role assignment {} at {scope}",
        existing.name
    );
    let outcome = async {
        let token = az.arm_token().await?;
        let mut call = Call::new(Method::PUT, url, what.clone());
        call.bearer = Some(token.secret());
        call.json = Some(body);
        call.pace = Some((spec.target.vault.subscription_id(), Bucket::Writes));
        let reply = az.transport.execute(&call).await?;
        if reply.is_success() {
            return parse_assignment(&reply, &what);
        }
        let (code, message) = reply.error();
        Err(map_error(&reply, what.clone(), &spec.target, code, message))
    }
    .await;
    let wanted = Marker {
        request_id: spec.request_id.clone(),
        expires_at: spec.expires_at,
    };
    match outcome {
        Ok(updated) if updated.marker.as_ref() == Some(&wanted) => updated,
        Ok(updated) => {
            existing.marker_not_updated = Some(MarkerNotUpdated {
                wanted,
                reason: format!(
                    "Azure accepted the update but the assignment's description is {:?}",
                    updated.description.unwrap_or_default()
                ),
                class: ErrorClass::Permanent,
            });
            existing
        }
        Err(e) => {
            existing.marker_not_updated = Some(MarkerNotUpdated {
                wanted,
                class: e.class(),
                reason: e.to_string(),
            });
            existing
        }
    }
}

async fn find_existing(
    az: &AzureClient,
    spec: &GrantSpec,
    scope: &str,
    what: &str,
) -> Result<Assignment, AzureError> {
    let principal = spec.principal.object_id.hyphenated().to_string();
    let role = spec.role.hyphenated().to_string();
    let found = list_at_scope(az, scope, Some(&principal))
        .await?
        .into_iter()
        .find(|a| {
            a.principal_id.eq_ignore_ascii_case(&principal) && a.role.eq_ignore_ascii_case(&role)
        });
    found.ok_or_else(|| AzureError::Api {
        what: what.to_owned(),
        status: 409,
        code: "RoleAssignmentExists".into(),
        message: "Azure says the assignment exists but it is not listed at this scope".into(),
    })
}

pub(crate) async fn revoke(
    az: &AzureClient,
    spec: &RevokeSpec,
) -> Result<RevokeOutcome, AzureError> {
    let scope = spec.target.scope();
    let name = spec
        .name
        .unwrap_or_else(|| assignment_name(&az.tenant_id, &scope, &spec.request_id));
    let url = az.arm_url(&format!("{scope}{PROVIDER}/{name}"), API_VERSION);
    let what = format!("deleting role assignment {name} at {scope}");
    let token = az.arm_token().await?;
    let mut call = Call::new(Method::DELETE, url, what.clone());
    call.bearer = Some(token.secret());
    call.pace = Some((spec.target.vault.subscription_id(), Bucket::Deletes));
    let reply = az.transport.execute(&call).await?;
    crate::testing::hit_if(reply.status == 200, "after-role-assignment-delete");
    match reply.status {
        200 => Ok(RevokeOutcome::Deleted),
        // 204: "already deleted or does not exist"; 404 from older front ends means the same.
        204 | 404 => Ok(RevokeOutcome::AlreadyGone),
        _ => {
            let (code, message) = reply.error();
            Err(map_error(&reply, what, &spec.target, code, message))
        }
    }
}

/// GET one assignment by its deterministic name; `None` when Azure does not have it.
pub async fn get(
    az: &AzureClient,
    target: &Target,
    request_id: &str,
) -> Result<Option<Assignment>, AzureError> {
    let scope = target.scope();
    let name = assignment_name(&az.tenant_id, &scope, request_id);
    let url = az.arm_url(&format!("{scope}{PROVIDER}/{name}"), API_VERSION);
    let what = format!("reading role assignment {name} at {scope}");
    let token = az.arm_token().await?;
    let mut call = Call::new(Method::GET, url, what.clone());
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => parse_assignment(&reply, &what).map(Some),
        404 => Ok(None),
        _ => {
            let (code, message) = reply.error();
            Err(map_error(&reply, what, target, code, message))
        }
    }
}

/// Every assignment exactly at `scope` (inherited ones from the resource group or
/// subscription are dropped), following `nextLink`. With `principal`, the list is narrowed
/// server-side to that principal instead of `atScope()`.
pub(crate) async fn list_at_scope(
    az: &AzureClient,
    scope: &str,
    principal: Option<&str>,
) -> Result<Vec<Assignment>, AzureError> {
    list(az, scope, principal, false).await
}

/// Assignments at `scope` and every scope below it (a vault's secrets), none inherited.
pub(crate) async fn list_within_scope(
    az: &AzureClient,
    scope: &str,
) -> Result<Vec<Assignment>, AzureError> {
    list(az, scope, None, true).await
}

/// Every assignment ARM lists at `scope` without a filter: at it, below it, and inherited from
/// above it (resource group, subscription, management groups). For `audit check-azure`.
pub async fn list_around_scope(
    az: &AzureClient,
    scope: &str,
) -> Result<Vec<Assignment>, AzureError> {
    let url = az.arm_url(&format!("{scope}{PROVIDER}"), API_VERSION);
    let what = format!("listing role assignments at, above and below {scope}");
    let raw: Vec<RawAssignment> = get_pages(az, url, &what, 1000).await?;
    Ok(raw
        .into_iter()
        .map(RawAssignment::into_assignment)
        .collect())
}

async fn list(
    az: &AzureClient,
    scope: &str,
    principal: Option<&str>,
    children: bool,
) -> Result<Vec<Assignment>, AzureError> {
    // Without a filter ARM lists at, above and below the scope; atScope() only at and above.
    let filter = match (principal, children) {
        (Some(p), _) => Some(format!("principalId eq '{p}'")),
        (None, false) => Some("atScope()".to_owned()),
        (None, true) => None,
    };
    let mut url = url::Url::parse(&az.arm_url(&format!("{scope}{PROVIDER}"), API_VERSION))
        .map_err(|e| AzureError::Invalid {
            what: "listing role assignments".into(),
            detail: e.to_string(),
        })?;
    if let Some(filter) = filter {
        url.query_pairs_mut().append_pair("$filter", &filter);
    }
    let below = format!("{}/", scope.to_ascii_lowercase());
    let what = format!("listing role assignments at {scope}");
    let raw: Vec<RawAssignment> = get_pages(az, url.to_string(), &what, 1000).await?;
    Ok(raw
        .into_iter()
        .map(RawAssignment::into_assignment)
        .filter(|a| {
            a.scope.eq_ignore_ascii_case(scope)
                || (children && a.scope.to_ascii_lowercase().starts_with(&below))
        })
        .collect())
}

/// Every item of an ARM list (`{"value": [...], "nextLink": ...}`), following `nextLink` on ARM
/// itself only (the bearer token goes there), at most `max_pages` pages: a bound against a server
/// that keeps handing out the same link.
pub(crate) async fn get_pages<T: serde::de::DeserializeOwned>(
    az: &AzureClient,
    first: String,
    what: &str,
    max_pages: usize,
) -> Result<Vec<T>, AzureError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<T> {
        #[serde(default = "Vec::new")]
        value: Vec<T>,
        #[serde(default)]
        next_link: Option<String>,
    }
    let mut next = Some(first);
    let mut out = Vec::new();
    for _ in 0..max_pages {
        let Some(page_url) = next.take() else {
            return Ok(out);
        };
        ensure_same_origin(&az.endpoints().resource_manager, &page_url, what)?;
        let token = az.arm_token().await?;
        let mut call = Call::new(Method::GET, page_url, what.to_owned());
        call.bearer = Some(token.secret());
        let reply = az.transport.execute(&call).await?;
        if !reply.is_success() {
            let (code, message) = reply.error();
            return Err(AzureError::Api {
                what: what.to_owned(),
                status: reply.status,
                code,
                message,
            });
        }
        let page: Page<T> = reply.json(what)?;
        out.extend(page.value);
        next = page.next_link.filter(|l| !l.is_empty());
    }
    Err(AzureError::Invalid {
        what: what.to_owned(),
        detail: format!("more than {max_pages} pages; the nextLink chain does not end"),
    })
}

/// The bearer token goes to whatever `nextLink` names, so it must be ARM itself.
pub(crate) fn ensure_same_origin(
    base: &url::Url,
    link: &str,
    what: &str,
) -> Result<(), AzureError> {
    let ok = url::Url::parse(link)
        .map(|u| u.origin() == base.origin())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(AzureError::Invalid {
            what: what.to_owned(),
            detail: "nextLink points away from the resource manager endpoint".into(),
        })
    }
}

#[derive(Deserialize)]
struct RawAssignment {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    properties: RawProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperties {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    role_definition_id: String,
    #[serde(default)]
    principal_id: String,
    principal_type: Option<String>,
    description: Option<String>,
}

impl RawAssignment {
    fn into_assignment(self) -> Assignment {
        let p = self.properties;
        // `/providers/…/roleDefinitions/{guid}` or `/subscriptions/{s}/providers/…/{guid}`.
        let role = p
            .role_definition_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let marker = p.description.as_deref().and_then(Marker::parse);
        Assignment {
            id: self.id,
            name: self.name,
            scope: p.scope,
            role,
            principal_id: p.principal_id,
            principal_type: p.principal_type,
            description: p.description,
            marker,
            marker_not_updated: None,
        }
    }
}

fn parse_assignment(reply: &Reply, what: &str) -> Result<Assignment, AzureError> {
    Ok(reply.json::<RawAssignment>(what)?.into_assignment())
}

/// Turns the error codes that have a known fix into errors that name it.
pub(crate) fn map_error(
    reply: &Reply,
    what: String,
    target: &Target,
    code: String,
    message: String,
) -> AzureError {
    match code.as_str() {
        "AuthorizationFailed" | "LinkedAuthorizationFailed" => AzureError::AuthorizationFailed {
            what,
            vault: target.vault.vault().as_str().to_owned(),
            message,
        },
        "RoleAssignmentLimitExceeded" => AzureError::LimitExceeded {
            what,
            subscription: target.vault.subscription_id().to_owned(),
        },
        c if c.starts_with("InvalidAuthenticationToken") => AzureError::Api {
            what,
            status: reply.status,
            message: format!(
                "{message} (check tenant_id and the cloud endpoints in the config: the token was issued for another tenant or audience)"
            ),
            code,
        },
        _ => AzureError::Api {
            what,
            status: reply.status,
            code,
            message,
        },
    }
}
