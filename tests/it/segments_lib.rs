//! Segmented logs through the library: dedup windows and entity versions reach back across
//! rolls and across processes' handles, retention racing a reader, and a follower crossing
//! rolls and retention.

use crate::util;

use std::time::Duration;

use ndlog::segments::{SegmentedFollow, SegmentedReader, Settings};
use ndlog::{Compactor, Dedup, DedupWindow, Expect, JsonPointer, Options, Policy};

fn settings(records: u64) -> Settings {
    Settings { segment_records: Some(records), ..Settings::new(2 << 20) }
}

#[test]
fn a_retry_after_a_roll_is_still_a_duplicate() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let dedup = Dedup::new(JsonPointer::parse("/id").unwrap(), DedupWindow::Records(100));
    let options = Options::new().segments(settings(3)).dedup(dedup);
    let w = options.open(&path).unwrap();
    let first = w.append_raw(br#"{"id":"a"}"#).unwrap();
    for i in 0..10 {
        w.append_raw(format!(r#"{{"id":"x{i}"}}"#).as_bytes()).unwrap();
    }
    // Several rolls later, from this handle and from a new one (a restarted process).
    let again = w.append_raw(br#"{"id":"a"}"#).unwrap();
    assert!(again.duplicate && again.seq == first.seq, "{again:?}");
    let fresh = options.open(&path).unwrap();
    let again = fresh.append_raw(br#"{"id":"a"}"#).unwrap();
    assert!(again.duplicate && again.seq == first.seq, "{again:?}");
    // The other handle rolled meanwhile: the first one follows and still knows the key.
    for i in 0..5 {
        fresh.append_raw(format!(r#"{{"id":"y{i}"}}"#).as_bytes()).unwrap();
    }
    assert!(w.append_raw(br#"{"id":"y0"}"#).unwrap().duplicate);
    let log = SegmentedReader::open(&path).unwrap();
    assert!(log.parts().len() >= 5, "rolled");
    assert_eq!(log.records().filter(|r| r.data == br#"{"id":"a"}"#).count(), 1);
}

#[test]
fn a_segment_age_past_u64_milliseconds_never_rolls() {
    // 18446744073709552 s is 2^64 ms + 384 ms: cut to 64 bits it rolled every 384 ms.
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let age = Duration::from_secs(18_446_744_073_709_552);
    let settings = Settings { segment_age: Some(age), ..Settings::new(2 << 20) };
    let w = Options::new().segments(settings).open(&path).unwrap();
    w.append_raw(b"1").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    w.append_raw(b"2").unwrap();
    w.append_raw(b"3").unwrap();
    assert_eq!(SegmentedReader::open(&path).unwrap().parts().len(), 1, "no roll");
}

#[test]
fn entity_versions_reach_back_across_rolls() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let key = JsonPointer::parse("/id").unwrap();
    // A tiny cache, so that versions are also looked up below its floor, in older segments.
    let options = Options::new().segments(settings(2)).entity_key(key).entity_cache(2);
    let w = options.open(&path).unwrap();
    let created = w.append_raw_if(Expect::Version(0), br#"{"id":"a","n":1}"#).unwrap();
    for i in 0..7 {
        w.append_raw(format!(r#"{{"id":"e{i}"}}"#).as_bytes()).unwrap();
    }
    for handle in [&w, &options.open(&path).unwrap()] {
        let err = handle.append_raw_if(Expect::Version(0), br#"{"id":"a","n":2}"#).unwrap_err();
        assert!(err.to_string().contains(&created.seq.to_string()), "{err}");
    }
    let next = w.append_raw_if(Expect::Version(created.seq), br#"{"id":"a","n":2}"#).unwrap();
    assert!(next.seq > created.seq);
}

#[test]
fn a_reader_keeps_reading_segments_retention_removed() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let w = Options::new().segments(settings(10)).open(&path).unwrap();
    for i in 0..50 {
        w.append(&i).unwrap();
    }
    let reader = SegmentedReader::open(&path).unwrap();
    let report = Compactor::new(&path, Policy::new().keep_last(5)).run().unwrap();
    assert_eq!(report.segments_removed, 4, "{report:?}");
    // Linux keeps the mapped files: every record is still there for this reader.
    assert_eq!(reader.records().count(), 50);
    assert_eq!(reader.get(3).unwrap().data, b"2");
    assert_eq!(SegmentedReader::open(&path).unwrap().records().count(), 10);
}

#[test]
fn a_follower_crosses_rolls_and_says_what_retention_took() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let w = Options::new().segments(settings(4)).open(&path).unwrap();
    let mut follow = SegmentedFollow::after(&path, 0).poll_interval(Duration::from_millis(5));
    for i in 1..=10 {
        w.append(&i).unwrap();
    }
    let seqs: Vec<u64> = (0..10).map(|_| follow.next_within(None).unwrap().unwrap().seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(follow.skipped(), None);
    // Retention removes segments the follower has not reached.
    for i in 11..=30 {
        w.append(&i).unwrap();
    }
    let mut lagging = SegmentedFollow::after(&path, 10);
    Compactor::new(&path, Policy::new().keep_last(6)).run().unwrap();
    let first = lagging.next_within(Some(Duration::from_secs(5))).unwrap().unwrap().seq;
    assert!(first > 11, "{first}");
    assert_eq!(lagging.skipped(), Some((11, first - 1)));
    let idle = follow.next_within(Some(Duration::from_millis(20)));
    assert!(matches!(idle, Ok(Some(_))), "the first follower goes on");
}

/// A follower that reads a sealed segment to its end without reaching the next segment's first
/// seq goes on with the next segment, saying which seqs it did not find; it used to open the
/// same segment again and again without waiting, at full CPU, and deliver nothing more.
#[test]
fn a_follower_goes_past_a_sealed_segments_damaged_last_record_and_a_removed_segment() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let w = Options::new().segments(settings(4)).open(&path).unwrap();
    for i in 1..=16 {
        w.append(&i).unwrap();
    }
    let segments = ndlog::segments::list(&ndlog::fs::StdFs, &path).unwrap();
    let firsts: Vec<u64> = segments.iter().map(|s| s.name.first_seq).collect();
    assert_eq!(firsts, [1, 5, 9, 13], "four records a segment");
    // Seq 8's line, the last of the second segment, is damaged; the third segment is gone.
    let second = std::fs::read(&segments[1].path).unwrap();
    let at = second.windows(9).position(|w| w == b"\"seq\":8,\"").unwrap();
    let mut damaged = second.clone();
    damaged[at + 12] ^= 0x20;
    std::fs::write(&segments[1].path, &damaged).unwrap();
    std::fs::remove_file(&segments[2].path).unwrap();
    // And seq 13's, the first of the last segment.
    let fourth = std::fs::read(&segments[3].path).unwrap();
    let at13 = fourth.windows(10).position(|w| w == b"\"seq\":13,\"").unwrap();
    let mut damaged = fourth.clone();
    damaged[at13 + 13] ^= 0x20;
    std::fs::write(&segments[3].path, &damaged).unwrap();
    let mut follow = SegmentedFollow::after(&path, 4).poll_interval(Duration::from_millis(5));
    let mut seqs = Vec::new();
    let started = std::time::Instant::now();
    while let Some(r) = follow.next_within(Some(Duration::from_millis(300))).unwrap() {
        seqs.push(r.seq);
        if r.seq == 6 {
            assert_eq!(follow.take_missing(), None);
        }
    }
    assert_eq!(seqs, [5, 6, 7, 14, 15, 16], "took {:?}", started.elapsed());
    assert_eq!(follow.take_missing(), Some((8, 12)));
    assert_eq!(follow.take_gap(), None, "not retention's doing");
    // Each damaged line is said, with its segment: the one at a sealed segment's end too,
    // which no later record of that segment reports.
    let skipped: Vec<_> = std::iter::from_fn(|| follow.take_skipped())
        .map(|s| (s.file, s.first_offset, s.lines))
        .collect();
    let want = [
        (segments[1].path.clone(), at as u64 - 1, 1),
        (segments[3].path.clone(), at13 as u64 - 1, 1),
    ];
    assert_eq!(skipped, want);
    // And it goes on with what is appended.
    w.append(&17).unwrap();
    let next = follow.next_within(Some(Duration::from_secs(5))).unwrap().map(|r| r.seq);
    assert_eq!(next, Some(17));
}

#[test]
fn retention_by_size_counts_a_preallocated_segment_by_its_records_not_its_padding() {
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let settings = Settings { segment_records: Some(10), preallocate: true, ..settings(10) };
    let w = Options::new().segments(settings).open(&path).unwrap();
    for i in 0..45 {
        w.append(&i).unwrap();
    }
    // The newest 30 records take well under 2 KB; the active segment's file is 2 MiB.
    let newest: u64 = SegmentedReader::open(&path)
        .unwrap()
        .records()
        .skip(15)
        .map(|r| r.line.len() as u64 + 1)
        .sum();
    let report = Compactor::new(&path, Policy::new().max_bytes(newest)).run().unwrap();
    let log = SegmentedReader::open(&path).unwrap();
    assert!(log.records().count() >= 30, "{report:?}: the policy keeps the newest 30");
    assert_eq!(report.segments_removed, 1, "{report:?}");
}

/// A disk with room for everything but padding, while `full` says so: writes to a
/// preallocated segment's (or spare's) temporary file fail with ENOSPC.
#[derive(Clone, Debug, Default)]
struct NoRoomForPadding {
    full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl util::hooked_fs::Hooks for NoRoomForPadding {
    fn write_at(
        &self,
        path: &std::path::Path,
        file: &ndlog::fs::StdFile,
        buf: &[u8],
        at: u64,
    ) -> std::io::Result<usize> {
        let temp = path.to_string_lossy().ends_with(".tmp");
        if temp && self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        ndlog::fs::VfsFile::write_at(file, buf, at)
    }
}

/// The names in `dir` of temporary files.
fn temporary_files(dir: &std::path::Path) -> Vec<String> {
    util::names_where(dir, |n| n.ends_with(".tmp"))
}

#[test]
fn a_preallocation_without_room_removes_its_temporary_file() {
    use std::sync::atomic::Ordering;
    let dir = util::tempdir();
    let path = dir.path().join("log");
    let hooks = NoRoomForPadding::default();
    let fs = util::hooked_fs::Hooked(hooks.clone());
    let settings =
        Settings { segment_records: Some(2), preallocate: true, ..Settings::new(4 << 20) };
    let options = Options::new().segments(settings).prepare_segments_in_background(false);

    // The first segment: the writer is refused, saying how much room the segment takes, and
    // its padding does not stay behind to fill the disk.
    hooks.full.store(true, Ordering::SeqCst);
    let err = options.open_in(fs.clone(), &path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("preallocate") && text.contains("No space left"), "{text}");
    assert!(text.contains(&(4u64 << 20).to_string()), "says how much room: {text}");
    assert_eq!(temporary_files(&path), Vec::<String>::new());

    // With room, the log is written; a roll that finds no room fails cleanly: the records
    // acknowledged stay, no temporary file is left, and the next append after room is made
    // rolls and goes on.
    hooks.full.store(false, Ordering::SeqCst);
    let w = options.open_in(fs.clone(), &path).unwrap();
    assert_eq!(w.append_raw(b"1").unwrap().seq, 1);
    assert_eq!(w.append_raw(b"2").unwrap().seq, 2);
    hooks.full.store(true, Ordering::SeqCst);
    let err = w.append_raw(b"3").unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(temporary_files(&path), Vec::<String>::new());
    let log = SegmentedReader::open(&path).unwrap();
    let seqs: Vec<u64> = log.records().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2]);
    // A new handle finds no room either, and leaves nothing.
    assert!(options.open_in(fs.clone(), &path).is_err());
    assert_eq!(temporary_files(&path), Vec::<String>::new());
    hooks.full.store(false, Ordering::SeqCst);
    assert_eq!(w.append_raw(b"3").unwrap().seq, 3);
    let log = SegmentedReader::open(&path).unwrap();
    assert_eq!(log.records().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
}
