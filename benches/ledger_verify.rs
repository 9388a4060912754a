//! `cargo bench --bench ledger_verify [-- ENTRIES]`: writes a realistic ledger of 1,000,000
//! entries (by default) to a temporary file, then times `verify_file` against two baselines
//! measured in the same run on the same file: reading it and finding its lines, and reading it
//! plus one plain SHA-256 over all its bytes (the least any verifier must do). Each figure is
//! the best of 3. The CPU time is printed too, since the wall time depends on what else the
//! machine is running. `KEEP_LEDGER=PATH` writes (and keeps) the ledger at PATH instead.
#![allow(clippy::disallowed_macros)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use kv_jit_effects::ledger::verify_file;
use sha2::{Digest, Sha256};

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = std::env::var_os("KEEP_LEDGER");
    let path = keep
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("ledger.jsonl"));

    let t0 = Instant::now();
    kv_jit_bench::ledger::write_ledger(&path, n).expect("write the ledger");
    let size = std::fs::metadata(&path).expect("metadata").len();
    println!(
        "wrote {n} entries, {:.1} MB, in {:.2?}",
        size as f64 / 1e6,
        t0.elapsed()
    );

    // Warm the page cache so every contender reads from memory.
    stream(&path, |_| ());

    // Baselines stream the file through one reused 32 MiB buffer, as `verify_file` does.
    let split = best_of(3, || {
        let lines = stream(&path, |piece| memchr::memchr_iter(b'\n', piece).count());
        assert_eq!(lines.iter().sum::<usize>() as u64, n);
    });
    let sha = best_of(3, || {
        let mut h = Sha256::new();
        stream(&path, |piece| h.update(piece));
        std::hint::black_box(h.finalize());
    });
    let cpu_before = cpu_time();
    let verify = best_of(3, || {
        let report = verify_file(&path).expect("ledger verifies");
        assert_eq!(report.entries, n);
    });
    let cpu = cpu_time().zip(cpu_before).map(|(a, b)| (a - b) / 3);

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("cores available:             {cores}");
    println!("baseline read + split lines: {split:>9.3?}");
    println!("baseline read + SHA-256:     {sha:>9.3?}");
    println!(
        "verify_file:                 {verify:>9.3?}  ({:.0} entries/s, {:.0} MB/s)",
        n as f64 / verify.as_secs_f64(),
        size as f64 / 1e6 / verify.as_secs_f64()
    );
    if let Some(cpu) = cpu {
        println!("verify_file CPU time (user+sys, mean of 3): {cpu:.3?}");
    }
    println!(
        "ratio verify / (read + SHA-256): {:.2}; verify / (read + split): {:.2}",
        verify.as_secs_f64() / sha.as_secs_f64(),
        verify.as_secs_f64() / split.as_secs_f64()
    );
}

fn stream<T>(path: &std::path::Path, mut f: impl FnMut(&[u8]) -> T) -> Vec<T> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; 32 << 20];
    let mut out = Vec::new();
    loop {
        let n = file.read(&mut buf).expect("read");
        if n == 0 {
            return out;
        }
        out.push(f(&buf[..n]));
    }
}

/// This process's user + system CPU time so far (Linux), independent of other load.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`: utime and stime are the 12th and 13th.
    let mut rest = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let ticks: u64 = rest.next()?.parse::<u64>().ok()? + rest.next()?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("runs > 0")
}
