//! Idempotent appends: a repeated key within the window returns the original seq and writes
//! nothing — within a handle, across processes, across reopen and compaction.

use crate::util;

use std::time::Duration;

use ndlog::{Compactor, Dedup, DedupWindow, Durability, JsonPointer, Options, Policy};
use util::*;

fn dedup(window: DedupWindow) -> Dedup {
    Dedup::new(JsonPointer::parse("/id").unwrap(), window)
}

#[test]
fn a_repeat_returns_the_original_and_writes_nothing() {
    let dir = tempdir();
    let path = dir.path().join("d.ndjson");
    let w = Options::new().dedup(dedup(DedupWindow::Records(1000))).open(&path).unwrap();
    let first = w.append_raw(br#"{"id":"r1","amount":5}"#).unwrap();
    assert!(!first.duplicate);
    let size = std::fs::metadata(&path).unwrap().len();
    let again = w.append_raw(br#"{"id":"r1","amount":5}"#).unwrap();
    assert_eq!((again.seq, again.ts, again.duplicate), (first.seq, first.ts, true));
    // The key decides, not the rest of the payload; escapes do not make a new key.
    let escaped = w.append(&serde_json::json!({"amount": 6, "id": "r1"})).unwrap();
    assert_eq!(escaped.seq, first.seq);
    assert_eq!(w.append_raw(br#"{"id":"\u0072\u0031"}"#).unwrap().seq, first.seq);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size, "nothing written");
    // Other keys, and payloads without the key, are appended.
    assert_eq!(w.append_raw(br#"{"id":"r2"}"#).unwrap().seq, 2);
    assert_eq!(w.append_raw(br#"{"other":1}"#).unwrap().seq, 3);
    assert_eq!(w.append_raw(br#"{"other":1}"#).unwrap().seq, 4);
    assert_eq!(
        w.append_raw(br#"{"id":2}"#).unwrap().seq,
        5,
        "the number 2 is not the string \"2\""
    );
}

#[test]
fn batches_skip_repeats_in_the_log_and_in_the_batch() {
    let dir = tempdir();
    let w = Options::new()
        .dedup(dedup(DedupWindow::Records(1000)))
        .open(dir.path().join("b.ndjson"))
        .unwrap();
    w.append_raw(br#"{"id":"a"}"#).unwrap();
    let batch: Vec<&[u8]> =
        vec![br#"{"id":"b"}"#, br#"{"id":"a"}"#, br#"{"id":"c"}"#, br#"{"id":"b"}"#, br#"{"x":1}"#];
    let ack = w.append_raw_batch(&batch).unwrap();
    let seqs: Vec<(u64, bool)> = ack.acks().map(|a| (a.seq, a.duplicate)).collect();
    assert_eq!(seqs, [(2, false), (1, true), (3, false), (2, true), (4, false)]);
    assert_eq!((ack.first_seq, ack.count), (2, 3));
    let data: Vec<serde_json::Value> =
        independent_parse(&std::fs::read(w.path()).unwrap()).into_iter().map(|l| l.data).collect();
    assert_eq!(data.len(), 4);
    // A batch ending in a repeat still writes the records before it.
    let ack = w.append_raw_batch(&[&br#"{"id":"d"}"#[..], br#"{"id":"a"}"#]).unwrap();
    assert_eq!(ack.acks().map(|a| a.seq).collect::<Vec<_>>(), [5, 1]);
    assert_eq!(
        independent_parse(&std::fs::read(w.path()).unwrap()).last().unwrap().data,
        serde_json::json!({"id": "d"})
    );
}

#[test]
fn the_window_bounds_what_counts_as_a_repeat() {
    let dir = tempdir();
    let w = Options::new()
        .durability(Durability::Never)
        .dedup(dedup(DedupWindow::Records(3)))
        .open(dir.path().join("w.ndjson"))
        .unwrap();
    assert_eq!(w.append_raw(br#"{"id":"k"}"#).unwrap().seq, 1);
    for i in 0..2 {
        w.append_raw(format!(r#"{{"id":"f{i}"}}"#).as_bytes()).unwrap();
    }
    assert!(w.append_raw(br#"{"id":"k"}"#).unwrap().duplicate, "within the last 3 records");
    w.append_raw(br#"{"id":"f9"}"#).unwrap();
    assert_eq!(w.append_raw(br#"{"id":"k"}"#).unwrap().seq, 5, "out of the window: appended again");

    let w = Options::new()
        .durability(Durability::Never)
        .dedup(dedup(DedupWindow::Age(Duration::from_millis(300))))
        .open(dir.path().join("t.ndjson"))
        .unwrap();
    let first = w.append_raw(br#"{"id":"t"}"#).unwrap();
    assert_eq!(w.append_raw(br#"{"id":"t"}"#).unwrap().seq, first.seq);
    std::thread::sleep(Duration::from_millis(400));
    assert_ne!(w.append_raw(br#"{"id":"t"}"#).unwrap().seq, first.seq, "older than the window");
}

#[test]
fn the_window_is_recovered_from_the_log_across_processes_and_compaction() {
    let dir = tempdir();
    let path = dir.path().join("x.ndjson");
    let log = path.to_str().unwrap();
    let out = run(&["append", log, "--dedup-key", "/id"], b"{\"id\":\"p1\"}\n{\"id\":\"p2\"}\n");
    assert_eq!(stdout(&out), "1\n2\n");
    // Another process, with its own handle: the retry gets the original seq.
    let out = run(
        &["append", log, "--dedup-key", "/id", "--durability", "group"],
        b"{\"id\":\"p2\"}\n{\"id\":\"p3\"}\n{\"id\":\"p1\"}\n",
    );
    assert_eq!(stdout(&out), "2\n3\n1\n");
    // A handle opened earlier learns what others appended since.
    let w = Options::new().dedup(dedup(DedupWindow::Records(100))).open(&path).unwrap();
    w.append_raw(br#"{"id":"warm"}"#).unwrap();
    let out = run(&["append", log, "--dedup-key", "/id"], b"{\"id\":\"p4\"}\n");
    assert_eq!(stdout(&out), "5\n");
    assert_eq!(w.append_raw(br#"{"id":"p4"}"#).unwrap().seq, 5);
    // After a compaction replaced the file, the window is read back from the new one.
    Compactor::new(&path, Policy::new().keep_last(3)).run().unwrap();
    assert_eq!(w.append_raw(br#"{"id":"p4"}"#).unwrap().seq, 5);
    assert_eq!(w.append_raw(br#"{"id":"p1"}"#).unwrap().seq, 6, "p1 was compacted away");
    let seqs: Vec<u64> =
        independent_parse(&std::fs::read(&path).unwrap()).iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    // Bad windows are rejected.
    let out = run(&["append", log, "--dedup-key", "/id", "--dedup-window", "0"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["append", log, "--dedup-window", "10"], b"");
    assert_eq!(out.status.code(), Some(2), "a window needs a key");
}

#[test]
fn a_window_past_u64_milliseconds_is_as_long_as_forever() {
    // 18446744073709552s is 2^64 ms + 384 ms: cut to u64 it was a 384ms window, and a repeat
    // half a second later was appended again.
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let log = path.to_str().unwrap();
    let args = ["append", log, "--dedup-key", "/id", "--dedup-window", "18446744073709552s"];
    assert_eq!(stdout(&run(&args, b"{\"id\":\"r1\"}\n")), "1\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stdout(&run(&args, b"{\"id\":\"r1\"}\n")), "1\n", "a repeat");
    assert_eq!(independent_parse(&std::fs::read(&path).unwrap()).len(), 1);
}

#[test]
fn a_retried_conditional_append_is_acknowledged_as_the_repeat_it_is() {
    // A client whose conditional append succeeded but whose acknowledgement was lost retries
    // it. Failed on d50e891: the retry was checked against the log its own first attempt had
    // moved, and refused as a conflict ("nothing was appended", exit 6), so the client took a
    // write that is in the log for a failed one.
    let dir = tempdir();
    let path = dir.path().join("d.ndjson");
    let w = Options::new()
        .dedup(dedup(DedupWindow::Records(1000)))
        .entity_key(JsonPointer::parse("/account").unwrap())
        .open(&path)
        .unwrap();
    let payload = br#"{"id":"r1","account":"a1","amount":5}"#;
    let first = w.append_raw_if(ndlog::Expect::LastSeq(0), payload).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let retry = w.append_raw_if(ndlog::Expect::LastSeq(0), payload).unwrap();
    assert_eq!((retry.seq, retry.duplicate), (first.seq, true));
    let retry = w.append_raw_if(ndlog::Expect::Version(0), payload).unwrap();
    assert_eq!((retry.seq, retry.duplicate), (first.seq, true));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size, "nothing written");
    // A new request against a stale expectation is still a conflict.
    let stale = w.append_raw_if(ndlog::Expect::LastSeq(0), br#"{"id":"r2","account":"a1"}"#);
    assert!(matches!(stale.unwrap_err().kind(), ndlog::ErrorKind::Conflict { .. }));
    // So is a batch of which only a part repeats.
    let part = [&br#"{"id":"r1"}"#[..], br#"{"id":"r3"}"#];
    let mixed = w.append_raw_batch_if(ndlog::Expect::LastSeq(0), &part);
    assert!(matches!(mixed.unwrap_err().kind(), ndlog::ErrorKind::Conflict { .. }));
    // The command line: the retry prints the original seq and exits 0.
    let log = path.to_str().unwrap();
    let args = ["append", log, "--dedup-key", "/id", "--expect-last-seq", "0"];
    let out = run(&args, b"{\"id\":\"r1\"}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\n");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size, "nothing written");
}
