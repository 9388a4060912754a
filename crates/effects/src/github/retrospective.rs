//! Break-glass retrospectives through GitHub: open the issue of every break-glass grant the
//! ledger holds without one (finding it first, so a crash between creating and recording it
//! never opens a second), and read whether each is done. The rules are the core's
//! ([`kv_jit_core::approval::retrospective`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use kv_jit_core::approval::retrospective::{
    self as rules, BreakGlassGrant, RetroState, Standing, break_glass_grants,
};
use kv_jit_core::github::codeowners::{Codeowners, Owner};
use kv_jit_core::ledger::{Entry, NewEntry};
use kv_jit_core::request::Upn;

use super::client::{GithubClient, Issue, Repo, TeamMembership};

/// What opening the due retrospectives did.
#[derive(Debug, Default)]
pub struct Opened {
    /// One `retrospective` entry per issue opened or found, to append to the ledger.
    pub entries: Vec<NewEntry>,
    /// What was done, for the log.
    pub notes: Vec<String>,
    /// What failed (the next run retries).
    pub errors: Vec<String>,
}

/// Opens (or finds) the retrospective issue of every break-glass grant in `entries` that has
/// none recorded. `failpoint("after-retrospective-issue")` is called right after an issue is
/// created, before anything records it (crash tests).
pub async fn open_due(
    client: &GithubClient,
    repo: &Repo,
    entries: &[Entry],
    now: DateTime<Utc>,
    run_url: Option<String>,
    failpoint: &(dyn Fn(&str) + Sync),
) -> Opened {
    let mut out = Opened::default();
    let due: Vec<BreakGlassGrant> = break_glass_grants(entries)
        .into_iter()
        .filter(|g| g.issue.is_none())
        .collect();
    if due.is_empty() {
        return out;
    }
    // One listing for all: the issues that already carry the label.
    let existing: Vec<Issue> = match client.issues_labelled(repo, rules::LABEL).await {
        Ok(issues) => issues,
        Err(e) => {
            out.errors.push(format!(
                "cannot look for retrospective issues (needs `issues: read`): {e}"
            ));
            return out;
        }
    };
    for g in due {
        let request = g.request.as_str();
        let found = existing
            .iter()
            .find(|i| rules::is_ours(&i.facts(), request, g.granted_at))
            .map(|i| i.number);
        let number = match found {
            Some(n) => {
                out.notes.push(format!(
                    "retrospective issue #{n} for {request} was already open; recorded"
                ));
                n
            }
            None => match client
                .create_issue(
                    repo,
                    &rules::title(request),
                    &rules::body(&g),
                    &[rules::LABEL],
                )
                .await
            {
                Ok(issue) => {
                    failpoint("after-retrospective-issue");
                    out.notes.push(format!(
                        "opened retrospective issue #{} for break-glass grant {request}",
                        issue.number
                    ));
                    issue.number
                }
                Err(e) => {
                    out.errors.push(format!(
                        "cannot open the retrospective issue for break-glass grant {request} (needs `issues: write`): {e}"
                    ));
                    continue;
                }
            },
        };
        out.entries
            .push(rules::entry(&g, number, now, run_url.clone()));
    }
    out
}

/// Every break-glass grant of `entries` and its retrospective's state, read through GitHub
/// (`None`: no GitHub, every opened one is unverified). Owners are today's: `codeowners` is the
/// checked-out default branch's, `path_of` gives a request's file (deleted ones: the usual
/// path), `identities` today's config's.
pub async fn states(
    github: Option<(&GithubClient, &Repo)>,
    entries: &[Entry],
    codeowners: Option<&Codeowners>,
    identities: &BTreeMap<String, Upn>,
    path_of: impl Fn(&str) -> String,
) -> Vec<(BreakGlassGrant, RetroState)> {
    let mut out = Vec::new();
    for g in break_glass_grants(entries) {
        let state = match (g.issue, github) {
            (None, _) => RetroState::NotOpened,
            (Some(issue), None) => RetroState::Unverified {
                issue,
                why: "no GitHub token to read it".into(),
            },
            (Some(issue), Some((client, repo))) => {
                let owners: Vec<Owner> = codeowners
                    .map(|c| c.ownership(&path_of(g.request.as_str())).owners().to_vec())
                    .unwrap_or_default();
                match state_of(client, repo, issue, &g, &owners, identities).await {
                    Ok(state) => state,
                    Err(why) => RetroState::Unverified { issue, why },
                }
            }
        };
        out.push((g, state));
    }
    out
}

async fn state_of(
    client: &GithubClient,
    repo: &Repo,
    number: u64,
    g: &BreakGlassGrant,
    owners: &[Owner],
    identities: &BTreeMap<String, Upn>,
) -> Result<RetroState, String> {
    let issue = client
        .issue(repo, number)
        .await
        .map_err(|e| format!("cannot read issue #{number}: {e}"))?;
    if !rules::is_ours(&issue.facts(), g.request.as_str(), g.granted_at) {
        return Err(format!(
            "issue #{number} is not the retrospective of {} (label, title or marker changed, or opened before the grant)",
            g.request
        ));
    }
    let comments = client
        .issue_comments(repo, number)
        .await
        .map_err(|e| format!("cannot read the comments of issue #{number}: {e}"))?;
    let approvers = rules::approvers(
        comments.iter().filter_map(|c| {
            Some(rules::CommentFacts {
                login: c.user.as_ref()?.login.as_str(),
                body: c.body.as_deref().unwrap_or_default(),
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
        }),
        g.granted_at,
    );
    let mut standings = Vec::new();
    for login in approvers {
        // Owning teams the commenter is an active member of; one the token cannot read counts
        // as not a member (fail closed: the retrospective stays open).
        let mut teams = Vec::new();
        for owner in owners {
            if let Owner::Team { org, slug } = owner
                && let Ok(TeamMembership::Active) = client.team_membership(org, slug, &login).await
            {
                teams.push(format!("{org}/{slug}"));
            }
        }
        let s: Standing = rules::standing(&login, owners, identities, &g.requester, &teams);
        standings.push((login, s));
    }
    Ok(rules::judge(number, issue.state == "closed", &standings))
}
