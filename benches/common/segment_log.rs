//! Logs for the segment bench, built quickly: the same records as a segmented log (segment
//! files written directly with `ndlog::format::encode`, indexed through the library) and as a
//! single-file log. [`check_hand_built`] proves that a hand-built segmented log is byte for byte
//! what writers leave.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ndlog::fs::StdFs;
use ndlog::segments::{SegmentName, SegmentedReader, Settings};
use ndlog::{Durability, Options, Reader};

/// The record limit the bench's logs are opened with: small, so that small segments are legal.
pub(crate) const MAX_RECORD: usize = 4096;

/// The record with seq `seq`: its ts (non-decreasing, ten records a millisecond) and the line.
pub(crate) fn record_line(out: &mut Vec<u8>, seq: u64) {
    let mut payload = [0u8; 32];
    let mut cursor = &mut payload[..];
    write!(cursor, r#"{{"n":{seq}}}"#).expect("a short payload");
    let len = 32 - cursor.len();
    ndlog::format::encode(out, seq, 1_763_683_200_000 + seq / 10, &payload[..len]);
}

/// The settings of a log of segments of `per_segment` records each (rolled by count; the byte
/// limit is far above what they hold).
pub(crate) fn settings(per_segment: u64) -> Settings {
    Settings { segment_records: Some(per_segment), ..Settings::new(1 << 36) }
}

/// Writer options for the bench's logs.
pub(crate) fn options(settings: Settings) -> Options {
    Options::new().max_record_size(MAX_RECORD).durability(Durability::Never).segments(settings)
}

/// Writes records `1..=records` as the segmented log `dir`, `per_segment` records a segment,
/// the last one active, as writers rolling by count would leave them: the settings file by
/// [`ndlog::segments::create`], each segment synced, the sealed segments' indexes built by
/// [`ndlog::Writer::index_segments`] and the active one's by the writer's open.
pub(crate) fn build_segmented(dir: &Path, records: u64, per_segment: u64) {
    let settings = settings(per_segment);
    ndlog::segments::create(&StdFs, dir, &settings, MAX_RECORD, 0o600).expect("create the log");
    let mut line = Vec::with_capacity(128);
    let mut first = 1;
    while first <= records {
        let last = (first + per_segment - 1).min(records);
        let name = if last == records {
            SegmentName::active(first, false)
        } else {
            SegmentName::sealed(first)
        };
        let file = File::create_new(dir.join(name.file_name())).expect("create a segment");
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for seq in first..=last {
            line.clear();
            record_line(&mut line, seq);
            out.write_all(&line).expect("write a segment");
        }
        let file = out.into_inner().expect("flush a segment");
        file.sync_data().expect("fdatasync a segment");
        first = last + 1;
    }
    let writer = options(settings).open(dir).expect("open the hand-built log");
    writer.index_segments(false).expect("index the sealed segments");
    drop(writer);
    File::open(dir).and_then(|d| d.sync_all()).expect("fsync the log directory");
}

/// Writes records `1..=records` as the single-file log `path` and its index.
pub(crate) fn build_single(path: &Path, records: u64) {
    let file = File::create_new(path).expect("create the log");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(128);
    for seq in 1..=records {
        line.clear();
        record_line(&mut line, seq);
        out.write_all(&line).expect("write the log");
    }
    out.into_inner().expect("flush the log").sync_data().expect("fdatasync the log");
    // Writers would have kept the index; the open builds it.
    Options::new().max_record_size(MAX_RECORD).open(path).expect("index the log");
}

/// The same log through a writer: each segment's records imported (seq and ts kept) in batches
/// that never straddle a roll, `Durability::Never`, one `sync` at the end.
pub(crate) fn build_through_writer(dir: &Path, records: u64, per_segment: u64) {
    let batch = (1..=1000).rev().find(|&b| per_segment.is_multiple_of(b)).unwrap_or(1);
    let writer = options(settings(per_segment)).open(dir).expect("open the log");
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(batch as usize);
    let mut seq = 1;
    while seq <= records {
        lines.clear();
        for s in seq..(seq + batch).min(records + 1) {
            let mut line = Vec::with_capacity(128);
            record_line(&mut line, s);
            line.pop(); // import takes lines without their newline
            lines.push(line);
        }
        writer.import_records(&lines).expect("import");
        seq += batch;
    }
    writer.sync().expect("sync");
}

/// Builds the same segmented log by hand and through a writer, checks that every segment file
/// has the same name and bytes, that the settings files are identical, that every segment's
/// index is complete and current, and that a writer appends after it. Returns the time each
/// build took.
pub(crate) fn check_hand_built(records: u64, per_segment: u64) -> (Duration, Duration) {
    let tmp = super::files::temp_dir();
    let (hand, writer) = (tmp.path().join("hand"), tmp.path().join("writer"));
    let started = Instant::now();
    build_segmented(&hand, records, per_segment);
    let by_hand = started.elapsed();
    let started = Instant::now();
    build_through_writer(&writer, records, per_segment);
    let through_writer = started.elapsed();
    let names = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .filter(|n| n != "ndlog.lock")
            .collect();
        v.sort();
        v
    };
    let (a, b) = (names(&hand), names(&writer));
    assert_eq!(a, b, "a hand-built log has the files a writer leaves");
    for name in &a {
        if name.ends_with(".idx") {
            continue; // its header names the segment's inode
        }
        let same = std::fs::read(hand.join(name)).ok() == std::fs::read(writer.join(name)).ok();
        assert!(same, "{name} differs between the hand-built log and the writer's");
    }
    let log = SegmentedReader::open(&hand).expect("open the hand-built log");
    assert!(log.gaps().is_empty(), "no seq missing between segments");
    assert_eq!(log.records().count() as u64, records);
    for part in log.parts() {
        let check = part.reader.check_index().expect("check an index");
        assert!(check.is_current(), "{} index: {check:?}", part.path().display());
    }
    let ack = options(settings(per_segment))
        .open(&hand)
        .and_then(|w| w.append_raw(b"{}"))
        .expect("append");
    assert_eq!(ack.seq, records + 1);
    (by_hand, through_writer)
}

/// Every lookup of `targets` on a single-file log; returns a checksum so that none is elided.
pub(crate) fn lookups_single<D: AsRef<[u8]>>(log: &Reader<D>, targets: &[u64]) -> u64 {
    targets.iter().map(|&seq| log.get(seq).expect("a record").ts).fold(0, u64::wrapping_add)
}

/// Every lookup of `targets` on a segmented log.
pub(crate) fn lookups_segmented(log: &SegmentedReader, targets: &[u64]) -> u64 {
    targets.iter().map(|&seq| log.get(seq).expect("a record").ts).fold(0, u64::wrapping_add)
}
