//! `kv-jit audit verify` reports a broken member rule with the line, the member and the rule,
//! and exits 1 (the rules themselves: `crates/core/tests/ledger_members.rs`).

// Only `kv_jit` and `root` are used here; the module also exports test times.
#[allow(unused_imports)]
mod support;

use support::{kv_jit, root};

#[test]
fn verify_names_the_line_the_member_and_the_rule() {
    let dir = root().join("crates/core/tests/fixtures/ledger-members");
    let run = kv_jit(&dir, &["audit", "verify", "lag_seconds-wrong.jsonl"], &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "lag_seconds-wrong.jsonl:2: member `lag_seconds`: is 60 but `time` 2026-11-27T11:01:35Z − `window.expires` 2026-11-27T11:00:00Z is 95 seconds\n"
    );
    let run = kv_jit(
        &dir,
        &[
            "audit",
            "verify",
            "--format",
            "json",
            "request_sha256-short.jsonl",
        ],
        &[],
    );
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .starts_with("request_sha256-short.jsonl:2: member `request_sha256`: "),
        "{doc}"
    );
    let valid = root().join("crates/core/tests/fixtures");
    let run = kv_jit(
        &valid,
        &["audit", "verify", "ledger-members-valid.jsonl"],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("5 entries, chain intact"),
        "{}",
        run.stdout
    );
}
