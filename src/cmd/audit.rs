//! `kv-jit audit verify`: the whole hash chain of a ledger file; `kv-jit audit check-azure`
//! lives in [`super::check_azure`].

use std::path::{Path, PathBuf};

use kv_jit_core::diag::Format;
use kv_jit_core::ledger;

use crate::Exit;
use crate::output::{self, Fatal};

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
            let code = if source.kind() == std::io::ErrorKind::NotFound {
                "ledger-not-found"
            } else {
                "ledger-unreadable"
            };
            output::fatal(
                Fatal::usage(code, format!("cannot read {}: {source}", path.display())).help(help),
            )
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

/// `kv-jit audit check-azure`: see [`super::check_azure`].
pub fn check_azure_cmd(
    args: &crate::cli::CheckAzureArgs,
    config_path: &Path,
    now: chrono::DateTime<chrono::Utc>,
    format: Format,
) -> Exit {
    super::check_azure::run(args, config_path, now, format)
}
