//! The engine's [`ApprovalCheck`] over GitHub and local git: the trusted base is read from the
//! merge commit's first parent in the checkout, the pull request's facts from GitHub, and the
//! rules are the core's ([`kv_jit_core::approval`]: `decide`, then the grant's own checks).

use std::path::Path;
use std::sync::Arc;

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

use crate::approval::Cache;
use crate::github::client::{GithubClient, Repo};
use crate::memo::Memo;

/// GitHub calls a pull request's facts cost at most in the usual case (the commit's pull
/// requests, the pull request, its files, commits and reviews, a reviewer's permission, the
/// parent commit's pull requests, one spare): a run starts reading a pull request only while
/// the rate limit has this many left, so it never starts what it cannot finish.
pub const CALLS_PER_PULL: u64 = 8;

/// What one run has read (per run only, keyed by immutable things): GitHub's answers, the
/// trusted base at each merge commit's first parent, the default branch, today's CODEOWNERS.
#[derive(Debug, Default)]
pub struct RunMemo {
    github: Cache,
    bases: Memo<String, Arc<(Config, TrustedBase)>>,
    default_branch: tokio::sync::OnceCell<String>,
    today: std::sync::OnceLock<Option<(String, codeowners::Codeowners)>>,
    /// The rate limit was asked for (once, before the first pull request is read).
    rate_known: tokio::sync::OnceCell<()>,
    /// The pull requests (by merge commit) being read now, each admitted while the budget
    /// could pay [`CALLS_PER_PULL`] for it on top of those already being read.
    reading: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// Frees a pull request's place in [`RunMemo::reading`] when its reader is done.
struct Reading<'m> {
    memo: &'m RunMemo,
    commit: Option<String>,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.commit.take() {
            self.memo
                .reading
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c);
        }
    }
}

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
    /// What this run has read already (`Default::default()` for a new run).
    pub memo: RunMemo,
}

impl ApprovalCheck for GithubApprovals<'_> {
    async fn prepare(&self, due: &[&Desired], concurrency: usize) {
        self.prefetch(due, concurrency).await
    }

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
        // before the merge). Read from local git: nothing the pull request wrote is in it. Read
        // once per merge commit, off the async threads (git runs as a child process).
        let default_branch = self.default_branch().await?;
        let shared = self
            .memo
            .bases
            .get_or_try(&commit, || {
                let (dir, config_path, commit) = (
                    self.repo_dir.to_owned(),
                    self.config_path.to_owned(),
                    commit.clone(),
                );
                async move {
                    tokio::task::spawn_blocking(move || {
                        first_parent(&dir, &config_path, &commit, default_branch).map(Arc::new)
                    })
                    .await
                    .map_err(|e| Denied::Unavailable(format!("reading git failed: {e}")))?
                }
            })
            .await?;
        let (base_config, base) = (&shared.0, &shared.1);
        let bytes = std::fs::read(self.repo_dir.join(&r.path))
            .map_err(|e| Denied::Unavailable(format!("cannot read {}: {e}", r.path)))?;
        check_base_policy(&bytes, desired, self.config, base_config)?;
        let input = ApprovalInput {
            repo: self.repo,
            commit: &commit,
            request_path: &r.path,
            requester: r.requester.as_str(),
            approvals_required: rules::approvals_required(desired, self.config, base_config),
            // Allowed by the first parent's policy too: `check_base_policy` just ran it.
            break_glass: r.break_glass,
            issue: r.issue,
        };
        // A pull request not read yet is started only if the rate limit can pay for it, on top
        // of those being read now.
        let _reading = self.admit(&commit).await?;
        let fresh = rules::fresh(self.now, committed);
        let a = crate::approval::verify_cached(self.client, &self.memo.github, &input, base)
            .await
            .map_err(|e| match e {
                rules::Refusal::Github(_) if self.client.rate_limited() => self.deferred(),
                e => rules::denial(e, fresh),
            })?;
        check_merge_date(&a, &commit, committed)?;
        let theirs = self
            .memo
            .github
            .pulls_for_commit(self.client, self.repo, &base.sha)
            .await
            .map_err(|e| {
                if self.client.rate_limited() {
                    return self.deferred();
                }
                Denied::Unavailable(format!("cannot check the commit before the merge: {e}"))
            })?;
        let numbers: Vec<u64> = theirs.iter().map(|p| p.number).collect();
        check_not_rebased(&a, &base.sha, &numbers)?;
        let today = self.memo.today.get_or_init(|| {
            codeowners::pick(|path| std::fs::read_to_string(self.repo_dir.join(path)).ok())
        });
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
    /// Reads the facts of every pull request that brought one of `due` (the first request of
    /// each merge commit), up to `concurrency` at once, so the grants that follow find them
    /// read. What fails here is found again, and said, by that request's own check.
    pub async fn prefetch(&self, due: &[&Desired], concurrency: usize) {
        use futures_util::stream::{self, StreamExt};
        let mut seen = std::collections::BTreeSet::new();
        let first: Vec<&Desired> = due
            .iter()
            .copied()
            .filter(|d| {
                d.merged
                    .as_ref()
                    .is_some_and(|m| seen.insert(m.commit.clone()))
            })
            .collect();
        stream::iter(first)
            .for_each_concurrent(concurrency.max(1), |d| async move {
                let _ = self.check(d).await;
            })
            .await;
    }

    /// Admits reading the pull request of `commit` (see [`RunMemo::reading`]): read already or
    /// being read (nothing to pay), or the budget pays for it; else deferred.
    async fn admit(&self, commit: &str) -> Result<Reading<'_>, Denied> {
        let none = Reading {
            memo: &self.memo,
            commit: None,
        };
        if self.memo.github.has_facts(commit) {
            return Ok(none);
        }
        self.memo
            .rate_known
            .get_or_init(|| self.client.refresh_rate_limit())
            .await;
        let mut reading = self.memo.reading.lock().unwrap_or_else(|p| p.into_inner());
        if reading.contains(commit) {
            return Ok(none);
        }
        let need = CALLS_PER_PULL * (reading.len() as u64 + 1);
        if !self.client.can_afford(need) {
            return Err(self.deferred());
        }
        reading.insert(commit.to_owned());
        Ok(Reading {
            memo: &self.memo,
            commit: Some(commit.to_owned()),
        })
    }

    fn deferred(&self) -> Denied {
        let limit = self.client.rate_limit().unwrap_or_default();
        Denied::Deferred(format!(
            "GitHub's API rate limit is used up ({limit}): the approval was not read, nothing was started; it waits for the next run"
        ))
    }
}

/// The config at the first parent of `commit` and the [`TrustedBase`] there (its identities,
/// the CODEOWNERS GitHub would pick there), all from local git in `repo_dir`. Blocking.
fn first_parent(
    repo_dir: &Path,
    config_path: &str,
    commit: &str,
    default_branch: String,
) -> Result<(Config, TrustedBase), Denied> {
    {
        let git = |args: &[&str]| -> Result<std::process::Output, Denied> {
            crate::git::local(repo_dir, args)
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
        let config_path = config_path.trim_start_matches("./");
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
}

impl GithubApprovals<'_> {
    /// The repository's default branch: the event payload says it; else GitHub (once a run).
    async fn default_branch(&self) -> Result<String, Denied> {
        self.memo
            .default_branch
            .get_or_try_init(|| async {
                match self.event_path.and_then(event_default_branch) {
                    Some(branch) => Ok(branch),
                    None => self.client.default_branch(self.repo).await.map_err(|e| {
                        if self.client.rate_limited() {
                            return self.deferred();
                        }
                        Denied::Unavailable(format!("cannot read the default branch: {e}"))
                    }),
                }
            })
            .await
            .cloned()
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
