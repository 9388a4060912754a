//! Stamps the commit kv-jit was built from into `--version` (`KV_JIT_COMMIT`).
//!
//! Release builds set `KV_JIT_BUILD_COMMIT` (their checkout may be a tarball without `.git`);
//! otherwise `git rev-parse --short=12 HEAD`, with `-dirty` when `git status --porcelain` shows
//! changes; outside git (or without git installed), `unknown`. Never fails the build.

// A build script talks to cargo through stdout: `println!` is its interface, not output.
#![allow(clippy::disallowed_macros)]

#[path = "src/build_commit.rs"]
mod build_commit;

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=KV_JIT_BUILD_COMMIT");
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    // What decides the answer: HEAD, the branch it points to, packed refs, and (for the dirty
    // mark) the package's sources. In a worktree `.git` is a file, so ask git where they are.
    for p in ["HEAD", "packed-refs"] {
        if let Some(path) = git(
            &dir,
            &["rev-parse", "--path-format=absolute", "--git-path", p],
        ) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(name) = git(&dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(
            &dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &name],
        )
    {
        println!("cargo:rerun-if-changed={path}");
    }
    for p in ["build.rs", "Cargo.toml", "Cargo.lock", "src", "crates"] {
        println!("cargo:rerun-if-changed={p}");
    }
    let release = std::env::var("KV_JIT_BUILD_COMMIT").ok();
    let head = git(&dir, &["rev-parse", "--short=12", "HEAD"]);
    let porcelain = head
        .as_ref()
        .and_then(|_| git(&dir, &["status", "--porcelain"]));
    let commit = build_commit::stamp(release.as_deref(), head.as_deref(), porcelain.as_deref());
    println!("cargo:rustc-env=KV_JIT_COMMIT={commit}");
}
