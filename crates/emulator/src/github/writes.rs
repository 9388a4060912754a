//! The write side of pull requests, as a person at github.com uses it (`kv-jit demo` drives
//! it): open a pull request, review it, merge it.
//!
//! | method | path | GitHub's answers the emulator gives |
//! |---|---|---|
//! | POST | `/repos/{o}/{r}/pulls` `{title, head, base, body?}` | 201 the pull request; 404 unknown repository; 422 `Validation Failed` (a field missing, an unknown `head` or `base`, a pull request already open for `head`, no commits between them) |
//! | POST | `/repos/{o}/{r}/pulls/{n}/reviews` `{event, body?, commit_id?}` | 200 the review (`APPROVE`, `REQUEST_CHANGES`, `COMMENT`; no event: `PENDING`); 404 unknown pull request; 422 approving or requesting changes on your own pull request, a body missing where GitHub wants one, an unknown event |
//! | PUT | `/repos/{o}/{r}/pulls/{n}/merge` `{sha?, merge_method?, commit_title?, commit_message?}` | 200 `{sha, merged, message}`; 404 unknown pull request; 405 not mergeable (already merged, or no merge commit pushed) or a merge method the repository does not allow (only merge commits); 409 `sha` is not the head; 422 an unknown merge method |
//!
//! Who acts is the token's login (the seed's `tokens`). The emulator does not host git, so what
//! a `git push` would tell GitHub is told in-process with [`GithubState::push`]: each commit's
//! sha, parents, author and tree. From that the emulator works out a pull request's files (the
//! diff of the head's tree against the base's) and commits (those pushed to the head branch),
//! as GitHub does from git. Merging makes no commit either: the merge commit (first parent the
//! base, second the head) is made and pushed to the base branch first, as `git merge --no-ff`
//! would, and `PUT …/merge` then records it as the pull request's `merge_commit_sha`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::pulls::pull_json;
use super::rest::{
    NumberPath, RepoPath, api_base, error, find_repo, find_repo_mut, not_found_response, timestamp,
    user_json,
};
use super::{CommitSeed, FileSeed, GithubSeed, GithubState, Inner, PullSeed, ReviewSeed, caller};

const REVIEW_DOCS: &str =
    "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request";
const CREATE_DOCS: &str = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request";
const MERGE_DOCS: &str = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request";

/// What pushes told the emulator beyond the seed: each commit's parents, and the commits
/// pushed to each branch other than the default one (keyed `owner/name` lower-cased, branch).
#[derive(Debug, Default)]
pub(super) struct Pushes {
    parents: BTreeMap<String, Vec<String>>,
    branch_commits: BTreeMap<(String, String), Vec<String>>,
}

/// One commit of a push, as git knows it.
#[derive(Debug, Clone, Default)]
pub struct PushedCommit {
    pub sha: String,
    /// First parent first (a merge commit's first parent is the branch it was made on).
    pub parents: Vec<String>,
    /// The GitHub login the commit's e-mail belongs to; `None`: no account.
    pub author: Option<String>,
    /// Every file at this commit: path -> text.
    pub tree: BTreeMap<String, String>,
}

impl GithubState {
    /// A `git push` of `commits` (oldest first) to `branch`, which then points at the last one.
    /// Each commit's changed files are its tree against its first parent's. Errors name an
    /// unknown repository or an empty push.
    pub fn push(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
        commits: Vec<PushedCommit>,
    ) -> Result<(), String> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(r) = find_repo_mut(&mut inner.seed.repos, owner, repo) else {
            return Err(format!("no repository {owner}/{repo} in the emulator"));
        };
        let Some(tip) = commits.last().map(|c| c.sha.clone()) else {
            return Err("a push needs at least one commit".into());
        };
        let key = (
            format!("{}/{}", r.owner, r.name).to_ascii_lowercase(),
            branch.to_owned(),
        );
        for c in commits {
            let before = c
                .parents
                .first()
                .and_then(|p| r.files.get(p))
                .cloned()
                .unwrap_or_default();
            let changed: Vec<String> = diff(&before, &c.tree)
                .into_iter()
                .map(|f| f.filename)
                .collect();
            if !r.commits.iter().any(|k| k.sha == c.sha) {
                r.commits.push(CommitSeed {
                    sha: c.sha.clone(),
                    author: c.author.clone(),
                    files: changed,
                    pulls: vec![],
                });
            }
            r.files.insert(c.sha.clone(), c.tree);
            inner.pushes.parents.insert(c.sha.clone(), c.parents);
            if !branch.eq_ignore_ascii_case(&r.default_branch) {
                inner
                    .pushes
                    .branch_commits
                    .entry(key.clone())
                    .or_default()
                    .push(c.sha);
            }
        }
        r.branches.insert(branch.to_owned(), tip);
        Ok(())
    }

    /// The GitHub world as it stands now, as a seed (comments included): what `kv-jit demo
    /// --keep` saves so `kv-jit emulator --seed` starts where the demo ended.
    pub fn snapshot(&self) -> GithubSeed {
        let inner = self.lock();
        let mut seed = inner.seed.clone();
        for repo in &mut seed.repos {
            let full = format!("{}/{}", repo.owner, repo.name);
            repo.comments = inner
                .comments
                .iter()
                .filter(|c| c.repo.eq_ignore_ascii_case(&full))
                .map(|c| super::CommentSeed {
                    issue: c.issue,
                    user: c.user.clone(),
                    body: c.body.clone(),
                })
                .collect();
        }
        seed
    }
}

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route("/repos/{owner}/{repo}/pulls", post(create_pull))
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/reviews",
            post(create_review),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/merge",
            put(merge_pull),
        )
}

/// GitHub's 422: `Validation Failed` with its `errors` list.
fn invalid(errors: Value, docs: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(
            json!({ "message": "Validation Failed", "errors": errors, "documentation_url": docs }),
        ),
    )
        .into_response()
}

/// GitHub's 422 for a review it refuses: `Unprocessable Entity` with the reason as a string.
fn unprocessable(reason: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({ "message": "Unprocessable Entity", "errors": [reason], "documentation_url": REVIEW_DOCS })),
    )
        .into_response()
}

/// The files that differ between two trees, as GitHub lists a pull request's.
fn diff(base: &BTreeMap<String, String>, head: &BTreeMap<String, String>) -> Vec<FileSeed> {
    let paths: BTreeSet<&String> = base.keys().chain(head.keys()).collect();
    paths
        .into_iter()
        .filter_map(|p| {
            let status = match (base.get(p), head.get(p)) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(a), Some(b)) if a != b => "modified",
                _ => return None,
            };
            Some(FileSeed {
                filename: p.clone(),
                status: status.into(),
                previous_filename: None,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct NewPull {
    title: Option<String>,
    head: Option<String>,
    base: Option<String>,
}

fn missing(field: &str) -> Value {
    json!({ "resource": "PullRequest", "code": "missing_field", "field": field })
}

async fn create_pull(
    State(s): State<Arc<GithubState>>,
    Path((o, r)): RepoPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<NewPull>,
) -> Response {
    let mut inner = s.lock();
    let inner = &mut *inner;
    if find_repo(inner, &o, &r).is_none() {
        return not_found_response();
    }
    let (login, _) = caller(&h, inner);
    let (Some(title), Some(head), Some(base)) = (&body.title, &body.head, &body.base) else {
        let errors: Vec<Value> = [
            ("title", &body.title),
            ("head", &body.head),
            ("base", &body.base),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| missing(f))
        .collect();
        return invalid(Value::Array(errors), CREATE_DOCS);
    };
    let now = s.core.clock.now();
    let Some(repo) = find_repo_mut(&mut inner.seed.repos, &o, &r) else {
        return not_found_response();
    };
    // `head` may be `owner:branch`; only same-repository branches exist here.
    let head_branch = head
        .split_once(':')
        .map_or(head.as_str(), |(owner, b)| {
            if owner.eq_ignore_ascii_case(&repo.owner) {
                b
            } else {
                head.as_str()
            }
        })
        .to_owned();
    let field_invalid =
        |field: &str| json!([{ "resource": "PullRequest", "code": "invalid", "field": field }]);
    let Some(head_sha) = repo.branches.get(&head_branch).cloned() else {
        return invalid(field_invalid("head"), CREATE_DOCS);
    };
    let Some(base_sha) = repo.branches.get(base).cloned() else {
        return invalid(field_invalid("base"), CREATE_DOCS);
    };
    let custom = |message: String| {
        invalid(
            json!([{ "resource": "PullRequest", "code": "custom", "message": message }]),
            CREATE_DOCS,
        )
    };
    if repo
        .pulls
        .iter()
        .any(|p| !p.merged && p.head_ref == head_branch && p.base_ref == *base)
    {
        return custom(format!(
            "A pull request already exists for {}:{head_branch}.",
            repo.owner
        ));
    }
    let key = (
        format!("{}/{}", repo.owner, repo.name).to_ascii_lowercase(),
        head_branch.clone(),
    );
    let pushed = inner
        .pushes
        .branch_commits
        .get(&key)
        .cloned()
        .unwrap_or_default();
    let commits: Vec<CommitSeed> = pushed
        .iter()
        .filter_map(|sha| repo.commits.iter().find(|c| &c.sha == sha).cloned())
        .collect();
    if commits.is_empty() || head_sha == base_sha {
        return custom(format!("No commits between {base} and {head_branch}"));
    }
    let empty = BTreeMap::new();
    let files = diff(
        repo.files.get(&base_sha).unwrap_or(&empty),
        repo.files.get(&head_sha).unwrap_or(&empty),
    );
    // Pull requests and issues share one sequence of numbers.
    let number = repo
        .pulls
        .iter()
        .map(|p| p.number)
        .chain(inner.comments.iter().map(|c| c.issue))
        .chain(repo.comments.iter().map(|c| c.issue))
        .chain(repo.issues.iter().map(|i| i.number))
        .max()
        .unwrap_or(0)
        + 1;
    let pull = PullSeed {
        number,
        title: title.clone(),
        author: login,
        head_ref: head_branch,
        head_sha,
        base_ref: base.clone(),
        base_sha,
        merged: false,
        merged_at: None,
        merge_commit_sha: None,
        files,
        commits,
        reviews: vec![],
        created_at: Some(now),
    };
    repo.pulls.push(pull);
    let repo = &*repo;
    let pull = repo.pulls.last().expect("just pushed");
    let v = pull_json(&api_base(&h, &u), repo, pull, now);
    let location = v["url"].as_str().unwrap_or_default().to_owned();
    let mut response = (StatusCode::CREATED, axum::Json(v)).into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Debug, Deserialize)]
struct NewReview {
    event: Option<String>,
    body: Option<String>,
    commit_id: Option<String>,
}

async fn create_review(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    h: HeaderMap,
    u: OriginalUri,
    axum::Json(body): axum::Json<NewReview>,
) -> Response {
    let mut inner = s.lock();
    let inner = &mut *inner;
    let (login, _) = caller(&h, inner);
    let Some(repo) = find_repo_mut(&mut inner.seed.repos, &o, &r) else {
        return not_found_response();
    };
    let full = format!("{}/{}", repo.owner, repo.name);
    let Some(pull) = repo.pulls.iter_mut().find(|p| p.number == n) else {
        return not_found_response();
    };
    let state = match body.event.as_deref() {
        None | Some("") => "PENDING",
        Some("APPROVE") => "APPROVED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("COMMENT") => "COMMENTED",
        Some(_) => {
            return invalid(
                json!([{ "resource": "PullRequestReview", "code": "invalid", "field": "event" }]),
                REVIEW_DOCS,
            );
        }
    };
    let own = pull.author.eq_ignore_ascii_case(&login);
    match state {
        "APPROVED" if own => return unprocessable("Can not approve your own pull request"),
        "CHANGES_REQUESTED" if own => {
            return unprocessable("Can not request changes on your own pull request");
        }
        "CHANGES_REQUESTED" | "COMMENTED" if body.body.as_deref().unwrap_or("").is_empty() => {
            return unprocessable(&format!(
                "Review body is required for {} reviews",
                body.event.as_deref().unwrap_or_default()
            ));
        }
        _ => {}
    }
    let commit_id = body.commit_id.unwrap_or_else(|| pull.head_sha.clone());
    pull.reviews.push(ReviewSeed {
        user: login.clone(),
        state: state.into(),
        commit_id: Some(commit_id.clone()),
    });
    let id = n * 100_000 + pull.reviews.len() as u64;
    let base = api_base(&h, &u);
    let html = format!("https://github.com/{full}/pull/{n}#pullrequestreview-{id}");
    let pull_url = format!("{base}/repos/{full}/pulls/{n}");
    let submitted_at = (state != "PENDING").then(|| timestamp(s.core.clock.now()));
    axum::Json(json!({
        "id": id, "node_id": format!("PRR_{id}"), "user": user_json(&base, &login),
        "body": body.body.unwrap_or_default(), "state": state, "html_url": html,
        "pull_request_url": pull_url, "author_association": "MEMBER",
        "_links": { "html": { "href": html }, "pull_request": { "href": pull_url } },
        "submitted_at": submitted_at, "commit_id": commit_id
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct MergeBody {
    sha: Option<String>,
    merge_method: Option<String>,
}

fn merge_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "message": message, "documentation_url": MERGE_DOCS })),
    )
        .into_response()
}

async fn merge_pull(
    State(s): State<Arc<GithubState>>,
    Path((o, r, n)): NumberPath,
    body: Option<axum::Json<MergeBody>>,
) -> Response {
    let body = body.map(|b| b.0).unwrap_or(MergeBody {
        sha: None,
        merge_method: None,
    });
    let now = s.core.clock.now();
    let mut inner = s.lock();
    let Inner { seed, pushes, .. } = &mut *inner;
    let Some(repo) = seed
        .repos
        .iter_mut()
        .find(|x| x.owner.eq_ignore_ascii_case(&o) && x.name.eq_ignore_ascii_case(&r))
    else {
        return not_found_response();
    };
    let tip = repo.branches.get(&repo.default_branch).cloned();
    let Some(pull) = repo.pulls.iter_mut().find(|p| p.number == n) else {
        return not_found_response();
    };
    match body.merge_method.as_deref().unwrap_or("merge") {
        "merge" => {}
        "squash" => {
            return merge_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Squash merges are not allowed on this repository.",
            );
        }
        "rebase" => {
            return merge_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Rebase merges are not allowed on this repository.",
            );
        }
        _ => {
            return invalid(
                json!([{ "resource": "PullRequest", "code": "invalid", "field": "merge_method" }]),
                MERGE_DOCS,
            );
        }
    }
    if pull.merged {
        return merge_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        );
    }
    if body.sha.as_deref().is_some_and(|sha| sha != pull.head_sha) {
        return merge_error(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    // The merge commit must already be on the base branch (see the module docs): its second
    // parent the head. The base branch the pull request targets must be the default one here.
    let merge_sha = tip
        .filter(|_| pull.base_ref == repo.default_branch)
        .filter(|t| {
            pushes
                .parents
                .get(t)
                .is_some_and(|p| p.len() == 2 && p[1] == pull.head_sha)
        });
    let Some(merge_sha) = merge_sha else {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is not mergeable",
        );
    };
    pull.merged = true;
    pull.merged_at = Some(now);
    pull.merge_commit_sha = Some(merge_sha.clone());
    axum::Json(
        json!({ "sha": merge_sha, "merged": true, "message": "Pull Request successfully merged" }),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Core;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const T: &str = "2026-11-27T09:00:00Z";

    fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    /// acme/access: main at `m1` (CODEOWNERS), branch `feature` at `f1` adding a request, as
    /// alice; tokens for alice and carol.
    fn world() -> Arc<GithubState> {
        let seed: GithubSeed = serde_json::from_value(json!({
            "repos": [{ "owner": "acme", "name": "access" }],
            "tokens": {
                "alice-token": { "login": "alice" },
                "carol-token": { "login": "carol" }
            }
        }))
        .unwrap();
        let state = Arc::new(GithubState::new(
            seed,
            Arc::new(Core::at(T.parse().unwrap())),
        ));
        let base = tree(&[(".github/CODEOWNERS", "/requests/ @carol\n")]);
        let mut head = base.clone();
        head.insert("requests/a.yaml".into(), "x: 1\n".into());
        state
            .push(
                "acme",
                "access",
                "main",
                vec![PushedCommit {
                    sha: "m1".into(),
                    tree: base,
                    ..PushedCommit::default()
                }],
            )
            .unwrap();
        state
            .push(
                "acme",
                "access",
                "feature",
                vec![PushedCommit {
                    sha: "f1".into(),
                    parents: vec!["m1".into()],
                    author: Some("alice".into()),
                    tree: head,
                }],
            )
            .unwrap();
        state
    }

    async fn call(
        state: &Arc<GithubState>,
        method: &str,
        uri: &str,
        token: &str,
        body: Value,
    ) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = super::super::router(state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn open(state: &Arc<GithubState>) -> (u16, Value) {
        call(
            state,
            "POST",
            "/repos/acme/access/pulls",
            "alice-token",
            json!({"title": "Access", "head": "feature", "base": "main"}),
        )
        .await
    }

    #[tokio::test]
    async fn opening_a_pull_request_derives_its_files_and_commits_from_the_pushes() {
        let state = world();
        let (status, pull) = open(&state).await;
        assert_eq!(status, 201, "{pull}");
        assert_eq!(pull["number"], 1);
        assert_eq!(pull["user"]["login"], "alice");
        assert_eq!(pull["head"]["sha"], "f1");
        assert_eq!(pull["base"]["sha"], "m1");
        assert_eq!(pull["state"], "open");
        assert_eq!(pull["commits"], 1);
        assert_eq!(pull["changed_files"], 1);
        let (_, files) = call(
            &state,
            "GET",
            "/repos/acme/access/pulls/1/files",
            "alice-token",
            Value::Null,
        )
        .await;
        assert_eq!(files[0]["filename"], "requests/a.yaml");
        assert_eq!(files[0]["status"], "added");
        let (_, commits) = call(
            &state,
            "GET",
            "/repos/acme/access/pulls/1/commits",
            "alice-token",
            Value::Null,
        )
        .await;
        assert_eq!(commits[0]["sha"], "f1");
        assert_eq!(commits[0]["author"]["login"], "alice");
        // The same head again: GitHub's 422.
        let (status, err) = open(&state).await;
        assert_eq!(status, 422);
        assert_eq!(err["message"], "Validation Failed");
        assert_eq!(
            err["errors"][0]["message"],
            "A pull request already exists for acme:feature."
        );
    }

    #[tokio::test]
    async fn opening_a_pull_request_answers_githubs_errors() {
        let state = world();
        let body = json!({"title": "t", "head": "feature", "base": "main"});
        let (status, err) = call(
            &state,
            "POST",
            "/repos/acme/nope/pulls",
            "alice-token",
            body,
        )
        .await;
        assert_eq!((status, err["message"].as_str()), (404, Some("Not Found")));
        let body = json!({"title": "t", "head": "gone", "base": "main"});
        let (status, err) = call(
            &state,
            "POST",
            "/repos/acme/access/pulls",
            "alice-token",
            body,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(err["errors"][0]["field"], "head");
        assert_eq!(err["errors"][0]["code"], "invalid");
        let body = json!({"head": "feature"});
        let (status, err) = call(
            &state,
            "POST",
            "/repos/acme/access/pulls",
            "alice-token",
            body,
        )
        .await;
        assert_eq!(status, 422);
        let missing: Vec<&str> = err["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(missing, ["title", "base"]);
        let body = json!({"title": "t", "head": "main", "base": "main"});
        let (status, err) = call(
            &state,
            "POST",
            "/repos/acme/access/pulls",
            "alice-token",
            body,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(
            err["errors"][0]["message"],
            "No commits between main and main"
        );
    }

    #[tokio::test]
    async fn reviews_are_the_callers_and_github_refuses_approving_your_own() {
        let state = world();
        open(&state).await;
        let approve = json!({"event": "APPROVE"});
        let uri = "/repos/acme/access/pulls/1/reviews";
        let (status, err) = call(&state, "POST", uri, "alice-token", approve.clone()).await;
        assert_eq!(status, 422);
        assert_eq!(err["message"], "Unprocessable Entity");
        assert_eq!(err["errors"][0], "Can not approve your own pull request");
        let changes = json!({"event": "REQUEST_CHANGES", "body": "no"});
        let (status, _) = call(&state, "POST", uri, "alice-token", changes).await;
        assert_eq!(status, 422);
        let (status, _) = call(
            &state,
            "POST",
            uri,
            "carol-token",
            json!({"event": "COMMENT"}),
        )
        .await;
        assert_eq!(status, 422, "a comment review needs a body");
        let (status, _) = call(&state, "POST", uri, "carol-token", json!({"event": "LGTM"})).await;
        assert_eq!(status, 422, "an unknown event");
        let (status, review) = call(&state, "POST", uri, "carol-token", approve.clone()).await;
        assert_eq!(status, 200, "{review}");
        assert_eq!(review["user"]["login"], "carol");
        assert_eq!(review["state"], "APPROVED");
        assert_eq!(review["commit_id"], "f1");
        assert_eq!(review["submitted_at"], T);
        let (_, list) = call(&state, "GET", uri, "carol-token", Value::Null).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["user"]["login"], "carol");
        let (status, _) = call(
            &state,
            "POST",
            "/repos/acme/access/pulls/9/reviews",
            "carol-token",
            approve,
        )
        .await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn merging_records_the_pushed_merge_commit_and_answers_githubs_errors() {
        let state = world();
        open(&state).await;
        let uri = "/repos/acme/access/pulls/1/merge";
        let merge = json!({"merge_method": "merge", "sha": "f1"});
        let (status, _) = call(
            &state,
            "PUT",
            "/repos/acme/access/pulls/9/merge",
            "carol-token",
            merge.clone(),
        )
        .await;
        assert_eq!(status, 404);
        // No merge commit on main yet: not mergeable.
        let (status, err) = call(&state, "PUT", uri, "carol-token", merge.clone()).await;
        assert_eq!(
            (status, err["message"].as_str()),
            (405, Some("Pull Request is not mergeable"))
        );
        let mut merged_tree = state.snapshot().repos[0].files["f1"].clone();
        merged_tree.insert("x".into(), "y".into());
        state
            .push(
                "acme",
                "access",
                "main",
                vec![PushedCommit {
                    sha: "m2".into(),
                    parents: vec!["m1".into(), "f1".into()],
                    tree: merged_tree,
                    ..PushedCommit::default()
                }],
            )
            .unwrap();
        let (status, err) = call(&state, "PUT", uri, "carol-token", json!({"sha": "0ld"})).await;
        assert_eq!(status, 409);
        assert_eq!(
            err["message"],
            "Head branch was modified. Review and try the merge again."
        );
        let (status, _) = call(
            &state,
            "PUT",
            uri,
            "carol-token",
            json!({"merge_method": "squash"}),
        )
        .await;
        assert_eq!(status, 405, "only merge commits are allowed here");
        let (status, _) = call(
            &state,
            "PUT",
            uri,
            "carol-token",
            json!({"merge_method": "octopus"}),
        )
        .await;
        assert_eq!(status, 422);
        state.core().clock.advance(chrono::Duration::minutes(5));
        let (status, done) = call(&state, "PUT", uri, "carol-token", merge.clone()).await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(
            done,
            json!({"sha": "m2", "merged": true, "message": "Pull Request successfully merged"})
        );
        let (_, pull) = call(
            &state,
            "GET",
            "/repos/acme/access/pulls/1",
            "carol-token",
            Value::Null,
        )
        .await;
        assert_eq!(pull["merged"], true);
        assert_eq!(pull["merge_commit_sha"], "m2");
        assert_eq!(pull["merged_at"], "2026-11-27T09:05:00Z");
        let (_, pulls) = call(
            &state,
            "GET",
            "/repos/acme/access/commits/m2/pulls",
            "carol-token",
            Value::Null,
        )
        .await;
        assert_eq!(pulls[0]["number"], 1);
        // Merged already: GitHub's 405.
        let (status, err) = call(&state, "PUT", uri, "carol-token", merge).await;
        assert_eq!(
            (status, err["message"].as_str()),
            (405, Some("Pull Request is not mergeable"))
        );
    }
}
