//! Tombstones: key compaction keeps one for its retention so an entity's version never goes
//! back, and history marks them and answers `--at` a time after a deletion with "deleted".

mod util;

use std::time::Duration;

use ndlog::{Compactor, ErrorKind, Expect, JsonPointer, Options, Policy, Reader};
use util::*;

fn policy() -> Policy {
    Policy::new()
        .key(JsonPointer::parse("/id").unwrap())
        .tombstone(JsonPointer::parse("/deleted").unwrap())
}

fn ids(log: &std::path::Path) -> Vec<(u64, String)> {
    let reader = Reader::open(log).unwrap();
    reader.records().map(|r| (r.seq, String::from_utf8(r.data.to_vec()).unwrap())).collect()
}

#[test]
fn a_tombstone_within_its_retention_survives_compaction_and_keeps_the_version() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let w = Options::new().entity_key(JsonPointer::parse("/id").unwrap()).open(&log).unwrap();
    w.append_raw(br#"{"id":"a","v":1}"#).unwrap();
    w.append_raw(br#"{"id":"a","v":2}"#).unwrap();
    let gone = w.append_raw(br#"{"id":"a","deleted":true}"#).unwrap().seq;
    w.append_raw(br#"{"id":"b","v":1}"#).unwrap();
    Compactor::new(&log, policy()).run().unwrap();
    // The tombstone stays (within the default day); what it deleted does not.
    assert_eq!(
        ids(&log),
        [(3, r#"{"id":"a","deleted":true}"#.into()), (4, r#"{"id":"b","v":1}"#.into())]
    );
    // The version did not go back: re-creating as if new conflicts and names the tombstone.
    let err = w.append_raw_if(Expect::Version(0), br#"{"id":"a","v":1}"#).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Conflict { actual, .. } if *actual == gone), "{err}");
    let again = w.append_raw_if(Expect::Version(gone), br#"{"id":"a","v":1}"#).unwrap();
    assert_eq!(again.seq, 5);
}

#[test]
fn a_tombstone_past_its_retention_is_dropped() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let w = Options::new().open(&log).unwrap();
    w.append_raw(br#"{"id":"a","v":1}"#).unwrap();
    w.append_raw(br#"{"id":"a","deleted":true}"#).unwrap();
    w.append_raw(br#"{"id":"b","v":1}"#).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let retention = policy().tombstone_retention(Duration::from_millis(1));
    let report = Compactor::new(&log, retention).run().unwrap();
    assert_eq!(ids(&log), [(3, r#"{"id":"b","v":1}"#.into())], "{report:?}");
    // Through the command line, zero drops it at once too.
    let log2 = dir.path().join("two.ndjson");
    let w = Options::new().open(&log2).unwrap();
    w.append_raw(br#"{"id":"a","deleted":true}"#).unwrap();
    w.append_raw(br#"{"id":"b"}"#).unwrap();
    let path = log2.to_str().unwrap();
    let args =
        ["compact", path, "--key", "/id", "--tombstone", "/deleted", "--tombstone-retention", "0"];
    let out = run(&args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&log2), [(2, r#"{"id":"b"}"#.into())]);
}

#[test]
fn history_marks_tombstones_and_at_a_deleted_time_says_deleted() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let w = Options::new().open(&log).unwrap();
    let created = w.append_raw(br#"{"id":"a","v":1}"#).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    let deleted = w.append_raw(br#"{"id":"a","deleted":true}"#).unwrap();
    let path = log.to_str().unwrap();
    let out = run(&["history", path, "--key", "/id", "--entity", "a"], b"");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("{\"seq\":1,"), "{text}");
    assert!(lines[1].starts_with("deleted\t{\"seq\":2,"), "{text}");
    // --data stays the payloads, unmarked.
    let out = run(&["history", path, "--key", "/id", "--entity", "a", "--data"], b"");
    assert_eq!(stdout(&out), "{\"id\":\"a\",\"v\":1}\n{\"id\":\"a\",\"deleted\":true}\n");
    // At a time after the deletion: deleted, exit 4.
    let at = deleted.ts.to_string();
    let out = run(&["history", path, "--key", "/id", "--entity", "a", "--at", &at], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("was deleted at"), "{}", stderr(&out));
    assert!(stderr(&out).contains("tombstone seq 2"), "{}", stderr(&out));
    // Before it, the state then.
    let at = created.ts.to_string();
    let out = run(&["history", path, "--key", "/id", "--entity", "a", "--at", &at], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#""v":1"#));
}
