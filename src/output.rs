//! The only place that writes to stdout and stderr. A closed pipe (`kv-jit ... | head`) is not
//! an error: the reader has what it wanted.
//!
//! It also owns the one shape of a fatal error ([`Fatal`]): whatever stops a command (a bad
//! flag, a missing or invalid config, no credentials, an unreadable ledger) is reported through
//! [`fatal`], which prints it the way the process was asked to print:
//!
//! - always `error: MESSAGE` and `  help: HELP` on stderr, for the person reading the log;
//! - with `--format json`, stdout carries exactly one JSON document: the command's report, or,
//!   when a fatal error stopped it, only the error document
//!   `{"error": {"code": …, "message": …, "help": …}, "exit": N}` (plus `diagnostics` when a
//!   file's problems are the cause); anything the command had printed to stdout before is
//!   dropped, so a script never sees half a report followed by an error;
//! - under `GITHUB_ACTIONS=true` (or `--format github`), also a `::error title=kv-jit::MESSAGE`
//!   workflow command, escaped as GitHub requires (on stdout next to the diagnostics'
//!   annotations, on stderr in JSON mode, which the runner reads too).
//!
//! [`init`] sets the mode once per process; [`finish`] flushes the JSON document.

use std::io::Write;
use std::sync::Mutex;

use kv_jit_core::diag::{Diagnostic, escape_data, escape_property};
use serde::Serialize;

use crate::Exit;

/// How this process prints, set once by [`init`].
struct Mode {
    json: bool,
    annotate: bool,
    /// In JSON mode, stdout is held here until [`finish`], so a fatal error can replace it.
    held: Vec<u8>,
    fatal: Option<Fatal>,
}

static MODE: Mutex<Mode> = Mutex::new(Mode {
    json: false,
    annotate: false,
    held: Vec::new(),
    fatal: None,
});

fn mode() -> std::sync::MutexGuard<'static, Mode> {
    MODE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets how this process prints: `json` holds stdout for one document; `annotate` adds
/// `::error` workflow commands to fatal errors.
pub fn init(json: bool, annotate: bool) {
    let mut m = mode();
    m.json = json;
    m.annotate = annotate;
}

#[allow(clippy::disallowed_macros)]
pub fn stdout(s: &str) {
    {
        let mut m = mode();
        if m.json {
            m.held.extend_from_slice(s.as_bytes());
            return;
        }
    }
    write_stdout(s);
}

fn write_stdout(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

pub fn stderr(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// A fatal error: what stopped the command, with a stable `code` scripts can match on.
///
/// Codes: `usage` (flags), `invalid-argument` (a flag's value, e.g. `--now`),
/// `config-not-found`, `config-unreadable`, `config-invalid`, `azure-credential` (no usable
/// Azure credential, or Entra refused it), `azure-endpoint-not-allowed`, `azure-unavailable`,
/// `github-credential`, `requests-unreadable`, `ledger-unreadable`, `ledger-not-found`,
/// `request-invalid` and `file-exists` (`new`), `write-failed`, `default-branch-config` (the PR
/// check cannot read the default branch's config), `emulator`, `run-stopped` (a grant or revoke run that could not start its work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fatal {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The problems in a file that caused it (an invalid config, a request `new` would write).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    #[serde(skip)]
    pub exit: Exit,
}

impl Fatal {
    /// A usage or configuration error (exit 2).
    pub fn usage(code: &'static str, message: impl Into<String>) -> Self {
        Fatal {
            code,
            message: message.into(),
            help: None,
            diagnostics: Vec::new(),
            exit: Exit::Usage,
        }
    }

    /// A fatal error that is the work's problem (exit 1), e.g. a ledger that cannot be read.
    pub fn problem(code: &'static str, message: impl Into<String>) -> Self {
        Fatal {
            exit: Exit::Problems,
            ..Fatal::usage(code, message)
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn diagnostics(mut self, diags: Vec<Diagnostic>) -> Self {
        self.diagnostics = diags;
        self
    }

    /// The JSON error document.
    pub fn document(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            error: &'a Fatal,
            exit: u8,
        }
        serde_json::to_string_pretty(&Doc {
            error: self,
            exit: self.exit as u8,
        })
        .expect("the error document serializes")
            + "\n"
    }

    /// The text form: `error: …` and `  help: …`, each on one line.
    pub fn text(&self) -> String {
        let mut s = format!("error: {}\n", one_line(&self.message));
        if let Some(h) = &self.help {
            s.push_str(&format!("  help: {}\n", one_line(h)));
        }
        s
    }

    /// The GitHub workflow command: `::error title=kv-jit::MESSAGE` (help on its own line).
    pub fn annotation(&self) -> String {
        let mut message = self.message.clone();
        if let Some(h) = &self.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        format!(
            "::error title={}::{}\n",
            escape_property("kv-jit"),
            escape_data(&message)
        )
    }
}

fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// Reports a fatal error the way this process prints (see the module docs) and returns its
/// exit code. The first fatal error is the one the JSON document carries.
pub fn fatal(f: Fatal) -> Exit {
    stderr(&f.text());
    record(f)
}

/// [`fatal`] for an error whose text is already on stderr (clap's own usage message): only the
/// annotation and the JSON document.
pub fn record(f: Fatal) -> Exit {
    let exit = f.exit;
    let mut m = mode();
    if m.annotate {
        if m.json {
            stderr(&f.annotation());
        } else {
            write_stdout(&f.annotation());
        }
    }
    if m.fatal.is_none() {
        m.fatal = Some(f);
    }
    exit
}

/// Ends the process's output: in JSON mode prints the one document (the error document if a
/// fatal error was reported, or if the command stopped with exit 2 and printed nothing, else
/// what the command printed). Returns `exit` unchanged, or the fatal error's code.
pub fn finish(exit: Exit) -> Exit {
    let mut m = mode();
    let exit = m.fatal.as_ref().map_or(exit, |f| f.exit);
    if !m.json {
        return exit;
    }
    // A usage exit with no report and no fatal error reported: still one document.
    if m.fatal.is_none() && exit == Exit::Usage && m.held.is_empty() {
        m.fatal = Some(
            Fatal::usage(
                "usage",
                "kv-jit stopped with a usage or configuration error",
            )
            .help("stderr has the details"),
        );
    }
    let out = match &m.fatal {
        Some(f) => f.document(),
        None => String::from_utf8_lossy(&std::mem::take(&mut m.held)).into_owned(),
    };
    drop(m);
    write_stdout(&out);
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_document_has_one_shape() {
        let f = Fatal::usage("config-not-found", "config file `x` not found").help("pass --config");
        let v: serde_json::Value = serde_json::from_str(&f.document()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "config-not-found", "message": "config file `x` not found", "help": "pass --config"}, "exit": 2})
        );
        let v: serde_json::Value =
            serde_json::from_str(&Fatal::problem("ledger-unreadable", "gone").document()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "ledger-unreadable", "message": "gone"}, "exit": 1})
        );
    }

    #[test]
    fn annotations_are_escaped() {
        let f = Fatal::usage("usage", "50% done\r\n::error::injected").help("a: b, c");
        assert_eq!(
            f.annotation(),
            "::error title=kv-jit::50%25 done%0D%0A::error::injected%0Ahelp: a: b, c\n"
        );
        assert_eq!(
            f.text(),
            "error: 50% done\\r\\n::error::injected\n  help: a: b, c\n"
        );
    }
}
