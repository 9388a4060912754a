//! One module per subcommand: the imperative shell around the pure checks.

pub mod audit;
pub mod audit_report;
pub mod check_azure;
pub mod context;
pub mod demo;
pub mod doctor;
pub mod files;
pub mod from_issue;
pub mod grant;
pub mod init;
pub mod new;
pub mod plan;
pub mod pr;
pub mod report;
pub mod schema;
pub mod status;
pub mod validate;

use std::path::Path;

use crate::Exit;
use crate::output::{self, Fatal};
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Format, Sink, render};

/// Loads the config; on any problem reports a fatal error (with the located diagnostics) and
/// returns the usage exit code.
pub fn load_config(path: &Path, format: Format, annotate: bool) -> Result<Config, Exit> {
    let shown = path.to_string_lossy().replace('\\', "/");
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(output::fatal(
                Fatal::usage(
                    "config-not-found",
                    format!("config file `{shown}` not found"),
                )
                .help("run kv-jit from the repository root, or pass --config FILE"),
            ));
        }
        Err(e) => {
            return Err(output::fatal(Fatal::usage(
                "config-unreadable",
                format!("cannot read config file `{shown}`: {e}"),
            )));
        }
    };
    let mut sink = Sink::new(shown.clone());
    match kv_jit_core::config::parse(&bytes, &mut sink) {
        Some(cfg) => Ok(cfg),
        None => {
            // In JSON mode the diagnostics travel inside the error document.
            if format != Format::Json {
                output::stdout(&render(&sink.diags, format, annotate));
            }
            Err(output::fatal(
                Fatal::usage(
                    "config-invalid",
                    format!(
                        "the config file `{shown}` is invalid ({} problems)",
                        sink.diags.len()
                    ),
                )
                .help("fix the problems listed with it")
                .diagnostics(sink.diags),
            ))
        }
    }
}

/// `kv-jit emulator`: serves until Ctrl-C. Refuses non-loopback addresses: the emulator accepts
/// any credentials it is seeded with and must never be reachable from another machine.
pub fn emulator(args: &crate::cli::EmulatorArgs, now: chrono::DateTime<chrono::Utc>) -> Exit {
    if !args.listen.ip().is_loopback() {
        return output::fatal(Fatal::usage(
            "usage",
            format!(
                "--listen {} is not a loopback address; the emulator only listens on 127.0.0.1 or ::1",
                args.listen
            ),
        ));
    }
    match runtime().block_on(kv_jit_emulator::run(args.listen, &args.seed, now)) {
        Ok(()) => Exit::Ok,
        Err(e) => output::fatal(Fatal::usage("emulator", e.to_string())),
    }
}

/// `kv-jit completions SHELL`: the completion script clap derives from [`crate::cli::Cli`].
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kv-jit", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The one async runtime of a kv-jit process (each process runs one command): two worker
/// threads, enough for bounded-concurrency HTTP.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
