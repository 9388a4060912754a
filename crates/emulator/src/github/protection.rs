//! Branch protection and rulesets, read-only, as `kv-jit doctor` reads them:
//!
//! - `GET /repos/{o}/{r}/branches/{branch}/protection`: classic protection. 404
//!   `Branch not protected` when none is seeded; with seeded tokens, a token without
//!   `administration:read` gets GitHub's 403 `Resource not accessible by integration` (an
//!   Actions `GITHUB_TOKEN` cannot read protection settings).
//! - `GET /repos/{o}/{r}/rules/branches/{branch}`: the active rules of every ruleset that targets
//!   the branch (rulesets in `evaluate` or `disabled` enforcement are left out, as GitHub does),
//!   paged; needs only metadata read.
//!
//! Seeded per repository ([`ProtectionSeed`] by branch name, [`RulesetSeed`]s); the default is
//! none, so a branch is unprotected unless a test says otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::rest::{Paging, api_base, error, find_repo, not_found_response, paged};
use super::{GithubState, token_of};

/// Classic protection of one branch.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSeed {
    /// "Require a pull request before merging"; `None`: not required.
    #[serde(default)]
    pub required_pull_request_reviews: Option<ReviewsSeed>,
    #[serde(default)]
    pub allow_force_pushes: bool,
    #[serde(default)]
    pub allow_deletions: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsSeed {
    #[serde(default)]
    pub require_code_owner_reviews: bool,
    #[serde(default)]
    pub dismiss_stale_reviews: bool,
    #[serde(default)]
    pub require_last_push_approval: bool,
    #[serde(default = "one")]
    pub required_approving_review_count: u32,
}

fn one() -> u32 {
    1
}

/// A repository ruleset and the rules kv-jit reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetSeed {
    pub id: u64,
    /// The branches it targets: names (`main` or `refs/heads/main`), `~DEFAULT_BRANCH`, `~ALL`.
    pub branches: Vec<String>,
    /// `active`, `evaluate` or `disabled`; only active rules are returned. Default `active`.
    #[serde(default)]
    pub enforcement: Option<String>,
    /// The `pull_request` rule, if the ruleset has one.
    #[serde(default)]
    pub pull_request: Option<PullRequestRuleSeed>,
    /// The `non_fast_forward` rule (block force pushes).
    #[serde(default)]
    pub non_fast_forward: bool,
    /// The `deletion` rule (restrict deletions).
    #[serde(default)]
    pub deletion: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequestRuleSeed {
    #[serde(default)]
    pub require_code_owner_review: bool,
    #[serde(default)]
    pub dismiss_stale_reviews_on_push: bool,
    #[serde(default)]
    pub require_last_push_approval: bool,
    #[serde(default = "one")]
    pub required_approving_review_count: u32,
}

pub(super) fn routes() -> Router<Arc<GithubState>> {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/branches/{branch}/protection",
            get(get_protection),
        )
        .route(
            "/repos/{owner}/{repo}/rules/branches/{*branch}",
            get(get_rules),
        )
}

async fn get_protection(
    State(s): State<Arc<GithubState>>,
    Path((o, r, branch)): Path<(String, String, String)>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    if !inner.seed.tokens.is_empty() {
        let may = token_of(&h, &inner)
            .is_some_and(|t| t.permissions.iter().any(|p| p == "administration:read"));
        if !may {
            return error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            );
        }
    }
    let Some(p) = repo.protection.get(&branch) else {
        return error(StatusCode::NOT_FOUND, "Branch not protected");
    };
    let url = format!(
        "{}/repos/{}/{}/branches/{branch}/protection",
        api_base(&h, &u),
        repo.owner,
        repo.name
    );
    let flag = |name: &str, on: bool| json!({"url": format!("{url}/{name}"), "enabled": on});
    let mut body = json!({
        "url": url,
        "required_signatures": flag("required_signatures", false),
        "enforce_admins": flag("enforce_admins", false),
        "required_linear_history": {"enabled": false},
        "allow_force_pushes": {"enabled": p.allow_force_pushes},
        "allow_deletions": {"enabled": p.allow_deletions},
        "block_creations": {"enabled": false},
        "required_conversation_resolution": {"enabled": false},
        "lock_branch": {"enabled": false},
        "allow_fork_syncing": {"enabled": false},
    });
    if let Some(reviews) = &p.required_pull_request_reviews {
        body["required_pull_request_reviews"] = json!({
            "url": format!("{url}/required_pull_request_reviews"),
            "dismiss_stale_reviews": reviews.dismiss_stale_reviews,
            "require_code_owner_reviews": reviews.require_code_owner_reviews,
            "require_last_push_approval": reviews.require_last_push_approval,
            "required_approving_review_count": reviews.required_approving_review_count,
        });
    }
    axum::Json(body).into_response()
}

fn targets(ruleset: &RulesetSeed, branch: &str, default_branch: &str) -> bool {
    ruleset.branches.iter().any(|b| {
        let b = b.strip_prefix("refs/heads/").unwrap_or(b);
        b == "~ALL" || b == branch || (b == "~DEFAULT_BRANCH" && branch == default_branch)
    })
}

async fn get_rules(
    State(s): State<Arc<GithubState>>,
    Path((o, r, branch)): Path<(String, String, String)>,
    Query(paging): Query<Paging>,
    h: HeaderMap,
    u: OriginalUri,
) -> Response {
    let inner = s.lock();
    let Some(repo) = find_repo(&inner, &o, &r) else {
        return not_found_response();
    };
    let source = format!("{}/{}", repo.owner, repo.name);
    let mut rules: Vec<Value> = Vec::new();
    for rs in repo.rulesets.iter().filter(|rs| {
        rs.enforcement.as_deref().unwrap_or("active") == "active"
            && targets(rs, &branch, &repo.default_branch)
    }) {
        let mut rule = |kind: &str, parameters: Option<Value>| {
            let mut v = json!({
                "type": kind,
                "ruleset_source_type": "Repository",
                "ruleset_source": source,
                "ruleset_id": rs.id,
            });
            if let Some(p) = parameters {
                v["parameters"] = p;
            }
            rules.push(v);
        };
        if let Some(pr) = &rs.pull_request {
            rule(
                "pull_request",
                Some(json!({
                    "allowed_merge_methods": ["merge", "squash", "rebase"],
                    "dismiss_stale_reviews_on_push": pr.dismiss_stale_reviews_on_push,
                    "require_code_owner_review": pr.require_code_owner_review,
                    "require_last_push_approval": pr.require_last_push_approval,
                    "required_approving_review_count": pr.required_approving_review_count,
                    "required_review_thread_resolution": false,
                })),
            );
        }
        if rs.non_fast_forward {
            rule("non_fast_forward", None);
        }
        if rs.deletion {
            rule("deletion", None);
        }
    }
    paged(rules, &paging, &h, &u)
}

#[cfg(test)]
mod tests {
    use super::super::{GithubSeed, GithubState, router};
    use crate::Core;
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    async fn call(
        state: &std::sync::Arc<GithubState>,
        uri: &str,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut b = Request::builder().uri(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let response = router(state.clone())
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn state(seed: Value) -> std::sync::Arc<GithubState> {
        let seed: GithubSeed = serde_json::from_value(seed).unwrap();
        let core = std::sync::Arc::new(Core::at("2026-11-27T08:00:00Z".parse().unwrap()));
        std::sync::Arc::new(GithubState::new(seed, core))
    }

    #[tokio::test]
    async fn unprotected_by_default_and_protected_as_seeded() {
        let s = state(json!({"repos": [{"owner": "acme", "name": "access",
            "protection": {"main": {"required_pull_request_reviews": {"require_code_owner_reviews": true}}}}]}));
        let (status, body) = call(&s, "/repos/acme/access/branches/ledger/protection", None).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (404, Some("Branch not protected"))
        );
        let (status, body) = call(&s, "/repos/acme/access/branches/main/protection", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["required_pull_request_reviews"]["require_code_owner_reviews"],
            true
        );
        assert_eq!(
            body["required_pull_request_reviews"]["dismiss_stale_reviews"],
            false
        );
        assert_eq!(body["allow_force_pushes"]["enabled"], false);
        let (status, rules) = call(&s, "/repos/acme/access/rules/branches/main", None).await;
        assert_eq!((status, rules), (200, json!([])));
    }

    #[tokio::test]
    async fn protection_needs_administration_read() {
        let s = state(
            json!({"repos": [{"owner": "acme", "name": "access", "protection": {"main": {}}}],
            "tokens": {"actions": {"login": "github-actions[bot]"},
                       "admin": {"login": "octo", "permissions": ["administration:read"]}}}),
        );
        let (status, body) = call(
            &s,
            "/repos/acme/access/branches/main/protection",
            Some("actions"),
        )
        .await;
        assert_eq!(
            (status, body["message"].as_str()),
            (403, Some("Resource not accessible by integration"))
        );
        let (status, _) = call(
            &s,
            "/repos/acme/access/branches/main/protection",
            Some("admin"),
        )
        .await;
        assert_eq!(status, 200);
        // Rules need only metadata read.
        let (status, _) = call(
            &s,
            "/repos/acme/access/rules/branches/main",
            Some("actions"),
        )
        .await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn rules_of_active_rulesets_that_target_the_branch() {
        let s = state(
            json!({"repos": [{"owner": "acme", "name": "access", "rulesets": [
                {"id": 1, "branches": ["~DEFAULT_BRANCH"], "non_fast_forward": true, "deletion": true,
                 "pull_request": {"require_code_owner_review": true, "dismiss_stale_reviews_on_push": true}},
                {"id": 2, "branches": ["refs/heads/audit/ledger"], "deletion": true},
                {"id": 3, "branches": ["~ALL"], "enforcement": "evaluate", "non_fast_forward": true}
            ]}]}),
        );
        let (_, rules) = call(&s, "/repos/acme/access/rules/branches/main", None).await;
        let kinds: Vec<&str> = rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["pull_request", "non_fast_forward", "deletion"]);
        assert_eq!(
            rules[0]["parameters"]["dismiss_stale_reviews_on_push"],
            true
        );
        assert_eq!(rules[0]["parameters"]["require_last_push_approval"], false);
        assert_eq!(rules[0]["ruleset_id"], 1);
        let (_, rules) = call(&s, "/repos/acme/access/rules/branches/audit/ledger", None).await;
        assert_eq!(rules.as_array().unwrap().len(), 1);
        assert_eq!(rules[0]["type"], "deletion");
    }
}
