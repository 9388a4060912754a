//! The ledger as files and threads: streaming verification of a file of any size, and the
//! chain check run on every core. The rules (canonical form, hashes, links) are
//! `kv_jit_core::ledger`'s; this module only feeds them bytes.

use std::io::Read;
use std::path::Path;

use kv_jit_core::ledger::{
    ChunkCheck, Entry, Linker, Problem, VerifyError, VerifyReport, check_chunk, parse_chunk,
    split_lines,
};
use kv_jit_core::plan::LedgerState;
use kv_jit_core::plan::state::{Interest, StateBuilder, check_chunk_state};

/// Verifies a whole ledger held in memory, checking its lines on every core.
pub fn verify_bytes(name: &str, bytes: &[u8]) -> Result<VerifyReport, VerifyError> {
    kv_jit_core::ledger::verify_bytes_with(name, bytes, check_parallel)
}

/// Verifies `bytes` and returns its entries (see `kv_jit_core::ledger::parse_ledger`), checking
/// its lines on every core.
pub fn parse_ledger(name: &str, bytes: &[u8]) -> Result<Vec<Entry>, VerifyError> {
    kv_jit_core::ledger::parse_ledger_chunks(name, bytes, |b| par_map(b, parse_chunk))
}

/// Reads and verifies a whole ledger file, streaming it in pieces of a few tens of MB so
/// memory stays flat whatever the ledger's size. A missing file is an I/O error, not an empty
/// ledger: `audit verify` on a wrong path must not pass.
pub fn verify_file(path: &Path) -> Result<VerifyReport, VerifyError> {
    let name = path.display().to_string();
    let io = |source| VerifyError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    verify_stream(&name, file, PIECE)
}

/// Verifies the ledger `reader` streams and derives the planner's state from it in the same
/// pass (`kv_jit_core::plan::state::check_chunk_state`, on every core): no entry is kept, so
/// memory follows the state (active grants, the ids of `interest`), not the ledger's length.
/// The state is what `state::from_ledger` derives from the same entries.
pub fn verify_state(
    name: &str,
    reader: impl Read + Send,
    interest: Interest<'_>,
) -> Result<(VerifyReport, LedgerState), VerifyError> {
    let mut builder = StateBuilder::new();
    let report = verify_stream_with(name, reader, STATE_PIECE, &mut |bytes| {
        par_map(bytes, |c| check_chunk_state(c, interest))
            .into_iter()
            .map(|(check, facts)| {
                // Facts of a chunk that fails are folded too, but the error discards them all.
                builder.absorb(facts);
                check
            })
            .collect()
    })?;
    Ok((report, builder.finish()))
}

/// [`verify_state`] of a ledger held in memory.
pub fn verify_state_bytes(
    name: &str,
    bytes: &[u8],
    interest: Interest<'_>,
) -> Result<(VerifyReport, LedgerState), VerifyError> {
    let mut builder = StateBuilder::new();
    let report = kv_jit_core::ledger::verify_bytes_with(name, bytes, |b| {
        par_map(b, |c| check_chunk_state(c, interest))
            .into_iter()
            .map(|(check, facts)| {
                builder.absorb(facts);
                check
            })
            .collect()
    })?;
    Ok((report, builder.finish()))
}

/// [`verify_file`] for any reader, checking `piece` bytes at a time. The next piece is read
/// while the current one is checked.
fn verify_stream(
    name: &str,
    file: impl Read + Send,
    piece: usize,
) -> Result<VerifyReport, VerifyError> {
    verify_stream_with(name, file, piece, &mut check_parallel)
}

/// [`verify_stream`] with the pieces checked by `check` (which returns the checks of
/// consecutive chunks of its input, in order).
fn verify_stream_with(
    name: &str,
    mut file: impl Read + Send,
    piece: usize,
    check: &mut dyn FnMut(&[u8]) -> Vec<ChunkCheck>,
) -> Result<VerifyReport, VerifyError> {
    let io = |source| VerifyError::Io {
        path: name.to_owned(),
        source,
    };
    let mut linker = Linker::new(name);
    let mut cur: Vec<u8> = Vec::with_capacity(piece + piece / 4);
    let mut spare: Vec<u8> = Vec::with_capacity(piece + piece / 4);
    let mut eof = fill(&mut file, &mut cur, piece).map_err(io)?;
    loop {
        // Check whole lines only; an unfinished last line waits for the next piece, and a
        // line longer than a piece grows the buffer, up to a limit.
        let end = loop {
            if eof {
                break cur.len();
            }
            if let Some(i) = memchr::memrchr(b'\n', &cur) {
                break i + 1;
            }
            if cur.len() > MAX_LINE.max(piece) {
                return Err(linker.fail(
                    linker.lines() + 1,
                    Problem::Invalid(format!("line longer than {MAX_LINE} bytes")),
                ));
            }
            let want = cur.len() + piece;
            eof = fill(&mut file, &mut cur, want).map_err(io)?;
        };
        spare.clear();
        spare.extend_from_slice(&cur[end..]);
        let (results, next_eof) = if eof {
            (check(&cur[..end]), Ok(true))
        } else {
            std::thread::scope(|s| {
                let reader = s.spawn(|| fill(&mut file, &mut spare, piece));
                let results = check(&cur[..end]);
                (results, reader.join().expect("reader thread panicked"))
            })
        };
        linker.absorb(results)?;
        linker.end_piece(&cur[..end]);
        if eof {
            return linker.finish();
        }
        eof = next_eof.map_err(io)?;
        std::mem::swap(&mut cur, &mut spare);
    }
}

/// Reads until `buf` holds `want` bytes; true at end of file.
fn fill(file: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    while buf.len() < want {
        // `read_to_end` fills spare capacity without zeroing it first.
        let room = (want - buf.len()) as u64;
        if file.take(room).read_to_end(buf)? == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Bytes read per piece by [`verify_file`]: large enough that thread start-up is noise, small
/// enough to stay in memory comfortably.
const PIECE: usize = 32 << 20;
/// Pieces for [`verify_state`]: smaller, since the facts of a piece are held until folded
/// (about a third of its bytes) and the planner's memory goal is a few hundred MB.
const STATE_PIECE: usize = 8 << 20;
/// No entry comes near this; a longer "line" is not a ledger.
const MAX_LINE: usize = 64 << 20;

/// Checks the lines of `bytes` (whole lines, except perhaps the file's last) in parallel.
///
/// The work per line (strict parse, canonical re-serialisation, SHA-256) is independent, so
/// the bytes are cut at line boundaries into one chunk per available core; each chunk checks
/// its own lines and its internal links, and the core's `Linker` checks the links between chunks. The
/// reported problem is always the one on the lowest line number, as a sequential pass would
/// report.
fn check_parallel(bytes: &[u8]) -> Vec<ChunkCheck> {
    par_map(bytes, check_chunk)
}

/// `f` over `bytes` cut at line boundaries into one chunk per core, results in order.
fn par_map<T: Send>(bytes: &[u8], f: impl Fn(&[u8]) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Below ~1 MB threads cost more than they save.
    let chunks = split_lines(bytes, if bytes.len() < 1 << 20 { 1 } else { threads });
    if chunks.len() == 1 {
        return vec![f(chunks[0])];
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks.iter().map(|&c| s.spawn(move || f(c))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verify thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_jit_core::ledger::{Event, NewEntry, Problem, Tip, append, to_line};

    fn ledger(n: usize) -> String {
        let t = "2026-11-27T09:00:00Z".parse().unwrap();
        let news = (0..n)
            .map(|i| NewEntry {
                request: Some(format!("2026/r{i}")),
                ..NewEntry::new(t, Event::Refused)
            })
            .collect();
        append(&Tip::genesis(), news).iter().map(to_line).collect()
    }

    fn stream(text: &str, piece: usize) -> Result<VerifyReport, VerifyError> {
        verify_stream("l", text.as_bytes(), piece)
    }

    #[test]
    fn pieces_link_and_number_lines_like_one_pass() {
        let text = ledger(50);
        // Pieces smaller than a line, about one line, and several lines.
        for piece in [7, 150, 160, 1000, 1 << 20] {
            assert_eq!(stream(&text, piece).unwrap().entries, 50, "piece {piece}");
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(30);
            let cut: String = lines.iter().map(|l| format!("{l}\n")).collect();
            assert_eq!(
                stream(&cut, piece).unwrap_err().line(),
                Some(31),
                "piece {piece}"
            );
            let edited = text.replacen("2026/r41", "2026/x41", 1);
            assert_eq!(
                stream(&edited, piece).unwrap_err().line(),
                Some(42),
                "piece {piece}"
            );
            let no_newline = &text[..text.len() - 1];
            assert!(matches!(
                stream(no_newline, piece),
                Err(VerifyError::Line {
                    line: 50,
                    problem: Problem::NoFinalNewline,
                    ..
                })
            ));
            assert_eq!(stream("", piece).unwrap().entries, 0);
        }
    }

    #[test]
    fn verify_file_names_the_path_and_missing_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let edited = ledger(3).replacen("2026/r1", "2026/x1", 1);
        std::fs::write(&path, edited).unwrap();
        let err = verify_file(&path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: hash mismatch", path.display())),
            "{err}"
        );
        assert!(verify_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_parallel_check_agrees_with_the_one_pass_check() {
        // Over 1 MB, so the bytes are cut into one piece per core.
        let text = ledger(6000);
        assert!(text.len() > 1 << 20);
        let one = kv_jit_core::ledger::verify_bytes("l", text.as_bytes()).unwrap();
        let par = verify_bytes("l", text.as_bytes()).unwrap();
        assert_eq!((one.entries, &one.tip), (par.entries, &par.tip));
        let edited = text.replacen("2026/r4321", "2026/x4321", 1);
        assert_eq!(
            verify_bytes("l", edited.as_bytes()).unwrap_err().line(),
            Some(4322)
        );
    }
}
