//! What every GitHub route shares: GitHub's error body, the base URL as the client reached us
//! (with or without `/api/v3`), `Link` paging, seed lookups, stable ids and the user object.

use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Inner, PullSeed, RepoSeed};

const DOCS: &str = "https://docs.github.com/rest";

pub(super) type RepoPath = Path<(String, String)>;
pub(super) type NumberPath = Path<(String, String, u64)>;

/// A timestamp as GitHub writes one (`2026-11-27T08:00:00Z`).
pub(super) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// GitHub's error body.
pub(crate) fn error_body(message: &str) -> Value {
    json!({ "message": message, "documentation_url": DOCS })
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(error_body(message))).into_response()
}

pub(super) fn not_found_response() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// `http://host[/api/v3]`, as the client reached us.
pub(super) fn api_base(headers: &HeaderMap, uri: &OriginalUri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let prefix = if uri.path().starts_with("/api/v3/") {
        "/api/v3"
    } else {
        ""
    };
    format!("http://{host}{prefix}")
}

#[derive(Debug, Deserialize)]
pub(super) struct Paging {
    pub(super) page: Option<usize>,
    pub(super) per_page: Option<usize>,
}

/// One page of `items` with GitHub's `Link` header (absolute, on our own host; other query
/// parameters kept).
pub(super) fn paged(
    items: Vec<Value>,
    paging: &Paging,
    headers: &HeaderMap,
    uri: &OriginalUri,
) -> Response {
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = axum::Json(Value::Array(body)).into_response();
    if let Some(value) = link_header(page, last, headers, uri) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// GitHub's `Link` header for page `page` of `last` (absolute, on our own host; other query
/// parameters kept); `None` when there is only one page.
pub(super) fn link_header(
    page: usize,
    last: usize,
    headers: &HeaderMap,
    uri: &OriginalUri,
) -> Option<HeaderValue> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
        .collect();
    let link_to = |n: usize| {
        let mut query = kept.clone();
        let page = format!("page={n}");
        query.push(&page);
        format!("<http://{host}{}?{}>", uri.path(), query.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if links.is_empty() {
        return None;
    }
    HeaderValue::from_str(&links.join(", ")).ok()
}

pub(super) fn find_repo<'a>(inner: &'a Inner, owner: &str, repo: &str) -> Option<&'a RepoSeed> {
    inner
        .seed
        .repos
        .iter()
        .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(repo))
}

/// [`find_repo`] for writing; takes the list, not the whole state, so other fields stay usable.
pub(super) fn find_repo_mut<'a>(
    repos: &'a mut [RepoSeed],
    owner: &str,
    repo: &str,
) -> Option<&'a mut RepoSeed> {
    repos
        .iter_mut()
        .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(repo))
}

pub(super) fn find_pull(repo: &RepoSeed, number: u64) -> Option<&PullSeed> {
    repo.pulls.iter().find(|p| p.number == number)
}

/// A repository and one of its pull requests; `None` (a 404) when either is unknown.
pub(super) fn find_repo_pull<'a>(
    inner: &'a Inner,
    owner: &str,
    repo: &str,
    number: u64,
) -> Option<(&'a RepoSeed, &'a PullSeed)> {
    let repo = find_repo(inner, owner, repo)?;
    Some((repo, find_pull(repo, number)?))
}

/// A stable number for an id field.
pub(super) fn id_of(text: &str) -> u64 {
    text.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    }) % 1_000_000_000
        + 1
}

/// A fake 40-hex blob sha for file content.
pub(super) fn blob_sha(text: &str) -> String {
    let h = id_of(text);
    format!("{h:040x}")
}

pub(super) fn user_json(base: &str, login: &str) -> Value {
    let bot = login.ends_with("[bot]");
    json!({
        "login": login, "id": id_of(&login.to_ascii_lowercase()), "node_id": format!("U_{}", id_of(login)),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", id_of(login)),
        "gravatar_id": "", "url": format!("{base}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{base}/users/{login}/followers"),
        "following_url": format!("{base}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{base}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/users/{login}/subscriptions"),
        "organizations_url": format!("{base}/users/{login}/orgs"),
        "repos_url": format!("{base}/users/{login}/repos"),
        "events_url": format!("{base}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{base}/users/{login}/received_events"),
        "type": if bot { "Bot" } else { "User" }, "user_view_type": "public", "site_admin": false
    })
}
