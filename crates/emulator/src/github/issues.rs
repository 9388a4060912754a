//! Issues, as GitHub's REST API shows them: create, get, update (state, title, body, labels)
//! and list with the `state`, `labels` and `creator` filters and `Link` paging. As on GitHub,
//! every pull request is also an issue: getting or listing issues shows pull requests too,
//! with a `pull_request` member, and issues and pull requests share one number sequence.
//! Comments on issues are [`super::comments`]'.
//!
//! Shapes follow GitHub's "REST API endpoints for issues" (`issues/create`, `issues/get`,
//! `issues/update`, `issues/list-for-repo`): `state` defaults to `open` in a list, `labels` is a
//! comma-separated list that every listed issue must carry, and a list is newest first.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::rest::{
    NumberPath, RepoPath, api_base, error, find_pull, find_repo_mut, id_of, link_header,
    not_found_response, timestamp, user_json,
};
use super::{GithubState, IssueSeed, PullSeed, RepoSeed, caller};

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues",
            get(list_issues).post(create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}",
            get(get_issue).patch(update_issue),
        )
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    labels: Option<String>,
    creator: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list_issues(
    State(s): State<Arc<GithubState>>,
    Path((o, r)): RepoPath,
    Query(q): Query<ListQuery>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = super::rest::find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let state = q.state.as_deref().unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    }
    let wanted: Vec<&str> = q
        .labels
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let base = api_base(&h, &u);
    let mut all: Vec<(u64, Value)> = repo
        .issues
        .iter()
        .map(|i| {
            (
                i.number,
                issue_json(
                    &base,
                    repo,
                    i,
                    inner.seeded_at,
                    comments(&inner, repo, i.number),
                ),
            )
        })
        .chain(repo.pulls.iter().map(|p| {
            (
                p.number,
                pull_as_issue(
                    &base,
                    repo,
                    p,
                    inner.seeded_at,
                    comments(&inner, repo, p.number),
                ),
            )
        }))
        .filter(|(_, v)| state == "all" || v["state"] == state)
        .filter(|(_, v)| {
            wanted.iter().all(|w| {
                v["labels"].as_array().is_some_and(|ls| {
                    ls.iter().any(|l| {
                        l["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(w))
                    })
                })
            })
        })
        .filter(|(_, v)| {
            q.creator.as_deref().is_none_or(|c| {
                v["user"]["login"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(c))
            })
        })
        .collect();
    // Newest first (GitHub's default sort: created, desc); numbers grow with creation.
    all.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = all.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(_, v)| v)
        .collect();
    let mut response = axum::Json(Value::Array(body)).into_response();
    if let Some(link) = link_header(page, last, &h, &u) {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, link);
    }
    response
}

async fn get_issue(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = super::rest::find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let count = comments(&inner, repo, n);
    if let Some(issue) = repo.issues.iter().find(|i| i.number == n) {
        return axum::Json(issue_json(&base, repo, issue, inner.seeded_at, count)).into_response();
    }
    match find_pull(repo, n) {
        Some(pull) => {
            axum::Json(pull_as_issue(&base, repo, pull, inner.seeded_at, count)).into_response()
        }
        None => not_found_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    title: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<Value>,
}

async fn create_issue(
    State(s): State<Arc<GithubState>>,
    Path((o, r)): RepoPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<CreateBody>,
) -> Response {
    let now = s.core().clock.now();
    let mut inner = s.lock();
    let (login, _) = caller(&h, &inner);
    let seeded_at = inner.seeded_at;
    let Some(repo) = find_repo_mut(&mut inner.seed.repos, &o, &r) else {
        return not_found_response();
    };
    // GitHub accepts a string or a number as the title, and requires one.
    let title = match body.title {
        Some(Value::String(t)) if !t.is_empty() => t,
        Some(Value::Number(n)) => n.to_string(),
        _ => return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed"),
    };
    // A label is a name or `{name}`.
    let labels: Vec<String> = body
        .labels
        .iter()
        .filter_map(|l| match l {
            Value::String(n) => Some(n.clone()),
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .collect();
    let number = repo
        .issues
        .iter()
        .map(|i| i.number)
        .chain(repo.pulls.iter().map(|p| p.number))
        .max()
        .unwrap_or(0)
        + 1;
    let issue = IssueSeed {
        number,
        title,
        body: body.body,
        author: login,
        state: "open".into(),
        labels,
        created_at: Some(now),
        closed_at: None,
        closed_by: None,
    };
    repo.issues.push(issue.clone());
    let repo = repo.clone();
    let json = issue_json(&api_base(&h, &u), &repo, &issue, seeded_at, 0);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    labels: Option<Vec<String>>,
}

async fn update_issue(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<UpdateBody>,
) -> Response {
    let now = s.core().clock.now();
    let mut inner = s.lock();
    let (login, _) = caller(&h, &inner);
    let seeded_at = inner.seeded_at;
    let Some(repo) = find_repo_mut(&mut inner.seed.repos, &o, &r) else {
        return not_found_response();
    };
    let Some(issue) = repo.issues.iter_mut().find(|i| i.number == n) else {
        return not_found_response();
    };
    if let Some(state) = body.state {
        if !matches!(state.as_str(), "open" | "closed") {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        }
        if state == "closed" && issue.state != "closed" {
            issue.closed_at = Some(now);
            issue.closed_by = Some(login);
        } else if state == "open" {
            issue.closed_at = None;
            issue.closed_by = None;
        }
        issue.state = state;
    }
    if let Some(title) = body.title {
        issue.title = title;
    }
    if let Some(text) = body.body {
        issue.body = Some(text);
    }
    if let Some(labels) = body.labels {
        issue.labels = labels;
    }
    let issue = issue.clone();
    let repo = repo.clone();
    let count = comments(&inner, &repo, n);
    axum::Json(issue_json(
        &api_base(&h, &u),
        &repo,
        &issue,
        seeded_at,
        count,
    ))
    .into_response()
}

fn comments(inner: &super::Inner, repo: &RepoSeed, number: u64) -> usize {
    let full = format!("{}/{}", repo.owner, repo.name);
    inner
        .comments
        .iter()
        .filter(|c| c.repo == full && c.issue == number)
        .count()
}

fn label_json(base: &str, full: &str, name: &str) -> Value {
    json!({
        "id": id_of(name), "node_id": format!("LA_{}", id_of(name)),
        "url": format!("{base}/repos/{full}/labels/{name}"), "name": name,
        "description": null, "color": "ededed", "default": false
    })
}

/// The members every issue has; `extra` adds or overrides (a pull request's).
#[allow(clippy::too_many_arguments)]
fn issue_shape(
    base: &str,
    full: &str,
    number: u64,
    title: &str,
    body: Option<&str>,
    author: &str,
    state: &str,
    labels: &[String],
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<&str>,
    comments: usize,
) -> Value {
    let url = format!("{base}/repos/{full}/issues/{number}");
    json!({
        "id": id_of(&url), "node_id": format!("I_{}", id_of(&url)), "url": url,
        "repository_url": format!("{base}/repos/{full}"),
        "labels_url": format!("{url}/labels{{/name}}"), "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": format!("https://github.com/{full}/issues/{number}"),
        "number": number, "state": state,
        "state_reason": if state == "closed" { json!("completed") } else { Value::Null },
        "title": title, "body": body, "user": user_json(base, author),
        "labels": labels.iter().map(|l| label_json(base, full, l)).collect::<Vec<_>>(),
        "assignee": null, "assignees": [], "milestone": null, "locked": false,
        "active_lock_reason": null, "comments": comments,
        "closed_at": closed_at.map(timestamp),
        "closed_by": closed_by.map(|c| user_json(base, c)),
        "created_at": timestamp(created_at),
        "updated_at": timestamp(closed_at.unwrap_or(created_at)),
        "author_association": "CONTRIBUTOR",
        "reactions": { "url": format!("{url}/reactions"), "total_count": 0, "+1": 0, "-1": 0,
                       "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0 }
    })
}

fn issue_json(
    base: &str,
    repo: &RepoSeed,
    i: &IssueSeed,
    seeded_at: DateTime<Utc>,
    comments: usize,
) -> Value {
    let full = format!("{}/{}", repo.owner, repo.name);
    issue_shape(
        base,
        &full,
        i.number,
        &i.title,
        i.body.as_deref(),
        &i.author,
        &i.state,
        &i.labels,
        i.created_at.unwrap_or(seeded_at),
        i.closed_at,
        i.closed_by.as_deref(),
        comments,
    )
}

/// A pull request as the issues API shows it: with `pull_request`.
fn pull_as_issue(
    base: &str,
    repo: &RepoSeed,
    p: &PullSeed,
    seeded_at: DateTime<Utc>,
    comments: usize,
) -> Value {
    let full = format!("{}/{}", repo.owner, repo.name);
    let merged_at = p.merged.then(|| p.merged_at.unwrap_or(seeded_at));
    let mut v = issue_shape(
        base,
        &full,
        p.number,
        &p.title,
        None,
        &p.author,
        if p.merged { "closed" } else { "open" },
        &[],
        p.created_at.unwrap_or(seeded_at),
        merged_at,
        None,
        comments,
    );
    v["html_url"] = json!(format!("https://github.com/{full}/pull/{}", p.number));
    v["pull_request"] = json!({
        "url": format!("{base}/repos/{full}/pulls/{}", p.number),
        "html_url": format!("https://github.com/{full}/pull/{}", p.number),
        "diff_url": format!("https://github.com/{full}/pull/{}.diff", p.number),
        "patch_url": format!("https://github.com/{full}/pull/{}.patch", p.number),
        "merged_at": merged_at.map(timestamp),
    });
    v
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    fn state() -> Arc<GithubState> {
        let seed: GithubSeed = serde_json::from_value(json!({"repos": [{
            "owner": "acme", "name": "access",
            "pulls": [{"number": 7, "author": "alice", "head_sha": "h", "base_sha": "b", "merged": true}],
            "issues": [{"number": 3, "author": "bob", "title": "old", "labels": ["kv-jit-request"]}]
        }]}))
        .unwrap();
        let core = Arc::new(crate::Core::at("2026-11-27T09:00:00Z".parse().unwrap()));
        Arc::new(GithubState::new(seed, core))
    }

    async fn call(
        s: &Arc<GithubState>,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (u16, Value, Option<String>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("host", "127.0.0.1:1")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let response = router(s.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            link,
        )
    }

    #[tokio::test]
    async fn create_get_list_close() {
        let s = state();
        let (status, created, _) = call(
            &s,
            "POST",
            "/repos/acme/access/issues",
            Some(json!({"title": "Break-glass retrospective: 2026/a", "body": "b", "labels": ["kv-jit-retrospective"]})),
        )
        .await;
        assert_eq!(status, 201);
        // One number sequence with pull requests.
        assert_eq!(created["number"], 8);
        assert_eq!(created["state"], "open");
        assert_eq!(created["labels"][0]["name"], "kv-jit-retrospective");
        assert_eq!(created["user"]["login"], "github-actions[bot]");
        assert_eq!(created["created_at"], "2026-11-27T09:00:00Z");
        assert!(created.get("pull_request").is_none());
        let (_, got, _) = call(&s, "GET", "/repos/acme/access/issues/8", None).await;
        assert_eq!(got["title"], "Break-glass retrospective: 2026/a");
        // A pull request is an issue too, marked.
        let (_, pr, _) = call(&s, "GET", "/repos/acme/access/issues/7", None).await;
        assert_eq!(
            pr["pull_request"]["url"],
            "http://127.0.0.1:1/repos/acme/access/pulls/7"
        );
        let (status, _, _) = call(&s, "GET", "/repos/acme/access/issues/99", None).await;
        assert_eq!(status, 404);
        // Filters: labels (all must match), state (default open).
        let (_, list, _) = call(
            &s,
            "GET",
            "/repos/acme/access/issues?labels=kv-jit-retrospective",
            None,
        )
        .await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (_, list, _) = call(&s, "GET", "/repos/acme/access/issues?state=all", None).await;
        let numbers: Vec<u64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, [8, 7, 3]);
        let (_, list, _) = call(&s, "GET", "/repos/acme/access/issues", None).await;
        assert_eq!(
            list.as_array().unwrap().len(),
            2,
            "the merged pull request is closed"
        );
        let (status, _, _) = call(&s, "GET", "/repos/acme/access/issues?state=maybe", None).await;
        assert_eq!(status, 422);
        // Paging.
        let (_, page, link) = call(
            &s,
            "GET",
            "/repos/acme/access/issues?state=all&per_page=2",
            None,
        )
        .await;
        assert_eq!(page.as_array().unwrap().len(), 2);
        assert!(link.unwrap().contains("page=2>; rel=\"next\""));
        // Close.
        s.core().clock.advance(chrono::Duration::hours(1));
        let (_, closed, _) = call(
            &s,
            "PATCH",
            "/repos/acme/access/issues/8",
            Some(json!({"state": "closed"})),
        )
        .await;
        assert_eq!(closed["state"], "closed");
        assert_eq!(closed["closed_at"], "2026-11-27T10:00:00Z");
        let (_, list, _) = call(
            &s,
            "GET",
            "/repos/acme/access/issues?labels=kv-jit-retrospective&state=closed",
            None,
        )
        .await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        // Comments on an issue.
        let (status, _, _) = call(
            &s,
            "POST",
            "/repos/acme/access/issues/8/comments",
            Some(json!({"body": "/approve"})),
        )
        .await;
        assert_eq!(status, 201);
        let (_, got, _) = call(&s, "GET", "/repos/acme/access/issues/8", None).await;
        assert_eq!(got["comments"], 1);
        let (status, _, _) = call(
            &s,
            "POST",
            "/repos/acme/access/issues",
            Some(json!({"body": "no title"})),
        )
        .await;
        assert_eq!(status, 422);
    }
}
