//! The crate boundaries are the architecture, and these tests hold them: the core does no I/O
//! and reads no clock, the engine sees only its ports, and no product code builds a Key Vault
//! data-plane URL (only the emulator's data-plane module serves one, to show the loop end to
//! end).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crates in `package`'s normal (non-dev) dependency tree, from `cargo tree`.
fn dependency_tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package])
        // `.ci/run` runs the tests under faketime; cargo itself needs no fake time.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn assert_none_of(package: &str, forbidden: &[&str]) {
    let tree = dependency_tree(package);
    assert!(
        tree.iter().any(|n| n == package),
        "{package} is not in its own tree: {tree:?}"
    );
    let found: Vec<&String> = tree
        .iter()
        .filter(|n| forbidden.contains(&n.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "{package} depends on {found:?}; it must stay free of them"
    );
}

/// Async runtimes, HTTP, TLS, sockets, the wall clock's time-zone lookup, and the other crates.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "reqwest",
    "hyper",
    "hyper-util",
    "http",
    "octocrab",
    "axum",
    "tower",
    "rustls",
    "futures-util",
    "iana-time-zone",
    "kv-jit-engine",
    "kv-jit-effects",
    "kv-jit-emulator",
];

#[test]
fn the_core_depends_on_no_io_crate() {
    assert_none_of("kv-jit-core", IO_CRATES);
}

#[test]
fn the_engine_depends_only_on_the_core_and_its_ports() {
    assert_none_of(
        "kv-jit-engine",
        &[
            "tokio",
            "reqwest",
            "hyper",
            "octocrab",
            "axum",
            "rustls",
            "iana-time-zone",
            "kv-jit-effects",
            "kv-jit-emulator",
        ],
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a source file before its `#[cfg(test)]` module (tests may read fixtures).
fn product_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[test]
fn the_core_source_reads_no_file_environment_or_clock() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/core/src"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    for path in files {
        // A module's `tests.rs` next to it is test code.
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = product_text(&path);
        for needle in [
            "std::fs",
            "std::env",
            // Addresses are values (`IpAddr`); sockets and name lookups are I/O.
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "ToSocketAddrs",
            "std::process",
            "std::thread",
            "Utc::now",
            "Local::now",
            "SystemTime",
            "Instant::now",
        ] {
            assert!(
                !text.contains(needle),
                "{} uses {needle}: the core takes bytes and instants as parameters",
                path.display()
            );
        }
    }
}

/// One clock rules all time: outside `kv_jit_effects::clock` no product source reads the wall
/// clock (the shell, retries, credentials and the emulator all take a `Clock` or an instant).
#[test]
fn the_wall_clock_is_read_in_one_place() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for krate in ["core", "engine", "effects", "emulator"] {
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
    }
    let clock = root().join("crates/effects/src/clock.rs");
    for path in files.iter().filter(|p| **p != clock) {
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = product_text(path);
        for needle in ["Utc::now", "Local::now", "SystemTime::now", "Instant::now"] {
            assert!(
                !text.contains(needle),
                "{} reads the wall clock ({needle}); take a Clock or an instant instead",
                path.display()
            );
        }
    }
}

/// The one module allowed to serve a secret value: the emulator's Key Vault data plane, which
/// `kv-jit demo` reads through with the requester's own token.
fn is_data_plane_module(path: &Path) -> bool {
    path == root().join("crates/emulator/src/azure/data_plane.rs")
        // The one other exception: `kv-jit demo`'s requester (Alice reading the secret with her
        // own token from the demo's in-process emulator, which it checks is on 127.0.0.1). A
        // file of its own, so nothing else in the demo (or the shell) may build such a URL.
        || path == root().join("src/cmd/demo/requester.rs")
}

#[test]
fn no_product_source_builds_a_data_plane_url() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for krate in ["core", "engine", "effects", "emulator"] {
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
    }
    let mut scanned = 0;
    for path in files.iter().filter(|p| !is_data_plane_module(p)) {
        scanned += 1;
        let text = std::fs::read_to_string(path).unwrap();
        for needle in [
            ".vault.azure.net",
            "vault.usgovcloudapi.net",
            "vault.azure.cn",
            "api-version=7.",
        ] {
            assert!(
                !text.contains(needle),
                "{} mentions {needle}",
                path.display()
            );
        }
        for (i, line) in text.lines().enumerate() {
            if line.contains("/secrets/") {
                assert!(
                    line.trim_start().starts_with("//")
                        || line.contains("secrets/{")
                        || line.contains("/providers/Microsoft.KeyVault/vaults/"),
                    "{}:{}: {line}",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert!(scanned > 40, "scanned only {scanned} files");
}
