//! Every approval rule, as pure functions of plain facts: [`decide`] reads no clock, no network
//! and no file, so each attack is one row of a table (`tests.rs` next to this file).
//!
//! The facts come in two kinds. The pull request and its three lists (files, commits, reviews)
//! are read whole by [`super::gather`]: every verification needs them. The lookups (the paths
//! of one commit, a reviewer's membership of one team, a team's access, a reviewer's permission)
//! are made only where a rule asks for one: the rules run in order and stop at the first fact
//! they lack ([`Stop::Need`]), the shell reads that one fact and runs them again. So a lookup is
//! made for exactly the commits not by the author and the reviewers whose latest review could
//! count or is CHANGES_REQUESTED, never more, and a refused pull request costs no lookup past the
//! one that found the refusal. [`decide`] itself never asks: a fact it lacks fails closed
//! ([`Refusal::Unread`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use super::{
    Approval, ApprovalInput, Approver, NotCounted, PrContext, REQUESTS_DIR, Refusal, TrustedBase,
};
use crate::github::codeowners::{Owner, Ownership};
use crate::github::{
    CommitPaths, PullCommit, PullFile, PullRequest, Review, TeamMembership, TeamRepoPermissions,
};

/// The merged pull request, as GitHub shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFacts {
    pub number: u64,
    pub html_url: Option<String>,
    /// `None` when GitHub shows no account.
    pub author: Option<String>,
    /// The branch it was merged into.
    pub base_ref: String,
    /// The final head commit.
    pub head_sha: String,
    pub merged: bool,
    pub merged_at: Option<DateTime<Utc>>,
    pub merge_commit_sha: Option<String>,
    /// How many commits and files GitHub says it has, to tell whether its lists are whole.
    pub commit_count: Option<u64>,
    pub changed_files: Option<u64>,
    /// When it was opened (a bot's pull request must come after the issue it carries).
    pub created_at: Option<DateTime<Utc>>,
}

impl From<&PullRequest> for PullFacts {
    fn from(pull: &PullRequest) -> PullFacts {
        PullFacts {
            number: pull.number,
            html_url: pull.html_url.clone(),
            author: pull.user.as_ref().map(|u| u.login.clone()),
            base_ref: pull.base.ref_name.clone(),
            head_sha: pull.head.sha.clone(),
            merged: pull.is_merged(),
            merged_at: pull.merged_at,
            merge_commit_sha: pull.merge_commit_sha.clone(),
            commit_count: pull.commits,
            changed_files: pull.changed_files,
            created_at: pull.created_at,
        }
    }
}

/// A commit on the pull request's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFacts {
    pub sha: String,
    /// The account GitHub attributes the commit's author e-mail to; `None` when none.
    pub author: Option<String>,
}

impl From<PullCommit> for CommitFacts {
    fn from(commit: PullCommit) -> CommitFacts {
        CommitFacts {
            sha: commit.sha,
            author: commit.author.map(|u| u.login),
        }
    }
}

/// A review's state. GitHub may add states: an unknown one is kept and, like COMMENTED and
/// PENDING, carries no opinion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
    Other(String),
}

impl ReviewState {
    pub fn parse(state: &str) -> ReviewState {
        match state {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "COMMENTED" => ReviewState::Commented,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            other => ReviewState::Other(other.to_owned()),
        }
    }

    /// Whether it replaces the reviewer's earlier opinion: a comment changes nothing.
    pub fn is_opinion(&self) -> bool {
        matches!(
            self,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        )
    }
}

/// One review, in the order GitHub lists them (chronological).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFacts {
    pub login: String,
    pub id: u64,
    pub state: ReviewState,
    /// The commit it was given on; `None` when GitHub no longer has it.
    pub commit_id: Option<String>,
}

impl ReviewFacts {
    /// `None` for a review GitHub shows without an account: there is nobody to count or refuse.
    pub fn from_github(review: Review) -> Option<ReviewFacts> {
        Some(ReviewFacts {
            login: review.user?.login,
            id: review.id,
            state: ReviewState::parse(&review.state),
            commit_id: review.commit_id,
        })
    }
}

/// A lookup's answer, or the message of GitHub refusing it to this token (401 or 403, and 404
/// for a team), kept so the refusal can say what permission is missing.
pub type Readable<T> = Result<T, String>;

/// What was looked up about one reviewer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewerFacts {
    /// Membership of owning teams, by `org/slug`.
    pub teams: BTreeMap<String, Readable<TeamMembership>>,
    /// The repository permission (`admin`, `maintain`, `write`, `triage`, `read`, `none`).
    pub permission: Option<Readable<String>>,
}

/// Everything [`decide`] judges: what GitHub says about the merged pull request.
#[derive(Debug, Clone)]
pub struct ApprovalFacts {
    pub pull: PullFacts,
    /// Every file it changes, with status and a rename's previous name.
    pub files: Vec<PullFile>,
    pub commits: Vec<CommitFacts>,
    pub reviews: Vec<ReviewFacts>,
    /// The paths each commit not by the author changes, by sha.
    pub commit_paths: BTreeMap<String, CommitPaths>,
    /// By login as the reviewer's latest review spells it (found ignoring case).
    pub reviewers: BTreeMap<String, ReviewerFacts>,
    /// Each owning team's access to the repository, by `org/slug`; `None` is no access.
    pub team_access: BTreeMap<String, Readable<Option<TeamRepoPermissions>>>,
    /// The issue the request names (`issue: N`), looked up only for a bot's pull request.
    pub issue: Option<Readable<IssueOpener>>,
}

/// Who opened an issue, and when, as GitHub shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOpener {
    pub number: u64,
    /// `None` when GitHub shows no account.
    pub author: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// The issues API shows pull requests too: one is never a request's issue.
    pub is_pull: bool,
}

impl ApprovalFacts {
    /// The facts of a pull request whose lookups are still to be made.
    pub fn new(
        pull: PullFacts,
        files: Vec<PullFile>,
        commits: Vec<CommitFacts>,
        reviews: Vec<ReviewFacts>,
    ) -> ApprovalFacts {
        ApprovalFacts {
            pull,
            files,
            commits,
            reviews,
            commit_paths: BTreeMap::new(),
            reviewers: BTreeMap::new(),
            team_access: BTreeMap::new(),
            issue: None,
        }
    }

    /// What was looked up about `login` (logins compare case-insensitively).
    pub fn reviewer(&self, login: &str) -> Option<&ReviewerFacts> {
        find(&self.reviewers, login)
    }

    /// The entry for `login`, made when missing.
    pub fn reviewer_mut(&mut self, login: &str) -> &mut ReviewerFacts {
        let key = self
            .reviewers
            .keys()
            .find(|k| k.eq_ignore_ascii_case(login))
            .cloned()
            .unwrap_or_else(|| login.to_owned());
        self.reviewers.entry(key).or_default()
    }
}

fn find<'a, T>(map: &'a BTreeMap<String, T>, key: &str) -> Option<&'a T> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// A fact a rule needs and the facts do not hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    CommitPaths {
        sha: String,
    },
    Membership {
        org: String,
        slug: String,
        login: String,
    },
    TeamAccess {
        org: String,
        slug: String,
    },
    Permission {
        login: String,
    },
    Issue {
        number: u64,
    },
}

impl Need {
    /// The refusal when the fact is still missing where it must be known.
    pub fn unread(&self) -> Refusal {
        Refusal::Unread {
            what: self.to_string(),
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::CommitPaths { sha } => {
                write!(f, "the paths commit {} changes", super::short(sha))
            }
            Need::Membership { org, slug, login } => {
                write!(f, "@{login}'s membership of team @{org}/{slug}")
            }
            Need::TeamAccess { org, slug } => {
                write!(f, "team @{org}/{slug}'s access to the repository")
            }
            Need::Permission { login } => write!(f, "@{login}'s permission on the repository"),
            Need::Issue { number } => write!(f, "who opened issue #{number}"),
        }
    }
}

/// Why the rules stopped: a refusal, or a fact they need first.
#[derive(Debug)]
pub enum Stop {
    Refused(Refusal),
    Need(Need),
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Stop {
        Stop::Refused(refusal)
    }
}

/// Judges the facts by every rule of the [`super`] module docs. The first rule broken is the
/// refusal, in this order: merged; base is the default branch; GitHub lists every file; nothing
/// outside `requests/`; the request file is in the pull; requester binding; no foreign commit
/// touches the file; CODEOWNERS owns it; no owner's outstanding CHANGES_REQUESTED; enough
/// approvals. A fact that should have been looked up and was not fails closed.
pub fn decide(
    facts: &ApprovalFacts,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<Approval, Refusal> {
    judge(facts, input, base).map_err(|stop| match stop {
        Stop::Refused(refusal) => refusal,
        Stop::Need(need) => need.unread(),
    })
}

/// [`decide`], telling a missing fact apart so the shell can look it up.
pub fn judge(
    facts: &ApprovalFacts,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<Approval, Stop> {
    let pull = &facts.pull;
    let number = pull.number;
    if !pull.merged {
        return Err(Refusal::NotMerged {
            numbers: vec![number],
        }
        .into());
    }
    let context = context_for(pull, base)?;

    // GitHub lists at most 3000 files: what it does not list cannot be checked, and without
    // the count nobody can tell whether the list is whole (fail closed).
    match pull.changed_files {
        None => {
            return Err(Refusal::Unread {
                what: format!("how many files pull request #{number} changes"),
            }
            .into());
        }
        Some(changed) if changed > facts.files.len() as u64 => {
            return Err(Refusal::TooManyFiles {
                number,
                changed,
                listed: facts.files.len(),
            }
            .into());
        }
        Some(_) => {}
    }
    let outside = files_outside_requests(&facts.files);
    if !outside.is_empty() {
        return Err(Refusal::ChangesOutsideRequests {
            number,
            paths: outside,
        }
        .into());
    }
    if !facts
        .files
        .iter()
        .any(|f| f.filename == input.request_path && f.status != "removed")
    {
        return Err(Refusal::FileNotInPull {
            number,
            path: input.request_path.into(),
        }
        .into());
    }

    // Who asked: the author (bound through identities), or for a bot's pull request the
    // person who opened the issue it carries.
    let requested_by = context.bind(
        input.requester,
        input.issue,
        facts.issue.as_ref(),
        facts.pull.created_at,
    )?;
    check_commits(
        &context,
        &facts.commits,
        &facts.commit_paths,
        input.request_path,
    )?;
    let (codeowners_path, codeowners_line, owners) = context.owners_of(input.request_path)?;

    let required = input.approvals_required.max(1);
    let mut approvers: Vec<Approver> = Vec::new();
    let mut rejected: Vec<(String, NotCounted)> = Vec::new();
    for review in latest_opinions(&facts.reviews) {
        let login = &review.login;
        match review.state {
            ReviewState::Approved | ReviewState::Dismissed => {}
            ReviewState::ChangesRequested => {
                if let OwnerMatch::Owner(_) = owner_match(facts, &owners, login)? {
                    return Err(Refusal::ChangesRequested {
                        number,
                        login: login.clone(),
                    }
                    .into());
                }
                continue;
            }
            // Not an opinion (`latest_opinions` keeps none of these): never an approval.
            _ => continue,
        }
        // Cheap checks first, so a refusal names the plainest reason (and costs no lookup).
        let why = if login.eq_ignore_ascii_case(&context.author)
            || login.eq_ignore_ascii_case(&requested_by)
        {
            Some(NotCounted::SelfApproval)
        } else if upn_of(&context.identities, login)
            .is_some_and(|upn| upn.eq_ignore_ascii_case(input.requester))
        {
            Some(NotCounted::Requester)
        } else if review.state == ReviewState::Dismissed {
            Some(NotCounted::Dismissed)
        } else if review.commit_id.as_deref() != Some(pull.head_sha.as_str()) {
            Some(NotCounted::StaleCommit {
                commit_id: review.commit_id.clone(),
            })
        } else {
            None
        };
        if let Some(why) = why {
            rejected.push((login.clone(), why));
            continue;
        }
        let as_owner = match owner_match(facts, &owners, login)? {
            OwnerMatch::Owner(owner) => owner,
            OwnerMatch::TeamWithoutWriteAccess { team, role } => {
                rejected.push((
                    login.clone(),
                    NotCounted::TeamWithoutWriteAccess { team, role },
                ));
                continue;
            }
            OwnerMatch::NotOwner => {
                rejected.push((login.clone(), NotCounted::NotOwner));
                continue;
            }
        };
        let permission = match facts.reviewer(login).and_then(|r| r.permission.as_ref()) {
            Some(Ok(permission)) => permission,
            Some(Err(message)) => {
                return Err(Refusal::PermissionNotReadable {
                    login: login.clone(),
                    message: message.clone(),
                }
                .into());
            }
            None => {
                return Err(Stop::Need(Need::Permission {
                    login: login.clone(),
                }));
            }
        };
        if !matches!(permission.as_str(), "admin" | "maintain" | "write") {
            rejected.push((
                login.clone(),
                NotCounted::NoWriteAccess {
                    permission: permission.clone(),
                },
            ));
            continue;
        }
        approvers.push(Approver {
            login: login.clone(),
            review_id: review.id,
            as_owner,
        });
    }

    if !input.break_glass && approvers.len() < required as usize {
        return Err(Refusal::NotEnoughApprovals {
            number,
            required,
            head_sha: pull.head_sha.clone(),
            counted: approvers.into_iter().map(|a| a.login).collect(),
            rejected,
        }
        .into());
    }
    Ok(Approval {
        pull_number: number,
        pull_url: pull.html_url.clone(),
        author: context.author,
        head_sha: pull.head_sha.clone(),
        base_sha: context.base_sha,
        merge_commit_sha: pull.merge_commit_sha.clone(),
        merged_at: pull.merged_at,
        codeowners_path,
        codeowners_line,
        approvers,
        owners: owners.iter().map(ToString::to_string).collect(),
        break_glass: input.break_glass,
        requested_by,
    })
}

/// Whether `login` is a bot for the requester binding: a GitHub App (`…[bot]`) or an account
/// `identities` does not know (a machine user).
pub fn is_bot(login: &str, identities: &BTreeMap<String, String>) -> bool {
    login.ends_with("[bot]") || upn_of(identities, login).is_none()
}

impl PrContext {
    /// The login the request is bound to. A person's pull request: its author, who must map to the
    /// requester (`issue:` changes nothing: it cannot borrow someone else's identity). A bot's pull
    /// request: only with `issue: N`, where issue N of this repository (not a pull request) was
    /// opened, before the pull request, by a login `identities` binds to the requester.
    pub fn bind(
        &self,
        requester: &str,
        issue: Option<u64>,
        opener: Option<&Readable<IssueOpener>>,
        pull_created_at: Option<DateTime<Utc>>,
    ) -> Result<String, Stop> {
        let context = self;
        let number = context.number;
        if !is_bot(&context.author, &context.identities) {
            context.check_requester(requester)?;
            return Ok(context.author.clone());
        }
        let Some(issue) = issue else {
            if !context.author.ends_with("[bot]") {
                // An account identities does not know, without an issue: as before, not bound.
                context.check_requester(requester)?;
            }
            return Err(Refusal::BotWithoutIssue {
                number,
                author: context.author.clone(),
            }
            .into());
        };
        let opener = match opener {
            None => return Err(Stop::Need(Need::Issue { number: issue })),
            Some(Err(message)) => {
                return Err(Refusal::IssueNotReadable {
                    issue,
                    message: message.clone(),
                }
                .into());
            }
            Some(Ok(opener)) if opener.number != issue => {
                return Err(Need::Issue { number: issue }.unread().into());
            }
            Some(Ok(opener)) => opener,
        };
        if opener.is_pull {
            return Err(Refusal::IssueIsPull { issue }.into());
        }
        let Some(author) = opener.author.clone() else {
            return Err(Refusal::IssueNoAuthor { issue }.into());
        };
        match upn_of(&context.identities, &author) {
            Some(upn) if upn.eq_ignore_ascii_case(requester) => {}
            bound => {
                return Err(Refusal::IssueOpenerNotBound {
                    issue,
                    opener: author,
                    bound_to: bound.map(str::to_owned),
                    requester: requester.into(),
                }
                .into());
            }
        }
        match (opener.created_at, pull_created_at) {
            (Some(opened), Some(pulled)) if opened < pulled => Ok(author),
            (opened, pulled) => Err(Refusal::IssueAfterPull {
                issue,
                number,
                opened,
                pulled,
            }
            .into()),
        }
    }
}

/// Which of the pull requests GitHub associates with `commit` brought it: the one merged, or
/// among several merged the one whose merge commit it is.
pub fn choose_pull(associated: &[PullRequest], commit: &str) -> Result<u64, Refusal> {
    if associated.is_empty() {
        return Err(Refusal::NoPullRequest {
            commit: commit.into(),
        });
    }
    let merged: Vec<&PullRequest> = associated.iter().filter(|p| p.is_merged()).collect();
    match merged.as_slice() {
        [] => Err(Refusal::NotMerged {
            numbers: associated.iter().map(|p| p.number).collect(),
        }),
        [one] => Ok(one.number),
        many => many
            .iter()
            .find(|p| p.merge_commit_sha.as_deref() == Some(commit))
            .map(|p| p.number)
            .ok_or_else(|| Refusal::AmbiguousPullRequest {
                commit: commit.into(),
                numbers: many.iter().map(|p| p.number).collect(),
            }),
    }
}

/// The pull request under the trusted base; refuses one into any branch but the default one.
pub fn context_for(pull: &PullFacts, base: &TrustedBase) -> Result<PrContext, Refusal> {
    let number = pull.number;
    if pull.base_ref != base.default_branch {
        return Err(Refusal::BaseNotDefaultBranch {
            number,
            base_ref: pull.base_ref.clone(),
            default_branch: base.default_branch.clone(),
        });
    }
    let author = pull.author.clone().ok_or(Refusal::NoAuthor { number })?;
    Ok(PrContext {
        number,
        author,
        head_sha: pull.head_sha.clone(),
        base_sha: base.sha.clone(),
        commit_count: pull.commit_count,
        created_at: pull.created_at,
        identities: base.identities.clone(),
        codeowners: base.codeowners.clone(),
    })
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

/// Refuses when a commit on the pull request that changes `path` is not attributed to the
/// author. Attribution is GitHub's (commit e-mail to account); no attribution counts as someone
/// else. Needs the paths of every commit not by the author, up to the first that refuses.
pub fn check_commits(
    context: &PrContext,
    commits: &[CommitFacts],
    paths: &BTreeMap<String, CommitPaths>,
    path: &str,
) -> Result<(), Stop> {
    // GitHub lists at most 250 commits; the unseen ones cannot be checked, and without the
    // count nobody can tell whether the list is whole (fail closed).
    match context.commit_count {
        None => {
            return Err(Refusal::Unread {
                what: format!("how many commits pull request #{} has", context.number),
            }
            .into());
        }
        Some(count) if count > commits.len() as u64 => {
            return Err(Refusal::TooManyCommits {
                number: context.number,
                listed: commits.len(),
            }
            .into());
        }
        Some(_) => {}
    }
    for commit in commits {
        let by = commit.author.as_deref();
        if by.is_some_and(|login| login.eq_ignore_ascii_case(&context.author)) {
            continue;
        }
        let Some(listed) = paths.get(&commit.sha) else {
            return Err(Stop::Need(Need::CommitPaths {
                sha: commit.sha.clone(),
            }));
        };
        if listed.maybe_truncated() {
            return Err(Refusal::CommitTooLarge {
                number: context.number,
                sha: commit.sha.clone(),
                listed: listed.files_listed,
                path: path.into(),
            }
            .into());
        }
        if listed.paths.iter().any(|p| p == path) {
            return Err(Refusal::ForeignCommit {
                number: context.number,
                sha: commit.sha.clone(),
                committer: by.map(str::to_owned),
                author: context.author.clone(),
                path: path.into(),
            }
            .into());
        }
    }
    Ok(())
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

/// The latest opinionated review (APPROVED, CHANGES_REQUESTED, DISMISSED) of each reviewer,
/// logins compared case-insensitively, in the order of those reviews; a later COMMENTED changes
/// nothing.
fn latest_opinions(reviews: &[ReviewFacts]) -> Vec<&ReviewFacts> {
    let mut latest: Vec<&ReviewFacts> = Vec::new();
    for review in reviews.iter().filter(|r| r.state.is_opinion()) {
        latest.retain(|r| !r.login.eq_ignore_ascii_case(&review.login));
        latest.push(review);
    }
    latest
}

/// The UPN a login may request for; logins compare case-insensitively.
pub fn upn_of<'a>(identities: &'a BTreeMap<String, String>, login: &str) -> Option<&'a str> {
    find(identities, login).map(String::as_str)
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

/// Which owner entry makes `login` an owner: a user entry first, then, in file order, active
/// membership of a team that has write access to the repository (GitHub ignores a CODEOWNERS
/// team without it). A team the token cannot read fails closed. E-mail owners never match:
/// mapping an address to an account needs an API GitHub does not offer reliably.
fn owner_match(facts: &ApprovalFacts, owners: &[Owner], login: &str) -> Result<OwnerMatch, Stop> {
    if let Some(owner) = owners
        .iter()
        .find(|o| matches!(o, Owner::User(u) if u.eq_ignore_ascii_case(login)))
    {
        return Ok(OwnerMatch::Owner(owner.to_string()));
    }
    let reviewer = facts.reviewer(login);
    let mut without_write: Option<(String, String)> = None;
    for owner in owners {
        let Owner::Team { org, slug } = owner else {
            continue;
        };
        let team = format!("{org}/{slug}");
        let not_readable = |message: &str| Refusal::TeamNotReadable {
            team: team.clone(),
            login: login.into(),
            message: message.into(),
        };
        match reviewer.and_then(|r| find(&r.teams, &team)) {
            Some(Ok(TeamMembership::Active)) => {}
            Some(Ok(TeamMembership::Pending | TeamMembership::NotMember)) => continue,
            Some(Err(message)) => return Err(not_readable(message).into()),
            None => {
                return Err(Stop::Need(Need::Membership {
                    org: org.clone(),
                    slug: slug.clone(),
                    login: login.into(),
                }));
            }
        }
        let role = match find(&facts.team_access, &team) {
            Some(Ok(Some(p))) if p.can_write() => return Ok(OwnerMatch::Owner(owner.to_string())),
            Some(Ok(Some(p))) => p.role().to_owned(),
            Some(Ok(None)) => "no access".to_owned(),
            Some(Err(message)) => return Err(not_readable(message).into()),
            None => {
                return Err(Stop::Need(Need::TeamAccess {
                    org: org.clone(),
                    slug: slug.clone(),
                }));
            }
        };
        without_write.get_or_insert((team, role));
    }
    Ok(match without_write {
        Some((team, role)) => OwnerMatch::TeamWithoutWriteAccess { team, role },
        None => OwnerMatch::NotOwner,
    })
}
