//! `cargo build --release && cargo bench -p kv-jit-bench --bench table [-- --quick] [-- P1 P2 …]`
//!
//! Prints one Markdown table (and writes it to `target/bench-table.md`, or `BENCH_TABLE=PATH`):
//!
//! - **P1** grant and revoke throughput of the real release `kv-jit` against the in-process
//!   emulator (latency per request), at concurrency 1, 8 (default) and 32, ARM's write throttle
//!   off and on, each beside the raw-HTTP floor (only the PUTs / DELETEs) in the same run.
//! - **P2** `kv-jit plan` over many request files and a long ledger: median of 3, peak RSS.
//! - **P3** `kv-jit audit verify` beside `sha256sum` and `openssl dgst -sha256` of the same file.
//! - **P4** HTTP calls per grant and per revoke, by service, from the emulator's request log.
//! - **S** `--shard K/N`: S subscriptions × M revokes by N concurrent shards (each subscription
//!   its own throttle bucket) inside one 5-minute cron interval; one entry per event, chain intact.
//!
//! Full size (the issue's): P1 1,000 requests / 5 vaults / 20 PRs / 10 requesters / 50 ms,
//! throttle bucket 200 then 10/s; P2 1k/10k/100k files with a 100k ledger and 100k/1M; P3 1M
//! entries; S 10 × 1,000 with 10 shards. `--quick`: P1 100 requests / 10 ms with a 20-token
//! bucket (so the throttle is reached), P2 100/1k files with a 10k ledger and 1k/100k, P3 100k,
//! S 10 × 50. Figures are ratios against baselines of the same run: never compare them across
//! machines.
#![allow(clippy::disallowed_macros)] // a benchmark reports on stdout

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use kv_jit_bench::emu::{self, FollowWallClock};
use kv_jit_bench::floor::{self, Op};
use kv_jit_bench::measure;
use kv_jit_bench::table::{self, Row, pass, ratio, secs};
use kv_jit_bench::world::{self, Spec};

struct Size {
    p1_requests: usize,
    latency: Duration,
    /// (capacity, per second) of ARM's write buckets with the throttle on.
    bucket: (f64, f64),
    p2: Vec<(usize, u64)>,
    p3_entries: u64,
    s_subs: usize,
    s_per_sub: usize,
    concurrencies: Vec<u16>,
}

impl Size {
    fn new(quick: bool) -> Size {
        if quick {
            Size {
                p1_requests: 100,
                latency: Duration::from_millis(10),
                bucket: (20.0, 10.0),
                p2: vec![(100, 10_000), (1_000, 10_000), (1_000, 100_000)],
                p3_entries: 100_000,
                s_subs: 10,
                s_per_sub: 50,
                concurrencies: vec![1, 8, 32],
            }
        } else {
            Size {
                p1_requests: 1_000,
                latency: Duration::from_millis(50),
                bucket: (200.0, 10.0),
                p2: vec![
                    (1_000, 100_000),
                    (10_000, 100_000),
                    (100_000, 100_000),
                    (100_000, 1_000_000),
                ],
                p3_entries: 1_000_000,
                s_subs: 10,
                s_per_sub: 1_000,
                concurrencies: vec![1, 8, 32],
            }
        }
    }
}

fn t0() -> DateTime<Utc> {
    "2026-11-27T09:00:00Z".parse().expect("T0")
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
    let picked: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["P1", "P2", "P3", "P4", "S"].contains(a))
        .collect();
    let want =
        |s: &str| picked.is_empty() || picked.contains(&s) || (s == "P4" && picked.contains(&"P1"));
    let mut size = Size::new(quick);
    // `BENCH_CONCURRENCY=8,32` measures P1 at those concurrencies only (a full P1 at all three
    // takes about half an hour on two cores).
    if let Some(list) = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .filter(|l| !l.is_empty())
    {
        match list.split(',').map(|c| c.trim().parse::<u16>()).collect() {
            Ok(c) => size.concurrencies = c,
            Err(_) => {
                eprintln!("BENCH_CONCURRENCY: expected numbers separated by commas, e.g. 8,32");
                std::process::exit(2);
            }
        }
    }
    let exe = match emu::find_kv_jit() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "kv-jit: {} ({} mode)",
        exe.display(),
        if quick { "quick" } else { "full" }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut rows = Vec::new();
    let started = Instant::now();
    if want("P1") || want("P4") {
        match runtime.block_on(p1(&exe, &size)) {
            Ok((p1_rows, p4_rows)) => {
                rows.extend(p1_rows);
                rows.extend(p4_rows);
            }
            Err(e) => rows.push(failed("P1", &e)),
        }
    }
    if want("P2") {
        match p2(&exe, &size) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(failed("P2", &e)),
        }
    }
    if want("P3") {
        match p3(&exe, &size) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(failed("P3", &e)),
        }
    }
    if want("S") {
        match runtime.block_on(scale_out(&exe, &size)) {
            Ok(r) => rows.extend(r),
            Err(e) => rows.push(failed("S", &e)),
        }
    }
    let text = format!(
        "{}\n{} mode, {} core(s), measured in {:.0} s; ratios are against baselines of the same run.\n",
        table::render(&rows),
        if quick { "Quick" } else { "Full" },
        std::thread::available_parallelism().map_or(1, |c| c.get()),
        started.elapsed().as_secs_f64()
    );
    print!("{text}");
    let out = std::env::var_os("BENCH_TABLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            exe.parent()
                .and_then(Path::parent)
                .map(|t| t.join("bench-table.md"))
                .unwrap_or_else(|| PathBuf::from("bench-table.md"))
        });
    match std::fs::write(&out, &text) {
        Ok(()) => eprintln!("written to {}", out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
}

fn failed(id: &str, e: &str) -> Row {
    Row {
        id: id.into(),
        what: "did not complete".into(),
        kv_jit: e.chars().take(300).collect(),
        result: pass(false),
        ..Row::default()
    }
}

fn count_events(ledger: &str, event: &str) -> (usize, usize) {
    let mut total = 0;
    let mut ids = std::collections::BTreeSet::new();
    for l in ledger.lines() {
        let v: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["event"] == event {
            total += 1;
            ids.insert(v["request"].as_str().unwrap_or("-").to_owned());
        }
    }
    (total, ids.len())
}

fn origin_ledger(origin: &Path) -> String {
    Command::new("git")
        .args([
            "--git-dir",
            &origin.to_string_lossy(),
            "show",
            "main:audit/ledger.jsonl",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

struct Phase {
    wall: Duration,
    throttled: usize,
    calls: BTreeMap<&'static str, usize>,
}

/// One kv-jit grant then revoke of a fresh world, and the floor's PUTs then DELETEs against a
/// fresh emulator of the same seed, at concurrency `c`.
async fn p1_one(
    exe: &Path,
    size: &Size,
    c: u16,
    throttle: bool,
) -> Result<((Phase, Phase), (floor::FloorRun, floor::FloorRun)), String> {
    let spec = Spec::p1(size.p1_requests);
    let mut seed = world::azure_seed(&spec, throttle);
    if throttle {
        seed.limits.write_bucket_capacity = size.bucket.0;
        seed.limits.write_refill_per_sec = size.bucket.1;
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let emu = emu::start(seed.clone(), t0(), size.latency).await?;
    let base = emu.base_url();
    let repo = world::generate(tmp.path(), &spec, &base, t0())?;
    emu.github().reseed(repo.github.clone());
    let conc = c.to_string();
    let mut phases = Vec::new();
    for (cmd, now) in [
        ("grant", t0() + chrono::Duration::minutes(1)),
        ("revoke", t0() + chrono::Duration::hours(2)),
    ] {
        let _clock = FollowWallClock::from(emu.core(), now);
        emu.core().clear_log();
        let now_s = at(now);
        let mut command = emu::kv_jit(
            exe,
            &repo.work,
            &base,
            &[cmd, "--now", &now_s, "--concurrency", &conc],
        );
        let m = tokio::task::spawn_blocking(move || measure::run(&mut command))
            .await
            .map_err(|e| e.to_string())??;
        if m.code != 0 {
            return Err(format!("kv-jit {cmd} exit {}: {}", m.code, tail(&m.stderr)));
        }
        let log = emu.core().log();
        phases.push(Phase {
            wall: m.wall,
            throttled: emu::throttled(&log),
            calls: emu::by_service(&log),
        });
    }
    let ledger = origin_ledger(&repo.origin);
    let (granted, _) = count_events(&ledger, "granted");
    let (revoked, _) = count_events(&ledger, "revoked");
    if granted != spec.requests || revoked != spec.requests {
        return Err(format!(
            "ledger holds {granted} granted and {revoked} revoked of {}",
            spec.requests
        ));
    }
    drop(emu);
    // The floor, against a fresh emulator of the same seed (fresh buckets).
    let emu = emu::start(seed, t0(), size.latency).await?;
    let base = emu.base_url();
    let _clock = FollowWallClock::from(emu.core(), t0());
    let put = floor::run(&base, &spec, Op::Put, usize::from(c)).await?;
    let del = floor::run(&base, &spec, Op::Delete, usize::from(c)).await?;
    let mut phases = phases.into_iter();
    let g = phases.next().expect("grant");
    let r = phases.next().expect("revoke");
    Ok(((g, r), (put, del)))
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" / ")
}

async fn p1(exe: &Path, size: &Size) -> Result<(Vec<Row>, Vec<Row>), String> {
    let n = size.p1_requests;
    let mut rows = Vec::new();
    let mut p4 = Vec::new();
    // `BENCH_THROTTLE=off|on` measures P1 with ARM's write throttle off or on only.
    let throttles: &[bool] = match std::env::var("BENCH_THROTTLE").as_deref() {
        Ok("off") => &[false],
        Ok("on") => &[true],
        _ => &[false, true],
    };
    for &throttle in throttles {
        for &c in &size.concurrencies {
            eprintln!(
                "P1: concurrency {c}, throttle {}",
                if throttle { "on" } else { "off" }
            );
            let ((g, r), (put, del)) = p1_one(exe, size, c, throttle).await?;
            let label = |what: &str| {
                format!(
                    "{what} {n} (5 vaults, 20 PRs, 10 requesters, {} ms), c={c}, throttle {}",
                    size.latency.as_millis(),
                    if throttle {
                        format!("on ({}/{}/s)", size.bucket.0, size.bucket.1)
                    } else {
                        "off".into()
                    }
                )
            };
            for (what, phase, fl, verb) in
                [("grant", &g, &put, "PUTs"), ("revoke", &r, &del, "DELETEs")]
            {
                rows.push(Row {
                    id: "P1".into(),
                    what: label(what),
                    kv_jit: format!(
                        "{} ({:.0}/s; {} × 429)",
                        secs(phase.wall.as_secs_f64()),
                        n as f64 / phase.wall.as_secs_f64(),
                        phase.throttled
                    ),
                    baseline: format!(
                        "floor {} ({} only; {} × 429)",
                        secs(fl.wall.as_secs_f64()),
                        verb,
                        fl.throttled
                    ),
                    ratio: ratio(phase.wall.as_secs_f64(), fl.wall.as_secs_f64()),
                    ..Row::default()
                });
            }
            // P4 from the default-concurrency, throttle-off run.
            if c == 8 && !throttle {
                let services = [
                    "token",
                    "Graph",
                    "ARM",
                    "Key Vault metadata",
                    "GitHub",
                    "other",
                ];
                for s in services {
                    let per_g = *g.calls.get(s).unwrap_or(&0) as f64 / n as f64;
                    let per_r = *r.calls.get(s).unwrap_or(&0) as f64 / n as f64;
                    if s == "other" && per_g == 0.0 && per_r == 0.0 {
                        continue;
                    }
                    p4.push(Row {
                        id: "P4".into(),
                        what: format!("HTTP calls per grant / per revoke: {s} ({n} of each, c=8)"),
                        kv_jit: format!("{per_g:.2} / {per_r:.2}"),
                        baseline: if s == "ARM" {
                            "floor: 1.00 / 1.00".into()
                        } else {
                            "floor: 0".into()
                        },
                        ..Row::default()
                    });
                }
                let total_g: usize = g.calls.values().sum();
                let total_r: usize = r.calls.values().sum();
                p4.push(Row {
                    id: "P4".into(),
                    what: "HTTP calls per grant / per revoke: all services".into(),
                    kv_jit: format!(
                        "{:.2} / {:.2}",
                        total_g as f64 / n as f64,
                        total_r as f64 / n as f64
                    ),
                    baseline: "floor: 1.00 / 1.00".into(),
                    ratio: format!(
                        "{:.2} / {:.2}",
                        total_g as f64 / n as f64,
                        total_r as f64 / n as f64
                    ),
                    ..Row::default()
                });
            }
        }
    }
    Ok((rows, p4))
}

fn p2(exe: &Path, size: &Size) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut first: Option<(usize, f64)> = None;
    for &(requests, entries) in &size.p2 {
        eprintln!("P2: {requests} request files, {entries} ledger entries");
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let work = world::generate_plan_repo(tmp.path(), requests, entries, t0())?;
        let now = at(t0() + chrono::Duration::minutes(1));
        let m = measure::median_of(3, || {
            emu::kv_jit(exe, &work, "http://127.0.0.1:9", &["plan", "--now", &now])
        })?;
        let s = m.wall.as_secs_f64();
        let mb = m.rss_mb();
        let goal_applies = requests >= 10_000;
        let linear = match first {
            None => {
                first = Some((requests, s));
                "the base of the growth ratio".to_string()
            }
            Some((n0, s0)) => format!(
                "{}× the time for {}× the files",
                ratio(s, s0),
                requests / n0.max(1)
            ),
        };
        rows.push(Row {
            id: "P2".into(),
            what: format!("plan: {requests} request files, {entries}-entry ledger (median of 3)"),
            kv_jit: format!("{}, {mb:.0} MB peak RSS", secs(s)),
            baseline: linear,
            ratio: format!("{:.1} µs/file", s * 1e6 / requests as f64),
            goal: if goal_applies {
                "< 0.5 s and < 150 MB".into()
            } else {
                String::new()
            },
            result: if goal_applies {
                pass(s < 0.5 && mb < 150.0)
            } else {
                String::new()
            },
        });
    }
    Ok(rows)
}

fn p3(exe: &Path, size: &Size) -> Result<Vec<Row>, String> {
    let n = size.p3_entries;
    eprintln!("P3: audit verify of {n} entries");
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = tmp.path().join("ledger.jsonl");
    kv_jit_bench::ledger::write_ledger(&path, n)?;
    let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
    let p = path.to_string_lossy().into_owned();
    // Warm the page cache for everyone.
    let _ = measure::run(
        Command::new("cat")
            .arg(&p)
            .stdout(std::process::Stdio::null()),
    );
    let verify = measure::median_of(3, || {
        emu::kv_jit(
            exe,
            tmp.path(),
            "http://127.0.0.1:9",
            &["audit", "verify", &p],
        )
    })?;
    let sha = measure::median_of(3, || {
        let mut c = Command::new("sha256sum");
        c.arg(&p);
        c
    })?;
    let openssl = measure::median_of(3, || {
        let mut c = Command::new("openssl");
        c.args(["dgst", "-sha256", &p]);
        c
    });
    let v = verify.wall.as_secs_f64();
    let s = sha.wall.as_secs_f64();
    let mut rows = vec![Row {
        id: "P3".into(),
        what: format!(
            "audit verify: {n} entries, {:.0} MB (median of 3)",
            bytes as f64 / 1e6
        ),
        kv_jit: format!("{} ({:.0} MB peak RSS)", secs(v), verify.rss_mb()),
        baseline: format!("sha256sum {}", secs(s)),
        ratio: ratio(v, s),
        ..Row::default()
    }];
    match openssl {
        Ok(o) => rows.push(Row {
            id: "P3".into(),
            what: format!("audit verify: {n} entries, against openssl"),
            kv_jit: secs(v),
            baseline: format!("openssl dgst -sha256 {}", secs(o.wall.as_secs_f64())),
            ratio: ratio(v, o.wall.as_secs_f64()),
            ..Row::default()
        }),
        Err(e) => rows.push(failed("P3", &format!("openssl: {e}"))),
    }
    Ok(rows)
}

/// N shards of one run, as N concurrent processes, each in its own clone of origin.
async fn shards(
    exe: &Path,
    root: &Path,
    origin: &Path,
    base: &str,
    cmd: &str,
    now: DateTime<Utc>,
    n: u16,
) -> Result<(Duration, Vec<measure::Measured>), String> {
    let mut commands = Vec::new();
    for k in 1..=n {
        let dir = root.join(format!("{cmd}-{k}"));
        world::git(
            root,
            t0(),
            &[
                "clone",
                "--quiet",
                &origin.to_string_lossy(),
                &dir.to_string_lossy(),
            ],
        )?;
        commands.push(emu::kv_jit(
            exe,
            &dir,
            base,
            &[cmd, "--now", &at(now), "--shard", &format!("{k}/{n}")],
        ));
    }
    let started = Instant::now();
    let handles: Vec<_> = commands
        .into_iter()
        .map(|mut c| tokio::task::spawn_blocking(move || measure::run(&mut c)))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.map_err(|e| e.to_string())??);
    }
    Ok((started.elapsed(), out))
}

async fn scale_out(exe: &Path, size: &Size) -> Result<Vec<Row>, String> {
    let (subs, per) = (size.s_subs, size.s_per_sub);
    let n = subs as u16;
    eprintln!("S: {subs} subscriptions × {per}, {n} shards");
    let spec = Spec::scale_out(subs, per);
    let seed = world::azure_seed(&spec, true);
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let emu = emu::start(seed, t0(), size.latency).await?;
    let base = emu.base_url();
    let repo = world::generate(tmp.path(), &spec, &base, t0())?;
    emu.github().reseed(repo.github.clone());
    let mut per_shard = vec![0usize; usize::from(n)];
    for s in 0..subs {
        let k = kv_jit_core::shard::shard_of(
            &kv_jit_core::shard::subscription_key(&world::subscription(s)),
            n,
        );
        per_shard[usize::from(k) - 1] += 1;
    }
    let busiest = per_shard.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    for (cmd, now) in [
        ("grant", t0() + chrono::Duration::minutes(1)),
        ("revoke", t0() + chrono::Duration::hours(2)),
    ] {
        let _clock = FollowWallClock::from(emu.core(), now);
        emu.core().clear_log();
        let (wall, runs) = shards(exe, tmp.path(), &repo.origin, &base, cmd, now, n).await?;
        let failed_runs: Vec<String> = runs
            .iter()
            .enumerate()
            .filter(|(_, m)| m.code != 0)
            .map(|(i, m)| format!("shard {} exit {}: {}", i + 1, m.code, tail(&m.stderr)))
            .collect();
        let log = emu.core().log();
        let writes = log
            .iter()
            .filter(|e| {
                e.path.contains("/roleAssignments/")
                    && ["PUT", "DELETE"].contains(&e.method.as_str())
                    && matches!(e.status, Some(200..=299))
            })
            .count();
        let ledger = origin_ledger(&repo.origin);
        let event = if cmd == "grant" { "granted" } else { "revoked" };
        let (total, distinct) = count_events(&ledger, event);
        let ledger_path = tmp.path().join(format!("{cmd}-ledger.jsonl"));
        std::fs::write(&ledger_path, &ledger).map_err(|e| e.to_string())?;
        let verify = measure::run(&mut emu::kv_jit(
            exe,
            tmp.path(),
            &base,
            &["audit", "verify", &ledger_path.to_string_lossy()],
        ))?;
        let ok_entries = total == spec.requests && distinct == spec.requests;
        let ok =
            failed_runs.is_empty() && ok_entries && verify.code == 0 && writes == spec.requests;
        let in_time = wall < Duration::from_secs(300);
        rows.push(Row {
            id: "S".into(),
            what: format!(
                "{cmd}: {subs} subscriptions × {per}, {n} concurrent `--shard K/{n}` jobs (subscriptions per shard: max {busiest}, {} idle), throttle on (200, 10/s per subscription), {} ms",
                per_shard.iter().filter(|&&c| c == 0).count(),
                size.latency.as_millis()
            ),
            kv_jit: format!(
                "{} ({} × 429); {total} `{event}` entries for {distinct} requests, {writes} ARM writes, chain {}",
                secs(wall.as_secs_f64()),
                emu::throttled(&log),
                if verify.code == 0 { "verifies" } else { "BROKEN" }
            ),
            baseline: format!(
                "one bucket's floor for {per} writes: {}",
                secs(bucket_floor(per, 200.0, 10.0))
            ),
            ratio: ratio(wall.as_secs_f64(), bucket_floor(per, 200.0, 10.0)),
            goal: if cmd == "revoke" { "< 300 s, one entry per event, chain intact".into() } else { "one entry per event, chain intact".into() },
            result: if !failed_runs.is_empty() {
                format!("**no**: {}", failed_runs.join("; "))
            } else if cmd == "revoke" {
                pass(ok && in_time)
            } else {
                pass(ok)
            },
        });
    }
    Ok(rows)
}

/// The least time one subscription's bucket allows for `writes`: the first `capacity` at once,
/// the rest at `rate` a second.
fn bucket_floor(writes: usize, capacity: f64, rate: f64) -> f64 {
    ((writes as f64 - capacity).max(0.0)) / rate
}
