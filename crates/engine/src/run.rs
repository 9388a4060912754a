//! One run of `grant` or `revoke`: read the ledger, plan, hold back what this run cannot do
//! safely, execute, reconcile, record, announce. Every rule of the run is here, against the
//! ports; the shell only builds the ports and prints the [`RunReport`].

use chrono::{DateTime, Utc};

use kv_jit_core::config::Config;
use kv_jit_core::ledger::{self, Approvals, Event, NewEntry};
use kv_jit_core::plan::{self, Action, Desired, Invalid, state};

use crate::execute::{Executor, reconcile};
use crate::ports::{ApprovalCheck, Azure, Denied, LedgerProblem, LedgerStore, Notifier};
use crate::sweep::expiry_sweep;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Grant,
    Revoke,
}

/// A manual early revoke: which request, who asked, why.
#[derive(Debug, Clone, Copy)]
pub struct Manual<'a> {
    pub request: &'a str,
    pub by: Option<&'a str>,
    pub reason: &'a str,
}

/// What a run starts from, read by the shell.
pub struct Inputs<'a> {
    pub mode: Mode,
    pub config: &'a Config,
    pub now: DateTime<Utc>,
    /// The request files on the checked-out default branch (valid, invalid), or why they
    /// could not be read.
    pub requests: Result<(Vec<Desired>, Vec<Invalid>), String>,
    pub manual: Option<Manual<'a>>,
    /// The checkout is a shallow clone: the history windows and ids are judged by is cut.
    pub shallow: bool,
    pub run_url: Option<String>,
    /// How many Azure items run at once.
    pub concurrency: u16,
    /// `--shard K/N`: only the work of this shard's subscriptions (plan, reconcile, sweep).
    pub shard: Option<kv_jit_core::shard::Shard>,
}

/// The ports of a run. `azure` is an error when no client could be built (no credentials):
/// a run without Azure can do nothing, but it still says why in order.
pub struct Ports<'a, A, L, N> {
    pub azure: Result<&'a A, String>,
    pub ledger: &'a L,
    pub notifier: &'a N,
    /// Crash-consistency tests kill the process at named points (`after-effects`,
    /// `after-ledger-push`); production passes a no-op.
    pub failpoint: &'a (dyn Fn(&str) + Sync),
    /// Told about each entry as its item completes (progress lines); `&|_| {}` for none.
    pub progress: &'a dyn crate::ports::Progress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

/// A line for the operator, in the order the run met it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Level,
    pub text: String,
}

/// How the run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything due was done and recorded.
    Ok,
    /// Something failed or was refused, or could not be recorded: the next run converges.
    Problems,
    /// The run could not do what it is for (configuration): grants blocked, no Azure client,
    /// unreadable request files.
    Usage,
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    /// One entry per effect (recorded, or attempted when the push failed).
    pub new: Vec<NewEntry>,
    /// The grants that wait for their start.
    pub waits: Vec<Action>,
    pub messages: Vec<Message>,
    /// What the ledger store said of the append; `None` when there was nothing to record.
    pub recorded: Option<Result<String, String>>,
    /// The plan was executed (false when the run stopped before: no ledger, no requests, no
    /// Azure client, an unknown manual request).
    pub executed: bool,
    pub outcome: Outcome,
}

impl RunReport {
    fn stopped(messages: Vec<Message>, outcome: Outcome) -> RunReport {
        RunReport {
            new: Vec::new(),
            waits: Vec::new(),
            messages,
            recorded: None,
            executed: false,
            outcome,
        }
    }
}

/// Revokes never need approval; a grant planned without GitHub is refused (fail closed).
impl<P: ApprovalCheck> ApprovalCheck for Option<P> {
    async fn check(&self, desired: &Desired) -> Result<Approvals, Denied> {
        match self {
            Some(p) => p.check(desired).await,
            None => Err(Denied::Unavailable(
                "approval cannot be verified without GitHub".into(),
            )),
        }
    }

    async fn prepare(&self, due: &[&Desired], concurrency: usize) {
        if let Some(p) = self {
            p.prepare(due, concurrency).await
        }
    }
}

/// Runs once. `approvals` is asked for only when grants are due (building it reads GitHub's
/// setup); an error holds the grants back and lets the revokes go ahead.
pub async fn run<A, L, N, P>(
    inputs: Inputs<'_>,
    ports: Ports<'_, A, L, N>,
    approvals: impl FnOnce() -> Result<P, String>,
) -> RunReport
where
    A: Azure,
    L: LedgerStore,
    N: Notifier,
    P: ApprovalCheck,
{
    let Inputs {
        mode,
        config,
        now,
        requests,
        manual,
        shallow,
        run_url,
        concurrency,
        shard,
    } = inputs;
    // A sharded run reconciles and sweeps only its own subscriptions' vaults.
    let own_config = shard.map(|s| s.config(config));
    let own_config = own_config.as_ref().unwrap_or(config);
    let mut messages = Vec::new();
    let mut say = |level, text: String| messages.push(Message { level, text });
    // A grant run that cannot do what it is for is an error; a revoke run only warns.
    let blocked_level = if mode == Mode::Grant {
        Level::Error
    } else {
        Level::Warning
    };

    let entries = match ports.ledger.read() {
        Ok(e) => e,
        // Access must still end on time, in a grant run as in a scheduled one, whether the
        // ledger is unreachable or untrusted: revokes never wait on what grants need. A manual
        // revoke then ends that request's kv-jit assignments by their marker.
        Err(LedgerProblem::Unavailable(m) | LedgerProblem::Untrusted(m)) => {
            say(Level::Error, m);
            match ports.azure {
                Ok(azure) => {
                    let only = manual.as_ref().map(|m| m.request);
                    let swept = expiry_sweep(azure, own_config, now, only, requests.as_ref().ok());
                    if let Err(m) = &requests {
                        say(
                            Level::Warning,
                            format!(
                                "expiry sweep without the request files ({m}): only marked expiries count"
                            ),
                        );
                    }
                    messages.extend(swept.await);
                }
                Err(m) => say(Level::Error, format!("expiry sweep impossible: {m}")),
            }
            return RunReport::stopped(messages, Outcome::Problems);
        }
    };
    let ledger_state = state::from_ledger(&entries);
    let (desired, invalid) = match requests {
        Ok(r) => r,
        Err(m) => {
            say(Level::Error, m);
            return RunReport::stopped(messages, Outcome::Usage);
        }
    };
    let mut actions = match &manual {
        None => plan::plan(&desired, &invalid, &ledger_state, config, now),
        Some(m) => match plan::manual_revoke(&ledger_state, m.request, m.reason) {
            Some(revoke) => vec![revoke],
            None => {
                say(
                    Level::Error,
                    format!(
                        "request `{}` has no active grant in the ledger",
                        kv_jit_core::names::escape(m.request)
                    ),
                );
                return RunReport::stopped(messages, Outcome::Problems);
            }
        },
    };
    if let Some(s) = &shard {
        actions.retain(|a| s.owns_action(a, &desired, config));
    }

    // A shallow clone cuts the history the windows and ids are judged by: what depends on it
    // (grants, refusals) waits for a full clone; revokes go ahead.
    let mut grants_blocked = false;
    if shallow && manual.is_none() {
        let held = actions
            .iter()
            .filter(|a| matches!(a, Action::Grant { .. } | Action::Refuse { .. }))
            .count();
        if held > 0 {
            say(
                blocked_level,
                format!(
                    "this checkout is a shallow clone, so {held} grant(s) and refusal(s) wait for a run in a full clone (actions/checkout with fetch-depth: 0)"
                ),
            );
            grants_blocked = true;
        }
        actions.retain(|a| !matches!(a, Action::Grant { .. } | Action::Refuse { .. }));
    }
    let azure = match ports.azure {
        Ok(a) => a,
        Err(m) => {
            say(Level::Error, m);
            return RunReport::stopped(messages, Outcome::Usage);
        }
    };
    // What grants need (GitHub to verify approvals, the default branch) never holds up the
    // revokes: without it, due grants wait for a run that has it, and revokes go ahead.
    let due = actions
        .iter()
        .filter(|a| matches!(a, Action::Grant { .. }))
        .count();
    let approvals = if due > 0 {
        match approvals() {
            Ok(p) => Some(p),
            Err(m) => {
                say(
                    blocked_level,
                    format!(
                        "{due} grant(s) are due but cannot run: {m}; they wait for a run that can"
                    ),
                );
                actions.retain(|a| !matches!(a, Action::Grant { .. }));
                grants_blocked = true;
                None
            }
        }
    } else {
        None
    };

    let known_names = state::known_names(&entries, &config.tenant_id);
    let (mut new, deferred) = Executor {
        azure,
        approvals: &approvals,
        config,
        now,
        run_url: run_url.clone(),
        concurrency,
        known_names: &known_names,
        progress: ports.progress,
    }
    .run_deferring(&actions)
    .await;
    // Grants this run could not afford (GitHub's rate limit): not started, not recorded; the
    // next run grants them.
    if let Some(why) = deferred.first() {
        say(
            Level::Error,
            format!(
                "{} grant(s) not started, they wait for the next run: {why}",
                deferred.len()
            ),
        );
    }
    if let Some(m) = &manual {
        for e in new.iter_mut().filter(|e| e.event == Event::Revoked) {
            e.actor = m.by.map(str::to_owned);
        }
    }

    // Reconcile against the state after this run's own effects.
    if manual.is_none() {
        let after = {
            let mut all = entries.clone();
            all.extend(ledger::append(&ledger::Tip::of(&entries), new.clone()));
            state::from_ledger(&all)
        };
        let active = shard.map(|s| s.active(&after.active));
        let reconciled = reconcile(
            azure,
            own_config,
            active.as_ref().unwrap_or(&after.active),
            &after.drifted,
            &known_names,
            now,
            run_url.clone(),
        )
        .await;
        for e in &reconciled {
            ports.progress.completed(e);
        }
        new.extend(reconciled);
    }
    (ports.failpoint)("after-effects");

    let problems = new.iter().any(|e| {
        matches!(
            e.event,
            Event::GrantFailed | Event::RevokeFailed | Event::Refused | Event::Drift
        ) || (e.event == Event::Revoked && e.error.is_some())
    });
    let waits: Vec<Action> = actions
        .into_iter()
        .filter(|a| matches!(a, Action::Wait { .. }))
        .collect();
    let recorded = (!new.is_empty()).then(|| ports.ledger.append(&new));
    let pushed = !matches!(recorded, Some(Err(_)));
    if pushed && recorded.is_some() {
        (ports.failpoint)("after-ledger-push");
    }
    if recorded.is_some() {
        let title = match (mode, pushed) {
            (Mode::Grant, true) => "kv-jit grant",
            (Mode::Revoke, true) => "kv-jit revoke",
            (_, false) => "kv-jit: effects done, ledger push failed (the next run records them)",
        };
        for w in ports
            .notifier
            .announce(title, run_url.as_deref(), &new)
            .await
        {
            messages.push(Message {
                level: Level::Warning,
                text: w,
            });
        }
    }
    // A grant run that could not grant is a configuration problem, said after the revokes ran.
    let outcome = if mode == Mode::Grant && grants_blocked {
        Outcome::Usage
    } else if problems || !pushed || !deferred.is_empty() {
        Outcome::Problems
    } else {
        Outcome::Ok
    };
    RunReport {
        new,
        waits,
        messages,
        recorded,
        executed: true,
        outcome,
    }
}

#[cfg(test)]
mod tests;
