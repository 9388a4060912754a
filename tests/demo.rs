//! `kv-jit demo`: the real binary plays the whole loop against its own in-process emulator.
//! These tests read its narration step by step (each step's marker and the facts it shows),
//! check it leaves nothing behind, and that `--keep DIR` keeps a repository whose ledger
//! verifies.

mod support;

use std::path::Path;

use support::kv_jit;

/// The demo's narration, cut at its step markers: `steps[n]` is step n's text.
fn steps(stdout: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in stdout.lines() {
        if line.starts_with("== step ") {
            out.push(String::new());
        }
        let last = out.last_mut().expect("one at least");
        last.push_str(line);
        last.push('\n');
    }
    out
}

fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

fn demo(tmp: &Path, args: &[&str]) -> support::Run {
    let tmpdir = tmp.join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    // The demo's temporary folder goes under TMPDIR, so the test can see it is gone.
    kv_jit(tmp, &all, &[("TMPDIR", tmpdir.to_str().unwrap())])
}

#[test]
fn the_demo_shows_the_whole_loop_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let run = demo(tmp.path(), &[]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let s = steps(&run.stdout);
    assert_eq!(s.len(), 11, "ten steps:\n{}", run.stdout);
    for (n, title) in [
        (1, "start the emulator"),
        (2, "make the repository"),
        (3, "Alice files a request and opens a pull request"),
        (4, "the PR check"),
        (5, "Carol approves, the pull request is merged"),
        (6, "the grant workflow runs `kv-jit grant`"),
        (7, "Alice reads the secret with her own identity"),
        (8, "the window ends; the scheduled `kv-jit revoke` runs"),
        (9, "attacks"),
        (10, "anyone can check the record"),
    ] {
        assert_has(&s[n], &format!("== step {n}/10: {title}"));
    }
    // A fixed virtual start, on 127.0.0.1.
    assert_has(&s[1], "on http://127.0.0.1:");
    // The demo's default start is the suite's T0 (and never the wall clock).
    assert_has(&s[1], &format!("starts at {}", support::T0));
    // The request is `kv-jit new`'s, and the pull request is opened in the emulated GitHub.
    assert_has(&s[3], "$ kv-jit new --secret demo-api-key --duration 30m");
    assert_has(&s[3], "requests/2026/alice-demo-api-key-11270900.yaml");
    assert_has(&s[3], "opened pull request #1");
    // The PR check ran and its sticky comment is shown, with the plan's row.
    assert_has(&s[4], "$ kv-jit validate --pr 1    (exit 0)");
    assert_has(&s[4], "by @github-actions[bot]");
    assert_has(&s[4], "<!-- kv-jit:plan -->");
    assert_has(
        &s[4],
        "| 30m | at merge | 1 of @\u{200b}carol, @\u{200b}alice-ops |",
    );
    assert_has(&s[5], "answered 200");
    assert_has(&s[5], "merged at 2026-11-27T09:03:00Z");
    // The grant, as the workflow runs it, recorded in the ledger.
    assert_has(
        &s[6],
        "$ kv-jit grant --now 2026-11-27T09:04:00Z    (exit 0",
    );
    assert_has(&s[6], "granted       2026/alice-demo-api-key-11270900");
    assert_has(&s[6], "ledger: 1 entry pushed");
    assert_has(&s[6], "The job summary it wrote (GITHUB_STEP_SUMMARY):");
    assert_has(&s[6], "| granted | 2026/alice-demo-api-key-11270900 |");
    // The requester's read: 200, the value never printed.
    assert_has(
        &s[7],
        "200 OK: the secret's value came back (22 characters; not shown)",
    );
    assert!(!run.stdout.contains("the-demo-api-key-value"));
    // Past the window: revoke, then the read is refused.
    assert_has(&s[8], "The 30m window ended at 2026-11-27T09:33:00Z");
    assert_has(
        &s[8],
        "$ kv-jit revoke --now 2026-11-27T09:36:00Z    (exit 0",
    );
    assert_has(
        &s[8],
        "revoked       2026/alice-demo-api-key-11270900 (expired)",
    );
    assert_has(&s[8], "403 Forbidden: Forbidden (ForbiddenByRbac)");
    // The attacks, refused with their codes: GitHub's own 422, the PR check's diagnostic, the
    // grant's refusal.
    assert_has(
        &s[9],
        "error[requester-not-bound]: pull request author @alice-gh may request only for `alice@contoso.com`",
    );
    assert_has(&s[9], "$ kv-jit validate --pr 2    (exit 1)");
    assert_has(
        &s[9],
        "GitHub answers 422 Can not approve your own pull request",
    );
    assert_has(&s[9], "(exit 1; in a fresh checkout");
    assert_has(
        &s[9],
        "refused       2026/alice-demo-api-key-11270937: pull request #3 has 0 of 1 required code-owner approvals",
    );
    assert_has(&s[9], "@alice-ops is the requester");
    assert_has(&s[9], "403 Forbidden");
    // The record: the chain verifies, status, the ledger line by line, the revoke lag.
    assert_has(&s[10], "$ kv-jit audit verify    (exit 0)");
    assert_has(&s[10], "audit/ledger.jsonl: 3 entries, chain intact");
    assert_has(&s[10], "active grants: 0");
    assert_has(
        &s[10],
        "#1 2026-11-27T09:04:00Z granted  2026/alice-demo-api-key-11270900 for alice@contoso.com as secrets-user window 2026-11-27T09:03:00Z..2026-11-27T09:33:00Z approved in PR #1 by @carol",
    );
    assert_has(
        &s[10],
        "#2 2026-11-27T09:36:00Z revoked  2026/alice-demo-api-key-11270900",
    );
    assert_has(&s[10], "(expired) lag 180s");
    assert_has(
        &s[10],
        "#3 2026-11-27T09:39:00Z refused  2026/alice-demo-api-key-11270937",
    );
    assert_has(
        &s[10],
        "Revoke lag (how long after its window ended access was removed): over 1 expiries: p50 180s, p95 180s, max 180s",
    );
    assert_has(
        &s[10],
        "went to the Key Vault data plane, all 3 of them Alice's own reads: kv-jit made none.",
    );
    // Nothing left behind.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_has(&s[10], "is removed");
    // It ends with the HTML report of its ledger, in the folder it ran in (its own is gone).
    let report = tmp.path().join("kv-jit-demo-report.html");
    assert_has(
        &s[10],
        &format!("open file://{}", report.canonicalize().unwrap().display()),
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert_has(&html, "<h1>kv-jit access report</h1>");
    assert_eq!(html.matches("<rect class=\"bar end-expired\"").count(), 1);
    assert_has(&html, "2026/alice-demo-api-key-11270900");
    assert_has(&html, "0 of 1 required code-owner approvals");
}

#[test]
fn keep_keeps_a_repository_whose_ledger_verifies_and_honours_now() {
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept");
    let run = demo(
        tmp.path(),
        &[
            "--keep",
            keep.to_str().unwrap(),
            "--now",
            "2027-03-01T12:00:00Z",
        ],
    );
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_has(&run.stdout, "starts at 2027-03-01T12:00:00Z");
    assert_has(
        &run.stdout,
        "requests/2027/alice-demo-api-key-03011200.yaml",
    );
    assert_has(&run.stdout, "kv-jit emulator --listen 127.0.0.1:");
    assert_has(&run.stdout, "--now 2027-03-01T12:40:00Z");
    assert!(!run.stdout.contains("is removed"));
    // With --keep the report is kept with the rest.
    assert_has(&run.stdout, "kv-jit report --format html --out ");
    assert!(keep.join("kv-jit-report.html").is_file());
    assert!(!tmp.path().join("kv-jit-demo-report.html").exists());
    // A fresh clone of the kept origin holds a ledger that verifies.
    let clone = tmp.path().join("clone");
    let out = std::process::Command::new("git")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["clone", "--quiet"])
        .arg(keep.join("origin.git"))
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = kv_jit(&clone, &["audit", "verify"], &[]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert_has(&verify.stdout, "3 entries, chain intact");
    // The kept seed starts an emulator where the demo left GitHub.
    let seed = std::fs::read_to_string(keep.join("emulator-seed.yaml")).unwrap();
    let seed = kv_jit_emulator::Seed::from_yaml(&seed).unwrap();
    let pulls = &seed.github.repos[0].pulls;
    assert_eq!(pulls.len(), 3);
    assert!(pulls[0].merged && !pulls[1].merged && pulls[2].merged);
    assert_eq!(pulls[0].reviews[0].user, "carol");
    // A non-empty folder is refused, not overwritten.
    let again = demo(tmp.path(), &["--keep", keep.to_str().unwrap()]);
    assert_eq!(again.code, 2);
    assert_has(&again.stderr, "is not empty");
}
