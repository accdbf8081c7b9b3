//! Media damage to the log's last records after a sync covered them: the writer keeps the
//! damaged bytes in place (they are not crash debris: the durable watermark covers them) and
//! the next record takes a seq above theirs. A seq given out twice would be skipped by a
//! consumer that delivered the first record and dropped by a downstream that deduplicates by
//! seq (a JetStream `Nats-Msg-Id`): a silent loss. Without a watermark describing the file, the
//! bytes are crash debris, as before (torn_tail.rs).

use std::path::Path;

use crate::util;

use ndlog::consume::Watermark;
use ndlog::segments::Settings;
use ndlog::{Options, Reader};
use util::*;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_damaged_acknowledged_last_record_keeps_its_seq_taken() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    let writer = ndlog::Writer::open(&path).unwrap();
    for i in 1..=5 {
        assert_eq!(
            writer.append_raw(format!(r#"{{"n":{i},"text":"abcdef"}}"#).as_bytes()).unwrap().seq,
            i
        );
    }
    drop(writer);
    let mark = Watermark::read(&path).unwrap().expect("the syncs published a mark");
    assert_eq!(mark.seq, 5);
    let damaged_at = flip_in_place(&path);
    assert_eq!(seqs(&std::fs::read(&path).unwrap()), vec![1, 2, 3, 4]);

    // A consumer had delivered all five before the damage.
    let mut follow = Reader::open(&path).unwrap().follow_after(5);

    let writer = ndlog::Writer::open(&path).unwrap();
    let ack = writer.append_raw(br#"{"n":"after"}"#).unwrap();
    assert_eq!(ack.seq, 6, "seq 5 was acknowledged: it is never given to another record");
    drop(writer);

    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(seqs(&bytes), vec![1, 2, 3, 4, 6]);
    // The damaged line is still there, at its offset, for `verify` to report; nothing was
    // moved to a quarantine.
    assert!(!dir.path().join("log.ndjson.quarantine").exists());
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains(&damaged_at.to_string()), "names the damaged line's offset: {said}");

    let next = follow.next_within(Some(std::time::Duration::from_secs(5))).unwrap();
    assert_eq!(next.map(|r| r.seq), Some(6), "the consumer past seq 5 gets the new record");
}

/// XORs a byte inside the last line's payload, in place; returns where the line starts.
fn flip_in_place(file: &Path) -> u64 {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(file).unwrap();
    let end = bytes.iter().rposition(|&b| b != b'\n').unwrap();
    let start = bytes[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let at = start + find(&bytes[start..], br#""data":"#).unwrap() + 8;
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(&[bytes[at] ^ 0x20], at as u64).unwrap();
    start as u64
}

fn append_n(writer: &ndlog::Writer, n: u64) {
    for i in 1..=n {
        let p = format!(r#"{{"n":{i},"text":"abcdef"}}"#);
        writer.append_raw(p.as_bytes()).unwrap();
    }
}

#[test]
fn every_damaged_record_the_mark_covers_keeps_its_seq() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    // The last two lines damaged: the mark (seq 5) covers both.
    let bytes = std::fs::read(&path).unwrap();
    let fourth = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap();
    let fourth = bytes[..fourth].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"#", fourth as u64 + 3).unwrap();
    flip_in_place(&path);
    assert_eq!(seqs(&std::fs::read(&path).unwrap()), vec![1, 2, 3]);
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 6);
    assert_eq!(seqs(&std::fs::read(&path).unwrap()), vec![1, 2, 3, 6]);
}

#[test]
fn without_a_mark_for_the_file_damage_after_the_last_record_is_crash_debris() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    flip_in_place(&path);
    // A copied log, or one whose LOG.watermark was removed: nothing says seq 5 was durable,
    // so its bytes are what a crash may leave (a torn write never acknowledged).
    std::fs::remove_file(dir.path().join("log.ndjson.watermark")).unwrap();
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 5);
    assert!(dir.path().join("log.ndjson.quarantine").exists());
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_mark_claiming_more_records_than_the_damaged_bytes_can_hold_is_not_believed() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    flip_in_place(&path);
    // A mark an earlier file on the same inode could have left: this file, its end, but a
    // seq 1,000 records on, which one damaged line cannot hold.
    let file = Reader::open(&path).unwrap().file_id();
    let end = std::fs::metadata(&path).unwrap().len();
    let forged = Watermark { file, end, seq: 1005 };
    std::fs::write(dir.path().join("log.ndjson.watermark"), forged.encode()).unwrap();
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 5, "treated as crash debris, as without a mark");
    assert!(dir.path().join("log.ndjson.quarantine").exists());
}

/// The active segment of a segmented log (plain, and preallocated: written in place).
fn segmented(preallocate: bool) {
    let dir = tempdir();
    let path = dir.path().join("seglog");
    let settings = Settings { segment_records: Some(4), preallocate, ..Settings::new(64 << 10) };
    let options = || {
        let options = Options::new().segments(settings).max_record_size(2048);
        options.prepare_segments_in_background(false)
    };
    // Seqs 1..=4 sealed, 5..=6 in the active segment.
    append_n(&options().open(&path).unwrap(), 6);
    let active = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains(".ndjson."))
        .unwrap();
    flip_in_place(&active);
    let writer = options().open(&path).unwrap();
    assert_eq!(writer.append_raw(b"1").unwrap().seq, 7, "{}", active.display());
    // On to the next roll: the new segment starts where the seqs went on.
    assert_eq!(writer.append_raw_batch(&[b"2", b"3"]).unwrap().first_seq, 8);
    drop(writer);
    let reader = ndlog::segments::SegmentedReader::open(&path).unwrap();
    let seqs: Vec<u64> = reader.records().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 7, 8, 9]);
    assert!(reader.gaps().is_empty(), "{:?}", reader.gaps());
}

#[test]
fn a_damaged_acknowledged_record_of_the_active_segment_keeps_its_seq_taken() {
    segmented(false);
}

#[test]
fn a_damaged_acknowledged_record_of_a_preallocated_segment_keeps_its_seq_taken() {
    segmented(true);
}

#[test]
fn compaction_leaves_damage_a_sync_covered_until_a_record_follows_it() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    // Keys repeat, so a key compaction would drop records and rewrite the file.
    let writer = ndlog::Writer::open(&path).unwrap();
    for i in 1..=5 {
        writer.append_raw(format!(r#"{{"k":{},"text":"abcdef"}}"#, i % 2).as_bytes()).unwrap();
    }
    drop(writer);
    let damaged_at = flip_in_place(&path);
    let before = std::fs::read(&path).unwrap();
    let policy = || ndlog::Policy::new().key(ndlog::JsonPointer::parse("/k").unwrap());
    let report = ndlog::Compactor::new(&path, policy()).run().unwrap();
    assert!(!report.rewritten, "{report:?}");
    let held = ndlog::DamagedTail { offset: damaged_at, seq: 5 };
    assert_eq!(report.damaged_tail, Some(held));
    assert_eq!(std::fs::read(&path).unwrap(), before, "the log is left as it was");
    let out = run(&["compact", path.to_str().unwrap(), "--key", "/k"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("not rewritten") && said.contains(&format!("from byte {damaged_at}")));
    assert!(said.contains("seqs up to 5"), "{said}");

    let ack = ndlog::Writer::open(&path).unwrap().append_raw(br#"{"k":1}"#).unwrap();
    assert_eq!(ack.seq, 6);
    // Now the damage lies between records: the compaction goes ahead, and removes it.
    let report = ndlog::Compactor::new(&path, policy()).run().unwrap();
    assert!(report.rewritten && report.quarantined_spans > 0, "{report:?}");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(seqs(&bytes), vec![4, 6]);
    let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, 2, "nothing but the two records is left");
    assert_eq!(ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap().seq, 7);
}

#[test]
fn in_a_chained_log_the_damaged_record_stays_a_break_in_the_chain() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    let writer = Options::new().chain(true).open(&path).unwrap();
    append_n(&writer, 3);
    drop(writer);
    flip_in_place(&path);
    let writer = Options::new().chain(true).open(&path).unwrap();
    assert_eq!(writer.append_raw(b"1").unwrap().seq, 4);
    assert_eq!(writer.append_raw(b"2").unwrap().seq, 5);
    drop(writer);
    // Given seq 3 again, the new record would have linked to seq 2 and the chain would have
    // verified over the loss of an acknowledged record. Now the loss is reported.
    let out = run(&["verify", path.to_str().unwrap(), "--chain"], b"");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("seq 3"), "{said}");
}

#[test]
fn a_lost_final_newline_is_reported_as_lost_records_not_as_an_interrupted_write() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    let len = std::fs::metadata(&path).unwrap().len();
    // The last line's newline damaged: to the reader, a torn tail.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"#", len - 1).unwrap();
    let out = run(&["verify", path.to_str().unwrap()], b"");
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("DAMAGED") && said.contains("through seq 5"), "{said}");
    let out = run(&["verify", path.to_str().unwrap(), "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["lost_acknowledged"]["through_seq"], 5);

    let ack = ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 6);
    assert_eq!(seqs(&std::fs::read(&path).unwrap()), vec![1, 2, 3, 4, 6]);
    // The damaged line is terminated, never glued to the new record.
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.ends_with(b"\n") && bytes.windows(3).any(|w| w == b"}#\n"));
}

#[test]
fn a_torn_tail_no_sync_covered_is_still_an_interrupted_write() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    // A write a crash cut short, after the last synced record.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, br#"{"seq":6,"ts":17"#).unwrap();
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("not an error"));
    let ack = ndlog::Writer::open(&path).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 6, "a seq no sync covered is given out");
}
