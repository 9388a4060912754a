//! Azure's effective permissions (`Permissions - List For Resource`, `api-version=2022-04-01`):
//! each entry is one role's `actions` minus its `notActions` (and the same for data actions);
//! the caller may do what any entry allows. Wildcards match as Azure matches them: `*` stands for
//! any run of characters (slashes included) and comparison ignores case
//! (`Microsoft.Authorization/*/write`, `*/read`, `*`).

use serde::Deserialize;

/// The actions kv-jit's grant identity performs on a vault (or below it).
pub const GRANT_ACTIONS: [&str; 2] = [
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
];

/// One entry of `value[]`: what one role assignment lets the caller do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// `pattern` (with `*` wildcards) matches `action`, ignoring ASCII case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let a = action.to_ascii_lowercase();
    glob_star(p.as_bytes(), a.as_bytes())
}

/// `*`-only glob, iterative with one backtrack point (linear in practice, never exponential).
fn glob_star(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl Permission {
    /// This entry allows the control-plane `action`.
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|p| action_matches(p, action))
            && !self.not_actions.iter().any(|p| action_matches(p, action))
    }

    /// This entry allows the data-plane `action`.
    pub fn allows_data(&self, action: &str) -> bool {
        self.data_actions.iter().any(|p| action_matches(p, action))
            && !self
                .not_data_actions
                .iter()
                .any(|p| action_matches(p, action))
    }
}

/// Any entry allows the control-plane `action`.
pub fn allowed(permissions: &[Permission], action: &str) -> bool {
    permissions.iter().any(|p| p.allows(action))
}

/// Of `wanted`, the actions no entry allows, in the order given.
pub fn missing<'a>(permissions: &[Permission], wanted: &[&'a str]) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|a| !allowed(permissions, a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(actions: &[&str], not_actions: &[&str]) -> Permission {
        Permission {
            actions: actions.iter().map(|s| s.to_string()).collect(),
            not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
            ..Permission::default()
        }
    }

    #[test]
    fn wildcards_match_as_azure_matches() {
        let table: &[(&str, &str, bool)] = &[
            ("*", "Microsoft.Authorization/roleAssignments/write", true),
            (
                "Microsoft.Authorization/*",
                "Microsoft.Authorization/roleAssignments/write",
                true,
            ),
            (
                "Microsoft.Authorization/*/write",
                "Microsoft.Authorization/roleAssignments/write",
                true,
            ),
            (
                "Microsoft.Authorization/*/read",
                "Microsoft.Authorization/roleAssignments/write",
                false,
            ),
            ("*/read", "Microsoft.KeyVault/vaults/read", true),
            ("*/read", "Microsoft.KeyVault/vaults/write", false),
            (
                "microsoft.authorization/roleassignments/WRITE",
                "Microsoft.Authorization/roleAssignments/write",
                true,
            ),
            (
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/writeX",
                false,
            ),
            (
                "Microsoft.Authorization/roleAssignments/*",
                "Microsoft.Authorization/roleAssignments/delete",
                true,
            ),
            (
                "Microsoft.Authorization/roleAssignments",
                "Microsoft.Authorization/roleAssignments/delete",
                false,
            ),
            (
                "Microsoft.KeyVault/*",
                "Microsoft.Authorization/roleAssignments/write",
                false,
            ),
            ("*a*b*c", "xaxbxc", true),
            ("*a*b*c", "xaxcxb", false),
            ("", "", true),
            ("", "x", false),
            ("**", "anything/at/all", true),
        ];
        for (pattern, action, want) in table {
            assert_eq!(
                action_matches(pattern, action),
                *want,
                "{pattern} vs {action}"
            );
        }
    }

    #[test]
    fn not_actions_subtract_within_one_entry_only() {
        let write = GRANT_ACTIONS[0];
        // Owner-like: everything.
        assert!(allowed(&[perm(&["*"], &[])], write));
        // Contributor: everything but Microsoft.Authorization writes and deletes.
        let contributor = perm(
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ],
        );
        assert!(!allowed(std::slice::from_ref(&contributor), write));
        assert_eq!(
            missing(std::slice::from_ref(&contributor), &GRANT_ACTIONS),
            GRANT_ACTIONS
        );
        // A second role that allows it wins: entries are a union.
        let kvdaa = perm(
            &[
                GRANT_ACTIONS[0],
                GRANT_ACTIONS[1],
                "Microsoft.Authorization/*/read",
            ],
            &[],
        );
        assert!(missing(&[contributor, kvdaa], &GRANT_ACTIONS).is_empty());
        // Reader-like: nothing to write.
        assert_eq!(
            missing(&[perm(&["*/read"], &[])], &GRANT_ACTIONS),
            GRANT_ACTIONS
        );
        // Only write, no delete: delete is named.
        assert_eq!(
            missing(&[perm(&[GRANT_ACTIONS[0]], &[])], &GRANT_ACTIONS),
            [GRANT_ACTIONS[1]]
        );
        // Nothing at all.
        assert_eq!(missing(&[], &GRANT_ACTIONS), GRANT_ACTIONS);
    }

    #[test]
    fn data_actions_are_separate() {
        let p = Permission {
            data_actions: vec![concat!("Microsoft.KeyVault/vaults/", "secrets/*").into()],
            not_data_actions: vec![
                concat!("Microsoft.KeyVault/vaults/", "secrets/getSecret/action").into(),
            ],
            ..Permission::default()
        };
        assert!(p.allows_data(concat!(
            "Microsoft.KeyVault/vaults/",
            "secrets/readMetadata/action"
        )));
        assert!(!p.allows_data(concat!(
            "Microsoft.KeyVault/vaults/",
            "secrets/getSecret/action"
        )));
        assert!(!p.allows(concat!(
            "Microsoft.KeyVault/vaults/",
            "secrets/readMetadata/action"
        )));
    }

    #[test]
    fn the_rest_shape_parses() {
        let body = r#"{"value":[{"actions":["*/read"],"notActions":[],"dataActions":[],"notDataActions":[],"condition":null}]}"#;
        #[derive(Deserialize)]
        struct Page {
            value: Vec<Permission>,
        }
        let page: Page = serde_json::from_str(body).unwrap();
        assert_eq!(page.value[0].actions, ["*/read"]);
    }
}
