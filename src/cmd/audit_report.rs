//! `kv-jit report`: who could read which secret, when, approved by whom, how it ended, from
//! the ledger alone (offline). The model and the three forms are `kv_jit_core::report`'s; this
//! module reads the ledger file, picks the form and writes it.
//!
//! The form follows the global `--format`: `text` (the default), `md` and `github` print
//! Markdown (it reads as text on a terminal and is what a GitHub job summary takes), `html`
//! one self-contained page, `json` the documented document (`schema/report.schema.json`).
//! `--format` stays global so `--format json` means the same on every command.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;

use kv_jit_core::diag::Format;
use kv_jit_core::names::VaultName;
use kv_jit_core::report;

use crate::Exit;
use crate::cli::FormatArg;
use crate::output::{self, Fatal};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only what touches this instant or later: RFC 3339, or a date (2026-11-01 = midnight UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Only what touches this instant or earlier: RFC 3339, or a date (midnight UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub until: Option<DateTime<Utc>>,
    /// Only grants and refusals in this vault.
    #[arg(long, value_name = "VAULT")]
    pub vault: Option<String>,
    /// Write the report to FILE (replaced whole) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The ledger file (default: the config's ledger path).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Print the JSON Schema of `--format json`'s document (schema/report.schema.json) and exit.
    #[arg(long, exclusive = true)]
    pub schema: bool,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    report::parse_instant(s)
}

/// The form a `--format` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Markdown,
    Html,
    Json,
}

impl Form {
    pub fn of(f: FormatArg) -> Form {
        match f {
            FormatArg::Text | FormatArg::Github | FormatArg::Md => Form::Markdown,
            FormatArg::Html => Form::Html,
            FormatArg::Json => Form::Json,
        }
    }
}

/// Renders the report of `ledger` in `form`, and whether its chain is intact. `Err` is a
/// fatal error already reported.
pub fn render_file(
    ledger: &Path,
    form: Form,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    vault: Option<String>,
    now: DateTime<Utc>,
) -> Result<(String, report::Report), Exit> {
    let name = ledger.display().to_string();
    let bytes = match std::fs::read(ledger) {
        Ok(b) => b,
        Err(e) => {
            let (code, help) = if e.kind() == std::io::ErrorKind::NotFound {
                (
                    "ledger-not-found",
                    "no ledger there yet (nothing was granted), or it lives on another branch: pass --ledger FILE or check out the ledger branch",
                )
            } else {
                (
                    "ledger-unreadable",
                    "pass the ledger file with --ledger FILE",
                )
            };
            return Err(output::fatal(
                Fatal::usage(code, format!("cannot read {name}: {e}")).help(help),
            ));
        }
    };
    let verified = report::verified_prefix(&name, &bytes, kv_jit_effects::ledger::parse_ledger);
    // The entries are parsed: the file's bytes are no longer needed while the report is built.
    drop(bytes);
    let scope = report::Scope {
        ledger: name,
        since,
        until,
        vault,
        as_of: now,
    };
    let r = report::build(&verified, &scope);
    let text = match form {
        Form::Markdown => report::markdown::render(&r),
        Form::Html => report::html::render(&r),
        Form::Json => report::json(&r),
    };
    Ok((text, r))
}

pub fn run(args: &ReportArgs, config_path: &Path, now: DateTime<Utc>, format: FormatArg) -> Exit {
    let diag_format: Format = format.into();
    if args.schema {
        output::stdout(&report::json_schema());
        return Exit::Ok;
    }
    if let Err(e) = report::check_range(args.since, args.until) {
        return output::fatal(Fatal::usage("invalid-range", e).help("give --since before --until"));
    }
    if let Some(v) = &args.vault
        && let Err(e) = VaultName::parse(v)
    {
        return output::fatal(Fatal::usage("invalid-argument", format!("--vault: {e}")));
    }
    let ledger = match &args.ledger {
        Some(p) => p.clone(),
        None => match super::load_config(config_path, diag_format, false) {
            Ok(c) => PathBuf::from(c.ledger_path),
            Err(e) => return e,
        },
    };
    let form = Form::of(format);
    let (text, r) = match render_file(
        &ledger,
        form,
        args.since,
        args.until,
        args.vault.clone(),
        now,
    ) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Some(out) = &args.out {
        if let Err(e) = write_whole(out, text.as_bytes()) {
            return output::fatal(Fatal::usage(
                "report-not-written",
                format!("cannot write {}: {e}", out.display()),
            ));
        }
        if form == Form::Json || format == FormatArg::Json {
            output::stdout(
                &(serde_json::json!({
                    "out": out.display().to_string(),
                    "grants": r.totals.grants,
                    "chain_break": r.chain_break,
                })
                .to_string()
                    + "\n"),
            );
        } else {
            output::stdout(&format!(
                "report written to {} ({} grants)\n",
                out.display(),
                r.totals.grants
            ));
        }
    } else {
        output::stdout(&text);
    }
    match &r.chain_break {
        Some(b) => {
            output::stderr(&format!(
                "error: the ledger's chain breaks at line {}: {}; the report covers only the {} entries before it\n",
                b.line, b.problem, r.entries
            ));
            Exit::Problems
        }
        None => Exit::Ok,
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, so a reader never sees half
/// a report.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
