//! PIM mode: `roleAssignmentScheduleRequests` (api-version 2020-10-01). Azure ends the access
//! itself at `endDateTime`; kv-jit's revoker only asks for an early end (`AdminRemove`).
//!
//! Schedule request names must be unique per request, so assign and remove use different
//! deterministic names (UUIDv5 of tenant, scope and `<request id>#assign` / `#remove`); a
//! retried PUT therefore repeats the same request instead of creating a second one.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::arm::{map_error, role_definition_id};
use super::retry::{Bucket, Call};
use super::{
    Assignment, AzureClient, AzureError, GrantSpec, Marker, RevokeOutcome, RevokeSpec,
    assignment_name,
};
use chrono::SecondsFormat;

pub const API_VERSION: &str = "2020-10-01";

const PROVIDER: &str = "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests";

pub fn assign_body(spec: &GrantSpec) -> serde_json::Value {
    let marker = Marker {
        request_id: spec.request_id.clone(),
        expires_at: spec.expires_at,
    };
    let justification = match &spec.justification {
        Some(j) => format!("{} {j}", marker.render()),
        None => marker.render(),
    };
    json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "requestType": "AdminAssign",
            "justification": justification,
            "scheduleInfo": {
                "startDateTime": spec.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "expiration": {
                    "type": "AfterDateTime",
                    "endDateTime": spec.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                }
            }
        }
    })
}

#[derive(Deserialize)]
struct RawRequest {
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
    justification: Option<String>,
    #[serde(default)]
    status: String,
}

pub(crate) async fn grant(az: &AzureClient, spec: &GrantSpec) -> Result<Assignment, AzureError> {
    let scope = spec.target.scope();
    let name = assignment_name(
        &az.tenant_id,
        &scope,
        &format!("{}#assign", spec.request_id),
    );
    let what = format!("PIM assignment request {name} at {scope}");
    let body = assign_body(spec);
    let reply = put(
        az,
        spec.target.vault.subscription_id(),
        &scope,
        &name,
        &body,
        &what,
    )
    .await?;
    if reply.is_success() {
        let r: RawRequest = reply.json(&what)?;
        if matches!(
            r.properties.status.as_str(),
            "Denied" | "Failed" | "Canceled" | "Revoked"
        ) {
            return Err(AzureError::Api {
                what,
                status: reply.status,
                code: r.properties.status,
                message: "PIM did not grant the request".into(),
            });
        }
        let p = r.properties;
        return Ok(Assignment {
            id: r.id,
            name: r.name,
            scope: p.scope,
            role: p
                .role_definition_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            principal_id: p.principal_id,
            principal_type: p.principal_type,
            marker: p.justification.as_deref().and_then(Marker::parse),
            description: p.justification,
            marker_not_updated: None,
        });
    }
    let (code, message) = reply.error();
    if code == "RoleAssignmentExists" {
        // Already active (an earlier run, or by hand): the access is in effect.
        let principal = spec.principal.object_id.hyphenated().to_string();
        let role = spec.role.hyphenated().to_string();
        if let Some(a) = super::arm::list_at_scope(az, &scope, Some(&principal))
            .await?
            .into_iter()
            .find(|a| a.role.eq_ignore_ascii_case(&role))
        {
            return Ok(a);
        }
    }
    Err(map_error(&reply, what, &spec.target, code, message))
}

pub(crate) async fn revoke(
    az: &AzureClient,
    spec: &RevokeSpec,
) -> Result<RevokeOutcome, AzureError> {
    let scope = spec.target.scope();
    let name = assignment_name(
        &az.tenant_id,
        &scope,
        &format!("{}#remove", spec.request_id),
    );
    let what = format!("PIM removal request {name} at {scope}");
    let body = json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "requestType": "AdminRemove",
            "justification": format!("{} early revoke of request={}", Marker::PREFIX, spec.request_id),
        }
    });
    let reply = put(
        az,
        spec.target.vault.subscription_id(),
        &scope,
        &name,
        &body,
        &what,
    )
    .await?;
    if reply.is_success() {
        return Ok(RevokeOutcome::Deleted);
    }
    let (code, message) = reply.error();
    match code.as_str() {
        // Nothing active any more: PIM already ended it (expiry) or it was removed before.
        "RoleAssignmentDoesNotExist" => Ok(RevokeOutcome::AlreadyGone),
        "ActiveDurationTooShort" => Err(AzureError::Api {
            what,
            status: reply.status,
            code,
            message: format!(
                "{message} (PIM refuses to end an assignment in its first 5 minutes; the next revoke run will retry)"
            ),
        }),
        _ => Err(map_error(&reply, what, &spec.target, code, message)),
    }
}

async fn put(
    az: &AzureClient,
    subscription: &str,
    scope: &str,
    name: &uuid::Uuid,
    body: &serde_json::Value,
    what: &str,
) -> Result<super::retry::Reply, AzureError> {
    let token = az.arm_token().await?;
    let mut call = Call::new(
        Method::PUT,
        az.arm_url(&format!("{scope}{PROVIDER}/{name}"), API_VERSION),
        what.to_owned(),
    );
    call.bearer = Some(token.secret());
    call.json = Some(body);
    call.pace = Some((subscription, Bucket::Writes));
    az.transport.execute(&call).await
}
