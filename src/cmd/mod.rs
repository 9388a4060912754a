//! One module per subcommand: the imperative shell around the pure checks.

pub mod audit;
pub mod context;
pub mod files;
pub mod from_issue;
pub mod grant;
pub mod new;
pub mod plan;
pub mod pr;
pub mod report;
pub mod schema;
pub mod status;
pub mod validate;

use std::path::Path;

use crate::Exit;
use crate::output;
use kv_jit_core::config::Config;
use kv_jit_core::diag::{Format, Sink, render};

/// Loads the config; on any problem prints located diagnostics and returns the usage exit code.
pub fn load_config(path: &Path, format: Format, annotate: bool) -> Result<Config, Exit> {
    let shown = path.to_string_lossy().replace('\\', "/");
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            output::stderr(&format!(
                "error: config file `{shown}` not found\n  help: run kv-jit from the repository root, or pass --config FILE\n"
            ));
            return Err(Exit::Usage);
        }
        Err(e) => {
            output::stderr(&format!("error: cannot read config file `{shown}`: {e}\n"));
            return Err(Exit::Usage);
        }
    };
    let mut sink = Sink::new(shown.clone());
    match kv_jit_core::config::parse(&bytes, &mut sink) {
        Some(cfg) => Ok(cfg),
        None => {
            output::stdout(&render(&sink.diags, format, annotate));
            output::stderr(&format!(
                "error: the config file `{shown}` is invalid ({} problems)\n",
                sink.diags.len()
            ));
            Err(Exit::Usage)
        }
    }
}

/// `kv-jit emulator`: serves until Ctrl-C. Refuses non-loopback addresses: the emulator accepts
/// any credentials it is seeded with and must never be reachable from another machine.
pub fn emulator(args: &crate::cli::EmulatorArgs, now: chrono::DateTime<chrono::Utc>) -> Exit {
    if !args.listen.ip().is_loopback() {
        output::stderr(&format!(
            "error: --listen {} is not a loopback address; the emulator only listens on 127.0.0.1 or ::1\n",
            args.listen
        ));
        return Exit::Usage;
    }
    match runtime().block_on(kv_jit_emulator::run(args.listen, &args.seed, now)) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            output::stderr(&format!("error: {e}\n"));
            Exit::Usage
        }
    }
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
