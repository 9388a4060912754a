//! Does CODEOWNERS make someone review what kv-jit trusts? Every request path (`requests/**`),
//! the config file itself, and a request for each configured vault must have owners: a path no
//! rule owns can be merged without a code owner's review, so nobody's approval counts and the
//! grant refuses it. CODEOWNERS matches concrete paths, so the request tree is probed at the
//! depths a request id can take (`requests/x.yaml`, `requests/2026/x.yaml`, deeper, `.yml`) and
//! a vault's requests at `requests/<vault>/...` (the folder a team would own for its vault).

use crate::github::codeowners::{Codeowners, Ownership};

/// Paths below `requests/` that stand for every request file.
pub const REQUEST_PROBES: [&str; 4] = [
    "requests/kv-jit-probe.yaml",
    "requests/2026/kv-jit-probe.yaml",
    "requests/team/2026/kv-jit-probe.yml",
    "requests/a/b/c/kv-jit-probe.yaml",
];

/// One path nobody owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    /// The repository path that was probed.
    pub path: String,
    /// `None`: no line matches; `Some(n)`: line `n`, the last match, names no owners.
    pub unowned_line: Option<usize>,
}

/// What the coverage check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Request paths nobody owns.
    pub requests: Vec<Uncovered>,
    /// The config file, when nobody owns it.
    pub config: Option<Uncovered>,
    /// Vaults whose requests nobody owns.
    pub vaults: Vec<String>,
}

impl Coverage {
    pub fn is_ok(&self) -> bool {
        self.requests.is_empty() && self.config.is_none() && self.vaults.is_empty()
    }
}

fn uncovered(co: &Codeowners, path: &str) -> Option<Uncovered> {
    match co.ownership(path) {
        Ownership::Owned { .. } => None,
        Ownership::Unmatched => Some(Uncovered {
            path: path.to_owned(),
            unowned_line: None,
        }),
        Ownership::Unowned { line } => Some(Uncovered {
            path: path.to_owned(),
            unowned_line: Some(line),
        }),
    }
}

/// Checks `co` against the request tree, the config at `config_path` (repository-relative) and
/// each vault name.
pub fn check<'a>(
    co: &Codeowners,
    config_path: &str,
    vaults: impl IntoIterator<Item = &'a str>,
) -> Coverage {
    let requests: Vec<Uncovered> = REQUEST_PROBES
        .iter()
        .filter_map(|p| uncovered(co, p))
        .collect();
    let config = uncovered(co, config_path.trim_start_matches("./"));
    let vaults = vaults
        .into_iter()
        .filter(|v| {
            let probes = [
                format!("requests/{v}/kv-jit-probe.yaml"),
                format!("requests/{v}/2026/kv-jit-probe.yaml"),
            ];
            probes.iter().any(|p| uncovered(co, p).is_some())
        })
        .map(str::to_owned)
        .collect();
    Coverage {
        requests,
        config,
        vaults,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Coverage {
        check(
            &Codeowners::parse(text),
            ".github/kv-jit.yml",
            ["kv-a", "kv-b"],
        )
    }

    #[test]
    fn table() {
        // (CODEOWNERS, request paths uncovered, config uncovered, vaults uncovered)
        let cases: &[(&str, usize, bool, &[&str])] = &[
            ("", 4, true, &["kv-a", "kv-b"]),
            ("* @sec\n", 0, false, &[]),
            ("/requests/ @carol\n/.github/ @sec\n", 0, false, &[]),
            ("/requests/ @carol\n", 0, true, &[]),
            ("/.github/kv-jit.yml @sec\n", 4, false, &["kv-a", "kv-b"]),
            // Only top-level request files: deeper ids are unowned.
            (
                "/requests/*.yaml @carol\n/.github/ @sec\n",
                3,
                false,
                &["kv-a", "kv-b"],
            ),
            // One vault's folder is owned, the other's not.
            (
                "/requests/kv-a/ @team-a\n/.github/ @sec\n",
                4,
                false,
                &["kv-b"],
            ),
            // A later line with no owners un-owns a vault's folder.
            ("* @sec\n/requests/kv-b/\n", 0, false, &["kv-b"]),
            // `**` covers every depth.
            ("requests/** @carol\n.github/** @sec\n", 0, false, &[]),
        ];
        for (text, requests, config, vaults) in cases {
            let c = run(text);
            assert_eq!(c.requests.len(), *requests, "{text:?}: {c:?}");
            assert_eq!(c.config.is_some(), *config, "{text:?}: {c:?}");
            assert_eq!(c.vaults, *vaults, "{text:?}");
            assert_eq!(c.is_ok(), *requests == 0 && !config && vaults.is_empty());
        }
    }

    #[test]
    fn an_unowning_line_is_named() {
        let c = run("* @sec\n/requests/\n");
        assert_eq!(c.requests[0].unowned_line, Some(2));
        let c = run("/x/ @a\n");
        assert_eq!(c.requests[0].unowned_line, None);
    }
}
