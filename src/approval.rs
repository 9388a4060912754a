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
//!    ledger change in their own pull requests, reviewed by their owners; this is also what keeps
//!    a rebase-merged pull request's earlier commits out of the first parent the grant trusts);
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

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::github::client::{
    GithubClient, GithubError, PullFile, PullRequest, Repo, TeamMembership,
};
use crate::github::codeowners::{self, Codeowners, Owner, Ownership};

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

/// Every path of `files` outside `requests/`, in order, each once; a rename's previous name
/// counts too (moving a file out of, or into, `requests/` changes both places). A path that is
/// not plainly below `requests/` (`..`, `.` or empty segments) counts as outside.
pub fn files_outside_requests(files: &[PullFile]) -> Vec<String> {
    let inside = |path: &str| {
        path.strip_prefix(REQUESTS_DIR).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .split('/')
                    .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        })
    };
    let mut out: Vec<String> = Vec::new();
    for file in files {
        for path in std::iter::once(&file.filename).chain(file.previous_filename.as_ref()) {
            if !inside(path) && !out.contains(path) {
                out.push(path.clone());
            }
        }
    }
    out
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
    /// The vault's `approvals: N` (at least 1 is enforced).
    pub approvals_required: u32,
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
    Github(#[from] GithubError),
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

/// CODEOWNERS as GitHub would pick it at `git_ref` (the same order as [`codeowners::pick`]),
/// through the contents API: the PR check reads it at the default branch's tip.
pub async fn load_codeowners(
    client: &GithubClient,
    repo: &Repo,
    git_ref: &str,
) -> Result<Option<(String, Codeowners)>, GithubError> {
    for path in codeowners::LOCATIONS {
        if let Some(text) = client.file_text(repo, path, git_ref).await? {
            return Ok(Some((path.to_owned(), Codeowners::parse(&text))));
        }
    }
    Ok(None)
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
    /// GitHub login -> UPN, from the trusted config.
    pub identities: BTreeMap<String, String>,
    /// The trusted CODEOWNERS file, with its path.
    pub codeowners: Option<(String, Codeowners)>,
}

impl PrContext {
    /// The requester binding: the author's identity on the base must be `requester`.
    pub fn check_requester(&self, requester: &str) -> Result<(), Refusal> {
        let bound_to =
            upn_of(&self.identities, &self.author).ok_or_else(|| Refusal::AuthorNotBound {
                author: self.author.clone(),
                requester: requester.into(),
            })?;
        if bound_to.eq_ignore_ascii_case(requester) {
            Ok(())
        } else {
            Err(Refusal::RequesterMismatch {
                author: self.author.clone(),
                bound_to: bound_to.into(),
                requester: requester.into(),
            })
        }
    }

    /// The owners of `path` and the CODEOWNERS line naming them; refuses when there is no
    /// CODEOWNERS, it has invalid lines, or nobody owns the path.
    pub fn owners_of(&self, path: &str) -> Result<(String, usize, Vec<Owner>), Refusal> {
        let (codeowners_path, file) =
            self.codeowners
                .as_ref()
                .ok_or_else(|| Refusal::NoCodeowners {
                    base_sha: self.base_sha.clone(),
                })?;
        if !file.errors().is_empty() {
            return Err(Refusal::CodeownersInvalid {
                path: codeowners_path.clone(),
                errors: file.errors().iter().map(ToString::to_string).collect(),
            });
        }
        match file.ownership(path) {
            Ownership::Owned { line, owners } => {
                Ok((codeowners_path.clone(), line, owners.to_vec()))
            }
            _ => Err(Refusal::NoOwner {
                request_path: path.into(),
                codeowners_path: codeowners_path.clone(),
            }),
        }
    }
}

/// Reads [`PrContext`] for pull request `number`; refuses a pull request into any branch but
/// the default one.
pub async fn pr_context(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
    base: &TrustedBase,
) -> Result<PrContext, Refusal> {
    let pull = client.pull(repo, number).await?;
    context_for(&pull, base)
}

fn context_for(pull: &PullRequest, base: &TrustedBase) -> Result<PrContext, Refusal> {
    let number = pull.number;
    if pull.base.ref_name != base.default_branch {
        return Err(Refusal::BaseNotDefaultBranch {
            number,
            base_ref: pull.base.ref_name.clone(),
            default_branch: base.default_branch.clone(),
        });
    }
    let author = pull
        .user
        .as_ref()
        .map(|u| u.login.clone())
        .ok_or(Refusal::NoAuthor { number })?;
    Ok(PrContext {
        number,
        author,
        head_sha: pull.head.sha.clone(),
        base_sha: base.sha.clone(),
        commit_count: pull.commits,
        identities: base.identities.clone(),
        codeowners: base.codeowners.clone(),
    })
}

/// Refuses when a commit on the pull request that changes `path` is not attributed to the
/// author. Attribution is GitHub's (commit e-mail to account); no attribution counts as someone
/// else.
pub async fn check_commit_authors(
    client: &GithubClient,
    repo: &Repo,
    context: &PrContext,
    path: &str,
) -> Result<(), Refusal> {
    let commits = client.pull_commits(repo, context.number).await?;
    // GitHub lists at most 250 commits; the unseen ones cannot be checked.
    if context
        .commit_count
        .is_some_and(|count| count > commits.len() as u64)
    {
        return Err(Refusal::TooManyCommits {
            number: context.number,
            listed: commits.len(),
        });
    }
    for commit in commits {
        let by = commit.author.as_ref().map(|u| u.login.as_str());
        if by.is_some_and(|login| login.eq_ignore_ascii_case(&context.author)) {
            continue;
        }
        let listed = client.commit_paths(repo, &commit.sha).await?;
        if listed.maybe_truncated() {
            return Err(Refusal::CommitTooLarge {
                number: context.number,
                sha: commit.sha,
                listed: listed.files_listed,
                path: path.into(),
            });
        }
        if listed.paths.iter().any(|p| p == path) {
            return Err(Refusal::ForeignCommit {
                number: context.number,
                sha: commit.sha,
                committer: by.map(str::to_owned),
                author: context.author.clone(),
                path: path.into(),
            });
        }
    }
    Ok(())
}

/// Verifies that the request at `input.request_path` was approved; see the module docs.
pub async fn verify(
    client: &GithubClient,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<Approval, Refusal> {
    let repo = input.repo;
    let pull = find_merged_pull(client, repo, input.commit).await?;
    let number = pull.number;
    let context = context_for(&pull, base)?;

    let files = client.pull_files(repo, number).await?;
    // GitHub lists at most 3000 files: what it does not list cannot be checked.
    if let Some(changed) = pull.changed_files.filter(|&n| n > files.len() as u64) {
        return Err(Refusal::TooManyFiles {
            number,
            changed,
            listed: files.len(),
        });
    }
    let outside = files_outside_requests(&files);
    if !outside.is_empty() {
        return Err(Refusal::ChangesOutsideRequests {
            number,
            paths: outside,
        });
    }
    if !files
        .iter()
        .any(|f| f.filename == input.request_path && f.status != "removed")
    {
        return Err(Refusal::FileNotInPull {
            number,
            path: input.request_path.into(),
        });
    }

    context.check_requester(input.requester)?;
    check_commit_authors(client, repo, &context, input.request_path).await?;
    let (codeowners_path, owners_line, owners) = context.owners_of(input.request_path)?;
    let PrContext {
        author,
        base_sha,
        identities,
        ..
    } = context;

    // Latest opinionated review per reviewer, in order of their latest review.
    let mut latest: Vec<(String, u64, String, Option<String>)> = Vec::new();
    for review in client.reviews(repo, number).await? {
        let Some(user) = review.user else { continue };
        if !matches!(
            review.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        ) {
            continue;
        }
        latest.retain(|(login, ..)| !login.eq_ignore_ascii_case(&user.login));
        latest.push((user.login, review.id, review.state, review.commit_id));
    }

    let head_sha = pull.head.sha.clone();
    let required = input.approvals_required.max(1);
    let mut approvers: Vec<Approver> = Vec::new();
    let mut rejected: Vec<(String, NotCounted)> = Vec::new();
    for (login, review_id, state, commit_id) in latest {
        if state == "CHANGES_REQUESTED" {
            if let OwnerMatch::Owner(_) = owner_match(client, repo, &owners, &login).await? {
                return Err(Refusal::ChangesRequested { number, login });
            }
            continue;
        }
        // Cheap checks first, so a refusal names the plainest reason.
        let why = if login.eq_ignore_ascii_case(&author) {
            Some(NotCounted::SelfApproval)
        } else if upn_of(&identities, &login)
            .is_some_and(|upn| upn.eq_ignore_ascii_case(input.requester))
        {
            Some(NotCounted::Requester)
        } else if state == "DISMISSED" {
            Some(NotCounted::Dismissed)
        } else if commit_id.as_deref() != Some(head_sha.as_str()) {
            Some(NotCounted::StaleCommit { commit_id })
        } else {
            None
        };
        if let Some(why) = why {
            rejected.push((login, why));
            continue;
        }
        let as_owner = match owner_match(client, repo, &owners, &login).await? {
            OwnerMatch::Owner(owner) => owner,
            OwnerMatch::TeamWithoutWriteAccess { team, role } => {
                rejected.push((login, NotCounted::TeamWithoutWriteAccess { team, role }));
                continue;
            }
            OwnerMatch::NotOwner => {
                rejected.push((login, NotCounted::NotOwner));
                continue;
            }
        };
        let permission = client
            .collaborator_permission(repo, &login)
            .await
            .map_err(|e| match e.status() {
                Some(401 | 403) => Refusal::PermissionNotReadable {
                    login: login.clone(),
                    message: e.to_string(),
                },
                _ => Refusal::Github(e),
            })?;
        if !matches!(permission.as_str(), "admin" | "maintain" | "write") {
            rejected.push((login, NotCounted::NoWriteAccess { permission }));
            continue;
        }
        approvers.push(Approver {
            login,
            review_id,
            as_owner,
        });
    }

    if approvers.len() < required as usize {
        return Err(Refusal::NotEnoughApprovals {
            number,
            required,
            head_sha,
            counted: approvers.into_iter().map(|a| a.login).collect(),
            rejected,
        });
    }
    Ok(Approval {
        pull_number: number,
        pull_url: pull.html_url,
        author,
        head_sha,
        base_sha,
        merge_commit_sha: pull.merge_commit_sha,
        merged_at: pull.merged_at,
        codeowners_path,
        codeowners_line: owners_line,
        approvers,
    })
}

/// The merged pull request that brought `commit`.
async fn find_merged_pull(
    client: &GithubClient,
    repo: &Repo,
    commit: &str,
) -> Result<PullRequest, Refusal> {
    let associated = client.pulls_for_commit(repo, commit).await?;
    if associated.is_empty() {
        return Err(Refusal::NoPullRequest {
            commit: commit.into(),
        });
    }
    let merged: Vec<&PullRequest> = associated.iter().filter(|p| p.is_merged()).collect();
    let chosen = match merged.as_slice() {
        [] => {
            return Err(Refusal::NotMerged {
                numbers: associated.iter().map(|p| p.number).collect(),
            });
        }
        [one] => *one,
        many => match many
            .iter()
            .find(|p| p.merge_commit_sha.as_deref() == Some(commit))
        {
            Some(p) => *p,
            None => {
                return Err(Refusal::AmbiguousPullRequest {
                    commit: commit.into(),
                    numbers: many.iter().map(|p| p.number).collect(),
                });
            }
        },
    };
    // The list form can lag or omit fields; the full pull request is authoritative.
    let pull = client.pull(repo, chosen.number).await?;
    if !pull.is_merged() {
        return Err(Refusal::NotMerged {
            numbers: vec![pull.number],
        });
    }
    Ok(pull)
}

/// The UPN a login may request for; logins compare case-insensitively.
fn upn_of<'a>(identities: &'a BTreeMap<String, String>, login: &str) -> Option<&'a str> {
    identities
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(login))
        .map(|(_, upn)| upn.as_str())
}

/// How `login` relates to a file's owners.
enum OwnerMatch {
    /// The owner entry (`@login` or `@org/team`) that makes them count.
    Owner(String),
    /// Only through teams without write access; the first such team and its role.
    TeamWithoutWriteAccess {
        team: String,
        role: String,
    },
    NotOwner,
}

/// Which owner entry makes `login` an owner: a user entry first, then active membership of a
/// team that has write access to the repository (GitHub ignores a CODEOWNERS team without it).
/// E-mail owners never match: mapping an address to an account needs an API GitHub does not
/// offer reliably, so they fail closed.
async fn owner_match(
    client: &GithubClient,
    repo: &Repo,
    owners: &[Owner],
    login: &str,
) -> Result<OwnerMatch, Refusal> {
    if let Some(owner) = owners
        .iter()
        .find(|o| matches!(o, Owner::User(u) if u.eq_ignore_ascii_case(login)))
    {
        return Ok(OwnerMatch::Owner(owner.to_string()));
    }
    let not_readable = |org: &str, slug: &str, e: GithubError| match e.status() {
        Some(401 | 403 | 404) => Refusal::TeamNotReadable {
            team: format!("{org}/{slug}"),
            login: login.into(),
            message: e.to_string(),
        },
        _ => Refusal::Github(e),
    };
    let mut without_write: Option<(String, String)> = None;
    for owner in owners {
        let Owner::Team { org, slug } = owner else {
            continue;
        };
        match client.team_membership(org, slug, login).await {
            Ok(TeamMembership::Active) => {}
            Ok(TeamMembership::Pending | TeamMembership::NotMember) => continue,
            Err(e) => return Err(not_readable(org, slug, e)),
        }
        // The team is visible (membership read it), so a 404 here means no access at all.
        let role = match client.team_repo_permissions(org, slug, repo).await {
            Ok(Some(p)) if p.can_write() => return Ok(OwnerMatch::Owner(owner.to_string())),
            Ok(Some(p)) => p.role().to_owned(),
            Ok(None) => "no access".to_owned(),
            Err(e) => return Err(not_readable(org, slug, e)),
        };
        without_write.get_or_insert((format!("{org}/{slug}"), role));
    }
    Ok(match without_write {
        Some((team, role)) => OwnerMatch::TeamWithoutWriteAccess { team, role },
        None => OwnerMatch::NotOwner,
    })
}
