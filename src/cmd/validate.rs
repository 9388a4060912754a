//! `kv-jit validate`: every request file under the given paths, every problem, one exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::Exit;
use crate::cli::ValidateArgs;
use crate::output;
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Code, DiagExt, Diagnostic, Format, Pos, Severity, Sink, render};
use kv_jit_core::request::{Request, RequestId, parse_raw};

/// A request file read from disk (or from git), ready for the pure checks.
#[derive(Debug, Clone)]
pub struct RequestFile {
    /// The path as shown in diagnostics, with `/` separators.
    pub path: String,
    /// The request id derived from the path, or why the path makes no valid id.
    pub id: Result<RequestId, String>,
    /// The file's content, or why it could not be read.
    pub bytes: Result<Vec<u8>, ReadProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadProblem {
    /// Over the size cap: refused without being read.
    TooLarge(u64),
    Other(String),
}

/// The outcome of validating a set of files: the valid requests and every diagnostic.
#[derive(Debug, Default)]
pub struct Validation {
    pub requests: Vec<Request>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The pure part: parse and check every file against the config as of `now` (see
/// [`kv_jit_core::policy::check`] for what an absent `now` leaves out).
pub fn check_files(
    files: &[RequestFile],
    config: &Config,
    now: Option<DateTime<Utc>>,
) -> Validation {
    let mut out = Validation::default();
    let mut first_path_of: BTreeMap<RequestId, &str> = BTreeMap::new();
    for file in files {
        let mut sink = Sink::new(file.path.clone());
        let id = match &file.id {
            Ok(id) => {
                if let Some(first) = first_path_of.get(id) {
                    sink.error(
                        Code::DuplicateRequestId,
                        Pos::START,
                        format!("request id `{id}` is also used by {first}"),
                    )
                    .with_help(
                        "ids are paths below requests/ without the extension: rename one file",
                    )
                    .with_note(first, Pos::START, "first used here");
                } else {
                    first_path_of.insert(id.clone(), &file.path);
                }
                Some(id.clone())
            }
            Err(m) => {
                sink.error(Code::InvalidRequestId, Pos::START, m.clone())
                    .with_help("rename the file");
                None
            }
        };
        match &file.bytes {
            Err(ReadProblem::TooLarge(n)) => {
                sink.error(
                    Code::FileTooLarge,
                    Pos::START,
                    format!(
                        "the file is {n} bytes; the limit is {} bytes (64 KiB)",
                        kv_jit_core::yaml::MAX_FILE_BYTES
                    ),
                )
                .with_help("a request file is a few lines; trim it");
            }
            Err(ReadProblem::Other(m)) => {
                sink.error(Code::ReadError, Pos::START, m.clone());
            }
            Ok(bytes) => {
                if let Some(raw) = parse_raw(bytes, &mut sink)
                    && let Some(req) = kv_jit_core::policy::check(&raw, id, config, now, &mut sink)
                {
                    out.requests.push(req);
                }
            }
        }
        // Reading order: a file's problems from top to bottom.
        sink.diags.sort_by_key(Diagnostic::pos);
        out.diagnostics.append(&mut sink.diags);
    }
    out
}

/// The request id of `path`: the path below `requests/` without the extension. `root` is what
/// was walked: when it is the `requests` folder the id is relative to it; otherwise the first
/// `requests` folder in the path counts (so `requests/team/requests/x.yaml` is
/// `team/requests/x`), else the path relative to `root`.
pub fn request_id(path: &Path, root: &Path) -> Result<RequestId, String> {
    let no_ext = path.with_extension("");
    let names = |p: &Path| -> Vec<String> {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    let rel: Vec<String> =
        if root.file_name().is_some_and(|n| n == "requests") && no_ext.starts_with(root) {
            names(no_ext.strip_prefix(root).expect("checked"))
        } else {
            let parts = names(&no_ext);
            match parts.iter().position(|p| p == "requests") {
                Some(i) if i + 1 < parts.len() => parts[i + 1..].to_vec(),
                _ => {
                    let base = if root.is_dir() {
                        root
                    } else {
                        root.parent().unwrap_or(Path::new(""))
                    };
                    names(no_ext.strip_prefix(base).unwrap_or(&no_ext))
                }
            }
        };
    RequestId::parse(&rel.join("/"))
}

/// Finds request files under `paths`: files as given, folders recursively (`.yaml`, `.yml`).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<RequestFile>, String> {
    let mut files = Vec::new();
    for root in paths {
        let meta = std::fs::symlink_metadata(root).map_err(|e| format!("{}: {e}", show(root)))?;
        if meta.is_dir() {
            walk(root, root, &mut files).map_err(|e| format!("{}: {e}", show(root)))?;
        } else {
            files.push(read(root, root));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<RequestFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let ty = entry.file_type()?;
        let is_request = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if ty.is_dir() {
            walk(&path, root, out)?;
        } else if is_request {
            // A symlink could point a reviewer at one file and kv-jit at another: refused.
            if ty.is_symlink() {
                out.push(RequestFile {
                    path: show(&path),
                    id: request_id(&path, root),
                    bytes: Err(ReadProblem::Other(
                        "request files must be regular files, not symlinks".into(),
                    )),
                });
            } else {
                out.push(read(&path, root));
            }
        }
    }
    Ok(())
}

fn read(path: &Path, root: &Path) -> RequestFile {
    let bytes = read_capped(path);
    RequestFile {
        path: show(path),
        id: request_id(path, root),
        bytes,
    }
}

/// Reads at most one byte past the cap, so a huge file is refused without loading it.
fn read_capped(path: &Path) -> Result<Vec<u8>, ReadProblem> {
    use std::io::Read;
    let other = |e: std::io::Error| ReadProblem::Other(format!("cannot read the file: {e}"));
    let meta = std::fs::symlink_metadata(path).map_err(other)?;
    if meta.file_type().is_symlink() {
        return Err(ReadProblem::Other(
            "request files must be regular files, not symlinks".into(),
        ));
    }
    let f = std::fs::File::open(path).map_err(other)?;
    let mut buf = Vec::new();
    f.take(kv_jit_core::yaml::MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(other)?;
    if buf.len() > kv_jit_core::yaml::MAX_FILE_BYTES {
        return Err(ReadProblem::TooLarge(meta.len().max(buf.len() as u64)));
    }
    Ok(buf)
}

fn show(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

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
        Err(m) => {
            output::stderr(&format!("error: {m}\n"));
            return Exit::Usage;
        }
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
                output::stdout(&render(&result.diagnostics, format, annotate));
                output::stderr(&format!(
                    "error: the online check (secret exists, vault uses RBAC) cannot run: {m}\n  help: sign in to Azure (see README: credentials) or pass --offline to check the policy only\n"
                ));
                return Exit::Usage;
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

/// Confirms through the management plane that each request's vault uses RBAC and its secret
/// exists. Metadata only: the secret resource ARM returns never carries the value. Each distinct
/// (vault, secret) is asked once. `Err` when Azure cannot be reached at all.
pub(super) async fn online_diagnostics(
    requests: &[Request],
    config: &Config,
    env: &std::collections::HashMap<String, String>,
) -> Result<Vec<Diagnostic>, String> {
    use kv_jit_effects::azure::{
        Azure, AzureClient, Credential, RetryPolicy, SecretStatus, VaultRef,
    };

    let credential =
        Credential::from_env(env, &config.tenant_id, &config.cloud).map_err(|e| e.to_string())?;
    let azure = AzureClient::new(
        &config.tenant_id,
        config.cloud.clone(),
        credential,
        RetryPolicy::default(),
    )
    .map_err(|e| e.to_string())?;
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
            )?;
            let answer = match azure.check_secret(&vault, &r.secret).await {
                // No credential works at all: nothing can be checked, so say so once.
                Err(e @ kv_jit_effects::azure::AzureError::Credential(_)) => {
                    return Err(e.to_string());
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
) -> Result<Vec<Diagnostic>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(online_diagnostics(requests, config, env))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_path_below_requests() {
        let id =
            |p: &str, root: &str| request_id(Path::new(p), Path::new(root)).map(|i| i.to_string());
        assert_eq!(id("requests/2026/a.yaml", "requests"), Ok("2026/a".into()));
        assert_eq!(
            id("requests/team/requests/x.yaml", "requests"),
            Ok("team/requests/x".into())
        );
        assert_eq!(
            id(
                "requests/team/requests/x.yaml",
                "requests/team/requests/x.yaml"
            ),
            Ok("team/requests/x".into())
        );
        assert_eq!(id("repo/requests/a.yml", "repo"), Ok("a".into()));
        assert!(id("requests/.hidden.yaml", "requests").is_err());
    }
}
