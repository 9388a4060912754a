//! Compare-and-swap commits of the ledger with the git CLI.
//!
//! One attempt: fetch the ledger branch's tip into a private ref, read the ledger at that tip,
//! verify it, drop the new entries it already holds, append the rest (new `seq`, new `prev`),
//! build the commit with plumbing (`hash-object`, a temporary index, `commit-tree`) and
//! `git push <remote> <commit>:refs/heads/<branch>` without force. The push is the
//! compare-and-swap: git accepts it only if the remote tip is still an ancestor of our commit,
//! i.e. still the tip we built on. When someone pushed first the push is rejected, and the next
//! attempt rebuilds the append on the newer tip.
//!
//! Nothing touches the user's work tree, index, HEAD or branches; the ledger branch may be the
//! checked-out branch or a separate one, and may not exist yet (the first commit then has no
//! parent and holds only the ledger).
//!
//! The same commands work against GitHub, GHES and a local bare repository: no API is used.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::DateTime;

use kv_jit_core::ledger::{self, Entry, Event, NewEntry, Tip, VerifyError};

use crate::backoff::{Backoff, Jitter, random_unit};
pub use crate::token::Token;

// The planner's streaming read of the ledger (a child module: it uses `Git` and the history
// rules below).
mod ledger_stream;
pub use ledger_stream::read_ledger_state;

/// Attempts before giving up. Each rejected push means another writer's push succeeded in
/// between our fetch and our push (git's ref update is atomic), so with k concurrent kv-jit
/// runs the last one needs at most k attempts. Runs are serialised per workflow by concurrency
/// groups, so k is small (a grant run, the scheduled revoker, a manual revoke: about 3); the
/// rest covers humans merging to the same branch meanwhile. 8 attempts with the backoff below
/// wait at most 0.25+0.5+1+2+4+8+8 ≈ 24 s in all, well inside a workflow's patience, and a
/// final failure is safe: the next run converges (idempotent Azure writes, de-duplicated
/// entries).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Sleeps between attempts (blocking: the CAS loop runs git subprocesses synchronously); tests
/// inject one that records instead of sleeping.
pub type Sleeper = Arc<dyn Fn(Duration) + Send + Sync>;

/// How to commit and push.
#[derive(Clone)]
pub struct CasOptions {
    pub max_attempts: u32,
    /// First backoff; doubled per attempt up to `max_backoff`, with full jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub author_name: String,
    pub author_email: String,
    /// For HTTPS remotes: sent as basic auth (`x-access-token`) through git's environment
    /// config, for `fetch` and `push` only. Never in argv, on disk or in an error.
    pub token: Option<Token>,
    pub sleeper: Sleeper,
}

impl Default for CasOptions {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            author_name: "kv-jit".into(),
            author_email: "kv-jit@users.noreply.github.com".into(),
            token: None,
            sleeper: Arc::new(crate::testing::blocking_sleep),
        }
    }
}

impl CasOptions {
    /// Full jitter: uniform in [0, min(max_backoff, base_backoff·2^(n−1))], so racers that lost
    /// together spread out.
    pub fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.base_backoff,
            max: self.max_backoff,
            jitter: Jitter::Full,
        }
    }
}

impl std::fmt::Debug for CasOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasOptions")
            .field("max_attempts", &self.max_attempts)
            .field("base_backoff", &self.base_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("author_name", &self.author_name)
            .field("author_email", &self.author_email)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The entries were appended and pushed.
    Pushed {
        commit: String,
        /// The entries as written, with their seq and hashes: those of `new` that the ledger
        /// did not already record.
        entries: Vec<Entry>,
        /// 1 when the first push won.
        attempts: u32,
    },
    /// The ledger at the remote tip already records every entry (a re-run after a crash, or
    /// a push that succeeded although we did not hear so). Nothing was pushed.
    AlreadyRecorded { tip: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// A git command failed; `stderr` has any token removed.
    #[error("`git {command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    /// The ledger on the remote branch does not verify; kv-jit never appends to a broken chain.
    #[error("the ledger on the remote branch does not verify, refusing to append: {0}")]
    Ledger(#[from] VerifyError),
    /// The remote refused the push for a reason other than a lost race (branch protection, a
    /// hook, permissions): retrying cannot help.
    #[error("the remote refused the ledger push: {0}")]
    PushRefused(String),
    /// The ledger's history shows entries that are no longer there: it was edited, truncated or
    /// deleted, so it cannot be trusted to say what is already done.
    #[error(
        "the ledger lost entries: commit {commit} removed lines from it (it had {entries_before} entries before) and today's ledger does not start with them; restore it (git revert {commit}) before kv-jit grants again"
    )]
    LedgerLost {
        commit: String,
        /// Entries (or bytes, where only the size was read) of the version it lost.
        entries_before: String,
    },
    #[error(
        "the ledger push lost the race {attempts} times in a row; nothing was recorded, the next run will retry: {last}"
    )]
    Exhausted { attempts: u32, last: String },
}

/// Appends `new` to the ledger file `ledger_path` on `branch` of `remote` (a remote name or a
/// URL) as seen from the repository at `repo`, with compare-and-swap retries.
pub fn commit_entries(
    repo: &Path,
    remote: &str,
    branch: &str,
    ledger_path: &str,
    new: &[NewEntry],
    opts: &CasOptions,
) -> Result<CommitOutcome, GitError> {
    let git = Git::new(repo, remote, opts.token.clone())?;
    let max_attempts = opts.max_attempts.max(1);
    let mut last_rejection = String::new();
    for attempt in 1..=max_attempts {
        if attempt > 1 {
            (opts.sleeper)(opts.schedule().delay(attempt - 1, random_unit()));
        }
        match try_once(&git, branch, ledger_path, new, opts)? {
            Attempt::Pushed { commit, entries } => {
                return Ok(CommitOutcome::Pushed {
                    commit,
                    entries,
                    attempts: attempt,
                });
            }
            Attempt::AlreadyRecorded { tip } => return Ok(CommitOutcome::AlreadyRecorded { tip }),
            Attempt::LostRace(why) => last_rejection = why,
        }
    }
    Err(GitError::Exhausted {
        attempts: max_attempts,
        last: last_rejection,
    })
}

/// The verified ledger at the tip of `branch` on `remote`, fetched now; empty when the file
/// does not exist yet, `None` when the branch does not. The planner reads this, never a
/// possibly stale working tree.
///
/// The ledger is also checked against its own git history, the history kv-jit can see: kv-jit
/// only ever appends, so every earlier version of the file must be a prefix of today's. A commit
/// that removed lines (an edit, a truncation, a deletion) is [`GitError::LedgerLost`] unless
/// the lines it removed are back. A rewritten history (force push) is out of sight: protect the
/// ledger branch against force pushes and deletion.
pub fn read_ledger(
    repo: &Path,
    remote: &str,
    branch: &str,
    ledger_path: &str,
    token: Option<Token>,
) -> Result<Option<Vec<Entry>>, GitError> {
    let git = Git::new(repo, remote, token)?;
    let tmp_ref = TempRef::new(&git);
    let Some(tip) = git.fetch(branch, &tmp_ref.name)? else {
        return Ok(None);
    };
    let bytes = git.read_file(&tip, ledger_path)?;
    check_ledger_history(&git, &tip, ledger_path, &bytes)?;
    Ok(Some(crate::ledger::parse_ledger(ledger_path, &bytes)?))
}

/// Runs git in the local repository at `repo` (no remote, no token) with the same controlled
/// environment as [`Git`]: none of the variables that would point it elsewhere, untranslated
/// messages, never a prompt. The one way the engine reads local history.
pub fn local(repo: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).args(args);
    for v in SCRUBBED_ENV {
        c.env_remove(v);
    }
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
}

/// Whether the repository at `repo` is a shallow clone (its history is cut off, so the commit
/// that brought a request file may look like the boundary). Unknown counts as shallow.
pub fn is_shallow(repo: &Path) -> bool {
    local(repo, &["rev-parse", "--is-shallow-repository"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() != "false")
        .unwrap_or(true)
}

/// The branch checked out at `repo` (`None` when detached).
pub fn current_branch(repo: &Path) -> Option<String> {
    let out = local(repo, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|b| !b.is_empty())
}

/// How many of the newest versions of the ledger are compared byte for byte with today's.
/// Older ones are checked by size and line boundary only: reading every version in full costs
/// the square of the ledger's size (a diff per commit took 6 s for 5,000 commits).
const LEDGER_VERSIONS_COMPARED: usize = 32;

/// And beyond those, as many more as fit in this many bytes read.
const LEDGER_BYTES_COMPARED: usize = 64 << 20;

/// Every version of `path` in the first-parent history up to `tip` must be a prefix of
/// `current` (kv-jit only appends). Cheap for all versions: the size must not exceed today's
/// and must end on one of today's line boundaries (a blob listing, no diffs); exact for the
/// newest [`LEDGER_VERSIONS_COMPARED`]: their bytes must be today's first bytes. The first
/// violation names the commit that lost entries (the change right after the last version that
/// is no longer a prefix).
fn check_ledger_history(git: &Git, tip: &str, path: &str, current: &[u8]) -> Result<(), GitError> {
    let versions = ledger_versions(git, tip, path)?;
    let blobs: Vec<&str> = versions.iter().filter_map(|(_, b)| b.as_deref()).collect();
    let sizes = git.blob_sizes(&blobs)?;
    let mut boundaries: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    boundaries.insert(0);
    boundaries.extend(
        current
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1),
    );
    boundaries.insert(current.len());
    let recent = recent_versions(&blobs, &sizes);
    let contents = git.blobs(&recent)?;
    first_loss(tip, &versions, &sizes, &contents, |blob, size| {
        size <= current.len()
            && boundaries.contains(&size)
            && contents
                .get(blob)
                .is_none_or(|bytes| current.starts_with(bytes))
    })
}

/// Newest first: the first version that is not a prefix of today's file (`is_prefix(blob,
/// size)`); the culprit is the change after it.
fn first_loss(
    tip: &str,
    versions: &[(String, Option<String>)],
    sizes: &std::collections::HashMap<&str, usize>,
    contents: &std::collections::HashMap<&str, Vec<u8>>,
    is_prefix: impl Fn(&str, usize) -> bool,
) -> Result<(), GitError> {
    for (i, (_, blob)) in versions.iter().enumerate() {
        let Some(blob) = blob else { continue };
        let size = sizes.get(blob.as_str()).copied().unwrap_or(usize::MAX);
        if !is_prefix(blob, size) {
            let culprit = versions[..i]
                .last()
                .map_or_else(|| tip.to_owned(), |(c, _)| c.clone());
            let entries_before = contents.get(blob.as_str()).map_or_else(
                || format!("{size} bytes"),
                |b| b.iter().filter(|&&c| c == b'\n').count().to_string(),
            );
            return Err(GitError::LedgerLost {
                commit: culprit,
                entries_before,
            });
        }
    }
    Ok(())
}

/// The versions of the ledger file in the first-parent history up to `tip`, newest first:
/// (commit, blob after it); a deletion leaves no blob.
fn ledger_versions(
    git: &Git,
    tip: &str,
    path: &str,
) -> Result<Vec<(String, Option<String>)>, GitError> {
    let log = git.run(&[
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "--format=%x1e%H",
        tip,
        "--",
        path,
    ])?;
    let mut versions: Vec<(String, Option<String>)> = Vec::new();
    for record in log.split('\x1e').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines().filter(|l| !l.trim().is_empty());
        let commit = lines.next().unwrap_or_default().trim().to_owned();
        // `:100644 100644 <old> <new> M\tpath`
        let blob = lines.find(|l| l.starts_with(':')).and_then(|l| {
            let new = l.split_whitespace().nth(3)?;
            (!new.bytes().all(|b| b == b'0')).then(|| new.to_owned())
        });
        versions.push((commit, blob));
    }
    Ok(versions)
}

/// The newest versions compared in full: at least [`LEDGER_VERSIONS_COMPARED`], more while
/// they fit the byte budget (a small ledger is compared in every version).
fn recent_versions<'a>(
    blobs: &[&'a str],
    sizes: &std::collections::HashMap<&str, usize>,
) -> Vec<&'a str> {
    let mut budget = LEDGER_BYTES_COMPARED;
    blobs
        .iter()
        .enumerate()
        .take_while(|(i, b)| {
            let size = sizes.get(*b).copied().unwrap_or(0);
            let fits = size <= budget;
            budget = budget.saturating_sub(size);
            *i < LEDGER_VERSIONS_COMPARED || fits
        })
        .map(|(_, b)| *b)
        .collect()
}

/// What the default branch's history says about request files: for each path under
/// `requests/`, the first-parent commit that last added or changed it (its merge).
#[derive(Debug, Clone, Default)]
pub struct RequestHistory {
    pub last_change: std::collections::BTreeMap<String, kv_jit_core::plan::Merge>,
}

/// Reads [`RequestHistory`] for `HEAD` of the repository at `repo` in one `git log` pass.
pub fn request_history(repo: &Path) -> Result<RequestHistory, String> {
    let out = local(
        repo,
        &[
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--no-renames",
            "--name-status",
            "-z",
            "--format=%x1e%H %ct",
            "HEAD",
            "--",
            "requests/",
        ],
    )
    .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A repository without commits has no history to read.
        if stderr.contains("does not have any commits") || stderr.contains("unknown revision") {
            return Ok(RequestHistory::default());
        }
        return Err(format!("`git log` of requests/ failed: {}", stderr.trim()));
    }
    Ok(parse_request_log(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `git log -z --name-status --format=%x1e%H %ct` output, newest commit first.
fn parse_request_log(text: &str) -> RequestHistory {
    let mut h = RequestHistory::default();
    for record in text.split('\x1e').filter(|r| !r.is_empty()) {
        // With -z the header ends in NUL (then a newline before the file list).
        let (header, rest) = record.split_once(['\0', '\n']).unwrap_or((record, ""));
        let rest = rest.trim_start_matches(['\n', '\0']);
        let Some((commit, time)) = header.trim().split_once(' ') else {
            continue;
        };
        let Some(at) = time
            .parse::<i64>()
            .ok()
            .and_then(|t| DateTime::from_timestamp(t, 0))
        else {
            continue;
        };
        let mut fields = rest.split('\0');
        while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
            let status = status.trim();
            if status.is_empty() {
                break;
            }
            if status.starts_with('D') {
                continue;
            }
            h.last_change
                .entry(path.to_owned())
                .or_insert_with(|| kv_jit_core::plan::Merge {
                    commit: commit.to_owned(),
                    at,
                });
        }
    }
    h
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn the_newest_change_of_each_request_file_is_its_merge() {
        let log = "\x1eccc 300\0\nA\0requests/b.yaml\0D\0requests/gone.yaml\0\x1ebbb 200\0\nM\0requests/a.yaml\0\x1eaaa 100\0\nA\0requests/a.yaml\0A\0requests/b.yaml\0";
        let h = parse_request_log(log);
        let at = |p: &str| {
            h.last_change
                .get(p)
                .map(|m| (m.commit.as_str(), m.at.timestamp()))
        };
        assert_eq!(at("requests/a.yaml"), Some(("bbb", 200)));
        assert_eq!(at("requests/b.yaml"), Some(("ccc", 300)));
        assert_eq!(at("requests/gone.yaml"), None);
    }
}

enum Attempt {
    Pushed { commit: String, entries: Vec<Entry> },
    AlreadyRecorded { tip: Option<String> },
    LostRace(String),
}

fn try_once(
    git: &Git,
    branch: &str,
    ledger_path: &str,
    new: &[NewEntry],
    opts: &CasOptions,
) -> Result<Attempt, GitError> {
    let tmp_ref = TempRef::new(git);
    let base = git.fetch(branch, &tmp_ref.name)?;
    let old = match &base {
        Some(tip) => git.read_file(tip, ledger_path)?,
        None => Vec::new(),
    };
    let existing = crate::ledger::parse_ledger(&format!("{branch}:{ledger_path}"), &old)?;
    let fresh = ledger::dedupe(&existing, new.to_vec());
    if fresh.is_empty() {
        return Ok(Attempt::AlreadyRecorded { tip: base });
    }
    let entries = ledger::append(&Tip::of(&existing), fresh);
    drop(existing);

    let mut content = old;
    for e in &entries {
        content.extend_from_slice(ledger::to_line(e).as_bytes());
    }
    let blob = git.run_with_input(&["hash-object", "-w", "--no-filters", "--stdin"], &content)?;
    let tree = git.tree_with_file(base.as_deref(), ledger_path, &blob)?;
    crate::testing::hit("before-ledger-commit");
    let mut args = vec!["commit-tree", tree.as_str()];
    if let Some(parent) = &base {
        args.extend(["-p", parent.as_str()]);
    }
    let commit = git.run_as_author(&args, &commit_message(&entries), opts)?;

    crate::testing::hit("before-ledger-push");
    match git.push(&commit, branch)? {
        Push::Accepted => {
            crate::testing::hit("after-push-accepted");
            Ok(Attempt::Pushed { commit, entries })
        }
        Push::LostRace(why) => Ok(Attempt::LostRace(why)),
    }
}

/// `audit: granted 2026/alice-api-key` for one entry, `audit: 2 granted, 1 revoked` for more,
/// and a body listing every entry.
fn commit_message(entries: &[Entry]) -> String {
    let describe = |e: &Entry| {
        format!(
            "{} {}",
            e.event.as_str(),
            e.request
                .as_deref()
                .or(e.assignment.as_deref())
                .unwrap_or("-")
        )
    };
    let subject = match entries {
        [one] => format!("audit: {}", describe(one)),
        _ => {
            let mut counts: Vec<(Event, usize)> = Vec::new();
            for e in entries {
                match counts.iter_mut().find(|(ev, _)| *ev == e.event) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((e.event, 1)),
                }
            }
            let parts: Vec<String> = counts
                .iter()
                .map(|(ev, n)| format!("{n} {}", ev.as_str()))
                .collect();
            format!("audit: {}", parts.join(", "))
        }
    };
    let mut msg = subject;
    msg.push_str("\n\n");
    for e in entries {
        msg.push_str(&format!("#{} {}\n", e.seq, describe(e)));
    }
    msg
}

enum Push {
    Accepted,
    LostRace(String),
}

/// Runs git in one repository with a controlled environment.
struct Git {
    repo: PathBuf,
    git_dir: PathBuf,
    remote: String,
    token: Option<Token>,
    /// The remote's `scheme://host/` when it is HTTP(S): the token is scoped to it.
    http_origin: Option<String>,
}

/// Variables that would point git at another repository, index or object store than the one
/// we name, or make it print what it sends (headers) to stderr.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_CURL_VERBOSE",
];

impl Git {
    fn new(repo: &Path, remote: &str, token: Option<Token>) -> Result<Self, GitError> {
        let mut git = Self {
            repo: repo.to_owned(),
            git_dir: PathBuf::new(),
            remote: remote.to_owned(),
            token,
            http_origin: None,
        };
        git.git_dir = PathBuf::from(git.run(&["rev-parse", "--absolute-git-dir"])?);
        // A remote name resolves to its URL; anything else (a URL or a path) is its own.
        let url = git
            .run(&["remote", "get-url", remote])
            .unwrap_or_else(|_| remote.to_owned());
        git.http_origin = http_origin(&url);
        Ok(git)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(&self.repo).args(args);
        for v in SCRUBBED_ENV {
            c.env_remove(v);
        }
        // Never wait for a password on a terminal nobody watches.
        c.env("GIT_TERMINAL_PROMPT", "0");
        // Untranslated messages: push rejections and a missing branch are recognised by text.
        c.env("LC_ALL", "C");
        c.env("GIT_TRACE_REDACT", "1");
        c.stdin(Stdio::null());
        c
    }

    /// A command that talks to the remote: the only place the token goes, as environment
    /// config that resets any persisted `extraheader` (e.g. actions/checkout's) and adds ours.
    fn remote_command(&self, args: &[&str]) -> Command {
        let mut c = self.command(args);
        if let (Some(token), Some(origin)) = (&self.token, &self.http_origin) {
            let key = format!("http.{origin}.extraheader");
            let header = format!(
                "AUTHORIZATION: basic {}",
                base64(format!("x-access-token:{}", token.secret()).as_bytes())
            );
            // Keep any configuration the caller passes the same way; ours comes after it.
            let first: usize = std::env::var("GIT_CONFIG_COUNT")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let ours = [
                ("http.extraheader", String::new()),
                (key.as_str(), String::new()),
                (key.as_str(), header),
            ];
            for (i, (k, v)) in ours.iter().enumerate() {
                c.env(format!("GIT_CONFIG_KEY_{}", first + i), k)
                    .env(format!("GIT_CONFIG_VALUE_{}", first + i), v);
            }
            c.env("GIT_CONFIG_COUNT", (first + ours.len()).to_string());
        }
        c
    }

    fn output(&self, mut c: Command) -> Result<Output, GitError> {
        c.output().map_err(GitError::Spawn)
    }

    fn fail(&self, args: &[&str], out: &Output) -> GitError {
        GitError::Command {
            command: args.join(" "),
            stderr: self.redact(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Belt and braces: git does not echo credentials, but nothing we report may hold one.
    fn redact(&self, s: &str) -> String {
        let s = s.trim().to_owned();
        match &self.token {
            Some(t) if !t.is_empty() => s.replace(t.secret(), "***"),
            _ => s,
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.output(self.command(args))?;
        if !out.status.success() {
            return Err(self.fail(args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn run_with_input(&self, args: &[&str], input: &[u8]) -> Result<String, GitError> {
        self.run_piped(self.command(args), args, input)
    }

    fn run_piped(&self, mut c: Command, args: &[&str], input: &[u8]) -> Result<String, GitError> {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(GitError::Spawn)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Write on a thread so a large input cannot deadlock against a full stdout pipe.
        let out = std::thread::scope(|s| {
            s.spawn(move || stdin.write_all(input));
            child.wait_with_output()
        })
        .map_err(GitError::Spawn)?;
        if !out.status.success() {
            return Err(self.fail(args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn run_as_author(
        &self,
        args: &[&str],
        message: &str,
        opts: &CasOptions,
    ) -> Result<String, GitError> {
        let mut c = self.command(args);
        c.env("GIT_AUTHOR_NAME", &opts.author_name)
            .env("GIT_AUTHOR_EMAIL", &opts.author_email)
            .env("GIT_COMMITTER_NAME", &opts.author_name)
            .env("GIT_COMMITTER_EMAIL", &opts.author_email);
        self.run_piped(c, args, message.as_bytes())
    }

    /// Fetches `branch` into `into`; `None` when the remote has no such branch yet.
    fn fetch(&self, branch: &str, into: &str) -> Result<Option<String>, GitError> {
        let refspec = format!("+refs/heads/{branch}:{into}");
        // `--refmap=` leaves the remote-tracking branches alone: only our temporary ref moves,
        // so runs that share a clone (or a run's git outliving it after a kill) never race on
        // `refs/remotes/origin/*` ("cannot lock ref … is at X but expected Y").
        let args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--refmap=",
            self.remote.as_str(),
            refspec.as_str(),
        ];
        let out = self.output(self.remote_command(&args))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("couldn't find remote ref") {
                return Ok(None);
            }
            return Err(self.fail(&args, &out));
        }
        Ok(Some(self.run(&["rev-parse", "--verify", into])?))
    }

    /// The bytes of `path` at `commit`; empty when the file does not exist there.
    fn read_file(&self, commit: &str, path: &str) -> Result<Vec<u8>, GitError> {
        let Some(object) = self.blob_at(commit, path)? else {
            return Ok(Vec::new());
        };
        let args = ["cat-file", "blob", object.as_str()];
        let out = self.output(self.command(&args))?;
        if !out.status.success() {
            return Err(self.fail(&args, &out));
        }
        Ok(out.stdout)
    }

    /// The blob of `path` at `commit`; `None` when the file does not exist there.
    fn blob_at(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        let listing = self.run(&["ls-tree", "-z", commit, "--", path])?;
        // `<mode> <type> <object>\t<path>`
        Ok(listing.split(['\t', '\0']).next().and_then(|meta| {
            let mut parts = meta.split(' ');
            (parts.next().is_some() && parts.next() == Some("blob"))
                .then(|| parts.next().map(str::to_owned))
                .flatten()
        }))
    }

    /// The size of each blob, by one `git cat-file --batch-check`.
    fn blob_sizes<'a>(
        &self,
        blobs: &[&'a str],
    ) -> Result<std::collections::HashMap<&'a str, usize>, GitError> {
        if blobs.is_empty() {
            return Ok(Default::default());
        }
        let input = blobs.join("\n") + "\n";
        let args = ["cat-file", "--batch-check"];
        let out = self.run_with_input(&args, input.as_bytes())?;
        let mut sizes = std::collections::HashMap::new();
        for (blob, line) in blobs.iter().zip(out.lines()) {
            // `<oid> blob <size>` (or `<oid> missing`)
            if let Some(size) = line.split(' ').nth(2).and_then(|s| s.parse().ok()) {
                sizes.insert(*blob, size);
            }
        }
        Ok(sizes)
    }

    /// The bytes of each blob, by one `git cat-file --batch`.
    fn blobs<'a>(
        &self,
        blobs: &[&'a str],
    ) -> Result<std::collections::HashMap<&'a str, Vec<u8>>, GitError> {
        let mut out = std::collections::HashMap::new();
        if blobs.is_empty() {
            return Ok(out);
        }
        let input = blobs.join("\n") + "\n";
        let args = ["cat-file", "--batch"];
        let mut c = self.command(&args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(GitError::Spawn)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let output = std::thread::scope(|s| {
            s.spawn(move || stdin.write_all(input.as_bytes()));
            child.wait_with_output()
        })
        .map_err(GitError::Spawn)?;
        if !output.status.success() {
            return Err(self.fail(&args, &output));
        }
        // `<oid> blob <size>\n<bytes>\n` per blob.
        let mut rest = output.stdout.as_slice();
        for blob in blobs {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                break;
            };
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            rest = &rest[nl + 1..];
            let Some(size) = header
                .split(' ')
                .nth(2)
                .and_then(|s| s.parse::<usize>().ok())
            else {
                continue;
            };
            let Some(bytes) = rest.get(..size) else { break };
            out.insert(*blob, bytes.to_vec());
            rest = rest.get(size + 1..).unwrap_or_default();
        }
        Ok(out)
    }

    /// The tree of `base` (or an empty tree) with `path` set to `blob`, built in a temporary
    /// index so the user's index is untouched.
    fn tree_with_file(
        &self,
        base: Option<&str>,
        path: &str,
        blob: &str,
    ) -> Result<String, GitError> {
        let index = TempIndex::new(&self.git_dir);
        let with_index = |args: &[&str]| -> Result<String, GitError> {
            let mut c = self.command(args);
            c.env("GIT_INDEX_FILE", &index.0);
            let out = self.output(c)?;
            if !out.status.success() {
                return Err(self.fail(args, &out));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        match base {
            Some(b) => with_index(&["read-tree", b])?,
            None => with_index(&["read-tree", "--empty"])?,
        };
        let cacheinfo = format!("100644,{blob},{path}");
        with_index(&["update-index", "--add", "--cacheinfo", &cacheinfo])?;
        with_index(&["write-tree"])
    }

    fn push(&self, commit: &str, branch: &str) -> Result<Push, GitError> {
        let refspec = format!("{commit}:refs/heads/{branch}");
        let args = [
            "push",
            "--porcelain",
            "--no-verify",
            self.remote.as_str(),
            refspec.as_str(),
        ];
        let out = self.output(self.remote_command(&args))?;
        if out.status.success() {
            return Ok(Push::Accepted);
        }
        let text = self.redact(&format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        // Porcelain: `!\t<src>:<dst>\t[rejected] (fetch first)` when someone pushed first;
        // a concurrent update on the server shows as a ref lock failure.
        const RACE: &[&str] = &[
            "(fetch first)",
            "(non-fast-forward)",
            "cannot lock ref",
            "failed to update ref",
            "incorrect old value",
        ];
        if RACE.iter().any(|m| text.contains(m)) {
            return Ok(Push::LostRace(text));
        }
        if text.contains("[remote rejected]") {
            return Err(GitError::PushRefused(text));
        }
        Err(GitError::Command {
            command: args.join(" "),
            stderr: text,
        })
    }
}

/// `https://host[:port]/` of an HTTP(S) URL, without user info; `None` for other transports.
fn http_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    Some(format!("{}://{host}/", scheme.to_ascii_lowercase()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `<pid>-<random>`, different for every call: the process id separates concurrent runs, a
/// per-process counter hashed with a freshly keyed `RandomState` separates the calls of one run
/// and a run from a killed earlier one with the same pid. No clock needed.
fn unique_suffix() -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    format!("{}-{:016x}", std::process::id(), h.finish())
}

/// A private ref holding the fetched tip for one attempt, deleted afterwards, so concurrent
/// runs in one clone never share a ref (or FETCH_HEAD).
struct TempRef<'a> {
    git: &'a Git,
    name: String,
}

impl<'a> TempRef<'a> {
    fn new(git: &'a Git) -> Self {
        Self {
            git,
            name: format!("refs/kv-jit/cas/{}", unique_suffix()),
        }
    }
}

impl Drop for TempRef<'_> {
    fn drop(&mut self) {
        let _ = self.git.run(&["update-ref", "-d", &self.name]);
    }
}

/// A temporary index file inside the git directory, removed afterwards.
struct TempIndex(PathBuf);

impl TempIndex {
    fn new(git_dir: &Path) -> Self {
        Self(git_dir.join(format!("kv-jit-index-{}", unique_suffix())))
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("x-access-token:ghs_abc", "eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYw=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn token_is_scoped_to_http_origins_only() {
        assert_eq!(
            http_origin("https://x-access-token:t@github.example.com:8443/o/r.git").as_deref(),
            Some("https://github.example.com:8443/")
        );
        assert_eq!(http_origin("git@github.com:o/r.git"), None);
        assert_eq!(http_origin("/tmp/origin.git"), None);
        assert_eq!(http_origin("ssh://git@github.com/o/r"), None);
    }

    #[test]
    fn token_debug_is_redacted() {
        let opts = CasOptions {
            token: Some(Token::new("ghs_supersecret")),
            ..CasOptions::default()
        };
        assert!(!format!("{opts:?}").contains("supersecret"));
    }

    #[test]
    fn token_travels_in_env_not_argv() {
        let git = Git {
            repo: PathBuf::from("."),
            git_dir: PathBuf::from(".git"),
            remote: "origin".into(),
            token: Some(Token::new("ghs_supersecret")),
            http_origin: Some("https://github.com/".into()),
        };
        let c = git.remote_command(&["push", "origin", "x:y"]);
        let argv: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            argv.iter()
                .all(|a| !a.contains("supersecret") && !a.contains("Z2hz"))
        );
        let header = c
            .get_envs()
            .find(|(k, _)| *k == "GIT_CONFIG_VALUE_2")
            .and_then(|(_, v)| v)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            header,
            format!(
                "AUTHORIZATION: basic {}",
                base64(b"x-access-token:ghs_supersecret")
            )
        );
        // Local commands never carry it.
        let local = git.command(&["write-tree"]);
        assert!(local.get_envs().all(|(k, _)| k != "GIT_CONFIG_VALUE_2"));
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let opts = CasOptions::default();
        let schedule = opts.schedule();
        for retry in 1..=10 {
            let cap = opts
                .base_backoff
                .saturating_mul(1 << (retry - 1))
                .min(opts.max_backoff);
            assert!(schedule.delay(retry, random_unit()) <= cap);
            assert_eq!(schedule.delay(retry, 0.0), Duration::ZERO);
            assert_eq!(schedule.delay(retry, 0.5), cap / 2);
        }
        // The documented worst case: 0.25 + 0.5 + 1 + 2 + 4 + 8 + 8 s over 8 attempts.
        let worst: Duration = (1..DEFAULT_MAX_ATTEMPTS).map(|n| schedule.step(n)).sum();
        assert_eq!(worst, Duration::from_millis(23_750));
    }

    #[test]
    fn unique_suffixes_differ_without_a_clock() {
        let a = unique_suffix();
        let b = unique_suffix();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{}-", std::process::id())), "{a}");
    }
}
