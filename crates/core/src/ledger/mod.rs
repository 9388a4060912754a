//! The audit ledger: append-only JSON Lines, one entry per line, each carrying the SHA-256 of
//! the previous one, so any edit, deletion, insertion or reordering is detected and located.
//!
//! # Canonical form
//!
//! An entry's canonical form is its JSON object, UTF-8, with
//!
//! - the members in the fixed order `v, seq, time, event, request, request_sha256, requester,
//!   principal_id, vault, secret, scope, role{id, alias}, assignment, window{start, expires},
//!   approvals{pr, commit, by[{login, commit}], owners[]}, run_url, reason, lag_seconds, error,
//!   expiry, extends, actor, note, break_glass, issue, prev`
//!   (the order of [`Entry`]'s fields), absent optional members omitted (never `null`);
//! - no whitespace outside strings;
//! - strings escaped as serde_json writes them: `"` and `\` backslash-escaped, control
//!   characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX` (lowercase hex), everything else
//!   (including non-ASCII and `/`) written as itself;
//! - integers in plain decimal (`v`, `seq`, `pr`, `lag_seconds`); no floats anywhere;
//! - times as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds);
//! - `prev` as 64 lowercase hex digits (and `request_sha256` too, as kv-jit writes it);
//! - and no `hash` member.
//!
//! `hash` = lowercase hex SHA-256 of those bytes. The stored line is the canonical form with
//! `,"hash":"<hash>"` inserted before the final `}`, then `\n`. Equivalently: take a line, cut
//! its last 75 bytes (`,"hash":"` + 64 hex + `"}`), append `}`, hash. `audit verify` also
//! re-serialises every entry and requires the bytes to be exactly canonical, so each entry has
//! one spelling and any independent verifier that follows this text agrees with kv-jit.
//!
//! The first entry has `seq` 1 and `prev` of 64 zeros ([`GENESIS`]); each next entry has
//! `seq` + 1 and `prev` = the previous `hash`. Every line, the last included, ends with `\n`.

mod body;
mod borrowed;
mod chain;
mod entry;
mod scan;
mod state;

pub use body::{Body, Granted, Missing};
pub(crate) use borrowed::EntryRef;
pub use chain::{
    ChunkCheck, DedupeKey, GENESIS, Linker, Problem, Tip, VerifyError, VerifyReport, append,
    canonical_into, check_chunk, compute_hash, dedupe, parse_chunk, parse_ledger,
    parse_ledger_chunks, parse_ledger_with, sha256_hex, split_lines, to_line, verify_bytes,
    verify_bytes_with,
};
pub(crate) use chain::{Line, check_chunk_visit};
pub(crate) use entry::rfc3339::parse as parse_time;
pub use entry::{
    Approval, Approvals, Entry, Event, ExpiryMode, FORMAT_VERSION, MAX_ERROR_CHARS, NewEntry,
    Reason, Role, Window, scrub_error, whole_seconds,
};
pub use state::{LagStats, active_grants, refused, revoke_lag};
