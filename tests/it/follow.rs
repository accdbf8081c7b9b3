//! Readers see appends by refreshing, a follower waits for new records, and a log replaced by
//! rename (what compaction does) is picked up without skipping or repeating a record, while a
//! reader mapped before the replacement keeps its complete old view.

use crate::util;

use std::time::Duration;

use ndlog::{Durability, Options, Reader, read::Refresh};
use util::*;

#[test]
fn refresh_sees_appends() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.records().count(), 3);
    let writer = Options::new().open(&path).unwrap();
    writer.append_raw(b"4").unwrap();
    assert_eq!(reader.records().count(), 3, "the map is a snapshot");
    assert_eq!(reader.refresh().unwrap(), Refresh::Resized);
    assert_eq!(reader.records().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(reader.refresh().unwrap(), Refresh::Unchanged);
}

#[test]
fn a_follower_sees_every_record_a_concurrent_writer_appends() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    // Never syncs: only an uncommitted follower sees these records.
    let mut follow =
        Reader::open(&path).unwrap().follow().uncommitted().poll_interval(Duration::from_millis(1));
    let producer = std::thread::spawn(move || {
        for i in 1..=2000u64 {
            writer.append_raw(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    for want in 1..=2000u64 {
        let r = follow
            .next_within(Some(Duration::from_secs(20)))
            .unwrap()
            .expect("a record within 20 s");
        assert_eq!(r.seq, want);
        assert_eq!(r.data, format!(r#"{{"i":{want}}}"#).as_bytes());
    }
    producer.join().unwrap();
    assert!(follow.next_within(Some(Duration::from_millis(20))).unwrap().is_none());
}

/// Rewrites the log without its first `drop` records, the way compaction does: a new file
/// renamed over the path.
fn replace_without_first(path: &std::path::Path, drop: usize) {
    let bytes = std::fs::read(path).unwrap();
    let reader = Reader::new(&bytes[..]);
    let mut rewritten = Vec::new();
    for r in reader.records().skip(drop) {
        rewritten.extend_from_slice(r.line);
        rewritten.push(b'\n');
    }
    let tmp = path.with_extension("rewrite");
    std::fs::write(&tmp, rewritten).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn replacement_by_rename_is_followed_without_gaps_or_repeats() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 10);
    let old_view = Reader::open(&path).unwrap();
    let mut follow = Reader::open(&path).unwrap().follow().poll_interval(Duration::from_millis(1));
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(follow.next_within(None).unwrap().unwrap().seq);
    }
    // More appends, then a rewrite that drops the first 8 records, then more appends.
    let writer = Options::new().open(&path).unwrap();
    writer.append_raw(b"11").unwrap();
    replace_without_first(&path, 8);
    writer.append_raw(b"12").unwrap();
    while let Some(r) = follow.next_within(Some(Duration::from_millis(50))).unwrap() {
        seen.push(r.seq);
    }
    assert_eq!(seen, (1..=12).collect::<Vec<_>>(), "no record skipped or repeated");
    // The reader mapped before the rename still reads its whole old view.
    assert_eq!(old_view.records().map(|r| r.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    // The writer noticed the replacement: its append went to the new file.
    let now: Vec<u64> = Reader::open(&path).unwrap().records().map(|r| r.seq).collect();
    assert_eq!(now, [9, 10, 11, 12]);
}

#[test]
fn follow_after_starts_after_a_given_seq() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 5);
    let mut follow = Reader::open(&path).unwrap().follow_after(3);
    assert_eq!(follow.next_within(None).unwrap().map(|r| r.seq), Some(4));
    assert_eq!(follow.next_within(None).unwrap().map(|r| r.seq), Some(5));
    assert_eq!(follow.next_within(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn a_torn_tail_is_waited_on_not_skipped() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 2);
    let full = std::fs::read(&path).unwrap();
    // A record being written: only its first half is in the file yet.
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, 3, 3, br#"{"late":true}"#);
    let mut partial = full.clone();
    partial.extend_from_slice(&line[..20]);
    std::fs::write(&path, &partial).unwrap();
    // Bytes written by hand are never synced by a writer: follow uncommitted.
    let mut follow = Reader::open(&path)
        .unwrap()
        .follow_after(2)
        .uncommitted()
        .poll_interval(Duration::from_millis(1));
    assert_eq!(follow.next_within(Some(Duration::from_millis(20))).unwrap(), None);
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &line[20..]).unwrap();
    let r = follow.next_within(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!((r.seq, r.data), (3, &br#"{"late":true}"#[..]));
}

/// A committed follower of a log that is removed and created again at the same path (its
/// `LOG.watermark` with it) reads the new watermark: it kept the removed one open for good, and
/// delivered nothing more.
#[test]
fn a_committed_follower_reads_the_watermark_of_a_log_created_again() {
    for segmented in [false, true] {
        let dir = tempdir();
        let path = dir.path().join(if segmented { "events" } else { "events.ndjson" });
        let options = || match segmented {
            true => Options::new().segments(ndlog::segments::Settings::new(2 << 20)),
            false => Options::new(),
        };
        let writer = options().open(&path).unwrap();
        for n in 1..=3 {
            writer.append_raw(format!("{n}").as_bytes()).unwrap();
        }
        let mut seqs = Vec::new();
        let wait = Some(Duration::from_secs(5));
        let next = |seqs: &mut Vec<u64>, f: &mut dyn FnMut() -> Option<u64>| {
            seqs.push(f().unwrap_or_else(|| panic!("segmented {segmented}: stopped at {seqs:?}")))
        };
        if segmented {
            let mut follow = ndlog::segments::SegmentedFollow::after(&path, 0);
            let mut take = || follow.next_within(wait).unwrap().map(|r| r.seq);
            for _ in 0..3 {
                next(&mut seqs, &mut take);
            }
            drop(writer);
            std::fs::remove_dir_all(&path).unwrap();
            let writer = options().open(&path).unwrap();
            for n in 1..=5 {
                writer.append_raw(format!("{n}").as_bytes()).unwrap();
            }
            for _ in 0..2 {
                next(&mut seqs, &mut take);
            }
        } else {
            let mut follow = Reader::open(&path).unwrap().follow();
            let mut take = || follow.next_within(wait).unwrap().map(|r| r.seq);
            for _ in 0..3 {
                next(&mut seqs, &mut take);
            }
            drop(writer);
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
            let writer = options().open(&path).unwrap();
            for n in 1..=5 {
                writer.append_raw(format!("{n}").as_bytes()).unwrap();
            }
            for _ in 0..2 {
                next(&mut seqs, &mut take);
            }
        }
        assert_eq!(seqs, [1, 2, 3, 4, 5], "segmented {segmented}");
    }
}

/// Waiting for a log that does not exist yet ends when it is a log: a file, or a directory
/// once its settings are written (`ndlog create` makes the directory first, and `tail -f` that
/// woke between the two refused the directory as not a log).
#[test]
fn waiting_for_a_segmented_log_ends_when_its_settings_are_there() {
    let dir = tempdir();
    let path = dir.path().join("events");
    let stop = ndlog::consume::Stopper::new();
    let waiting = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || ndlog::consume::wait_until_exists(&path, &stop).unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    std::fs::create_dir(&path).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "a directory without ndlog.json is no log yet");
    Options::new().segments(ndlog::segments::Settings::new(2 << 20)).open(&path).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !waiting.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.stop();
    assert!(waiting.join().unwrap(), "it ended because the log was there, not stopped");
    assert!(ndlog::segments::SegmentedReader::open(&path).is_ok());
}

/// A follower that goes past a damaged line says so (`take_skipped`): the line may have held a
/// record, and a consumer was left with a seq missing that nothing reported.
#[test]
fn a_follower_says_which_damaged_lines_it_went_past() {
    for segmented in [false, true] {
        let dir = tempdir();
        let path = dir.path().join(if segmented { "events" } else { "events.ndjson" });
        let options = match segmented {
            true => Options::new().segments(ndlog::segments::Settings::new(2 << 20)),
            false => Options::new(),
        };
        let writer = options.open(&path).unwrap();
        for n in 1..=6 {
            writer.append_raw(format!("{n}").as_bytes()).unwrap();
        }
        // Seq 3's line damaged in place (a payload byte: same length, bad CRC).
        let file = match segmented {
            true => path.join("00000000000000000001.ndjson.active"),
            false => path.clone(),
        };
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.windows(8).position(|w| w == b"\"seq\":3,").unwrap();
        let data = at + bytes[at..].windows(7).position(|w| w == b"\"data\":").unwrap() + 7;
        bytes[data] = b'9';
        std::fs::write(&file, &bytes).unwrap();
        let wait = Some(Duration::from_secs(5));
        let (seqs, skipped) = if segmented {
            let mut follow = ndlog::segments::SegmentedFollow::after(&path, 0);
            let seqs: Vec<u64> =
                (0..5).map(|_| follow.next_within(wait).unwrap().unwrap().seq).collect();
            (seqs, follow.take_skipped())
        } else {
            let mut follow = Reader::open(&path).unwrap().follow();
            let mut seqs: Vec<u64> = follow.next_batch(wait).unwrap().map(|r| r.seq).collect();
            let mut one = Reader::open(&path).unwrap().follow();
            let single: Vec<u64> =
                (0..5).map(|_| one.next_within(wait).unwrap().unwrap().seq).collect();
            assert_eq!(single, seqs, "one at a time as in a batch");
            let skipped_one = one.take_skipped();
            let skipped = follow.take_skipped();
            assert_eq!(skipped_one, skipped);
            seqs.dedup();
            (seqs, skipped)
        };
        assert_eq!(seqs, [1, 2, 4, 5, 6], "segmented {segmented}");
        let skipped = skipped.unwrap_or_else(|| panic!("segmented {segmented}: nothing said"));
        assert_eq!((&skipped.file, skipped.first_offset, skipped.lines), (&file, at as u64 - 1, 1));
        // Starting (or resuming from a cursor) right after seq 2: the damage before seq 4 is
        // gone past too, not jumped over by the seek.
        let (seqs, again) = if segmented {
            let mut follow = ndlog::segments::SegmentedFollow::after(&path, 2);
            let seqs: Vec<u64> =
                (0..3).map(|_| follow.next_within(wait).unwrap().unwrap().seq).collect();
            (seqs, follow.take_skipped())
        } else {
            let mut follow = Reader::open(&path).unwrap().follow_after(2);
            let seqs: Vec<u64> = follow.next_batch(wait).unwrap().map(|r| r.seq).collect();
            (seqs, follow.take_skipped())
        };
        assert_eq!(seqs, [4, 5, 6], "segmented {segmented}");
        assert_eq!(again, Some(skipped), "segmented {segmented}");
    }
}
