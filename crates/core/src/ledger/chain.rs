//! The hash chain: canonical bytes, appending, de-duplication and verification.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::borrowed::EntryRef;
use super::entry::{
    Entry, Event, FORMAT_VERSION, MAX_ERROR_CHARS, NewEntry, Window, scrub_error, whole_seconds,
};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const GENESIS_BYTES: [u8; 64] = [b'0'; 64];

/// Every line ends with this member followed by 64 hex digits, `"` and `}`.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex + `"}`.
const HASH_TAIL_LEN: usize = HASH_MEMBER.len() + 64 + 2;

/// The end of a chain: what the next entry builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// `seq` of the last entry; 0 for an empty ledger.
    pub seq: u64,
    /// `hash` of the last entry; [`GENESIS`] for an empty ledger.
    pub hash: String,
}

impl Tip {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }

    /// The tip after `entries` (which must be a verified chain).
    pub fn of(entries: &[Entry]) -> Self {
        entries.last().map_or_else(Self::genesis, |e| Self {
            seq: e.seq,
            hash: e.hash.clone(),
        })
    }
}

/// Appends the entry's canonical form (the line without its `hash` member) to `out`.
pub fn canonical_into(entry: &Entry, out: &mut Vec<u8>) {
    canonical_of(entry, out);
}

/// Serialises `value` (an [`Entry`] or its borrowing mirror) and cuts its `hash` member.
fn canonical_of<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) {
    let start = out.len();
    // Serialising plain structs and strings into a Vec cannot fail.
    serde_json::to_writer(&mut *out, value).expect("entry serialises");
    // `hash` is the last member; cut it (whatever its current value) and close the object.
    // `,"hash":"` cannot occur inside a JSON string, where every `"` is escaped.
    let cut = out[start..]
        .windows(HASH_MEMBER.len())
        .rposition(|w| w == HASH_MEMBER)
        .expect("hash member present");
    out.truncate(start + cut);
    out.push(b'}');
}

/// The SHA-256 of the entry's canonical form, lowercase hex. Ignores `entry.hash`.
pub fn compute_hash(entry: &Entry) -> String {
    let mut buf = Vec::with_capacity(512);
    canonical_into(entry, &mut buf);
    hex(&Sha256::digest(&buf))
        .iter()
        .map(|&b| b as char)
        .collect()
}

/// The entry's line, including its trailing `\n`.
pub fn to_line(entry: &Entry) -> String {
    // Serialisation of a struct made only of strings, integers and enums cannot fail.
    let mut s = serde_json::to_string(entry).expect("entry serialises");
    s.push('\n');
    s
}

/// Gives `new` their places after `tip`: `seq`, `prev`, `hash`, whole-second times, a scrubbed
/// `error`, and `lag_seconds` for `revoked` entries that have a window. Pure: after a lost push
/// race the same `new` is simply appended again on the newer tip.
pub fn append(tip: &Tip, new: Vec<NewEntry>) -> Vec<Entry> {
    let mut prev = tip.hash.clone();
    let mut seq = tip.seq;
    new.into_iter()
        .map(|n| {
            seq += 1;
            let time = whole_seconds(n.time);
            let window = n.window.map(|w| Window {
                start: whole_seconds(w.start),
                expires: whole_seconds(w.expires),
            });
            let lag_seconds = match (n.event, window) {
                (Event::Revoked, Some(w)) => Some((time - w.expires).num_seconds()),
                _ => None,
            };
            let mut e = Entry {
                v: FORMAT_VERSION,
                seq,
                time,
                event: n.event,
                request: n.request,
                request_sha256: n.request_sha256,
                requester: n.requester,
                principal_id: n.principal_id,
                vault: n.vault,
                secret: n.secret,
                scope: n.scope,
                role: n.role,
                assignment: n.assignment,
                window,
                approvals: n.approvals,
                run_url: n.run_url,
                reason: n.reason,
                lag_seconds,
                error: n.error.as_deref().map(scrub_error),
                expiry: n.expiry,
                extends: n.extends,
                actor: n.actor,
                note: n.note.as_deref().map(scrub_error),
                // Only `true` is written: one spelling per entry.
                break_glass: n.break_glass.filter(|b| *b),
                issue: n.issue,
                prev: std::mem::take(&mut prev),
                hash: String::new(),
            };
            e.hash = compute_hash(&e);
            prev = e.hash.clone();
            e
        })
        .collect()
}

/// What makes two entries "the same event", so a re-run never records one twice.
///
/// - `granted`, `drift`, `retrospective`: (event, request, assignment; a retrospective has
///   none, so one per request). A request id is granted at most once
///   for all time, whenever and with whatever window a run computed, so a run that crashed
///   after pushing (or raced another run granting the same request) finds its entry there.
/// - `revoked`: (event, request, assignment, window). The window is copied from the grant, so
///   it is the same in every run that revokes that grant.
/// - `refused`: (event, request, request_sha256). The same file content is refused once, not
///   on every run; an edited file is a new refusal.
/// - `grant_failed`, `revoke_failed`: (event, request, assignment, window, time). Each failed
///   attempt is its own fact; only a replay of the very same attempt (same instant, as when a
///   push is retried) is a duplicate.
///
/// Times and windows are compared at whole seconds, as they are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey {
    event: Event,
    request: Option<String>,
    assignment: Option<String>,
    window: Option<Window>,
    request_sha256: Option<String>,
    time: Option<DateTime<Utc>>,
}

impl DedupeKey {
    #[allow(clippy::too_many_arguments)]
    fn build(
        event: Event,
        request: &Option<String>,
        assignment: &Option<String>,
        window: Option<Window>,
        request_sha256: &Option<String>,
        time: DateTime<Utc>,
    ) -> Self {
        let window = window.map(|w| Window {
            start: whole_seconds(w.start),
            expires: whole_seconds(w.expires),
        });
        let (assignment, window, sha, time) = match event {
            Event::Granted | Event::Drift | Event::Retrospective => {
                (assignment.clone(), None, None, None)
            }
            Event::Revoked => (assignment.clone(), window, None, None),
            Event::Refused => (None, None, request_sha256.clone(), None),
            Event::GrantFailed | Event::RevokeFailed => {
                (assignment.clone(), window, None, Some(whole_seconds(time)))
            }
        };
        Self {
            event,
            request: request.clone(),
            assignment,
            window,
            request_sha256: sha,
            time,
        }
    }

    pub fn of_entry(e: &Entry) -> Self {
        Self::build(
            e.event,
            &e.request,
            &e.assignment,
            e.window,
            &e.request_sha256,
            e.time,
        )
    }

    pub fn of_new(e: &NewEntry) -> Self {
        Self::build(
            e.event,
            &e.request,
            &e.assignment,
            e.window,
            &e.request_sha256,
            e.time,
        )
    }
}

/// Drops the entries of `new` that `existing` already records (by [`DedupeKey`]), and repeats
/// within `new` itself; keeps the order of the rest.
pub fn dedupe(existing: &[Entry], new: Vec<NewEntry>) -> Vec<NewEntry> {
    let mut seen: HashSet<DedupeKey> = existing.iter().map(DedupeKey::of_entry).collect();
    new.into_iter()
        .filter(|n| seen.insert(DedupeKey::of_new(n)))
        .collect()
}

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries (lines).
    pub entries: u64,
    /// The last entry's seq and hash.
    pub tip: Tip,
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line is empty.
    Empty,
    /// The line ends with `\r`: the file was checked out with CRLF line endings.
    CarriageReturn,
    /// The line does not end with a complete `"hash"` member (cut short, or hand-written).
    NoHash,
    /// The line is not a valid entry (serde's message).
    Invalid(String),
    /// The entry is valid but not written in the canonical form.
    NotCanonical,
    /// The recorded hash is not the hash of the line's content: the line was edited.
    HashMismatch { recorded: String, computed: String },
    /// The sequence number is not the previous one + 1: a line was deleted, inserted or moved.
    Seq { found: u64, expected: u64 },
    /// `prev` is not the previous line's hash: a line was deleted, inserted or replaced.
    Prev { found: String, expected: String },
    /// The file's last line has no `\n`: the file was cut short or edited.
    NoFinalNewline,
    /// A member breaks a rule `docs/ledger.md` states for it (the line parses, is canonical and
    /// hashes correctly, but kv-jit never writes it so): `rule` says which.
    Member { member: &'static str, rule: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty line"),
            Problem::CarriageReturn => f.write_str(
                "line ends with a carriage return (CRLF line endings? mark the ledger `-text` in .gitattributes)",
            ),
            Problem::NoHash => f.write_str(
                "line does not end with a `\"hash\"` member: truncated or not written by kv-jit",
            ),
            Problem::Invalid(msg) => write!(f, "not a valid ledger entry: {msg}"),
            Problem::NotCanonical => f.write_str(
                "entry is not in canonical form (key order, spacing or escaping differ from what kv-jit writes)",
            ),
            Problem::HashMismatch { recorded, computed } => write!(
                f,
                "hash mismatch: the line records {recorded} but its content hashes to {computed}; the line was edited"
            ),
            Problem::Seq { found, expected } => write!(
                f,
                "sequence number {found}, expected {expected}: a line was deleted, inserted or reordered"
            ),
            Problem::Prev { found, expected } => write!(
                f,
                "prev {found} does not match the previous line's hash {expected}: a line was deleted, inserted or replaced"
            ),
            Problem::NoFinalNewline => {
                f.write_str("no newline at end of file: the last line was cut short or edited")
            }
            Problem::Member { member, rule } => write!(f, "member `{member}`: {rule}"),
        }
    }
}

/// Why a ledger does not verify: the first bad line and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// `PATH:LINE: problem`, where LINE counts from 1.
    #[error("{path}:{line}: {problem}")]
    Line {
        path: String,
        line: u64,
        problem: Problem,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl VerifyError {
    /// The 1-based number of the first bad line, if the problem is in the content.
    pub fn line(&self) -> Option<u64> {
        match self {
            VerifyError::Line { line, .. } => Some(*line),
            VerifyError::Io { .. } => None,
        }
    }
}

/// Verifies a whole ledger held in memory, in one pass; `name` is used in messages.
pub fn verify_bytes(name: &str, bytes: &[u8]) -> Result<VerifyReport, VerifyError> {
    verify_bytes_with(name, bytes, |b| vec![check_chunk(b)])
}

/// [`verify_bytes`] with the line checks run by `check`, which must return
/// [`check_chunk`] of consecutive pieces of its input cut by [`split_lines`], in order. The
/// work per line (strict parse, canonical re-serialisation, SHA-256) is independent, so a
/// caller can check the pieces on several threads (`kv_jit_effects::ledger` does); the
/// [`Linker`] checks the links between them, and the reported problem is always the one on the
/// lowest line number, as a sequential pass would report.
pub fn verify_bytes_with(
    name: &str,
    bytes: &[u8],
    check: impl FnOnce(&[u8]) -> Vec<ChunkCheck>,
) -> Result<VerifyReport, VerifyError> {
    let mut linker = Linker::new(name);
    linker.absorb(check(bytes))?;
    linker.end_piece(bytes);
    linker.finish()
}

/// Links checked chunks into one chain, in order, and numbers their lines. A streaming
/// verifier feeds it piece after piece ([`Linker::absorb`], [`Linker::end_piece`]), then
/// [`Linker::finish`]es.
pub struct Linker<'a> {
    name: &'a str,
    lines_before: u64,
    tip: Option<(u64, [u8; 64])>,
    last_byte: Option<u8>,
}

impl<'a> Linker<'a> {
    pub fn new(name: &'a str) -> Self {
        Self {
            name,
            lines_before: 0,
            tip: None,
            last_byte: None,
        }
    }

    /// Lines linked so far.
    pub fn lines(&self) -> u64 {
        self.lines_before
    }

    /// Records the end of a piece just absorbed (for the final-newline check).
    pub fn end_piece(&mut self, piece: &[u8]) {
        self.last_byte = piece.last().copied().or(self.last_byte);
    }

    pub fn fail(&self, line: u64, problem: Problem) -> VerifyError {
        VerifyError::Line {
            path: self.name.to_owned(),
            line,
            problem,
        }
    }

    pub fn absorb(&mut self, results: Vec<ChunkCheck>) -> Result<(), VerifyError> {
        for r in results {
            if let Some((first_seq, first_prev)) = &r.first {
                let (expected_seq, expected_prev) = match &self.tip {
                    None => (1, GENESIS_BYTES),
                    Some((seq, hash)) => (seq + 1, *hash),
                };
                if *first_seq != expected_seq {
                    return Err(self.fail(
                        self.lines_before + 1,
                        Problem::Seq {
                            found: *first_seq,
                            expected: expected_seq,
                        },
                    ));
                }
                if first_prev.as_bytes() != expected_prev.as_slice() {
                    return Err(self.fail(
                        self.lines_before + 1,
                        Problem::Prev {
                            found: first_prev.clone(),
                            expected: ascii(&expected_prev),
                        },
                    ));
                }
            }
            if let Some((line, problem)) = r.error {
                return Err(self.fail(self.lines_before + line, problem));
            }
            self.lines_before += r.lines;
            if let Some(last) = r.last {
                self.tip = Some(last);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<VerifyReport, VerifyError> {
        if self.last_byte.is_some_and(|b| b != b'\n') {
            return Err(self.fail(self.lines_before, Problem::NoFinalNewline));
        }
        Ok(VerifyReport {
            entries: self.lines_before,
            tip: self.tip.map_or_else(Tip::genesis, |(seq, hash)| Tip {
                seq,
                hash: ascii(&hash),
            }),
        })
    }
}

/// Verifies `bytes` and returns its entries, for callers that need the state (the engine, the
/// compare-and-swap commit). A ledger that does not verify is never built upon.
pub fn parse_ledger(name: &str, bytes: &[u8]) -> Result<Vec<Entry>, VerifyError> {
    parse_ledger_chunks(name, bytes, |b| vec![parse_chunk(b)])
}

/// [`parse_ledger`] with the line checks run by `check` (see [`verify_bytes_with`]).
pub fn parse_ledger_with(
    name: &str,
    bytes: &[u8],
    check: impl FnOnce(&[u8]) -> Vec<ChunkCheck>,
) -> Result<Vec<Entry>, VerifyError> {
    let report = verify_bytes_with(name, bytes, check)?;
    let mut out = Vec::with_capacity(report.entries as usize);
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        // Verified above, so this cannot fail; map anyway rather than panic.
        let entry = serde_json::from_slice(line).map_err(|e| VerifyError::Line {
            path: name.to_owned(),
            line: i as u64 + 1,
            problem: Problem::Invalid(e.to_string()),
        })?;
        out.push(entry);
    }
    Ok(out)
}

/// [`parse_ledger`] with each chunk verified and parsed in one pass by `check`, which must
/// return [`parse_chunk`] of consecutive pieces of its input cut by [`split_lines`], in order
/// (so the pieces can be parsed on several threads, as `kv_jit_effects::ledger` does): no line
/// is parsed twice.
pub fn parse_ledger_chunks(
    name: &str,
    bytes: &[u8],
    check: impl FnOnce(&[u8]) -> Vec<(ChunkCheck, Vec<Entry>)>,
) -> Result<Vec<Entry>, VerifyError> {
    let mut out = Vec::new();
    verify_bytes_with(name, bytes, |b| {
        check(b)
            .into_iter()
            .map(|(c, entries)| {
                out.extend(entries);
                c
            })
            .collect()
    })?;
    Ok(out)
}

/// [`check_chunk`], also returning the chunk's entries (owned), parsed in the same pass.
pub fn parse_chunk(chunk: &[u8]) -> (ChunkCheck, Vec<Entry>) {
    let mut entries = Vec::new();
    let check = check_chunk_visit(chunk, &mut |line| match line {
        // Its times were checked by the very parse `to_entry` uses.
        Line::Borrowed(e) => entries.push(e.to_entry().expect("verified times parse")),
        Line::Owned(e) => entries.push(e.clone()),
    });
    (check, entries)
}

/// Cuts `bytes` into at most `n` pieces, each ending just after a `\n` (the last may not).
pub fn split_lines(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(n);
    let mut rest = bytes;
    for i in (1..n).rev() {
        let target = rest.len() / (i + 1);
        let Some(cut) = memchr::memchr(b'\n', &rest[target..]) else {
            break;
        };
        let (head, tail) = rest.split_at(target + cut + 1);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    chunks
}

/// What [`check_chunk`] found in one piece, for the [`Linker`].
pub struct ChunkCheck {
    /// Lines fully checked (up to, not including, the failing one).
    lines: u64,
    /// seq and prev of the chunk's first line, to link it to the previous chunk.
    first: Option<(u64, String)>,
    /// seq and hash of the chunk's last good line.
    last: Option<(u64, [u8; 64])>,
    /// 1-based line within the chunk, and what is wrong.
    error: Option<(u64, Problem)>,
}

/// Checks every line of `chunk` and the links between them (pure; any thread).
pub fn check_chunk(chunk: &[u8]) -> ChunkCheck {
    check_chunk_visit(chunk, &mut |_| {})
}

/// One verified line as parsed, handed to a [`check_chunk_visit`] visitor: borrowed from the
/// line on the hot path, owned when a string held an escape sequence.
pub(crate) enum Line<'a> {
    Borrowed(&'a EntryRef<'a>),
    Owned(&'a Entry),
}

/// [`check_chunk`], handing every line that passed its own checks (parse, canonical form,
/// hash) to `visit`, in order, while it is parsed: so state can be derived in the same pass
/// as the verification, without a second parse. Lines after a problem are not visited; the
/// links between lines are checked after their visit, so a caller must discard what it
/// gathered when the chunk (or the chain) reports a problem.
pub(crate) fn check_chunk_visit(chunk: &[u8], visit: &mut dyn FnMut(Line<'_>)) -> ChunkCheck {
    let mut r = ChunkCheck {
        lines: 0,
        first: None,
        last: None,
        error: None,
    };
    let mut canon = Vec::with_capacity(1024);
    let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
    if chunk.is_empty() {
        return r;
    }
    // Valid UTF-8 checked once per chunk (fast, SIMD) spares serde_json checking every string.
    let all: Box<dyn Iterator<Item = (&[u8], Option<&str>)>> = match std::str::from_utf8(body) {
        Ok(text) => Box::new(text.split('\n').map(|l| (l.as_bytes(), Some(l)))),
        Err(_) => Box::new(lines(body).map(|l| (l, None))),
    };
    for (i, (line, text)) in all.enumerate() {
        let n = i as u64 + 1;
        match check_line(line, text, &mut canon, visit) {
            Err(p) => {
                r.error = Some((n, p));
                return r;
            }
            Ok((seq, prev, hash)) => {
                if let Some((last_seq, last_hash)) = &r.last {
                    if seq != last_seq + 1 {
                        r.error = Some((
                            n,
                            Problem::Seq {
                                found: seq,
                                expected: last_seq + 1,
                            },
                        ));
                        return r;
                    }
                    if prev.as_bytes() != last_hash.as_slice() {
                        r.error = Some((
                            n,
                            Problem::Prev {
                                found: prev.into_owned(),
                                expected: ascii(last_hash),
                            },
                        ));
                        return r;
                    }
                } else {
                    r.first = Some((seq, prev.into_owned()));
                }
                r.last = Some((seq, hash));
                r.lines = n;
            }
        }
    }
    r
}

/// Checks one line on its own; returns its seq, its `prev` and its hash.
/// `text` is `line` when it is already known to be UTF-8.
fn check_line<'a>(
    line: &'a [u8],
    text: Option<&'a str>,
    canon: &mut Vec<u8>,
    visit: &mut dyn FnMut(Line<'_>),
) -> Result<(u64, Cow<'a, str>, [u8; 64]), Problem> {
    if line.is_empty() {
        return Err(Problem::Empty);
    }
    if line.ends_with(b"\r") {
        return Err(Problem::CarriageReturn);
    }
    let tail_ok = line.len() > HASH_TAIL_LEN
        && line.ends_with(b"\"}")
        && line[line.len() - HASH_TAIL_LEN..].starts_with(HASH_MEMBER);
    if !tail_ok {
        // Say "invalid" rather than "no hash" when the JSON itself is broken.
        return Err(match serde_json::from_slice::<Entry>(line) {
            Err(e) => Problem::Invalid(e.to_string()),
            Ok(_) => Problem::NoHash,
        });
    }
    if let Some(e) = text.and_then(super::scan::scan) {
        // Read exactly as the canonical form: the line's content is its canonical bytes.
        if e.v != FORMAT_VERSION {
            return Err(unsupported(e.v));
        }
        let content = &line[..line.len() - HASH_TAIL_LEN];
        let mut sha = Sha256::new();
        sha.update(content);
        sha.update(b"}");
        let computed = hex(&sha.finalize());
        if computed.as_slice() != e.hash.as_bytes() {
            return Err(Problem::HashMismatch {
                recorded: e.hash.to_owned(),
                computed: ascii(&computed),
            });
        }
        let parsed = Line::Borrowed(&e);
        if let Some(p) = member_problem(&parsed) {
            return Err(p);
        }
        visit(parsed);
        return Ok((e.seq, Cow::Borrowed(e.prev), computed));
    }
    canon.clear();
    let fast = match text {
        Some(t) => serde_json::from_str::<EntryRef<'_>>(t),
        None => serde_json::from_slice::<EntryRef<'_>>(line),
    };
    let owned: Entry;
    let (parsed, prev) = match &fast {
        Ok(e) => {
            e.write_canonical(canon);
            (Line::Borrowed(e), Cow::Borrowed(e.prev))
        }
        // Escaped strings (or an invalid line): the owned parse decides and explains.
        Err(_) => {
            owned = serde_json::from_slice(line).map_err(|e| Problem::Invalid(e.to_string()))?;
            canonical_of(&owned, canon);
            (Line::Owned(&owned), Cow::Owned(owned.prev.clone()))
        }
    };
    let (v, seq, recorded) = match &parsed {
        Line::Borrowed(e) => (e.v, e.seq, e.hash),
        Line::Owned(e) => (e.v, e.seq, e.hash.as_str()),
    };
    if v != FORMAT_VERSION {
        return Err(unsupported(v));
    }
    let content = &line[..line.len() - HASH_TAIL_LEN];
    if canon.len() != content.len() + 1 || !canon.starts_with(content) {
        return Err(Problem::NotCanonical);
    }
    let computed = hex(&Sha256::digest(&canon));
    if computed.as_slice() != recorded.as_bytes() {
        return Err(Problem::HashMismatch {
            recorded: recorded.to_owned(),
            computed: ascii(&computed),
        });
    }
    if let Some(p) = member_problem(&parsed) {
        return Err(p);
    }
    visit(parsed);
    Ok((seq, prev, computed))
}

fn unsupported(v: u32) -> Problem {
    Problem::Invalid(format!(
        "format version {v} is not supported (this kv-jit reads {FORMAT_VERSION})"
    ))
}

/// The members of one line that carry a rule beyond their type, from either parse.
struct Members<'a> {
    event: Event,
    time: Cow<'a, str>,
    request_sha256: Option<&'a str>,
    expires: Option<Cow<'a, str>>,
    lag_seconds: Option<i64>,
    break_glass: Option<bool>,
    approvals_by: usize,
    approvals_owners: usize,
    error: Option<&'a str>,
    note: Option<&'a str>,
}

impl<'a> Members<'a> {
    fn of(line: &'a Line<'a>) -> Self {
        match line {
            Line::Borrowed(e) => Members {
                event: e.event,
                time: Cow::Borrowed(e.time),
                request_sha256: e.request_sha256,
                expires: e.window.as_ref().map(|w| Cow::Borrowed(w.expires)),
                lag_seconds: e.lag_seconds,
                break_glass: e.break_glass,
                approvals_by: e.approvals.as_ref().map_or(0, |a| a.by.len()),
                approvals_owners: e.approvals.as_ref().map_or(0, |a| a.owners.len()),
                error: e.error,
                note: e.note,
            },
            Line::Owned(e) => Members {
                event: e.event,
                time: Cow::Owned(super::entry::rfc3339::format(&e.time)),
                request_sha256: e.request_sha256.as_deref(),
                expires: e
                    .window
                    .as_ref()
                    .map(|w| Cow::Owned(super::entry::rfc3339::format(&w.expires))),
                lag_seconds: e.lag_seconds,
                break_glass: e.break_glass,
                approvals_by: e.approvals.as_ref().map_or(0, |a| a.by.len()),
                approvals_owners: e.approvals.as_ref().map_or(0, |a| a.owners.len()),
                error: e.error.as_deref(),
                note: e.note.as_deref(),
            },
        }
    }
}

/// The placeholder versions before the member rule wrote on the refusal of a request file
/// they could not read: exactly `unreadable` or `too-large-N`. Still accepted on `refused`
/// entries, so a ledger written then keeps verifying (a ledger that stops verifying sends every
/// revoke run into sweep-only mode); nothing writes them any more.
fn legacy_unhashed(sha: &str) -> bool {
    sha == "unreadable"
        || sha.strip_prefix("too-large-").is_some_and(|n| {
            !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The first documented member rule the line breaks (`docs/ledger.md`, "An entry"): what its
/// type alone (checked by the strict parse) does not say.
///
/// - `request_sha256` is 64 lowercase hex digits;
/// - `lag_seconds` is written only on a `revoked` entry with a `window`, and is `time` −
///   `window.expires` in seconds;
/// - `break_glass` is never written `false`;
/// - `approvals.owners` is written only for a break-glass grant, whose `approvals.by` is empty;
/// - `error` and `note` are scrubbed: no control characters, at most [`MAX_ERROR_CHARS`].
///
/// Presence is not checked: which optional members an event carries is the writer's choice.
fn member_problem(line: &Line<'_>) -> Option<Problem> {
    let m = Members::of(line);
    let bad = |member: &'static str, rule: String| Some(Problem::Member { member, rule });
    if let Some(sha) = m.request_sha256
        && !(sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        && !(m.event == Event::Refused && legacy_unhashed(sha))
    {
        return bad(
            "request_sha256",
            format!(
                "`{}` is not 64 lowercase hex digits (the SHA-256 of the request file)",
                short_text(sha)
            ),
        );
    }
    if let Some(lag) = m.lag_seconds {
        let Some(expires) = m.expires.as_deref().filter(|_| m.event == Event::Revoked) else {
            return bad(
                "lag_seconds",
                format!(
                    "written only on a `revoked` entry with a `window`, found on a `{}` entry{}",
                    m.event.as_str(),
                    if m.expires.is_none() {
                        " without a `window`"
                    } else {
                        ""
                    }
                ),
            );
        };
        // Both are strict `YYYY-MM-DDTHH:MM:SSZ`, already checked by the parse.
        let secs = |t: &str| DateTime::parse_from_rfc3339(t).map(|t| t.timestamp()).ok();
        if let (Some(time), Some(expires)) = (secs(&m.time), secs(expires))
            && time - expires != lag
        {
            return bad(
                "lag_seconds",
                format!(
                    "is {lag} but `time` {} − `window.expires` {expires_text} is {} seconds",
                    m.time,
                    time - expires,
                    expires_text = m.expires.as_deref().unwrap_or_default(),
                ),
            );
        }
    }
    if m.break_glass == Some(false) {
        return bad(
            "break_glass",
            "is never written `false`: a grant that is not break-glass has no `break_glass` member"
                .to_owned(),
        );
    }
    if m.approvals_owners > 0 && m.break_glass != Some(true) {
        return bad(
            "approvals.owners",
            "is written only for a break-glass grant (`break_glass: true`)".to_owned(),
        );
    }
    if m.break_glass == Some(true) && m.approvals_by > 0 {
        return bad(
            "approvals.by",
            "is empty for a break-glass grant (granted without code-owner approvals)".to_owned(),
        );
    }
    for (member, text) in [("error", m.error), ("note", m.note)] {
        let Some(text) = text else { continue };
        if text.chars().any(char::is_control) {
            return bad(
                member,
                "holds a control character; kv-jit writes free text scrubbed, control characters as spaces"
                    .to_owned(),
            );
        }
        let n = text.chars().count();
        if n > MAX_ERROR_CHARS {
            return bad(
                member,
                format!("is {n} characters; kv-jit cuts free text at {MAX_ERROR_CHARS}"),
            );
        }
    }
    None
}

/// At most 16 characters of `s`, escaped, for a message.
fn short_text(s: &str) -> String {
    let head: String = s.chars().take(16).collect();
    let more = if s.chars().count() > 16 { "…" } else { "" };
    format!("{}{more}", head.escape_default())
}

/// The lines of `body` (which does not end with `\n`), found with SIMD rather than byte by byte.
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .map(move |end| {
            let line = &body[start..end];
            start = end + 1;
            line
        })
}

/// Lowercase hex SHA-256 of `bytes`: the ledger's hashes, and request files' `request_sha256`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    String::from_utf8(hex(&Sha256::digest(bytes)).to_vec()).expect("hex digits are ASCII")
}

fn hex(bytes: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    out
}

fn ascii(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
