//! The repository, its files (contents, CODEOWNERS errors) and its commits (a commit, and the
//! pull requests it belongs to).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use kv_jit_core::github::codeowners::{self, Codeowners};

use super::pulls::{file_json, pull_json};
use super::rest::timestamp;
use super::rest::{
    Paging, RepoPath, api_base, blob_sha, error, find_repo, id_of, link_header, not_found_response,
    paged, user_json,
};
use super::{CommitSeed, FileSeed, GithubState, RepoSeed};

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/repos/{owner}/{repo}/commits/{sha}", get(get_commit))
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/pulls",
            get(pulls_for_commit),
        )
        .route("/repos/{owner}/{repo}/contents/{*path}", get(get_content))
        .route(
            "/repos/{owner}/{repo}/codeowners/errors",
            get(codeowners_errors),
        )
}

async fn get_repo(
    State(s): State<Arc<GithubState>>,
    Path((o, r)): RepoPath,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    axum::Json(json!({
        "id": id_of(&full), "node_id": format!("R_{}", id_of(&full)), "name": repo.name, "full_name": full,
        "owner": user_json(&base, &repo.owner), "private": true,
        "html_url": format!("https://github.com/{full}"), "url": format!("{base}/repos/{full}"),
        "default_branch": repo.default_branch, "visibility": "private", "fork": false
    }))
    .into_response()
}

/// GitHub answers a commit with up to 300 of its files by default, `Link`s to the pages holding
/// the rest, and lists no more than 3000 files in all; each page repeats the commit.
async fn get_commit(
    State(s): State<Arc<GithubState>>,
    Path((o, r, sha)): Path<(String, String, String)>,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(commit) = all_commits(repo).find(|c| c.sha == sha) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {sha}"),
        );
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    let mut v = commit_json(&base, &full, commit, inner.seeded_at);
    let per_page = p.per_page.unwrap_or(300).clamp(1, 300);
    let page = p.page.unwrap_or(1).max(1);
    let listed = commit.files.len().min(3000);
    let last = listed.div_ceil(per_page).max(1);
    let files: Vec<Value> = commit
        .files
        .iter()
        .take(listed)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|f| {
            file_json(
                &base,
                &full,
                &sha,
                &FileSeed {
                    filename: f.clone(),
                    status: "modified".into(),
                    previous_filename: None,
                },
            )
        })
        .collect();
    let changes = commit.files.len();
    v["stats"] = json!({ "total": changes, "additions": changes, "deletions": 0 });
    v["files"] = Value::Array(files);
    let mut response = axum::Json(v).into_response();
    if let Some(value) = link_header(page, last, &h, &u) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

async fn pulls_for_commit(
    State(s): State<Arc<GithubState>>,
    Path((o, r, sha)): Path<(String, String, String)>,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let explicit: Vec<u64> = all_commits(repo)
        .filter(|c| c.sha == sha)
        .flat_map(|c| c.pulls.clone())
        .collect();
    let items = repo
        .pulls
        .iter()
        .filter(|pull| {
            explicit.contains(&pull.number)
                || pull.merge_commit_sha.as_deref() == Some(sha.as_str())
                || pull.head_sha == sha
                || pull.commits.iter().any(|c| c.sha == sha)
        })
        .map(|pull| {
            // The list form has no `merged` field; `merged_at` says it.
            let mut v = pull_json(&base, repo, pull, inner.seeded_at);
            if let Some(map) = v.as_object_mut() {
                for key in [
                    "merged",
                    "mergeable",
                    "rebaseable",
                    "mergeable_state",
                    "merged_by",
                    "comments",
                    "review_comments",
                    "maintainer_can_modify",
                    "commits",
                    "additions",
                    "deletions",
                    "changed_files",
                ] {
                    map.remove(key);
                }
            }
            v
        })
        .collect();
    paged(items, &p, &h, &u)
}

#[derive(Debug, Deserialize)]
struct RefQuery {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

async fn get_content(
    State(s): State<Arc<GithubState>>,
    Path((o, r, path)): Path<(String, String, String)>,
    Query(q): Query<RefQuery>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(files) = files_at(repo, q.git_ref.as_deref()) else {
        let r = q.git_ref.unwrap_or_default();
        return error(
            StatusCode::NOT_FOUND,
            &format!("No commit found for the ref {r}"),
        );
    };
    let Some(text) = files.get(&path) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    let git_ref = q.git_ref.unwrap_or_else(|| repo.default_branch.clone());
    let sha = blob_sha(text);
    // GitHub wraps base64 at 60 columns with `\n`.
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let self_url = format!("{base}/repos/{full}/contents/{path}?ref={git_ref}");
    let git_url = format!("{base}/repos/{full}/git/blobs/{sha}");
    let html_url = format!("https://github.com/{full}/blob/{git_ref}/{path}");
    axum::Json(json!({
        "type": "file", "encoding": "base64", "size": text.len(),
        "name": path.rsplit('/').next().unwrap_or(&path), "path": path, "content": wrapped.join("\n") + "\n",
        "sha": sha, "url": self_url, "git_url": git_url, "html_url": html_url,
        "download_url": format!("https://raw.githubusercontent.com/{full}/{git_ref}/{path}"),
        "_links": { "self": self_url, "git": git_url, "html": html_url }
    }))
    .into_response()
}

async fn codeowners_errors(
    State(s): State<Arc<GithubState>>,
    Path((o, r)): RepoPath,
    Query(q): Query<RefQuery>,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(files) = files_at(repo, q.git_ref.as_deref()) else {
        return not_found_response();
    };
    let Some((path, text)) = codeowners::LOCATIONS
        .iter()
        .find_map(|p| files.get(*p).map(|t| (*p, t)))
    else {
        return not_found_response();
    };
    let errors: Vec<Value> = Codeowners::parse(text)
        .errors()
        .iter()
        .map(|e| {
            let source = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
            let kind = if e.message.starts_with("invalid owner") {
                "Invalid owner"
            } else {
                "Invalid pattern"
            };
            json!({ "line": e.line, "column": 1, "kind": kind, "source": source, "suggestion": null,
                    "message": e.message, "path": path })
        })
        .collect();
    axum::Json(json!({ "errors": errors })).into_response()
}

/// A commit as GitHub answers one, authored and committed at `seeded_at`.
pub(super) fn commit_json(
    base: &str,
    full: &str,
    commit: &CommitSeed,
    seeded_at: DateTime<Utc>,
) -> Value {
    let person = json!({ "name": commit.author.clone().unwrap_or_else(|| "Unknown".into()),
                         "email": "someone@example.com", "date": timestamp(seeded_at) });
    let author = commit
        .author
        .as_deref()
        .map(|l| user_json(base, l))
        .unwrap_or(Value::Null);
    json!({
        "url": format!("{base}/repos/{full}/commits/{}", commit.sha), "sha": commit.sha,
        "node_id": format!("C_{}", id_of(&commit.sha)),
        "html_url": format!("https://github.com/{full}/commit/{}", commit.sha),
        "comments_url": format!("{base}/repos/{full}/commits/{}/comments", commit.sha),
        "commit": {
            "url": format!("{base}/repos/{full}/git/commits/{}", commit.sha),
            "author": person, "committer": person, "message": "change", "comment_count": 0,
            "tree": { "url": format!("{base}/repos/{full}/git/trees/{}", commit.sha), "sha": commit.sha },
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null }
        },
        "author": author.clone(), "committer": author, "parents": []
    })
}

/// Resolves a `ref` (branch name or sha; default branch when absent) to the files at it.
fn files_at<'a>(repo: &'a RepoSeed, git_ref: Option<&str>) -> Option<&'a BTreeMap<String, String>> {
    let git_ref = git_ref.unwrap_or(&repo.default_branch);
    let sha = repo
        .branches
        .get(git_ref)
        .map(String::as_str)
        .unwrap_or(git_ref);
    repo.files.get(sha).or_else(|| repo.files.get(git_ref))
}

/// All commits the emulator knows for a repository: its own and those on pull requests.
fn all_commits(repo: &RepoSeed) -> impl Iterator<Item = &CommitSeed> {
    repo.commits
        .iter()
        .chain(repo.pulls.iter().flat_map(|p| p.commits.iter()))
}
