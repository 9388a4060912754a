//! kv-jit's shell: the command line. Each command module reads its inputs, wires the core
//! (`kv_jit_core`), the engine (`kv_jit_engine`) and the effects (`kv_jit_effects`) together,
//! and renders through [`output`]. The rules live in those crates, not here.

pub mod cli;
pub mod cmd;
pub mod output;

use std::process::ExitCode;

use clap::Parser;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// All good.
    Ok = 0,
    /// The work found problems: invalid requests, failed grants or revokes, a tampered ledger.
    Problems = 1,
    /// Usage or configuration error.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Runs the CLI with the process's arguments and environment.
pub fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::Usage as u8 } else { 0 });
        }
    };
    // `--now`, else the wall clock: read through the one `Clock` that reads it.
    let now = cli
        .now
        .unwrap_or_else(|| kv_jit_effects::clock::Clock::now(&kv_jit_effects::clock::SystemClock));
    let format: kv_jit_core::diag::Format = cli.format.into();
    let annotate = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let exit = match &cli.command {
        cli::Command::Validate(args) => {
            cmd::validate::run(args, &cli.config, now, format, annotate)
        }
        cli::Command::New(args) => cmd::new::run(args, &cli.config, now, format, annotate),
        cli::Command::Emulator(args) => cmd::emulator(args, now),
        cli::Command::Demo(args) => cmd::demo::run(args, cli.now),
        cli::Command::Plan(a) => cmd::plan::plan_cmd(&cli.config, now, format, &a.remote),
        cli::Command::Grant(a) => cmd::grant::grant_cmd(a, &cli.config, now, format),
        cli::Command::Revoke(a) => cmd::grant::revoke_cmd(a, &cli.config, now, format),
        cli::Command::Status(a) => cmd::status::status_cmd(&cli.config, now, format, &a.remote),
        cli::Command::Audit(cli::AuditCommand::Verify { path }) => {
            cmd::audit::audit_verify_cmd(path.as_deref(), &cli.config, format)
        }
        cli::Command::Schema => {
            output::stdout(&cmd::schema::request_schema());
            Exit::Ok
        }
    };
    exit.into()
}
