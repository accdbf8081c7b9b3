//! Compaction throughput beside the physical limit — a plain copy of the same bytes, fsync and
//! rename — and the longest a concurrent writer waited while compactions ran.
//!
//! `cargo bench --bench compact`; `NDLOG_BENCH_COMPACT_MB=1024` for the issue's 1 GiB log.
//! Each case runs three times on a freshly generated log; the table shows medians.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ndlog::{Compactor, Durability, JsonPointer, Options, Policy};

const ROUNDS: usize = 3;

fn size_mb() -> u64 {
    std::env::var("NDLOG_BENCH_COMPACT_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// A log of about `mb` MiB of ~120-byte records over 100,000 keys.
fn generate(path: &Path, mb: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let (mut written, mut seq) = (0u64, 0u64);
    let mut line = Vec::new();
    while written < mb << 20 {
        seq += 1;
        line.clear();
        let payload = format!(
            r#"{{"id":"k{}","action":"update","page":"/p/{}","v":{seq}}}"#,
            seq % 100_000,
            seq % 977
        );
        written +=
            ndlog::format::encode(&mut line, seq, 1_763_683_200_000 + seq / 10, payload.as_bytes())
                as u64;
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    // Writers would have kept the index; build it so compaction starts from a normal log.
    Options::new().open(path).unwrap();
    written
}

/// The limit: copy the bytes to a new file, fsync it, rename it over the original, fsync the
/// directory.
fn plain_copy(path: &Path) -> Duration {
    let started = Instant::now();
    let tmp = path.with_extension("copy.tmp");
    let mut src = std::fs::File::open(path).unwrap();
    let mut dst = std::fs::File::create(&tmp).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).unwrap();
    }
    dst.sync_data().unwrap();
    std::fs::rename(&tmp, path).unwrap();
    std::fs::File::open(path.parent().unwrap()).unwrap().sync_all().unwrap();
    started.elapsed()
}

/// Runs `compaction` while a writer appends as fast as it can; returns the compaction's time,
/// its writer-lock hold time and the longest single append.
fn with_writer(path: &Path, policy: Policy) -> (Duration, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), path.to_path_buf());
        std::thread::spawn(move || {
            let w = Options::new().durability(Durability::Never).open(&path).unwrap();
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                w.append_raw(br#"{"id":"live","action":"append"}"#).unwrap();
                longest = longest.max(t.elapsed());
                std::thread::sleep(Duration::from_micros(200));
            }
            longest
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    let report = Compactor::new(path, policy).run().unwrap();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let longest = writer.join().unwrap();
    assert!(report.rewritten);
    (took, report.writer_lock_held, longest)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let mb = size_mb();
    let dir = std::env::var_os("NDLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let dir = tempfile::Builder::new().prefix("ndlog-bench-compact-").tempdir_in(dir).unwrap();
    let path = dir.path().join("log.ndjson");
    let key = JsonPointer::parse("/id").unwrap();
    let cases: [(&str, Policy); 2] = [
        ("retention (keep the newest half)", Policy::new()),
        ("key compaction (newest per /id)", Policy::new().key(key)),
    ];
    println!("## Compaction of a {mb} MiB log\n");
    println!(
        "| case | compaction | plain copy + fsync + rename | ratio | writer lock held | longest append meanwhile |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, policy) in cases {
        let (mut ours, mut copies, mut held, mut longest) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let bytes = generate(&path, mb);
            let records = bytes / 120;
            let policy = if policy.is_repair_only() {
                Policy::new().keep_last(records / 2)
            } else {
                policy.clone()
            };
            // Page-cache the log the same way for both.
            let _ = std::fs::read(&path).unwrap();
            copies.push(bytes as f64 / plain_copy(&path).as_secs_f64());
            let _ = std::fs::read(&path).unwrap();
            let (took, lock, slowest) = with_writer(&path, policy);
            ours.push(bytes as f64 / took.as_secs_f64());
            held.push(lock.as_secs_f64() * 1e3);
            longest.push(slowest.as_secs_f64() * 1e3);
        }
        let (ours, copy) = (median(ours), median(copies));
        println!(
            "| {name} | {:.0} MB/s | {:.0} MB/s | {:.2}x | {:.1} ms | {:.1} ms (max of 3: {:.1} ms) |",
            ours / 1e6,
            copy / 1e6,
            ours / copy,
            median(held),
            median(longest.clone()),
            longest.iter().copied().fold(0.0, f64::max)
        );
    }
}
