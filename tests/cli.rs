//! The binary as a user runs it: exit codes, formats, `new`, `schema`.

mod support;

use support::{NOW, kv_jit, root};

/// A throwaway repository laid out like a real one: the example config and requests.
fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".github")).unwrap();
    std::fs::copy(
        root().join(".github/kv-jit.yml"),
        tmp.path().join(".github/kv-jit.yml"),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("requests/2026")).unwrap();
    tmp
}

/// Every file below `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn write(dir: &std::path::Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const GOOD: &str = "apiVersion: kv-jit/v1\nkind: AccessRequest\nrequester: alice@contoso.com\nvault: flowlibs-demo-kv\nsecret: demo-api-key\nduration: 2h\njustification: Rotate the partner API client after INC-4821\n";

#[test]
fn the_shipped_examples_validate() {
    let run = kv_jit(&root(), &["validate", "--offline"], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("all valid"));
}

#[test]
fn every_problem_in_every_file_and_exit_1() {
    let tmp = repo();
    write(tmp.path(), "requests/2026/good.yaml", GOOD);
    write(
        tmp.path(),
        "requests/2026/bad.yml",
        &GOOD.replace("2h", "9h").replace("demo-api-key", "nope"),
    );
    write(tmp.path(), "requests/2026/notes.txt", "not a request");
    let run = kv_jit(tmp.path(), &["validate", "--offline", "--now", NOW], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.contains(": error["))
            .collect::<Vec<_>>(),
        [
            "requests/2026/bad.yml:5:9: error[secret-not-allowed]: secret `nope` is not on the allow-list of vault `flowlibs-demo-kv`",
            "requests/2026/bad.yml:6:11: error[duration-too-long]: 9h is over the 4h that vault `flowlibs-demo-kv` allows",
        ]
    );
    assert!(
        run.stdout
            .contains("  note: .github/kv-jit.yml:12:19: max_duration 4h set here")
    );
    assert!(
        run.stderr
            .contains("validated 2 request file(s): 2 error(s) in 1 file(s)")
    );
}

#[test]
fn github_annotations_when_running_in_actions() {
    let tmp = repo();
    write(tmp.path(), "requests/a.yaml", &GOOD.replace("2h", "9h"));
    let run = kv_jit(
        tmp.path(),
        &["validate", "--offline"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("requests/a.yaml:6:11: error[duration-too-long]")
    );
    assert!(
        run.stdout.contains(
            "::error file=requests/a.yaml,line=6,col=11,title=duration-too-long::9h is over the 4h"
        ),
        "{}",
        run.stdout
    );
    let plain = kv_jit(tmp.path(), &["validate", "--offline"], &[]);
    assert!(!plain.stdout.contains("::error"));
    let forced = kv_jit(
        tmp.path(),
        &["validate", "--offline", "--format", "github"],
        &[],
    );
    assert!(forced.stdout.contains("::error file=requests/a.yaml"));
}

#[test]
fn json_is_an_array_of_diagnostics() {
    let tmp = repo();
    write(
        tmp.path(),
        "requests/a.yaml",
        &GOOD.replace("demo-api-key", "demo/key"),
    );
    let run = kv_jit(
        tmp.path(),
        &["validate", "--offline", "--format", "json"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 1);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    assert_eq!(v[0]["file"], "requests/a.yaml");
    assert_eq!(v[0]["code"], "invalid-secret-name");
    assert_eq!(
        (v[0]["line"].as_u64(), v[0]["column"].as_u64()),
        (Some(5), Some(9))
    );
    let ok = kv_jit(&root(), &["validate", "--offline", "--format", "json"], &[]);
    assert_eq!((ok.code, ok.stdout.trim()), (0, "[]"));
}

#[test]
fn usage_and_config_errors_exit_2() {
    let tmp = repo();
    let missing = kv_jit(tmp.path(), &["validate", "--offline", "nowhere/"], &[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let bad_now = kv_jit(tmp.path(), &["validate", "--now", "yesterday"], &[]);
    assert_eq!(bad_now.code, 2);
    assert!(bad_now.stderr.contains("not an RFC 3339 instant"));
    let unknown = kv_jit(tmp.path(), &["frobnicate"], &[]);
    assert_eq!(unknown.code, 2);
    let no_config = kv_jit(tmp.path(), &["validate", "--config", "nope.yml"], &[]);
    assert_eq!(no_config.code, 2);
    assert!(
        no_config
            .stderr
            .contains("config file `nope.yml` not found")
    );

    write(
        tmp.path(),
        ".github/kv-jit.yml",
        "tenant_id: x\nvaults: {}\nsurprise: 1\n",
    );
    let bad = kv_jit(tmp.path(), &["validate", "--offline"], &[]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stdout
            .contains(".github/kv-jit.yml:1:12: error[invalid-config]"),
        "{}",
        bad.stdout
    );
    assert!(
        bad.stdout
            .contains(".github/kv-jit.yml:3:1: error[unknown-key]"),
        "{}",
        bad.stdout
    );
    let help = kv_jit(tmp.path(), &["--help"], &[]);
    assert_eq!(help.code, 0);
}

#[test]
fn duplicate_ids_and_symlinks_are_refused() {
    let tmp = repo();
    write(tmp.path(), "requests/a.yaml", GOOD);
    write(tmp.path(), "requests/a.yml", GOOD);
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        tmp.path().join("requests/a.yaml"),
        tmp.path().join("requests/link.yaml"),
    )
    .unwrap();
    let run = kv_jit(tmp.path(), &["validate", "--offline"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("requests/a.yml:1:1: error[duplicate-request-id]: request id `a` is also used by requests/a.yaml"), "{}", run.stdout);
    #[cfg(unix)]
    assert!(run.stdout.contains("requests/link.yaml:1:1: error[read-error]: request files must be regular files, not symlinks"));
}

#[test]
fn online_mode_without_azure_credentials_fails_closed() {
    // No AZURE_* or ACTIONS_* variables (scrubbed), no managed identity opt-in, and no `az` on
    // PATH: nothing can sign in, and nothing is sent anywhere.
    let run = kv_jit(&root(), &["validate"], &[("PATH", "/nonexistent")]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the online check (secret exists, vault uses RBAC) cannot run"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("pass --offline"), "{}", run.stderr);
}

#[test]
fn new_scaffolds_a_valid_request_and_never_overwrites() {
    let tmp = repo();
    let args = [
        "new",
        "--secret",
        "demo-api-key",
        "--duration",
        "1h30m",
        "--justification",
        "Debug the \"nightly\" sync: job #42",
        "--requester",
        "alice@contoso.com",
        "--now",
        NOW,
    ];
    let run = kv_jit(tmp.path(), &args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = run.stdout.trim();
    assert_eq!(path, "requests/2026/alice-demo-api-key-11271000.yaml");
    let text = std::fs::read_to_string(tmp.path().join(path)).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=../../schema/request.schema.json\n"));
    let check = kv_jit(tmp.path(), &["validate", "--offline", "--now", NOW], &[]);
    assert_eq!(check.code, 0, "{}", check.stdout);

    let again = kv_jit(tmp.path(), &args, &[]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join(path)).unwrap(),
        text
    );
}

#[test]
fn new_refuses_invalid_values_and_missing_flags() {
    let tmp = repo();
    let bad = kv_jit(
        tmp.path(),
        &[
            "new",
            "--secret",
            "not-allowed",
            "--duration",
            "2h",
            "--justification",
            "Looking into it today",
            "--requester",
            "a@b.co",
            "--now",
            NOW,
        ],
        &[],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stdout.contains("error[secret-not-allowed]"),
        "{}",
        bad.stdout
    );
    // Nothing written anywhere under requests/, whatever year `new` would file it under.
    let files: Vec<_> = walk(&tmp.path().join("requests"));
    assert!(files.is_empty(), "nothing written: {files:?}");

    let missing = kv_jit(tmp.path(), &["new", "--secret", "demo-api-key"], &[]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("missing --duration, --justification"),
        "{}",
        missing.stderr
    );
}

#[test]
fn the_committed_schema_matches_the_types() {
    let run = kv_jit(&root(), &["schema"], &[]);
    assert_eq!(run.code, 0);
    let committed = std::fs::read_to_string(root().join("schema/request.schema.json")).unwrap();
    assert_eq!(
        run.stdout, committed,
        "schema/request.schema.json drifted: run `cargo run -- schema > schema/request.schema.json`"
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["additionalProperties"], false);
    assert_eq!(v["required"].as_array().unwrap().len(), 7);
}

#[test]
fn the_readme_lists_every_diagnostic_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for code in kv_jit_core::diag::Code::ALL {
        assert!(
            readme.contains(&format!("| `{code}` |")),
            "README is missing code {code}"
        );
    }
}
