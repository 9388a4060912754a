//! Every fuzz seed and every crash the fuzzers found, replayed as a regular test: CI exercises
//! them without libFuzzer. The bodies are the fuzz targets' own (`fuzz/src/harness.rs`); the
//! inputs are `fuzz/corpus/<target>/*` (seeds) and `fuzz/regressions/<target>/*` (crashes, kept
//! after they were fixed). See fuzz/README.md.

#[path = "../../../fuzz/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs `target` on every file of its seed corpus and its regressions; at least one seed.
fn replay(name: &str, target: fn(&[u8])) {
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(dir).join(name);
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = files.map(|f| f.unwrap().path()).collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name}: {} fails", file.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "{name}: no seed corpus under fuzz/corpus/{name}");
}

#[test]
fn request_corpus() {
    replay("request", harness::request);
}

#[test]
fn config_corpus() {
    replay("config", harness::config);
}

#[test]
fn codeowners_corpus() {
    replay("codeowners", harness::codeowners);
}

#[test]
fn ledger_corpus() {
    replay("ledger", harness::ledger);
}
