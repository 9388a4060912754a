//! `cargo bench --bench ledger_verify [-- ENTRIES]`: writes a realistic ledger of 1,000,000
//! entries (by default) to a temporary file, then times `verify_file` against two baselines
//! measured in the same run on the same file: reading it and finding its lines, and reading it
//! plus one plain SHA-256 over all its bytes (the least any verifier must do). Each figure is
//! the best of 3. The CPU time is printed too, since the wall time depends on what else the
//! machine is running. `KEEP_LEDGER=PATH` writes (and keeps) the ledger at PATH instead.
#![allow(clippy::disallowed_macros)] // a benchmark reports on stdout

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use kv_jit_core::ledger::{
    Approval, Approvals, Event, NewEntry, Reason, Role, Tip, Window, append, to_line,
};
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
    write_ledger(&path, n);
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

/// Grants and their revokes in equal numbers, with every field a real entry carries.
fn write_ledger(path: &std::path::Path, n: u64) {
    let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut tip = Tip::genesis();
    let batch = 10_000;
    let mut i = 0;
    while i < n {
        let news: Vec<NewEntry> = (i..(i + batch).min(n)).map(|k| entry(base, k)).collect();
        let entries = append(&tip, news);
        for e in &entries {
            out.write_all(to_line(e).as_bytes()).expect("write");
        }
        tip = Tip::of(&entries);
        i += batch;
    }
    out.flush().expect("flush");
}

fn entry(base: DateTime<Utc>, k: u64) -> NewEntry {
    let g = k / 2;
    let start = base + Span::minutes(g as i64);
    let expires = start + Span::hours(2);
    let sha = format!("{:064x}", g.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let commit = format!("{:040x}", g.wrapping_mul(0x1234_5678_9abc));
    let granted = NewEntry {
        request: Some(format!("2026/alice-api-key-{g}")),
        request_sha256: Some(sha),
        requester: Some("alice@contoso.com".into()),
        principal_id: Some("9a3f0c2e-1b7d-4e55-8c21-6f0d2b7a9e41".into()),
        vault: Some("flowlibs-demo-kv".into()),
        secret: Some("demo-api-key".into()),
        scope: Some(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-flowlibs-demo/providers/Microsoft.KeyVault/vaults/flowlibs-demo-kv"
                .into(),
        ),
        role: Some(Role {
            id: "4633458b-17de-408a-b874-0445c86b69e6".into(),
            alias: Some("secrets-user".into()),
        }),
        assignment: Some(format!("5f0c8e1a-0000-5000-8000-{g:012x}")),
        window: Some(Window { start, expires }),
        approvals: Some(Approvals {
            pr: 1000 + g,
            commit: commit.clone(),
            by: vec![Approval {
                login: "bob-sec".into(),
                commit,
            }],
            owners: vec![],
        }),
        run_url: Some(format!(
            "https://github.com/contoso/access/actions/runs/{}",
            9_000_000_000 + k
        )),
        ..NewEntry::new(start + Span::seconds(40), Event::Granted)
    };
    if k.is_multiple_of(2) {
        granted
    } else {
        NewEntry {
            time: expires + Span::seconds(150),
            event: Event::Revoked,
            reason: Some(Reason::Expired),
            approvals: None,
            ..granted
        }
    }
}
