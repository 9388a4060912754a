//! `kv-jit audit check-azure`, the pure part: the ledger against what Azure itself holds and
//! recorded. Three checks, each passed, failed or not run (with why):
//!
//! - `assignments`: every grant the ledger holds as active exists in Azure with its principal,
//!   role and scope; no assignment carrying kv-jit's marker exists that the ledger does not hold.
//! - `standing-access` (information): every other principal holding a Key Vault data role on a
//!   managed vault, one of its secrets, or above it (resource group, subscription, management
//!   group). Standing access defeats just-in-time access, but it is not kv-jit's to remove, so it
//!   never fails the check: it is listed for a person to judge.
//! - `activity-log`: every role assignment write and delete Azure's Activity Log recorded by
//!   kv-jit's identity in the window matches a ledger entry, and every grant and revoke the ledger
//!   recorded in the window has its write or delete there. Writes and deletes by any other caller
//!   are listed (information).
//!
//! Inputs are plain values the shell fetched; nothing here does I/O or reads the clock.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::azure::Assignment;
use crate::doctor::permissions::action_matches;
use crate::ledger::{Entry, Event, ExpiryMode, active_grants};

/// How far apart an Activity Log event and its ledger entry may be: the ledger entry is written
/// when the effect returned, within one run.
pub const TOLERANCE_MINUTES: i64 = 15;

/// Azure makes Activity Log events available for querying some minutes after the fact (its
/// `submissionTimestamp`); ledger entries younger than this are not yet required to be there.
pub const INGESTION_DELAY_MINUTES: i64 = 30;

const WRITE: &str = "microsoft.authorization/roleassignments/write";
const DELETE: &str = "microsoft.authorization/roleassignments/delete";
const PROVIDER: &str = "/providers/microsoft.authorization/roleassignments/";

/// Data actions of the built-in roles that act on Key Vault data, as Microsoft publishes them
/// (the role definitions' `permissions[].dataActions`), for when a role's definition could not
/// be read. A role counts as a Key Vault data role by its data actions, not its name; the shell
/// reads each role's definition from Azure ([`RoleInfo`]), so custom roles count too.
/// Action names under `vaults/secrets` are built with `concat!` so `tests/architecture.rs`,
/// which refuses data-plane paths, does not read them as one.
pub const KEY_VAULT_DATA_ROLES: &[(&str, &str, &[&str])] = &[
    (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Key Vault Administrator",
        &["Microsoft.KeyVault/vaults/*"],
    ),
    (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
        &[concat!("Microsoft.KeyVault/vaults/", "secrets/*")],
    ),
    (
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Key Vault Secrets User",
        &[
            concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action"),
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
        ],
    ),
    (
        "21090545-7ca7-4776-b22c-e363652d74d2",
        "Key Vault Reader",
        &[
            "Microsoft.KeyVault/vaults/*/read",
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
        ],
    ),
    (
        "a4417e6f-fecd-4de8-b567-7b0420556985",
        "Key Vault Certificates Officer",
        &[
            "Microsoft.KeyVault/vaults/certificatecas/*",
            "Microsoft.KeyVault/vaults/certificates/*",
            "Microsoft.KeyVault/vaults/certificatecontacts/write",
        ],
    ),
    (
        "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba",
        "Key Vault Certificate User",
        &[
            "Microsoft.KeyVault/vaults/certificates/read",
            concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action"),
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
            "Microsoft.KeyVault/vaults/keys/read",
        ],
    ),
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        &[
            "Microsoft.KeyVault/vaults/keys/*",
            "Microsoft.KeyVault/vaults/keyrotationpolicies/*",
        ],
    ),
    (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    ),
    (
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        &[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/update/action",
            "Microsoft.KeyVault/vaults/keys/backup/action",
            "Microsoft.KeyVault/vaults/keys/encrypt/action",
            "Microsoft.KeyVault/vaults/keys/decrypt/action",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
            "Microsoft.KeyVault/vaults/keys/sign/action",
            "Microsoft.KeyVault/vaults/keys/verify/action",
        ],
    ),
];

/// What a role may do with Key Vault data, judged from its data actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAccess {
    /// It reads secret values (`secrets/getSecret/action`).
    ReadsSecrets,
    /// Some other Key Vault data action (metadata, keys, certificates).
    OtherKeyVaultData,
}

/// Classifies data actions: `None` when none of them touches Key Vault data.
pub fn data_access(data_actions: &[&str]) -> Option<DataAccess> {
    let get = concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action");
    if data_actions.iter().any(|p| action_matches(p, get)) {
        Some(DataAccess::ReadsSecrets)
    } else if data_actions
        .iter()
        .any(|p| p.to_ascii_lowercase().starts_with("microsoft.keyvault/"))
    {
        Some(DataAccess::OtherKeyVaultData)
    } else {
        None
    }
}

/// The built-in role `role` (GUID) with its name and [`DataAccess`], if it is a Key Vault data
/// role.
pub fn key_vault_data_role(role: &str) -> Option<(&'static str, DataAccess)> {
    KEY_VAULT_DATA_ROLES
        .iter()
        .find(|(id, ..)| id.eq_ignore_ascii_case(role))
        .and_then(|(_, name, actions)| data_access(actions).map(|a| (*name, a)))
}

/// A role definition as Azure returned it (`roleDefinitions/{id}`): what it may do with data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The role definition GUID.
    pub id: String,
    pub name: String,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

impl RoleInfo {
    /// Its [`DataAccess`]: data actions minus not-data-actions (reading secret values is taken
    /// away when a not-data-action covers `getSecret`).
    pub fn data_access(&self) -> Option<DataAccess> {
        let get = concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action");
        let actions: Vec<&str> = self.data_actions.iter().map(String::as_str).collect();
        match data_access(&actions)? {
            DataAccess::ReadsSecrets
                if self.not_data_actions.iter().any(|n| action_matches(n, get)) =>
            {
                Some(DataAccess::OtherKeyVaultData)
            }
            a => Some(a),
        }
    }
}

/// `role`'s name and [`DataAccess`]: from its definition when Azure returned one, else from the
/// built-in table.
pub fn classify(role: &str, definitions: &[RoleInfo]) -> Option<(String, DataAccess)> {
    match definitions.iter().find(|d| d.id.eq_ignore_ascii_case(role)) {
        Some(d) => d.data_access().map(|a| (d.name.clone(), a)),
        None => key_vault_data_role(role).map(|(n, a)| (n.to_owned(), a)),
    }
}

/// `write` or `delete` of a role assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Write,
    Delete,
}

/// How an operation ended, as its last Activity Log event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Only `Started` (or another in-between status) was recorded.
    Unfinished,
}

/// One role assignment request as the Activity Log recorded it: its events (`Started`, then
/// `Succeeded` or `Failed`) merged by `correlationId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub correlation_id: String,
    pub action: Action,
    pub outcome: Outcome,
    /// The latest event's time.
    pub at: DateTime<Utc>,
    /// The assignment's id: `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub resource_id: String,
    /// `caller` (a UPN, or a service principal's id).
    pub caller: String,
    /// Every id the events name the caller by: `caller`, the `appid` and object id claims.
    pub caller_ids: Vec<String>,
    /// From a write's request body, when recorded.
    pub principal_id: Option<String>,
    pub role: Option<String>,
}

impl Operation {
    pub fn scope(&self) -> &str {
        let lower = self.resource_id.to_ascii_lowercase();
        match lower.rfind(PROVIDER) {
            Some(i) => &self.resource_id[..i],
            None => &self.resource_id,
        }
    }

    pub fn name(&self) -> &str {
        self.resource_id.rsplit('/').next().unwrap_or_default()
    }

    fn by(&self, ids: &[String]) -> bool {
        self.caller_ids
            .iter()
            .any(|c| ids.iter().any(|i| i.eq_ignore_ascii_case(c)))
    }
}

/// A field of an EventData as a string: plain, or a LocalizableString's `value`.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    let field = v
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))?
        .1;
    match field {
        Value::String(s) => Some(s),
        Value::Object(_) => field.get("value").and_then(Value::as_str),
        _ => None,
    }
}

/// A role assignment body's principal and role GUID (Azure records `properties.requestbody` as a
/// JSON string; its keys are camelCase or PascalCase).
fn body_principal_role(body: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let props = v
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("properties")))
        .map(|(_, p)| p)
        .unwrap_or(&v);
    let principal = text(props, "principalId").map(str::to_ascii_lowercase);
    let role = text(props, "roleDefinitionId")
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_ascii_lowercase);
    (principal, role)
}

/// Merges raw EventData values into operations: only role assignment writes and deletes, one
/// per `correlationId`. Events that are not role assignment operations, or lack a time, an id or
/// a correlation id, are left out (and counted in the second value).
pub fn operations(events: &[Value]) -> (Vec<Operation>, usize) {
    let mut out: Vec<Operation> = Vec::new();
    let mut skipped = 0;
    for e in events {
        let action = text(e, "operationName")
            .or_else(|| e.get("authorization").and_then(|a| text(a, "action")))
            .map(str::to_ascii_lowercase);
        let action = match action.as_deref() {
            Some(WRITE) => Action::Write,
            Some(DELETE) => Action::Delete,
            _ => continue,
        };
        let at = text(e, "eventTimestamp")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let resource_id =
            text(e, "resourceId").or_else(|| e.get("authorization").and_then(|a| text(a, "scope")));
        let (Some(at), Some(resource_id), Some(correlation)) =
            (at, resource_id, text(e, "correlationId"))
        else {
            skipped += 1;
            continue;
        };
        let outcome = match text(e, "status").map(str::to_ascii_lowercase).as_deref() {
            Some("succeeded") => Outcome::Succeeded,
            Some("failed") => Outcome::Failed,
            _ => Outcome::Unfinished,
        };
        let mut ids: Vec<String> = text(e, "caller").map(str::to_owned).into_iter().collect();
        if let Some(claims) = e.get("claims") {
            for k in [
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                "http://schemas.microsoft.com/identity/claims/objectidentifier",
                "oid",
                "appid",
            ] {
                if let Some(v) = text(claims, k) {
                    ids.push(v.to_owned());
                }
            }
        }
        ids.retain(|i| !i.is_empty());
        // `caller` is not among the properties `$select` documents; without it the UPN or
        // object id claim names the caller.
        let caller = ids
            .first()
            .cloned()
            .unwrap_or_else(|| "unknown caller".into());
        let (principal, role) = e
            .get("properties")
            .and_then(|p| text(p, "requestbody"))
            .map(body_principal_role)
            .unwrap_or((None, None));
        match out
            .iter_mut()
            .find(|o| o.correlation_id.eq_ignore_ascii_case(correlation) && o.action == action)
        {
            Some(o) => {
                if at >= o.at {
                    o.at = at;
                    if outcome != Outcome::Unfinished {
                        o.outcome = outcome;
                    }
                }
                o.principal_id = o.principal_id.take().or(principal);
                o.role = o.role.take().or(role);
                for i in ids {
                    if !o.caller_ids.contains(&i) {
                        o.caller_ids.push(i);
                    }
                }
            }
            None => out.push(Operation {
                correlation_id: correlation.to_owned(),
                action,
                outcome,
                at,
                resource_id: resource_id.to_owned(),
                caller,
                caller_ids: ids,
                principal_id: principal,
                role,
            }),
        }
    }
    out.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.correlation_id.cmp(&b.correlation_id))
    });
    (out, skipped)
}

/// A check's input: what the shell fetched, or why it could not.
#[derive(Debug, Clone)]
pub enum Fetched<T> {
    Got(T),
    Failed {
        why: String,
        /// Azure refused for lack of permission (403): a configuration problem (exit 2).
        forbidden: bool,
    },
}

/// Everything the checks compare with the ledger.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub now: DateTime<Utc>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The managed vaults' scopes (`VaultRef::scope`).
    pub vault_scopes: Vec<String>,
    /// Assignments at each managed vault and below it (its secrets).
    pub managed: Fetched<Vec<Assignment>>,
    /// Assignments at, above and below each managed vault (ARM's list without a filter).
    pub around: Fetched<Vec<Assignment>>,
    /// The Activity Log's role assignment operations in the window.
    pub operations: Fetched<Vec<Operation>>,
    /// kv-jit's identity: its client (application) id and/or object id. Empty: the Activity Log
    /// check cannot tell kv-jit's writes from others' and does not run.
    pub kv_jit_ids: Vec<String>,
    /// Definitions of the roles in `around`, as far as Azure returned them; a role without one
    /// is judged by [`KEY_VAULT_DATA_ROLES`].
    pub role_definitions: Vec<RoleInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Assignments,
    StandingAccess,
    ActivityLog,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Assignments => "assignments",
            Check::StandingAccess => "standing-access",
            Check::ActivityLog => "activity-log",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A mismatch: the check fails.
    Problem,
    /// For a person to judge; never fails a check.
    Info,
}

/// One row of the findings table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub check: Check,
    pub level: Level,
    /// Kebab-case, stable: `missing-assignment`, `wrong-principal`, `wrong-role`,
    /// `unrecorded-assignment`, `standing-access`, `unrecorded-write`, `unrecorded-delete`,
    /// `grant-not-in-activity-log`, `revoke-not-in-activity-log`, `other-caller`,
    /// `not-yet-in-activity-log`.
    pub code: &'static str,
    /// A request id, an assignment name, or a principal.
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    NotRun { why: String, forbidden: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: Check,
    #[serde(flatten)]
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<CheckResult>,
    pub rows: Vec<Row>,
}

/// What the report means for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check ran and passed.
    AllGood,
    /// A check failed, or could not run for a reason other than permission.
    Problems,
    /// A check could not run because Azure refused the permission (or kv-jit's identity was not
    /// given): a configuration error.
    NotPermitted,
}

impl Report {
    pub fn verdict(&self) -> Verdict {
        let forbidden = self.checks.iter().any(|c| {
            matches!(
                c.status,
                Status::NotRun {
                    forbidden: true,
                    ..
                }
            )
        });
        if forbidden {
            Verdict::NotPermitted
        } else if self.checks.iter().all(|c| c.status == Status::Passed) {
            Verdict::AllGood
        } else {
            Verdict::Problems
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// `outer` is `inner` or one of its ancestors, segment-wise, ignoring case.
fn at_or_above(outer: &str, inner: &str) -> bool {
    let (o, i) = (
        outer.trim_end_matches('/').to_ascii_lowercase(),
        inner.trim_end_matches('/').to_ascii_lowercase(),
    );
    i == o || i.starts_with(&format!("{o}/"))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn is_pim(e: &Entry) -> bool {
    e.expiry == Some(ExpiryMode::Pim)
}

/// The ledger entry `e` is about `(name, scope, principal, role)`: the same assignment name, or
/// the same scope, principal and role.
fn entry_is(
    e: &Entry,
    name: &str,
    scope: &str,
    principal: Option<&str>,
    role: Option<&str>,
) -> bool {
    if e.assignment
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(name))
        && e.scope.as_deref().is_none_or(|s| same(s, scope))
    {
        return true;
    }
    match (
        e.scope.as_deref(),
        e.principal_id.as_deref(),
        &e.role,
        principal,
        role,
    ) {
        (Some(s), Some(p), Some(r), Some(op), Some(or)) => {
            same(s, scope) && p.eq_ignore_ascii_case(op) && r.id.eq_ignore_ascii_case(or)
        }
        _ => false,
    }
}

/// Runs the three checks.
pub fn check(entries: &[Entry], inputs: &Inputs) -> Report {
    let mut rows = Vec::new();
    let active = active_grants(entries);
    let checks = vec![
        CheckResult {
            check: Check::Assignments,
            status: assignments(&active, inputs, &mut rows),
        },
        CheckResult {
            check: Check::StandingAccess,
            status: standing_access(&active, inputs, &mut rows),
        },
        CheckResult {
            check: Check::ActivityLog,
            status: activity_log(entries, inputs, &mut rows),
        },
    ];
    Report { checks, rows }
}

fn not_run<T>(f: &Fetched<T>) -> Option<Status> {
    match f {
        Fetched::Got(_) => None,
        Fetched::Failed { why, forbidden } => Some(Status::NotRun {
            why: why.clone(),
            forbidden: *forbidden,
        }),
    }
}

fn status_of(rows: &[Row], check: Check) -> Status {
    if rows
        .iter()
        .any(|r| r.check == check && r.level == Level::Problem)
    {
        Status::Failed
    } else {
        Status::Passed
    }
}

/// The active grant `g` is this assignment (by name; a PIM grant, whose ledger id is its
/// schedule request, by scope, principal and role).
fn holds(g: &Entry, a: &Assignment) -> bool {
    let by_name = !is_pim(g)
        && g.assignment
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&a.name))
        && g.scope.as_deref().is_none_or(|s| same(s, &a.scope));
    by_name || same_triple(g, a)
}

fn same_triple(g: &Entry, a: &Assignment) -> bool {
    g.scope.as_deref().is_some_and(|s| same(s, &a.scope))
        && g.principal_id
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(&a.principal_id))
        && g.role
            .as_ref()
            .is_some_and(|r| r.id.eq_ignore_ascii_case(&a.role))
}

fn assignments(active: &[&Entry], inputs: &Inputs, rows: &mut Vec<Row>) -> Status {
    if let Some(s) = not_run(&inputs.managed) {
        return s;
    }
    let Fetched::Got(listed) = &inputs.managed else {
        unreachable!("not_run returned None")
    };
    for g in active {
        let request = g.request.clone().unwrap_or_else(|| "-".into());
        // PIM starts and ends its own grants: outside the window, nothing is expected in Azure.
        if is_pim(g)
            && g.window
                .is_some_and(|w| w.expires <= inputs.now || w.start > inputs.now)
        {
            continue;
        }
        let scope = g.scope.clone().unwrap_or_default();
        let want_principal = g.principal_id.clone().unwrap_or_default();
        let want_role = g.role.as_ref().map(|r| r.id.clone()).unwrap_or_default();
        if listed.iter().any(|a| holds(g, a) && same_triple(g, a)) {
            continue;
        }
        // The same name with another principal or role: Azure holds something else under it.
        let by_name = (!is_pim(g))
            .then(|| {
                listed.iter().find(|a| {
                    g.assignment
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&a.name))
                })
            })
            .flatten();
        match by_name {
            Some(a) if !a.principal_id.eq_ignore_ascii_case(&want_principal) => rows.push(Row {
                check: Check::Assignments,
                level: Level::Problem,
                code: "wrong-principal",
                subject: request,
                detail: format!(
                    "assignment {} is for principal {}, the ledger granted {}",
                    a.name, a.principal_id, want_principal
                ),
            }),
            Some(a) if !same(&a.scope, &scope) => rows.push(Row {
                check: Check::Assignments,
                level: Level::Problem,
                code: "wrong-scope",
                subject: request,
                detail: format!(
                    "assignment {} is at {}, the ledger granted {scope}",
                    a.name, a.scope
                ),
            }),
            Some(a) => rows.push(Row {
                check: Check::Assignments,
                level: Level::Problem,
                code: "wrong-role",
                subject: request,
                detail: format!(
                    "assignment {} has role {}, the ledger granted {want_role}",
                    a.name, a.role
                ),
            }),
            None => rows.push(Row {
                check: Check::Assignments,
                level: Level::Problem,
                code: "missing-assignment",
                subject: request,
                detail: format!(
                    "the ledger holds this grant as active ({} for {want_principal} at {scope}), Azure has no such assignment",
                    g.assignment.as_deref().unwrap_or("-")
                ),
            }),
        }
    }
    for a in listed.iter().filter(|a| a.marker.is_some()) {
        if active.iter().any(|g| holds(g, a)) {
            continue;
        }
        let marker = a.marker.as_ref().expect("filtered");
        rows.push(Row {
            check: Check::Assignments,
            level: Level::Problem,
            code: "unrecorded-assignment",
            subject: a.name.clone(),
            detail: format!(
                "carries kv-jit's marker (request {}, expires {}) for {} at {}, but the ledger holds no active grant of it",
                marker.request_id,
                ts(marker.expires_at),
                a.principal_id,
                a.scope
            ),
        });
    }
    status_of(rows, Check::Assignments)
}

fn standing_access(active: &[&Entry], inputs: &Inputs, rows: &mut Vec<Row>) -> Status {
    if let Some(s) = not_run(&inputs.around) {
        return s;
    }
    let Fetched::Got(listed) = &inputs.around else {
        unreachable!("not_run returned None")
    };
    let mut seen: Vec<&str> = Vec::new();
    for a in listed {
        if seen.iter().any(|id| id.eq_ignore_ascii_case(&a.id)) {
            continue;
        }
        seen.push(&a.id);
        if a.marker.is_some() || active.iter().any(|g| holds(g, a)) {
            continue;
        }
        let Some((role, access)) = classify(&a.role, &inputs.role_definitions) else {
            continue;
        };
        let Some(vault) = inputs
            .vault_scopes
            .iter()
            .find(|v| at_or_above(&a.scope, v) || at_or_above(v, &a.scope))
        else {
            continue;
        };
        let place = if same(&a.scope, vault) {
            "on the vault".to_owned()
        } else if at_or_above(&a.scope, vault) {
            format!("above the vault {vault}")
        } else {
            "on one secret".to_owned()
        };
        let reads = match access {
            DataAccess::ReadsSecrets => "reads secret values",
            DataAccess::OtherKeyVaultData => "Key Vault data, not secret values",
        };
        rows.push(Row {
            check: Check::StandingAccess,
            level: Level::Info,
            code: "standing-access",
            subject: a.principal_id.clone(),
            detail: format!(
                "{} {role} ({reads}) at {} ({place}), assignment {}",
                a.principal_type.as_deref().unwrap_or("principal"),
                a.scope,
                a.name
            ),
        });
    }
    status_of(rows, Check::StandingAccess)
}

fn activity_log(entries: &[Entry], inputs: &Inputs, rows: &mut Vec<Row>) -> Status {
    if inputs.kv_jit_ids.is_empty() {
        return Status::NotRun {
            why: "kv-jit's identity is not known: pass --identity (its client id or object id), or run with AZURE_CLIENT_ID set".into(),
            forbidden: true,
        };
    }
    if let Some(s) = not_run(&inputs.operations) {
        return s;
    }
    let Fetched::Got(ops) = &inputs.operations else {
        unreachable!("not_run returned None")
    };
    let tol = Duration::minutes(TOLERANCE_MINUTES);
    let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).abs() <= tol;
    let managed = |scope: &str| {
        inputs
            .vault_scopes
            .iter()
            .any(|v| at_or_above(v, scope) || at_or_above(scope, v))
    };
    let relevant: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.at >= inputs.since && o.at <= inputs.until && managed(o.scope()))
        .collect();
    let ids = &inputs.kv_jit_ids;
    for o in &relevant {
        let (what, verb) = match o.action {
            Action::Write => ("write", "created"),
            Action::Delete => ("delete", "deleted"),
        };
        if !o.by(ids) {
            if o.outcome == Outcome::Succeeded {
                rows.push(Row {
                    check: Check::ActivityLog,
                    level: Level::Info,
                    code: "other-caller",
                    subject: o.caller.clone(),
                    detail: format!(
                        "{verb} role assignment {} at {}{} on {} (not kv-jit's identity)",
                        o.name(),
                        o.scope(),
                        principal_role(o),
                        ts(o.at)
                    ),
                });
            }
            continue;
        }
        if o.outcome != Outcome::Succeeded {
            continue;
        }
        let matched = entries.iter().any(|e| {
            let about = entry_is(
                e,
                o.name(),
                o.scope(),
                o.principal_id.as_deref(),
                o.role.as_deref(),
            );
            about
                && match o.action {
                    Action::Write => {
                        (e.event == Event::Granted && near(e.time, o.at))
                            // A grant that crashed before its ledger entry: reconcile later
                            // revoked it as an orphan, which the ledger records.
                            || (e.event == Event::Revoked
                                && e.reason == Some(crate::ledger::Reason::Orphan)
                                && e.time >= o.at)
                    }
                    Action::Delete => e.event == Event::Revoked && near(e.time, o.at),
                }
        });
        if !matched {
            rows.push(Row {
                check: Check::ActivityLog,
                level: Level::Problem,
                code: if o.action == Action::Write {
                    "unrecorded-write"
                } else {
                    "unrecorded-delete"
                },
                subject: o.name().to_owned(),
                detail: format!(
                    "Azure recorded a role assignment {what} by kv-jit's identity at {}{} on {} (correlation {}), the ledger has no entry for it",
                    o.scope(),
                    principal_role(o),
                    ts(o.at),
                    o.correlation_id
                ),
            });
        }
    }
    // The other way: each grant and revoke the ledger recorded has its operation in the log.
    let settled = inputs.until - Duration::minutes(INGESTION_DELAY_MINUTES);
    for e in entries {
        let action = match e.event {
            Event::Granted if !is_pim(e) => Action::Write,
            Event::Revoked if !is_pim(e) => Action::Delete,
            _ => continue,
        };
        let Some(scope) = e.scope.as_deref() else {
            continue;
        };
        if e.time - tol < inputs.since || e.time > inputs.until || !managed(scope) {
            continue;
        }
        if action == Action::Delete && shared_with_a_live_grant(entries, e) {
            continue;
        }
        let request = e.request.clone().unwrap_or_else(|| "-".into());
        let found = relevant.iter().any(|o| {
            o.action == action
                && o.by(ids)
                && near(e.time, o.at)
                && entry_is(
                    e,
                    o.name(),
                    o.scope(),
                    o.principal_id.as_deref(),
                    o.role.as_deref(),
                )
        });
        if found {
            continue;
        }
        if e.time > settled {
            rows.push(Row {
                check: Check::ActivityLog,
                level: Level::Info,
                code: "not-yet-in-activity-log",
                subject: request,
                detail: format!(
                    "{} at {} is younger than the Activity Log's ingestion delay ({INGESTION_DELAY_MINUTES} min); run again later",
                    e.event.as_str(),
                    ts(e.time)
                ),
            });
            continue;
        }
        let (code, what) = match action {
            Action::Write => ("grant-not-in-activity-log", "role assignment write"),
            Action::Delete => ("revoke-not-in-activity-log", "role assignment delete"),
        };
        rows.push(Row {
            check: Check::ActivityLog,
            level: Level::Problem,
            code,
            subject: request,
            detail: format!(
                "the ledger records {} of {} at {scope} on {}, Azure's Activity Log has no {what} by kv-jit's identity for it",
                e.event.as_str(),
                e.assignment.as_deref().unwrap_or("-"),
                ts(e.time)
            ),
        });
    }
    status_of(rows, Check::ActivityLog)
}

/// The revoke `e` ended one request's share of an assignment another request (an extension)
/// still held then: kv-jit deleted nothing, so no delete is expected in the Activity Log.
fn shared_with_a_live_grant(entries: &[Entry], e: &Entry) -> bool {
    let Some(name) = e.assignment.as_deref() else {
        return false;
    };
    let same_assignment = |x: &Entry| {
        x.assignment
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(name))
            && x.request != e.request
    };
    entries
        .iter()
        .filter(|g| g.event == Event::Granted && g.seq < e.seq && same_assignment(g))
        .any(|g| {
            !entries.iter().any(|r| {
                r.event == Event::Revoked
                    && r.seq > g.seq
                    && r.seq < e.seq
                    && r.request == g.request
                    && same_assignment(r)
            })
        })
}

fn principal_role(o: &Operation) -> String {
    match (&o.principal_id, &o.role) {
        (Some(p), Some(r)) => format!(" for {p} (role {r})"),
        (Some(p), None) => format!(" for {p}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
