//! Approval verification after merge, through the GitHub API and independent of branch
//! protection (which proves only that "some owner approved something", and can be bypassed by
//! admins or misconfigured).
//!
//! The trust root is the default branch, never the pull request: the caller hands in a
//! [`TrustedBase`] (identities and CODEOWNERS read where the pull request cannot have written
//! them: the grant reads local git at the merge commit's first parent, the PR check the default
//! branch's tip). Nothing here reads the config or CODEOWNERS through GitHub, and in particular
//! not at `pull.base.sha`, which GitHub leaves at the tip the pull request was opened on (an
//! owner removed on main since would still count).
//!
//! A request file on the default branch is approved when:
//! 1. the commit that brought it is associated with exactly one *merged* pull request, whose base
//!    is the default branch (a pull request into a side branch, later fast-forwarded to main, was
//!    reviewed under the side branch's rules) and which changes the file (a direct push has no
//!    pull request: refused);
//! 2. the pull request changes nothing outside `requests/` (config, CODEOWNERS, workflows and the
//!    ledger change in their own pull requests, reviewed by their owners). This is the net change:
//!    a rebase-merged pull request's earlier commit could still change and revert CODEOWNERS, so
//!    the grant path ([`check_not_rebased`]) refuses a request whose first parent belongs to its own
//!    pull request;
//! 3. the pull request author maps, through the trusted `identities`, to the request's
//!    `requester`; and no commit on the branch that touches the file is by anyone else;
//! 4. the trusted CODEOWNERS (first of `.github/`, root, `docs/`; no invalid line) names owners
//!    for the file;
//! 5. per reviewer (login compared case-insensitively) the latest APPROVED, CHANGES_REQUESTED or
//!    DISMISSED review counts, a later COMMENTED changes nothing; an owner's outstanding
//!    CHANGES_REQUESTED refuses the request outright;
//! 6. an approval counts when it was given on the final head commit, by someone who is not the
//!    author, not the requester (through identities), is an owner of the file (directly, or as an
//!    active member of an owning team that has write access to the repository, as GitHub requires)
//!    and has write access; `approvals` distinct such reviewers are needed.
//!
//! Everything that cannot be checked fails closed.
//!
//! A break-glass request (`break_glass: true` on a vault that allows it) skips rule 6 only: an
//! admin merged it past branch protection, so no approval is required, but every other rule
//! holds, including 5 (an owner's outstanding CHANGES_REQUESTED still refuses it: break-glass
//! is for when owners are absent, not for overruling one who objected) and 4 (someone must own
//! the file, to be told and to close the retrospective).
//!
//! Verification is `kv_jit_effects::approval::gather` (I/O through the GitHub client: plain
//! [`ApprovalFacts`]) then [`decide`] (pure: every rule above, in `approval/decide.rs`; one row
//! per attack in `approval/tests.rs`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::github::Repo;
use crate::github::codeowners::Codeowners;

mod decide;
mod merge;
pub mod retrospective;
#[cfg(test)]
mod tests;

pub use decide::{
    ApprovalFacts, CommitFacts, IssueOpener, PullFacts, Readable, ReviewFacts, ReviewState,
    ReviewerFacts, choose_pull, decide, files_outside_requests, is_bot,
};
pub use decide::{Need, Stop, check_commits, context_for, judge};
pub use merge::{
    Denied, MERGE_CLOCK_SKEW, PR_LINK_GRACE, Refused, Rule, approvals_required, check_base_policy,
    check_merge_date, check_not_rebased, check_still_approved, denial, fresh,
};

/// The folder a request pull request may change, and nothing else.
pub const REQUESTS_DIR: &str = "requests/";

/// What the default branch says, read by the caller where no pull request can have written it.
#[derive(Debug, Clone)]
pub struct TrustedBase {
    /// Where it was read (a commit sha or the default branch's tip), for messages and the ledger.
    pub sha: String,
    /// The repository's default branch: a PR whose base ref is anything else is refused.
    pub default_branch: String,
    /// GitHub login -> UPN, from the trusted config.
    pub identities: BTreeMap<String, String>,
    /// CODEOWNERS as GitHub would pick it there (first of .github/, root, docs/), with its path.
    pub codeowners: Option<(String, Codeowners)>,
}

impl TrustedBase {
    /// The trusted base read at `sha`: the identities of `config` (read there) and its CODEOWNERS.
    pub fn new(
        sha: String,
        default_branch: String,
        config: &crate::config::Config,
        codeowners: Option<(String, Codeowners)>,
    ) -> TrustedBase {
        TrustedBase {
            sha,
            default_branch,
            identities: config
                .identities
                .iter()
                .map(|(login, upn)| (login.clone(), upn.to_string()))
                .collect(),
            codeowners,
        }
    }
}

/// How many outside paths a message names.
const PATHS_SHOWN: usize = 5;

fn some_paths(paths: &[String]) -> String {
    let mut shown: Vec<String> = paths
        .iter()
        .take(PATHS_SHOWN)
        .map(|p| format!("`{p}`"))
        .collect();
    if paths.len() > PATHS_SHOWN {
        shown.push(format!("and {} more", paths.len() - PATHS_SHOWN));
    }
    shown.join(", ")
}

/// What is being verified.
#[derive(Debug, Clone)]
pub struct ApprovalInput<'a> {
    pub repo: &'a Repo,
    /// The merge commit, or the commit that brought the request file to the default branch.
    pub commit: &'a str,
    /// Repository-relative path of the request file, e.g. `requests/2026/alice-api-key.yaml`.
    pub request_path: &'a str,
    /// The request's `requester` (an Entra UPN).
    pub requester: &'a str,
    /// The vault's `approvals: N` (at least 1 is enforced, except for break-glass).
    pub approvals_required: u32,
    /// The request is `break_glass: true` and its vault allows it (policy, checked under the
    /// first parent's config before this): no approval is counted, every other rule holds.
    pub break_glass: bool,
    /// The request's `issue: N`: a bot's pull request is bound to whoever opened it.
    pub issue: Option<u64>,
}

/// Proof of approval, for the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub pull_number: u64,
    pub pull_url: Option<String>,
    pub author: String,
    /// The commit every counted approval was given on (the final head).
    pub head_sha: String,
    /// Where CODEOWNERS and identities were read ([`TrustedBase::sha`]).
    pub base_sha: String,
    pub merge_commit_sha: Option<String>,
    /// When GitHub says the pull request was merged: windows without `start:` anchor on it.
    pub merged_at: Option<DateTime<Utc>>,
    /// The CODEOWNERS file used and the line that owns the request file.
    pub codeowners_path: String,
    pub codeowners_line: usize,
    /// Distinct approvers, in review order.
    pub approvers: Vec<Approver>,
    /// Every owner of the request file in that CODEOWNERS (`@login` or `@org/team`): whom a
    /// break-glass grant tells.
    pub owners: Vec<String>,
    /// Granted without the code-owner approvals (break-glass); `approvers` holds any that were
    /// given anyway.
    pub break_glass: bool,
    /// The login the request is bound to: the author, or for a bot's pull request the person
    /// who opened its issue (who may not approve it either).
    pub requested_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approver {
    pub login: String,
    pub review_id: u64,
    /// The CODEOWNERS owner that made them count (`@login` or `@org/team`).
    pub as_owner: String,
}

/// Why a review did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NotCounted {
    /// The pull request author approved their own request.
    SelfApproval,
    /// The reviewer maps (identities) to the requester.
    Requester,
    /// Approved an older commit (or one GitHub no longer has).
    StaleCommit { commit_id: Option<String> },
    /// The latest opinionated review was dismissed.
    Dismissed,
    /// Not an owner of the file per the trusted CODEOWNERS.
    NotOwner,
    /// A member of an owning team, but the team has no write access to the repository, so
    /// GitHub does not honour it as a code owner.
    TeamWithoutWriteAccess { team: String, role: String },
    /// Owner, but without write access to the repository.
    NoWriteAccess { permission: String },
}

impl fmt::Display for NotCounted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotCounted::SelfApproval => f.write_str("approved their own pull request"),
            NotCounted::Requester => f.write_str("is the requester"),
            NotCounted::StaleCommit { commit_id: Some(c) } => {
                write!(f, "approved commit {}, not the final head", short(c))
            }
            NotCounted::StaleCommit { commit_id: None } => {
                f.write_str("approved a commit GitHub no longer has, not the final head")
            }
            NotCounted::Dismissed => f.write_str("had their approval dismissed"),
            NotCounted::NotOwner => f.write_str("is not a code owner of the request file"),
            NotCounted::TeamWithoutWriteAccess { team, role } => write!(
                f,
                "owns the file only through team @{team}, which has `{role}` on the repository, \
                 not write access (GitHub ignores such a team as a code owner)"
            ),
            NotCounted::NoWriteAccess { permission } => {
                write!(
                    f,
                    "is a code owner without write access (has `{permission}`)"
                )
            }
        }
    }
}

/// Why a request is not approved. Every variant is a refusal: nothing is granted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("cannot verify approval through GitHub: {0}")]
    Github(String),
    #[error(
        "commit {} is not part of any pull request: the request reached the default branch \
         by a direct push, without review",
        short(commit)
    )]
    NoPullRequest { commit: String },
    #[error("pull request {} is not merged", list(numbers))]
    NotMerged { numbers: Vec<u64> },
    #[error(
        "commit {} belongs to several merged pull requests ({}); cannot tell which one approved it",
        short(commit),
        list(numbers)
    )]
    AmbiguousPullRequest { commit: String, numbers: Vec<u64> },
    #[error("pull request #{number} does not add or change `{path}`")]
    FileNotInPull { number: u64, path: String },
    #[error(
        "pull request #{number} targets `{base_ref}`, not the default branch `{default_branch}`: \
         only a pull request into the default branch is reviewed under its CODEOWNERS and config"
    )]
    BaseNotDefaultBranch {
        number: u64,
        base_ref: String,
        default_branch: String,
    },
    #[error(
        "pull request #{number} changes files outside requests/ ({}): config, CODEOWNERS, \
         workflows and the ledger change in their own pull requests, reviewed by their owners",
        some_paths(paths)
    )]
    ChangesOutsideRequests { number: u64, paths: Vec<String> },
    #[error(
        "pull request #{number} changes {changed} files but GitHub lists only {listed}; cannot \
         check what it changes"
    )]
    TooManyFiles {
        number: u64,
        changed: u64,
        listed: usize,
    },
    #[error("pull request #{number} has no author GitHub can show")]
    NoAuthor { number: u64 },
    #[error(
        "pull request author @{author} is not in `identities` on the default branch, so cannot \
         request access for `{requester}`"
    )]
    AuthorNotBound { author: String, requester: String },
    #[error(
        "pull request author @{author} may request only for `{bound_to}` (identities on the \
         default branch), not for `{requester}`"
    )]
    RequesterMismatch {
        author: String,
        bound_to: String,
        requester: String,
    },
    #[error(
        "pull request #{number} was opened by @{author}, a bot (or an account not in `identities`), \
         and its request names no `issue:`: nobody it could be bound to asked for it"
    )]
    BotWithoutIssue { number: u64, author: String },
    #[error("cannot read issue #{issue} to see who asked for the request: {message}")]
    IssueNotReadable { issue: u64, message: String },
    #[error("`issue: {issue}` is a pull request, not an issue opened through the request form")]
    IssueIsPull { issue: u64 },
    #[error("issue #{issue} does not exist or has no author GitHub can show")]
    IssueNoAuthor { issue: u64 },
    #[error(
        "issue #{issue} was opened by @{opener}, who {} (identities on the default branch), not for `{requester}`",
        bound_to.as_deref().map(|b| format!("may request only for `{b}`")).unwrap_or_else(|| "is not in `identities`".into())
    )]
    IssueOpenerNotBound {
        issue: u64,
        opener: String,
        bound_to: Option<String>,
        requester: String,
    },
    #[error(
        "issue #{issue} was not opened before pull request #{number} (issue {}, pull request {}): the request must come from an issue that existed when the pull request was opened",
        opened.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "at an unknown time".into()),
        pulled.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "at an unknown time".into())
    )]
    IssueAfterPull {
        issue: u64,
        number: u64,
        opened: Option<DateTime<Utc>>,
        pulled: Option<DateTime<Utc>>,
    },
    #[error(
        "pull request #{number} has more commits than the {listed} GitHub lists; cannot check who \
         changed the request"
    )]
    TooManyCommits { number: u64, listed: usize },
    #[error(
        "commit {} on pull request #{number} changes `{path}` but is by {}, not the author @{author}",
        short(sha),
        committer.as_deref().map(|c| format!("@{c}")).unwrap_or_else(|| "an unknown account".into())
    )]
    ForeignCommit {
        number: u64,
        sha: String,
        committer: Option<String>,
        author: String,
        path: String,
    },
    #[error(
        "commit {} on pull request #{number} changes {listed} files or more, all GitHub will \
         list; cannot check whether it changes `{path}`",
        short(sha)
    )]
    CommitTooLarge {
        number: u64,
        sha: String,
        listed: usize,
        path: String,
    },
    #[error(
        "no CODEOWNERS on the default branch at {} (looked in .github/, the root and docs/)",
        short(base_sha)
    )]
    NoCodeowners { base_sha: String },
    #[error("`{path}` on the default branch has invalid lines GitHub would skip: {}", errors.join("; "))]
    CodeownersInvalid { path: String, errors: Vec<String> },
    #[error("`{request_path}` has no code owner in `{codeowners_path}` on the default branch")]
    NoOwner {
        request_path: String,
        codeowners_path: String,
    },
    #[error(
        "cannot read team @{team} to check @{login}: the token needs the organization permission \
         \"Members: read\" (a GitHub App token or a PAT with read:org; GITHUB_TOKEN cannot): {message}"
    )]
    TeamNotReadable {
        team: String,
        login: String,
        message: String,
    },
    #[error(
        "cannot read @{login}'s permission on the repository: the token needs \"Metadata: read\" \
         with access to this repository: {message}"
    )]
    PermissionNotReadable { login: String, message: String },
    #[error(
        "code owner @{login} requested changes on pull request #{number} and did not approve since"
    )]
    ChangesRequested { number: u64, login: String },
    /// A fact the rules need was not looked up: [`decide`] fails closed (only a bug in
    /// [`gather`], or facts built by hand, can get here).
    #[error("cannot verify approval: {what} was not read from GitHub")]
    Unread { what: String },
    #[error(
        "pull request #{number} has {} of {required} required code-owner approvals on its final \
         head {}{}",
        counted.len(),
        short(head_sha),
        explain(rejected)
    )]
    NotEnoughApprovals {
        number: u64,
        required: u32,
        head_sha: String,
        counted: Vec<String>,
        rejected: Vec<(String, NotCounted)>,
    },
}

impl Refusal {
    /// The diagnostic the PR check reports this refusal under.
    pub fn diagnostic_code(&self) -> crate::diag::Code {
        use crate::diag::Code;
        match self {
            Refusal::AuthorNotBound { .. }
            | Refusal::RequesterMismatch { .. }
            | Refusal::BotWithoutIssue { .. }
            | Refusal::IssueIsPull { .. }
            | Refusal::IssueNoAuthor { .. }
            | Refusal::IssueOpenerNotBound { .. }
            | Refusal::IssueAfterPull { .. } => Code::RequesterNotBound,
            Refusal::NoCodeowners { .. }
            | Refusal::CodeownersInvalid { .. }
            | Refusal::NoOwner { .. } => Code::NoCodeOwner,
            Refusal::ForeignCommit { .. }
            | Refusal::TooManyCommits { .. }
            | Refusal::CommitTooLarge { .. } => Code::ForeignCommit,
            Refusal::ChangesOutsideRequests { .. } => Code::ChangesOutsideRequests,
            _ => Code::GithubCheckFailed,
        }
    }

    /// The stable name of the rule that refused (kebab-case; never renamed or reused).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Github(_) => "github-unavailable",
            Refusal::NoPullRequest { .. } => "no-pull-request",
            Refusal::NotMerged { .. } => "not-merged",
            Refusal::AmbiguousPullRequest { .. } => "ambiguous-pull-request",
            Refusal::FileNotInPull { .. } => "file-not-in-pull",
            Refusal::BaseNotDefaultBranch { .. } => "base-not-default-branch",
            Refusal::ChangesOutsideRequests { .. } => "changes-outside-requests",
            Refusal::TooManyFiles { .. } => "too-many-files",
            Refusal::NoAuthor { .. } => "no-author",
            Refusal::AuthorNotBound { .. } => "author-not-bound",
            Refusal::RequesterMismatch { .. } => "requester-mismatch",
            Refusal::BotWithoutIssue { .. } => "bot-without-issue",
            Refusal::IssueNotReadable { .. } => "issue-not-readable",
            Refusal::IssueIsPull { .. } => "issue-is-pull-request",
            Refusal::IssueNoAuthor { .. } => "issue-no-author",
            Refusal::IssueOpenerNotBound { .. } => "issue-opener-not-bound",
            Refusal::IssueAfterPull { .. } => "issue-after-pull-request",
            Refusal::TooManyCommits { .. } => "too-many-commits",
            Refusal::ForeignCommit { .. } => "foreign-commit",
            Refusal::CommitTooLarge { .. } => "commit-too-large",
            Refusal::NoCodeowners { .. } => "no-codeowners",
            Refusal::CodeownersInvalid { .. } => "codeowners-invalid",
            Refusal::NoOwner { .. } => "no-owner",
            Refusal::TeamNotReadable { .. } => "team-not-readable",
            Refusal::PermissionNotReadable { .. } => "permission-not-readable",
            Refusal::ChangesRequested { .. } => "changes-requested",
            Refusal::Unread { .. } => "unread",
            Refusal::NotEnoughApprovals { .. } => "not-enough-approvals",
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn list(numbers: &[u64]) -> String {
    numbers
        .iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn explain(rejected: &[(String, NotCounted)]) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = rejected
        .iter()
        .map(|(login, why)| format!("@{login} {why}"))
        .collect();
    format!(": {}", parts.join("; "))
}

/// A pull request under the trusted base: the author, whom they may request for, and who owns
/// what. Also usable before merge (`kv-jit validate --pr N`).
#[derive(Debug, Clone)]
pub struct PrContext {
    pub number: u64,
    pub author: String,
    pub head_sha: String,
    /// Where the trusted identities and CODEOWNERS were read ([`TrustedBase::sha`]).
    pub base_sha: String,
    /// How many commits GitHub says the branch has.
    pub commit_count: Option<u64>,
    /// When the pull request was opened.
    pub created_at: Option<DateTime<Utc>>,
    /// GitHub login -> UPN, from the trusted config.
    pub identities: BTreeMap<String, String>,
    /// The trusted CODEOWNERS file, with its path.
    pub codeowners: Option<(String, Codeowners)>,
}
