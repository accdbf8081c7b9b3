//! Version lookups do not scan the log: `LOG.versions` (FORMAT.md, section 12) answers a fresh
//! writer's version checks on a big log by reading O(1) records, whatever the log's size and
//! however few its entities; it stays right across processes, segment rolls, retention and
//! compactions; and it is never followed through a symlink or waited on as a FIFO.

use crate::util;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndlog::fs::{StdFile, StdFs, Vfs, VfsFile};
use ndlog::segments::Settings;
use ndlog::{Compactor, Durability, ErrorKind, Expect, JsonPointer, Options, Policy, Reader};
use util::hooked_fs::{Hooked, Hooks};
use util::*;

/// The real file system, counting what is read of the log's bytes (by `pread` or through a
/// map) and how many reads there were.
#[derive(Clone, Debug, Default)]
struct Counting {
    bytes: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
}

impl Counting {
    fn take(&self) -> (u64, u64) {
        (self.bytes.swap(0, Ordering::SeqCst), self.reads.swap(0, Ordering::SeqCst))
    }
    fn count(&self, path: &Path, n: u64) {
        if is_log(path) {
            self.bytes.fetch_add(n, Ordering::SeqCst);
            self.reads.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A log's own bytes: the file itself, or a segment of a segmented log.
fn is_log(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".ndjson") || name.ends_with(".ndjson.active")
}

impl Hooks for Counting {
    fn read_at(&self, path: &Path, file: &StdFile, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let n = file.read_at(buf, at)?;
        self.count(path, n as u64);
        Ok(n)
    }
    fn map(&self, path: &Path, file: &StdFile, len: u64) -> io::Result<<StdFs as Vfs>::Map> {
        self.count(path, len);
        StdFs.map(file, len)
    }
}

fn id_key() -> JsonPointer {
    JsonPointer::parse("/id").unwrap()
}

fn keyed() -> Options {
    Options::new().entity_key(id_key())
}

/// `records` records over `entities` entities (`e0`, `e1`, ... in turn), written by a writer
/// without the key; returns the log's size and each entity's version.
fn big_log(path: &Path, records: usize, entities: usize) -> (u64, HashMap<String, u64>) {
    let w = Options::new().durability(Durability::Never).open(path).unwrap();
    let mut versions = HashMap::new();
    let pad = "x".repeat(60);
    for start in (0..records).step_by(2000) {
        let batch: Vec<String> = (start..(start + 2000).min(records))
            .map(|i| format!(r#"{{"id":"e{}","i":{i},"pad":"{pad}"}}"#, i % entities))
            .collect();
        let ack = w.append_raw_batch(&batch).unwrap();
        for (seq, i) in ack.seqs().zip(start..) {
            versions.insert(format!("e{}", i % entities), seq);
        }
    }
    w.sync().unwrap();
    (std::fs::metadata(path).unwrap().len(), versions)
}

/// What a fresh writer (another process, the table already built) reads of a log of
/// `records` records over 50 entities to open it and make three conditional appends: a new
/// entity, an existing one, and a stale expectation. Returns (bytes, reads) and the log size.
fn fresh_writer_reads(dir: &Path, records: usize) -> ((u64, u64), u64) {
    let log = dir.join(format!("big-{records}.ndjson"));
    let (size, versions) = big_log(&log, records, 50);
    let fs = Counting::default();
    // The first keyed writer builds LOG.versions: the one read of the whole log.
    drop(keyed().open_in(Hooked(fs.clone()), &log).unwrap());
    let (bytes, _) = fs.take();
    assert!(bytes >= size, "the build read {bytes} of {size} bytes");
    let w = keyed().open_in(Hooked(fs.clone()), &log).unwrap();
    w.append_if(Expect::Version(0), &serde_json::json!({"id": "new"})).unwrap();
    let e7 = versions["e7"];
    let ack = w.append_if(Expect::Version(e7), &serde_json::json!({"id": "e7"})).unwrap();
    let err = w.append_if(Expect::Version(e7), &serde_json::json!({"id": "e7"})).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Conflict { actual, .. } if *actual == ack.seq));
    (fs.take(), size)
}

#[test]
fn a_fresh_writer_checks_versions_on_a_big_log_reading_o1_records() {
    let dir = tempdir();
    let ((small_bytes, small_reads), small_size) = fresh_writer_reads(dir.path(), 20_000);
    let ((bytes, reads), size) = fresh_writer_reads(dir.path(), 200_000);
    eprintln!(
        "a fresh writer's open and three conditional appends read {bytes} bytes in {reads} \
         reads of a {size}-byte log of 200,000 records ({small_bytes} bytes in {small_reads} \
         reads of a {small_size}-byte log of 20,000)"
    );
    // A few 4 KiB windows (the tail, the index's last entry, the table's covered record, the
    // one record a hit is checked against), the same for a log ten times larger.
    assert!(bytes <= 64 << 10 && reads <= 16, "{bytes} bytes in {reads} reads");
    assert!(bytes <= small_bytes + 8192 && reads <= small_reads + 2, "grows with the log");
}

/// The same on a segmented log of 100,000 records in segments of 10,000: a fresh writer's
/// version checks read O(1) records, from the active segment and the sealed one a hit is in.
#[test]
fn a_fresh_writer_of_a_segmented_log_reads_o1_records() {
    let dir = tempdir();
    let log = dir.path().join("seglog");
    let settings = Settings { segment_records: Some(10_000), ..Settings::new(64 << 20) };
    let w = Options::new().segments(settings).durability(Durability::Never).open(&log).unwrap();
    let pad = "x".repeat(60);
    let mut versions = HashMap::new();
    for start in (0..100_000).step_by(2000) {
        let batch: Vec<String> = (start..start + 2000)
            .map(|i| format!(r#"{{"id":"e{}","pad":"{pad}"}}"#, i % 50))
            .collect();
        let ack = w.append_raw_batch(&batch).unwrap();
        for (seq, i) in ack.seqs().zip(start..) {
            versions.insert(format!("e{}", i % 50), seq);
        }
    }
    w.sync().unwrap();
    let fs = Counting::default();
    drop(keyed().segments(settings).open_in(Hooked(fs.clone()), &log).unwrap());
    let (built, _) = fs.take();
    let w = keyed().segments(settings).open_in(Hooked(fs.clone()), &log).unwrap();
    w.append_if(Expect::Version(0), &serde_json::json!({"id": "new"})).unwrap();
    w.append_if(Expect::Version(versions["e7"]), &serde_json::json!({"id": "e7"})).unwrap();
    let (bytes, reads) = fs.take();
    eprintln!(
        "segmented: the build read {built} bytes; a fresh writer {bytes} bytes in {reads} reads"
    );
    assert!(built > 10 << 20, "the build read the segments: {built}");
    assert!(bytes <= 64 << 10 && reads <= 16, "{bytes} bytes in {reads} reads");
}

#[test]
fn misses_of_a_small_cache_go_to_the_table_not_back_through_the_log() {
    let dir = tempdir();
    let log = dir.path().join("many.ndjson");
    let (size, versions) = big_log(&log, 30_000, 3_000);
    drop(keyed().open(&log).unwrap());
    let fs = Counting::default();
    let w = keyed().entity_cache(4).open_in(Hooked(fs.clone()), &log).unwrap();
    fs.take();
    for i in (0..3_000).step_by(150) {
        let e = format!("e{i}");
        let (v, _) = w.transaction(|tx| tx.version(&e)).unwrap();
        assert_eq!(v, versions[&e], "{e}");
    }
    let (missing, _) = w.transaction(|tx| tx.version("nobody")).unwrap();
    assert_eq!(missing, 0);
    let (bytes, reads) = fs.take();
    // One record each for the 20 hits (checked against the log), none for the miss.
    assert!(reads <= 22 && bytes <= 22 * 4096, "{bytes} bytes in {reads} reads of {size}");
}

#[test]
fn creates_from_processes_racing_succeed_once_per_entity() {
    let dir = tempdir();
    let log = dir.path().join("registry.ndjson");
    let entities: Vec<String> = (0..24).map(|i| format!("user{i}")).collect();
    let workers: Vec<_> = (0..4)
        .map(|p| {
            let (log, entities) = (log.clone(), entities.clone());
            std::thread::spawn(move || {
                let mut created = Vec::new();
                for k in 0..entities.len() {
                    // Each process goes through the entities from its own starting point.
                    let e = &entities[(k + p * 7) % entities.len()];
                    let line = format!("{{\"id\":\"{e}\",\"by\":{p}}}\n");
                    let args = ["append", log.to_str().unwrap(), "--durability", "never"];
                    let args = [&args[..], &["--key", "/id", "--expect-version", "0"]].concat();
                    let out = run(&args, line.as_bytes());
                    match out.status.code() {
                        Some(0) => created.push(e.clone()),
                        Some(6) => assert!(stderr(&out).contains(e.as_str()), "{}", stderr(&out)),
                        other => panic!("append exited {other:?}: {}", stderr(&out)),
                    }
                }
                created
            })
        })
        .collect();
    let mut created: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    created.sort();
    let mut expected = entities.clone();
    expected.sort();
    assert_eq!(created, expected, "exactly one create per entity succeeded");
    let reader = Reader::open(&log).unwrap();
    let mut ids: Vec<String> = reader
        .records()
        .map(|r| r.deserialize::<serde_json::Value>().unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, expected, "one record per entity");
}

fn versions_in(log: &Path) -> HashMap<String, u64> {
    let reader = ndlog::Log::open(log).unwrap();
    let mut truth = HashMap::new();
    for r in reader.records() {
        let v: serde_json::Value = r.deserialize().unwrap();
        if let Some(id) = v["id"].as_str() {
            truth.insert(id.to_owned(), r.seq);
        }
    }
    truth
}

/// Asks a fresh keyed writer of `log` (opened with `opts`) for the version of each of `ids`,
/// and compares with the log.
fn assert_versions(log: &Path, opts: &Options, ids: &[String]) {
    let truth = versions_in(log);
    let w = opts.open(log).unwrap();
    let (seen, _) = w
        .transaction(|tx| ids.iter().map(|e| tx.version(e)).collect::<ndlog::Result<Vec<_>>>())
        .unwrap();
    for (e, v) in ids.iter().zip(seen) {
        assert_eq!(v, truth.get(e).copied().unwrap_or(0), "{e} in {}", log.display());
    }
}

/// The version check finds each payload's entity once and hands it on to the cache and the
/// table: every payload of a conditional batch, and every append of a transaction, keeps its
/// own entity's version, whatever the entities' lengths, escapes and places in the payload,
/// entities repeated within a batch, and payloads dropped as repeats.
#[test]
fn each_payload_of_a_batch_or_a_transaction_keeps_its_own_entitys_version() {
    let dir = tempdir();
    let log = dir.path().join("batches.ndjson");
    let dedup =
        ndlog::Dedup::new(JsonPointer::parse("/req").unwrap(), ndlog::DedupWindow::Records(100));
    let opts = keyed().dedup(dedup);
    let w = opts.open(&log).unwrap();
    let ack = w
        .append_raw_batch_if(
            Expect::Version(0),
            &[
                &br#"{"id":"a","req":1}"#[..],
                br#"{"id":"a-much-longer-entity-than-the-others","req":2}"#,
                br#"{"req":3,"pad":"xxxxxxxxxxxxxxxx","id":"c"}"#,
                br#"{"id":"\u0064","req":4}"#,
                br#"{"id":"a","req":5}"#,
            ],
        )
        .unwrap();
    assert_eq!((ack.first_seq, ack.count), (1, 5));
    // The first payload repeats a request: it is dropped, the other two are written.
    let ack = w
        .append_raw_batch_if(
            Expect::Version(0),
            &[
                &br#"{"id":"f","req":2}"#[..],
                br#"{"id":"eeeeeeeeeeee","req":6}"#,
                br#"{"id":"g","req":7}"#,
            ],
        )
        .unwrap();
    assert_eq!((ack.first_seq, ack.count, ack.duplicates.len()), (6, 2, 1));
    w.transaction(|tx| {
        assert_eq!(tx.version("a")?, 5);
        tx.append_raw(br#"{"id":"h","req":8}"#)?;
        tx.append_raw(br#"{"pad":[1,2,3],"id":"a","req":9}"#)?;
        tx.append_raw(br#"{"id":"c","req":10}"#)
    })
    .unwrap();
    let ids: Vec<String> = ["a", "a-much-longer-entity-than-the-others", "c", "d", "eeeeeeeeeeee"]
        .into_iter()
        .chain(["f", "g", "h"])
        .map(String::from)
        .collect();
    let truth = versions_in(&log);
    assert_eq!(truth["a"], 9);
    assert_eq!(truth["d"], 4);
    assert!(!truth.contains_key("f"));
    // This writer's cache, a fresh writer's table, and conditional appends on each version.
    let (seen, _) = w
        .transaction(|tx| ids.iter().map(|e| tx.version(e)).collect::<ndlog::Result<Vec<_>>>())
        .unwrap();
    for (e, v) in ids.iter().zip(seen) {
        assert_eq!(v, truth.get(e).copied().unwrap_or(0), "{e}");
    }
    assert_versions(&log, &opts, &ids);
    for (i, e) in ids.iter().enumerate() {
        let v = truth.get(e).copied().unwrap_or(0);
        let payload = serde_json::json!({"id": e, "req": 100 + i});
        w.append_if(Expect::Version(v), &payload).unwrap_or_else(|err| panic!("{e}: {err}"));
    }
}

#[test]
fn a_segmented_log_keeps_versions_across_rolls_retention_and_compaction() {
    let dir = tempdir();
    let log = dir.path().join("seglog");
    let settings = Settings { segment_records: Some(5), ..Settings::new(2 << 20) };
    let opts = keyed().segments(settings);
    let ids: Vec<String> = (0..8).map(|i| format!("s{i}")).chain(["never".into()]).collect();
    let w = opts.open(&log).unwrap();
    let plain = Options::new().segments(settings).open(&log).unwrap();
    let mut model: HashMap<String, u64> = HashMap::new();
    for round in 0..6 {
        for (i, e) in ids[..8].iter().enumerate() {
            let v = model.get(e).copied().unwrap_or(0);
            let ack = if (round + i) % 3 == 0 {
                // A writer without the key: the table learns of it at the next catch-up,
                // possibly across rolls.
                plain.append(&serde_json::json!({"id": e, "round": round})).unwrap()
            } else {
                w.append_if(Expect::Version(v), &serde_json::json!({"id": e, "round": round}))
                    .unwrap()
            };
            model.insert(e.clone(), ack.seq);
        }
        assert_versions(&log, &opts, &ids);
    }
    assert!(log.join("ndlog.versions").exists());
    // Retention removes the oldest segments; a key compaction (by another key) rewrites
    // sealed ones, removing the newest record of some entities.
    Compactor::new(&log, Policy::new().keep_last(20)).run().unwrap();
    assert_versions(&log, &opts, &ids);
    w.append_if(Expect::Version(model["s1"]), &serde_json::json!({"id": "s1", "k": 1})).unwrap();
    Compactor::new(&log, Policy::new().key(JsonPointer::parse("/round").unwrap())).run().unwrap();
    assert_versions(&log, &opts, &ids);
    // Retention of everything but the active segment: old entities have no record left.
    Compactor::new(&log, Policy::new().keep_last(1)).run().unwrap();
    assert_versions(&log, &opts, &ids);
    let truth = versions_in(&log);
    let gone = ids.iter().find(|e| !truth.contains_key(*e) && *e != "never").unwrap();
    w.append_if(Expect::Version(0), &serde_json::json!({"id": gone})).unwrap();
    assert_versions(&log, &opts, &ids);
}

#[test]
fn a_compacted_single_file_log_gets_its_table_rebuilt() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let w = keyed().open(&log).unwrap();
    let ids: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    for round in 0..4 {
        for e in &ids {
            let v = versions_in(&log).get(e).copied().unwrap_or(0);
            w.append_if(Expect::Version(v), &serde_json::json!({"id": e, "round": round})).unwrap();
        }
    }
    Compactor::new(&log, Policy::new().key(id_key())).run().unwrap();
    assert_versions(&log, &keyed(), &ids);
    let v = versions_in(&log)["c3"];
    w.append_if(Expect::Version(v), &serde_json::json!({"id": "c3"})).unwrap();
    assert_versions(&log, &keyed(), &ids);
}

/// A symlink or a FIFO planted at `LOG.versions`: never followed, never waited on; the writer
/// goes on without the table, its versions right.
#[test]
fn a_symlink_or_fifo_at_the_table_is_not_used() {
    let dir = tempdir();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    for planted in ["symlink", "fifo"] {
        let log: PathBuf = dir.path().join(format!("{planted}.ndjson"));
        let table = dir.path().join(format!("{planted}.ndjson.versions"));
        match planted {
            "symlink" => std::os::unix::fs::symlink(&victim, &table).unwrap(),
            _ => rustix::fs::mknodat(
                rustix::fs::CWD,
                &table,
                rustix::fs::FileType::Fifo,
                0o600.into(),
                0,
            )
            .unwrap(),
        }
        let w = keyed().open(&log).unwrap();
        let a = w.append_if(Expect::Version(0), &serde_json::json!({"id": "a"})).unwrap();
        let err = w.append_if(Expect::Version(0), &serde_json::json!({"id": "a"})).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Conflict { actual, .. } if *actual == a.seq));
        assert_versions(&log, &keyed(), &["a".into(), "b".into()]);
        assert!(
            std::fs::symlink_metadata(&table).unwrap().file_type().is_symlink()
                || planted == "fifo"
        );
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}
