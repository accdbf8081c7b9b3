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

/// Overwrites the file's last byte, the last line's newline, in place.
fn damage_last_newline(file: &Path) {
    let len = std::fs::metadata(file).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"#", len - 1).unwrap();
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

/// The active segment's file of the segmented log at `dir`.
fn active_segment(dir: &Path) -> std::path::PathBuf {
    let mut files = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
    files.find(|p| p.to_str().unwrap().contains(".ndjson.")).unwrap()
}

/// Options for a small segmented log whose spare segments are made in the foreground.
fn segment_options(settings: Settings) -> Options {
    let options = Options::new().segments(settings).max_record_size(2048);
    options.prepare_segments_in_background(false)
}

/// The active segment of a segmented log (plain, and preallocated: written in place).
fn segmented(preallocate: bool) {
    let dir = tempdir();
    let path = dir.path().join("seglog");
    let settings = Settings { segment_records: Some(4), preallocate, ..Settings::new(64 << 10) };
    let options = || segment_options(settings);
    // Seqs 1..=4 sealed, 5..=6 in the active segment.
    append_n(&options().open(&path).unwrap(), 6);
    let active = active_segment(&path);
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
    // The last line's newline damaged: to the reader, a torn tail.
    damage_last_newline(&path);
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

/// The damaged line of the last record, as bytes (from the start of the line to its newline).
fn damaged_line(file: &Path, at: u64) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let at = at as usize;
    let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| at + n);
    bytes[at..end].to_vec()
}

#[test]
fn a_roll_at_the_damage_keeps_the_damaged_bytes_of_a_preallocated_segment() {
    let dir = tempdir();
    let path = dir.path().join("seglog");
    let settings =
        Settings { segment_records: Some(4), preallocate: true, ..Settings::new(64 << 10) };
    let options = || segment_options(settings);
    // Seqs 1..=4 in the active segment, which is full.
    append_n(&options().open(&path).unwrap(), 4);
    let active = active_segment(&path);
    let at = flip_in_place(&active);
    let line = damaged_line(&active, at);
    // A batch of two rolls the segment at once, with the damage as its tail.
    let ack = options().open(&path).unwrap().append_raw_batch(&[b"1", b"2"]).unwrap();
    assert_eq!(ack.first_seq, 5);
    // The damaged bytes of acknowledged seq 4 are kept: in the sealed segment (the same file,
    // renamed) or in a quarantine. Trimming the padding must not cut them off.
    let kept = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap_or_default())
        .any(|bytes| find(&bytes, &line).is_some());
    assert!(kept, "the damaged record's bytes are gone from {}", path.display());
}

/// A roll at the damage that fails after sealing the active segment (the next one could not
/// be created: EIO, or ENOSPC while preallocating): the next append starts the next segment
/// from the directory, and must not name it after the sealed segment's last *valid* record.
#[test]
fn a_roll_at_the_damage_that_fails_after_sealing_keeps_the_damaged_seq_taken() {
    use ndlog::sim::{Fault, SimFs};
    const DIR: &str = "/data/seglog";
    let settings = Settings { segment_records: Some(4), ..Settings::new(64 << 10) };
    let options = || segment_options(settings);
    // Seqs 1..=4 acknowledged in the active segment, which is full; long after, seq 4 damaged.
    let setup = || {
        let fs = SimFs::new(9);
        fs.put("/data/.keep", b"");
        let w = options().open_in(fs.clone(), DIR).unwrap();
        for i in 0..4 {
            w.append_raw(format!(r#"{{"d":{i}}}"#).as_bytes()).unwrap();
        }
        drop(w);
        fs.write_back();
        let names = ndlog::fs::Vfs::list_dir(&fs, Path::new(DIR)).unwrap();
        let active = names.iter().map(|n| n.to_string_lossy()).find(|n| n.contains(".ndjson."));
        let file = format!("{DIR}/{}", active.unwrap());
        let bytes = fs.contents(&file).unwrap();
        let last = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        assert!(fs.damage(&file, (last + 2) as u64, 0x01));
        fs
    };
    // A batch of two (it rolls the segment), then single records; the seqs acknowledged.
    let workload = |fs: &SimFs| {
        let mut acked = Vec::new();
        let Ok(w) = options().open_in(fs.clone(), DIR) else { return acked };
        for batch in [&[&b"1"[..], b"2"][..], &[b"3"], &[b"4"]] {
            if let Ok(ack) = w.append_raw_batch(batch) {
                acked.extend(ack.first_seq..ack.first_seq + ack.count);
            }
        }
        acked
    };
    let dry = setup();
    let before = dry.ops();
    assert_eq!(workload(&dry), vec![5, 6, 7, 8]);
    let total = dry.ops() - before;
    for n in 1..=total {
        let fs = setup();
        fs.fail_at(fs.ops() + n, Fault::Io, false);
        let acked = workload(&fs);
        assert!(!acked.contains(&4), "EIO at op {n} of {total}: seq 4 given again: {acked:?}");
    }
}

/// A conditional append is checked against the seqs taken, not the last readable record: a
/// writer that expects seq 4 to be the last has not seen acknowledged seq 5 (which a consumer
/// may have delivered), and its record would not be seq 5 either.
#[test]
fn a_conditional_append_counts_the_damaged_acknowledged_record() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    flip_in_place(&path);
    let writer = ndlog::Writer::open(&path).unwrap();
    let err = writer.append_raw_if(ndlog::Expect::LastSeq(4), b"1").unwrap_err();
    assert!(matches!(err.kind(), ndlog::ErrorKind::Conflict { actual: 5, .. }), "{err}");
    let err = writer.append_raw_batch_if::<&[u8]>(ndlog::Expect::LastSeq(4), &[]).unwrap_err();
    assert!(matches!(err.kind(), ndlog::ErrorKind::Conflict { actual: 5, .. }), "{err}");
    assert_eq!(writer.append_raw_if(ndlog::Expect::LastSeq(5), b"1").unwrap().seq, 6);
    drop(writer);
    // A transaction is told the same.
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    flip_in_place(&path);
    let writer = ndlog::Writer::open(&path).unwrap();
    let (seen, ack) = writer
        .transaction(|tx| {
            tx.append_raw(b"1")?;
            Ok::<_, ndlog::Error>(tx.last_seq())
        })
        .unwrap();
    assert_eq!((seen, ack.first_seq), (5, 6));
}

/// `verify` of a segmented log reports a torn tail of the active segment that the durable
/// watermark covers, as it does for a single file.
#[test]
fn verify_reports_lost_records_at_the_end_of_the_active_segment() {
    let dir = tempdir();
    let path = dir.path().join("seglog");
    let settings = Settings { segment_records: Some(4), ..Settings::new(64 << 10) };
    append_n(&segment_options(settings).open(&path).unwrap(), 6);
    let active = active_segment(&path);
    damage_last_newline(&active);
    let out = run(&["verify", path.to_str().unwrap()], b"");
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("through seq 6"), "{said}");
    let out = run(&["verify", path.to_str().unwrap(), "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["lost_acknowledged"]["through_seq"], 6);
}

#[test]
fn a_committed_follower_delivers_every_record_before_the_damage() {
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    append_n(&ndlog::Writer::open(&path).unwrap(), 5);
    flip_in_place(&path);
    // Records 1..=4 are durable (the mark covers them, and seq 5 past them): a committed
    // follower delivers them without waiting for another append.
    let mut follow = Reader::open(&path).unwrap().follow();
    let mut seqs = Vec::new();
    while let Some(r) = follow.next_within(Some(std::time::Duration::from_millis(300))).unwrap() {
        seqs.push(r.seq);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

/// A log removed without its `LOG.watermark` and created again on the same inode (file systems
/// reuse inode numbers at once) finds the old log's mark naming its inode. Written only by
/// writers that never sync (nothing publishes), then cut short by a crash that leaves a long
/// run of NULs (the size reached the disk, the data did not), the new log would end in bytes
/// the old mark seems to cover. The writer that creates the file voids such a mark first.
#[test]
fn a_mark_an_earlier_file_on_the_same_inode_left_is_voided_when_the_log_is_created() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempdir();
    let path = dir.path().join("log.ndjson");
    // The new, empty file (as `O_CREAT` leaves it), and the old log's mark naming its inode:
    // 1,000 records, ending far out.
    std::fs::write(&path, b"").unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let file = ndlog::fs::FileId { dev: meta.dev(), ino: meta.ino() };
    let stale = Watermark { file, end: 60_000, seq: 1000 };
    let mark = dir.path().join("log.ndjson.watermark");
    std::fs::write(&mark, stale.encode()).unwrap();

    let writer = Options::new().durability(ndlog::Durability::Never).open(&path).unwrap();
    append_n(&writer, 3);
    drop(writer);
    // The crash: a long run of NULs after the records.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &vec![0u8; 70_000]).unwrap();
    drop(f);

    let ack = Options::new().durability(ndlog::Durability::Never).open(&path).unwrap();
    let ack = ack.append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 4, "the old log's mark says nothing of this file");
    assert!(dir.path().join("log.ndjson.quarantine").exists(), "the NULs are crash debris");
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
