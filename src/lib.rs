//! kv-jit: governed, just-in-time access to Azure Key Vault secrets, run as GitOps on GitHub.
//!
//! Data flows one way: files → model → plan → effects → ledger.

pub mod azure;
pub mod emulator;
pub mod names;

use std::process::ExitCode;

/// Runs the CLI and returns the process exit code (0 good, 1 problems found, 2 usage/config).
pub fn run() -> ExitCode {
    ExitCode::SUCCESS
}
