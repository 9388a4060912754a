//! The GitHub world as a test or `kv-jit demo` writes it: repositories with branches, files,
//! pull requests (files, commits, reviews), collaborators and comments; teams; accepted tokens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the emulator knows, as a test or `kv-jit demo` writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSeed {
    #[serde(default)]
    pub repos: Vec<RepoSeed>,
    #[serde(default)]
    pub teams: Vec<TeamSeed>,
    /// Accepted tokens. Empty: any token (or none) is accepted with every permission.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSeed>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSeed {
    pub owner: String,
    pub name: String,
    #[serde(default = "default_branch_name")]
    pub default_branch: String,
    /// Branch name -> commit sha.
    #[serde(default)]
    pub branches: BTreeMap<String, String>,
    /// Commit sha (or branch name) -> path -> file text.
    #[serde(default)]
    pub files: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub pulls: Vec<PullSeed>,
    /// Commits not on any pull request (a direct push) or with extra detail.
    #[serde(default)]
    pub commits: Vec<CommitSeed>,
    /// Login -> `admin` | `maintain` | `write` | `triage` | `read`.
    #[serde(default)]
    pub collaborators: BTreeMap<String, String>,
    #[serde(default)]
    pub comments: Vec<CommentSeed>,
    /// Classic branch protection by branch name (default: no branch is protected).
    #[serde(default)]
    pub protection: BTreeMap<String, super::ProtectionSeed>,
    /// Repository rulesets (default: none).
    #[serde(default)]
    pub rulesets: Vec<super::RulesetSeed>,
    /// Issues (not pull requests); issues created through the API are added here too.
    #[serde(default)]
    pub issues: Vec<IssueSeed>,
}

/// An issue. Numbers share one sequence with pull requests, as on GitHub: a created issue takes
/// the next number after every pull request and issue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssueSeed {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    /// Who opened it.
    pub author: String,
    /// `open` (default) or `closed`.
    #[serde(default = "open")]
    pub state: String,
    #[serde(default)]
    pub labels: Vec<String>,
    /// When it was opened; without it, when it was seeded (as pull requests are).
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who closed it, when closed.
    #[serde(default)]
    pub closed_by: Option<String>,
}

fn open() -> String {
    "open".into()
}

impl Default for IssueSeed {
    fn default() -> Self {
        IssueSeed {
            number: 0,
            title: String::new(),
            body: None,
            author: String::new(),
            state: open(),
            labels: Vec::new(),
            created_at: None,
            closed_at: None,
            closed_by: None,
        }
    }
}

fn default_branch_name() -> String {
    "main".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PullSeed {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    pub author: String,
    #[serde(default = "head_ref")]
    pub head_ref: String,
    pub head_sha: String,
    #[serde(default = "default_branch_name")]
    pub base_ref: String,
    pub base_sha: String,
    #[serde(default)]
    pub merged: bool,
    /// When it was merged; a merged pull request without it was merged when it was seeded (the
    /// emulator's clock then: `spawn_for_tests` starts at `2026-11-27T08:00:00Z`).
    #[serde(default)]
    pub merged_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// When it was opened; without it, when it was seeded.
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub files: Vec<FileSeed>,
    /// The branch's commits, oldest first (the last should be `head_sha`).
    #[serde(default)]
    pub commits: Vec<CommitSeed>,
    /// In chronological order.
    #[serde(default)]
    pub reviews: Vec<ReviewSeed>,
}

fn head_ref() -> String {
    "feature".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSeed {
    pub filename: String,
    #[serde(default = "added")]
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

fn added() -> String {
    "added".into()
}

impl Default for FileSeed {
    fn default() -> Self {
        FileSeed {
            filename: String::new(),
            status: added(),
            previous_filename: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSeed {
    pub sha: String,
    /// GitHub login the commit is attributed to; `None` when the e-mail maps to no account.
    #[serde(default)]
    pub author: Option<String>,
    /// Paths the commit changes.
    #[serde(default)]
    pub files: Vec<String>,
    /// Extra pull requests to report as associated with this commit.
    #[serde(default)]
    pub pulls: Vec<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSeed {
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// `None` models a garbage-collected commit (GitHub answers `null`).
    #[serde(default)]
    pub commit_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommentSeed {
    pub issue: u64,
    pub user: String,
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSeed {
    pub org: String,
    pub slug: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// Invited but not accepted.
    #[serde(default)]
    pub pending: Vec<String>,
    /// Repositories (`owner/name`) the team has access to -> its role there: `admin`,
    /// `maintain`, `push`, `triage` or `pull`. A repository not listed: no access (404).
    #[serde(default)]
    pub repositories: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSeed {
    /// The account the token acts as (author of comments it creates).
    pub login: String,
    /// Granted permissions, e.g. `members:read`. Team routes need `members:read` (an Actions
    /// `GITHUB_TOKEN` never has it).
    #[serde(default)]
    pub permissions: Vec<String>,
}
