//! kv-jit's shell: the command line. Each command module reads its inputs, wires the core
//! (`kv_jit_core`), the engine (`kv_jit_engine`) and the effects (`kv_jit_effects`) together,
//! and renders through [`output`]. The rules live in those crates, not here.

#[cfg(test)]
mod build_commit;
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
    let annotate = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(&e, annotate).into(),
    };
    output::init(
        cli.format == cli::FormatArg::Json,
        annotate || cli.format == cli::FormatArg::Github,
    );
    // `--now`, else the wall clock: read through the one `Clock` that reads it.
    let now = cli
        .now
        .unwrap_or_else(|| kv_jit_effects::clock::Clock::now(&kv_jit_effects::clock::SystemClock));
    let format: kv_jit_core::diag::Format = cli.format.into();
    if matches!(cli.format, cli::FormatArg::Md | cli::FormatArg::Html)
        && !matches!(cli.command, cli::Command::Report(_))
    {
        let f = output::Fatal::usage(
            "invalid-argument",
            "--format md and --format html are for `kv-jit report` only",
        )
        .help("use --format text, json or github");
        return output::finish(output::fatal(f)).into();
    }
    let exit = match &cli.command {
        cli::Command::Validate(args) => {
            cmd::validate::run(args, &cli.config, now, format, annotate)
        }
        cli::Command::New(args) => cmd::new::run(args, &cli.config, now, format, annotate),
        cli::Command::Emulator(args) => cmd::emulator(args, now),
        cli::Command::Demo(args) => cmd::demo::run(args, cli.now),
        cli::Command::Report(a) => cmd::audit_report::run(a, &cli.config, now, cli.format),
        cli::Command::Plan(a) => cmd::plan::plan_cmd(&cli.config, now, format, &a.remote),
        cli::Command::Grant(a) => cmd::grant::grant_cmd(a, &cli.config, now, format),
        cli::Command::Revoke(a) => cmd::grant::revoke_cmd(a, &cli.config, now, format),
        cli::Command::Status(a) => cmd::status::status_cmd(&cli.config, now, format, &a.remote),
        cli::Command::Audit(cli::AuditCommand::Verify { path }) => {
            cmd::audit::audit_verify_cmd(path.as_deref(), &cli.config, format)
        }
        cli::Command::Audit(cli::AuditCommand::CheckAzure(a)) => {
            cmd::audit::check_azure_cmd(a, &cli.config, now, format)
        }
        cli::Command::Completions { shell } => {
            output::stdout(&cmd::completions(*shell));
            Exit::Ok
        }
        cli::Command::Init(a) => cmd::init::run(a),
        cli::Command::Doctor(a) => cmd::doctor::run(a, &cli.config, format),
        cli::Command::Schema => {
            output::stdout(&cmd::schema::request_schema());
            Exit::Ok
        }
    };
    output::finish(exit).into()
}

/// A command line clap refused. Help and `--version` go to stdout (exit 0) as clap prints them;
/// a usage error is a [`output::Fatal`], so `--format json` (which clap could not parse yet, so
/// it is looked for in the raw arguments) still gets its one JSON document.
fn usage_error(e: &clap::Error, annotate: bool) -> Exit {
    if !e.use_stderr() {
        let _ = e.print();
        return Exit::Ok;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format_is = |f: &str| {
        args.windows(2).any(|w| w[0] == "--format" && w[1] == f)
            || args.iter().any(|a| *a == format!("--format={f}"))
    };
    output::init(format_is("json"), annotate || format_is("github"));
    use clap::error::ErrorKind;
    let code = match e.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => "invalid-argument",
        _ => "usage",
    };
    // clap's own rendering, without its `error: ` prefix and styling, on one line per part.
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
    let message = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_owned();
    let rest: Vec<&str> = lines.map(str::trim).collect();
    let help = if rest.is_empty() {
        "run kv-jit --help".to_owned()
    } else {
        rest.join("; ")
    };
    // People get clap's whole message (with the usage line); scripts the document.
    let _ = e.print();
    output::record(output::Fatal::usage(code, message).help(help));
    output::finish(Exit::Usage)
}
