//! Who may do what: a collaborator's permission on a repository, and teams (the team, a
//! membership, the team's role on a repository). Team routes need `members:read`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::rest::{api_base, error, find_repo, id_of, not_found_response, user_json};
use super::{GithubState, Inner, TeamSeed, caller};

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/collaborators/{user}/permission",
            get(collaborator_permission),
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
