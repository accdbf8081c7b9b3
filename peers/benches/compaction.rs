//! Compaction beside a plain copy + fsync + rename of the same bytes: key compaction of a
//! single-file log, and retention on a segmented log of the same size; and the same segments
//! removed from a log of half the size, which shows whether retention's time follows the
//! segments it removes or the bytes it keeps.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// Retention dropping the oldest `drop` records of a fresh segmented log of `mib` MiB in
/// 16 MiB segments (`None`: the older half): the log's size, the time retention took and the
/// segments it removed, and the log's records.
fn retain(mib: u64, drop: Option<u64>) -> (u64, Duration, u64, u64) {
    let dir = super::common::temp_dir();
    let seg = dir.path().join("segmented");
    let (seg_bytes, records) = generate_segmented(&seg, mib, 16);
    let keep = records - drop.unwrap_or(records / 2).min(records);
    let started = Instant::now();
    let report = Compactor::new(&seg, Policy::new().keep_last(keep))
        .run()
        .expect("retention on the segmented log");
    (seg_bytes, started.elapsed(), report.segments_removed, records)
}

/// Key compaction (newest per `/id`) of a single-file log beside a copy + fsync + rename of
/// it, and retention of the same oldest segments of a segmented log of half its size (keeping
/// the newest half) and of one of its size (keeping three times the bytes), `rounds` times; the
/// medians. The generated segmented logs are the same records in the same 16 MiB segments, so
/// both retentions remove the same files.
pub(super) fn rows(rounds: usize) -> Vec<Row> {
    let mib = size_mib();
    let (mut copies, mut keyed, mut retained, mut removed) = (vec![], vec![], vec![], vec![]);
    let (mut per_second, mut small_per_second) = (vec![], vec![]);
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

        let (small_bytes, small_took, small_segments, small_records) = retain(mib / 2, None);
        let (big_bytes, took, segments, _) = retain(mib, Some(small_records / 2));
        let retention = big_bytes as f64 / took.as_secs_f64();
        eprintln!(
            "  round {round}: copy {:.0} MB/s, key compaction {:.0} MB/s, retention {:.0} MB/s \
             ({segments} segments removed in {took:.1?}; the same removed from a log of {:.0} \
             MB: {small_segments} in {small_took:.1?})",
            copy / 1e6,
            key_rate / 1e6,
            retention / 1e6,
            small_bytes as f64 / 1e6,
        );
        copies.push(copy);
        keyed.push(key_rate);
        retained.push(retention);
        removed.push(segments as f64);
        // Segments removed per second, from the larger log and from the smaller one.
        per_second.push(segments as f64 / took.as_secs_f64());
        small_per_second.push(small_segments as f64 / small_took.as_secs_f64());
    }
    let copy = median(copies);
    let (removed, retained) = (median(removed), median(retained));
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
                "retention on a segmented log, {mib} MiB in 16 MiB segments, the oldest {} removed",
                removed
            ),
            ndlog: retained,
            versus: format!("copy + fsync + rename {}", mbs(copy)),
            limit: copy,
            unit: Unit::Bytes,
            target: Target::None,
        },
        // The same segments removed from a log keeping three times the bytes: a cost that
        // follows the segments removed is the same for both (ratio 1), one that follows the
        // bytes kept, as rewriting the log did, three times the smaller (ratio 0.33).
        Row {
            case: format!(
                "retention O(segments removed): the oldest {removed} segments removed from \
                 {mib} MiB, segments per second (ratio 1: the same time whatever the bytes \
                 kept; 0.33: proportional to them)"
            ),
            ndlog: median(per_second),
            versus: format!(
                "the same segments removed from {} MiB, a third of the bytes kept: {:.0} per second",
                mib / 2,
                median(small_per_second.clone())
            ),
            limit: median(small_per_second),
            unit: Unit::Records,
            target: Target::Ratio(0.67),
        },
    ]
}
