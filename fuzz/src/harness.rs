//! What each fuzz target does with one input, and what must hold for every input. Depends on
//! `kv_jit_core` only, so the core's corpus replay test (`crates/core/tests/fuzz_corpus.rs`)
//! includes this very file: CI runs every seed and every crash without the fuzzer.
//!
//! Beyond "never panics", each target checks an oracle:
//! - `request`: a request that validates has names that parse again, a positive duration no
//!   longer than the vault's maximum, and diagnostics that point inside the file;
//! - `config`: a config that parses has only vault names that parse again;
//! - `codeowners`: matching never panics and an owned path names at least one owner;
//! - `ledger`: bytes that verify are exactly the canonical lines of the entries they parse to.

use kv_jit_core::config::{self, Config};
use kv_jit_core::diag::Sink;
use kv_jit_core::github::codeowners::{Codeowners, Ownership};
use kv_jit_core::ledger::{parse_ledger, to_line, verify_bytes};
use kv_jit_core::names::{SecretName, VaultName};
use kv_jit_core::request::{RequestId, parse_raw};

const CONFIG: &str = "tenant_id: 00000000-0000-0000-0000-000000000000
vaults:
  flowlibs-demo-kv:
    subscription_id: 11111111-1111-1111-1111-111111111111
    resource_group: rg
    secrets: [demo-api-key, demo-connection-string]
    max_duration: 4h
    roles: [secrets-user, secrets-officer]
identities:
  alice-gh: alice@contoso.com
";

fn the_config() -> Config {
    config::parse(CONFIG.as_bytes(), &mut Sink::new("kv-jit.yml")).expect("the fixed config")
}

/// Every diagnostic about the input points at one of its lines (YAML breaks lines at `\r\n`,
/// `\n` and a lone `\r`: the first fuzzing run found this oracle counting only `\n`).
fn inside(data: &[u8], sink: &Sink, file: &str) {
    let breaks = data
        .iter()
        .enumerate()
        .filter(|&(i, b)| *b == b'\n' || (*b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count();
    let lines = breaks as u32 + 1;
    for d in sink.diags.iter().filter(|d| d.file == file) {
        assert!(
            d.line >= 1 && d.line <= lines.max(1),
            "diagnostic at line {} of a {lines}-line input: {d:?}",
            d.line
        );
    }
}

pub fn request(data: &[u8]) {
    const FILE: &str = "requests/2026/fuzz.yaml";
    let mut sink = Sink::new(FILE);
    let Some(raw) = parse_raw(data, &mut sink) else {
        inside(data, &sink, FILE);
        return;
    };
    let config = the_config();
    let id = RequestId::parse("2026/fuzz").ok();
    let now = "2026-11-27T09:00:00Z".parse().ok();
    let checked = kv_jit_core::policy::check(&raw, id, &config, now, &mut sink);
    inside(data, &sink, FILE);
    if let Some(r) = checked {
        assert!(VaultName::parse(r.vault.as_str()).is_ok(), "{r:?}");
        assert!(SecretName::parse(r.secret.as_str()).is_ok(), "{r:?}");
        let minutes = r.duration.to_chrono().num_minutes();
        assert!(minutes > 0 && minutes <= 4 * 60, "{r:?}");
    }
}

pub fn config(data: &[u8]) {
    const FILE: &str = ".github/kv-jit.yml";
    let mut sink = Sink::new(FILE);
    if let Some(c) = config::parse(data, &mut sink) {
        for name in c.vaults.keys() {
            assert!(VaultName::parse(name.as_str()).is_ok(), "{name:?}");
        }
    }
    inside(data, &sink, FILE);
}

/// The first line is the path to match; the rest is the CODEOWNERS text.
pub fn codeowners(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (path, file) = text.split_once('\n').unwrap_or((&text, ""));
    let owners = Codeowners::parse(file);
    let _ = owners.errors();
    if let Ownership::Owned { owners: o, .. } = owners.ownership(path) {
        assert!(!o.is_empty(), "owned by nobody: {path:?}");
    }
}

pub fn ledger(data: &[u8]) {
    let verified = verify_bytes("fuzz", data);
    let parsed = parse_ledger("fuzz", data);
    assert_eq!(
        verified.is_ok(),
        parsed.is_ok(),
        "verify and parse disagree: {verified:?} / {:?}",
        parsed.as_ref().map(Vec::len)
    );
    if let (Ok(report), Ok(entries)) = (verified, parsed) {
        assert_eq!(report.entries, entries.len() as u64);
        let canonical: String = entries.iter().map(to_line).collect();
        assert_eq!(
            canonical.as_bytes(),
            data,
            "a ledger that verifies is its entries' canonical lines"
        );
    }
}
