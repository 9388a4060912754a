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
use super::roles::{DATA_ACCESS_ADMINISTRATOR, ROLES};
use super::{AzureState, Token, is_at_or_above};

fn entry(role: &str) -> Value {
    let (actions, data): (&[&str], &[&str]) = ROLES
        .iter()
        .find(|(id, ..)| id.eq_ignore_ascii_case(role))
        .map_or((&[], &[]), |(_, _, a, d)| (*a, *d));
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
