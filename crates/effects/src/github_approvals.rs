//! The engine's [`ApprovalCheck`] over GitHub and local git: the trusted base is read from the
//! merge commit's first parent in the checkout, the pull request's facts from GitHub, and the
//! rules are the core's ([`kv_jit_core::approval`]: `decide`, then the grant's own checks).

use std::path::Path;

use chrono::{DateTime, Utc};

use kv_jit_core::approval::{
    self as rules, ApprovalInput, Denied, Rule, TrustedBase, check_base_policy, check_merge_date,
    check_not_rebased, check_still_approved,
};
use kv_jit_core::config::Config;
use kv_jit_core::github::codeowners;
use kv_jit_core::ledger::{Approval, Approvals};
use kv_jit_core::plan::Desired;
use kv_jit_engine::ports::ApprovalCheck;

use crate::github::client::{GithubClient, Repo};

/// Verifies a request on the default branch was approved, as the grant requires.
pub struct GithubApprovals<'a> {
    pub client: &'a GithubClient,
    pub repo: &'a Repo,
    /// Today's config (the checked-out default branch).
    pub config: &'a Config,
    /// The config's path in the repository, to read it at the first parent.
    pub config_path: &'a str,
    pub repo_dir: &'a Path,
    pub now: DateTime<Utc>,
    /// The workflow's event payload (`GITHUB_EVENT_PATH`), which names the default branch.
    pub event_path: Option<&'a str>,
}

impl ApprovalCheck for GithubApprovals<'_> {
    async fn check(&self, desired: &Desired) -> Result<Approvals, Denied> {
        let r = &desired.request;
        // The merge the plan anchored the window on (one `git log` for all requests).
        let Some(merge) = &desired.merged else {
            return Err(Denied::refused(
                Rule::NotInCheckout,
                format!(
                    "`{}` has no commit in this checkout; run kv-jit in a full clone of the default branch (fetch-depth: 0)",
                    r.path
                ),
            ));
        };
        let (commit, committed) = (merge.commit.clone(), merge.at);
        // The trust root: the default branch just before the commit that brought the request
        // (its first parent; for a merge or squash commit on the default branch, main as it was
        // before the merge). Read from local git: nothing the pull request wrote is in it.
        let default_branch = self.default_branch().await?;
        let (base_config, base) = self.first_parent(&commit, default_branch)?;
        let bytes = std::fs::read(self.repo_dir.join(&r.path))
            .map_err(|e| Denied::Unavailable(format!("cannot read {}: {e}", r.path)))?;
        check_base_policy(&bytes, desired, self.config, &base_config)?;
        let input = ApprovalInput {
            repo: self.repo,
            commit: &commit,
            request_path: &r.path,
            requester: r.requester.as_str(),
            approvals_required: rules::approvals_required(desired, self.config, &base_config),
            // Allowed by the first parent's policy too: `check_base_policy` just ran it.
            break_glass: r.break_glass,
            issue: r.issue,
        };
        let fresh = rules::fresh(self.now, committed);
        let a = crate::approval::verify(self.client, &input, &base)
            .await
            .map_err(|e| rules::denial(e, fresh))?;
        check_merge_date(&a, &commit, committed)?;
        let theirs = self
            .client
            .pulls_for_commit(self.repo, &base.sha)
            .await
            .map_err(|e| {
                Denied::Unavailable(format!("cannot check the commit before the merge: {e}"))
            })?;
        let numbers: Vec<u64> = theirs.iter().map(|p| p.number).collect();
        check_not_rebased(&a, &base.sha, &numbers)?;
        let today = codeowners::pick(|path| std::fs::read_to_string(self.repo_dir.join(path)).ok());
        check_still_approved(
            &a,
            desired,
            today.as_ref().map(|(_, c)| c),
            &self.config.identities,
        )?;
        Ok(Approvals {
            pr: a.pull_number,
            commit: a.head_sha.clone(),
            by: a
                .approvers
                .iter()
                .map(|p| Approval {
                    login: p.login.clone(),
                    commit: a.head_sha.clone(),
                })
                .collect(),
            owners: if a.break_glass {
                a.owners.clone()
            } else {
                Vec::new()
            },
        })
    }
}

impl GithubApprovals<'_> {
    /// The config at the first parent of `commit` and the [`TrustedBase`] there (its identities,
    /// the CODEOWNERS GitHub would pick there), all from local git.
    fn first_parent(
        &self,
        commit: &str,
        default_branch: String,
    ) -> Result<(Config, TrustedBase), Denied> {
        let git = |args: &[&str]| -> Result<std::process::Output, Denied> {
            crate::git::local(self.repo_dir, args)
                .map_err(|e| Denied::Unavailable(format!("cannot run git: {e}")))
        };
        let out = git(&["rev-list", "--parents", "-n", "1", commit])?;
        if !out.status.success() {
            return Err(Denied::Unavailable(format!(
                "git cannot read commit {commit}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let Some(parent) = line.split_whitespace().nth(1).map(str::to_owned) else {
            let shallow = git(&["rev-parse", "--is-shallow-repository"])?;
            return Err(
                if String::from_utf8_lossy(&shallow.stdout).trim() != "false" {
                    Denied::Unavailable(format!(
                        "the parent of {commit} is not in this checkout; run kv-jit in a full clone of the default branch (fetch-depth: 0)"
                    ))
                } else {
                    Denied::refused(
                        Rule::NoParent,
                        format!(
                            "{commit} has no parent: there is no default branch before it to trust"
                        ),
                    )
                },
            );
        };
        // `git ls-tree` names the object and its mode: only a regular file counts (a symlink
        // could point anywhere).
        let read = |path: &str| -> Result<Option<String>, Denied> {
            let out = git(&["ls-tree", "-z", &parent, "--", path])?;
            if !out.status.success() {
                return Err(Denied::Unavailable(format!(
                    "git cannot list {path} at {parent}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let listing = String::from_utf8_lossy(&out.stdout).into_owned();
            let Some(entry) = listing.split('\0').find(|e| !e.is_empty()) else {
                return Ok(None);
            };
            let mut fields = entry.split_whitespace();
            let (mode, kind, object) = (fields.next(), fields.next(), fields.next());
            if !matches!(mode, Some("100644" | "100755")) || kind != Some("blob") {
                return Err(Denied::refused(
                    Rule::BaseFileUnreadable,
                    format!("`{path}` at {parent} is not a regular file"),
                ));
            }
            let blob = git(&["cat-file", "blob", object.unwrap_or_default()])?;
            if !blob.status.success() {
                return Err(Denied::Unavailable(format!(
                    "git cannot read {path} at {parent}"
                )));
            }
            String::from_utf8(blob.stdout).map(Some).map_err(|_| {
                Denied::refused(
                    Rule::BaseFileUnreadable,
                    format!("`{path}` at {parent} is not UTF-8"),
                )
            })
        };
        let config_path = self.config_path.trim_start_matches("./");
        if Path::new(config_path).is_absolute() {
            return Err(Denied::refused(
                Rule::ConfigOutsideRepository,
                format!(
                    "the config `{config_path}` is outside the repository, so it cannot be read as it was before the pull request; pass a repository path to --config"
                ),
            ));
        }
        let text = read(config_path)?.ok_or_else(|| {
            Denied::refused(
                Rule::NoBaseConfig,
                format!("no config `{config_path}` before this pull request (at {parent})"),
            )
        })?;
        let mut sink = kv_jit_core::diag::Sink::new(config_path);
        let config = kv_jit_core::config::parse(text.as_bytes(), &mut sink).ok_or_else(|| {
            Denied::refused(
                Rule::NoBaseConfig,
                format!(
                    "the config `{config_path}` before this pull request (at {parent}) is invalid"
                ),
            )
        })?;
        let mut failed = None;
        let codeowners = codeowners::pick(|path| match read(path) {
            Ok(text) => text,
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let base = TrustedBase::new(parent, default_branch, &config, codeowners);
        Ok((config, base))
    }

    /// The repository's default branch: the event payload says it; else GitHub.
    async fn default_branch(&self) -> Result<String, Denied> {
        match self.event_path.and_then(event_default_branch) {
            Some(branch) => Ok(branch),
            None => {
                self.client.default_branch(self.repo).await.map_err(|e| {
                    Denied::Unavailable(format!("cannot read the default branch: {e}"))
                })
            }
        }
    }
}

/// `repository.default_branch` from the workflow's event payload at `path`, if it says.
pub fn event_default_branch(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["repository"]["default_branch"]
        .as_str()
        .map(str::to_owned)
}
