//! The `uses:` references of a workflow file: does it use kv-jit's action, and is every action
//! pinned to a full commit SHA (a tag or branch can be moved to other code after review)?
//! Read line by line rather than as YAML: the check needs only the `uses:` values and their
//! line numbers, and must still report on a file a YAML parser would refuse.

/// One `uses:` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    /// 1-based line.
    pub line: usize,
    /// The value as written (quotes and a trailing comment removed).
    pub value: String,
}

/// How a reference is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// A local action in this repository (`./path`): it is the reviewed code itself.
    Local,
    /// `owner/repo[/path]@<40 hex>` or `docker://image@sha256:<64 hex>`.
    Sha,
    /// A tag, branch, short SHA or no ref at all.
    Unpinned,
}

/// Every `uses:` in `text`, in order.
pub fn uses(text: &str) -> Vec<Uses> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut l = raw.trim_start();
        if let Some(rest) = l.strip_prefix("- ") {
            l = rest.trim_start();
        }
        let Some(rest) = l.strip_prefix("uses:") else {
            continue;
        };
        let mut v = rest.trim();
        if let Some(hash) = v.find(" #") {
            v = v[..hash].trim();
        }
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        if !v.is_empty() {
            out.push(Uses {
                line: i + 1,
                value: v.to_owned(),
            });
        }
    }
    out
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How `value` is pinned.
pub fn pin(value: &str) -> Pin {
    if value.starts_with("./") || value == "." {
        return Pin::Local;
    }
    if let Some(image) = value.strip_prefix("docker://") {
        return match image.rsplit_once("@sha256:") {
            Some((_, digest)) if is_hex(digest, 64) => Pin::Sha,
            _ => Pin::Unpinned,
        };
    }
    match value.rsplit_once('@') {
        Some((_, r)) if is_hex(r, 40) => Pin::Sha,
        _ => Pin::Unpinned,
    }
}

/// `owner/repo` of a reference (`owner/repo/path@ref` too); `None` for local and docker ones.
pub fn action_repo(value: &str) -> Option<String> {
    if value.starts_with("./") || value.starts_with("docker://") {
        return None;
    }
    let path = value.split('@').next()?;
    let mut parts = path.split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    Some(format!("{owner}/{repo}"))
}

/// The reference uses kv-jit's action: `action` (`owner/repo`, any case), or `./` in the
/// action's own repository.
pub fn is_action(value: &str, action: &str) -> bool {
    value == "./"
        || value == "."
        || action_repo(value).is_some_and(|r| r.eq_ignore_ascii_case(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_uses_with_its_line() {
        let text = "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n      - name: x\n        uses: \"acme/kv-jit@v1\"\n      - run: echo uses: not-this\n";
        let u = uses(text);
        assert_eq!(
            u,
            [
                Uses {
                    line: 4,
                    value: "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683".into()
                },
                Uses {
                    line: 6,
                    value: "acme/kv-jit@v1".into()
                }
            ]
        );
    }

    #[test]
    fn pins() {
        let table: &[(&str, Pin)] = &[
            (
                "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
                Pin::Sha,
            ),
            ("actions/checkout@v4", Pin::Unpinned),
            ("actions/checkout@11bd719", Pin::Unpinned),
            ("actions/checkout", Pin::Unpinned),
            (
                "acme/kv-jit/sub@11BD71901BBE5B1630CEEA73D27597364C9AF683",
                Pin::Sha,
            ),
            ("acme/kv-jit@main", Pin::Unpinned),
            ("./", Pin::Local),
            ("./.github/actions/x", Pin::Local),
            (
                "docker://alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                Pin::Sha,
            ),
            ("docker://alpine:3.20", Pin::Unpinned),
        ];
        for (v, want) in table {
            assert_eq!(pin(v), *want, "{v}");
        }
    }

    #[test]
    fn recognises_the_action() {
        assert!(is_action("acme/kv-jit@v1", "acme/kv-jit"));
        assert!(is_action("ACME/KV-JIT/sub@v1", "acme/kv-jit"));
        assert!(is_action("./", "acme/kv-jit"));
        assert!(!is_action("evil/kv-jit@v1", "acme/kv-jit"));
        assert!(!is_action("acme/kv-jit-fork@v1", "acme/kv-jit"));
        assert!(!is_action("./other", "acme/kv-jit"));
    }
}
