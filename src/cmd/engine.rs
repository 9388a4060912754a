//! `kv-jit plan`, `grant`, `revoke`, `status` and `audit verify`: the engine's shell. Reads the
//! requests on the checked-out default branch and the ledger at the tip of its branch, plans
//! (pure), executes against Azure, and appends the outcome to the ledger with compare-and-swap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Exit;
use crate::cli::{RevokeArgs, RunArgs};
use crate::output;
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Format, Severity};
use kv_jit_core::ledger::{self, Approval, Approvals, Entry, Event, NewEntry, Reason};
use kv_jit_core::plan::state;
use kv_jit_core::plan::{self, Action, Desired, Invalid, LedgerState};
use kv_jit_core::request::RequestId;
use kv_jit_effects::approval::{self, ApprovalInput, TrustedBase};
use kv_jit_effects::azure::{AzureClient, Credential, RetryPolicy};
use kv_jit_effects::github::client::{GithubClient, Repo};
use kv_jit_effects::github::codeowners;
use kv_jit_engine::execute::{ApprovalCheck, Denied, Executor, reconcile};

use super::pr::GithubEnv;
use super::validate::{ReadProblem, check_files, collect};

/// What every engine command starts from.
struct Ctx {
    config: Config,
    config_path: String,
    env: HashMap<String, String>,
    repo_dir: PathBuf,
    remote: String,
}

impl Ctx {
    fn load(config_path: &Path, format: Format, remote: &str) -> Result<Self, Exit> {
        let config = super::load_config(config_path, format, false)?;
        Ok(Self {
            config,
            config_path: config_path.to_string_lossy().replace('\\', "/"),
            env: std::env::vars().collect(),
            repo_dir: PathBuf::from("."),
            remote: remote.to_owned(),
        })
    }

    fn git_token(&self) -> Option<kv_jit_effects::git::Token> {
        self.env
            .get("GITHUB_TOKEN")
            .filter(|t| !t.is_empty())
            .map(|t| kv_jit_effects::git::Token::new(t.clone()))
    }

    fn ledger(&self) -> Result<Vec<Entry>, String> {
        self.ledger_checked().map_err(|e| e.message().to_owned())
    }

    /// The ledger, or why it cannot be used. A ledger that does not verify, that lost entries
    /// its own history shows, or that is missing while the default branch shows kv-jit ran
    /// before, cannot say what is already done: grants stop (never an empty start).
    fn ledger_checked(&self) -> Result<Vec<Entry>, LedgerProblem> {
        let entries = kv_jit_effects::git::read_ledger(
            &self.repo_dir,
            &self.remote,
            &self.config.ledger_branch,
            &self.config.ledger_path,
            self.git_token(),
        )
        .map_err(|e| {
            let untrusted = matches!(
                e,
                kv_jit_effects::git::GitError::Ledger(_)
                    | kv_jit_effects::git::GitError::LedgerLost { .. }
            );
            let m = format!(
                "cannot use the ledger `{}` on branch `{}`: {e}",
                self.config.ledger_path, self.config.ledger_branch
            );
            if untrusted {
                LedgerProblem::Untrusted(m)
            } else {
                LedgerProblem::Unavailable(m)
            }
        })?;
        match entries {
            Some(entries) => Ok(entries),
            // On the branch kv-jit runs on, a ledger that was never there is a first run (one
            // that was there and went is caught by its history). A dedicated ledger branch that
            // does not exist may have been deleted with everything it said: never start over
            // silently.
            None if kv_jit_effects::git::current_branch(&self.repo_dir).as_deref()
                == Some(self.config.ledger_branch.as_str()) =>
            {
                Ok(Vec::new())
            }
            None => Err(LedgerProblem::Untrusted(format!(
                "the ledger branch `{}` does not exist on `{}`; kv-jit will not start a new ledger silently (a deleted branch would take the record of what was revoked with it): create the branch (an empty commit is enough), protect it against deletion and force pushes, and run again",
                self.config.ledger_branch, self.remote
            ))),
        }
    }

    fn history(&self) -> Result<kv_jit_effects::git::RequestHistory, String> {
        kv_jit_effects::git::request_history(&self.repo_dir)
    }

    fn run_url(&self) -> Option<String> {
        let (server, repo, run) = (
            self.env.get("GITHUB_SERVER_URL")?,
            self.env.get("GITHUB_REPOSITORY")?,
            self.env.get("GITHUB_RUN_ID")?,
        );
        Some(format!("{server}/{repo}/actions/runs/{run}"))
    }

    /// The request files on the checked-out default branch, split into valid and invalid.
    /// Time is left out of validation: whether a window ended in time is the planner's call.
    fn requests(&self) -> Result<(Vec<Desired>, Vec<Invalid>), String> {
        let dir = self.repo_dir.join("requests");
        if !dir.exists() {
            return Ok((Vec::new(), Vec::new()));
        }
        let history = self.history()?;
        let files = collect(&[PathBuf::from("requests")])?;
        let validation = check_files(&files, &self.config, None);
        let mut desired = Vec::new();
        let mut invalid = Vec::new();
        for file in &files {
            let sha = match &file.bytes {
                Ok(b) => ledger::sha256_hex(b),
                Err(ReadProblem::TooLarge(n)) => format!("too-large-{n}"),
                Err(ReadProblem::Other(_)) => "unreadable".into(),
            };
            match validation.requests.iter().find(|r| r.path == file.path) {
                Some(r) => desired.push(Desired {
                    request: r.clone(),
                    sha256: sha,
                    merged: history.last_change.get(&r.path).cloned(),
                }),
                None => {
                    let problems: Vec<String> = validation
                        .diagnostics
                        .iter()
                        .filter(|d| d.file == file.path && d.severity == Severity::Error)
                        .map(|d| format!("{}:{}: {} {}", d.line, d.column, d.code, d.message))
                        .collect();
                    if let Ok(id) = &file.id {
                        invalid.push(Invalid {
                            id: id.clone(),
                            path: file.path.clone(),
                            sha256: sha,
                            problems,
                        });
                    }
                }
            }
        }
        Ok((desired, invalid))
    }
}

/// Why the ledger cannot be used.
enum LedgerProblem {
    /// Not reachable now (network, GitHub): the next run retries.
    Unavailable(String),
    /// Read, but it cannot be trusted (tampered, lost entries, lost altogether).
    Untrusted(String),
}

impl LedgerProblem {
    fn message(&self) -> &str {
        match self {
            LedgerProblem::Unavailable(m) | LedgerProblem::Untrusted(m) => m,
        }
    }
}

fn fail(msg: &str, code: Exit) -> Exit {
    output::stderr(&format!("error: {msg}\n"));
    code
}

/// `kv-jit plan`: what a grant run would do now (or at `--now`), without doing it. Approvals
/// are verified only by `grant`; the plan lists what is due.
pub fn plan_cmd(config_path: &Path, now: DateTime<Utc>, format: Format, remote: &str) -> Exit {
    let ctx = match Ctx::load(config_path, format, remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger() {
        Ok(e) => e,
        Err(m) => return fail(&m, Exit::Problems),
    };
    let (desired, invalid) = match ctx.requests() {
        Ok(r) => r,
        Err(m) => return fail(&m, Exit::Usage),
    };
    let actions = plan::plan(
        &desired,
        &invalid,
        &state::from_ledger(&entries),
        &ctx.config,
        now,
    );
    match format {
        Format::Json => output::stdout(
            &(serde_json::to_string_pretty(&actions).expect("plan serializes") + "\n"),
        ),
        _ => {
            if actions.is_empty() {
                output::stdout("nothing to do\n");
            }
            for a in &actions {
                output::stdout(&(describe(a) + "\n"));
            }
        }
    }
    Exit::Ok
}

fn describe(a: &Action) -> String {
    let t = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match a {
        Action::Grant {
            desired,
            start,
            expires,
            ..
        } => {
            let r = &desired.request;
            format!(
                "grant   {}: {} gets {} on {}/{} from {} until {}",
                r.id,
                r.requester,
                r.role,
                r.vault,
                r.secret,
                t(start),
                t(expires)
            )
        }
        Action::Revoke {
            grant,
            reason,
            shared_with,
            ..
        } => {
            let why = match reason {
                plan::RevokeReason::Expired => format!("its window ended at {}", t(&grant.expires)),
                plan::RevokeReason::Early => {
                    format!("early; its window ran to {}", t(&grant.expires))
                }
            };
            let shared = shared_with
                .as_ref()
                .map(|o| format!("; the assignment continues for {o}"))
                .unwrap_or_default();
            format!(
                "revoke  {}: {} on {}/{} ({why}{shared})",
                grant.request, grant.requester, grant.vault, grant.secret
            )
        }
        Action::Refuse {
            request, reason, ..
        } => format!("refuse  {request}: {reason}"),
        Action::Wait { request, starts } => format!("wait    {request}: starts {}", t(starts)),
    }
}

/// Verifies approvals through GitHub: the PR that brought the file to the default branch,
/// judged under the default branch as it was just before that PR (local git, never GitHub's
/// copy of anything the PR could have written).
struct GithubApprovals<'a> {
    client: &'a GithubClient,
    repo: &'a Repo,
    config: &'a Config,
    config_path: &'a str,
    repo_dir: &'a Path,
    now: DateTime<Utc>,
}

/// Right after a merge GitHub may not yet link the merge commit to its pull request. Within
/// this long after the commit, "no pull request" is retried by the next run rather than refused.
const PR_LINK_GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// How far a merge commit's date may be from GitHub's `merged_at` (clocks, a queue).
const MERGE_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(10);

impl ApprovalCheck for GithubApprovals<'_> {
    async fn check(&self, desired: &Desired) -> Result<Approvals, Denied> {
        let r = &desired.request;
        // The merge the plan anchored the window on (one `git log` for all requests).
        let Some(merge) = &desired.merged else {
            return Err(Denied::Refused(format!(
                "`{}` has no commit in this checkout; run kv-jit in a full clone of the default branch (fetch-depth: 0)",
                r.path
            )));
        };
        let (commit, committed) = (merge.commit.clone(), merge.at);
        // A committer date in the future is not "fresh": it would make the grace last forever.
        let age = self.now - committed;
        let fresh = age >= -chrono::Duration::minutes(2) && age < PR_LINK_GRACE;
        // The trust root: the default branch just before the commit that brought the request
        // (its first parent; for a merge or squash commit on the default branch, main as it was
        // before the merge). Read from local git: nothing the pull request wrote is in it.
        let default_branch = self.default_branch().await?;
        let (base_config, base) = self.first_parent(&commit, default_branch)?;
        self.check_base_policy(desired, &base_config)?;
        // Either config's demand holds: lowering `approvals` in the same PR does not count, and
        // a later raise on main applies to what is still waiting.
        let approvals_required = [self.config, &base_config]
            .iter()
            .filter_map(|c| c.vaults.get(&r.vault).map(|p| p.approvals))
            .max()
            .unwrap_or(1);
        let input = ApprovalInput {
            repo: self.repo,
            commit: &commit,
            request_path: &r.path,
            requester: r.requester.as_str(),
            approvals_required,
        };
        let a = approval::verify(self.client, &input, &base)
            .await
            .map_err(|e| match e {
                // What the token could not read is an operator's fix away, not a verdict on
                // the request: retried, never a refusal that burns the id.
                approval::Refusal::Github(_)
                | approval::Refusal::TeamNotReadable { .. }
                | approval::Refusal::PermissionNotReadable { .. } => {
                    Denied::Unavailable(e.to_string())
                }
                approval::Refusal::NoPullRequest { .. } if fresh => Denied::Unavailable(format!(
                    "{e} (yet: GitHub may still be linking the merge; retried next run)"
                )),
                _ => Denied::Refused(e.to_string()),
            })?;
        // The window is anchored on the commit's date, which whoever made the commit chose (a
        // pull request "merged" by pushing its head to the default branch keeps the author's
        // dates). GitHub's own merge time must agree, or a future date would postpone an
        // approval without the `max_start_delay` bound, and a past one shorten it unseen.
        if let Some(merged_at) = a.merged_at
            && (merged_at - committed).abs() > MERGE_CLOCK_SKEW
        {
            return Err(Denied::Refused(format!(
                "commit {} is dated {}, but GitHub merged pull request #{} at {}; the window is anchored on the merge, so the dates must agree (within {} minutes)",
                &commit[..commit.len().min(12)],
                committed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                a.pull_number,
                merged_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                MERGE_CLOCK_SKEW.num_minutes()
            )));
        }
        // The first parent must be the default branch before the pull request, not one of its
        // own commits: after a rebase merge it is the PR's previous commit, whose CODEOWNERS or
        // identities the PR itself could have written (and reverted in its last commit).
        let parent = &base.sha;
        let theirs = self
            .client
            .pulls_for_commit(self.repo, parent)
            .await
            .map_err(|e| {
                Denied::Unavailable(format!("cannot check the commit before the merge: {e}"))
            })?;
        if theirs.iter().any(|p| p.number == a.pull_number) {
            return Err(Denied::Refused(format!(
                "pull request #{} was merged by rebase, so the commit before it on the default branch ({}) is one of its own; merge request pull requests with a merge or squash commit",
                a.pull_number,
                &parent[..parent.len().min(12)]
            )));
        }
        // Offboarding holds for what is still waiting: every counted approver must still own
        // the file in today's CODEOWNERS (the checked-out default branch), and the author must
        // still be bound to the requester by today's identities, not only by those before.
        let today = codeowners::pick(|path| std::fs::read_to_string(self.repo_dir.join(path)).ok());
        let owners_today: Vec<String> = match today.as_ref().map(|(_, c)| c.ownership(&r.path)) {
            Some(codeowners::Ownership::Owned { owners, .. }) => {
                owners.iter().map(ToString::to_string).collect()
            }
            _ => Vec::new(),
        };
        let gone: Vec<&str> = a
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
        let bound_now = self
            .config
            .identities
            .iter()
            .find(|(login, _)| login.eq_ignore_ascii_case(&a.author))
            .is_some_and(|(_, upn)| upn.as_str().eq_ignore_ascii_case(r.requester.as_str()));
        if !bound_now {
            return Err(Denied::Refused(format!(
                "@{} is no longer bound to `{}` in today's `identities`; nothing waiting for them is granted",
                a.author, r.requester
            )));
        }
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
        })
    }
}

impl GithubApprovals<'_> {
    /// A pull request cannot approve itself by editing the policy: the request must pass
    /// `policy::check` under the config of the first parent (`base`), and everything that decides
    /// what a grant does must be the same in both configs: the tenant, the cloud's endpoints, the
    /// resolved role id and the vault's whole policy. The policy is compared field by field
    /// through an exhaustive destructuring, so a field added to `VaultPolicy` later does not
    /// compile until it is compared here (positions are not policy; `approvals` is taken as the
    /// larger of the two by the caller).
    fn check_base_policy(&self, desired: &Desired, base: &Config) -> Result<(), Denied> {
        let r = &desired.request;
        let bytes = std::fs::read(self.repo_dir.join(&r.path))
            .map_err(|e| Denied::Unavailable(format!("cannot read {}: {e}", r.path)))?;
        let mut sink = kv_jit_core::diag::Sink::new(r.path.clone());
        let under_base = kv_jit_core::request::parse_raw(&bytes, &mut sink).and_then(|raw| {
            kv_jit_core::policy::check(&raw, Some(r.id.clone()), base, None, &mut sink)
        });
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
        if self.config.tenant_id != base.tenant_id {
            differs.push("tenant_id");
        }
        if self.config.cloud != base.cloud {
            differs.push("cloud");
        }
        if under_base.role_id != r.role_id {
            differs.push("the role's id");
        }
        match (self.config.vaults.get(&r.vault), base.vaults.get(&r.vault)) {
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

    /// The config at the first parent of `commit` and the [`TrustedBase`] there (its identities,
    /// the CODEOWNERS GitHub would pick there), all from local git.
    fn first_parent(
        &self,
        commit: &str,
        default_branch: String,
    ) -> Result<(Config, TrustedBase), Denied> {
        let git = |args: &[&str]| -> Result<std::process::Output, Denied> {
            kv_jit_effects::git::local(self.repo_dir, args)
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
                    Denied::Refused(format!(
                        "{commit} has no parent: there is no default branch before it to trust"
                    ))
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
                return Err(Denied::Refused(format!(
                    "`{path}` at {parent} is not a regular file"
                )));
            }
            let blob = git(&["cat-file", "blob", object.unwrap_or_default()])?;
            if !blob.status.success() {
                return Err(Denied::Unavailable(format!(
                    "git cannot read {path} at {parent}"
                )));
            }
            String::from_utf8(blob.stdout)
                .map(Some)
                .map_err(|_| Denied::Refused(format!("`{path}` at {parent} is not UTF-8")))
        };
        let config_path = self.config_path.trim_start_matches("./");
        if Path::new(config_path).is_absolute() {
            return Err(Denied::Refused(format!(
                "the config `{config_path}` is outside the repository, so it cannot be read as it was before the pull request; pass a repository path to --config"
            )));
        }
        let text = read(config_path)?.ok_or_else(|| {
            Denied::Refused(format!(
                "no config `{config_path}` before this pull request (at {parent})"
            ))
        })?;
        let mut sink = kv_jit_core::diag::Sink::new(config_path);
        let config = kv_jit_core::config::parse(text.as_bytes(), &mut sink).ok_or_else(|| {
            Denied::Refused(format!(
                "the config `{config_path}` before this pull request (at {parent}) is invalid"
            ))
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
        let base = TrustedBase {
            sha: parent,
            default_branch,
            identities: config
                .identities
                .iter()
                .map(|(login, upn)| (login.clone(), upn.to_string()))
                .collect(),
            codeowners,
        };
        Ok((config, base))
    }

    /// The repository's default branch: the event payload says it; else GitHub.
    async fn default_branch(&self) -> Result<String, Denied> {
        let from_event = std::env::var("GITHUB_EVENT_PATH")
            .ok()
            .as_deref()
            .and_then(event_default_branch);
        match from_event {
            Some(branch) => Ok(branch),
            None => {
                self.client.default_branch(self.repo).await.map_err(|e| {
                    Denied::Unavailable(format!("cannot read the default branch: {e}"))
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Grant,
    Revoke,
}

/// A manual early revoke: which request, who asked, why.
struct Manual<'a> {
    request: &'a str,
    by: Option<&'a str>,
    reason: &'a str,
}

pub fn grant_cmd(args: &RunArgs, config_path: &Path, now: DateTime<Utc>, format: Format) -> Exit {
    run_effects(Mode::Grant, args, None, config_path, now, format)
}

pub fn revoke_cmd(
    args: &RevokeArgs,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
) -> Exit {
    let manual = match (&args.request, &args.reason) {
        (Some(request), Some(reason)) => {
            output::stderr(&format!(
                "revoking {} early: {}\n",
                kv_jit_core::names::escape(request),
                kv_jit_core::names::escape(reason)
            ));
            Some(Manual {
                request,
                by: args.by.as_deref().filter(|b| !b.is_empty()),
                reason,
            })
        }
        _ => None,
    };
    run_effects(Mode::Revoke, &args.run, manual, config_path, now, format)
}

fn run_effects(
    mode: Mode,
    args: &RunArgs,
    manual: Option<Manual<'_>>,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
) -> Exit {
    let ctx = match Ctx::load(config_path, format, &args.remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger_checked() {
        Ok(e) => e,
        // Access must still end on time, in a grant run as in a scheduled one, whether the
        // ledger is unreachable or untrusted: revokes never wait on what grants need. A manual
        // revoke then ends that request's kv-jit assignments by their marker.
        Err(LedgerProblem::Unavailable(m) | LedgerProblem::Untrusted(m)) => {
            output::stderr(&format!("error: {m}\n"));
            expiry_sweep(&ctx, now, manual.as_ref().map(|m| m.request));
            return Exit::Problems;
        }
    };
    let ledger_state = state::from_ledger(&entries);
    let (desired, invalid) = match ctx.requests() {
        Ok(r) => r,
        Err(m) => return fail(&m, Exit::Usage),
    };
    let mut actions = plan::plan(&desired, &invalid, &ledger_state, &ctx.config, now);
    if let Some(m) = &manual {
        let Some(grant) = RequestId::parse(m.request)
            .ok()
            .and_then(|id| ledger_state.active.get(&id).cloned())
        else {
            return fail(
                &format!(
                    "request `{}` has no active grant in the ledger",
                    kv_jit_core::names::escape(m.request)
                ),
                Exit::Problems,
            );
        };
        let shared_with = ledger_state
            .active
            .values()
            .find(|o| {
                o.request != grant.request && o.assignment.eq_ignore_ascii_case(&grant.assignment)
            })
            .map(|o| o.request.clone());
        actions = vec![Action::Revoke {
            grant,
            reason: plan::RevokeReason::Early,
            shared_with,
            // A manual revoke trusts no sharing it cannot see in Azure's marker.
            shared_by_extends: false,
            note: Some(m.reason.to_owned()),
        }];
    }

    // A shallow clone cuts the history the windows and ids are judged by: what depends on it
    // (grants, refusals) waits for a full clone; revokes go ahead.
    let shallow = manual.is_none() && kv_jit_effects::git::is_shallow(&ctx.repo_dir);
    let held_by_shallow = if shallow {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Grant { .. } | Action::Refuse { .. }))
            .count()
    } else {
        0
    };
    if shallow {
        let held = held_by_shallow;
        if held > 0 {
            output::stderr(&format!(
                "{}: this checkout is a shallow clone, so {held} grant(s) and refusal(s) wait for a run in a full clone (actions/checkout with fetch-depth: 0)\n",
                if mode == Mode::Grant {
                    "error"
                } else {
                    "warning"
                }
            ));
        }
        actions.retain(|a| !matches!(a, Action::Grant { .. } | Action::Refuse { .. }));
    }
    let runtime = runtime();
    let _guard = runtime.enter();
    let azure = match azure_client(&ctx) {
        Ok(a) => a,
        Err(m) => return fail(&m, Exit::Usage),
    };
    // What grants need (GitHub to verify approvals, the default branch) never holds up the
    // revokes: without it, due grants wait for a run that has it, and revokes go ahead.
    let mut grants_blocked: Option<String> =
        (held_by_shallow > 0).then(|| "the checkout is a shallow clone".to_owned());
    let due = actions
        .iter()
        .filter(|a| matches!(a, Action::Grant { .. }))
        .count();
    let gh = if due > 0 {
        let gh = GithubEnv::from_env(&ctx.env)
            .and_then(|g| g.client().map(|c| (g, c)))
            .map_err(|m| format!("grants need GitHub to verify approvals: {m}"))
            .and_then(|g| {
                if on_default_branch(&ctx.env) {
                    Ok(g)
                } else {
                    Err("grants run only on the default branch (GITHUB_REF is another ref, or the event payload does not name the default branch): a config on another branch could point at another ledger".to_owned())
                }
            });
        match gh {
            Ok(g) => Some(g),
            Err(m) => {
                output::stderr(&format!(
                    "{}: {due} grant(s) are due but cannot run: {m}; they wait for a run that can\n",
                    if mode == Mode::Grant {
                        "error"
                    } else {
                        "warning"
                    }
                ));
                actions.retain(|a| !matches!(a, Action::Grant { .. }));
                grants_blocked = Some(m);
                None
            }
        }
    } else {
        None
    };

    let run_url = ctx.run_url();
    let known_names = known_names(&entries, &ctx.config.tenant_id);
    let mut new: Vec<NewEntry> = runtime.block_on(async {
        match &gh {
            Some((env, client)) => {
                let approvals = GithubApprovals {
                    client,
                    repo: &env.repo,
                    config: &ctx.config,
                    config_path: &ctx.config_path,
                    repo_dir: &ctx.repo_dir,
                    now,
                };
                Executor {
                    azure: &azure,
                    approvals: &approvals,
                    config: &ctx.config,
                    now,
                    run_url: run_url.clone(),
                    concurrency: args.concurrency,
                    known_names: &known_names,
                }
                .run(&actions)
                .await
            }
            None => {
                Executor {
                    azure: &azure,
                    approvals: &NoApprovals,
                    config: &ctx.config,
                    now,
                    run_url: run_url.clone(),
                    concurrency: args.concurrency,
                    known_names: &known_names,
                }
                .run(&actions)
                .await
            }
        }
    });
    if let Some(m) = &manual {
        for e in new.iter_mut().filter(|e| e.event == Event::Revoked) {
            e.actor = m.by.map(str::to_owned);
        }
    }

    // Reconcile against the state after this run's own effects.
    let after = {
        let mut all = entries.clone();
        all.extend(ledger::append(&ledger::Tip::of(&entries), new.clone()));
        state::from_ledger(&all)
    };
    if manual.is_none() {
        new.extend(runtime.block_on(reconcile(
            &azure,
            &ctx.config,
            &after.active,
            &after.drifted,
            &known_names,
            now,
            run_url.clone(),
        )));
    }

    failpoint(&ctx.env, "after-effects");
    report(&new, format);
    if format != Format::Json {
        for a in &actions {
            if let Action::Wait { .. } = a {
                output::stdout(&(describe(a) + "\n"));
            }
        }
    }
    let problems = new.iter().any(|e| {
        matches!(
            e.event,
            Event::GrantFailed | Event::RevokeFailed | Event::Refused | Event::Drift
        ) || (e.event == Event::Revoked && e.error.is_some())
    });
    // A grant run that could not grant is a configuration problem, said after the revokes ran.
    let finish = |pushed: bool| {
        if mode == Mode::Grant && grants_blocked.is_some() {
            Exit::Usage
        } else if problems || !pushed {
            Exit::Problems
        } else {
            Exit::Ok
        }
    };
    if new.is_empty() {
        return finish(true);
    }
    let opts = kv_jit_effects::git::CasOptions {
        token: ctx.git_token(),
        ..Default::default()
    };
    let pushed = match kv_jit_effects::git::commit_entries(
        &ctx.repo_dir,
        &ctx.remote,
        &ctx.config.ledger_branch,
        &ctx.config.ledger_path,
        &new,
        &opts,
    ) {
        Ok(outcome) => {
            failpoint(&ctx.env, "after-ledger-push");
            if format != Format::Json {
                output::stderr(&format!("ledger: {}\n", describe_commit(&outcome)));
            }
            true
        }
        Err(e) => {
            // Azure writes are idempotent and reconcile records what exists: the next run converges.
            output::stderr(&format!(
                "error: the effects happened but the ledger could not be pushed: {e}\n  help: the next run converges (idempotent Azure writes, reconcile)\n"
            ));
            false
        }
    };
    let title = match (mode, pushed) {
        (Mode::Grant, true) => "kv-jit grant",
        (Mode::Revoke, true) => "kv-jit revoke",
        (_, false) => "kv-jit: effects done, ledger push failed (the next run records them)",
    };
    announce(&ctx, &runtime, title, run_url.as_deref(), &new);
    finish(pushed)
}

/// The deterministic assignment name of every request the ledger records as granted (at the
/// scope it was granted at), lowercase: the only names a revoke may delete.
fn known_names(entries: &[Entry], tenant_id: &str) -> std::collections::BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e.event == Event::Granted)
        .filter_map(|e| {
            let (request, scope) = (e.request.as_deref()?, e.scope.as_deref()?);
            Some(
                kv_jit_effects::azure::assignment_name(tenant_id, scope, request)
                    .to_string()
                    .to_ascii_lowercase(),
            )
        })
        .collect()
}

/// The job summary and the Teams card. A failed announcement is a warning: the ledger, not the
/// chat, is the record.
fn announce(
    ctx: &Ctx,
    runtime: &tokio::runtime::Runtime,
    title: &str,
    run_url: Option<&str>,
    new: &[NewEntry],
) {
    if let Some(path) = ctx.env.get("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write;
        let md = kv_jit_core::notice::summary_markdown(title, new);
        if let Err(e) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(md.as_bytes()))
        {
            output::stderr(&format!("warning: cannot write the job summary: {e}\n"));
        }
    }
    let Some(variable) = &ctx.config.teams_webhook_env else {
        return;
    };
    let Some(url) = ctx.env.get(variable).filter(|u| !u.is_empty()) else {
        output::stderr(&format!(
            "warning: {variable} is not set; no Teams card was posted\n"
        ));
        return;
    };
    let card = kv_jit_core::notice::teams_card(title, run_url, new);
    if let Err(m) = runtime.block_on(kv_jit_effects::notify::post_teams(url, variable, &card)) {
        output::stderr(&format!("warning: {m}\n"));
    }
}

/// `repository.default_branch` from the workflow's event payload at `path`, if it says.
fn event_default_branch(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["repository"]["default_branch"]
        .as_str()
        .map(str::to_owned)
}

/// In GitHub Actions, whether the run is on the repository's default branch (from the event
/// payload). Outside Actions (no `GITHUB_REF`) there is nothing to compare: true.
fn on_default_branch(env: &HashMap<String, String>) -> bool {
    let Some(git_ref) = env.get("GITHUB_REF").filter(|r| !r.is_empty()) else {
        return true;
    };
    let default = env
        .get("GITHUB_EVENT_PATH")
        .and_then(|p| event_default_branch(p));
    // Without the payload we cannot tell: fail closed.
    default.is_some_and(|d| *git_ref == format!("refs/heads/{d}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The Azure client of the workflow's identity (call inside the runtime).
fn azure_client(ctx: &Ctx) -> Result<AzureClient, String> {
    let credential = Credential::from_env(&ctx.env, &ctx.config.tenant_id, &ctx.config.cloud)
        .map_err(|e| e.to_string())?;
    AzureClient::new(
        &ctx.config.tenant_id,
        ctx.config.cloud.clone(),
        credential,
        RetryPolicy::default(),
    )
    .map_err(|e| e.to_string())
}

/// When the ledger cannot be trusted (tampered, lost entries, branch gone), access must still
/// end on time: every assignment kv-jit created whose marked expiry has passed is deleted, and
/// so is every one whose request was revoked early (its file deleted, or `revoke: true`).
/// Nothing is recorded (there is no trustworthy ledger to append to); the run still fails, so
/// someone repairs the ledger, and the next good run records what happened through reconcile.
fn expiry_sweep(ctx: &Ctx, now: DateTime<Utc>, only: Option<&str>) {
    use kv_jit_effects::azure::{Azure, VaultRef};
    let runtime = runtime();
    let _guard = runtime.enter();
    let azure = match azure_client(ctx) {
        Ok(a) => a,
        Err(m) => return output::stderr(&format!("error: expiry sweep impossible: {m}\n")),
    };
    let (read_files, desired, invalid) = match ctx.requests() {
        Ok((d, i)) => (true, d, i),
        Err(m) => {
            output::stderr(&format!(
                "warning: expiry sweep without the request files ({m}): only marked expiries count\n"
            ));
            (false, Vec::new(), Vec::new())
        }
    };
    // The names kv-jit derives for the requests on the default branch: with the marker's own
    // request, what identifies an assignment kv-jit created (the ledger cannot be trusted here).
    let on_main: std::collections::BTreeSet<String> = desired
        .iter()
        .filter_map(|d| {
            let r = &d.request;
            let p = ctx.config.vaults.get(&r.vault)?;
            let scope = match p.scope {
                kv_jit_core::config::Scope::Vault => p.vault_scope(),
                kv_jit_core::config::Scope::Secret => {
                    format!("{}/secrets/{}", p.vault_scope(), r.secret)
                }
            };
            Some(
                kv_jit_effects::azure::assignment_name(
                    &ctx.config.tenant_id,
                    &scope,
                    r.id.as_str(),
                )
                .to_string()
                .to_ascii_lowercase(),
            )
        })
        .collect();
    // Whether the request a marker names still wants access: its file is on the default branch
    // (valid without `revoke: true`, or invalid: an invalid file is refused, not revoked).
    let wanted = |id: &str| {
        !read_files
            || desired
                .iter()
                .any(|d| d.request.id.as_str() == id && !d.request.revoke)
            || invalid.iter().any(|i| i.id.as_str() == id)
    };
    for policy in ctx
        .config
        .vaults
        .values()
        .filter(|p| p.expiry == kv_jit_core::config::Expiry::Revoker)
    {
        let Ok(vault) = VaultRef::new(
            &policy.subscription_id,
            &policy.resource_group,
            policy.name.clone(),
        ) else {
            continue;
        };
        let listed = match runtime.block_on(azure.list_managed_in_vault(&vault)) {
            Ok(l) => l,
            Err(e) => {
                output::stderr(&format!(
                    "error: expiry sweep of vault {}: {e}\n",
                    policy.name
                ));
                continue;
            }
        };
        for a in listed {
            let Some(marker) = a.marker.as_ref() else {
                continue;
            };
            let why = if let Some(id) = only {
                if marker.request_id != id {
                    continue;
                }
                "revoked by hand"
            } else if marker.expires_at <= now {
                "expired by its marker"
            } else if !wanted(&marker.request_id) {
                "its request was revoked early"
            } else {
                continue;
            };
            if !kv_jit_engine::execute::created_by_kv_jit(&a, &ctx.config.tenant_id, &on_main) {
                continue;
            }
            match runtime.block_on(kv_jit_engine::execute::delete_listed(&azure, &a)) {
                Ok(()) => output::stdout(&format!(
                    "revoked       {} ({why}; not recorded: the ledger cannot be trusted)\n",
                    marker.request_id
                )),
                Err(e) => output::stderr(&format!(
                    "error: expiry sweep could not revoke {}: {e}\n",
                    marker.request_id
                )),
            }
        }
    }
}

/// Revokes never need approval; a grant planned without GitHub is refused (fail closed).
struct NoApprovals;

impl ApprovalCheck for NoApprovals {
    async fn check(&self, _: &Desired) -> Result<Approvals, Denied> {
        Err(Denied::Unavailable(
            "approval cannot be verified without GitHub".into(),
        ))
    }
}

fn describe_commit(o: &kv_jit_effects::git::CommitOutcome) -> String {
    match o {
        kv_jit_effects::git::CommitOutcome::Pushed {
            commit,
            entries,
            attempts,
        } => {
            format!(
                "{} entr{} pushed in {} (attempt {attempts})",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" },
                &commit[..commit.len().min(12)]
            )
        }
        kv_jit_effects::git::CommitOutcome::AlreadyRecorded { .. } => {
            "already recorded; nothing pushed".into()
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    event: Event,
    request: Option<&'a str>,
    reason: Option<Reason>,
    error: Option<&'a str>,
}

fn report(new: &[NewEntry], format: Format) {
    if format == Format::Json {
        let lines: Vec<Line> = new
            .iter()
            .map(|e| Line {
                event: e.event,
                request: e.request.as_deref(),
                reason: e.reason,
                error: e.error.as_deref(),
            })
            .collect();
        output::stdout(&(serde_json::to_string_pretty(&lines).expect("serializes") + "\n"));
        return;
    }
    if new.is_empty() {
        output::stdout("nothing to do\n");
    }
    for e in new {
        let event = serde_json::to_value(e.event)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut line = format!("{event:<13} {}", e.request.as_deref().unwrap_or("-"));
        if let Some(r) = e.reason {
            line.push_str(&format!(
                " ({})",
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
        if let Some(err) = &e.error {
            line.push_str(&format!(": {err}"));
        }
        output::stdout(&(line + "\n"));
    }
}

/// `kv-jit status`: active grants with time left, pending ones, and how late revokes run.
pub fn status_cmd(config_path: &Path, now: DateTime<Utc>, format: Format, remote: &str) -> Exit {
    let ctx = match Ctx::load(config_path, format, remote) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = match ctx.ledger() {
        Ok(e) => e,
        Err(m) => return fail(&m, Exit::Problems),
    };
    let st: LedgerState = state::from_ledger(&entries);
    let (desired, invalid) = ctx.requests().unwrap_or_default();
    let pending: Vec<(String, DateTime<Utc>)> =
        plan::plan(&desired, &invalid, &st, &ctx.config, now)
            .into_iter()
            .filter_map(|a| match a {
                Action::Wait { request, starts } => Some((request.to_string(), starts)),
                Action::Grant { request, start, .. } => Some((request.to_string(), start)),
                _ => None,
            })
            .collect();
    let lag = ledger::revoke_lag(&entries);
    if format == Format::Json {
        let v = serde_json::json!({
            "now": now,
            "active": st.active.values().map(|g| serde_json::json!({
                "request": g.request, "requester": g.requester, "vault": g.vault, "secret": g.secret,
                "start": g.start, "expires": g.expires, "seconds_left": (g.expires - now).num_seconds(),
            })).collect::<Vec<_>>(),
            "pending": pending.iter().map(|(r, s)| serde_json::json!({"request": r, "starts": s})).collect::<Vec<_>>(),
            "revoke_lag": lag,
        });
        output::stdout(&(serde_json::to_string_pretty(&v).expect("serializes") + "\n"));
        return Exit::Ok;
    }
    output::stdout(&format!("active grants: {}\n", st.active.len()));
    for g in st.active.values() {
        let left = g.expires - now;
        let left = if left.num_seconds() <= 0 {
            "overdue for revoke".to_owned()
        } else {
            format!("{}h{:02}m left", left.num_hours(), left.num_minutes() % 60)
        };
        output::stdout(&format!(
            "  {}  {} on {}/{}  until {}  ({left})\n",
            g.request,
            g.requester,
            g.vault,
            g.secret,
            g.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    output::stdout(&format!("pending: {}\n", pending.len()));
    for (r, s) in &pending {
        output::stdout(&format!(
            "  {r}  starts {}\n",
            s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    match lag {
        Some(l) => output::stdout(&format!(
            "revoke lag over {} expiries: p50 {}s, p95 {}s, max {}s\n",
            l.count, l.p50_seconds, l.p95_seconds, l.max_seconds
        )),
        None => output::stdout("revoke lag: no expiries recorded yet\n"),
    }
    Exit::Ok
}

/// `kv-jit audit verify [PATH]`: the whole chain; names the first bad line.
pub fn audit_verify_cmd(path: Option<&Path>, config_path: &Path, format: Format) -> Exit {
    let path = match path {
        Some(p) => p.to_owned(),
        None => match super::load_config(config_path, format, false) {
            Ok(c) => PathBuf::from(c.ledger_path),
            Err(e) => return e,
        },
    };
    match kv_jit_effects::ledger::verify_file(&path) {
        Ok(report) => {
            let msg = format!(
                "{}: {} entries, chain intact (tip {})",
                path.display(),
                report.entries,
                &report.tip.hash[..12.min(report.tip.hash.len())]
            );
            if format == Format::Json {
                output::stdout(&(serde_json::json!({"ok": true, "entries": report.entries, "tip": report.tip.hash}).to_string() + "\n"));
            } else {
                output::stdout(&(msg + "\n"));
            }
            Exit::Ok
        }
        Err(ledger::VerifyError::Io { source, .. }) => {
            let help = if source.kind() == std::io::ErrorKind::NotFound {
                "no ledger there yet (nothing was granted), or it lives on another branch: pass its PATH or check out the ledger branch"
            } else {
                "pass the ledger file's PATH"
            };
            output::stderr(&format!(
                "error: cannot read {}: {source}\n  help: {help}\n",
                path.display()
            ));
            Exit::Usage
        }
        Err(e) => {
            if format == Format::Json {
                output::stdout(
                    &(serde_json::json!({"ok": false, "error": e.to_string()}).to_string() + "\n"),
                );
            } else {
                output::stdout(&format!("{e}\n"));
            }
            match e {
                ledger::VerifyError::Io { .. } => Exit::Usage,
                _ => Exit::Problems,
            }
        }
    }
}

/// Crash-consistency tests kill the process at named effect boundaries: with
/// `KV_JIT_FAILPOINT=<name>` the process SIGKILLs itself there (no cleanup, no flush), exactly
/// as a runner losing its machine would. Inert unless the variable names this point.
fn failpoint(env: &HashMap<String, String>, name: &str) {
    if env.get("KV_JIT_FAILPOINT").is_some_and(|f| f == name) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // `kill` is not there: end as abruptly as we can.
        std::process::abort();
    }
}
