//! The in-process emulator as the benchmark drives it: started with a generated seed, its
//! virtual clock made to follow the wall clock (ARM's write buckets refill on it, so a throttled
//! run waits as long as against Azure), its log read back per service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kv_jit_emulator::{Core, EmulatorHandle, LogEntry, Seed};

use crate::world;

pub async fn start(
    seed: Seed,
    at: DateTime<Utc>,
    latency: Duration,
) -> Result<EmulatorHandle, String> {
    let emu = kv_jit_emulator::spawn_at(seed, at)
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    emu.core().set_latency(latency);
    Ok(emu)
}

/// Moves the emulator's clock with the wall clock from `from` on, until dropped.
pub struct FollowWallClock(tokio::task::JoinHandle<()>);

impl FollowWallClock {
    pub fn from(core: &Arc<Core>, from: DateTime<Utc>) -> FollowWallClock {
        let core = core.clone();
        let started = Instant::now();
        core.clock.set(from);
        FollowWallClock(tokio::spawn(async move {
            loop {
                let elapsed = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
                core.clock.set(from + elapsed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }))
    }
}

impl Drop for FollowWallClock {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which service a logged request went to (for P4).
pub fn service(e: &LogEntry) -> &'static str {
    let p = e.path.as_str();
    if p.contains("/oauth2/") || p.starts_with("/actions/oidc") {
        "token"
    } else if p.starts_with("/graph") {
        "Graph"
    } else if p.contains("/providers/Microsoft.Authorization/") {
        "ARM"
    } else if p.contains("/providers/Microsoft.KeyVault/") {
        "Key Vault metadata"
    } else if p.starts_with("/repos/")
        || p.starts_with("/orgs/")
        || p.starts_with("/user")
        || p.starts_with("/api/v3")
    {
        "GitHub"
    } else {
        "other"
    }
}

pub fn by_service(log: &[LogEntry]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in log {
        *m.entry(service(e)).or_insert(0) += 1;
    }
    m
}

pub fn throttled(log: &[LogEntry]) -> usize {
    log.iter().filter(|e| e.status == Some(429)).count()
}

/// `kv-jit` as a workflow step would run it: in `dir`, with the workflow's environment pointed
/// at the emulator and nothing leaking in from the machine's.
pub fn kv_jit(exe: &Path, dir: &Path, base: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir).args(args);
    for (k, _) in std::env::vars() {
        if [
            "GITHUB_", "RUNNER_", "ACTIONS_", "AZURE_", "GH_", "KV_JIT_", "GIT_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    cmd.envs([
        ("AZURE_CLIENT_ID", world::CLIENT_ID),
        ("AZURE_TENANT_ID", world::TENANT),
        ("AZURE_CLIENT_SECRET", world::APP_SECRET),
        ("KV_JIT_ALLOWED_ENDPOINTS", base),
        ("GITHUB_API_URL", base),
        ("GITHUB_TOKEN", "bench-token"),
        ("GITHUB_REPOSITORY", "acme/access"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_AUTHOR_NAME", "kv-jit"),
        ("GIT_AUTHOR_EMAIL", "kv-jit@example.invalid"),
        ("GIT_COMMITTER_NAME", "kv-jit"),
        ("GIT_COMMITTER_EMAIL", "kv-jit@example.invalid"),
    ]);
    cmd
}

/// The release `kv-jit` next to this benchmark (`target/release/kv-jit`), or `KV_JIT_BIN`.
pub fn find_kv_jit() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KV_JIT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/release/deps/table-HASH -> target/release/kv-jit
    let candidate = me
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("kv-jit"))
        .ok_or("cannot locate the target directory")?;
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release` first (or set KV_JIT_BIN)",
            candidate.display()
        ))
    }
}
