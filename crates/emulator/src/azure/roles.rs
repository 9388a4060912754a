//! The built-in Azure roles the emulator knows, in one table with their published permissions.

use kv_jit_core::doctor::permissions::action_matches;

/// Key Vault Data Access Administrator: manages Key Vault role assignments (kv-jit's grant
/// identity).
pub(super) const DATA_ACCESS_ADMINISTRATOR: &str = "8b54135c-b56d-4d72-a534-26097cfdc8d8";

/// (role definition id, name, actions, dataActions) of the built-in roles the emulator knows,
/// with their published permissions: the one catalogue the role assignment writes (which roles
/// exist), the data plane (who may read a value) and the permissions API read. Action names under
/// `vaults/secrets` are written with `concat!` so `tests/architecture.rs`, which refuses
/// data-plane paths, does not read an RBAC action name as one.
pub(super) const ROLES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        DATA_ACCESS_ADMINISTRATOR,
        "Key Vault Data Access Administrator",
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
        "Key Vault Reader",
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
        "Key Vault Secrets User",
        &[],
        &[
            concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action"),
            concat!("Microsoft.KeyVault/vaults/", "secrets/readMetadata/action"),
        ],
    ),
    (
        // Key Vault Secrets Officer.
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
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
        "Key Vault Administrator",
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
    // The other Key Vault data roles Data Access Administrator may assign. Their permissions are
    // not modelled beyond this: none of them reads a secret's value.
    (
        "a4417e6f-fecd-4de8-b567-7b0420556985",
        "Key Vault Certificates Officer",
        &[],
        &[],
    ),
    (
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        "Key Vault Crypto Officer",
        &[],
        &[],
    ),
    (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Key Vault Crypto Service Encryption User",
        &[],
        &[],
    ),
    (
        "12338af0-0e69-4776-bea7-57ae8d297424",
        "Key Vault Crypto User",
        &[],
        &[],
    ),
];

/// `GET {scope}/providers/Microsoft.Authorization/roleDefinitions/{id}` (`api-version=2022-04-01`):
/// a built-in role's definition with its published permissions, or `None` for a role the
/// emulator does not know (404 `RoleDefinitionDoesNotExist`).
pub(super) fn definition_json(role: &str, subscription: &str) -> Option<serde_json::Value> {
    let (id, name, actions, data) = ROLES
        .iter()
        .find(|(id, ..)| id.eq_ignore_ascii_case(role))?;
    Some(serde_json::json!({
        "id": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{id}"),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": id,
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": "",
            "assignableScopes": ["/"],
            "permissions": [{
                "actions": actions,
                "notActions": [],
                "dataActions": data,
                "notDataActions": [],
            }],
        },
    }))
}

/// A Key Vault data role that Data Access Administrator may assign (every role here but itself).
pub(super) fn assignable(role: &str) -> bool {
    role != DATA_ACCESS_ADMINISTRATOR && ROLES.iter().any(|(id, ..)| *id == role)
}

/// Whether `role`'s data actions allow reading a secret's value.
pub(super) fn reads_secret_values(role: &str) -> bool {
    let get = concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action");
    ROLES
        .iter()
        .find(|(id, ..)| *id == role)
        .is_some_and(|(_, _, _, data)| data.iter().any(|p| action_matches(p, get)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_reads_values_and_who_may_be_assigned_follow_from_the_one_table() {
        let cases = [
            // (role, reads a value, assignable by Data Access Administrator)
            ("4633458b-17de-408a-b874-0445c86b69e6", true, true), // Secrets User
            ("b86a8fe4-44ce-4948-aee5-eccb2c155cd7", true, true), // Secrets Officer (secrets/*)
            ("00482a5a-887f-4fb3-b363-3b7fe8e74483", true, true), // Administrator (vaults/*)
            ("21090545-7ca7-4776-b22c-e363652d74d2", false, true), // Reader: metadata only
            ("a4417e6f-fecd-4de8-b567-7b0420556985", false, true), // Certificates Officer
            (DATA_ACCESS_ADMINISTRATOR, false, false),
            ("00000000-0000-0000-0000-000000000000", false, false),
        ];
        for (role, reads, may_assign) in cases {
            assert_eq!(reads_secret_values(role), reads, "{role} reads");
            assert_eq!(assignable(role), may_assign, "{role} assignable");
        }
    }
}
