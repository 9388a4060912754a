//! PIM mode: `roleAssignmentScheduleRequests` (api-version 2020-10-01). Azure ends the access
//! itself at `endDateTime`; kv-jit's revoker only asks for an early end (`AdminRemove`).
//!
//! By the spec (`RoleAssignmentScheduleRequest.json`, `RoleAssignmentSchedule.json`):
//! - **Names.** "The name must be unique and different for each role assignment": a schedule
//!   request name is never reused for another body. kv-jit names each request by a UUIDv5 of
//!   tenant, scope and the request body ([`request_name`]): the body holds the request type,
//!   principal, role, window and the marker (request id and expiry), so a retry of the same
//!   request gets the same name and a different request (an extension, a removal, another
//!   window) a new one. Before creating a request kv-jit GETs that name: a retry reads the
//!   request it already made (and its current status) instead of sending a second one.
//! - **Status.** Only `Provisioned`, `Granted` and `ScheduleCreated` count as granted
//!   ([`super::error::pim_status`]); a failed status is [`AzureError::PimFailed`]; a pending one
//!   is [`AzureError::PimPending`] (access is pending, not active), polled a few times first.
//!   A request that waits for a PIM approver is cancelled (`POST …/cancel`), because kv-jit's
//!   approval is the pull request's review and a request left waiting could be approved after
//!   kv-jit recorded a refusal.
//! - **Extensions.** An `AdminAssign` for a principal, role and scope that already has an active
//!   assignment is answered `RoleAssignmentExists`. When that assignment's PIM schedule was made
//!   by kv-jit (its request carries kv-jit's marker) and ends before the new request's expiry,
//!   kv-jit moves its end with `AdminExtend` ("for administrators to extend expiring
//!   assignments"; `AdminUpdate` is for changing assignments generally) naming the schedule in
//!   `targetRoleAssignmentScheduleId`. A schedule kv-jit did not make is never changed.
//! - **Removal.** `AdminRemove` is sent only when the principal's PIM schedule at the scope
//!   carries the marker of the request being revoked: an assignment made by hand, a standing
//!   (non-PIM) assignment, or one a later request continued is left alone ("already gone" for
//!   this request).
//!
//! Not verifiable from the spec, and chosen here (see docs/azure.md): what PIM answers without
//! Entra ID P2 or without permission, whether a schedule's `roleAssignmentScheduleRequestId`
//! names the request that last changed it (kv-jit assumes so), what a GET of an unknown request
//! name answers (404 assumed), and what a PUT of an existing name answers (never sent).

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::arm::{ensure_same_origin, map_error, role_definition_id};
use super::error::{PimStatus, pim_status};
use super::retry::{Bucket, Call, Reply};
use super::{
    Assignment, AzureClient, AzureError, GrantSpec, Marker, RevokeOutcome, RevokeSpec, Target,
};

pub const API_VERSION: &str = "2020-10-01";

const REQUESTS: &str = "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests";
const SCHEDULES: &str = "/providers/Microsoft.Authorization/roleAssignmentSchedules";

/// How often a request PIM is still processing is read again (with the policy's backoff)
/// before the grant reports it pending.
const PENDING_POLLS: u32 = 3;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The marker first (so [`Marker::parse`] reads it), then the request's own justification.
fn justification(spec: &GrantSpec) -> String {
    let marker = Marker {
        request_id: spec.request_id.clone(),
        expires_at: spec.expires_at,
    };
    match &spec.justification {
        Some(j) => format!("{} {j}", marker.render()),
        None => marker.render(),
    }
}

/// `AdminAssign` of the spec's window (`AfterDateTime`).
pub fn assign_body(spec: &GrantSpec) -> serde_json::Value {
    json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "requestType": "AdminAssign",
            "justification": justification(spec),
            "scheduleInfo": {
                "startDateTime": rfc3339(spec.starts_at),
                "expiration": {
                    "type": "AfterDateTime",
                    "endDateTime": rfc3339(spec.expires_at),
                }
            }
        }
    })
}

/// `AdminExtend` of `schedule` (kept from its start) to the spec's expiry.
pub fn extend_body(spec: &GrantSpec, schedule: &Schedule) -> serde_json::Value {
    json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "requestType": "AdminExtend",
            "justification": justification(spec),
            "targetRoleAssignmentScheduleId": schedule.id,
            "scheduleInfo": {
                "startDateTime": rfc3339(schedule.start.unwrap_or(spec.starts_at)),
                "expiration": {
                    "type": "AfterDateTime",
                    "endDateTime": rfc3339(spec.expires_at),
                }
            }
        }
    })
}

/// `AdminRemove` for the revoked request.
pub fn remove_body(spec: &RevokeSpec) -> serde_json::Value {
    json!({
        "properties": {
            "roleDefinitionId": role_definition_id(spec.target.vault.subscription_id(), &spec.role),
            "principalId": spec.principal.object_id.hyphenated().to_string(),
            "requestType": "AdminRemove",
            "justification": format!("{} early revoke of request={}", Marker::PREFIX, spec.request_id),
        }
    })
}

/// The schedule request name of `body` at `scope`: UUIDv5 of tenant, case-folded scope and the
/// body's JSON. The same request always gets the same name; any other body another one.
pub fn request_name(tenant_id: &str, scope: &str, body: &serde_json::Value) -> Uuid {
    let ns = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:kv-jit:pim-schedule-request");
    let key = format!(
        "{}\n{}\n{body}",
        tenant_id.to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
    );
    Uuid::new_v5(&ns, key.as_bytes())
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

fn role_tail(id: &str) -> String {
    id.rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

impl RawRequest {
    fn into_assignment(self) -> Assignment {
        let p = self.properties;
        Assignment {
            id: self.id,
            name: self.name,
            scope: p.scope,
            role: role_tail(&p.role_definition_id),
            principal_id: p.principal_id,
            principal_type: p.principal_type,
            marker: p.justification.as_deref().and_then(Marker::parse),
            description: p.justification,
            marker_not_updated: None,
        }
    }
}

/// A role assignment schedule (`roleAssignmentSchedules`): what PIM holds for a principal, role
/// and scope, active now or later.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub role: String,
    pub principal_id: String,
    pub start: Option<DateTime<Utc>>,
    /// `None`: no expiration.
    pub end: Option<DateTime<Utc>>,
    /// The schedule request that made (or last changed) it.
    pub request_id: Option<String>,
}

pub(crate) async fn grant(az: &AzureClient, spec: &GrantSpec) -> Result<Assignment, AzureError> {
    spec.check_request_id("PIM grant")?;
    let scope = spec.target.scope();
    let body = assign_body(spec);
    let name = request_name(&az.tenant_id, &scope, &body);
    let what = format!("PIM assignment request {name} at {scope}");
    match submit(az, &spec.target, &scope, &name, &body, &what).await? {
        Submitted::Request(r) => Ok(settle(az, &spec.target, &scope, r, false, &what)
            .await?
            .into_assignment()),
        Submitted::Refused {
            reply,
            code,
            message,
        } if code == "RoleAssignmentExists" => match existing(az, spec, &scope).await? {
            Some(a) => Ok(a),
            None => Err(map_error(&reply, what, &spec.target, code, message)),
        },
        Submitted::Refused {
            reply,
            code,
            message,
        } => Err(map_error(&reply, what, &spec.target, code, message)),
    }
}

/// The principal already holds the role at the scope. A PIM schedule kv-jit made (its request
/// carries kv-jit's marker) that ends before this request's expiry is extended; anything else is
/// returned as it is, its marker only when kv-jit made it, so the engine never claims it.
async fn existing(
    az: &AzureClient,
    spec: &GrantSpec,
    scope: &str,
) -> Result<Option<Assignment>, AzureError> {
    let principal = spec.principal.object_id.hyphenated().to_string();
    let role = spec.role.hyphenated().to_string();
    let schedule = find_schedule(az, &spec.target, scope, &principal, &role).await?;
    let listed = super::arm::list_at_scope(az, scope, Some(&principal))
        .await?
        .into_iter()
        .find(|a| a.role.eq_ignore_ascii_case(&role));
    let Some(schedule) = schedule else {
        // Not a PIM schedule (a standing assignment, by hand or from revoker mode): in effect,
        // never extended here.
        return Ok(listed);
    };
    let owner = owner_marker(az, &spec.target, &schedule).await?;
    let as_is = Assignment {
        id: listed
            .as_ref()
            .map_or(schedule.id.clone(), |a| a.id.clone()),
        name: listed
            .as_ref()
            .map_or(schedule.name.clone(), |a| a.name.clone()),
        scope: schedule.scope.clone(),
        role: schedule.role.clone(),
        principal_id: schedule.principal_id.clone(),
        principal_type: listed.as_ref().and_then(|a| a.principal_type.clone()),
        description: listed.as_ref().and_then(|a| a.description.clone()),
        marker: owner.clone(),
        marker_not_updated: None,
    };
    let needs_more = schedule.end.is_some_and(|end| end < spec.expires_at);
    if owner.is_none() || !needs_more {
        return Ok(Some(as_is));
    }
    let body = extend_body(spec, &schedule);
    let name = request_name(&az.tenant_id, scope, &body);
    let what = format!(
        "PIM extension request {name} of schedule {} at {scope}",
        schedule.name
    );
    match submit(az, &spec.target, scope, &name, &body, &what).await? {
        Submitted::Request(r) => Ok(Some(
            settle(az, &spec.target, scope, r, false, &what)
                .await?
                .into_assignment(),
        )),
        Submitted::Refused {
            reply,
            code,
            message,
        } => Err(map_error(&reply, what, &spec.target, code, message)),
    }
}

pub(crate) async fn revoke(
    az: &AzureClient,
    spec: &RevokeSpec,
) -> Result<RevokeOutcome, AzureError> {
    let scope = spec.target.scope();
    let principal = spec.principal.object_id.hyphenated().to_string();
    let role = spec.role.hyphenated().to_string();
    // Only what kv-jit made for this request: the schedule whose request carries its marker.
    let Some(schedule) = find_schedule(az, &spec.target, &scope, &principal, &role).await? else {
        return Ok(RevokeOutcome::AlreadyGone);
    };
    match owner_marker(az, &spec.target, &schedule).await? {
        Some(m) if m.request_id == spec.request_id => {}
        // Made by hand, or continued by a later request: not this request's to end.
        _ => return Ok(RevokeOutcome::AlreadyGone),
    }
    let body = remove_body(spec);
    let name = request_name(&az.tenant_id, &scope, &body);
    let what = format!("PIM removal request {name} at {scope}");
    match submit(az, &spec.target, &scope, &name, &body, &what).await? {
        Submitted::Request(r) => {
            settle(az, &spec.target, &scope, r, true, &what).await?;
            Ok(RevokeOutcome::Deleted)
        }
        // Nothing active any more: PIM already ended it (expiry) or it was removed before.
        Submitted::Refused { code, .. } if code == "RoleAssignmentDoesNotExist" => {
            Ok(RevokeOutcome::AlreadyGone)
        }
        Submitted::Refused {
            reply,
            code,
            message,
        } if code == "ActiveDurationTooShort" => Err(AzureError::Api {
            what,
            status: reply.status,
            code,
            message: format!(
                "{message} (PIM refuses to end an assignment in its first 5 minutes; the next revoke run will retry)"
            ),
        }),
        Submitted::Refused {
            reply,
            code,
            message,
        } => Err(map_error(&reply, what, &spec.target, code, message)),
    }
}

enum Submitted {
    Request(RawRequest),
    Refused {
        reply: Reply,
        code: String,
        message: String,
    },
}

/// The request named `name`: the one already made (a retry), else a new one from `body`.
async fn submit(
    az: &AzureClient,
    target: &Target,
    scope: &str,
    name: &Uuid,
    body: &serde_json::Value,
    what: &str,
) -> Result<Submitted, AzureError> {
    let path = format!("{scope}{REQUESTS}/{name}");
    if let Some(r) = get_request(az, target, &path, what).await? {
        return Ok(Submitted::Request(r));
    }
    let token = az.arm_token().await?;
    let mut call = Call::new(Method::PUT, az.arm_url(&path, API_VERSION), what.to_owned());
    call.bearer = Some(token.secret());
    call.json = Some(body);
    call.pace = Some((target.vault.subscription_id(), Bucket::Writes));
    let reply = az.transport.execute(&call).await?;
    if reply.is_success() {
        return Ok(Submitted::Request(reply.json(what)?));
    }
    let (code, message) = reply.error();
    Ok(Submitted::Refused {
        reply,
        code,
        message,
    })
}

/// GET a schedule request by its ARM path; `None` on 404.
async fn get_request(
    az: &AzureClient,
    target: &Target,
    path: &str,
    what: &str,
) -> Result<Option<RawRequest>, AzureError> {
    let token = az.arm_token().await?;
    let mut call = Call::new(Method::GET, az.arm_url(path, API_VERSION), what.to_owned());
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    match reply.status {
        200 => reply.json(what).map(Some),
        404 => Ok(None),
        _ => {
            let (code, message) = reply.error();
            Err(map_error(&reply, what.to_owned(), target, code, message))
        }
    }
}

/// Waits (briefly) for a request PIM is still processing, and turns every status that is not
/// done into its error. `removal`: `Revoked` is the success of an `AdminRemove`.
async fn settle(
    az: &AzureClient,
    target: &Target,
    scope: &str,
    mut r: RawRequest,
    removal: bool,
    what: &str,
) -> Result<RawRequest, AzureError> {
    let mut polls = 0;
    loop {
        let status = r.properties.status.clone();
        let sort = match pim_status(&status) {
            PimStatus::Failed if removal && status == "Revoked" => PimStatus::Done,
            other => other,
        };
        match sort {
            PimStatus::Done => return Ok(r),
            PimStatus::Failed => {
                return Err(AzureError::PimFailed {
                    what: what.to_owned(),
                    name: r.name,
                    status,
                });
            }
            PimStatus::AwaitingApproval => {
                let detail = match cancel(az, scope, &r.name, what).await {
                    Ok(()) => "it waits for a PIM approver, which kv-jit does not use (approval is the pull request's review), so kv-jit cancelled it; remove the approval requirement from the role's PIM settings for this scope".to_owned(),
                    Err(e) => format!("it waits for a PIM approver, which kv-jit does not use (approval is the pull request's review); cancelling it failed ({e}): cancel it in PIM, and remove the approval requirement from the role's PIM settings for this scope"),
                };
                return Err(AzureError::PimPending {
                    what: what.to_owned(),
                    name: r.name,
                    status,
                    detail,
                });
            }
            PimStatus::Pending if polls < PENDING_POLLS => {
                polls += 1;
                az.transport.sleep(az.transport.policy.backoff(polls)).await;
                let path = format!("{scope}{REQUESTS}/{}", r.name);
                match get_request(az, target, &path, what).await? {
                    Some(again) => r = again,
                    None => {
                        return Err(AzureError::BadResponse {
                            what: what.to_owned(),
                            detail: format!("PIM request {} disappeared while {status}", r.name),
                        });
                    }
                }
            }
            PimStatus::Pending => {
                return Err(AzureError::PimPending {
                    what: what.to_owned(),
                    name: r.name,
                    status,
                    detail: format!(
                        "PIM is still processing it (read {} more times); the next run reads the same request again",
                        PENDING_POLLS
                    ),
                });
            }
        }
    }
}

/// `POST …/roleAssignmentScheduleRequests/{name}/cancel` ("Cancels a pending role assignment
/// schedule request").
async fn cancel(az: &AzureClient, scope: &str, name: &str, what: &str) -> Result<(), AzureError> {
    let token = az.arm_token().await?;
    let url = az.arm_url(&format!("{scope}{REQUESTS}/{name}/cancel"), API_VERSION);
    let mut call = Call::new(Method::POST, url, format!("cancelling {what}"));
    call.bearer = Some(token.secret());
    let reply = az.transport.execute(&call).await?;
    if reply.is_success() {
        return Ok(());
    }
    let (code, message) = reply.error();
    Err(AzureError::Api {
        what: format!("cancelling {what}"),
        status: reply.status,
        code,
        message,
    })
}

/// The principal's PIM schedule for `role` exactly at `scope` (not inherited), active now or
/// later; `None` when PIM holds none.
async fn find_schedule(
    az: &AzureClient,
    target: &Target,
    scope: &str,
    principal: &str,
    role: &str,
) -> Result<Option<Schedule>, AzureError> {
    let what = format!("listing PIM schedules at {scope}");
    let mut url = url::Url::parse(&az.arm_url(&format!("{scope}{SCHEDULES}"), API_VERSION))
        .map_err(|e| AzureError::Invalid {
            what: what.clone(),
            detail: e.to_string(),
        })?;
    url.query_pairs_mut()
        .append_pair("$filter", &format!("principalId eq '{principal}'"));
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        value: Vec<RawSchedule>,
        next_link: Option<String>,
    }
    #[derive(Deserialize)]
    struct RawSchedule {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        properties: RawScheduleProperties,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawScheduleProperties {
        #[serde(default)]
        scope: String,
        #[serde(default)]
        role_definition_id: String,
        #[serde(default)]
        principal_id: String,
        role_assignment_schedule_request_id: Option<String>,
        start_date_time: Option<DateTime<Utc>>,
        end_date_time: Option<DateTime<Utc>>,
    }
    let mut next = Some(url.to_string());
    for _ in 0..100 {
        let Some(page_url) = next.take() else {
            return Ok(None);
        };
        ensure_same_origin(&az.endpoints.resource_manager, &page_url, &what)?;
        let token = az.arm_token().await?;
        let mut call = Call::new(Method::GET, page_url, what.clone());
        call.bearer = Some(token.secret());
        let reply = az.transport.execute(&call).await?;
        if !reply.is_success() {
            let (code, message) = reply.error();
            return Err(map_error(&reply, what, target, code, message));
        }
        let page: Page = reply.json(&what)?;
        let found = page.value.into_iter().find(|s| {
            s.properties.scope.eq_ignore_ascii_case(scope)
                && s.properties.principal_id.eq_ignore_ascii_case(principal)
                && role_tail(&s.properties.role_definition_id).eq_ignore_ascii_case(role)
        });
        if let Some(s) = found {
            let p = s.properties;
            return Ok(Some(Schedule {
                id: s.id,
                name: s.name,
                scope: p.scope,
                role: role_tail(&p.role_definition_id),
                principal_id: p.principal_id,
                start: p.start_date_time,
                end: p.end_date_time,
                request_id: p.role_assignment_schedule_request_id,
            }));
        }
        next = page.next_link.filter(|l| !l.is_empty());
    }
    Err(AzureError::Invalid {
        what,
        detail: "more than 100 pages; the nextLink chain does not end".into(),
    })
}

/// kv-jit's marker on the request that made (or last changed) `schedule`, if kv-jit made it.
async fn owner_marker(
    az: &AzureClient,
    target: &Target,
    schedule: &Schedule,
) -> Result<Option<Marker>, AzureError> {
    let Some(id) = schedule.request_id.as_deref() else {
        return Ok(None);
    };
    // A path on the resource manager, nothing else (it is joined to ARM's base URL).
    let plausible = id.starts_with('/')
        && !id.contains(['?', '#', '\\'])
        && !id.split('/').any(|s| s == "." || s == "..")
        && id
            .to_ascii_lowercase()
            .contains(&REQUESTS.to_ascii_lowercase());
    if !plausible {
        return Ok(None);
    }
    let what = format!("reading PIM request {id}");
    Ok(get_request(az, target, id, &what).await?.and_then(|r| {
        r.properties
            .justification
            .as_deref()
            .and_then(Marker::parse)
    }))
}
