//! `kv-jit validate`: every request file under the given paths, every problem, one exit code.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::Exit;
use crate::cli::ValidateArgs;
use crate::output::{self, Fatal};
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Code, Diagnostic, Format, Severity, render};
use kv_jit_core::request::Request;

use super::files::{check_files, collect};

pub fn run(
    args: &ValidateArgs,
    config_path: &Path,
    now: DateTime<Utc>,
    format: Format,
    annotate: bool,
) -> Exit {
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    // PR mode never uses the checkout's config (the pull request's edits): it reads the default
    // branch's.
    if let Some(number) = super::pr::pr_number(args.pr, &env) {
        let online = (!args.offline).then_some(&env);
        return super::pr::run(number, config_path, now, format, annotate, &env, online);
    }
    let config = match super::load_config(config_path, format, annotate) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let files = match collect(&args.paths) {
        Ok(f) => f,
        Err(m) => return output::fatal(Fatal::usage("requests-unreadable", m)),
    };
    let mut result = check_files(&files, &config, Some(now));
    if !args.offline && !result.requests.is_empty() {
        match online_checks(&result.requests, &config, &env) {
            Ok(mut diags) => {
                result.diagnostics.append(&mut diags);
                result
                    .diagnostics
                    .sort_by(|a, b| (a.file.as_str(), a.pos()).cmp(&(b.file.as_str(), b.pos())));
            }
            Err(m) => {
                // The policy's findings still show (in JSON mode inside the error document).
                if format != Format::Json {
                    output::stdout(&render(&result.diagnostics, format, annotate));
                }
                return output::fatal(
                    Fatal::usage(
                        m.code,
                        format!(
                            "the online check (secret exists, vault uses RBAC) cannot run: {}",
                            m.message
                        ),
                    )
                    .help(m.help)
                    .diagnostics(result.diagnostics),
                );
            }
        }
    }
    output::stdout(&render(&result.diagnostics, format, annotate));
    let errors = result
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let bad_files = {
        let mut f: Vec<&str> = result.diagnostics.iter().map(|d| d.file.as_str()).collect();
        f.dedup();
        f.len()
    };
    if format != Format::Json {
        let summary = if errors == 0 {
            format!("validated {} request file(s): all valid\n", files.len())
        } else {
            format!(
                "validated {} request file(s): {errors} error(s) in {bad_files} file(s)\n",
                files.len()
            )
        };
        output::stderr(&summary);
    }
    if result.has_errors() {
        Exit::Problems
    } else {
        Exit::Ok
    }
}

/// Why the online check could not run at all, with the error document's code and what to do.
#[derive(Debug)]
pub(super) struct OnlineFailure {
    pub code: &'static str,
    pub message: String,
    pub help: &'static str,
}

impl std::fmt::Display for OnlineFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<kv_jit_effects::azure::AzureError> for OnlineFailure {
    fn from(e: kv_jit_effects::azure::AzureError) -> Self {
        use kv_jit_effects::azure::AzureError;
        let (code, help) = match &e {
            AzureError::Credential(_) => (
                "azure-credential",
                "sign in to Azure (see README: credentials) or pass --offline to check the policy only",
            ),
            AzureError::EndpointNotAllowed(_) => (
                "azure-endpoint-not-allowed",
                "list the config's explicit endpoints in KV_JIT_ALLOWED_ENDPOINTS, or use a named cloud",
            ),
            _ => (
                "azure-unavailable",
                "try again later, or pass --offline to check the policy only",
            ),
        };
        OnlineFailure {
            code,
            message: e.to_string(),
            help,
        }
    }
}

/// Confirms through the management plane that each request's vault uses RBAC and its secret
/// exists. Metadata only: the secret resource ARM returns never carries the value. Each distinct
/// (vault, secret) is asked once. `Err` when Azure cannot be reached at all.
pub(super) async fn online_diagnostics(
    requests: &[Request],
    config: &Config,
    env: &std::collections::HashMap<String, String>,
) -> Result<Vec<Diagnostic>, OnlineFailure> {
    use kv_jit_effects::azure::{Azure, AzureClient, Credential, SecretStatus, VaultRef};

    let credential = Credential::from_env(env, &config.tenant_id, &config.cloud)?;
    let azure = AzureClient::new(
        &config.tenant_id,
        config.cloud.clone(),
        credential,
        super::context::retry_policy(),
    )?;
    let mut answers: BTreeMap<(String, String), Result<SecretStatus, String>> = BTreeMap::new();
    let mut out = Vec::new();
    for r in requests {
        let policy = &config.vaults[&r.vault];
        let key = (r.vault.to_string(), r.secret.to_string());
        if !answers.contains_key(&key) {
            let vault = VaultRef::new(
                &policy.subscription_id,
                &policy.resource_group,
                r.vault.clone(),
            )
            .map_err(|m| OnlineFailure {
                code: "config-invalid",
                message: m,
                help: "fix the vault's subscription_id and resource_group in the config",
            })?;
            let answer = match azure.check_secret(&vault, &r.secret).await {
                // No credential works at all: nothing can be checked, so say so once.
                Err(e @ kv_jit_effects::azure::AzureError::Credential(_)) => {
                    return Err(e.into());
                }
                other => other.map_err(|e| e.to_string()),
            };
            answers.insert(key.clone(), answer);
        }
        let status = &answers[&key];
        let cfg = config.path.as_str();
        match status {
            Ok(SecretStatus::Exists) => {}
            Ok(SecretStatus::SecretMissing) => out.push(
                Diagnostic::error(Code::SecretNotFound, &r.path, r.secret_pos, format!("vault `{}` has no secret `{}`", r.vault, r.secret))
                    .help("check the name (secret names are case-insensitive in Key Vault but must exist); ask the vault's owners to create it"),
            ),
            Ok(SecretStatus::VaultMissing) => out.push(
                Diagnostic::error(Code::AzureCheckFailed, &r.path, r.vault_pos, format!("vault `{}` was not found in subscription {} resource group {}", r.vault, policy.subscription_id, policy.resource_group))
                    .note(cfg, policy.pos, "the vault is configured here"),
            ),
            Ok(SecretStatus::VaultNotRbac) => out.push(
                Diagnostic::error(Code::VaultNotRbac, &r.path, r.vault_pos, format!("vault `{}` uses access policies, not Azure RBAC, so a role assignment would grant nothing", r.vault))
                    .help("switch the vault to the Azure RBAC permission model (enableRbacAuthorization)")
                    .note(cfg, policy.pos, "the vault is configured here"),
            ),
            Err(m) => out.push(Diagnostic::error(Code::AzureCheckFailed, &r.path, r.secret_pos, format!("could not confirm the secret exists: {m}"))),
        }
    }
    Ok(out)
}

/// [`online_diagnostics`] from synchronous code.
fn online_checks(
    requests: &[Request],
    config: &Config,
    env: &std::collections::HashMap<String, String>,
) -> Result<Vec<Diagnostic>, OnlineFailure> {
    super::runtime().block_on(online_diagnostics(requests, config, env))
}
