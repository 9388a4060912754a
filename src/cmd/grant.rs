//! `kv-jit grant` and `kv-jit revoke`: build the engine's ports from the environment, run the
//! engine once ([`kv_jit_engine::run::run`]), print what it did. The rules are the engine's.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use kv_jit_core::diag::Format;
use kv_jit_effects::github_approvals::{GithubApprovals, event_default_branch};
use kv_jit_effects::notify::Announcer;
use kv_jit_engine::run::{self, Inputs, Manual, Mode, Outcome, Ports};

use super::context::Ctx;
use super::pr::GithubEnv;
use crate::Exit;
use crate::cli::{RevokeArgs, RunArgs};
use crate::output;

pub fn grant_cmd(args: &RunArgs, config_path: &Path, now: DateTime<Utc>, format: Format) -> Exit {
    run_once(Mode::Grant, args, None, config_path, now, format)
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
    run_once(Mode::Revoke, &args.run, manual, config_path, now, format)
}

fn run_once(
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
    let runtime = super::runtime();
    // The HTTP clients must be built inside the runtime.
    let _guard = runtime.enter();
    let azure = ctx.azure_client();
    // Sign in before any work: a credential Entra refuses (or an authority that cannot be
    // reached) is a configuration error, not one failure per item. Outages go on to the run,
    // which records them per item for the next run to retry.
    if let Ok(client) = &azure
        && let Err(e @ kv_jit_effects::azure::AzureError::Credential(_)) =
            runtime.block_on(client.sign_in())
    {
        return output::fatal(
            output::Fatal::usage("azure-credential", e.to_string())
                .help("see README: credentials; nothing was granted, revoked or recorded"),
        );
    }
    kv_jit_effects::testing::hit_if(azure.is_ok(), "after-sign-in");
    let ledger = ctx.ledger();
    let notifier = Announcer {
        summary_path: ctx.var("GITHUB_STEP_SUMMARY").map(Into::into),
        teams: ctx
            .config
            .teams_webhook_env
            .as_ref()
            .map(|v| (v.clone(), ctx.var(v).map(str::to_owned))),
    };
    let failpoint = |name: &str| failpoint(name);
    let github = GithubEnv::from_env(&ctx.env).and_then(|g| g.client().map(|c| (g, c)));
    let inputs = Inputs {
        mode,
        config: &ctx.config,
        now,
        requests: ctx.requests(),
        manual,
        shallow: manual.is_none() && kv_jit_effects::git::is_shallow(&ctx.repo_dir),
        run_url: ctx.run_url(),
        concurrency: args.concurrency,
        shard: args.shard,
    };
    let ports = Ports {
        azure: azure.as_ref().map_err(Clone::clone),
        ledger: &ledger,
        notifier: &notifier,
        failpoint: &failpoint,
        progress: &|e: &kv_jit_core::ledger::NewEntry| {
            output::stderr(&super::report::progress_line(e))
        },
    };
    let approvals = || {
        let (env, client) = github
            .as_ref()
            .map_err(|m| format!("grants need GitHub to verify approvals: {m}"))?;
        if !on_default_branch(&ctx.env) {
            return Err("grants run only on the default branch (GITHUB_REF is another ref, or the event payload does not name the default branch): a config on another branch could point at another ledger".to_owned());
        }
        Ok(GithubApprovals {
            client,
            repo: &env.repo,
            config: &ctx.config,
            config_path: &ctx.config_path,
            repo_dir: &ctx.repo_dir,
            now,
            event_path: ctx.var("GITHUB_EVENT_PATH"),
            memo: Default::default(),
        })
    };
    let done = runtime.block_on(run::run(inputs, ports, approvals));
    super::report::render(&done, format);
    // Requests filed by issue: the outcome goes back to the issue (best effort, like the other
    // notices: a run that dies before it loses the comment, never the grant).
    if let (Ok((env, client)), Some(Ok(_))) = (&github, &done.recorded) {
        runtime.block_on(tell_issues(&ctx, &env.repo, client, &done.new));
    }
    // Break-glass retrospectives: opened right after the grant (and by any later run, should
    // this one die before), reported by revoke runs until done.
    let retro_problems = match &github {
        Ok((env, client)) => runtime.block_on(retrospectives(
            &ctx, &env.repo, client, mode, now, &failpoint,
        )),
        Err(_) => false,
    };
    if let Ok((_, client)) = &github {
        output::stderr(&github_summary(client, &done.new));
    }
    let exit = match done.outcome {
        Outcome::Ok if retro_problems => Exit::Problems,
        Outcome::Ok => Exit::Ok,
        Outcome::Problems => Exit::Problems,
        Outcome::Usage => Exit::Usage,
    };
    // A run that stopped before its work is a fatal error (its text is on stderr already).
    if !done.executed && exit != Exit::Ok {
        super::report::stopped(&done, exit);
    }
    exit
}

/// `github: N calls for M grants, ratelimit remaining R` (stderr): what the run spent of the
/// token's REST budget, and what is left.
fn github_summary(
    client: &kv_jit_effects::github::client::GithubClient,
    new: &[kv_jit_core::ledger::NewEntry],
) -> String {
    let grants = new
        .iter()
        .filter(|e| e.event == kv_jit_core::ledger::Event::Granted)
        .count();
    let limit = client.rate_limit();
    let remaining = limit
        .and_then(|l| l.remaining)
        .map_or_else(|| "unknown".to_owned(), |r| r.to_string());
    let reset = limit
        .and_then(|l| l.reset_at())
        .map(|at| {
            format!(
                " (renewed at {})",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
        .unwrap_or_default();
    format!(
        "github: {} calls for {grants} grants, ratelimit remaining {remaining}{reset}\n",
        client.calls()
    )
}

/// Opens the retrospective issue of every break-glass grant without one and records it; in a
/// revoke run, warns about every retrospective not yet done. True when something failed (the
/// next run retries).
async fn retrospectives(
    ctx: &Ctx,
    repo: &kv_jit_effects::github::client::Repo,
    client: &kv_jit_effects::github::client::GithubClient,
    mode: Mode,
    now: DateTime<Utc>,
    failpoint: &(dyn Fn(&str) + Sync),
) -> bool {
    use kv_jit_effects::github::retrospective::{open_due, states};
    use kv_jit_engine::ports::LedgerStore;
    let ledger = ctx.ledger();
    // The run has said already why the ledger cannot be read.
    let Ok(entries) = ledger.read() else {
        return false;
    };
    let opened = open_due(client, repo, &entries, now, ctx.run_url(), failpoint).await;
    let mut problems = !opened.errors.is_empty();
    for note in &opened.notes {
        output::stderr(&format!("retrospective: {note}\n"));
    }
    for e in &opened.errors {
        output::stderr(&format!("error: {e}\n"));
    }
    if !opened.entries.is_empty() {
        match ledger.append(&opened.entries) {
            Ok(what) => output::stderr(&format!("ledger: {what}\n")),
            Err(e) => {
                problems = true;
                output::stderr(&format!(
                    "error: the retrospective issues are open but the ledger could not record them: {e}\n  help: the next run finds them by their marker and records them\n"
                ));
            }
        }
    }
    if mode == Mode::Revoke {
        let entries = ledger.read().unwrap_or(entries);
        let paths = request_paths(ctx);
        let today = kv_jit_core::github::codeowners::pick(|path| {
            std::fs::read_to_string(ctx.repo_dir.join(path)).ok()
        });
        let found = states(
            Some((client, repo)),
            &entries,
            today.as_ref().map(|(_, c)| c),
            &ctx.config.identities,
            |id| path_of(&paths, id),
        )
        .await;
        for (g, state) in found {
            if let Some(text) = open_retrospective(&g.request.to_string(), &state) {
                output::stderr(&format!("warning: {text}\n"));
            }
        }
    }
    problems
}

/// Comments the outcome of each request that names an `issue:` (granted until, or refused
/// and why) on that issue.
async fn tell_issues(
    ctx: &Ctx,
    repo: &kv_jit_effects::github::client::Repo,
    client: &kv_jit_effects::github::client::GithubClient,
    new: &[kv_jit_core::ledger::NewEntry],
) {
    use kv_jit_core::ledger::Event;
    let Ok((desired, _)) = ctx.requests() else {
        return;
    };
    for e in new {
        let Some(issue) = desired
            .iter()
            .find(|d| Some(d.request.id.as_str()) == e.request.as_deref())
            .and_then(|d| d.request.issue)
        else {
            continue;
        };
        let id = kv_jit_core::notice::escape_markdown(e.request.as_deref().unwrap_or("-"));
        let body = match (e.event, e.window) {
            (Event::Granted, Some(w)) => format!(
                "kv-jit granted `{id}` until {}.",
                w.expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            (Event::Refused, _) => format!(
                "kv-jit refused `{id}`: {}",
                kv_jit_core::notice::escape_markdown(e.error.as_deref().unwrap_or("see the run"))
            ),
            _ => continue,
        };
        if let Err(err) = client.create_comment(repo, issue, &body).await {
            output::stderr(&format!(
                "warning: cannot comment the outcome on issue #{issue}: {err}\n"
            ));
        }
    }
}

/// Request id -> its file, from the checkout (valid and invalid files alike).
pub(crate) fn request_paths(ctx: &Ctx) -> HashMap<String, String> {
    let (desired, invalid) = ctx.requests().unwrap_or_default();
    desired
        .iter()
        .map(|d| (d.request.id.to_string(), d.request.path.clone()))
        .chain(invalid.iter().map(|i| (i.id.to_string(), i.path.clone())))
        .collect()
}

/// A request's file: the checkout's, or where it was (a deleted file's owners are those of its
/// path).
pub(crate) fn path_of(paths: &HashMap<String, String>, id: &str) -> String {
    paths
        .get(id)
        .cloned()
        .unwrap_or_else(|| format!("requests/{id}.yaml"))
}

/// The warning for a retrospective that is not done; `None` when it is.
pub(crate) fn open_retrospective(
    request: &str,
    state: &kv_jit_core::approval::retrospective::RetroState,
) -> Option<String> {
    use kv_jit_core::approval::retrospective::RetroState;
    match state {
        RetroState::Done { .. } => None,
        RetroState::NotOpened => Some(format!(
            "break-glass grant {request}: its retrospective issue is not opened yet"
        )),
        RetroState::Open { issue, missing } => Some(format!(
            "break-glass grant {request}: retrospective #{issue} is not done ({missing})"
        )),
        RetroState::Unverified { issue, why } => Some(format!(
            "break-glass grant {request}: retrospective #{issue} could not be checked ({why})"
        )),
    }
}

/// In GitHub Actions, whether the run is on the repository's default branch (from the event
/// payload). Outside Actions (no `GITHUB_REF`) there is nothing to compare: true.
fn on_default_branch(env: &HashMap<String, String>) -> bool {
    let Some(git_ref) = env.get("GITHUB_REF").filter(|r| !r.is_empty()) else {
        return true;
    };
    // GitHub runs a `schedule` workflow only on the default branch's latest commit, and its
    // payload names no repository (so no default branch): the event itself is the evidence.
    if env
        .get("GITHUB_EVENT_NAME")
        .is_some_and(|e| e == "schedule")
    {
        return git_ref.starts_with("refs/heads/");
    }
    let default = env
        .get("GITHUB_EVENT_PATH")
        .and_then(|p| event_default_branch(p));
    // Without the payload we cannot tell: fail closed.
    default.is_some_and(|d| *git_ref == format!("refs/heads/{d}"))
}

/// Crash-consistency tests kill the process at named effect boundaries: with
/// `KV_JIT_FAILPOINT=<name>` the process SIGKILLs itself there (no cleanup, no flush), exactly
/// as a runner losing its machine would. Inert unless the variable names this point.
/// The names and the `nth:<k>` form: [`kv_jit_effects::testing`].
fn failpoint(name: &str) {
    kv_jit_effects::testing::hit(name);
}

#[cfg(test)]
mod tests {
    use super::on_default_branch;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_scheduled_run_is_on_the_default_branch_and_a_push_needs_its_payload() {
        let dir = tempfile::tempdir().unwrap();
        let push = dir.path().join("push.json");
        std::fs::write(&push, r#"{"repository":{"default_branch":"main"}}"#).unwrap();
        let push = push.to_str().unwrap();
        let schedule = dir.path().join("schedule.json");
        std::fs::write(&schedule, r#"{"schedule":"2-59/5 * * * *"}"#).unwrap();
        let schedule = schedule.to_str().unwrap();
        let cases = [
            // (event, ref, payload, on the default branch?)
            ("schedule", "refs/heads/main", schedule, true),
            ("schedule", "refs/tags/v1", schedule, false),
            ("push", "refs/heads/main", push, true),
            ("push", "refs/heads/feature", push, false),
            ("push", "refs/heads/main", schedule, false),
            ("workflow_dispatch", "refs/heads/main", schedule, false),
        ];
        for (event, git_ref, payload, want) in cases {
            let e = env(&[
                ("GITHUB_EVENT_NAME", event),
                ("GITHUB_REF", git_ref),
                ("GITHUB_EVENT_PATH", payload),
            ]);
            assert_eq!(on_default_branch(&e), want, "{event} {git_ref} {payload}");
        }
    }
}
