//! Issue and pull request comments: list, create (as the token's login), update.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::rest::timestamp;
use super::rest::{
    NumberPath, Paging, api_base, find_pull, find_repo, not_found_response, paged, user_json,
};
use super::{GithubState, caller};

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        // octocrab's `update_comment` sends POST; GitHub accepts both.
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            post(update_comment).patch(update_comment),
        )
}

/// A stored comment, as the control route shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredComment {
    pub repo: String,
    pub issue: u64,
    pub id: u64,
    pub user: String,
    pub body: String,
    /// How many times it was edited.
    pub updated: u32,
    /// On the emulator's clock: when it was posted (a seeded one: when it was seeded) ...
    pub created_at: DateTime<Utc>,
    /// ... and last edited.
    pub updated_at: DateTime<Utc>,
}

async fn list_comments(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    Query(p): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let full = format!("{}/{}", repo.owner, repo.name);
    let base = api_base(&h, &u);
    let items = inner
        .comments
        .iter()
        .filter(|c| c.repo == full && c.issue == n)
        .map(|c| comment_json(&base, c))
        .collect();
    paged(items, &p, &h, &u)
}

#[derive(Debug, Deserialize)]
struct CommentBody {
    body: String,
}

async fn create_comment(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<CommentBody>,
) -> Response {
    let mut inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let full = format!("{}/{}", repo.owner, repo.name);
    if find_pull(repo, n).is_none() && !repo.issues.iter().any(|i| i.number == n) {
        return not_found_response();
    }
    let (login, _) = caller(&h, &inner);
    let now = s.core().clock.now();
    let id = inner.next_comment_id;
    inner.next_comment_id += 1;
    let comment = StoredComment {
        repo: full,
        issue: n,
        id,
        user: login,
        body: body.body,
        updated: 0,
        created_at: now,
        updated_at: now,
    };
    let json = comment_json(&api_base(&h, &u), &comment);
    inner.comments.push(comment);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

async fn update_comment(
    State(s): State<Arc<GithubState>>,
    Path((o, r, id)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<CommentBody>,
) -> Response {
    let mut inner = s.lock();
    let full = match find_repo(&inner, &o, &r) {
        Some(repo) => format!("{}/{}", repo.owner, repo.name),
        None => return not_found_response(),
    };
    let Some(comment) = inner
        .comments
        .iter_mut()
        .find(|c| c.repo == full && c.id == id)
    else {
        return not_found_response();
    };
    comment.body = body.body;
    comment.updated += 1;
    comment.updated_at = s.core().clock.now();
    let comment = comment.clone();
    axum::Json(comment_json(&api_base(&h, &u), &comment)).into_response()
}

fn comment_json(base: &str, c: &StoredComment) -> Value {
    let url = format!("{base}/repos/{}/issues/comments/{}", c.repo, c.id);
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id), "url": url,
        "html_url": format!("https://github.com/{}/pull/{}#issuecomment-{}", c.repo, c.issue, c.id),
        "issue_url": format!("{base}/repos/{}/issues/{}", c.repo, c.issue),
        "body": c.body, "user": user_json(base, &c.user), "created_at": timestamp(c.created_at), "updated_at": timestamp(c.updated_at),
        "author_association": "NONE",
        "reactions": { "url": format!("{url}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                       "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0 }
    })
}
