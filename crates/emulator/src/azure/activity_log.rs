//! Azure's Activity Log (`Activity Logs - List`, `api-version=2015-04-01`):
//! `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values` with the
//! few `$filter` patterns Azure allows, `$select`, and `nextLink` paging. See
//! `docs/activity-log.md` for the contract and its sources.
//!
//! What it holds: every role assignment PUT and DELETE the emulator served past authentication
//! (throttled requests excepted: ARM refuses those before the resource provider sees them), as
//! Azure records them: a `Started` event, then `Succeeded` or `Failed`, sharing a
//! `correlationId`, at the virtual clock's time, with `caller` and `claims` from the token (a
//! user's UPN; a service principal's object id, with `appid` in the claims). A write's `Started`
//! event carries the request body in `properties.requestbody` (a JSON string, as Azure has it);
//! the closing event carries the response in `properties.responseBody`. Tests plant more events
//! (another caller's write, a write no ledger knows) through `POST /_emulator/azure/activity-log`.
//!
//! The emulator's choices where Azure's behaviour is unverified: a bad filter, a missing
//! `eventTimestamp ge`, a start after the end and a range over 90 days are each a 400
//! `BadRequest`; events older than 90 days (the retention) are not returned; events come newest
//! first; `resourceUri eq` matches the resource and everything below it. Reads are not throttled
//! (as the emulator's other ARM reads); injected faults apply as everywhere.
//!
//! Permission: `Microsoft.Insights/eventtypes/values/read` on the subscription (built-in Reader
//! or Monitoring Reader). Every principal of the tenant has it unless a test narrows the readers
//! (`PUT /_emulator/azure/activity-log/readers`); anyone else gets 403 `AuthorizationFailed`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::arm::{ScopeInfo, authorization_failed};
use super::{AzureState, Inner, Token, arm_error, is_at_or_above};

pub(super) const API_VERSION: &str = "2015-04-01";
pub(super) const READ_ACTION: &str = "Microsoft.Insights/eventtypes/values/read";
/// The Activity Log's retention, and the longest range one query may ask for.
const RETENTION_DAYS: i64 = 90;

/// One recorded event, with what the filters look at kept beside its JSON.
#[derive(Debug, Clone)]
pub(super) struct Event {
    at: DateTime<Utc>,
    subscription: String,
    resource_group: Option<String>,
    resource_id: String,
    provider: String,
    correlation_id: String,
    json: Value,
}

/// The Activity Log's state inside the Azure emulator.
#[derive(Debug, Default)]
pub(super) struct Log {
    events: Vec<Event>,
    /// Who may read it (object ids); `None`: every principal of the tenant.
    readers: Option<Vec<String>>,
    counter: u64,
}

/// What a role assignment request did, for its events.
pub(super) struct Served<'a> {
    pub(super) method: &'a str,
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`
    pub(super) resource_id: String,
    pub(super) subscription: &'a str,
    pub(super) request_body: Option<&'a [u8]>,
    pub(super) status: StatusCode,
    pub(super) response_body: Option<Value>,
}

fn loc(value: &str) -> Value {
    json!({"value": value, "localizedValue": value})
}

fn at_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `/subscriptions/{s}/resourceGroups/{rg}/…` → `rg`.
fn resource_group_of(resource_id: &str) -> Option<String> {
    let segs: Vec<&str> = resource_id.split('/').collect();
    (segs.len() > 4 && segs[3].eq_ignore_ascii_case("resourceGroups")).then(|| segs[4].to_owned())
}

/// Who made a call, as the Activity Log names them.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Caller {
    /// A user's UPN, or a service principal's object id.
    pub(super) caller: String,
    pub(super) oid: String,
    #[serde(default)]
    pub(super) appid: Option<String>,
    pub(super) tenant: String,
}

impl AzureState {
    fn caller_of(&self, token: &Token) -> Caller {
        let upn = self
            .tenant(&token.tenant)
            .and_then(|t| {
                t.users
                    .iter()
                    .find(|u| u.id.eq_ignore_ascii_case(&token.oid))
            })
            .map(|u| u.upn.clone());
        Caller {
            caller: upn.unwrap_or_else(|| token.oid.clone()),
            oid: token.oid.clone(),
            appid: token.client_id.clone(),
            tenant: token.tenant.clone(),
        }
    }
}

impl Log {
    fn next_id(&mut self, what: &str) -> String {
        self.counter += 1;
        let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"urn:kv-jit-emulator:activity");
        uuid::Uuid::new_v5(
            &ns,
            format!("{what}/{}/{}", self.counter, super::random_hex()).as_bytes(),
        )
        .hyphenated()
        .to_string()
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        at: DateTime<Utc>,
        caller: &Caller,
        method: &str,
        action: &str,
        resource_id: &str,
        subscription: &str,
        correlation_id: &str,
        status: &str,
        sub_status: Option<&str>,
        properties: Value,
    ) {
        let event_id = self.next_id("event");
        let rg = resource_group_of(resource_id);
        let provider = "Microsoft.Authorization".to_owned();
        let begin = status == "Started";
        let level = if status == "Failed" {
            "Error"
        } else {
            "Informational"
        };
        let mut json = json!({
            "authorization": {"action": action, "scope": resource_id},
            "caller": caller.caller,
            "channels": "Operation",
            "claims": {
                "aud": "https://management.core.windows.net/",
                "http://schemas.microsoft.com/identity/claims/objectidentifier": caller.oid,
                "http://schemas.microsoft.com/identity/claims/tenantid": caller.tenant,
            },
            "correlationId": correlation_id,
            "description": "",
            "eventDataId": event_id,
            "eventName": if begin {
                json!({"value": "BeginRequest", "localizedValue": "Begin request"})
            } else {
                json!({"value": "EndRequest", "localizedValue": "End request"})
            },
            "category": loc("Administrative"),
            "httpRequest": {"clientRequestId": correlation_id, "clientIpAddress": "127.0.0.1", "method": method},
            "id": format!("{resource_id}/events/{event_id}/ticks/{}", at.timestamp_micros() * 10 + 621_355_968_000_000_000),
            "level": level,
            "resourceGroupName": rg,
            "resourceProviderName": loc(&provider),
            "resourceId": resource_id,
            "resourceType": loc("Microsoft.Authorization/roleAssignments"),
            "operationId": correlation_id,
            "operationName": loc(action),
            "properties": properties,
            "status": loc(status),
            "subStatus": loc(sub_status.unwrap_or("")),
            "eventTimestamp": at_text(at),
            "submissionTimestamp": at_text(at),
            "subscriptionId": subscription,
            "tenantId": caller.tenant,
        });
        if let Some(app) = &caller.appid {
            json["claims"]["appid"] = json!(app);
        }
        if !caller.caller.eq_ignore_ascii_case(&caller.oid) {
            json["claims"]["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] =
                json!(caller.caller);
        }
        self.events.push(Event {
            at,
            subscription: subscription.to_ascii_lowercase(),
            resource_group: rg,
            resource_id: resource_id.to_owned(),
            provider,
            correlation_id: correlation_id.to_owned(),
            json,
        });
    }
}

fn sub_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "OK",
        201 => "Created",
        204 => "NoContent",
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        _ => "",
    }
}

/// Records a served role assignment PUT or DELETE: `Started`, then `Succeeded` or `Failed`.
pub(super) fn record(st: &AzureState, inner: &mut Inner, token: &Token, served: Served<'_>) {
    let now = st.clock.now();
    let caller = st.caller_of(token);
    let action = if served.method == "PUT" {
        "Microsoft.Authorization/roleAssignments/write"
    } else {
        "Microsoft.Authorization/roleAssignments/delete"
    };
    let log = &mut inner.activity_log;
    let correlation = log.next_id("correlation");
    let mut started = json!({
        "eventCategory": "Administrative",
        "entity": served.resource_id,
        "message": action,
    });
    if let Some(body) = served.request_body {
        started["requestbody"] = json!(String::from_utf8_lossy(body));
    }
    log.push(
        now,
        &caller,
        served.method,
        action,
        &served.resource_id,
        served.subscription,
        &correlation,
        "Started",
        None,
        started,
    );
    let ok = served.status.is_success();
    let mut end = json!({
        "statusCode": sub_status(served.status),
        "serviceRequestId": correlation,
        "eventCategory": "Administrative",
        "entity": served.resource_id,
        "message": action,
    });
    if let Some(body) = served.response_body {
        end["responseBody"] = json!(body.to_string());
    }
    log.push(
        now,
        &caller,
        served.method,
        action,
        &served.resource_id,
        served.subscription,
        &correlation,
        if ok { "Succeeded" } else { "Failed" },
        Some(sub_status(served.status)),
        end,
    );
}

fn bad_request(message: impl Into<String>) -> Response {
    arm_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// A parsed `$filter`: a time range and at most one narrowing clause.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    resource_group: Option<String>,
    resource_uri: Option<String>,
    provider: Option<String>,
    correlation_id: Option<String>,
}

/// Parses the patterns the API documents (`eventTimestamp ge '…' and eventTimestamp le '…'
/// [and resourceGroupName|resourceUri|resourceProvider|correlationId eq '…']`); anything else
/// is an error message.
fn parse_filter(text: &str) -> Result<Filter, String> {
    let mut f = Filter::default();
    let mut rest = text.trim();
    let mut narrowing = 0;
    while !rest.is_empty() {
        // One clause: `name op 'value'`, then optionally ` and ` and the next.
        let (name, after) = rest.split_once(' ').ok_or_else(|| {
            format!("The $filter '{text}' is not valid: expected `name op 'value'`.")
        })?;
        let after = after.trim_start();
        let (op, after) = after.split_once(' ').ok_or_else(|| {
            format!("The $filter '{text}' is not valid: expected an operator after '{name}'.")
        })?;
        let after = after.trim_start();
        let value_end = after
            .strip_prefix('\'')
            .and_then(|v| v.find('\''))
            .ok_or_else(|| {
                format!("The $filter '{text}' is not valid: values must be in single quotes.")
            })?;
        let value = &after[1..=value_end];
        rest = after[value_end + 2..].trim_start();
        if !rest.is_empty() {
            let lower = rest.to_ascii_lowercase();
            if !lower.starts_with("and ") {
                return Err(format!(
                    "The $filter '{text}' is not valid: clauses must be joined with 'and'."
                ));
            }
            rest = rest[4..].trim_start();
        }
        let time = |v: &str| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    format!("The $filter '{text}' is not valid: '{v}' is not a date-time.")
                })
        };
        match (
            name.to_ascii_lowercase().as_str(),
            op.to_ascii_lowercase().as_str(),
        ) {
            ("eventtimestamp", "ge") if f.from.is_none() => f.from = Some(time(value)?),
            ("eventtimestamp", "le") if f.to.is_none() => f.to = Some(time(value)?),
            ("resourcegroupname", "eq") => {
                narrowing += 1;
                f.resource_group = Some(value.to_owned());
            }
            ("resourceuri", "eq") => {
                narrowing += 1;
                f.resource_uri = Some(value.to_owned());
            }
            ("resourceprovider", "eq") => {
                narrowing += 1;
                f.provider = Some(value.to_owned());
            }
            ("correlationid", "eq") => {
                narrowing += 1;
                f.correlation_id = Some(value.to_owned());
            }
            _ => {
                return Err(format!(
                    "The $filter '{text}' is not supported: '{name} {op}' is not one of the allowed patterns (eventTimestamp ge/le, and one of resourceGroupName, resourceUri, resourceProvider or correlationId eq)."
                ));
            }
        }
        if narrowing > 1 {
            return Err(format!(
                "The $filter '{text}' is not supported: at most one of resourceGroupName, resourceUri, resourceProvider or correlationId may be given."
            ));
        }
    }
    Ok(f)
}

impl Filter {
    fn keeps(&self, e: &Event) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        self.from.is_none_or(|t| e.at >= t)
            && self.to.is_none_or(|t| e.at <= t)
            && self
                .resource_group
                .as_deref()
                .is_none_or(|rg| e.resource_group.as_deref().is_some_and(|g| eq(g, rg)))
            && self
                .resource_uri
                .as_deref()
                .is_none_or(|u| is_at_or_above(u, &e.resource_id))
            && self.provider.as_deref().is_none_or(|p| eq(p, &e.provider))
            && self
                .correlation_id
                .as_deref()
                .is_none_or(|c| eq(c, &e.correlation_id))
    }
}

/// `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`.
pub(super) fn list(
    st: &AzureState,
    token: &Token,
    info: &ScopeInfo,
    path: &str,
    q: &HashMap<String, String>,
) -> Response {
    let sub = &info.subscription;
    let may_read = {
        let inner = st.inner();
        match &inner.activity_log.readers {
            Some(readers) => readers.iter().any(|r| r.eq_ignore_ascii_case(&token.oid)),
            None => st.principal_kind(&token.tenant, &token.oid).is_some(),
        }
    };
    if !may_read {
        return authorization_failed(token, READ_ACTION, &format!("/subscriptions/{sub}"));
    }
    let Some(text) = q.get("$filter").map(|f| f.trim()).filter(|f| !f.is_empty()) else {
        return bad_request(
            "The $filter query parameter is required and must give at least the start time: eventTimestamp ge '<date-time>'.",
        );
    };
    let filter = match parse_filter(text) {
        Ok(f) => f,
        Err(m) => return bad_request(m),
    };
    let Some(from) = filter.from else {
        return bad_request(format!(
            "The $filter '{text}' must give the start time: eventTimestamp ge '<date-time>'."
        ));
    };
    let now = st.clock.now();
    let to = filter.to.unwrap_or(now);
    if from > to {
        return bad_request(format!(
            "The $filter '{text}' is not valid: the start time is after the end time."
        ));
    }
    if to - from > Duration::days(RETENTION_DAYS) {
        return bad_request(format!(
            "The $filter '{text}' asks for more than {RETENTION_DAYS} days; query at most {RETENTION_DAYS} days at a time."
        ));
    }
    let select: Option<Vec<String>> = q.get("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    });
    let retained = now - Duration::days(RETENTION_DAYS);
    let inner = st.inner();
    let mut matching: Vec<&Event> = inner
        .activity_log
        .events
        .iter()
        .filter(|e| e.subscription.eq_ignore_ascii_case(sub) && e.at >= retained)
        .filter(|e| filter.keeps(e))
        .collect();
    // Newest first; events of one instant in the order they were recorded, reversed.
    matching.reverse();
    matching.sort_by_key(|e| std::cmp::Reverse(e.at));
    let skip: usize = q
        .get("$skipToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page = st.limits.list_page_size.max(1);
    let value: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(page)
        .map(|e| match &select {
            None => e.json.clone(),
            Some(fields) => {
                let mut out = serde_json::Map::new();
                for f in fields {
                    if let Some((k, v)) = e
                        .json
                        .as_object()
                        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(f)))
                    {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(out)
            }
        })
        .collect();
    let mut out = json!({"value": value});
    if skip + page < matching.len() {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        qs.append_pair("api-version", API_VERSION);
        qs.append_pair("$filter", text);
        if let Some(s) = q.get("$select") {
            qs.append_pair("$select", s);
        }
        qs.append_pair("$skipToken", &(skip + page).to_string());
        out["nextLink"] = json!(format!("{}{path}?{}", st.base, qs.finish()));
    }
    Json(out).into_response()
}

/// An event a test plants: a role assignment write or delete by anyone, at any time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plant {
    /// `write` or `delete`.
    action: String,
    /// The assignment's scope and name.
    scope: String,
    name: String,
    subscription_id: String,
    caller: Caller,
    /// For a write: the assignment's principal and role definition GUID.
    #[serde(default)]
    principal_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    /// Default: the emulator's now.
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    /// Default: true (`Succeeded`); false records `Failed`.
    #[serde(default = "yes")]
    succeeded: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Readers {
    readers: Option<Vec<String>>,
}

/// `/_emulator/azure/activity-log` (POST: plant one event pair) and
/// `/_emulator/azure/activity-log/readers` (PUT `{"readers": [oid…] | null}`).
pub(super) fn routes() -> Router<Arc<AzureState>> {
    Router::new()
        .route("/_emulator/azure/activity-log", post(plant))
        .route("/_emulator/azure/activity-log/readers", put(set_readers))
}

async fn plant(State(st): State<Arc<AzureState>>, Json(p): Json<Plant>) -> Response {
    let (method, action) = match p.action.as_str() {
        "write" => ("PUT", "Microsoft.Authorization/roleAssignments/write"),
        "delete" => ("DELETE", "Microsoft.Authorization/roleAssignments/delete"),
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("action must be write or delete, not {other}"),
            )
                .into_response();
        }
    };
    let at = p.at.unwrap_or_else(|| st.clock.now());
    let resource_id = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}",
        p.scope, p.name
    );
    let body = match (&p.principal_id, &p.role) {
        (Some(pid), Some(role)) => Some(
            json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", p.subscription_id),
                "principalId": pid,
            }})
            .to_string(),
        ),
        _ => None,
    };
    let mut inner = st.inner();
    let log = &mut inner.activity_log;
    let correlation = log.next_id("correlation");
    let mut started = json!({"entity": resource_id, "message": action});
    if let Some(b) = &body {
        started["requestbody"] = json!(b);
    }
    log.push(
        at,
        &p.caller,
        method,
        action,
        &resource_id,
        &p.subscription_id,
        &correlation,
        "Started",
        None,
        started,
    );
    let (status, code) = if p.succeeded {
        ("Succeeded", if method == "PUT" { "Created" } else { "OK" })
    } else {
        ("Failed", "BadRequest")
    };
    log.push(
        at,
        &p.caller,
        method,
        action,
        &resource_id,
        &p.subscription_id,
        &correlation,
        status,
        Some(code),
        json!({"statusCode": code, "entity": resource_id, "message": action}),
    );
    (
        StatusCode::CREATED,
        Json(json!({"correlationId": correlation})),
    )
        .into_response()
}

async fn set_readers(State(st): State<Arc<AzureState>>, Json(r): Json<Readers>) -> Response {
    st.inner().activity_log.readers = r.readers;
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn filters_azure_allows_parse() {
        let f = parse_filter(
            "eventTimestamp ge '2026-11-01T00:00:00Z' and eventTimestamp le '2026-11-27T00:00:00Z' and resourceGroupName eq 'rg-demo'",
        )
        .unwrap();
        assert_eq!(f.from, Some(t("2026-11-01T00:00:00Z")));
        assert_eq!(f.to, Some(t("2026-11-27T00:00:00Z")));
        assert_eq!(f.resource_group.as_deref(), Some("rg-demo"));
        let f =
            parse_filter("EventTimestamp GE '2026-11-01T00:00:00.123Z' AND correlationId eq 'c'")
                .unwrap();
        assert_eq!(f.correlation_id.as_deref(), Some("c"));
        assert!(f.to.is_none());
    }

    #[test]
    fn other_filters_are_refused() {
        for bad in [
            "eventTimestamp gt '2026-11-01T00:00:00Z'",
            "eventTimestamp ge 2026-11-01",
            "eventTimestamp ge 'yesterday'",
            "eventTimestamp ge '2026-11-01T00:00:00Z' or resourceGroupName eq 'x'",
            "eventTimestamp ge '2026-11-01T00:00:00Z' and caller eq 'x'",
            "eventTimestamp ge '2026-11-01T00:00:00Z' and resourceGroupName eq 'a' and resourceProvider eq 'b'",
            "eventTimestamp ge '2026-11-01T00:00:00Z' and eventTimestamp ge '2026-11-02T00:00:00Z'",
            "resourceGroupName",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
