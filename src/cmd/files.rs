//! The request files: found under the given paths, read with a size cap, and checked by the
//! core (parse, fields, policy). Shared by `validate`, the PR check and the engine commands.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use kv_jit_core::config::Config;
use kv_jit_core::diag::{Code, DiagExt, Diagnostic, Pos, Severity, Sink};
use kv_jit_core::plan::{Desired, Invalid, Merge};
use kv_jit_core::request::{Request, RequestId, parse_raw};

/// A request file read from disk (or from git), ready for the pure checks.
#[derive(Debug, Clone)]
pub struct RequestFile {
    /// The path as shown in diagnostics, with `/` separators.
    pub path: String,
    /// The request id derived from the path, or why the path makes no valid id.
    pub id: Result<RequestId, String>,
    /// The file's content, or why it could not be read.
    pub bytes: Result<Vec<u8>, ReadProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadProblem {
    /// Over the size cap: refused without being read.
    TooLarge(u64),
    Other(String),
}

/// The outcome of validating a set of files: the valid requests and every diagnostic.
#[derive(Debug, Default)]
pub struct Validation {
    pub requests: Vec<Request>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The pure part: parse and check every file against the config as of `now` (see
/// [`kv_jit_core::policy::check`] for what an absent `now` leaves out).
pub fn check_files(
    files: &[RequestFile],
    config: &Config,
    now: Option<DateTime<Utc>>,
) -> Validation {
    let mut out = Validation::default();
    let mut first_path_of: BTreeMap<RequestId, &str> = BTreeMap::new();
    for file in files {
        let mut sink = Sink::new(file.path.clone());
        let id = match &file.id {
            Ok(id) => {
                if let Some(first) = first_path_of.get(id) {
                    sink.error(
                        Code::DuplicateRequestId,
                        Pos::START,
                        format!("request id `{id}` is also used by {first}"),
                    )
                    .with_help(
                        "ids are paths below requests/ without the extension: rename one file",
                    )
                    .with_note(first, Pos::START, "first used here");
                } else {
                    first_path_of.insert(id.clone(), &file.path);
                }
                Some(id.clone())
            }
            Err(m) => {
                sink.error(Code::InvalidRequestId, Pos::START, m.clone())
                    .with_help("rename the file");
                None
            }
        };
        match &file.bytes {
            Err(ReadProblem::TooLarge(n)) => {
                sink.error(
                    Code::FileTooLarge,
                    Pos::START,
                    format!(
                        "the file is {n} bytes; the limit is {} bytes (64 KiB)",
                        kv_jit_core::yaml::MAX_FILE_BYTES
                    ),
                )
                .with_help("a request file is a few lines; trim it");
            }
            Err(ReadProblem::Other(m)) => {
                sink.error(Code::ReadError, Pos::START, m.clone());
            }
            Ok(bytes) => {
                if let Some(raw) = parse_raw(bytes, &mut sink)
                    && let Some(req) = kv_jit_core::policy::check(&raw, id, config, now, &mut sink)
                {
                    out.requests.push(req);
                }
            }
        }
        // Reading order: a file's problems from top to bottom.
        sink.diags.sort_by_key(Diagnostic::pos);
        out.diagnostics.append(&mut sink.diags);
    }
    out
}

/// Splits checked files into the valid requests (with their file hash and merge) and the
/// invalid ones (with their error lines), in file order. Lookups go through maps built once,
/// so this stays linear in the number of files (a search per file was quadratic).
pub fn split_checked(
    files: &[RequestFile],
    validation: Validation,
    last_change: &BTreeMap<String, Merge>,
) -> (Vec<Desired>, Vec<Invalid>) {
    let mut valid: HashMap<String, Request> = HashMap::with_capacity(validation.requests.len());
    for r in validation.requests {
        // The first request of a path wins, as a search in file order would find.
        valid.entry(r.path.clone()).or_insert(r);
    }
    let mut problems_of: HashMap<&str, Vec<String>> = HashMap::new();
    for d in &validation.diagnostics {
        if d.severity == Severity::Error {
            problems_of
                .entry(d.file.as_str())
                .or_default()
                .push(format!("{}:{}: {} {}", d.line, d.column, d.code, d.message));
        }
    }
    let mut desired = Vec::with_capacity(valid.len());
    let mut invalid = Vec::new();
    for file in files {
        // A file that was not read has no content hash; a fixed stand-in (the SHA-256 of a
        // text naming why) keeps the ledger's `request_sha256` 64 lowercase hex digits, as
        // `audit verify` requires, and still records each such refusal once.
        let sha = match &file.bytes {
            Ok(b) => kv_jit_core::ledger::sha256_hex(b),
            Err(ReadProblem::TooLarge(n)) => {
                kv_jit_core::ledger::sha256_hex(format!("kv-jit:too-large-{n}").as_bytes())
            }
            Err(ReadProblem::Other(_)) => kv_jit_core::ledger::sha256_hex(b"kv-jit:unreadable"),
        };
        match valid.get(&file.path) {
            Some(request) => {
                let merged = last_change.get(&request.path).cloned();
                desired.push(Desired {
                    request: request.clone(),
                    sha256: sha,
                    merged,
                });
            }
            None => {
                if let Ok(id) = &file.id {
                    invalid.push(Invalid {
                        id: id.clone(),
                        path: file.path.clone(),
                        sha256: sha,
                        problems: problems_of
                            .get(file.path.as_str())
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
            }
        }
    }
    (desired, invalid)
}

/// The request id of `path`: the path below `requests/` without the extension. `root` is what
/// was walked: when it is the `requests` folder the id is relative to it; otherwise the first
/// `requests` folder in the path counts (so `requests/team/requests/x.yaml` is
/// `team/requests/x`), else the path relative to `root`.
pub fn request_id(path: &Path, root: &Path) -> Result<RequestId, String> {
    let no_ext = path.with_extension("");
    let names = |p: &Path| -> Vec<String> {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    let rel: Vec<String> =
        if root.file_name().is_some_and(|n| n == "requests") && no_ext.starts_with(root) {
            names(no_ext.strip_prefix(root).expect("checked"))
        } else {
            let parts = names(&no_ext);
            match parts.iter().position(|p| p == "requests") {
                Some(i) if i + 1 < parts.len() => parts[i + 1..].to_vec(),
                _ => {
                    let base = if root.is_dir() {
                        root
                    } else {
                        root.parent().unwrap_or(Path::new(""))
                    };
                    names(no_ext.strip_prefix(base).unwrap_or(&no_ext))
                }
            }
        };
    RequestId::parse(&rel.join("/"))
}

/// Finds request files under `paths`: files as given, folders recursively (`.yaml`, `.yml`).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<RequestFile>, String> {
    let mut files = Vec::new();
    for root in paths {
        let meta = std::fs::symlink_metadata(root).map_err(|e| format!("{}: {e}", show(root)))?;
        if meta.is_dir() {
            walk(root, root, &mut files).map_err(|e| format!("{}: {e}", show(root)))?;
        } else {
            files.push(read(root, root));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<RequestFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let ty = entry.file_type()?;
        let is_request = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if ty.is_dir() {
            walk(&path, root, out)?;
        } else if is_request {
            // A symlink could point a reviewer at one file and kv-jit at another: refused.
            if ty.is_symlink() {
                out.push(RequestFile {
                    path: show(&path),
                    id: request_id(&path, root),
                    bytes: Err(ReadProblem::Other(
                        "request files must be regular files, not symlinks".into(),
                    )),
                });
            } else {
                out.push(read(&path, root));
            }
        }
    }
    Ok(())
}

fn read(path: &Path, root: &Path) -> RequestFile {
    let bytes = read_capped(path);
    RequestFile {
        path: show(path),
        id: request_id(path, root),
        bytes,
    }
}

/// Reads at most one byte past the cap, so a huge file is refused without loading it.
fn read_capped(path: &Path) -> Result<Vec<u8>, ReadProblem> {
    use std::io::Read;
    let other = |e: std::io::Error| ReadProblem::Other(format!("cannot read the file: {e}"));
    let meta = std::fs::symlink_metadata(path).map_err(other)?;
    if meta.file_type().is_symlink() {
        return Err(ReadProblem::Other(
            "request files must be regular files, not symlinks".into(),
        ));
    }
    let f = std::fs::File::open(path).map_err(other)?;
    let mut buf = Vec::new();
    f.take(kv_jit_core::yaml::MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(other)?;
    if buf.len() > kv_jit_core::yaml::MAX_FILE_BYTES {
        return Err(ReadProblem::TooLarge(meta.len().max(buf.len() as u64)));
    }
    Ok(buf)
}

fn show(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_path_below_requests() {
        let id =
            |p: &str, root: &str| request_id(Path::new(p), Path::new(root)).map(|i| i.to_string());
        assert_eq!(id("requests/2026/a.yaml", "requests"), Ok("2026/a".into()));
        assert_eq!(
            id("requests/team/requests/x.yaml", "requests"),
            Ok("team/requests/x".into())
        );
        assert_eq!(
            id(
                "requests/team/requests/x.yaml",
                "requests/team/requests/x.yaml"
            ),
            Ok("team/requests/x".into())
        );
        assert_eq!(id("repo/requests/a.yml", "repo"), Ok("a".into()));
        assert!(id("requests/.hidden.yaml", "requests").is_err());
    }
}
