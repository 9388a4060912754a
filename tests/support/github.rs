//! Shared fixtures: a repository with one merged, approved request, served by the GitHub emulator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use kv_jit_core::approval::TrustedBase;
use kv_jit_effects::clock::{Clock, ManualClock};
use kv_jit_effects::github::client::{GithubClient, Repo, RetryPolicy, Token};
use kv_jit_effects::github::codeowners;
use kv_jit_emulator::github::{
    CommitSeed, FileSeed, GithubSeed, GithubState, PullSeed, RepoSeed, ReviewSeed, TeamSeed,
    TokenSeed, spawn_for_tests,
};

pub const REQUEST: &str = "requests/2026/alice-api-key.yaml";
pub const BASE: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
pub const H1: &str = "1111111111111111111111111111111111111111";
pub const HEAD: &str = "2222222222222222222222222222222222222222";
pub const MERGE: &str = "7777777777777777777777777777777777777777";
/// Token with the organization "Members: read" permission (a GitHub App token).
pub const APP_TOKEN: &str = "ghs_app";
/// Token as Actions' GITHUB_TOKEN: no organization permissions.
pub const ACTIONS_TOKEN: &str = "ghs_actions";

pub const CODEOWNERS: &str = "* @acme/platform\n/requests/ @carol @acme/security\n";
pub const CONFIG: &str = "tenant_id: x\nidentities:\n  alice-gh: alice@contoso.com\n  bob: bob@contoso.com\n  carol: carol@contoso.com\n";

pub fn review(user: &str, state: &str, commit: Option<&str>) -> ReviewSeed {
    ReviewSeed {
        user: user.into(),
        state: state.into(),
        commit_id: commit.map(Into::into),
    }
}

pub fn commit(sha: &str, author: Option<&str>, files: &[&str]) -> CommitSeed {
    CommitSeed {
        sha: sha.into(),
        author: author.map(Into::into),
        files: files.iter().map(|f| f.to_string()).collect(),
        pulls: vec![],
    }
}

/// PR #7 by alice-gh adds REQUEST; carol (a direct owner) approved the head; merged as MERGE.
pub fn seed() -> GithubSeed {
    let mut base_files = BTreeMap::new();
    base_files.insert(".github/CODEOWNERS".to_string(), CODEOWNERS.to_string());
    base_files.insert(".github/kv-jit.yml".to_string(), CONFIG.to_string());
    let mut head_files = base_files.clone();
    head_files.insert(
        REQUEST.to_string(),
        "requester: alice@contoso.com\n".to_string(),
    );
    let pull = PullSeed {
        number: 7,
        title: "Access for alice".into(),
        author: "alice-gh".into(),
        head_ref: "alice/api-key".into(),
        head_sha: HEAD.into(),
        base_ref: "main".into(),
        base_sha: BASE.into(),
        merged: true,
        merged_at: None,
        merge_commit_sha: Some(MERGE.into()),
        created_at: None,
        files: vec![FileSeed {
            filename: REQUEST.into(),
            status: "added".into(),
            previous_filename: None,
        }],
        commits: vec![
            commit(H1, Some("alice-gh"), &[REQUEST]),
            commit(HEAD, Some("alice-gh"), &[REQUEST]),
        ],
        reviews: vec![review("carol", "APPROVED", Some(HEAD))],
    };
    let collaborators = [
        ("alice-gh", "write"),
        ("bob", "write"),
        ("carol", "write"),
        ("dave", "maintain"),
        ("erin", "write"),
        ("frank", "read"),
        ("mallory", "write"),
    ]
    .into_iter()
    .map(|(l, p)| (l.to_string(), p.to_string()))
    .collect();
    let mut tokens = BTreeMap::new();
    tokens.insert(
        APP_TOKEN.into(),
        TokenSeed {
            login: "kv-jit[bot]".into(),
            permissions: vec!["members:read".into()],
        },
    );
    tokens.insert(
        ACTIONS_TOKEN.into(),
        TokenSeed {
            login: "github-actions[bot]".into(),
            permissions: vec![],
        },
    );
    GithubSeed {
        repos: vec![RepoSeed {
            owner: "acme".into(),
            name: "access".into(),
            default_branch: "main".into(),
            branches: [("main".to_string(), MERGE.to_string())]
                .into_iter()
                .collect(),
            files: [
                (BASE.to_string(), base_files),
                (HEAD.to_string(), head_files),
            ]
            .into_iter()
            .collect(),
            pulls: vec![pull],
            commits: vec![],
            collaborators,
            comments: vec![],
            ..Default::default()
        }],
        teams: vec![
            TeamSeed {
                org: "acme".into(),
                slug: "security".into(),
                members: vec!["dave".into(), "frank".into()],
                pending: vec!["gina".into()],
                repositories: team_access("push"),
            },
            TeamSeed {
                org: "acme".into(),
                slug: "platform".into(),
                members: vec!["erin".into()],
                pending: vec![],
                repositories: team_access("push"),
            },
        ],
        tokens,
    }
}

/// A team's access to acme/access, as `TeamSeed::repositories`.
pub fn team_access(role: &str) -> BTreeMap<String, String> {
    [("acme/access".to_string(), role.to_string())]
        .into_iter()
        .collect()
}

pub fn pull_mut(seed: &mut GithubSeed) -> &mut PullSeed {
    &mut seed.repos[0].pulls[0]
}

pub fn repo_mut(seed: &mut GithubSeed) -> &mut RepoSeed {
    &mut seed.repos[0]
}

pub fn repo() -> Repo {
    Repo::parse("acme/access").unwrap()
}

/// A client on `base_url` whose retries wait on a virtual clock (no wall-clock sleeps in tests).
pub fn client(base_url: &str, token: &str) -> GithubClient {
    client_on(base_url, token, Arc::new(ManualClock::new(test_instant())))
}

/// [`client`] on a given clock, for tests that read how long it waited.
pub fn client_on(base_url: &str, token: &str, clock: Arc<dyn Clock>) -> GithubClient {
    GithubClient::new(base_url, Token::new(token))
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        })
        .with_clock(clock)
}

/// Where the virtual clocks of these tests stand (the suite's `T0`).
pub fn test_instant() -> chrono::DateTime<chrono::Utc> {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

pub async fn start(seed: GithubSeed) -> (String, Arc<GithubState>) {
    let (url, state, _handle) = spawn_for_tests(seed).await;
    (url, state)
}

/// The trusted base as the seed's files at `at` (a sha or branch) hold it: what the grant reads
/// from local git at the first parent, here taken from the emulator's seed.
pub fn trusted(seed: &GithubSeed, at: &str) -> TrustedBase {
    let repo = &seed.repos[0];
    let sha = repo
        .branches
        .get(at)
        .cloned()
        .unwrap_or_else(|| at.to_owned());
    let files = repo.files.get(&sha).cloned().unwrap_or_default();
    TrustedBase {
        sha: sha.clone(),
        default_branch: repo.default_branch.clone(),
        identities: files
            .get(".github/kv-jit.yml")
            .map(|t| identities(t).unwrap())
            .unwrap_or_default(),
        codeowners: codeowners::pick(|p| files.get(p).cloned()),
    }
}

/// Stand-in for the lead's config parser: the `identities:` block of `login: upn` lines.
pub fn identities(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "identities:";
            continue;
        }
        if inside {
            let (login, upn) = line
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("bad line `{line}`"))?;
            map.insert(login.trim().to_string(), upn.trim().to_string());
        }
    }
    Ok(map)
}
