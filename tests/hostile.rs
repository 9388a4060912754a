//! One fixture per hostile case under tests/fixtures/hostile; each must exit 1 with at least one
//! `PATH:LINE:COL: error[CODE]:` line, and its rendered diagnostics are pinned by a snapshot.

mod support;

use support::{NOW, kv_jit, root};

fn validate(file: &str) -> support::Run {
    kv_jit(
        &root(),
        &[
            "validate",
            "--offline",
            "--config",
            "tests/fixtures/kv-jit.yml",
            "--now",
            NOW,
            file,
        ],
        &[],
    )
}

#[test]
fn every_hostile_fixture_is_refused_with_located_errors() {
    let dir = root().join("tests/fixtures/hostile");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "fixtures missing: {names:?}");
    for name in names {
        let file = format!("tests/fixtures/hostile/{name}");
        let run = validate(&file);
        assert_eq!(
            run.code, 1,
            "{name} should exit 1\n{}{}",
            run.stdout, run.stderr
        );
        let prefix = format!("{file}:");
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(": error[")),
            "{name}: no located error line in\n{}",
            run.stdout
        );
        insta::assert_snapshot!(name.trim_end_matches(".yaml"), run.stdout);
    }
}

#[test]
fn a_file_over_64_kib_is_refused_unread() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.yaml");
    std::fs::write(&big, "#".repeat(200 * 1024)).unwrap();
    let cfg = root().join("tests/fixtures/kv-jit.yml");
    let run = kv_jit(
        tmp.path(),
        &[
            "validate",
            "--offline",
            "--config",
            cfg.to_str().unwrap(),
            "big.yaml",
        ],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.lines().next().unwrap(),
        "big.yaml:1:1: error[file-too-large]: the file is 204800 bytes; the limit is 65536 bytes (64 KiB)"
    );
}

#[test]
fn crlf_and_bom_are_fine() {
    let run = validate("tests/fixtures/crlf-bom.yaml");
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout, "");
}

#[test]
fn the_alias_bomb_is_refused_without_expanding() {
    // Aliases are refused at the event level, so nothing is ever expanded: the refusal names
    // the first anchor and alias instead of running out of memory.
    let run = validate("tests/fixtures/hostile/alias-bomb.yaml");
    assert!(
        run.stdout
            .contains("alias-bomb.yaml:1:7: error[yaml-anchor]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("alias-bomb.yaml:2:8: error[yaml-alias]"),
        "{}",
        run.stdout
    );
}
