//! Runs the real binary with a clean environment: no `GITHUB_*`, `RUNNER_*`, `ACTIONS_*` (or
//! `AZURE_*`, `GH_*`) leaks from the machine running the tests into the behaviour under test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod time;
pub use time::*;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn kv_jit(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kv-jit"));
    cmd.current_dir(dir).args(args);
    for (k, _) in std::env::vars() {
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "AZURE_", "GH_", "KV_JIT_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("the binary runs");
    Run {
        // A process killed by a signal reports minus the signal number (SIGKILL: -9).
        code: out.status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            -out.status.signal().expect("exited or was signalled")
        }),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}
