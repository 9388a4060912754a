//! The only place that writes to stdout and stderr. A closed pipe (`kv-jit ... | head`) is not
//! an error: the reader has what it wanted.

use std::io::Write;

#[allow(clippy::disallowed_macros)]
pub fn stdout(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

pub fn stderr(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}
