//! Compaction beside a plain copy + fsync + rename of the same bytes: key compaction of a
//! single-file log, and retention on a segmented log of the same size; and retention on a
//! segmented log of a quarter of the size in as many segments (of a quarter of the size), which
//! shows whether retention's time follows the segments it removes or the bytes.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ndlog::{Compactor, Durability, JsonPointer, Options, Policy};
use ndlog_peers::limits::copy_fsync_rename;

use super::common::{Unit, median};
use super::{Row, Target};

fn size_mib() -> u64 {
    std::env::var("NDLOG_PEERS_COMPACT_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// The `seq`-th payload: about 60 bytes over 100,000 keys, as in `benches/compact.rs`.
fn keyed_payload(seq: u64) -> String {
    format!(
        r#"{{"id":"k{}","action":"update","page":"/p/{}","v":{seq}}}"#,
        seq % 100_000,
        seq % 977
    )
}

/// Writes a single-file log of about `mib` MiB; returns its size.
fn generate_file(path: &Path, mib: u64) -> u64 {
    let file = std::fs::File::create(path).expect("create the log");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut written, mut seq, mut line) = (0u64, 0u64, Vec::new());
    while written < mib << 20 {
        seq += 1;
        line.clear();
        let ts = 1_763_683_200_000 + seq / 10;
        written += ndlog::format::encode(&mut line, seq, ts, keyed_payload(seq).as_bytes()) as u64;
        out.write_all(&line).expect("write the log");
    }
    out.flush().expect("flush the log");
    drop(out);
    // Writers would have kept the index; build it so compaction starts from a normal log.
    Options::new().open(path).expect("open the generated log");
    written
}

/// Writes a segmented log of `segment_mib` MiB segments, about `mib` MiB in all, with ndlog;
/// returns its size and its number of records.
fn generate_segmented(dir: &Path, mib: u64, segment_mib: u64) -> (u64, u64) {
    let writer = Options::new()
        .durability(Durability::Never)
        .segments(ndlog::segments::Settings::new(segment_mib << 20))
        .open(dir)
        .expect("create the segmented log");
    let (mut written, mut seq) = (0u64, 0u64);
    while written < mib << 20 {
        let batch: Vec<String> = (0..4096).map(|i| keyed_payload(seq + i)).collect();
        seq += 4096;
        let payloads: Vec<&[u8]> = batch.iter().map(|p| p.as_bytes()).collect();
        writer.append_raw_batch(&payloads).expect("append to the segmented log");
        // Each line is the payload plus about 60 bytes of frame.
        written += payloads.iter().map(|p| p.len() as u64 + 60).sum::<u64>();
    }
    writer.sync().expect("sync the segmented log");
    drop(writer);
    (dir_bytes(dir), seq)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list the segmented log")
        .map(|e| e.expect("a directory entry").metadata().expect("stat").len())
        .sum()
}

/// Retention (keep the newest half) of a fresh segmented log of `mib` MiB in `segment_mib` MiB
/// segments: the log's bytes per second of retention, and the segments it removed.
fn retain_half(mib: u64, segment_mib: u64) -> (f64, u64) {
    let dir = super::common::temp_dir();
    let seg = dir.path().join("segmented");
    let (seg_bytes, records) = generate_segmented(&seg, mib, segment_mib);
    let started = Instant::now();
    let report = Compactor::new(&seg, Policy::new().keep_last(records / 2))
        .run()
        .expect("retention on the segmented log");
    (seg_bytes as f64 / started.elapsed().as_secs_f64(), report.segments_removed)
}

/// Key compaction (newest per `/id`) of a single-file log and retention (keep the newest half)
/// of a segmented log in 16 MiB segments, each beside a copy + fsync + rename of its
/// single-file log, and retention of a quarter of the log in as many 4 MiB segments, `rounds`
/// times; the medians.
pub(super) fn rows(rounds: usize) -> Vec<Row> {
    let mib = size_mib();
    let (mut copies, mut keyed, mut retained, mut removed) = (vec![], vec![], vec![], vec![]);
    let (mut small_retained, mut small_removed) = (vec![], vec![]);
    for round in 1..=rounds {
        let dir = super::common::temp_dir();
        let path = dir.path().join("log.ndjson");
        let bytes = generate_file(&path, mib);
        // Page-cache the log the same way for both.
        let _ = std::fs::read(&path).expect("read the log");
        let copy = bytes as f64 / copy_fsync_rename(&path).as_secs_f64();
        let _ = std::fs::read(&path).expect("read the log");
        let key = JsonPointer::parse("/id").expect("a JSON pointer");
        let report = Compactor::new(&path, Policy::new().key(key)).run().expect("key compaction");
        assert!(report.rewritten, "key compaction rewrote the log");
        let key_rate = bytes as f64 / report.elapsed.as_secs_f64();
        drop(dir);

        let (retention, segments) = retain_half(mib, 16);
        let (small, small_segments) = retain_half(mib / 4, 4);
        eprintln!(
            "  round {round}: copy {:.0} MB/s, key compaction {:.0} MB/s, retention {:.0} MB/s \
             ({segments} segments removed; a quarter of the log in as many segments {:.0} MB/s, \
             {small_segments} removed)",
            copy / 1e6,
            key_rate / 1e6,
            retention / 1e6,
            small / 1e6,
        );
        copies.push(copy);
        keyed.push(key_rate);
        retained.push(retention);
        removed.push(segments as f64);
        small_retained.push(small);
        small_removed.push(small_segments as f64);
    }
    let copy = median(copies);
    let (removed, retained) = (median(removed), median(retained));
    let (small_removed, small_retained) = (median(small_removed), median(small_retained));
    let mbs = |x: f64| format!("{:.0} MB/s", x / 1e6);
    vec![
        Row {
            case: format!("key compaction (newest per /id), {mib} MiB"),
            ndlog: median(keyed),
            versus: format!("copy + fsync + rename {}", mbs(copy)),
            limit: copy,
            unit: Unit::Bytes,
            target: Target::Ratio(0.7),
        },
        Row {
            case: format!(
                "retention (keep the newest half) on a segmented log, {mib} MiB, {} segments removed",
                removed
            ),
            ndlog: retained,
            versus: format!("copy + fsync + rename {}", mbs(copy)),
            limit: copy,
            unit: Unit::Bytes,
            target: Target::None,
        },
        // Retention's time on 4× the bytes in as many segments: 1× of the smaller log's time is
        // a cost that follows the segments, 4× one that follows the bytes. As rates (bytes of
        // log per second), the ratio is that of the times, smaller to larger.
        Row {
            case: format!(
                "retention O(segments): {mib} MiB, {} segments removed, against {} MiB in as \
                 many segments, {} removed (the ratio is of the times: 1 when they do not \
                 depend on the bytes, 0.25 when proportional)",
                removed,
                mib / 4,
                small_removed,
            ),
            ndlog: retained,
            versus: format!(
                "4 × the rate on {} MiB in as many 4 MiB segments ({} × 4)",
                mib / 4,
                mbs(small_retained)
            ),
            limit: 4.0 * small_retained,
            unit: Unit::Bytes,
            target: Target::Ratio(0.5),
        },
    ]
}
