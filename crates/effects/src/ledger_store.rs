//! The engine's [`LedgerStore`] over git: the ledger file on its branch of the remote, read
//! with its history checked, appended by compare-and-swap ([`crate::git`]).

use std::path::PathBuf;

use kv_jit_core::ledger::{Entry, NewEntry};
use kv_jit_core::plan::LedgerState;
use kv_jit_core::plan::state::Interest;
use kv_jit_engine::ports::{LedgerProblem, LedgerStore};

use crate::git::{self, CasOptions, CommitOutcome, GitError, Token};

pub struct GitLedger {
    pub repo_dir: PathBuf,
    pub remote: String,
    pub branch: String,
    pub path: String,
    pub token: Option<Token>,
}

impl GitLedger {
    /// The planner's state of the ledger, verified and derived in one pass without keeping its
    /// entries (see [`crate::ledger::verify_state`]); `granted` and `refused` only for the ids
    /// of `interest`. Fails exactly when [`LedgerStore::read`] fails, with the same problem.
    pub fn read_state(&self, interest: Interest<'_>) -> Result<LedgerState, LedgerProblem> {
        let state = git::read_ledger_state(
            &self.repo_dir,
            &self.remote,
            &self.branch,
            &self.path,
            self.token.clone(),
            interest,
        )
        .map_err(|e| self.problem(e))?;
        self.present(state).map(Option::unwrap_or_default)
    }

    fn problem(&self, e: GitError) -> LedgerProblem {
        let untrusted = matches!(e, GitError::Ledger(_) | GitError::LedgerLost { .. });
        let m = format!(
            "cannot use the ledger `{}` on branch `{}`: {e}",
            self.path, self.branch
        );
        if untrusted {
            LedgerProblem::Untrusted(m)
        } else {
            LedgerProblem::Unavailable(m)
        }
    }

    /// What was read, or (`None`) a first run with nothing read; or why a missing ledger
    /// branch cannot be trusted.
    fn present<T>(&self, read: Option<T>) -> Result<Option<T>, LedgerProblem> {
        match read {
            Some(v) => Ok(Some(v)),
            // On the branch kv-jit runs on, a ledger that was never there is a first run (one
            // that was there and went is caught by its history). A dedicated ledger branch that
            // does not exist may have been deleted with everything it said: never start over
            // silently.
            None if git::current_branch(&self.repo_dir).as_deref()
                == Some(self.branch.as_str()) =>
            {
                Ok(None)
            }
            None => Err(LedgerProblem::Untrusted(format!(
                "the ledger branch `{}` does not exist on `{}`; kv-jit will not start a new ledger silently (a deleted branch would take the record of what was revoked with it): create the branch (an empty commit is enough), protect it against deletion and force pushes, and run again",
                self.branch, self.remote
            ))),
        }
    }
}

impl LedgerStore for GitLedger {
    /// The ledger, or why it cannot be used. A ledger that does not verify, that lost entries
    /// its own history shows, or that is missing while the default branch shows kv-jit ran
    /// before, cannot say what is already done: grants stop (never an empty start).
    fn read(&self) -> Result<Vec<Entry>, LedgerProblem> {
        let entries = git::read_ledger(
            &self.repo_dir,
            &self.remote,
            &self.branch,
            &self.path,
            self.token.clone(),
        )
        .map_err(|e| self.problem(e))?;
        self.present(entries).map(Option::unwrap_or_default)
    }

    fn append(&self, new: &[NewEntry]) -> Result<String, String> {
        let opts = CasOptions {
            token: self.token.clone(),
            ..Default::default()
        };
        git::commit_entries(
            &self.repo_dir,
            &self.remote,
            &self.branch,
            &self.path,
            new,
            &opts,
        )
        .map(|o| describe(&o))
        .map_err(|e| e.to_string())
    }
}

fn describe(o: &CommitOutcome) -> String {
    match o {
        CommitOutcome::Pushed {
            commit,
            entries,
            attempts,
        } => format!(
            "{} entr{} pushed in {} (attempt {attempts})",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" },
            &commit[..commit.len().min(12)]
        ),
        CommitOutcome::AlreadyRecorded { .. } => "already recorded; nothing pushed".into(),
    }
}
