//! What `--version` says about the commit, decided from what the build script found. Shared by
//! `build.rs` (which includes this file) and the library's tests, so the rule is tested.

/// The commit stamp: a release build's `KV_JIT_BUILD_COMMIT` wins; else git's short HEAD, with
/// `-dirty` when `git status --porcelain` listed anything; else (no git, not a checkout)
/// `unknown`.
pub fn stamp(release: Option<&str>, head: Option<&str>, porcelain: Option<&str>) -> String {
    if let Some(r) = release.map(str::trim).filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    match head.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if porcelain.is_some_and(|p| !p.trim().is_empty()) => format!("{h}-dirty"),
        Some(h) => h.to_owned(),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn release_then_git_then_unknown() {
        let head = Some("434bb5b4457c");
        assert_eq!(stamp(Some("v0.1.0-abc"), head, Some(" M x")), "v0.1.0-abc");
        assert_eq!(stamp(Some("  "), head, Some("")), "434bb5b4457c");
        assert_eq!(
            stamp(None, head, Some(" M src/lib.rs\n")),
            "434bb5b4457c-dirty"
        );
        assert_eq!(stamp(None, head, None), "434bb5b4457c");
        assert_eq!(stamp(None, None, Some(" M x")), "unknown");
        assert_eq!(stamp(None, Some(""), None), "unknown");
    }
}
