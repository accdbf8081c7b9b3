//! Consumers (issue 16): how soon a follower delivers an acknowledged append, what an idle
//! follower costs, and how fast one catches up on a backlog beside the verified scan rate.
//! `cargo bench --bench follow` (about half a minute; the backlog is `$NDLOG_BENCH_FOLLOW_MB`
//! MiB, default 256).
//!
//! Not criterion: latency is a distribution, so each case appends one record at a time, 1 ms
//! apart (the follower is idle and waiting each time, as in production), and reports the
//! percentiles of ack-to-delivery over 2,000 records.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndlog::{Durability, Options, Reader};

const RECORDS: usize = 2000;

/// Ack-to-delivery latencies (µs), sorted.
fn latencies(durability: Durability, committed: bool) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("follow.ndjson");
    let writer = Options::new().durability(durability).open(&path).unwrap();
    writer.append_raw(b"0").unwrap();
    writer.sync().unwrap();
    let start = Instant::now();
    let acked: Arc<Vec<AtomicU64>> =
        Arc::new((0..=RECORDS + 1).map(|_| AtomicU64::new(0)).collect());
    let follow = Reader::open(&path).unwrap().follow_after(1);
    let follow = if committed { follow } else { follow.uncommitted() };
    let reader = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            let mut got = Vec::with_capacity(RECORDS);
            for r in follow.take(RECORDS) {
                let r = r.unwrap();
                let now = start.elapsed().as_nanos() as u64;
                // The append may not have returned yet (the record is visible first): wait.
                let slot = &acked[r.seq as usize - 1];
                let mut ack = slot.load(Ordering::Acquire);
                while ack == 0 {
                    std::hint::spin_loop();
                    ack = slot.load(Ordering::Acquire);
                }
                got.push(now.saturating_sub(ack) as f64 / 1000.0);
            }
            got
        })
    };
    for i in 0..RECORDS {
        std::thread::sleep(Duration::from_millis(1));
        let ack = writer.append_raw(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
        acked[ack.seq as usize - 1].store(start.elapsed().as_nanos() as u64, Ordering::Release);
    }
    let mut got = reader.join().unwrap();
    got.sort_by(f64::total_cmp);
    got
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU time of this process (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// CPU used by a follower waiting on an idle log for `idle`.
fn idle_cpu(idle: Duration) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.ndjson");
    ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    let mut follow = Reader::open(&path).unwrap().follow_after(1);
    let stop = follow.stopper();
    let waiter = std::thread::spawn(move || follow.next().is_none());
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_time();
    std::thread::sleep(idle);
    let used = cpu_time().saturating_sub(before);
    stop.stop();
    assert!(waiter.join().unwrap());
    used
}

/// (verified scan MB/s, committed follower catch-up MB/s) over a backlog of `mib` MiB.
fn catch_up(mib: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backlog.ndjson");
    let writer = Options::new()
        .durability(Durability::Never)
        .exclusive(true)
        .index(false)
        .open(&path)
        .unwrap();
    let payload = format!(r#"{{"user":"u123","action":"page_view","pad":"{}"}}"#, "x".repeat(40));
    let batch: Vec<&[u8]> = vec![payload.as_bytes(); 1000];
    while std::fs::metadata(&path).unwrap().len() < mib << 20 {
        writer.append_raw_batch(&batch).unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    let bytes = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
    let best = |f: &dyn Fn() -> u64| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                bytes / t.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max)
    };
    let scan_once = || Reader::open(&path).unwrap().records().count() as u64;
    let follow_once = || {
        let mut follow = Reader::open(&path).unwrap().follow();
        let mut n = 0;
        loop {
            let batch = follow.next_batch(Some(Duration::ZERO)).unwrap();
            if batch.is_empty() {
                break n;
            }
            n += batch.count() as u64;
        }
    };
    // Alternated, so that a change in the machine's load shows in both.
    let (mut scan, mut follow) = (0.0f64, 0.0f64);
    for _ in 0..3 {
        scan = scan.max(best(&scan_once));
        follow = follow.max(best(&follow_once));
    }
    (scan, follow)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("follow: bench");
        return;
    }
    let mib: u64 =
        std::env::var("NDLOG_BENCH_FOLLOW_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    // NDLOG_BENCH_FOLLOW_ONLY=catch-up: only the catch-up (for a profile).
    let only_catch_up = std::env::var("NDLOG_BENCH_FOLLOW_ONLY").is_ok_and(|v| v == "catch-up");
    if only_catch_up {
        let (scan, follow) = catch_up(mib);
        println!(
            "catch-up: scan {scan:.0} MB/s, follower {follow:.0} MB/s ({:.2}×)",
            follow / scan
        );
        return;
    }
    println!("| case | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, durability, committed) in [
        ("`Never` append → `--uncommitted` follower", Durability::Never, false),
        ("`Always` append → committed follower", Durability::Always, true),
        ("`Never` append + `sync()` → committed follower", Durability::Never, true),
    ] {
        let got = if committed && matches!(durability, Durability::Never) {
            synced_never_latencies()
        } else {
            latencies(durability, committed)
        };
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.0} µs |",
            pct(&got, 0.5),
            pct(&got, 0.99),
            got[got.len() - 1]
        );
    }
    let idle = Duration::from_secs(3);
    println!("\nidle follower: {:?} CPU in {:?}", idle_cpu(idle), idle);
    let (scan, follow) = catch_up(mib);
    println!(
        "catch-up on a {mib} MiB backlog: verified scan {scan:.0} MB/s, committed follower {follow:.0} MB/s ({:.2}×)",
        follow / scan
    );
}

/// `Never` appends each followed by a `sync()`, timed from the sync's return.
fn synced_never_latencies() -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("follow.ndjson");
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    writer.append_raw(b"0").unwrap();
    writer.sync().unwrap();
    let start = Instant::now();
    let acked: Arc<Vec<AtomicU64>> =
        Arc::new((0..=RECORDS + 1).map(|_| AtomicU64::new(0)).collect());
    let follow = Reader::open(&path).unwrap().follow_after(1);
    let reader = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            let mut got = Vec::with_capacity(RECORDS);
            for r in follow.take(RECORDS) {
                let r = r.unwrap();
                let now = start.elapsed().as_nanos() as u64;
                let slot = &acked[r.seq as usize - 1];
                let mut ack = slot.load(Ordering::Acquire);
                while ack == 0 {
                    std::hint::spin_loop();
                    ack = slot.load(Ordering::Acquire);
                }
                got.push(now.saturating_sub(ack) as f64 / 1000.0);
            }
            got
        })
    };
    for i in 0..RECORDS {
        std::thread::sleep(Duration::from_millis(1));
        let seq = writer.append_raw(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap().seq;
        writer.sync().unwrap();
        acked[seq as usize - 1].store(start.elapsed().as_nanos() as u64, Ordering::Release);
    }
    let mut got = reader.join().unwrap();
    got.sort_by(f64::total_cmp);
    got
}
