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
    Refused(String),
    /// Could not be checked (GitHub unreachable): recorded as `grant_failed`, retried next run.
    Unavailable(String),
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Refused(m) | Denied::Unavailable(m) => f.write_str(m),
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
        | Refusal::PermissionNotReadable { .. } => Denied::Unavailable(refusal.to_string()),
        Refusal::NoPullRequest { .. } if fresh => Denied::Unavailable(format!(
            "{refusal} (yet: GitHub may still be linking the merge; retried next run)"
        )),
        _ => Denied::Refused(refusal.to_string()),
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
        return Err(Denied::Refused(format!(
            "under the config before this pull request the request is not allowed ({}); merge policy changes in their own pull request first",
            problems.join("; ")
        )));
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
        return Err(Denied::Refused(format!(
            "vault `{}`: {} differ from the config before this pull request; merge policy changes in their own pull request first",
            r.vault,
            differs.join(", ")
        )));
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
            Err(Denied::Refused(format!(
                "commit {} is dated {}, but GitHub merged pull request #{} at {}; the window is anchored on the merge, so the dates must agree (within {} minutes)",
                &commit[..commit.len().min(12)],
                committed.to_rfc3339_opts(SecondsFormat::Secs, true),
                approval.pull_number,
                merged_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                MERGE_CLOCK_SKEW.num_minutes()
            )))
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
        return Err(Denied::Refused(format!(
            "pull request #{} was merged by rebase, so the commit before it on the default branch ({}) is one of its own; merge request pull requests with a merge or squash commit",
            approval.pull_number,
            &parent[..parent.len().min(12)]
        )));
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
        return Err(Denied::Refused(format!(
            "@{} no longer own{} `{}` in today's CODEOWNERS; nothing they approved that still waits is granted",
            gone.join(", @"),
            if gone.len() == 1 { "s" } else { "" },
            r.path
        )));
    }
    let bound_now = identities
        .iter()
        .find(|(login, _)| login.eq_ignore_ascii_case(&approval.author))
        .is_some_and(|(_, upn)| upn.as_str().eq_ignore_ascii_case(r.requester.as_str()));
    if !bound_now {
        return Err(Denied::Refused(format!(
            "@{} is no longer bound to `{}` in today's `identities`; nothing waiting for them is granted",
            approval.author, r.requester
        )));
    }
    Ok(())
}
