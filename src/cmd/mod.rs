//! One module per subcommand: the imperative shell around the pure checks.

pub mod new;
pub mod pr;
pub mod schema;
pub mod validate;

use std::path::Path;

use crate::Exit;
use crate::config::Config;
use crate::diag::{Format, Sink, render};
use crate::output;

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
    match crate::config::parse(&bytes, &mut sink) {
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
