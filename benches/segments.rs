//! Segmented logs (issue 12), each figure beside what it is judged against, in one run:
//! `cargo bench --bench segments` (about 6 minutes, under 2 GB of disk at its peak).
//!
//! 1. Retention on a log of 1,200 sealed segments: removing 10, 100 and then 1,000 segments
//!    with `keep_last`, against `Compactor` on a single-file log of the same records with the
//!    same `keep_last`; at two segment sizes, to show that the time follows the segments
//!    removed and not the bytes kept.
//! 2. `get(seq)`, random and warm, on `$NDLOG_BENCH_SEG_RECORDS` records (default 10^7) in 10,
//!    100 and 1,000 segments, alternating round by round with the same records as one file.
//! 3. Latency of single `Always` appends across many rolls (small segments), plain and
//!    preallocated, interleaved append by append with the raw append + `fdatasync` loop; and
//!    the append that rolls a segment of 1 MiB to 64 MiB.
//! 4. Throughput with `Always`: plain and preallocated segments beside the raw `O_APPEND` +
//!    `fdatasync` loop and the `pwrite`-in-place + `fdatasync` loop on a preallocated file,
//!    interleaved append by append.
//!
//! Not criterion: the figures are medians of rounds, and every limit is measured in the same
//! run. Files go to `$NDLOG_BENCH_DIR` or cargo's `target/tmp`, and are removed afterwards.

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    // Shared files whose other items serve other benches.
    #[allow(dead_code, reason = "open_writer opens single-file logs")]
    mod files;
    mod lookup;
    mod median;
    mod payloads;
    #[allow(
        dead_code,
        reason = "this bench interleaves its raw loops with ndlog's, append by append"
    )]
    mod raw;
    mod segment_log;
    #[allow(dead_code, reason = "this bench's tables have columns of their own")]
    mod table;

    pub(crate) use files::temp_dir;
    pub(crate) use lookup::{lookup_floor, lookup_targets};
    pub(crate) use median::median;
    pub(crate) use payloads::{line_for, payload};
    pub(crate) use raw::write_once;
    pub(crate) use segment_log::{
        MAX_RECORD, build_segmented, build_single, check_hand_built, lookups_segmented,
        lookups_single,
    };
    pub(crate) use table::{Unit, fmt_rate, fmt_ratio};
}

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::hint::black_box;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use ndlog::fs::StdFs;
use ndlog::segments::{SegmentedReader, Settings};
use ndlog::{Compactor, Durability, Options, Policy, Reader};

use common::{Unit, median};

/// Rounds of the retention and lookup measurements; medians are reported.
const ROUNDS: usize = 3;
/// Rounds of the lookup comparison (cheap, and the ratio is the target).
const LOOKUP_ROUNDS: usize = 5;

fn main() {
    let started = Instant::now();
    println!("# Segmented logs (issue 12)");
    // `NDLOG_BENCH_SEG_ONLY=roll_cost,throughput` runs only those sections.
    let only = std::env::var("NDLOG_BENCH_SEG_ONLY").unwrap_or_default();
    let sections: [(&str, fn()); 6] = [
        ("hand_built", hand_built),
        ("retention", retention),
        ("lookups", lookups),
        ("latency_across_rolls", latency_across_rolls),
        ("roll_cost", roll_cost),
        ("throughput", throughput),
    ];
    for (name, run) in sections {
        if only.is_empty() || only.split(',').any(|o| o == name) {
            run();
        }
    }
    eprintln!("segments bench: {:.0} s", started.elapsed().as_secs_f64());
}

/// Records in the lookup logs: `$NDLOG_BENCH_SEG_RECORDS`, default 10^7.
fn lookup_records() -> u64 {
    std::env::var("NDLOG_BENCH_SEG_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Checks that logs built by hand are what writers leave, and how much faster it is.
fn hand_built() {
    let (records, per) = (200_000, 2_000);
    let (hand, writer) = common::check_hand_built(records, per);
    println!("\n## Building the bench logs\n");
    println!(
        "{records} records in segments of {per}, hand-built (`format::encode` into segment \
         files, indexes by `Writer::index_segments`) and through a writer (`import_records` in \
         batches of {per}, `Durability::Never`, one `sync`): the same segment files byte for \
         byte, the same file names, every index current.\n"
    );
    println!("| build | time | records/s |");
    println!("| --- | ---: | ---: |");
    for (name, took) in [("by hand", hand), ("through a writer", writer)] {
        println!(
            "| {name} | {:.0} ms | {:.2} M/s |",
            ms(took),
            records as f64 / took.as_secs_f64() / 1e6
        );
    }
}

/// Retention by whole segments against a single-file compaction of the same records.
fn retention() {
    const SEALED: u64 = 1_200;
    const REMOVE: [u64; 3] = [10, 100, 1_000];
    println!("\n## Retention: removing k sealed segments with keep_last\n");
    println!(
        "A log of {SEALED} sealed segments and an active one; `keep_last` set so that 10, then \
         100 more, then 1,000 more segments go. \"single file\" is `Compactor` with the same \
         `keep_last` on the same records as one file. Medians of {ROUNDS} rounds, each on \
         freshly built logs.\n"
    );
    println!(
        "| segment | k removed | bytes kept | segmented | per segment | unlink k segment + index \
         files, fsync dir | ratio (unlink ÷ segmented) | single file | single file ÷ segmented |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for per in [1_000u64, 4_000] {
        let records = (SEALED + 1) * per;
        let mut seg = vec![Vec::new(); REMOVE.len()];
        let mut single = vec![Vec::new(); REMOVE.len()];
        let mut limit = vec![Vec::new(); REMOVE.len()];
        let mut kept = vec![0u64; REMOVE.len()];
        let mut segment_bytes = 0;
        for round in 1..=ROUNDS {
            let tmp = common::temp_dir();
            let (dir, file) = (tmp.path().join("seg"), tmp.path().join("single.ndjson"));
            common::build_segmented(&dir, records, per);
            common::build_single(&file, records);
            segment_bytes = std::fs::metadata(file.as_path()).map_or(0, |m| m.len()) / (SEALED + 1);
            let index_bytes =
                std::fs::metadata(dir.join(format!("{:020}.idx", per + 1))).map_or(0, |m| m.len());
            let plain = tmp.path().join("plain");
            let files = plain_files(&plain, REMOVE.iter().sum(), segment_bytes, index_bytes);
            let mut files = files.chunks(2);
            let mut removed = 0;
            for (i, &k) in REMOVE.iter().enumerate() {
                removed += k;
                let policy = Policy::new().keep_last(records - removed * per);
                let t = Instant::now();
                let report = Compactor::new(&dir, policy.clone()).run().expect("retention");
                let took = t.elapsed();
                assert_eq!(report.segments_removed, k, "{report:?}");
                seg[i].push(ms(took));
                kept[i] = report.bytes_after;
                let t = Instant::now();
                let report = Compactor::new(&file, policy).run().expect("compaction");
                let took_single = t.elapsed();
                assert_eq!(report.dropped, k * per, "{report:?}");
                single[i].push(ms(took_single));
                let t = Instant::now();
                for pair in files.by_ref().take(k as usize) {
                    for file in pair {
                        std::fs::remove_file(file).expect("unlink");
                    }
                }
                std::fs::File::open(&plain).and_then(|d| d.sync_all()).expect("fsync");
                let took_limit = t.elapsed();
                limit[i].push(ms(took_limit));
                eprintln!(
                    "  round {round}: {per} records a segment, k = {k}: {:.2} ms / single file \
                     {:.1} ms / unlink {:.2} ms",
                    ms(took),
                    ms(took_single),
                    ms(took_limit)
                );
            }
        }
        for (i, &k) in REMOVE.iter().enumerate() {
            let (s, f) = (median(seg[i].clone()), median(single[i].clone()));
            let l = median(limit[i].clone());
            println!(
                "| {} KB | {k} | {:.0} MB | {s:.2} ms | {:.2} ms | {l:.2} ms | {}× | {f:.0} ms | \
                 {}× |",
                segment_bytes / 1000,
                kept[i] as f64 / 1e6,
                s / k as f64,
                common::fmt_ratio(l / s),
                common::fmt_ratio(f / s)
            );
        }
    }
}

/// The limit of retention: `count` pairs of plain files, one of a segment's size and one of its
/// index's, written and synced in `dir` (made here), for the bench to unlink.
fn plain_files(dir: &Path, count: u64, segment: u64, index: u64) -> Vec<std::path::PathBuf> {
    std::fs::create_dir(dir).expect("create the limit's directory");
    let bytes = vec![b'\n'; segment.max(index) as usize];
    let mut files = Vec::new();
    for i in 0..count {
        for (what, len) in [("segment", segment), ("index", index)] {
            let path = dir.join(format!("{i:06}.{what}"));
            let file = std::fs::File::create_new(&path).expect("create a plain file");
            common::write_once(&file, &bytes[..len as usize]);
            file.sync_data().expect("fdatasync");
            files.push(path);
        }
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).expect("fsync the directory");
    files
}

/// Random warm `get(seq)` on a segmented log against the same records in one file.
fn lookups() {
    let records = lookup_records();
    let tmp = common::temp_dir();
    let file = tmp.path().join("single.ndjson");
    let t = Instant::now();
    common::build_single(&file, records);
    eprintln!("  single-file log of {records} records built in {:.1} s", t.elapsed().as_secs_f64());
    let single = Reader::open(&file).expect("open the single-file log");
    let targets = common::lookup_targets(records);
    let n = targets.len() as f64;
    println!("\n## get(seq): {records} records, {} random lookups, warm\n", targets.len());
    println!(
        "Each round times one pass over the same pseudo-random seqs on the segmented log and on \
         the single-file log, one after the other; medians of {LOOKUP_ROUNDS} rounds, the ratio \
         is the median of the rounds' ratios. Target: within 20% of the single file (≥ 0.8×).\n"
    );
    println!(
        "| segments | records a segment | segmented | single file | ratio | name search alone \
         (`part_of`) | memory floor (single file) | target |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for segments in [10u64, 100, 1_000] {
        let per = records.div_ceil(segments);
        let dir = tmp.path().join(format!("seg-{segments}"));
        let t = Instant::now();
        common::build_segmented(&dir, records, per);
        eprintln!("  {segments} segments built in {:.1} s", t.elapsed().as_secs_f64());
        let log = SegmentedReader::open(&dir).expect("open the segmented log");
        assert_eq!(log.parts().len() as u64, segments);
        // Warm both: every page of the logs and indexes the lookups touch.
        let expect = common::lookups_single(&single, &targets);
        assert_eq!(common::lookups_segmented(&log, &targets), expect);
        let (mut seg, mut one, mut ratios) = (vec![], vec![], vec![]);
        let (mut floor, mut names) = (vec![], vec![]);
        for round in 1..=LOOKUP_ROUNDS {
            let t = Instant::now();
            black_box(common::lookups_segmented(&log, &targets));
            let s = n / t.elapsed().as_secs_f64();
            let t = Instant::now();
            black_box(common::lookups_single(&single, &targets));
            let f = n / t.elapsed().as_secs_f64();
            let t = Instant::now();
            let sum = targets.iter().map(|&q| common::lookup_floor(&single, q) as u64).sum::<u64>();
            black_box(sum);
            floor.push(n / t.elapsed().as_secs_f64());
            let t = Instant::now();
            let sum = targets
                .iter()
                .map(|&q| log.part_of(q).expect("a segment").name.first_seq)
                .fold(0u64, u64::wrapping_add);
            black_box(sum);
            names.push(n / t.elapsed().as_secs_f64());
            eprintln!("  round {round}: {segments} segments {s:.0}/s, single file {f:.0}/s");
            seg.push(s);
            one.push(f);
            ratios.push(s / f);
        }
        let ratio = median(ratios);
        println!(
            "| {segments} | {per} | {} | {} | {}× | {} | {} | ≥ 0.8×: {} |",
            common::fmt_rate(median(seg), Unit::Records),
            common::fmt_rate(median(one), Unit::Records),
            common::fmt_ratio(ratio),
            common::fmt_rate(median(names), Unit::Records),
            common::fmt_rate(median(floor), Unit::Records),
            if ratio >= 0.8 { "met" } else { "MISSED" }
        );
        drop(log);
        std::fs::remove_dir_all(&dir).expect("remove the segmented log");
    }
}

/// The p-th quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

/// The first seqs of a segmented log's segments after its first: the seqs whose append rolled.
fn roll_seqs(dir: &Path) -> HashSet<u64> {
    let segments = ndlog::segments::list(&StdFs, dir).expect("list the segments");
    segments.iter().skip(1).map(|s| s.name.first_seq).collect()
}

/// Single `Always` appends of 100-byte payloads to small segments, plain and preallocated, and
/// the raw append + `fdatasync` loop, interleaved append by append (rotating order).
fn latency_across_rolls() {
    const SEGMENT: u64 = 16 << 10;
    const APPENDS: usize = 10_000;
    const BUDGET: Duration = Duration::from_secs(40);
    let tmp = common::temp_dir();
    let payload = common::payload(100);
    let line = common::line_for(&payload);
    let open = |name: &str, preallocate: bool| {
        let settings = Settings { preallocate, ..Settings::new(SEGMENT) };
        Options::new()
            .max_record_size(MAX_RECORD_FOR_ROLLS)
            .durability(Durability::Always)
            .segments(settings)
            .open(tmp.path().join(name))
            .expect("open a segmented log")
    };
    let (plain, padded) = (open("plain", false), open("preallocated", true));
    let raw = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(tmp.path().join("raw.ndjson"))
        .expect("create the raw file");
    let (mut plain_t, mut padded_t, mut raw_t) = (vec![], vec![], vec![]);
    let begun = Instant::now();
    let mut done = 0;
    while done < APPENDS && begun.elapsed() < BUDGET {
        for turn in 0..3 {
            let t = Instant::now();
            match (turn + done) % 3 {
                0 => {
                    let ack = plain.append_raw(&payload).expect("append");
                    plain_t.push((ack.seq, t.elapsed()));
                }
                1 => {
                    let ack = padded.append_raw(&payload).expect("append");
                    padded_t.push((ack.seq, t.elapsed()));
                }
                _ => {
                    common::write_once(&raw, &line);
                    raw.sync_data().expect("fdatasync");
                    raw_t.push(t.elapsed());
                }
            }
        }
        done += 1;
    }
    println!("\n## Append latency across rolls: segments of {} KiB\n", SEGMENT >> 10);
    println!(
        "{done} single appends of 100-byte payloads (`append_raw`, `Durability::Always`) to each \
         log, interleaved append by append with the raw `O_APPEND` write + `fdatasync` loop on a \
         third file, so that all three see the same disk. \"roll\" is the append that sealed the \
         segment and started the next (under the lock: fdatasync, rename, create, directory \
         fsync).\n"
    );
    println!(
        "| case | appends | rolls | p50 | p99 | max | roll append: median | roll append: max | \
         max of the other appends |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, times, log) in [
        ("plain segments", &plain_t, "plain"),
        ("preallocated segments", &padded_t, "preallocated"),
    ] {
        let rolls = roll_seqs(&tmp.path().join(log));
        let us = |d: &Duration| d.as_secs_f64() * 1e6;
        let all = sorted(times.iter().map(|(_, d)| us(d)).collect());
        let rolling =
            sorted(times.iter().filter(|(s, _)| rolls.contains(s)).map(|(_, d)| us(d)).collect());
        let others =
            sorted(times.iter().filter(|(s, _)| !rolls.contains(s)).map(|(_, d)| us(d)).collect());
        println!(
            "| {name} | {} | {} | {:.0} µs | {:.0} µs | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            all.len(),
            rolling.len(),
            quantile(&all, 0.5),
            quantile(&all, 0.99),
            quantile(&all, 1.0) / 1e3,
            quantile(&rolling, 0.5) / 1e3,
            quantile(&rolling, 1.0) / 1e3,
            quantile(&others, 1.0) / 1e3,
        );
    }
    let raw_us = sorted(raw_t.iter().map(|d| d.as_secs_f64() * 1e6).collect());
    println!(
        "| raw write + fdatasync | {} | — | {:.0} µs | {:.0} µs | {:.2} ms | — | — | — |",
        raw_us.len(),
        quantile(&raw_us, 0.5),
        quantile(&raw_us, 0.99),
        quantile(&raw_us, 1.0) / 1e3,
    );
}

/// The record limit of the roll benches' logs (segments of 16 KiB must hold one).
const MAX_RECORD_FOR_ROLLS: usize = common::MAX_RECORD;

/// The append that rolls a segment of realistic size: a `Never` handle fills the segment to
/// 20 records short of its roll and syncs, then an `Always` handle appends across the roll.
fn roll_cost() {
    const ROLLS: u64 = 3;
    const AROUND: u64 = 40;
    println!("\n## The append that rolls, by segment size\n");
    println!(
        "Segments rolled by record count (sized to the segment bytes); a `Durability::Never` \
         handle fills each to {} records short of the roll and syncs, then an `Always` handle \
         appends {AROUND} records across it; {ROLLS} rolls each. \"other appends\" are the \
         `Always` appends around the rolls. Preallocated: from the second roll on, the spare \
         segment the previous roll made in the background is ready (waited for: this fill is \
         faster than any durable one); the first roll makes its segment itself, so the max \
         shows that case.\n",
        AROUND / 2
    );
    println!(
        "| segment | case | roll append: median | roll append: max | other appends: p50 | \
         other appends: max |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: |");
    let payload = common::payload(100);
    let line_len = common::line_for(&payload).len() as u64;
    for mib in [1u64, 16, 64] {
        for preallocate in [false, true] {
            let tmp = common::temp_dir();
            let dir = tmp.path().join("log");
            let bytes = mib << 20;
            let per = bytes / (line_len + 8);
            let settings =
                Settings { segment_records: Some(per), preallocate, ..Settings::new(bytes) };
            let opts = Options::new().max_record_size(MAX_RECORD_FOR_ROLLS).segments(settings);
            let filler = opts.clone().durability(Durability::Never).open(&dir).expect("open");
            let timed = opts.durability(Durability::Always).open(&dir).expect("open");
            let batch: Vec<&[u8]> = vec![&payload[..]; 1000];
            let (mut rolling, mut others) = (vec![], vec![]);
            let mut last = 0u64;
            for roll in 1..=ROLLS {
                let target = roll * per - AROUND / 2;
                while last < target {
                    let n = (target - last).min(batch.len() as u64) as usize;
                    let ack = filler.append_raw_batch(&batch[..n]).expect("fill");
                    last = ack.first_seq + ack.count - 1;
                }
                filler.sync().expect("sync");
                // A segment filled at a durable rate takes longer than the spare segment the
                // previous roll started in the background; this fill does not, so wait for it
                // (the first roll of a new log has none: it makes its segment itself).
                let spare = dir.join("ndlog.spare");
                let waited = Instant::now();
                while preallocate && roll > 1 && !spare.exists() && waited.elapsed().as_secs() < 30
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                for _ in 0..AROUND {
                    let t = Instant::now();
                    let ack = timed.append_raw(&payload).expect("append");
                    let took = t.elapsed().as_secs_f64() * 1e3;
                    last = ack.seq;
                    if ack.seq == roll * per + 1 { rolling.push(took) } else { others.push(took) }
                }
            }
            assert_eq!(rolling.len() as u64, ROLLS, "one append rolled each segment");
            let (rolling, others) = (sorted(rolling), sorted(others));
            println!(
                "| {mib} MiB | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                if preallocate { "preallocated" } else { "plain" },
                quantile(&rolling, 0.5),
                quantile(&rolling, 1.0),
                quantile(&others, 0.5),
                quantile(&others, 1.0),
            );
        }
    }
}

/// Durable appends per second: plain and preallocated segments beside the raw loops, all four
/// interleaved append by append (rotating order) so that they share the disk's every swing.
fn throughput() {
    const SEGMENT: u64 = 1 << 20;
    const RUN: Duration = Duration::from_secs(3);
    const RUNS: usize = 5;
    /// The overwrite loop's preallocated file; its offset wraps around.
    const OVERWRITE_FILE: u64 = 32 << 20;
    let tmp = common::temp_dir();
    let payload = common::payload(100);
    let line = common::line_for(&payload);
    let open = |name: &str, preallocate: bool| {
        let settings = Settings { preallocate, ..Settings::new(SEGMENT) };
        Options::new()
            .max_record_size(MAX_RECORD_FOR_ROLLS)
            .durability(Durability::Always)
            .segments(settings)
            .open(tmp.path().join(name))
            .expect("open a segmented log")
    };
    let (plain, padded) = (open("plain", false), open("preallocated", true));
    let raw = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(tmp.path().join("raw.ndjson"))
        .expect("create the raw file");
    let over = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(tmp.path().join("overwrite.ndjson"))
        .expect("create the overwrite file");
    let padding = vec![b'\n'; 1 << 20];
    for at in (0..OVERWRITE_FILE).step_by(padding.len()) {
        over.write_all_at(&padding, at).expect("preallocate");
    }
    over.sync_all().expect("fsync the preallocated file");
    let names = [
        "ndlog, plain segments",
        "ndlog, preallocated segments",
        "raw O_APPEND write + fdatasync",
        "raw pwrite in place + fdatasync, preallocated file",
    ];
    let (mut rates, mut ratios) = (vec![Vec::new(); 4], vec![Vec::new(); 6]);
    let mut at = 0u64;
    for run in 1..=RUNS {
        let mut took = [Duration::ZERO; 4];
        let mut done = 0u64;
        let begun = Instant::now();
        while begun.elapsed() < RUN {
            for turn in 0..4 {
                let case = (turn + done as usize) % 4;
                let t = Instant::now();
                match case {
                    0 => {
                        black_box(plain.append_raw(&payload).expect("append"));
                    }
                    1 => {
                        black_box(padded.append_raw(&payload).expect("append"));
                    }
                    2 => {
                        common::write_once(&raw, &line);
                        raw.sync_data().expect("fdatasync");
                    }
                    _ => {
                        if at + line.len() as u64 > OVERWRITE_FILE {
                            at = 0;
                        }
                        over.write_all_at(&line, at).expect("pwrite");
                        over.sync_data().expect("fdatasync");
                        at += line.len() as u64;
                    }
                }
                took[case] += t.elapsed();
            }
            done += 1;
        }
        let rate: Vec<f64> = took.iter().map(|t| done as f64 / t.as_secs_f64()).collect();
        eprintln!(
            "  run {run}: {}",
            names
                .iter()
                .zip(&rate)
                .map(|(n, r)| format!("{n} {}", common::fmt_rate(*r, Unit::Records)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (all, r) in rates.iter_mut().zip(&rate) {
            all.push(*r);
        }
        let pairs = [(0, 2), (1, 2), (1, 0), (1, 3), (0, 3), (3, 2)];
        for (all, (a, b)) in ratios.iter_mut().zip(pairs) {
            all.push(rate[a] / rate[b]);
        }
    }
    let rate = |i: usize| common::fmt_rate(median(rates[i].clone()), Unit::Records);
    let ratio = |i: usize| common::fmt_ratio(median(ratios[i].clone()));
    println!(
        "\n## Durable throughput: segments of {} MiB, 100-byte payloads, 1 thread, \
         Durability::Always\n",
        SEGMENT >> 20
    );
    println!(
        "The four loops interleaved append by append (rotating order) for {} s, {RUNS} times; \
         each rate is the records over the time spent in that loop, medians of the runs; each \
         ratio is the median of the runs' ratios. The raw loops write ndlog's line for the \
         payload (the same bytes per record).\n",
        RUN.as_secs()
    );
    println!("| case | records/s | compared with | records/s | ratio |");
    println!("| --- | ---: | --- | ---: | ---: |");
    for (i, (a, b)) in [(0, 2), (1, 2), (1, 0), (1, 3), (0, 3), (3, 2)].into_iter().enumerate() {
        println!("| {} | {} | {} | {} | {}× |", names[a], rate(a), names[b], rate(b), ratio(i));
    }
}
