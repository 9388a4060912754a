//! GitHub as kv-jit reads it: the REST shapes (only the fields read), and CODEOWNERS. The
//! client that fetches them is `kv_jit_effects::github::client`; the rules that judge them
//! (`crate::approval::decide`) see only these values.

pub mod codeowners;

use std::fmt;

use serde::Deserialize;

/// A repository name that is not `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository `{0}` is not owner/name")]
pub struct InvalidRepo(pub String);

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// Parses `owner/name` (as in `GITHUB_REPOSITORY`).
    pub fn parse(text: &str) -> Result<Repo, InvalidRepo> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match text.split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) && name != "." && name != ".." => {
                Ok(Repo {
                    owner: owner.into(),
                    name: name.into(),
                })
            }
            _ => Err(InvalidRepo(text.to_owned())),
        }
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A user as GitHub shows it (only what we read).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// One side (head or base) of a pull request.
#[derive(Debug, Clone, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
}

/// A pull request (only what we read).
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub html_url: Option<String>,
    pub user: Option<User>,
    pub head: GitRef,
    pub base: GitRef,
    /// When it was merged (GitHub's ISO 8601 `merged_at`); `None` while open or closed unmerged.
    #[serde(default)]
    pub merged_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Number of commits on the branch (absent from list answers).
    #[serde(default)]
    pub commits: Option<u64>,
    /// Number of files the pull request changes (absent from list answers).
    #[serde(default)]
    pub changed_files: Option<u64>,
    /// When it was opened.
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PullRequest {
    /// `merged` is absent from list answers (commit → pulls); `merged_at` is there in both.
    pub fn is_merged(&self) -> bool {
        self.merged.unwrap_or(false) || self.merged_at.is_some()
    }
}

/// A pull request review. `state` stays a string: a new state must not break the whole list.
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
}

/// A file a pull request changes.
#[derive(Debug, Clone, Deserialize)]
pub struct PullFile {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

/// A commit on a pull request's branch.
#[derive(Debug, Clone, Deserialize)]
pub struct PullCommit {
    pub sha: String,
    /// The GitHub account the commit's author e-mail belongs to; `None` when none does.
    pub author: Option<User>,
}

/// An issue (or pull request conversation) comment.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
    /// When it was written and last edited (equal when never edited).
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Whether a user is an active member of a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamMembership {
    Active,
    /// Invited, not yet accepted: not a member for approval.
    Pending,
    NotMember,
}

/// GitHub lists at most this many of one commit's files, over all pages (REST "Get a commit":
/// "pagination link headers for the remaining files, up to a limit of 3000 files").
pub const MAX_COMMIT_FILES: usize = 3000;

/// Every path a commit changes, as far as GitHub lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPaths {
    /// File names, and the previous name of each rename.
    pub paths: Vec<String>,
    /// How many files GitHub listed (a rename counts once).
    pub files_listed: usize,
}

impl CommitPaths {
    /// GitHub stops listing at [`MAX_COMMIT_FILES`]: a commit with that many may have more that
    /// nobody can see, so it cannot be checked.
    pub fn maybe_truncated(&self) -> bool {
        self.files_listed >= MAX_COMMIT_FILES
    }
}

/// What a team may do in a repository (`permissions` of the repository media type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct TeamRepoPermissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub triage: bool,
    #[serde(default)]
    pub pull: bool,
}

impl TeamRepoPermissions {
    /// GitHub honours a team in CODEOWNERS only with write access: push, maintain or admin.
    pub fn can_write(&self) -> bool {
        self.admin || self.maintain || self.push
    }

    /// The highest role, for messages.
    pub fn role(&self) -> &'static str {
        if self.admin {
            "admin"
        } else if self.maintain {
            "maintain"
        } else if self.push {
            "push"
        } else if self.triage {
            "triage"
        } else if self.pull {
            "pull"
        } else {
            "none"
        }
    }
}
