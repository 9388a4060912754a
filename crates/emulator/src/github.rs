//! A stateful GitHub REST emulator: the routes kv-jit calls, with GitHub's JSON shapes (complete
//! enough for octocrab's strict models), `Link` paging on the emulator's own host, GitHub's error
//! bodies, and an optional `/api/v3` prefix (GitHub Enterprise Server).
//!
//! Seed it with [`GithubSeed`] (JSON) at start or through `POST /_emulator/github/seed`. Control
//! routes live under `/_emulator/github/`. The router is `Router<()>` so it merges into the shared
//! emulator with one `Router::merge`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use kv_jit_core::github::codeowners::{self, Codeowners};

/// Fixed instant for every timestamp the emulator invents (no wall clock in tests).
const EPOCH: &str = "2026-11-27T08:00:00Z";
const DOCS: &str = "https://docs.github.com/rest";

/// Everything the emulator knows, as a test or `kv-jit demo` writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSeed {
    #[serde(default)]
    pub repos: Vec<RepoSeed>,
    #[serde(default)]
    pub teams: Vec<TeamSeed>,
    /// Accepted tokens. Empty: any token (or none) is accepted with every permission.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSeed>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSeed {
    pub owner: String,
    pub name: String,
    #[serde(default = "default_branch_name")]
    pub default_branch: String,
    /// Branch name -> commit sha.
    #[serde(default)]
    pub branches: BTreeMap<String, String>,
    /// Commit sha (or branch name) -> path -> file text.
    #[serde(default)]
    pub files: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub pulls: Vec<PullSeed>,
    /// Commits not on any pull request (a direct push) or with extra detail.
    #[serde(default)]
    pub commits: Vec<CommitSeed>,
    /// Login -> `admin` | `maintain` | `write` | `triage` | `read`.
    #[serde(default)]
    pub collaborators: BTreeMap<String, String>,
    #[serde(default)]
    pub comments: Vec<CommentSeed>,
}

fn default_branch_name() -> String {
    "main".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PullSeed {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    pub author: String,
    #[serde(default = "head_ref")]
    pub head_ref: String,
    pub head_sha: String,
    #[serde(default = "default_branch_name")]
    pub base_ref: String,
    pub base_sha: String,
    #[serde(default)]
    pub merged: bool,
    /// When it was merged; a merged pull request without it was merged at the emulator's fixed
    /// instant (`2026-11-27T08:00:00Z`).
    #[serde(default)]
    pub merged_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub files: Vec<FileSeed>,
    /// The branch's commits, oldest first (the last should be `head_sha`).
    #[serde(default)]
    pub commits: Vec<CommitSeed>,
    /// In chronological order.
    #[serde(default)]
    pub reviews: Vec<ReviewSeed>,
}

fn head_ref() -> String {
    "feature".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSeed {
    pub filename: String,
    #[serde(default = "added")]
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
}

fn added() -> String {
    "added".into()
}

impl Default for FileSeed {
    fn default() -> Self {
        FileSeed {
            filename: String::new(),
            status: added(),
            previous_filename: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSeed {
    pub sha: String,
    /// GitHub login the commit is attributed to; `None` when the e-mail maps to no account.
    #[serde(default)]
    pub author: Option<String>,
    /// Paths the commit changes.
    #[serde(default)]
    pub files: Vec<String>,
    /// Extra pull requests to report as associated with this commit.
    #[serde(default)]
    pub pulls: Vec<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSeed {
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// `None` models a garbage-collected commit (GitHub answers `null`).
    #[serde(default)]
    pub commit_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommentSeed {
    pub issue: u64,
    pub user: String,
    pub body: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSeed {
    pub org: String,
    pub slug: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// Invited but not accepted.
    #[serde(default)]
    pub pending: Vec<String>,
    /// Repositories (`owner/name`) the team has access to -> its role there: `admin`,
    /// `maintain`, `push`, `triage` or `pull`. A repository not listed: no access (404).
    #[serde(default)]
    pub repositories: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSeed {
    /// The account the token acts as (author of comments it creates).
    pub login: String,
    /// Granted permissions, e.g. `members:read`. Team routes need `members:read` (an Actions
    /// `GITHUB_TOKEN` never has it).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A stored comment, as the control route shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredComment {
    pub repo: String,
    pub issue: u64,
    pub id: u64,
    pub user: String,
    pub body: String,
    pub updated: u32,
}

/// A fault armed through the control route: the next `times` requests whose method matches and
/// whose path contains `path_contains` get `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub times: u32,
    /// Sent as `Retry-After` (seconds) when set.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

/// One API request as the emulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query as sent (the `/api/v3` prefix included).
    pub path: String,
    /// The `X-GitHub-Api-Version` header, if sent.
    pub api_version: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    seed: GithubSeed,
    comments: Vec<StoredComment>,
    next_comment_id: u64,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
}

/// The emulator's state, shared by its handlers.
#[derive(Debug, Default)]
pub struct GithubState {
    inner: Mutex<Inner>,
}

impl GithubState {
    pub fn new(seed: GithubSeed) -> GithubState {
        let state = GithubState::default();
        state.reseed(seed);
        state
    }

    /// Replaces everything with `seed` (seeded comments get fresh ids).
    pub fn reseed(&self, seed: GithubSeed) {
        let mut inner = self.lock();
        let mut comments = Vec::new();
        let mut id = 1000;
        for repo in &seed.repos {
            for c in &repo.comments {
                id += 1;
                comments.push(StoredComment {
                    repo: format!("{}/{}", repo.owner, repo.name),
                    issue: c.issue,
                    id,
                    user: c.user.clone(),
                    body: c.body.clone(),
                    updated: 0,
                });
            }
        }
        *inner = Inner {
            seed,
            comments,
            next_comment_id: id + 1,
            faults: Vec::new(),
            log: Vec::new(),
        };
    }

    /// Every comment, in creation order.
    pub fn comments(&self) -> Vec<StoredComment> {
        self.lock().comments.clone()
    }

    /// Every API request so far, in order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicked handler must not wedge every later test request.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The GitHub routes at `/` and under `/api/v3`, plus `/_emulator/github/...` control routes.
pub fn router(state: Arc<GithubState>) -> Router {
    let api = Router::new()
        .route("/repos/{owner}/{repo}", get(get_repo))
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
        .route(
            "/repos/{owner}/{repo}/collaborators/{user}/permission",
            get(collaborator_permission),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        // octocrab's `update_comment` sends POST; GitHub accepts both.
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            post(update_comment).patch(update_comment),
        )
        .route("/orgs/{org}/teams/{slug}", get(get_team))
        .route(
            "/orgs/{org}/teams/{slug}/memberships/{user}",
            get(team_membership),
        )
        .route(
            "/orgs/{org}/teams/{slug}/repos/{owner}/{repo}",
            get(team_repo),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    let control = Router::new()
        .route("/_emulator/github/seed", post(control_seed))
        .route("/_emulator/github/comments", get(control_comments))
        .route("/_emulator/github/requests", get(control_requests))
        .route("/_emulator/github/faults", post(control_fault))
        .with_state(state);
    Router::new()
        .merge(api.clone())
        .nest("/api/v3", api)
        .merge(control)
}

/// Binds 127.0.0.1 on a free port and serves the GitHub emulator alone; for tests.
pub async fn spawn_for_tests(
    seed: GithubSeed,
) -> (String, Arc<GithubState>, tokio::task::JoinHandle<()>) {
    let state = Arc::new(GithubState::new(seed));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = router(state.clone());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state, handle)
}

// ---- plumbing ---------------------------------------------------------------------------------

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "message": message, "documentation_url": DOCS })),
    )
        .into_response()
}

fn not_found_response() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// Logs, applies armed faults and checks the token, before any API handler.
async fn gate(
    State(state): State<Arc<GithubState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Inside `/api/v3` the router sees the stripped path; log and match what the client sent.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| request.uri().clone());
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    {
        let mut inner = state.lock();
        let api_version = request
            .headers()
            .get("x-github-api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        inner.log.push(LoggedRequest {
            method: method.to_string(),
            path: path_and_query,
            api_version,
        });
        if let Some(fault) = inner.faults.iter_mut().find(|f| {
            f.times > 0
                && f.method.eq_ignore_ascii_case(method.as_str())
                && uri.path().contains(&f.path_contains)
        }) {
            fault.times -= 1;
            let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = error(status, "Emulated fault");
            if let Some(secs) = fault.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
        if !inner.seed.tokens.is_empty() && token_of(request.headers(), &inner).is_none() {
            return error(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
    }
    next.run(request).await
}

fn token_of<'a>(headers: &HeaderMap, inner: &'a Inner) -> Option<&'a TokenSeed> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))?;
    inner.seed.tokens.get(token.trim())
}

/// The permissions and login a request acts with (everything when no tokens are seeded).
fn caller(headers: &HeaderMap, inner: &Inner) -> (String, Vec<String>) {
    if inner.seed.tokens.is_empty() {
        return ("github-actions[bot]".into(), vec!["members:read".into()]);
    }
    token_of(headers, inner)
        .map(|t| (t.login.clone(), t.permissions.clone()))
        .unwrap_or_default()
}

/// `http://host[/api/v3]`, as the client reached us.
fn api_base(headers: &HeaderMap, uri: &OriginalUri) -> String {
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
struct Paging {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// One page of `items` with GitHub's `Link` header (absolute, on our own host; other query
/// parameters kept).
fn paged(items: Vec<Value>, paging: &Paging, headers: &HeaderMap, uri: &OriginalUri) -> Response {
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
fn link_header(
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

fn find_repo<'a>(inner: &'a Inner, owner: &str, repo: &str) -> Option<&'a RepoSeed> {
    inner
        .seed
        .repos
        .iter()
        .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(repo))
}

fn find_pull(repo: &RepoSeed, number: u64) -> Option<&PullSeed> {
    repo.pulls.iter().find(|p| p.number == number)
}

/// A stable number for an id field.
fn id_of(text: &str) -> u64 {
    text.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    }) % 1_000_000_000
        + 1
}

/// A fake 40-hex blob sha for file content.
fn blob_sha(text: &str) -> String {
    let h = id_of(text);
    format!("{h:040x}")
}

fn user_json(base: &str, login: &str) -> Value {
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

fn pull_json(base: &str, repo: &RepoSeed, pull: &PullSeed) -> Value {
    let full = format!("{}/{}", repo.owner, repo.name);
    let url = format!("{base}/repos/{full}/pulls/{}", pull.number);
    let html = format!("https://github.com/{full}/pull/{}", pull.number);
    let merged_at = pull.merged.then(|| {
        pull.merged_at.map_or(EPOCH.to_owned(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    });
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
        "created_at": EPOCH, "updated_at": EPOCH, "closed_at": merged_at, "merged_at": merged_at,
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

fn file_json(base: &str, full: &str, sha: &str, file: &FileSeed) -> Value {
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

fn commit_json(base: &str, full: &str, commit: &CommitSeed) -> Value {
    let person = json!({ "name": commit.author.clone().unwrap_or_else(|| "Unknown".into()),
                         "email": "someone@example.com", "date": EPOCH });
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

fn comment_json(base: &str, c: &StoredComment) -> Value {
    let url = format!("{base}/repos/{}/issues/comments/{}", c.repo, c.id);
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id), "url": url,
        "html_url": format!("https://github.com/{}/pull/{}#issuecomment-{}", c.repo, c.issue, c.id),
        "issue_url": format!("{base}/repos/{}/issues/{}", c.repo, c.issue),
        "body": c.body, "user": user_json(base, &c.user), "created_at": EPOCH, "updated_at": EPOCH,
        "author_association": "NONE",
        "reactions": { "url": format!("{url}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                       "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0 }
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

// ---- API handlers -----------------------------------------------------------------------------

type RepoPath = Path<(String, String)>;
type NumberPath = Path<(String, String, u64)>;

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

async fn get_pull(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(pull) = find_pull(repo, n) else {
        return not_found_response();
    };
    axum::Json(pull_json(&api_base(&h, &u), repo, pull)).into_response()
}

async fn list_reviews(
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
    let Some(pull) = find_pull(repo, n) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
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
                "submitted_at": EPOCH, "commit_id": review.commit_id
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
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(pull) = find_pull(repo, n) else {
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
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some(pull) = find_pull(repo, n) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let full = format!("{}/{}", repo.owner, repo.name);
    let items = pull
        .commits
        .iter()
        .take(250)
        .map(|c| commit_json(&base, &full, c))
        .collect();
    paged(items, &p, &h, &u)
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
    let mut v = commit_json(&base, &full, commit);
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
            let mut v = pull_json(&base, repo, pull);
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

async fn collaborator_permission(
    State(s): State<Arc<GithubState>>,
    Path((o, r, user)): Path<(String, String, String)>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let Some((login, role)) = repo
        .collaborators
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(&user))
    else {
        return error(StatusCode::NOT_FOUND, &format!("{user} is not a user"));
    };
    // The legacy `permission` field folds maintain into write and triage into read.
    let permission = match role.as_str() {
        "maintain" => "write",
        "triage" => "read",
        other => other,
    };
    axum::Json(json!({ "permission": permission, "role_name": role, "user": user_json(&api_base(&h, &u), login) }))
        .into_response()
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
    if find_pull(repo, n).is_none() {
        return not_found_response();
    }
    let (login, _) = caller(&h, &inner);
    let id = inner.next_comment_id;
    inner.next_comment_id += 1;
    let comment = StoredComment {
        repo: full,
        issue: n,
        id,
        user: login,
        body: body.body,
        updated: 0,
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
    let comment = comment.clone();
    axum::Json(comment_json(&api_base(&h, &u), &comment)).into_response()
}

/// Team routes need the organisation "Members: read" permission, which the Actions
/// `GITHUB_TOKEN` never has; GitHub answers 403 then.
fn team_gate(inner: &Inner, h: &HeaderMap) -> Option<Response> {
    let (_, permissions) = caller(h, inner);
    (!permissions
        .iter()
        .any(|p| p == "members:read" || p == "members:write"))
    .then(|| {
        error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        )
    })
}

fn find_team<'a>(inner: &'a Inner, org: &str, slug: &str) -> Option<&'a TeamSeed> {
    inner
        .seed
        .teams
        .iter()
        .find(|t| t.org.eq_ignore_ascii_case(org) && t.slug.eq_ignore_ascii_case(slug))
}

async fn get_team(
    State(s): State<Arc<GithubState>>,
    Path((org, slug)): Path<(String, String)>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    if let Some(denied) = team_gate(&inner, &h) {
        return denied;
    }
    let Some(team) = find_team(&inner, &org, &slug) else {
        return not_found_response();
    };
    let base = api_base(&h, &u);
    let url = format!("{base}/orgs/{}/teams/{}", team.org, team.slug);
    axum::Json(json!({
        "id": id_of(&url), "node_id": format!("T_{}", id_of(&url)), "url": url.clone(),
        "html_url": format!("https://github.com/orgs/{}/teams/{}", team.org, team.slug),
        "name": team.slug, "slug": team.slug, "description": null, "privacy": "closed",
        "notification_setting": "notifications_enabled", "permission": "pull",
        "members_url": format!("{url}/members{{/member}}"), "repositories_url": format!("{url}/repos"),
        "parent": null
    }))
    .into_response()
}

async fn team_membership(
    State(s): State<Arc<GithubState>>,
    Path((org, slug, user)): Path<(String, String, String)>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    if let Some(denied) = team_gate(&inner, &h) {
        return denied;
    }
    let Some(team) = find_team(&inner, &org, &slug) else {
        return not_found_response();
    };
    let state = if team.members.iter().any(|m| m.eq_ignore_ascii_case(&user)) {
        "active"
    } else if team.pending.iter().any(|m| m.eq_ignore_ascii_case(&user)) {
        "pending"
    } else {
        return not_found_response();
    };
    let url = format!(
        "{}/orgs/{}/teams/{}/memberships/{user}",
        api_base(&h, &u),
        team.org,
        team.slug
    );
    axum::Json(json!({ "url": url, "role": "member", "state": state })).into_response()
}

/// `GET /orgs/{org}/teams/{slug}/repos/{owner}/{repo}`: with the repository media type, the
/// repository and the team's `permissions` there; 404 when the team has no access.
async fn team_repo(
    State(s): State<Arc<GithubState>>,
    Path((org, slug, owner, name)): Path<(String, String, String, String)>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    if let Some(denied) = team_gate(&inner, &h) {
        return denied;
    }
    let Some(team) = find_team(&inner, &org, &slug) else {
        return not_found_response();
    };
    let Some(repo) = find_repo(&inner, &owner, &name) else {
        return not_found_response();
    };
    let full = format!("{}/{}", repo.owner, repo.name);
    let Some((_, role)) = team
        .repositories
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(&full))
    else {
        return not_found_response();
    };
    let rank = ["pull", "triage", "push", "maintain", "admin"]
        .iter()
        .position(|r| r == role)
        .map_or(0, |i| i + 1);
    let permissions = json!({
        "pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5
    });
    let accept = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Without the repository media type GitHub answers 204: the team has access.
    if !accept.contains("application/vnd.github.v3.repository+json") {
        return StatusCode::NO_CONTENT.into_response();
    }
    let base = api_base(&h, &u);
    axum::Json(json!({
        "id": id_of(&full), "node_id": format!("R_{}", id_of(&full)), "name": repo.name, "full_name": full,
        "owner": user_json(&base, &repo.owner), "private": true,
        "html_url": format!("https://github.com/{full}"), "url": format!("{base}/repos/{full}"),
        "default_branch": repo.default_branch, "visibility": "private", "fork": false,
        "permissions": permissions, "role_name": role
    }))
    .into_response()
}

// ---- control routes ---------------------------------------------------------------------------

async fn control_seed(
    State(s): State<Arc<GithubState>>,
    axum::Json(seed): axum::Json<GithubSeed>,
) -> StatusCode {
    s.reseed(seed);
    StatusCode::NO_CONTENT
}

async fn control_comments(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<StoredComment>> {
    axum::Json(s.comments())
}

async fn control_requests(State(s): State<Arc<GithubState>>) -> axum::Json<Vec<LoggedRequest>> {
    axum::Json(s.request_log())
}

async fn control_fault(
    State(s): State<Arc<GithubState>>,
    axum::Json(fault): axum::Json<Fault>,
) -> StatusCode {
    s.add_fault(fault);
    StatusCode::NO_CONTENT
}
