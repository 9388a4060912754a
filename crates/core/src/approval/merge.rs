//! The rules a grant adds after the merge, beyond the pull request's own ([`super::decide`]):
//! the request must pass the policy of the default branch *before* the pull request, the merge
//! commit's date must agree with GitHub's, and every counted approver and the author's binding
//! must still hold on today's default branch. Pure: the shell reads the files (local git) and
//! GitHub; these functions judge them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::{Approval, Refusal};
use crate::config::Config;
use crate::diag::Sink;
use crate::github::codeowners::{Codeowners, Ownership};
use crate::plan::Desired;
use crate::request::Upn;

/// Why a grant went ahead without approval proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not approved as policy demands: recorded as `refused`, not retried for the same file.
    Refused(Refused),
    /// Could not be checked (GitHub unreachable, git failed): recorded as `grant_failed`,
    /// retried next run.
    Unavailable(String),
    /// Not checked because this run cannot afford it (GitHub's rate limit is used up): nothing
    /// was started and nothing is recorded; the grant waits for the next run.
    Deferred(String),
}

impl Denied {
    pub fn refused(rule: Rule, message: impl Into<String>) -> Denied {
        Denied::Refused(Refused {
            rule,
            message: message.into(),
        })
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Refused(r) => f.write_str(&r.message),
            Denied::Unavailable(m) | Denied::Deferred(m) => f.write_str(m),
        }
    }
}

/// A refusal: the rule that refused, and the words the ledger records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub rule: Rule,
    pub message: String,
}

/// The rule a grant was refused by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A pull-request rule, by [`Refusal::code`].
    Approval(&'static str),
    /// No commit in the checkout brought the file.
    NotInCheckout,
    /// The merge commit has no parent to trust.
    NoParent,
    /// The config or CODEOWNERS at the first parent is not a regular UTF-8 file.
    BaseFileUnreadable,
    /// The config is outside the repository, so it has no version before the pull request.
    ConfigOutsideRepository,
    /// No config, or an invalid one, at the first parent.
    NoBaseConfig,
    /// The request does not pass the policy before the pull request.
    NotAllowedUnderBase,
    /// The pull request changed what decides the grant (tenant, cloud, role, vault policy).
    PolicyDiffers,
    /// The merge commit's date and GitHub's merge time disagree.
    MergeDateDisagrees,
    /// Merged by rebase: the first parent is the pull request's own.
    RebaseMerged,
    /// A counted approver no longer owns the file on today's default branch.
    ApproverNoLongerOwner,
    /// The author is no longer bound to the requester on today's default branch.
    AuthorNoLongerBound,
}

impl Rule {
    /// The stable name of the rule (kebab-case; never renamed or reused).
    pub fn code(self) -> &'static str {
        match self {
            Rule::Approval(code) => code,
            Rule::NotInCheckout => "not-in-checkout",
            Rule::NoParent => "no-parent",
            Rule::BaseFileUnreadable => "base-file-unreadable",
            Rule::ConfigOutsideRepository => "config-outside-repository",
            Rule::NoBaseConfig => "no-base-config",
            Rule::NotAllowedUnderBase => "not-allowed-under-base",
            Rule::PolicyDiffers => "policy-differs",
            Rule::MergeDateDisagrees => "merge-date-disagrees",
            Rule::RebaseMerged => "rebase-merged",
            Rule::ApproverNoLongerOwner => "approver-no-longer-owner",
            Rule::AuthorNoLongerBound => "author-no-longer-bound",
        }
    }
}

/// Right after a merge GitHub may not yet link the merge commit to its pull request. Within
/// this long after the commit, "no pull request" is retried by the next run rather than refused.
pub const PR_LINK_GRACE: Duration = Duration::minutes(15);

/// How far a merge commit's date may be from GitHub's `merged_at` (clocks, a queue).
pub const MERGE_CLOCK_SKEW: Duration = Duration::minutes(10);

/// Whether a commit made at `committed` is recent enough at `now` for GitHub to still be
/// linking it. A committer date in the future is not fresh: it would make the grace last forever.
pub fn fresh(now: DateTime<Utc>, committed: DateTime<Utc>) -> bool {
    let age = now - committed;
    age >= -Duration::minutes(2) && age < PR_LINK_GRACE
}

/// A refusal of the pull request, as the grant records it. What the token could not read is an
/// operator's fix away, not a verdict on the request: retried, never a refusal that burns the
/// id; and a missing pull request right after the merge may only be GitHub still linking it.
pub fn denial(refusal: Refusal, fresh: bool) -> Denied {
    match refusal {
        Refusal::Github(_)
        | Refusal::TeamNotReadable { .. }
        | Refusal::PermissionNotReadable { .. }
        | Refusal::IssueNotReadable { .. } => Denied::Unavailable(refusal.to_string()),
        Refusal::NoPullRequest { .. } if fresh => Denied::Unavailable(format!(
            "{refusal} (yet: GitHub may still be linking the merge; retried next run)"
        )),
        _ => Denied::refused(Rule::Approval(refusal.code()), refusal.to_string()),
    }
}

/// A pull request cannot approve itself by editing the policy: the request (its file's
/// `bytes`) must pass `policy::check` under the config of the first parent (`base`), and
/// everything that decides what a grant does must be the same in both configs: the tenant, the
/// cloud's endpoints, the resolved role id and the vault's whole policy
/// ([`crate::config::VaultPolicy::differences`], exhaustive by construction).
pub fn check_base_policy(
    bytes: &[u8],
    desired: &Desired,
    config: &Config,
    base: &Config,
) -> Result<(), Denied> {
    let r = &desired.request;
    let mut sink = Sink::new(r.path.clone());
    let under_base = crate::request::parse_raw(bytes, &mut sink)
        .and_then(|raw| crate::policy::check(&raw, Some(r.id.clone()), base, None, &mut sink));
    let Some(under_base) = under_base else {
        let problems: Vec<String> = sink
            .diags
            .iter()
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        return Err(Denied::refused(
            Rule::NotAllowedUnderBase,
            format!(
                "under the config before this pull request the request is not allowed ({}); merge policy changes in their own pull request first",
                problems.join("; ")
            ),
        ));
    };
    let mut differs: Vec<&str> = Vec::new();
    if config.tenant_id != base.tenant_id {
        differs.push("tenant_id");
    }
    if config.cloud != base.cloud {
        differs.push("cloud");
    }
    if under_base.role_id != r.role_id {
        differs.push("the role's id");
    }
    match (config.vaults.get(&r.vault), base.vaults.get(&r.vault)) {
        (Some(now), Some(before)) => differs.extend(now.differences(before)),
        _ => differs.push("the vault"),
    }
    if !differs.is_empty() {
        return Err(Denied::refused(
            Rule::PolicyDiffers,
            format!(
                "vault `{}`: {} differ from the config before this pull request; merge policy changes in their own pull request first",
                r.vault,
                differs.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Either config's demand holds: lowering `approvals` in the same pull request does not count,
/// and a later raise on the default branch applies to what is still waiting.
pub fn approvals_required(desired: &Desired, config: &Config, base: &Config) -> u32 {
    [config, base]
        .iter()
        .filter_map(|c| c.vaults.get(&desired.request.vault).map(|p| p.approvals))
        .max()
        .unwrap_or(1)
}

/// The window is anchored on the commit's date, which whoever made the commit chose (a pull
/// request "merged" by pushing its head to the default branch keeps the author's dates).
/// GitHub's own merge time must agree, or a future date would postpone an approval without the
/// `max_start_delay` bound, and a past one shorten it unseen.
pub fn check_merge_date(
    approval: &Approval,
    commit: &str,
    committed: DateTime<Utc>,
) -> Result<(), Denied> {
    match approval.merged_at {
        Some(merged_at) if (merged_at - committed).abs() > MERGE_CLOCK_SKEW => {
            Err(Denied::refused(
                Rule::MergeDateDisagrees,
                format!(
                    "commit {} is dated {}, but GitHub merged pull request #{} at {}; the window is anchored on the merge, so the dates must agree (within {} minutes)",
                    &commit[..commit.len().min(12)],
                    committed.to_rfc3339_opts(SecondsFormat::Secs, true),
                    approval.pull_number,
                    merged_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    MERGE_CLOCK_SKEW.num_minutes()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The first parent must be the default branch before the pull request, not one of its own
/// commits: after a rebase merge it is the pull request's previous commit, whose CODEOWNERS or
/// identities the pull request itself could have written (and reverted in its last commit).
/// `parents_pulls` are the pull requests GitHub associates with the first parent.
pub fn check_not_rebased(
    approval: &Approval,
    parent: &str,
    parents_pulls: &[u64],
) -> Result<(), Denied> {
    if parents_pulls.contains(&approval.pull_number) {
        return Err(Denied::refused(
            Rule::RebaseMerged,
            format!(
                "pull request #{} was merged by rebase, so the commit before it on the default branch ({}) is one of its own; merge request pull requests with a merge or squash commit",
                approval.pull_number,
                &parent[..parent.len().min(12)]
            ),
        ));
    }
    Ok(())
}

/// Offboarding holds for what is still waiting: every counted approver must still own the file
/// in today's CODEOWNERS (`today`, the checked-out default branch), and the author must still be
/// bound to the requester by today's `identities`, not only by those before.
pub fn check_still_approved(
    approval: &Approval,
    desired: &Desired,
    today: Option<&Codeowners>,
    identities: &BTreeMap<String, Upn>,
) -> Result<(), Denied> {
    let r = &desired.request;
    let owners_today: Vec<String> = match today.map(|c| c.ownership(&r.path)) {
        Some(Ownership::Owned { owners, .. }) => owners.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let gone: Vec<&str> = approval
        .approvers
        .iter()
        .filter(|p| {
            !owners_today
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&p.as_owner))
        })
        .map(|p| p.login.as_str())
        .collect();
    if !gone.is_empty() {
        return Err(Denied::refused(
            Rule::ApproverNoLongerOwner,
            format!(
                "@{} no longer own{} `{}` in today's CODEOWNERS; nothing they approved that still waits is granted",
                gone.join(", @"),
                if gone.len() == 1 { "s" } else { "" },
                r.path
            ),
        ));
    }
    let bound_now = identities
        .iter()
        .find(|(login, _)| login.eq_ignore_ascii_case(&approval.requested_by))
        .is_some_and(|(_, upn)| upn.as_str().eq_ignore_ascii_case(r.requester.as_str()));
    if !bound_now {
        return Err(Denied::refused(
            Rule::AuthorNoLongerBound,
            format!(
                "@{} is no longer bound to `{}` in today's `identities`; nothing waiting for them is granted",
                approval.requested_by, r.requester
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::Approver;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn approval() -> Approval {
        Approval {
            pull_number: 7,
            pull_url: None,
            author: "alice-gh".into(),
            head_sha: "h".repeat(40),
            base_sha: "b".repeat(40),
            merge_commit_sha: Some("m".repeat(40)),
            merged_at: Some(t("2026-11-27T09:00:00Z")),
            codeowners_path: ".github/CODEOWNERS".into(),
            codeowners_line: 2,
            approvers: vec![Approver {
                login: "carol".into(),
                review_id: 1,
                as_owner: "@carol".into(),
            }],
            owners: vec!["@carol".into()],
            break_glass: false,
            requested_by: "alice-gh".into(),
        }
    }

    fn rule(d: Result<(), Denied>) -> &'static str {
        match d {
            Ok(()) => "ok",
            Err(Denied::Refused(r)) => r.rule.code(),
            Err(Denied::Unavailable(_)) => "unavailable",
            Err(Denied::Deferred(_)) => "deferred",
        }
    }

    #[test]
    fn the_merge_commit_date_must_agree_with_githubs_merge_time() {
        let a = approval();
        let rows = [
            ("2026-11-27T09:00:00Z", "ok"),
            ("2026-11-27T09:10:00Z", "ok"),
            ("2026-11-27T09:10:01Z", "merge-date-disagrees"),
            ("2026-11-27T08:49:59Z", "merge-date-disagrees"),
            ("2099-01-01T00:00:00Z", "merge-date-disagrees"),
        ];
        for (committed, want) in rows {
            assert_eq!(
                rule(check_merge_date(&a, "c0ffee", t(committed))),
                want,
                "{committed}"
            );
        }
        let unknown = Approval {
            merged_at: None,
            ..approval()
        };
        assert_eq!(
            rule(check_merge_date(&unknown, "c", t("2099-01-01T00:00:00Z"))),
            "ok"
        );
    }

    #[test]
    fn a_rebase_merge_is_refused() {
        let a = approval();
        assert_eq!(rule(check_not_rebased(&a, "p", &[])), "ok");
        assert_eq!(rule(check_not_rebased(&a, "p", &[3, 5])), "ok");
        assert_eq!(rule(check_not_rebased(&a, "p", &[7])), "rebase-merged");
    }

    #[test]
    fn refusals_sort_into_retried_and_final() {
        let fresh = |r: Refusal, f: bool| match denial(r, f) {
            Denied::Refused(r) => r.rule.code(),
            Denied::Unavailable(_) => "unavailable",
            Denied::Deferred(_) => "deferred",
        };
        let no_pr = || Refusal::NoPullRequest { commit: "c".into() };
        assert_eq!(fresh(no_pr(), true), "unavailable");
        assert_eq!(fresh(no_pr(), false), "no-pull-request");
        assert_eq!(fresh(Refusal::Github("503".into()), false), "unavailable");
        assert_eq!(
            fresh(
                Refusal::TeamNotReadable {
                    team: "acme/security".into(),
                    login: "dave".into(),
                    message: "403".into()
                },
                false
            ),
            "unavailable"
        );
        assert_eq!(
            fresh(
                Refusal::AuthorNotBound {
                    author: "mallory".into(),
                    requester: "alice@contoso.com".into(),
                },
                true
            ),
            "author-not-bound"
        );
        // Fresh is a window after the commit, never before it (a future date is not fresh).
        let c = t("2026-11-27T09:00:00Z");
        assert!(fresh_at(c, "2026-11-27T09:14:59Z") && !fresh_at(c, "2026-11-27T09:15:00Z"));
        assert!(fresh_at(c, "2026-11-27T08:58:00Z") && !fresh_at(c, "2026-11-27T08:57:59Z"));
    }

    fn fresh_at(committed: DateTime<Utc>, now: &str) -> bool {
        super::fresh(t(now), committed)
    }

    const CONFIG: &str = "tenant_id: 00000000-0000-0000-0000-000000000000
identities:
  alice-gh: alice@contoso.com
vaults:
  kv-one:
    subscription_id: 11111111-1111-1111-1111-111111111111
    resource_group: rg
    secrets: [api-key]
    max_duration: 4h
";

    const REQUEST: &str = "apiVersion: kv-jit/v1
kind: AccessRequest
requester: alice@contoso.com
vault: kv-one
secret: api-key
duration: 2h
justification: debugging the payment outage INC-42
";

    fn config(text: &str) -> Config {
        crate::config::parse(text.as_bytes(), &mut Sink::new("c")).unwrap()
    }

    fn desired(config: &Config) -> Desired {
        let mut sink = Sink::new("requests/a.yaml");
        let raw = crate::request::parse_raw(REQUEST.as_bytes(), &mut sink).unwrap();
        let id = crate::request::RequestId::parse("a").unwrap();
        let mut request = crate::policy::check(&raw, Some(id), config, None, &mut sink).unwrap();
        request.path = "requests/a.yaml".into();
        Desired {
            request,
            sha256: String::new(),
            merged: None,
        }
    }

    #[test]
    fn approvers_and_the_binding_must_still_hold_today() {
        let cfg = config(CONFIG);
        let d = desired(&cfg);
        let owners = |text: &str| Codeowners::parse(text);
        let rows: &[(&str, &str, &str)] = &[
            ("carol still owns requests/", "requests/ @carol\n", "ok"),
            (
                "owner by another capitalisation",
                "requests/ @Carol\n",
                "ok",
            ),
            (
                "carol removed",
                "requests/ @dave\n",
                "approver-no-longer-owner",
            ),
            (
                "the path un-owned",
                "requests/\n",
                "approver-no-longer-owner",
            ),
        ];
        for (name, text, want) in rows {
            let today = owners(text);
            let got = rule(check_still_approved(
                &approval(),
                &d,
                Some(&today),
                &cfg.identities,
            ));
            assert_eq!(got, *want, "{name}");
        }
        let none = check_still_approved(&approval(), &d, None, &cfg.identities);
        assert_eq!(rule(none), "approver-no-longer-owner");
        let rebound =
            config(&CONFIG.replace("alice-gh: alice@contoso.com", "alice-gh: eve@contoso.com"));
        let today = owners("requests/ @carol\n");
        let got = check_still_approved(&approval(), &d, Some(&today), &rebound.identities);
        assert_eq!(rule(got), "author-no-longer-bound");
    }

    #[test]
    fn a_pull_request_cannot_change_the_policy_it_is_judged_by() {
        let now = config(CONFIG);
        let d = desired(&now);
        let same = check_base_policy(REQUEST.as_bytes(), &d, &now, &now);
        assert_eq!(rule(same), "ok");
        // The base allowed at most 1h: the 2h request is not allowed under it.
        let strict = config(&CONFIG.replace("max_duration: 4h", "max_duration: 1h"));
        let got = check_base_policy(REQUEST.as_bytes(), &d, &now, &strict);
        assert_eq!(rule(got), "not-allowed-under-base");
        // The base allowed it too, but the pull request changed the vault's policy.
        let wider = config(&CONFIG.replace("max_duration: 4h", "max_duration: 3h"));
        let got = check_base_policy(REQUEST.as_bytes(), &d, &now, &wider);
        assert_eq!(rule(got), "policy-differs");
        let other_tenant = config(&CONFIG.replace(
            "tenant_id: 00000000-0000-0000-0000-000000000000",
            "tenant_id: 22222222-2222-2222-2222-222222222222",
        ));
        let got = check_base_policy(REQUEST.as_bytes(), &d, &now, &other_tenant);
        assert_eq!(rule(got), "policy-differs");
    }
}
