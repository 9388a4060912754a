//! What `kv-jit doctor` asks GitHub about a branch, read-only: classic branch protection
//! (`GET /repos/{o}/{r}/branches/{b}/protection`) and the active ruleset rules
//! (`GET /repos/{o}/{r}/rules/branches/{b}`). Judging them is
//! `kv_jit_core::doctor::protection`'s.

use super::client::{GithubClient, GithubError, encode};
use kv_jit_core::doctor::protection::{BranchProtection, BranchRule};
use kv_jit_core::github::Repo;

/// What GitHub says about a branch's classic protection.
#[derive(Debug, Clone)]
pub enum Classic {
    Protected(BranchProtection),
    /// 404: `Branch not protected` (or no such branch).
    NotProtected,
    /// 403: the token may not read protection settings (an Actions `GITHUB_TOKEN` cannot; it
    /// needs *Administration: read*). Says nothing about the branch.
    Hidden(String),
}

/// Classic protection of `branch`.
pub async fn classic(gh: &GithubClient, repo: &Repo, branch: &str) -> Result<Classic, GithubError> {
    let route = format!("/repos/{repo}/branches/{}/protection", encode(branch));
    match gh.get_json::<BranchProtection>(&route).await {
        Ok(p) => Ok(Classic::Protected(p)),
        Err(e) if e.status() == Some(404) => Ok(Classic::NotProtected),
        Err(e @ GithubError::Status { status: 403, .. }) => Ok(Classic::Hidden(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The active ruleset rules that apply to `branch` (every level, every page).
pub async fn rules(
    gh: &GithubClient,
    repo: &Repo,
    branch: &str,
) -> Result<Vec<BranchRule>, GithubError> {
    // A branch may hold `/` (`audit/ledger`); GitHub takes it as the path's tail.
    gh.get_all(&format!("/repos/{repo}/rules/branches/{}", encode(branch)))
        .await
}
