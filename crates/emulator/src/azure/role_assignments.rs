//! ARM role assignments (`Microsoft.Authorization/roleAssignments`, `api-version=2022-04-01`):
//! PUT with a caller-chosen GUID name, GET, DELETE (204 when already gone), and list at a scope
//! with `$filter` and `nextLink` paging. Writes and deletes are throttled ([`super::throttle`]).

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::arm::{ScopeInfo, authorization_failed, bad_body};
use super::throttle::{Operation, with_remaining};
use super::{AzureState, Token, activity_log, arm_error, is_at_or_above, roles, same_scope};

/// A role assignment (plain, or made by a PIM schedule request with an end).
#[derive(Debug, Clone)]
pub(super) struct Ra {
    pub(super) name: String,
    pub(super) scope: String,
    pub(super) subscription: String,
    pub(super) role: String,
    pub(super) principal_id: String,
    pub(super) principal_type: String,
    pub(super) description: Option<String>,
    pub(super) created_on: DateTime<Utc>,
    pub(super) created_by: String,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) ends_at: Option<DateTime<Utc>>,
    /// For an assignment PIM made: the id of the schedule request that made (or last changed) it.
    pub(super) pim_request: Option<String>,
}

impl Ra {
    pub(super) fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|e| now < e)
    }

    fn id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope, self.name
        )
    }

    pub(super) fn json(&self) -> Value {
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

/// The common checks of a role-assignment body; returns (role guid, principal id, principal type).
pub(super) fn check_principal_and_role(
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
    if !roles::assignable(&role) {
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

/// A PUT, recorded in the Activity Log (unless throttled, as ARM refuses those first).
pub(super) fn put(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
    body: &[u8],
) -> Response {
    let resp = put_unrecorded(st, token, info, scope, name, body);
    recorded(st, token, info, "PUT", scope, name, Some(body), resp)
}

/// A DELETE, recorded in the Activity Log (unless throttled).
pub(super) fn delete(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    scope: &str,
    name: &str,
) -> Response {
    let resp = delete_unrecorded(st, token, info, scope, name);
    recorded(st, token, info, "DELETE", scope, name, None, resp)
}

#[allow(clippy::too_many_arguments)]
fn recorded(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    method: &str,
    scope: &str,
    name: &str,
    body: Option<&[u8]>,
    resp: Response,
) -> Response {
    if resp.status() != StatusCode::TOO_MANY_REQUESTS {
        let served = activity_log::Served {
            method,
            resource_id: format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
            ),
            subscription: &info.subscription,
            request_body: body,
            status: resp.status(),
            response_body: None,
        };
        activity_log::record(st, &mut st.inner(), token, served);
    }
    resp
}

fn put_unrecorded(
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
    let remaining = match st.draw(&mut inner, &info.subscription, Operation::Writes) {
        Ok(r) => r,
        Err(throttled) => return throttled,
    };
    let respond = |r: Response| with_remaining(r, Operation::Writes, remaining);
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

pub(super) fn get(st: &AzureState, scope: &str, name: &str) -> Response {
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

fn delete_unrecorded(
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
    let remaining = match st.draw(&mut inner, &info.subscription, Operation::Deletes) {
        Ok(r) => r,
        Err(throttled) => return throttled,
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
    with_remaining(resp, Operation::Deletes, remaining)
}

pub(super) fn list(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
