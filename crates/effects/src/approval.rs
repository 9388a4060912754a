//! Approval through the GitHub API: [`gather`] reads the facts `kv_jit_core::approval::decide`
//! judges (see that module for the rules), [`verify`] is the two together.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kv_jit_core::approval::{
    self as rules, Approval, ApprovalFacts, ApprovalInput, CommitFacts, IssueOpener, Need,
    PrContext, PullFacts, Readable, Refusal, ReviewFacts, Stop, TrustedBase, decide,
};
use kv_jit_core::github::codeowners::{self, Codeowners};

use crate::github::client::{
    CommitPaths, GithubClient, GithubError, PullRequest, Repo, TeamMembership, TeamRepoPermissions,
};
use crate::memo::Memo;

/// What one run has read from GitHub, keyed by what cannot change under it: the pull requests
/// a commit brought (by commit SHA), a merged pull request's facts (by the merge commit: its
/// files, commits and reviews, read once for every request it brought), a commit's paths (by
/// SHA), and the lookups the rules ask for (a team's members and access, a login's permission,
/// an issue). Per run only: built empty by each run, never stored. The rules still judge every
/// request on its own ([`decide`] with its own input); only the reading is shared.
#[derive(Debug, Default)]
pub struct Cache {
    pulls_for_commit: Memo<String, Vec<PullRequest>>,
    facts: Memo<String, Arc<ApprovalFacts>>,
    commit_paths: Memo<String, CommitPaths>,
    memberships: Memo<(String, String, String), Readable<TeamMembership>>,
    team_access: Memo<(String, String), Readable<Option<TeamRepoPermissions>>>,
    permissions: Memo<String, Readable<String>>,
    issues: Memo<u64, Readable<IssueOpener>>,
}

impl Cache {
    /// Whether the facts of the pull request that brought `commit` were read.
    pub fn has_facts(&self, commit: &str) -> bool {
        self.facts.get(&commit.to_owned()).is_some()
    }

    /// The pull requests associated with `sha` (one request per commit for the run).
    pub async fn pulls_for_commit(
        &self,
        client: &GithubClient,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        self.pulls_for_commit
            .get_or_try(&sha.to_owned(), || client.pulls_for_commit(repo, sha))
            .await
    }
}

/// GitHub could not answer: the approval cannot be checked (not a refusal on the merits).
impl From<GithubError> for Refusal {
    fn from(e: GithubError) -> Refusal {
        Refusal::Github(e.to_string())
    }
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

/// Reads [`PrContext`] for pull request `number`; refuses a pull request into any branch but
/// the default one.
pub async fn pr_context(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
    base: &TrustedBase,
) -> Result<PrContext, Refusal> {
    let pull = client.pull(repo, number).await?;
    rules::context_for(&PullFacts::from(&pull), base)
}

/// Refuses when a commit on the pull request that changes `path` is not attributed to the
/// author ([`decide`]'s commit rule, for the PR check). Reads the paths of the commits not by
/// the author, up to the first that refuses.
pub async fn check_commit_authors(
    client: &GithubClient,
    repo: &Repo,
    context: &PrContext,
    path: &str,
) -> Result<(), Refusal> {
    let commits: Vec<CommitFacts> = client
        .pull_commits(repo, context.number)
        .await?
        .into_iter()
        .map(CommitFacts::from)
        .collect();
    let mut paths = BTreeMap::new();
    loop {
        match rules::check_commits(context, &commits, &paths, path) {
            Ok(()) => return Ok(()),
            Err(Stop::Refused(refusal)) => return Err(refusal),
            Err(Stop::Need(Need::CommitPaths { sha })) if !paths.contains_key(&sha) => {
                let listed = client.commit_paths(repo, &sha).await?;
                paths.insert(sha, listed);
            }
            Err(Stop::Need(need)) => return Err(need.unread()),
        }
    }
}

/// The requester binding before merge (the PR check): the author's own, or for a bot's pull
/// request the opener of the request's `issue:` ([`PrContext::bind`]), reading that issue.
pub async fn check_binding(
    client: &GithubClient,
    repo: &Repo,
    context: &PrContext,
    requester: &str,
    issue: Option<u64>,
) -> Result<(), Refusal> {
    let mut opener: Option<Readable<IssueOpener>> = None;
    loop {
        match context.bind(requester, issue, opener.as_ref(), context.created_at) {
            Ok(_) => return Ok(()),
            Err(Stop::Refused(refusal)) => return Err(refusal),
            Err(Stop::Need(Need::Issue { number })) if opener.is_none() => {
                let mut facts = ApprovalFacts::new(
                    PullFacts {
                        number: context.number,
                        html_url: None,
                        author: Some(context.author.clone()),
                        base_ref: String::new(),
                        head_sha: context.head_sha.clone(),
                        merged: false,
                        merged_at: None,
                        merge_commit_sha: None,
                        commit_count: context.commit_count,
                        changed_files: None,
                        created_at: context.created_at,
                    },
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                );
                look_up(client, repo, &mut facts, Need::Issue { number }).await?;
                opener = facts.issue;
            }
            Err(Stop::Need(need)) => return Err(need.unread()),
        }
    }
}

/// Verifies that the request at `input.request_path` was approved; see the module docs.
/// [`gather`], then [`decide`].
pub async fn verify(
    client: &GithubClient,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<Approval, Refusal> {
    verify_cached(client, &Cache::default(), input, base).await
}

/// [`verify`], reading through the run's `cache`.
pub async fn verify_cached(
    client: &GithubClient,
    cache: &Cache,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<Approval, Refusal> {
    let facts = gather_cached(client, cache, input, base).await?;
    decide(&facts, input, base)
}

/// Reads what [`decide`] judges: the merged pull request that brought `input.commit`, its files,
/// commits and reviews, then each lookup the rules ask for (see [`decide`]'s module), until they
/// ask for nothing more. Refuses only what GitHub itself answers: no or no single merged pull
/// request, or an error other than a token refused a team or permission (those are facts).
pub async fn gather(
    client: &GithubClient,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<ApprovalFacts, Refusal> {
    gather_cached(client, &Cache::default(), input, base).await
}

/// [`gather`] through the run's `cache`: the pull request's facts are read once per merge
/// commit (its files, commits and reviews at once), each lookup once per key.
pub async fn gather_cached(
    client: &GithubClient,
    cache: &Cache,
    input: &ApprovalInput<'_>,
    base: &TrustedBase,
) -> Result<ApprovalFacts, Refusal> {
    let repo = input.repo;
    let shared = cache
        .facts
        .get_or_try(&input.commit.to_owned(), || async {
            let pull = merged_pull(client, cache, repo, input.commit).await?;
            let number = pull.number;
            let (files, commits, reviews) = futures_util::try_join!(
                client.pull_files(repo, number),
                client.pull_commits(repo, number),
                client.reviews(repo, number),
            )?;
            Ok::<_, Refusal>(Arc::new(ApprovalFacts::new(
                PullFacts::from(&pull),
                files,
                commits.into_iter().map(CommitFacts::from).collect(),
                reviews
                    .into_iter()
                    .filter_map(ReviewFacts::from_github)
                    .collect(),
            )))
        })
        .await?;
    let mut facts = (*shared).clone();
    // Each round adds the one fact asked for; one asked twice was not taken up (a bug), so stop:
    // `decide` then fails closed on it.
    let mut asked = BTreeSet::new();
    while let Err(Stop::Need(need)) = rules::judge(&facts, input, base) {
        if !asked.insert(need.clone()) {
            break;
        }
        look_up_cached(client, cache, repo, &mut facts, need).await?;
    }
    Ok(facts)
}

/// Reads one fact into `facts`. A team or permission this token may not read is kept as a fact
/// (the rules fail closed on it where it matters); any other error stops the verification.
async fn look_up(
    client: &GithubClient,
    repo: &Repo,
    facts: &mut ApprovalFacts,
    need: Need,
) -> Result<(), Refusal> {
    look_up_cached(client, &Cache::default(), repo, facts, need).await
}

/// [`look_up`] through the run's `cache`.
async fn look_up_cached(
    client: &GithubClient,
    cache: &Cache,
    repo: &Repo,
    facts: &mut ApprovalFacts,
    need: Need,
) -> Result<(), Refusal> {
    match need {
        Need::CommitPaths { sha } => {
            let listed = cache
                .commit_paths
                .get_or_try(&sha, || client.commit_paths(repo, &sha))
                .await?;
            facts.commit_paths.insert(sha, listed);
        }
        Need::Membership { org, slug, login } => {
            let key = (org.clone(), slug.clone(), login.to_ascii_lowercase());
            let membership = cache
                .memberships
                .get_or_try(&key, || async {
                    readable(
                        client.team_membership(&org, &slug, &login).await,
                        &[401, 403, 404],
                    )
                })
                .await?;
            facts
                .reviewer_mut(&login)
                .teams
                .insert(format!("{org}/{slug}"), membership);
        }
        Need::TeamAccess { org, slug } => {
            // The team is visible (membership read it), so a 404 here means no access at all.
            let key = (org.clone(), slug.clone());
            let access = cache
                .team_access
                .get_or_try(&key, || async {
                    readable(
                        client.team_repo_permissions(&org, &slug, repo).await,
                        &[401, 403, 404],
                    )
                })
                .await?;
            facts.team_access.insert(format!("{org}/{slug}"), access);
        }
        Need::Permission { login } => {
            let permission = cache
                .permissions
                .get_or_try(&login.to_ascii_lowercase(), || async {
                    readable(
                        client.collaborator_permission(repo, &login).await,
                        &[401, 403],
                    )
                })
                .await?;
            facts.reviewer_mut(&login).permission = Some(permission);
        }
        Need::Issue { number } => {
            let opener = cache
                .issues
                .get_or_try(&number, || read_issue(client, repo, number))
                .await?;
            facts.issue = Some(opener);
        }
    }
    Ok(())
}

/// Who opened issue `number` of `repo`, as GitHub shows it.
async fn read_issue(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
) -> Result<Readable<IssueOpener>, Refusal> {
    Ok(match client.issue(repo, number).await {
        // Answered from another repository (transferred): no such issue here.
        Ok(issue) if !issue.is_in(repo) => Ok(IssueOpener {
            number,
            author: None,
            created_at: None,
            is_pull: false,
        }),
        Ok(issue) => Ok(IssueOpener {
            // GitHub's number, not the one asked for: they differ only if redirected.
            number: issue.number,
            author: issue.user.map(|u| u.login),
            created_at: issue.created_at,
            is_pull: issue.pull_request.is_some(),
        }),
        // No such issue: nobody can be shown to have asked (refused, not retried).
        Err(e) if e.status() == Some(404) => Ok(IssueOpener {
            number,
            author: None,
            created_at: None,
            is_pull: false,
        }),
        Err(e) if matches!(e.status(), Some(401 | 403)) => Err(e.to_string()),
        Err(e) => return Err(Refusal::from(e)),
    })
}

/// A lookup's answer; GitHub refusing it with one of `statuses` (this token may not read it) is
/// an answer too, any other error is not.
fn readable<T>(answer: Result<T, GithubError>, statuses: &[u16]) -> Result<Readable<T>, Refusal> {
    match answer {
        Ok(value) => Ok(Ok(value)),
        Err(e) if e.status().is_some_and(|s| statuses.contains(&s)) => Ok(Err(e.to_string())),
        Err(e) => Err(Refusal::from(e)),
    }
}

/// The merged pull request that brought `commit`, read in full.
async fn merged_pull(
    client: &GithubClient,
    cache: &Cache,
    repo: &Repo,
    commit: &str,
) -> Result<PullRequest, Refusal> {
    let associated = cache.pulls_for_commit(client, repo, commit).await?;
    let number = rules::choose_pull(&associated, commit)?;
    // The list form can lag or omit fields; the full pull request is authoritative (and
    // `decide` checks that it is merged).
    Ok(client.pull(repo, number).await?)
}
