//! The ledger read for the planner: verified, checked against its own history and reduced to
//! the planner's state while git streams it, so neither the file nor its entries are ever held
//! whole. [`super::read_ledger`] (the engine's read) holds both; at a million entries of about
//! a kilobyte each that is gigabytes, while this read keeps a few pieces of the file and the
//! state.
//!
//! The history rules are [`super::check_ledger_history`]'s, applied to the bytes as they pass:
//! each earlier version's size must end on one of today's line boundaries, and the newest
//! versions (other than today's own blob, trivially a prefix of itself) must equal today's
//! first bytes. The verdict is the same, and a lost history is reported before a broken chain,
//! as `read_ledger` reports it.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use kv_jit_core::plan::LedgerState;
use kv_jit_core::plan::state::Interest;

use super::{
    Git, GitError, TempRef, Token, check_ledger_history, first_loss, ledger_versions,
    recent_versions,
};

/// [`super::read_ledger`] reduced to the planner's state in one streaming pass
/// ([`crate::ledger::verify_state`]): the same errors for the same ledger and history, and
/// `None` when the branch does not exist.
pub fn read_ledger_state(
    repo: &Path,
    remote: &str,
    branch: &str,
    ledger_path: &str,
    token: Option<Token>,
    interest: Interest<'_>,
) -> Result<Option<LedgerState>, GitError> {
    let git = Git::new(repo, remote, token)?;
    let tmp_ref = TempRef::new(&git);
    let Some(tip) = git.fetch(branch, &tmp_ref.name)? else {
        return Ok(None);
    };
    let Some(object) = git.blob_at(&tip, ledger_path)? else {
        // No file at the tip: an empty ledger, which every earlier version must still fit.
        check_ledger_history(&git, &tip, ledger_path, &[])?;
        return Ok(Some(LedgerState::default()));
    };
    let versions = ledger_versions(&git, &tip, ledger_path)?;
    let blobs: Vec<&str> = versions.iter().filter_map(|(_, b)| b.as_deref()).collect();
    let sizes = git.blob_sizes(&[blobs.as_slice(), &[object.as_str()]].concat())?;
    // Today's own blob is trivially a prefix of itself: never read twice.
    let recent: Vec<&str> = recent_versions(&blobs, &sizes)
        .into_iter()
        .filter(|b| *b != object)
        .collect();
    let contents = git.blobs(&recent)?;
    let mut boundaries: Vec<usize> = sizes.values().copied().filter(|&s| s > 0).collect();
    boundaries.sort_unstable();
    boundaries.dedup();

    let args = ["cat-file", "blob", object.as_str()];
    let mut c = git.command(&args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().map_err(GitError::Spawn)?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut watch = Watch {
        inner: stdout,
        pos: 0,
        boundaries: &boundaries,
        next_boundary: 0,
        off_boundary: BTreeSet::new(),
        prefixes: contents.iter().map(|(b, c)| (*b, c.as_slice())).collect(),
        differ: BTreeSet::new(),
    };
    let verified = crate::ledger::verify_state(ledger_path, &mut watch, interest);
    if verified.is_err() {
        // Read the rest anyway: the history verdict comes first and needs every byte.
        let _ = std::io::copy(&mut watch, &mut std::io::sink());
    }
    let len = watch.pos;
    let (off_boundary, differ) = (watch.off_boundary, watch.differ);
    let out = child.wait_with_output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(git.fail(&args, &out));
    }
    first_loss(&tip, &versions, &sizes, &contents, |blob, size| {
        size <= len
            && (size == len || !off_boundary.contains(&size))
            && (blob == object || !contents.contains_key(blob) || !differ.contains(blob))
    })?;
    Ok(Some(verified?.1))
}

/// Passes the ledger's bytes through, noting which earlier versions' sizes do not end on a
/// line boundary and which earlier versions' bytes differ from today's first bytes.
struct Watch<'a, R> {
    inner: R,
    /// Bytes passed so far.
    pos: usize,
    /// The sizes of every version (ascending, none 0): the byte before each must be `\n`.
    boundaries: &'a [usize],
    next_boundary: usize,
    off_boundary: BTreeSet<usize>,
    /// The newest versions' bytes, compared as today's pass.
    prefixes: HashMap<&'a str, &'a [u8]>,
    differ: BTreeSet<&'a str>,
}

impl<R: Read> Read for Watch<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (start, end) = (self.pos, self.pos + n);
        let got = &buf[..n];
        while let Some(&size) = self.boundaries.get(self.next_boundary) {
            if size > end {
                break;
            }
            if got[size - 1 - start] != b'\n' {
                self.off_boundary.insert(size);
            }
            self.next_boundary += 1;
        }
        for (blob, old) in &self.prefixes {
            if start < old.len() && !self.differ.contains(blob) {
                let upto = old.len().min(end);
                if old[start..upto] != got[..upto - start] {
                    self.differ.insert(blob);
                }
            }
        }
        self.pos = end;
        Ok(n)
    }
}
