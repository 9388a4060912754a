//! Pull requests: the pull request, its reviews, files and commits.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::contents::commit_json;
use super::rest::timestamp;
use super::rest::{
    NumberPath, Paging, api_base, blob_sha, find_repo_pull, id_of, not_found_response, paged,
    user_json,
};
use super::{FileSeed, GithubState, PullSeed, RepoSeed};

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/reviews",
            get(list_reviews),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/files",
            get(list_files),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/commits",
            get(list_pull_commits),
        )
}

async fn get_pull(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some((repo, pull)) = find_repo_pull(&inner, &o, &r, n) else {
        return not_found_response();
    };
    axum::Json(pull_json(&api_base(&h, &u), repo, pull, inner.seeded_at)).into_response()
}

async fn list_reviews(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some((repo, pull)) = find_repo_pull(&inner, &o, &r, n) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    let submitted_at = timestamp(inner.seeded_at);
    let items = pull
        .reviews
        .iter()
        .enumerate()
        .map(|(i, review)| {
            let id = n * 100_000 + i as u64 + 1;
            let html = format!("https://github.com/{full}/pull/{n}#pullrequestreview-{id}");
            let pull_url = format!("{base}/repos/{full}/pulls/{n}");
            json!({
                "id": id, "node_id": format!("PRR_{id}"), "user": user_json(&base, &review.user), "body": "",
                "state": review.state, "html_url": html, "pull_request_url": pull_url,
                "author_association": "MEMBER",
                "_links": { "html": { "href": html }, "pull_request": { "href": pull_url } },
                "submitted_at": submitted_at, "commit_id": review.commit_id
            })
        })
        .collect();
    paged(items, &p, &h, &u)
}

async fn list_files(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some((repo, pull)) = find_repo_pull(&inner, &o, &r, n) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    // GitHub lists at most 3000 files.
    let items = pull
        .files
        .iter()
        .take(3000)
        .map(|f| file_json(&base, &full, &pull.head_sha, f))
        .collect();
    paged(items, &p, &h, &u)
}

async fn list_pull_commits(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some((repo, pull)) = find_repo_pull(&inner, &o, &r, n) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    let items = pull
        .commits
        .iter()
        .take(250)
        .map(|c| commit_json(&base, &full, c, inner.seeded_at))
        .collect();
    paged(items, &p, &h, &u)
}

/// A pull request as GitHub answers one; `seeded_at` dates what the seed does not (creation, and
/// a merge without `merged_at`).
pub(super) fn pull_json(
    base: &str,
    repo: &RepoSeed,
    pull: &PullSeed,
    seeded_at: DateTime<Utc>,
) -> Value {
    let full = format!("{}/{}", repo.owner, repo.name);
    let url = format!("{base}/repos/{full}/pulls/{}", pull.number);
    let html = format!("https://github.com/{full}/pull/{}", pull.number);
    let merged_at = pull
        .merged
        .then(|| timestamp(pull.merged_at.unwrap_or(seeded_at)));
    let created_at = timestamp(pull.created_at.unwrap_or(seeded_at));
    let side = |r: &str, sha: &str| json!({ "label": format!("{}:{r}", repo.owner), "ref": r, "sha": sha, "user": user_json(base, &repo.owner) });
    let links = json!({
        "self": { "href": url }, "html": { "href": html },
        "issue": { "href": format!("{base}/repos/{full}/issues/{}", pull.number) },
        "comments": { "href": format!("{base}/repos/{full}/issues/{}/comments", pull.number) },
        "review_comments": { "href": format!("{url}/comments") },
        "review_comment": { "href": format!("{base}/repos/{full}/pulls/comments{{/number}}") },
        "commits": { "href": format!("{url}/commits") },
        "statuses": { "href": format!("{base}/repos/{full}/statuses/{}", pull.head_sha) }
    });
    let mut v = json!({
        "url": url, "id": id_of(&url), "node_id": format!("PR_{}", id_of(&url)), "html_url": html,
        "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
        "issue_url": format!("{base}/repos/{full}/issues/{}", pull.number),
        "commits_url": format!("{url}/commits"), "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{base}/repos/{full}/pulls/comments{{/number}}"),
        "comments_url": format!("{base}/repos/{full}/issues/{}/comments", pull.number),
        "statuses_url": format!("{base}/repos/{full}/statuses/{}", pull.head_sha),
        "number": pull.number, "state": if pull.merged { "closed" } else { "open" }, "locked": false,
        "title": pull.title, "user": user_json(base, &pull.author), "body": null,
        "labels": [], "milestone": null, "active_lock_reason": null,
        "created_at": created_at, "updated_at": created_at, "closed_at": merged_at, "merged_at": merged_at,
        "merge_commit_sha": pull.merge_commit_sha, "assignee": null, "assignees": [],
        "requested_reviewers": [], "requested_teams": []
    });
    let rest = json!({
        "head": side(&pull.head_ref, &pull.head_sha), "base": side(&pull.base_ref, &pull.base_sha),
        "author_association": "CONTRIBUTOR", "auto_merge": null, "draft": false,
        "merged": pull.merged, "mergeable": null, "rebaseable": null, "mergeable_state": "unknown",
        "merged_by": if pull.merged { user_json(base, &repo.owner) } else { Value::Null },
        "comments": 0, "review_comments": 0, "maintainer_can_modify": false,
        "commits": pull.commits.len(), "additions": 1, "deletions": 0, "changed_files": pull.files.len()
    });
    if let (Some(map), Value::Object(rest)) = (v.as_object_mut(), rest) {
        map.extend(rest);
    }
    v["_links"] = links;
    v
}

pub(super) fn file_json(base: &str, full: &str, sha: &str, file: &FileSeed) -> Value {
    let mut v = json!({
        "sha": blob_sha(&file.filename), "filename": file.filename, "status": file.status,
        "additions": 1, "deletions": 0, "changes": 1,
        "blob_url": format!("https://github.com/{full}/blob/{sha}/{}", file.filename),
        "raw_url": format!("https://github.com/{full}/raw/{sha}/{}", file.filename),
        "contents_url": format!("{base}/repos/{full}/contents/{}?ref={sha}", file.filename),
        "patch": "@@ -0,0 +1 @@\n+…"
    });
    if let Some(previous) = &file.previous_filename {
        v["previous_filename"] = json!(previous);
    }
    v
}
