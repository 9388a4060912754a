//! kv-jit: governed, just-in-time access to Azure Key Vault secrets, run as GitOps on GitHub.
//!
//! Data flows one way: files → model → plan → effects → ledger.

pub mod approval;
pub mod github;
pub mod names;

// Lives at src/emulator/github.rs; the lead re-homes it as `emulator::github` once
// src/emulator/mod.rs (owned by the Azure side) is merged.
#[path = "emulator/github.rs"]
pub mod github_emulator;

use std::process::ExitCode;

/// Runs the CLI and returns the process exit code (0 good, 1 problems found, 2 usage/config).
pub fn run() -> ExitCode {
    ExitCode::SUCCESS
}
