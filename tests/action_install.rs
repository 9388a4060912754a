//! The GitHub Action's scripts, run as the action runs them (bash, everything through the
//! environment), against a fake release on a loopback HTTP server and a stub `cargo`:
//! `action/install.sh` installs an archive only when its SHA-256 is the one committed in
//! `action/checksums.txt`, refuses (installing nothing) when it is not, and builds the action's
//! own source with `cargo build --release --locked` when no archive is listed or it cannot be
//! downloaded. `action/run.sh` passes `args` one per line, keeps kv-jit's exit code and writes
//! the grant/revoke counts to `$GITHUB_OUTPUT`, also with the real binary against the emulators.
#![cfg(target_os = "linux")]

mod support;
#[path = "support/world.rs"]
mod world;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use support::{Run, T0, root};
use world::{REQUEST_ID, World};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => panic!("no release target for {other}"),
    }
}

fn archive_name(version: &str) -> String {
    format!("kv-jit-{version}-{}.tar.gz", target())
}

fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_exe(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs one of the action's scripts with a clean environment (nothing of the machine's
/// `GITHUB_*`, `RUNNER_*`, `KV_JIT_*` … leaks in), `PATH` led by `path_first`.
fn script(name: &str, args: &[&str], dir: &Path, path_first: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("action").join(name))
        .args(args)
        .current_dir(dir);
    for (k, _) in std::env::vars() {
        if [
            "GITHUB_", "RUNNER_", "ACTIONS_", "AZURE_", "GH_", "KV_JIT_", "CARGO",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    let path = format!(
        "{}:{}",
        path_first.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path);
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("bash runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A fake release server: serves the files under a folder, logs every path asked for.
struct Release {
    url: String,
    dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

async fn release_server(dir: PathBuf) -> Release {
    use axum::http::{StatusCode, Uri};
    let log = Arc::new(Mutex::new(Vec::new()));
    let (files, seen) = (dir.clone(), log.clone());
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (files, seen) = (files.clone(), seen.clone());
        async move {
            let path = uri.path().to_owned();
            seen.lock().unwrap().push(path.clone());
            let rel = path.trim_start_matches('/');
            if rel.split('/').any(|c| c == ".." || c.is_empty()) {
                return Err(StatusCode::BAD_REQUEST);
            }
            std::fs::read(files.join(rel)).map_err(|_| StatusCode::NOT_FOUND)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Release {
        url: format!("http://127.0.0.1:{port}/download"),
        dir,
        log,
    }
}

/// Everything one install needs: an action checkout (the real scripts, a Cargo.toml of
/// `version`, the given checksums), a release folder, a stub cargo, install and cache folders.
struct Setup {
    tmp: tempfile::TempDir,
    action: PathBuf,
    stubs: PathBuf,
    release: Release,
}

impl Setup {
    async fn new(own_version: &str) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let action = tmp.path().join("action-checkout");
        std::fs::create_dir_all(action.join("action")).unwrap();
        for f in ["install.sh", "run.sh"] {
            std::fs::copy(root().join("action").join(f), action.join("action").join(f)).unwrap();
        }
        std::fs::write(
            action.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"{own_version}\"\nedition = \"2024\"\n\n[package]\nname = \"kv-jit\"\nversion.workspace = true\n"
            ),
        )
        .unwrap();
        std::fs::write(action.join("Cargo.lock"), "# stub\n").unwrap();
        write_exe(&action.join("src/main.rs"), "fn main() {}\n");
        std::fs::write(action.join("action/checksums.txt"), "# none yet\n").unwrap();

        // The stub cargo records how it was called and "builds" a kv-jit of the own version.
        let stubs = tmp.path().join("stubs");
        write_exe(
            &stubs.join("cargo"),
            &format!(
                "#!/usr/bin/env bash\nset -eu\nprintf '%s\\n' \"$PWD\" \"$@\" >> \"{log}\"\nmkdir -p \"$CARGO_TARGET_DIR/release\"\nprintf '#!/bin/sh\\necho \"kv-jit {own_version}\"\\n' > \"$CARGO_TARGET_DIR/release/kv-jit\"\nchmod +x \"$CARGO_TARGET_DIR/release/kv-jit\"\n",
                log = tmp.path().join("cargo.log").display()
            ),
        );

        let release_dir = tmp.path().join("releases");
        std::fs::create_dir_all(&release_dir).unwrap();
        let release = release_server(release_dir).await;
        Setup {
            tmp,
            action,
            stubs,
            release,
        }
    }

    /// Publishes a release archive of a fake kv-jit that reports `reports`; returns its sum.
    fn publish(&self, version: &str, reports: &str) -> String {
        let name = format!("kv-jit-{version}-{}", target());
        let stage = self.tmp.path().join("stage");
        write_exe(
            &stage.join(&name).join("kv-jit"),
            &format!("#!/bin/sh\necho \"{reports}\"\n"),
        );
        let dir = self
            .release
            .dir
            .join("download")
            .join(format!("v{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join(format!("{name}.tar.gz"));
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&stage)
            .arg("-czf")
            .arg(&archive)
            .arg(&name)
            .status()
            .unwrap();
        assert!(ok.success());
        sha256_file(&archive)
    }

    fn commit_sums(&self, lines: &str) {
        std::fs::write(
            self.action.join("action/checksums.txt"),
            format!("# committed sums\n\n{lines}"),
        )
        .unwrap();
    }

    fn install_dir(&self) -> PathBuf {
        self.tmp.path().join("install")
    }

    fn cache_dir(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("github-output")).unwrap_or_default()
    }

    fn cargo_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.tmp.path().join("cargo.log"))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn requests(&self) -> Vec<String> {
        self.release.log.lock().unwrap().clone()
    }

    /// Runs install.sh (`mode`: install or plan) off the runtime that serves the release.
    async fn run(&self, mode: &str, version: &str, extra: &[(&str, &str)]) -> Run {
        let env: Vec<(String, String)> = [
            ("KV_JIT_VERSION", version.to_owned()),
            ("KV_JIT_ACTION_PATH", self.action.display().to_string()),
            ("KV_JIT_DOWNLOAD_URL", self.release.url.clone()),
            (
                "KV_JIT_INSTALL_DIR",
                self.install_dir().display().to_string(),
            ),
            ("KV_JIT_CACHE_DIR", self.cache_dir().display().to_string()),
            ("RUNNER_TEMP", self.tmp.path().display().to_string()),
            (
                "GITHUB_OUTPUT",
                self.tmp.path().join("github-output").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
        let (dir, stubs, mode) = (
            self.tmp.path().to_owned(),
            self.stubs.clone(),
            mode.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            script("install.sh", &[&mode], &dir, &stubs, &env)
        })
        .await
        .unwrap()
    }
}

fn installed_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_a_release_archive_whose_sum_is_committed() {
    let s = Setup::new(VERSION).await;
    // The fake release reports exactly what the real binary does (`--version` names the commit).
    let real = installed_version(Path::new(env!("CARGO_BIN_EXE_kv-jit")));
    assert!(
        real.starts_with(&format!("kv-jit {VERSION} (commit ")),
        "{real}"
    );
    let sum = s.publish(VERSION, &real);
    s.commit_sums(&format!("{sum}  {}\n", archive_name(VERSION)));

    let plan = s.run("plan", VERSION, &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(
        plan.stdout,
        format!(
            "mode=download\nurl={}/v{VERSION}/{}\n",
            s.release.url,
            archive_name(VERSION)
        )
    );

    // `v` in front is accepted, as in a tag.
    let run = s.run("install", &format!("v{VERSION}"), &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let bin = s.install_dir().join("kv-jit");
    assert!(
        run.stdout.contains(&format!("path={}", bin.display())),
        "{}",
        run.stdout
    );
    assert!(
        s.outputs().contains(&format!("path={}\n", bin.display())),
        "{}",
        s.outputs()
    );
    assert_eq!(installed_version(&bin), real);
    assert!(
        run.stderr.contains("matches action/checksums.txt"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.requests(),
        [format!("/download/v{VERSION}/{}", archive_name(VERSION))]
    );
    assert!(
        s.cargo_calls().is_empty(),
        "no build: {:?}",
        s.cargo_calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_come_from_the_actions_own_repository_releases_by_default() {
    let s = Setup::new(VERSION).await;
    s.commit_sums(&format!("{}  {}\n", "b".repeat(64), archive_name(VERSION)));
    let github = |repo: &str| {
        format!(
            "url=https://github.com/{repo}/releases/download/v{VERSION}/{}\n",
            archive_name(VERSION)
        )
    };
    // The runner's folder of a downloaded action names its repository.
    let downloaded = s.tmp.path().join("_actions/acme/kv-jit/0123abc");
    std::fs::create_dir_all(downloaded.join("action")).unwrap();
    for f in ["Cargo.toml", "action/checksums.txt"] {
        std::fs::copy(s.action.join(f), downloaded.join(f)).unwrap();
    }
    let downloaded = downloaded.display().to_string();
    let cases: [(&[(&str, &str)], String); 3] = [
        (
            &[
                ("KV_JIT_RELEASE_REPOSITORY", "contoso/kv-jit"),
                ("GITHUB_REPOSITORY", "acme/access"),
            ],
            github("contoso/kv-jit"),
        ),
        (
            &[
                ("KV_JIT_ACTION_PATH", &downloaded),
                ("GITHUB_REPOSITORY", "acme/access"),
            ],
            github("acme/kv-jit"),
        ),
        (
            &[("GITHUB_REPOSITORY", "acme/kv-jit-fork")],
            github("acme/kv-jit-fork"),
        ),
    ];
    for (env, want) in cases {
        let mut env = env.to_vec();
        env.push(("KV_JIT_DOWNLOAD_URL", ""));
        let plan = s.run("plan", VERSION, &env).await;
        assert_eq!(plan.code, 0, "{env:?}: {}", plan.stderr);
        assert!(plan.stdout.ends_with(&want), "{env:?}: {}", plan.stdout);
    }
    let bad = s
        .run(
            "plan",
            VERSION,
            &[
                ("KV_JIT_DOWNLOAD_URL", ""),
                ("KV_JIT_RELEASE_REPOSITORY", "a/b/../c"),
            ],
        )
        .await;
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(
        bad.stderr.contains("no release repository"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_checksum_refuses_and_installs_nothing() {
    let s = Setup::new(VERSION).await;
    let sum = s.publish(VERSION, &format!("kv-jit {VERSION}"));
    let committed = "0".repeat(64);
    s.commit_sums(&format!("{committed}  {}\n", archive_name(VERSION)));

    let run = s.run("install", VERSION, &[]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "::error title=kv-jit install::checksum mismatch for {}",
            archive_name(VERSION)
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("expected {committed}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("got {sum}")), "{}", run.stderr);
    assert!(!s.install_dir().join("kv-jit").exists());
    assert!(!s.outputs().contains("path="), "{}", s.outputs());
    // A mismatch is never papered over by a build.
    assert!(s.cargo_calls().is_empty(), "{:?}", s.cargo_calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_committed_sum_it_builds_the_actions_own_source_locked_and_caches_it() {
    let s = Setup::new(VERSION).await;
    // Even a published archive is not used without a committed sum.
    s.publish(VERSION, &format!("kv-jit {VERSION}"));

    let plan = s.run("plan", VERSION, &[]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.starts_with("mode=build\n"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains(&format!("cache-dir={}\n", s.cache_dir().display())),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("key=kv-jit-{VERSION}-Linux-")),
        "{}",
        plan.stdout
    );

    let run = s.run("install", VERSION, &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let calls = s.cargo_calls();
    let manifest = s.action.join("Cargo.toml");
    let expected = [
        s.action.display().to_string(),
        "build".into(),
        "--release".into(),
        "--locked".into(),
        "--manifest-path".into(),
        manifest.display().to_string(),
        "--bin".into(),
        "kv-jit".into(),
    ];
    assert_eq!(calls, expected, "cargo ran at the action path, --locked");
    assert!(
        s.requests().is_empty(),
        "nothing downloaded: {:?}",
        s.requests()
    );
    let bin = s.install_dir().join("kv-jit");
    assert_eq!(installed_version(&bin), format!("kv-jit {VERSION}"));
    assert!(s.cache_dir().join("kv-jit").exists());

    // The next run with the same cache (restored by actions/cache) does not build again.
    std::fs::remove_file(&bin).unwrap();
    let again = s.run("install", VERSION, &[]).await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains("using the cached from-source build"),
        "{}",
        again.stderr
    );
    assert_eq!(s.cargo_calls().len(), expected.len(), "cargo ran once");
    assert_eq!(installed_version(&bin), format!("kv-jit {VERSION}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_archive_that_is_not_published_falls_back_to_the_source_build() {
    let s = Setup::new(VERSION).await;
    s.commit_sums(&format!("{}  {}\n", "a".repeat(64), archive_name(VERSION)));

    let run = s.run("install", VERSION, &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("::warning title=kv-jit install::could not download"),
        "{}",
        run.stderr
    );
    assert_eq!(s.requests().len(), 1);
    assert!(
        s.cargo_calls().contains(&"--locked".to_owned()),
        "{:?}",
        s.cargo_calls()
    );
    assert_eq!(
        installed_version(&s.install_dir().join("kv-jit")),
        format!("kv-jit {VERSION}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_version_without_a_sum_is_refused_rather_than_built_as_the_wrong_one() {
    let s = Setup::new(VERSION).await;
    let run = s.run("install", "9.9.9", &[]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "no release archive of kv-jit 9.9.9 for {} is listed in action/checksums.txt, and this action's own source is version {VERSION}",
            target()
        )),
        "{}",
        run.stderr
    );
    assert!(s.cargo_calls().is_empty());
    assert!(!s.install_dir().join("kv-jit").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_whose_binary_reports_another_version_is_not_installed() {
    for reports in [
        "kv-jit 0.0.1".to_owned(),
        format!("kv-jit {VERSION}1 (commit 0123456789ab)"),
        format!("kv-jit {VERSION}-rc1"),
    ] {
        let s = Setup::new(VERSION).await;
        let sum = s.publish(VERSION, &reports);
        s.commit_sums(&format!("{sum}  {}\n", archive_name(VERSION)));
        let run = s.run("install", VERSION, &[]).await;
        assert_eq!(run.code, 1, "{reports}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&format!("reports '{reports}'")),
            "{}",
            run.stderr
        );
        assert!(!s.install_dir().join("kv-jit").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_versions_and_urls_are_refused_before_any_request() {
    let s = Setup::new(VERSION).await;
    let sum = s.publish(VERSION, &format!("kv-jit {VERSION}"));
    s.commit_sums(&format!("{sum}  {}\n", archive_name(VERSION)));
    for bad in [
        "",
        "latest",
        "1.0",
        "0.1.0/../../x",
        "0.1.0; rm -rf /",
        "0.1.0\n--x",
    ] {
        let run = s.run("install", bad, &[]).await;
        assert_eq!(run.code, 1, "{bad:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("is not a version like 0.1.0"),
            "{bad:?}: {}",
            run.stderr
        );
    }
    for url in [
        "http://example.com/download",
        "ftp://127.0.0.1/x",
        "file:///etc",
        "https://host/a b",
    ] {
        let run = s
            .run("install", VERSION, &[("KV_JIT_DOWNLOAD_URL", url)])
            .await;
        assert_eq!(run.code, 1, "{url}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("is not https://"),
            "{url}: {}",
            run.stderr
        );
    }
    // The same listing twice would be ambiguous.
    s.commit_sums(&format!(
        "{sum}  {a}\n{sum}  {a}\n",
        a = archive_name(VERSION)
    ));
    let run = s.run("install", VERSION, &[]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("listed more than once"),
        "{}",
        run.stderr
    );
    assert!(s.requests().is_empty(), "{:?}", s.requests());
    assert!(s.cargo_calls().is_empty());
}

// ---------------------------------------------------------------------------------------------
// action/run.sh

/// A stub kv-jit that records its arguments (NUL-separated) and prints a canned report.
fn stub_kv_jit(dir: &Path, report: &str, code: i32) -> PathBuf {
    let bin = dir.join("stub-kv-jit");
    std::fs::write(dir.join("report.json"), report).unwrap();
    write_exe(
        &bin,
        &format!(
            "#!/usr/bin/env bash\nprintf '%s\\0' \"$@\" > \"{args}\"\ncat \"{report}\"\nexit {code}\n",
            args = dir.join("args").display(),
            report = dir.join("report.json").display()
        ),
    );
    bin
}

fn recorded_args(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("args"))
        .unwrap_or_default()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect()
}

fn run_sh(dir: &Path, bin: &Path, command: &str, args: &str, extra: &[(&str, &str)]) -> Run {
    let output = dir.join("github-output");
    let bin = bin.display().to_string();
    let output = output.display().to_string();
    let mut env = vec![
        ("KV_JIT_BIN", bin.as_str()),
        ("KV_JIT_COMMAND", command),
        ("KV_JIT_ARGS", args),
        ("GITHUB_OUTPUT", output.as_str()),
    ];
    env.extend_from_slice(extra);
    script("run.sh", &[], dir, dir, &env)
}

const REPORT: &str = r#"[
  {"event": "granted", "request": "2026/a", "reason": null, "error": null},
  {"event": "granted", "request": "2026/b", "reason": null, "error": null},
  {"event": "revoked", "request": "2026/c", "reason": "expired", "error": null},
  {"event": "grant_failed", "request": "2026/d", "reason": null, "error": "throttled"},
  {"event": "revoke_failed", "request": "2026/e", "reason": null, "error": "throttled"},
  {"event": "refused", "request": "2026/f", "reason": null, "error": "no approval"},
  {"event": "drift", "request": "2026/g", "reason": null, "error": null}
]
"#;

#[test]
fn run_sh_counts_the_report_keeps_the_exit_code_and_passes_each_line_as_one_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stub_kv_jit(tmp.path(), REPORT, 1);
    let args =
        "  --request=2026/alice api key  \n\n--reason=it's $(done); `really` *\r\n--concurrency\n4";
    let run = run_sh(tmp.path(), &bin, "revoke", args, &[]);
    assert_eq!(run.code, 1, "kv-jit's exit code: {}", run.stderr);
    assert_eq!(
        recorded_args(tmp.path()),
        [
            "revoke",
            "--format",
            "json",
            "--request=2026/alice api key",
            "--reason=it's $(done); `really` *",
            "--concurrency",
            "4"
        ]
    );
    assert!(
        run.stdout.contains("\"grant_failed\""),
        "the report is printed: {}",
        run.stdout
    );
    let out = std::fs::read_to_string(tmp.path().join("github-output")).unwrap();
    assert_eq!(out, "granted=2\nrevoked=1\nfailed=2\nrefused=1\n");
}

#[test]
fn run_sh_refuses_bad_commands_and_a_format_flag_it_would_override() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stub_kv_jit(tmp.path(), "[]\n", 0);
    for command in ["", "emulator", "init", "demo", "grant; id", "--help"] {
        let run = run_sh(tmp.path(), &bin, command, "", &[]);
        assert_eq!(run.code, 2, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("::error title=kv-jit::command must be one of"),
            "{}",
            run.stderr
        );
    }
    for args in ["--format\ntext", "--format=github"] {
        let run = run_sh(tmp.path(), &bin, "grant", args, &[]);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr.contains("leave --format out of args"),
            "{}",
            run.stderr
        );
    }
    assert!(recorded_args(tmp.path()).is_empty(), "kv-jit never ran");
}

#[test]
fn run_sh_runs_other_commands_as_is_without_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stub_kv_jit(tmp.path(), "diagnostics\n", 1);
    let run = run_sh(
        tmp.path(),
        &bin,
        "validate",
        "--offline\nrequests/a b.yaml",
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        recorded_args(tmp.path()),
        ["validate", "--offline", "requests/a b.yaml"]
    );
    assert_eq!(run.stdout, "diagnostics\n");
    assert!(!tmp.path().join("github-output").exists());
}

#[test]
fn run_sh_sets_no_counts_when_kv_jit_printed_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = stub_kv_jit(tmp.path(), "", 2);
    let run = run_sh(tmp.path(), &bin, "grant", "", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("kv-jit printed no report (exit 2)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("github-output")).unwrap_or_default(),
        ""
    );
}

/// The real binary, through run.sh, against the emulators: the counts are the ledger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sh_with_the_real_binary_reports_a_grant_then_its_revoke() {
    let w = World::new(&world::request("alice@contoso.com", "2h")).await;
    let out_dir = tempfile::tempdir().unwrap();
    let run = |command: &'static str, now: &'static str| {
        let now_at = chrono::DateTime::parse_from_rfc3339(now).unwrap();
        w.azure.core().clock.set(now_at.with_timezone(&chrono::Utc));
        let env = w.env();
        let (work, out) = (w.work.clone(), out_dir.path().join(command));
        async move {
            tokio::task::spawn_blocking(move || {
                let bin = PathBuf::from(env!("CARGO_BIN_EXE_kv-jit"));
                let mut env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let out_s = out.display().to_string();
                env.push(("GITHUB_OUTPUT", &out_s));
                let r = script_in(&work, &bin, command, &format!("--now\n{now}"), &env);
                (r, std::fs::read_to_string(&out).unwrap_or_default())
            })
            .await
            .unwrap()
        }
    };
    let (grant, outputs) = run("grant", T0).await;
    assert_eq!(grant.code, 0, "{}{}", grant.stdout, grant.stderr);
    let report: serde_json::Value = serde_json::from_str(&grant.stdout).expect("one JSON report");
    assert_eq!(report[0]["event"], "granted");
    assert_eq!(report[0]["request"], REQUEST_ID);
    assert_eq!(outputs, "granted=1\nrevoked=0\nfailed=0\nrefused=0\n");

    let (revoke, outputs) = run("revoke", "2026-11-27T12:00:00Z").await;
    assert_eq!(revoke.code, 0, "{}{}", revoke.stdout, revoke.stderr);
    assert_eq!(outputs, "granted=0\nrevoked=1\nfailed=0\nrefused=0\n");
    assert_eq!(w.azure_calls("DELETE", "/roleAssignments/"), 1);
}

fn script_in(dir: &Path, bin: &Path, command: &str, args: &str, extra: &[(&str, &str)]) -> Run {
    let bin = bin.display().to_string();
    let mut env = vec![
        ("KV_JIT_BIN", bin.as_str()),
        ("KV_JIT_COMMAND", command),
        ("KV_JIT_ARGS", args),
    ];
    env.extend_from_slice(extra);
    script("run.sh", &[], dir, dir, &env)
}
