//! Compare-and-swap commits against real git: a bare origin and clones in temporary folders,
//! no network. Races use real concurrent processes and threads; crashes use SIGKILL on a child
//! process (this test binary re-run with `KV_JIT_CAS_CHILD` set).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kv_jit_core::ledger::{Entry, Event, NewEntry, Reason, Window, parse_ledger, to_line};
use kv_jit_effects::git::{CasOptions, CommitOutcome, GitError, commit_entries};

const LEDGER: &str = "audit/ledger.jsonl";

/// Git must not read this machine's or user's configuration, in this process and its children.
fn isolate() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: runs before this process starts any git command or thread of its own;
        // nextest runs each test in its own process, and std's own env access is locked.
        unsafe {
            std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
            std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
            std::env::set_var("GIT_AUTHOR_NAME", "test");
            std::env::set_var("GIT_AUTHOR_EMAIL", "test@example.com");
            std::env::set_var("GIT_COMMITTER_NAME", "test");
            std::env::set_var("GIT_COMMITTER_EMAIL", "test@example.com");
        }
    });
}

#[track_caller]
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare origin with `main` holding a README, and a way to make clones of it.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        isolate();
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        git(
            dir.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                origin.to_str().unwrap(),
            ],
        );
        let seed = dir.path().join("seed");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                origin.to_str().unwrap(),
                seed.to_str().unwrap(),
            ],
        );
        std::fs::write(seed.join("README.md"), "hello\n").unwrap();
        git(&seed, &["add", "README.md"]);
        git(&seed, &["commit", "-q", "-m", "init"]);
        git(&seed, &["push", "-q", "origin", "HEAD:main"]);
        Self { dir }
    }

    fn origin(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    fn clone(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        git(
            self.dir.path(),
            &[
                "clone",
                "-q",
                self.origin().to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        git(&path, &["config", "user.name", name]);
        git(
            &path,
            &["config", "user.email", &format!("{name}@example.com")],
        );
        path
    }

    /// The ledger on `branch` of the origin, verified.
    fn ledger(&self, branch: &str) -> Vec<Entry> {
        let text = git(&self.origin(), &["show", &format!("{branch}:{LEDGER}")]);
        parse_ledger("origin", format!("{text}\n").as_bytes()).unwrap()
    }

    fn hook(&self, name: &str, script: &str) {
        let path = self.origin().join("hooks").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn granted(request: &str, time: DateTime<Utc>) -> NewEntry {
    NewEntry {
        request: Some(request.into()),
        request_sha256: Some("ab".repeat(32)),
        assignment: Some(format!("assignment-of-{request}")),
        window: Some(Window {
            start: t("2026-11-27T09:00:00Z"),
            expires: t("2026-11-27T11:00:00Z"),
        }),
        ..NewEntry::new(time, Event::Granted)
    }
}

fn revoked(request: &str, time: DateTime<Utc>) -> NewEntry {
    NewEntry {
        event: Event::Revoked,
        reason: Some(Reason::Expired),
        ..granted(request, time)
    }
}

/// Options that record their sleeps instead of sleeping.
fn recording() -> (CasOptions, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let log = slept.clone();
    let opts = CasOptions {
        sleeper: Arc::new(move |d| log.lock().unwrap().push(d)),
        ..CasOptions::default()
    };
    (opts, slept)
}

fn requests(entries: &[Entry]) -> Vec<(Event, String)> {
    entries
        .iter()
        .map(|e| (e.event, e.request.clone().unwrap()))
        .collect()
}

#[test]
fn first_commit_creates_the_ledger_and_leaves_the_work_tree_alone() {
    let w = World::new();
    let a = w.clone("a");
    let head = git(&a, &["rev-parse", "HEAD"]);
    let (opts, slept) = recording();
    let out = commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[granted("2026/x", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap();
    let CommitOutcome::Pushed {
        commit,
        entries,
        attempts,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!((attempts, entries.len()), (1, 1));
    assert!(slept.lock().unwrap().is_empty());
    assert_eq!(git(&w.origin(), &["rev-parse", "main"]), commit);
    assert_eq!(w.ledger("main"), entries);
    // The parent is the old tip, the README is still there, and the author is kv-jit.
    assert_eq!(git(&w.origin(), &["rev-parse", "main^"]), head);
    assert_eq!(git(&w.origin(), &["show", "main:README.md"]), "hello");
    assert_eq!(
        git(&w.origin(), &["log", "-1", "--format=%an <%ae>|%s", "main"]),
        "kv-jit <kv-jit@users.noreply.github.com>|audit: granted 2026/x"
    );
    // The clone's HEAD, index and work tree did not move; no private ref or index is left.
    assert_eq!(git(&a, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&a, &["status", "--porcelain"]), "");
    assert!(!a.join("audit").exists());
    assert_eq!(git(&a, &["for-each-ref", "refs/kv-jit"]), "");
    let git_dir = a.join(".git");
    assert!(std::fs::read_dir(&git_dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("kv-jit")
    }));
}

#[test]
fn a_separate_branch_is_created_on_first_use() {
    let w = World::new();
    let a = w.clone("a");
    let main_before = git(&w.origin(), &["rev-parse", "main"]);
    commit_entries(
        &a,
        "origin",
        "audit",
        LEDGER,
        &[granted("2026/x", t("2026-11-27T09:00:00Z"))],
        &CasOptions::default(),
    )
    .unwrap();
    commit_entries(
        &a,
        "origin",
        "audit",
        LEDGER,
        &[revoked("2026/x", t("2026-11-27T09:00:00Z"))],
        &CasOptions::default(),
    )
    .unwrap();
    assert_eq!(git(&w.origin(), &["rev-parse", "main"]), main_before);
    assert_eq!(
        git(&w.origin(), &["ls-tree", "-r", "--name-only", "audit"]),
        LEDGER
    );
    assert_eq!(w.ledger("audit").len(), 2);
    assert_eq!(git(&w.origin(), &["rev-list", "--count", "audit"]), "2");
}

#[test]
fn a_rerun_records_nothing_twice() {
    let w = World::new();
    let a = w.clone("a");
    let opts = CasOptions::default();
    let first = vec![granted("2026/x", t("2026-11-27T09:00:10Z"))];
    commit_entries(&a, "origin", "main", LEDGER, &first, &opts).unwrap();
    // The re-run re-did the idempotent PUT later, so its entry has a later time.
    let again = vec![granted("2026/x", t("2026-11-27T09:06:00Z"))];
    let out = commit_entries(&a, "origin", "main", LEDGER, &again, &opts).unwrap();
    assert!(
        matches!(out, CommitOutcome::AlreadyRecorded { tip: Some(_) }),
        "{out:?}"
    );
    assert_eq!(w.ledger("main").len(), 1);
}

#[test]
fn a_lost_race_is_rebuilt_on_the_newer_tip() {
    let w = World::new();
    let a = w.clone("a");
    let b = w.clone("b");
    // b's entry is committed to a side branch; the origin's hook moves `main` to it while a's
    // first push is being received, exactly as if b had pushed between a's fetch and push.
    commit_entries(
        &b,
        "origin",
        "side",
        LEDGER,
        &[granted("2026/b", t("2026-11-27T09:00:00Z"))],
        &CasOptions::default(),
    )
    .unwrap();
    // `side` has no parent on main; give it one so the race is a plain fast-forward for b.
    let tree = git(&w.origin(), &["rev-parse", "side^{tree}"]);
    let b_commit = git(
        &w.origin(),
        &["commit-tree", &tree, "-p", "main", "-m", "b"],
    );
    // (`update` runs after the pushed objects left quarantine, so it may move refs.)
    w.hook(
        "update",
        &format!(
            "[ -f race-done ] && exit 0\ntouch race-done\ngit update-ref refs/heads/main {b_commit}"
        ),
    );
    let (opts, slept) = recording();
    let out = commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[granted("2026/a", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap();
    let CommitOutcome::Pushed {
        attempts, entries, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(attempts, 2);
    assert_eq!(slept.lock().unwrap().len(), 1);
    assert!(slept.lock().unwrap()[0] <= opts.base_backoff);
    assert_eq!(entries[0].seq, 2);
    let ledger = w.ledger("main");
    assert_eq!(
        requests(&ledger),
        [
            (Event::Granted, "2026/b".into()),
            (Event::Granted, "2026/a".into())
        ]
    );
    assert_eq!(ledger[1].prev, ledger[0].hash);
}

#[test]
fn endless_races_give_up_after_the_bound_and_say_so() {
    let w = World::new();
    let a = w.clone("a");
    // Every push finds that someone else just moved `main`.
    w.hook(
        "update",
        "new=$(git commit-tree main^{tree} -p main -m other)\ngit update-ref refs/heads/main $new",
    );
    let (mut opts, slept) = recording();
    opts.max_attempts = 3;
    let err = commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[granted("2026/a", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap_err();
    assert!(
        matches!(err, GitError::Exhausted { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lost the race 3 times"), "{err}");
    let slept = slept.lock().unwrap();
    assert_eq!(slept.len(), 2);
    assert!(slept[1] <= opts.base_backoff * 2);
}

#[test]
fn a_refusing_remote_is_not_retried() {
    let w = World::new();
    let a = w.clone("a");
    w.hook("pre-receive", "echo 'protected branch' >&2\nexit 1");
    let (opts, slept) = recording();
    let err = commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[granted("2026/a", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::PushRefused(_)), "{err}");
    assert!(slept.lock().unwrap().is_empty());
}

#[test]
fn a_tampered_remote_ledger_is_never_built_upon() {
    let w = World::new();
    let a = w.clone("a");
    let opts = CasOptions::default();
    commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[
            granted("2026/x", t("2026-11-27T09:00:00Z")),
            granted("2026/y", t("2026-11-27T09:00:00Z")),
        ],
        &opts,
    )
    .unwrap();
    let b = w.clone("b");
    let text = std::fs::read_to_string(b.join(LEDGER)).unwrap();
    std::fs::write(b.join(LEDGER), text.replace("2026/y", "2026/z")).unwrap();
    git(&b, &["commit", "-qam", "edit the ledger"]);
    git(&b, &["push", "-q", "origin", "HEAD:main"]);
    let err = commit_entries(
        &a,
        "origin",
        "main",
        LEDGER,
        &[granted("2026/w", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("main:audit/ledger.jsonl:2: hash mismatch"),
        "{err}"
    );
}

/// The racers' shared entry: every run revokes the same expired grant.
fn shared_revoke() -> NewEntry {
    revoked("2026/shared", t("2026-11-27T11:01:00Z"))
}

fn racer_entries(racer: &str) -> Vec<NewEntry> {
    let now = t("2026-11-27T09:00:00Z");
    vec![
        granted(&format!("2026/{racer}-1"), now),
        granted(&format!("2026/{racer}-2"), now),
        shared_revoke(),
    ]
}

/// The racers' options: the real schedule, but no wall-clock sleep. The bound the race test
/// checks does not rest on the waits (each lost push means another racer's push won), so the
/// racers may retry at once.
fn fast_retries() -> CasOptions {
    CasOptions {
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        sleeper: Arc::new(|_| {}),
        ..CasOptions::default()
    }
}

fn assert_converged(ledger: &[Entry], racers: &[&str]) {
    let mut got = requests(ledger);
    got.sort();
    let mut want: Vec<(Event, String)> = racers
        .iter()
        .flat_map(|r| {
            [
                (Event::Granted, format!("2026/{r}-1")),
                (Event::Granted, format!("2026/{r}-2")),
            ]
        })
        .chain([(Event::Revoked, "2026/shared".into())])
        .collect();
    want.sort();
    assert_eq!(got, want, "every event exactly once");
}

#[test]
fn four_processes_racing_lose_nothing_and_duplicate_nothing() {
    let w = World::new();
    let racers = ["p1", "p2", "p3", "p4"];
    let children: Vec<_> = racers
        .iter()
        .map(|r| {
            let clone = w.clone(r);
            child(&clone, "race", r).spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Each run pushes once, so it can lose at most to the three others.
        let stdout = String::from_utf8_lossy(&out.stdout);
        // (libtest may print `test child_entry ... ` on the same line first.)
        let attempts: u32 = stdout
            .lines()
            .find_map(|l| l.split("attempts=").nth(1))
            .expect("every racer pushes")
            .trim()
            .parse()
            .unwrap();
        assert!(attempts <= 4, "{stdout}");
    }
    assert_converged(&w.ledger("main"), &racers);
}

#[test]
fn threads_racing_in_one_clone_lose_nothing() {
    let w = World::new();
    let a = w.clone("a");
    let racers = ["t1", "t2", "t3"];
    std::thread::scope(|s| {
        for r in racers {
            let a = &a;
            s.spawn(move || {
                commit_entries(
                    a,
                    "origin",
                    "main",
                    LEDGER,
                    &racer_entries(r),
                    &fast_retries(),
                )
                .unwrap();
            });
        }
    });
    assert_converged(&w.ledger("main"), &racers);
    assert_eq!(git(&a, &["for-each-ref", "refs/kv-jit"]), "");
}

#[test]
fn a_run_killed_before_or_after_its_push_converges_on_rerun() {
    let w = World::new();
    let repo = w.clone("k");
    // Killed after its effects, before the push: nothing recorded yet; the re-run records it.
    kill_when_marked(&repo, "before-push");
    assert!(git(&w.origin(), &["ls-tree", "main", LEDGER]).is_empty());
    run_to_end(&repo);
    assert_converged(&w.ledger("main"), &["k"]);
    // Killed after its push, before it could exit: the re-run finds everything recorded.
    kill_when_marked(&repo, "after-push");
    run_to_end(&repo);
    assert_converged(&w.ledger("main"), &["k"]);
}

#[test]
fn runs_killed_at_random_points_of_the_commit_converge() {
    let w = World::new();
    let repo = w.clone("k");
    for delay_ms in [0, 5, 15, 30, 60, 120] {
        let mut c = child(&repo, "plain", "k").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }
    run_to_end(&repo);
    assert_converged(&w.ledger("main"), &["k"]);
    let text = git(&w.origin(), &["show", &format!("main:{LEDGER}")]);
    assert_eq!(
        text.lines().count(),
        3,
        "{}",
        w.ledger("main").iter().map(to_line).collect::<String>()
    );
}

fn kill_when_marked(repo: &Path, mode: &str) {
    let marker = repo.join(format!("../{mode}.marker"));
    let _ = std::fs::remove_file(&marker);
    let mut c = child(repo, mode, "k").spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "child never reached {mode}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    c.kill().unwrap(); // SIGKILL
    c.wait().unwrap();
}

fn run_to_end(repo: &Path) {
    let out = child(repo, "plain", "k").output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// This test binary, running only [`child_entry`], as a separate process.
fn child(repo: &Path, mode: &str, racer: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("KV_JIT_CAS_CHILD", mode)
        .env("KV_JIT_CAS_REPO", repo)
        .env("KV_JIT_CAS_RACER", racer)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// The child's body: a no-op unless `KV_JIT_CAS_CHILD` is set. Modes: `race` and `plain`
/// commit once; `before-push` marks and hangs after its "effects"; `after-push` marks and hangs
/// after pushing. The parent SIGKILLs the hanging ones.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var("KV_JIT_CAS_CHILD") else {
        return;
    };
    isolate();
    let repo = PathBuf::from(std::env::var("KV_JIT_CAS_REPO").unwrap());
    let racer = std::env::var("KV_JIT_CAS_RACER").unwrap();
    let hang = |name: &str| -> ! {
        std::fs::write(repo.join(format!("../{name}.marker")), "").unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    // The Azure effects would happen here; they are idempotent, so a re-run simply redoes them.
    let entries = racer_entries(&racer);
    if mode == "before-push" {
        hang("before-push");
    }
    let out = commit_entries(&repo, "origin", "main", LEDGER, &entries, &fast_retries()).unwrap();
    if let CommitOutcome::Pushed { attempts, .. } = out {
        let _ = std::io::Write::write_all(
            &mut std::io::stdout(),
            format!("attempts={attempts}\n").as_bytes(),
        );
    }
    if mode == "after-push" {
        hang("after-push");
    }
}

#[test]
fn the_remote_may_be_a_path_instead_of_a_name() {
    let w = World::new();
    let a = w.clone("a");
    let origin = w.origin();
    let out = commit_entries(
        &a,
        origin.to_str().unwrap(),
        "main",
        LEDGER,
        &[granted("2026/x", t("2026-11-27T09:00:00Z"))],
        &CasOptions::default(),
    )
    .unwrap();
    assert!(
        matches!(out, CommitOutcome::Pushed { attempts: 1, .. }),
        "{out:?}"
    );
    assert_eq!(w.ledger("main").len(), 1);
}

/// A fake HTTP remote on loopback that records each request's headers and answers 500.
fn recording_http_server() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/repo.git", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        // Bounded: git makes one or two requests before it gives up on a 500.
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, seen)
}

#[test]
fn the_token_reaches_an_http_remote_only_as_a_header_from_the_environment() {
    let w = World::new();
    let a = w.clone("a");
    let (url, seen) = recording_http_server();
    let origin = url.trim_end_matches("repo.git");
    // A header persisted by actions/checkout must not be sent alongside ours.
    git(
        &a,
        &[
            "config",
            &format!("http.{origin}.extraheader"),
            "AUTHORIZATION: basic T0xE",
        ],
    );
    let opts = CasOptions {
        token: Some(kv_jit_effects::git::Token::new("ghs_verysecret")),
        ..CasOptions::default()
    };
    let err = commit_entries(
        &a,
        &url,
        "main",
        LEDGER,
        &[granted("2026/x", t("2026-11-27T09:00:00Z"))],
        &opts,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("ghs_verysecret"), "{err}");
    let requests = seen.lock().unwrap().join("\n---\n");
    // base64("x-access-token:ghs_verysecret")
    let ours = "eC1hY2Nlc3MtdG9rZW46Z2hzX3ZlcnlzZWNyZXQ=";
    let auth: Vec<&str> = requests
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .collect();
    assert!(!auth.is_empty(), "{requests}");
    assert!(
        auth.iter().all(|l| l.trim_end().ends_with(ours)),
        "{requests}"
    );
    // Nothing was written to the repository's configuration.
    let config = std::fs::read_to_string(a.join(".git/config")).unwrap();
    assert!(!config.contains("verysecret") && !config.contains(ours));
}
