//! Which protections a branch lacks, from what GitHub says about it: classic branch protection
//! (`GET /repos/{o}/{r}/branches/{b}/protection`) and rulesets (`GET /repos/{o}/{r}/rules/branches/{b}`,
//! the active rules from every level). A setting counts when either source enforces it, as
//! GitHub enforces both.

use serde::Deserialize;

/// Classic branch protection, only the fields read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BranchProtection {
    #[serde(default)]
    pub required_pull_request_reviews: Option<RequiredReviews>,
    #[serde(default)]
    pub allow_force_pushes: Option<Enabled>,
    #[serde(default)]
    pub allow_deletions: Option<Enabled>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequiredReviews {
    #[serde(default)]
    pub dismiss_stale_reviews: bool,
    #[serde(default)]
    pub require_code_owner_reviews: bool,
    #[serde(default)]
    pub require_last_push_approval: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Enabled {
    #[serde(default)]
    pub enabled: bool,
}

/// One active rule for a branch (`type` and, for `pull_request`, its parameters).
#[derive(Debug, Clone, Deserialize)]
pub struct BranchRule {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub parameters: Option<serde_json::Value>,
}

/// The settings kv-jit relies on, each on or off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforced {
    pub code_owner_review: bool,
    pub dismiss_stale_reviews: bool,
    pub last_push_approval: bool,
    pub no_force_push: bool,
    pub no_deletion: bool,
}

/// One missing setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    CodeOwnerReview,
    DismissStaleReviews,
    LastPushApproval,
    ForcePushAllowed,
    DeletionAllowed,
}

impl Missing {
    /// A stable identifier (JSON output).
    pub fn code(self) -> &'static str {
        match self {
            Missing::CodeOwnerReview => "code-owner-review-not-required",
            Missing::DismissStaleReviews => "stale-approvals-not-dismissed",
            Missing::LastPushApproval => "last-push-approval-not-required",
            Missing::ForcePushAllowed => "force-push-allowed",
            Missing::DeletionAllowed => "deletion-allowed",
        }
    }

    /// What is wrong, in words.
    pub fn problem(self) -> &'static str {
        match self {
            Missing::CodeOwnerReview => "code-owner review is not required",
            Missing::DismissStaleReviews => "stale approvals are not dismissed on new pushes",
            Missing::LastPushApproval => "approval of the most recent push is not required",
            Missing::ForcePushAllowed => "force pushes are allowed",
            Missing::DeletionAllowed => "the branch may be deleted",
        }
    }

    /// The ruleset setting that fixes it.
    pub fn fix(self) -> &'static str {
        match self {
            Missing::CodeOwnerReview => {
                "ruleset rule \"Require a pull request before merging\" with \"Require review from Code Owners\""
            }
            Missing::DismissStaleReviews => {
                "in that rule, \"Dismiss stale pull request approvals when new commits are pushed\""
            }
            Missing::LastPushApproval => {
                "in that rule, \"Require approval of the most recent reviewable push\""
            }
            Missing::ForcePushAllowed => "ruleset rule \"Block force pushes\"",
            Missing::DeletionAllowed => "ruleset rule \"Restrict deletions\"",
        }
    }
}

impl Enforced {
    /// What classic protection enforces (an unprotected branch enforces nothing).
    pub fn from_protection(p: &BranchProtection) -> Enforced {
        let r = p.required_pull_request_reviews.clone().unwrap_or_default();
        let has_reviews = p.required_pull_request_reviews.is_some();
        Enforced {
            code_owner_review: has_reviews && r.require_code_owner_reviews,
            dismiss_stale_reviews: has_reviews && r.dismiss_stale_reviews,
            last_push_approval: has_reviews && r.require_last_push_approval,
            // A protected branch refuses force pushes and deletion unless allowed.
            no_force_push: !p.allow_force_pushes.as_ref().is_some_and(|e| e.enabled),
            no_deletion: !p.allow_deletions.as_ref().is_some_and(|e| e.enabled),
        }
    }

    /// What the active ruleset rules enforce.
    pub fn from_rules(rules: &[BranchRule]) -> Enforced {
        let mut e = Enforced::default();
        for rule in rules {
            match rule.kind.as_str() {
                "pull_request" => {
                    let flag = |name: &str| {
                        rule.parameters
                            .as_ref()
                            .and_then(|p| p.get(name))
                            .and_then(serde_json::Value::as_bool)
                            .unwrap_or(false)
                    };
                    e.code_owner_review |= flag("require_code_owner_review");
                    e.dismiss_stale_reviews |= flag("dismiss_stale_reviews_on_push");
                    e.last_push_approval |= flag("require_last_push_approval");
                }
                "non_fast_forward" => e.no_force_push = true,
                "deletion" => e.no_deletion = true,
                _ => {}
            }
        }
        e
    }

    /// Both sources together: a setting holds when either enforces it.
    pub fn union(self, other: Enforced) -> Enforced {
        Enforced {
            code_owner_review: self.code_owner_review || other.code_owner_review,
            dismiss_stale_reviews: self.dismiss_stale_reviews || other.dismiss_stale_reviews,
            last_push_approval: self.last_push_approval || other.last_push_approval,
            no_force_push: self.no_force_push || other.no_force_push,
            no_deletion: self.no_deletion || other.no_deletion,
        }
    }

    /// What is missing. `reviews`: whether the review settings apply (the default branch);
    /// a dedicated ledger branch is pushed to by the grant workflow directly, so only force
    /// pushes and deletion are judged there.
    pub fn missing(self, reviews: bool) -> Vec<Missing> {
        let mut out = Vec::new();
        if reviews {
            if !self.code_owner_review {
                out.push(Missing::CodeOwnerReview);
            }
            if !self.dismiss_stale_reviews {
                out.push(Missing::DismissStaleReviews);
            }
            if !self.last_push_approval {
                out.push(Missing::LastPushApproval);
            }
        }
        if !self.no_force_push {
            out.push(Missing::ForcePushAllowed);
        }
        if !self.no_deletion {
            out.push(Missing::DeletionAllowed);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Missing::*;

    fn protection(json: &str) -> Enforced {
        Enforced::from_protection(&serde_json::from_str(json).unwrap())
    }

    fn rules(json: &str) -> Enforced {
        let r: Vec<BranchRule> = serde_json::from_str(json).unwrap();
        Enforced::from_rules(&r)
    }

    const ALL: [Missing; 5] = [
        CodeOwnerReview,
        DismissStaleReviews,
        LastPushApproval,
        ForcePushAllowed,
        DeletionAllowed,
    ];

    #[test]
    fn table() {
        let full_rules = r#"[
            {"type":"pull_request","parameters":{"require_code_owner_review":true,"dismiss_stale_reviews_on_push":true,"require_last_push_approval":true,"required_approving_review_count":1}},
            {"type":"non_fast_forward"},{"type":"deletion"}]"#;
        let cases: Vec<(&str, Enforced, bool, Vec<Missing>)> = vec![
            ("nothing", Enforced::default(), true, ALL.to_vec()),
            ("nothing, ledger branch", Enforced::default(), false, vec![ForcePushAllowed, DeletionAllowed]),
            ("full rulesets", rules(full_rules), true, vec![]),
            ("empty rules", rules("[]"), true, ALL.to_vec()),
            (
                "rules without stale dismissal",
                rules(r#"[{"type":"pull_request","parameters":{"require_code_owner_review":true,"dismiss_stale_reviews_on_push":false,"require_last_push_approval":true}},{"type":"non_fast_forward"},{"type":"deletion"}]"#),
                true,
                vec![DismissStaleReviews],
            ),
            (
                "unknown rule types count for nothing",
                rules(r#"[{"type":"required_signatures"},{"type":"creation"}]"#),
                true,
                ALL.to_vec(),
            ),
            (
                "classic protection, all on",
                protection(r#"{"required_pull_request_reviews":{"dismiss_stale_reviews":true,"require_code_owner_reviews":true,"require_last_push_approval":true},"allow_force_pushes":{"enabled":false},"allow_deletions":{"enabled":false}}"#),
                true,
                vec![],
            ),
            (
                "classic protection without reviews",
                protection(r#"{"allow_force_pushes":{"enabled":false},"allow_deletions":{"enabled":false}}"#),
                true,
                vec![CodeOwnerReview, DismissStaleReviews, LastPushApproval],
            ),
            (
                "classic protection allowing force pushes and deletion",
                protection(r#"{"required_pull_request_reviews":{"dismiss_stale_reviews":true,"require_code_owner_reviews":true,"require_last_push_approval":true},"allow_force_pushes":{"enabled":true},"allow_deletions":{"enabled":true}}"#),
                true,
                vec![ForcePushAllowed, DeletionAllowed],
            ),
            (
                "classic for reviews plus a ruleset for force pushes",
                protection(r#"{"required_pull_request_reviews":{"dismiss_stale_reviews":true,"require_code_owner_reviews":true,"require_last_push_approval":true},"allow_force_pushes":{"enabled":true},"allow_deletions":{"enabled":false}}"#)
                    .union(rules(r#"[{"type":"non_fast_forward"}]"#)),
                true,
                vec![],
            ),
        ];
        for (name, enforced, reviews, want) in cases {
            assert_eq!(enforced.missing(reviews), want, "{name}");
        }
    }

    #[test]
    fn every_missing_setting_has_words_and_a_fix() {
        let mut codes: Vec<&str> = ALL.iter().map(|m| m.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        for m in ALL {
            assert!(!m.problem().is_empty() && !m.fix().is_empty());
        }
    }
}
