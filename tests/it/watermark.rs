//! The durable watermark (`LOG.watermark`): published after each sync, never lowered by a
//! writer that syncs late, moved to a compaction's new file, and not fooled by a log removed
//! and created again.

use crate::util;

use std::time::Duration;

use ndlog::consume::Watermark;
use ndlog::{Compactor, Durability, Options, Policy, Reader};
use util::*;

/// The mark must describe the file at `path` up to its last record.
fn assert_covers_all(path: &std::path::Path) {
    let reader = Reader::open(path).unwrap();
    let last = reader.last().unwrap();
    let mark = Watermark::read(path).unwrap().expect("a watermark");
    assert_eq!(mark, Watermark { file: reader.file_id(), end: last.end(), seq: last.seq });
}

#[test]
fn concurrent_writers_never_lower_the_watermark() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let durability = if t % 2 == 0 { Durability::Always } else { Durability::Group };
                let writer = Options::new().durability(durability).open(&path).unwrap();
                for i in 0..150 {
                    writer.append_raw(format!(r#"{{"t":{t},"i":{i}}}"#).as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_covers_all(&path);
}

#[test]
fn never_writers_publish_at_sync_and_a_compaction_publishes_its_new_file() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    writer.append_raw_batch(&[b"1", b"2", b"3"]).unwrap();
    assert_eq!(Watermark::read(&path).unwrap(), None, "nothing synced yet");
    writer.sync().unwrap();
    assert_covers_all(&path);
    writer.append_raw(b"4").unwrap();
    assert_eq!(Watermark::read(&path).unwrap().unwrap().seq, 3, "4 is not synced");
    let before = Reader::open(&path).unwrap().file_id();
    Compactor::new(&path, Policy::new().keep_last(2)).run().unwrap();
    assert_ne!(Reader::open(&path).unwrap().file_id(), before, "a new file");
    // All of the new file is durable (4 included: the compaction synced it).
    assert_covers_all(&path);
    let mut follow = Reader::open(&path).unwrap().follow_after(2);
    let got: Vec<u64> = (&mut follow).take(2).map(|r| r.unwrap().seq).collect();
    assert_eq!(got, [3, 4]);
}

#[test]
fn a_mark_left_by_a_removed_log_is_neither_trusted_nor_kept() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = Options::new().open(&path).unwrap();
    for i in 0..50 {
        writer.append_raw(format!(r#"{{"old":{i}}}"#).as_bytes()).unwrap();
    }
    drop(writer);
    let old = Watermark::read(&path).unwrap().unwrap();
    // The log is removed and created again (its inode number may well be reused); the old
    // mark stays beside it.
    std::fs::remove_file(&path).unwrap();
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    writer.append_raw(b"1").unwrap();
    let reader = Reader::open(&path).unwrap();
    // Not synced: the old mark is there, unless it names the new file's inode (reused): the
    // writer that found the new file empty voided it then.
    let left = (old.file != reader.file_id()).then_some(old);
    assert_eq!(Watermark::read(&path).unwrap(), left, "the old mark, or none");
    let mut follow = reader.follow();
    assert!(
        follow.next_within(Some(Duration::from_millis(50))).unwrap().is_none(),
        "the old mark does not cover the new log's unsynced record"
    );
    writer.sync().unwrap();
    assert_covers_all(&path);
    assert_eq!(follow.next_within(Some(Duration::from_secs(5))).unwrap().map(|r| r.seq), Some(1));
}

#[test]
fn a_damaged_mark_holds_readers_back_until_the_next_sync() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let mark_path = dir.path().join("events.ndjson.watermark");
    let mut bytes = std::fs::read(&mark_path).unwrap();
    bytes[30] ^= 1;
    std::fs::write(&mark_path, &bytes).unwrap();
    assert_eq!(Watermark::read(&path).unwrap(), None);
    let mut follow = Reader::open(&path).unwrap().follow();
    assert!(follow.next_within(Some(Duration::from_millis(30))).unwrap().is_none());
    Options::new().open(&path).unwrap().append_raw(b"4").unwrap();
    let got: Vec<u64> = follow.take(4).map(|r| r.unwrap().seq).collect();
    assert_eq!(got, [1, 2, 3, 4]);
}

#[test]
fn a_batch_stops_at_the_watermark() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    writer.append_raw_batch(&[b"1", b"2", b"3"]).unwrap();
    writer.sync().unwrap();
    writer.append_raw_batch(&[b"4", b"5"]).unwrap();
    let idle = Some(Duration::from_millis(20));
    let mut committed = Reader::open(&path).unwrap().follow();
    let got: Vec<u64> = committed.next_batch(idle).unwrap().map(|r| r.seq).collect();
    assert_eq!(got, [1, 2, 3]);
    assert!(committed.next_batch(idle).unwrap().is_empty(), "4 and 5 are not synced");
    let mut eager = Reader::open(&path).unwrap().follow().uncommitted();
    let got: Vec<u64> = eager.next_batch(idle).unwrap().map(|r| r.seq).collect();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    writer.sync().unwrap();
    let got: Vec<u64> = committed.next_batch(idle).unwrap().map(|r| r.seq).collect();
    assert_eq!(got, [4, 5]);
}

#[test]
fn an_exclusive_writer_publishes_every_sync_and_a_shared_one_follows_it() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let owner = Options::new().exclusive(true).open(&path).unwrap();
    for i in 0..20 {
        let seq = owner.append_raw(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap().seq;
        assert_eq!(Watermark::read(&path).unwrap().map(|m| m.seq), Some(seq));
    }
    assert_covers_all(&path);
    drop(owner);
    let shared = Options::new().lock_timeout(Duration::from_secs(1)).open(&path).unwrap();
    let seq = shared.append_raw(b"{}").unwrap().seq;
    assert_eq!(Watermark::read(&path).unwrap().map(|m| m.seq), Some(seq));
    assert_covers_all(&path);
}

/// The first line `ndlog tail -f LOG` says on stderr; the child is killed.
fn first_warning_of_tail_f(log: &std::path::Path) -> String {
    use std::io::BufRead;
    let mut child = spawn_piped(&["tail", "-f", log.to_str().unwrap()]);
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    line.unwrap_or_default()
}

#[test]
fn tail_f_says_why_it_holds_back_records_no_watermark_describes() {
    // A copy of a log (or one whose watermark file was removed) has no mark: `tail -f` printed
    // nothing and waited without a word, though every record was acknowledged. Failed on
    // d50e891.
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    std::fs::remove_file(dir.path().join("events.ndjson.watermark")).unwrap();
    let said = first_warning_of_tail_f(&path);
    assert!(said.contains("no durable watermark") && said.contains("records 1..=3"), "{said}");
    assert!(said.contains("--uncommitted"), "{said}");
    // A segmented log: the records of its active segment.
    let seg = dir.path().join("segmented");
    let out = run(&["create", seg.to_str().unwrap(), "--segment-bytes", "4MiB"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["append", seg.to_str().unwrap()], b"1\n2\n");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_file(seg.join("ndlog.watermark")).unwrap();
    let said = first_warning_of_tail_f(&seg);
    assert!(said.contains("no durable watermark") && said.contains("records 1..=2"), "{said}");
}

#[test]
fn a_fifo_or_a_symlink_at_the_watermark_path_is_refused_saying_what_to_do() {
    // Failed on d50e891: "LOG.watermark: open failed: not a regular file but a FIFO", and
    // nothing about what to do (writers go on without publishing a mark).
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let mark = dir.path().join("events.ndjson.watermark");
    std::fs::remove_file(&mark).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &mark).unwrap();
    let err = Watermark::read(&path).unwrap_err().to_string();
    assert!(err.contains("remove it"), "{err}");
    std::fs::remove_file(&mark).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, &mark, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    let out = run(&["tail", "-f", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("events.ndjson.watermark"), "{}", stderr(&out));
    assert!(stderr(&out).contains("remove it"), "{}", stderr(&out));
}
