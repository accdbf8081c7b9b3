//! The marks of a write of several records at the edges a review found: damage a sync covered
//! before an unfinished write, a roll right after such damage, an unfinished write larger than
//! what a reader copies past its map, and a writer opened on a log that ends in one.

use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::util::*;
use ndlog::format::{Marks, encode_marked};
use ndlog::segments::Settings;
use ndlog::{Durability, Options, Reader};

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// XORs a byte inside the last line's payload, in place (media damage to a synced record).
fn flip_last(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    let end = bytes.iter().rposition(|&b| b != b'\n').unwrap();
    let start = bytes[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let at = start + find(&bytes[start..], br#""data":"#).unwrap() + 9;
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(&[bytes[at] ^ 0x20], at as u64).unwrap();
}

fn append_bytes(file: &Path, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all_at(bytes, f.metadata().unwrap().len()).unwrap();
}

/// The first `n` of the `of` records of a write, as a crash that cut it leaves them.
fn cut_write(first_seq: u64, n: usize, of: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let data = format!(r#"{{"cut":{i}}}"#);
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let ts = ts.as_millis() as u64;
        encode_marked(&mut out, first_seq + i as u64, ts, data.as_bytes(), Marks::of(i, 0, of - 1));
    }
    out
}

/// Synced batch 2..=4, seq 4 damaged since (the watermark covers it); then a writer in the
/// durable-damage path starts a 3-record write (seqs 5..=7) and is killed after two records.
/// Nobody acknowledged 5 and 6: the next append moves them away, and 2 and 3 stay readable.
#[test]
fn a_write_cut_short_after_covered_damage_is_not_read_as_part_of_the_log() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    let w = ndlog::Writer::open(&path).unwrap();
    w.append_raw(br#"{"n":1}"#).unwrap();
    w.append_raw_batch(&[br#"{"n":2}"#, br#"{"n":3}"#, br#"{"n":4}"#]).unwrap();
    drop(w);
    flip_last(&path);
    // What neutralise_debris + encode_and_write would write (a newline ending the torn
    // bytes, then the write), cut after two records.
    let mut cut = b"\n".to_vec();
    cut.extend(cut_write(5, 2, 3));
    append_bytes(&path, &cut);
    let before: Vec<u64> = Reader::open(&path).unwrap().records().map(|r| r.seq).collect();
    eprintln!("before the next append, readers see {before:?}");
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":"next"}"#).unwrap();
    let reader = Reader::open(&path).unwrap();
    let after: Vec<u64> = reader.records().map(|r| r.seq).collect();
    eprintln!("next append got seq {}; readers now see {after:?}", ack.seq);
    let cut_read = reader.records().any(|r| r.data.starts_with(br#"{"cut""#));
    assert!(!cut_read, "records of the write cut short are read: {after:?}");
    assert_eq!(before, [1, 2, 3], "the covered records of the damaged write are read");
    assert_eq!(after, [1, 2, 3, 5], "the next record takes the seq after the mark's");
    assert_eq!(ack.seq, 5);
}

/// The same damage in a segmented log, and the next append rolls the segment: acknowledged
/// records 2 and 3 end the sealed segment marked to continue, and readers still read them.
#[test]
fn a_roll_after_covered_damage_keeps_the_acknowledged_records_readable() {
    let dir = tempdir();
    let path = dir.path().join("seglog");
    let settings = Settings { ..Settings::new(4096) };
    let opts = || Options::new().segments(settings).max_record_size(2048);
    let w = opts().open(&path).unwrap();
    let big = format!(r#"{{"n":1,"pad":"{}"}}"#, "x".repeat(1950));
    w.append_raw(big.as_bytes()).unwrap();
    let ack = w.append_raw_batch(&[br#"{"n":2}"#, br#"{"n":3}"#, br#"{"n":4}"#]).unwrap();
    assert_eq!(ack.first_seq, 2);
    drop(w);
    let active = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains(".ndjson."))
        .unwrap();
    flip_last(&active);
    let big = format!(r#"{{"n":5,"pad":"{}"}}"#, "y".repeat(2020));
    let ack = opts().open(&path).unwrap().append_raw(big.as_bytes()).unwrap();
    let reader = ndlog::segments::SegmentedReader::open(&path).unwrap();
    let seqs: Vec<u64> = reader.records().map(|r| r.seq).collect();
    let files = std::fs::read_dir(&path).unwrap().count();
    eprintln!("next append got seq {}; {files} files; readers see {seqs:?}", ack.seq);
    assert!(seqs.contains(&2), "acknowledged records 2 and 3 are hidden: {seqs:?}");
}

/// A write of more than 16 MiB (what a reader copies past its map) cut short, or in progress:
/// the torn tail, all of it, never damage.
#[test]
fn a_big_unfinished_write_is_the_torn_tail_not_damage() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":1}"#).unwrap();
    let pad = "z".repeat(1 << 20);
    let mut cut = Vec::new();
    for i in 0..20usize {
        let data = format!(r#"{{"i":{i},"p":"{pad}"}}"#);
        encode_marked(&mut cut, 2 + i as u64, 1, data.as_bytes(), Marks::of(i, 0, 24));
    }
    append_bytes(&path, &cut);
    let summary = Reader::open(&path).unwrap().verify();
    eprintln!(
        "records {} corrupt_lines {} torn {:?}",
        summary.records, summary.corrupt_lines, summary.torn_tail
    );
    let out = run(&["verify", path.to_str().unwrap()], b"");
    eprintln!("ndlog verify exit {:?}: {}{}", out.status.code(), stdout(&out), stderr(&out));
    assert_eq!(summary.corrupt_lines, 0, "an unfinished write is reported as damage");
    assert_eq!(summary.records, 1);
    let (offset, len) = summary.torn_tail.expect("the unfinished write is the torn tail");
    assert_eq!(offset + len, std::fs::metadata(&path).unwrap().len());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A writer opened on a log that ends in an unfinished write does not index its records (the
/// first append moves them away), and the index stays usable.
#[test]
fn opening_a_writer_does_not_index_an_unfinished_write() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    let opts = || Options::new().index(true).index_stride(4);
    let w = opts().open(&path).unwrap();
    for i in 1..=8 {
        w.append_raw(format!(r#"{{"n":{i}}}"#).as_bytes()).unwrap();
    }
    drop(w);
    let idx = dir.path().join("log.ndjson.idx");
    let before = std::fs::metadata(&idx).unwrap().len();
    let mut cut = Vec::new();
    for i in 0..400usize {
        encode_marked(&mut cut, 9 + i as u64, 1, b"{}", Marks::of(i, 0, 500));
    }
    append_bytes(&path, &cut);
    let w = opts().exclusive(true).open(&path).unwrap();
    let after_open = std::fs::metadata(&idx).unwrap().len();
    eprintln!("LOG.idx {before} bytes before, {after_open} after the open");
    let problem = Reader::open(&path).unwrap().index_problem();
    eprintln!("reader's index problem after the open: {problem:?}");
    w.append_raw(b"1").unwrap();
    for i in 0..500 {
        w.append_raw(format!(r#"{{"m":{i}}}"#).as_bytes()).unwrap();
    }
    let problem = Reader::open(&path).unwrap().index_problem();
    eprintln!("reader's index problem after 501 appends by the exclusive writer: {problem:?}");
    assert_eq!(after_open, before, "the open indexed records of an unfinished write");
    assert_eq!(problem, None, "the index disagrees with the log");
}

/// Damage to a record inside a log's last write of several records: a write a sync covered
/// loses that record alone; one no sync covered cannot be told from a write a power loss left
/// with a hole, and all of it is taken for unfinished.
#[test]
fn damage_inside_the_last_write_costs_one_record_once_synced_and_the_write_before() {
    let dir = tempdir();
    for synced in [true, false] {
        let path = dir.path().join(format!("synced-{synced}.ndjson"));
        let durability = if synced { Durability::Always } else { Durability::Never };
        let w = Options::new().durability(durability).open(&path).unwrap();
        w.append_raw(br#"{"n":0}"#).unwrap();
        let batch: Vec<String> = (1..=10).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
        w.append_raw_batch(&batch).unwrap();
        drop(w);
        // A byte of the sixth record's payload flipped in place.
        let bytes = std::fs::read(&path).unwrap();
        let at = find(&bytes, br#"{"n":5}"#).unwrap() + 2;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[bytes[at] ^ 0x01], at as u64).unwrap();
        let seqs: Vec<u64> = Reader::open(&path).unwrap().records().map(|r| r.seq).collect();
        if synced {
            assert_eq!(seqs, [1, 2, 3, 4, 5, 7, 8, 9, 10, 11], "synced: one record lost");
        } else {
            assert_eq!(seqs, [1], "unsynced: the write is taken for unfinished");
        }
    }
}

/// A single-file log whose name reads as a sealed segment's is still a log of its own: only a
/// file beside a segmented log's settings counts as a sealed segment (synced whole), so an
/// unfinished write at its end is not read.
#[test]
fn a_log_named_like_a_segment_is_not_taken_for_a_sealed_one() {
    let dir = tempdir();
    for name in ["log.ndjson", "00000000000000000001.ndjson"] {
        let path = dir.path().join(name);
        ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":1}"#).unwrap();
        append_bytes(&path, &cut_write(2, 2, 3));
        let seqs: Vec<u64> = Reader::open(&path).unwrap().records().map(|r| r.seq).collect();
        assert_eq!(seqs, [1], "{name}");
        let ack = ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":2}"#).unwrap();
        assert_eq!(ack.seq, 2, "{name}: the unfinished write's seqs go to the next records");
    }
}

/// When the quarantine cannot be written (a directory stands at its name here), an unfinished
/// write is not moved, not overwritten, and nothing is appended after it: without a mark to say
/// otherwise its records may have been acknowledged, and only the quarantine keeps a copy. Once
/// the quarantine can be written, the next append moves it there and goes on. Other crash
/// debris is left in place as before, ended by a newline, for `verify` to report.
#[test]
fn an_unfinished_write_waits_for_a_quarantine_that_can_be_written() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":1}"#).unwrap();
    append_bytes(&path, &cut_write(2, 2, 3));
    let quarantine = dir.path().join("log.ndjson.quarantine");
    std::fs::create_dir(&quarantine).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = ndlog::Writer::open(&path).and_then(|w| w.append_raw(br#"{"n":2}"#)).unwrap_err();
    assert!(err.to_string().contains("log.ndjson.quarantine"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the log changed");
    std::fs::remove_dir(&quarantine).unwrap();
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":2}"#).unwrap();
    assert_eq!(ack.seq, 2, "the unfinished write's seqs go to the next record");
    let bytes = std::fs::read(&path).unwrap();
    assert!(find(&bytes, br#""cut""#).is_none(), "the unfinished write is still in the log");
    assert!(find(&std::fs::read(&quarantine).unwrap(), b"\"offset\"").is_some());
    let reader = Reader::open(&path).unwrap();
    let seqs: Vec<u64> = reader.records().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2]);

    // A torn line that is no write of several records stays where it is.
    std::fs::remove_file(&quarantine).unwrap();
    std::fs::create_dir(&quarantine).unwrap();
    append_bytes(&path, br#"{"seq":3,"ts":1,"da"#);
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(br#"{"n":3}"#).unwrap();
    assert_eq!(ack.seq, 3);
    let bytes = std::fs::read(&path).unwrap();
    assert!(find(&bytes, br#""da"#).is_some(), "debris that could not be moved is kept");
    let summary = Reader::open(&path).unwrap().verify();
    assert_eq!(summary.corrupt_lines, 1, "{summary:?}");
}
