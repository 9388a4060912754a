//! What every engine command (plan, grant, revoke, status) starts from: the config, the
//! environment, the checkout, and the ports built from them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kv_jit_core::config::Config;
use kv_jit_core::diag::Format;
use kv_jit_core::plan::{Desired, Invalid};
use kv_jit_effects::azure::{AzureClient, Credential, RetryPolicy};
use kv_jit_effects::git::Token;
use kv_jit_effects::ledger_store::GitLedger;

use super::files::{check_files, collect, split_checked};
use crate::Exit;
use crate::output;

pub struct Ctx {
    pub config: Config,
    pub config_path: String,
    pub env: HashMap<String, String>,
    pub repo_dir: PathBuf,
    pub remote: String,
}

impl Ctx {
    pub fn load(config_path: &Path, format: Format, remote: &str) -> Result<Self, Exit> {
        let config = super::load_config(config_path, format, false)?;
        Ok(Self {
            config,
            config_path: config_path.to_string_lossy().replace('\\', "/"),
            env: std::env::vars().collect(),
            repo_dir: PathBuf::from("."),
            remote: remote.to_owned(),
        })
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The ledger on its branch of the remote.
    pub fn ledger(&self) -> GitLedger {
        GitLedger {
            repo_dir: self.repo_dir.clone(),
            remote: self.remote.clone(),
            branch: self.config.ledger_branch.clone(),
            path: self.config.ledger_path.clone(),
            token: self.var("GITHUB_TOKEN").map(Token::new),
        }
    }

    pub fn run_url(&self) -> Option<String> {
        let (server, repo, run) = (
            self.var("GITHUB_SERVER_URL")?,
            self.var("GITHUB_REPOSITORY")?,
            self.var("GITHUB_RUN_ID")?,
        );
        Some(format!("{server}/{repo}/actions/runs/{run}"))
    }

    /// The Azure client of the workflow's identity (call inside the runtime).
    pub fn azure_client(&self) -> Result<AzureClient, String> {
        let credential =
            Credential::from_env(&self.env, &self.config.tenant_id, &self.config.cloud)
                .map_err(|e| e.to_string())?;
        AzureClient::new(
            &self.config.tenant_id,
            self.config.cloud.clone(),
            credential,
            retry_policy(),
        )
        .map_err(|e| e.to_string())
    }

    /// The request files on the checked-out default branch, split into valid and invalid.
    /// Time is left out of validation: whether a window ended in time is the planner's call.
    pub fn requests(&self) -> Result<(Vec<Desired>, Vec<Invalid>), String> {
        let dir = self.repo_dir.join("requests");
        if !dir.exists() {
            return Ok((Vec::new(), Vec::new()));
        }
        let history = kv_jit_effects::git::request_history(&self.repo_dir)?;
        let files = collect(&[PathBuf::from("requests")])?;
        let validation = check_files(&files, &self.config, None);
        let (desired, invalid) = split_checked(&files, validation, &history.last_change);
        Ok((desired, invalid))
    }
}

/// The Azure retry policy of the shell: the default, with a line on stderr before each retry.
pub fn retry_policy() -> RetryPolicy {
    let policy = RetryPolicy {
        request_timeout: kv_jit_effects::testing::http_timeout(Duration::from_secs(30)),
        ..RetryPolicy::default()
    };
    policy
        .with_clock(kv_jit_effects::testing::retry_clock())
        .with_retry_notices(std::sync::Arc::new(|m: &str| {
            output::stderr(&format!("{m}\n"))
        }))
}

/// A fatal error of an engine command: `code` is the error document's code (see
/// [`output::Fatal`]), `exit` its exit code.
pub fn fail(code: &'static str, msg: &str, exit: Exit) -> Exit {
    output::fatal(output::Fatal {
        exit,
        ..output::Fatal::usage(code, msg)
    })
}
