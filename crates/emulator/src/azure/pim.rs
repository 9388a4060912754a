//! PIM (Privileged Identity Management) through ARM, `api-version=2020-10-01`: role assignment
//! schedule requests (`AdminAssign`, `AdminExtend`, `AdminUpdate`, `AdminRemove`, and `cancel`),
//! which make, move or remove time-boxed role assignments, and the list of schedules. Windows are
//! judged on the emulator's virtual clock, so an assignment ends when a test moves the clock past
//! its end.

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::arm::{ScopeInfo, authorization_failed, bad_body};
use super::role_assignments::{Ra, check_principal_and_role};
use super::throttle::{Operation, with_remaining};
use super::{AzureState, Token, arm_error, is_at_or_above, same_scope};

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

pub(super) fn put_request(
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
    let remaining = match st.draw(&mut inner, &info.subscription, Operation::Writes) {
        Ok(r) => r,
        Err(throttled) => return throttled,
    };
    let respond = |r: Response| with_remaining(r, Operation::Writes, remaining);
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

pub(super) fn get_request(st: &AzureState, scope: &str, name: &str) -> Response {
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
pub(super) fn cancel_request(
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
pub(super) fn list_schedules(
    st: &AzureState,
    scope: &str,
    q: &HashMap<String, String>,
) -> Response {
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
}
