//! The durable end shared by writers: a record another writer's sync covered is acknowledged
//! without a sync of its own, never on a mark it cannot trust, never by a poisoned handle; and
//! real processes with threads, `Always` and `Group`, killed with SIGKILL again and again,
//! lose no acknowledged record.

use crate::util;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndlog::fs::{Create, OpenOptions, Vfs, VfsFile};
use ndlog::sim::{Fate, Fault, SimFs};
use ndlog::{Durability, ErrorKind, Options};

const LOG: &str = "/data/log.ndjson";
const LOCK: &str = "/data/log.ndjson.lock";

fn fresh() -> SimFs {
    let fs = SimFs::new(9);
    fs.put("/data/.keep", b"");
    fs
}

/// Two `Always` handles of one log (as two processes), each of which has seen the other append.
fn two_writers(fs: &SimFs) -> (ndlog::Writer<SimFs>, Arc<ndlog::Writer<SimFs>>) {
    let a = Options::new().open_in(fs.clone(), LOG).unwrap();
    let b = Arc::new(Options::new().open_in(fs.clone(), LOG).unwrap());
    for _ in 0..2 {
        a.append_raw(b"{}").unwrap();
        b.append_raw(b"{}").unwrap();
    }
    (a, b)
}

/// The records of `fs` after a crash that kept no pending write.
fn after_crash(fs: &SimFs) -> Vec<u64> {
    let crashed = fs.crash(|_| Fate::Dropped, usize::MAX);
    ndlog::Reader::open_in(crashed, LOG).unwrap().records().map(|r| r.seq).collect()
}

#[test]
fn a_record_another_writer_synced_is_acknowledged_without_a_sync_of_its_own() {
    let fs = fresh();
    let (a, b) = two_writers(&fs);
    let syncs = fs.syncs(LOG);
    // Between A's write and its sync, B appends and syncs: B's sync covers A's record.
    fs.after_next_unlock(LOCK, move || assert_eq!(b.append_raw(b"2").unwrap().seq, 6));
    assert_eq!(a.append_raw(b"1").unwrap().seq, 5);
    assert_eq!(fs.syncs(LOG), syncs + 1, "one sync (B's) for both records");
    assert_eq!(after_crash(&fs), (1..=6).collect::<Vec<_>>());
}

#[test]
fn records_written_before_a_sync_began_are_published_by_it() {
    // A Never writer's record lands between an Always writer's write and its sync: the sync
    // covers it, publishes the end of the file, and the Never writer's sync() costs nothing.
    let fs = fresh();
    let (a, _) = two_writers(&fs);
    let n =
        Arc::new(Options::new().durability(Durability::Never).open_in(fs.clone(), LOG).unwrap());
    // N sees A append, and takes its first look at the watermark (whose mark it distrusts)
    // at its sync.
    a.append_raw(b"{}").unwrap();
    n.append_raw(b"{}").unwrap();
    n.sync().unwrap();
    let n2 = n.clone();
    fs.after_next_unlock(LOCK, move || assert_eq!(n2.append_raw(b"2").unwrap().seq, 8));
    assert_eq!(a.append_raw(b"1").unwrap().seq, 7);
    let syncs = fs.syncs(LOG);
    n.sync().unwrap();
    assert_eq!(fs.syncs(LOG), syncs, "covered by A's sync");
    assert_eq!(after_crash(&fs), (1..=8).collect::<Vec<_>>());
}

/// Writes a mark claiming that every record of the log's current file up to `end` is durable,
/// with the witness `since` (FORMAT.md, section 5): its publisher opened the file before any
/// byte past `since` was written.
fn forge_mark(fs: &SimFs, end: u64, since: u64) {
    let id = fs.metadata(Path::new(LOG)).unwrap().id;
    let mark = ndlog::consume::Watermark { file: id, end, seq: end };
    let mut bytes = [0u8; 64];
    bytes[..48].copy_from_slice(&mark.encode());
    bytes[48..56].copy_from_slice(&since.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..56]);
    bytes[56..60].copy_from_slice(&crc.to_le_bytes());
    let how = OpenOptions::read_write(Create::IfMissing, 0o600);
    let f = fs.open(Path::new("/data/log.ndjson.watermark"), how).unwrap();
    f.write_at(&bytes, 0).unwrap();
}

#[test]
fn a_mark_found_at_the_first_look_is_not_trusted() {
    // A mark left by an earlier log on the same inode, as far as a writer can tell: it was there
    // before the writer first looked. The writer syncs anyway.
    let fs = fresh();
    let a = Options::new().open_in(fs.clone(), LOG).unwrap();
    let b = Options::new().open_in(fs.clone(), LOG).unwrap();
    a.append_raw(b"{}").unwrap();
    b.append_raw(b"{}").unwrap();
    forge_mark(&fs, 1 << 40, 0);
    let syncs = fs.syncs(LOG);
    assert_eq!(a.append_raw(b"1").unwrap().seq, 3);
    assert_eq!(fs.syncs(LOG), syncs + 1);
    assert_eq!(after_crash(&fs), [1, 2, 3]);
    // The control: a mark forged after the writer's first look is trusted (it can only have come
    // from a writer of this file), and a record it claims is lost in a crash.
    forge_mark(&fs, 1 << 41, 0);
    assert_eq!(a.append_raw(b"2").unwrap().seq, 4);
    assert_eq!(fs.syncs(LOG), syncs + 1, "skipped on the forged mark");
    assert_eq!(after_crash(&fs), [1, 2, 3], "the forged mark's record is lost: the check can fail");
}

#[test]
fn a_mark_whose_publisher_opened_the_log_after_the_record_was_written_is_not_trusted() {
    // Linux reports a writeback error to the descriptors open when it happened: a writer that
    // opened the log after A wrote its record may never hear of the loss of A's pages, so its
    // published sync does not vouch for them. A syncs itself.
    let fs = fresh();
    let (a, _b) = two_writers(&fs);
    let fs2 = fs.clone();
    fs.after_next_unlock(LOCK, move || {
        let c = Options::new().open_in(fs2, LOG).unwrap();
        assert_eq!(c.append_raw(b"2").unwrap().seq, 6);
    });
    let syncs = fs.syncs(LOG);
    assert_eq!(a.append_raw(b"1").unwrap().seq, 5);
    assert_eq!(fs.syncs(LOG), syncs + 2, "C's sync and A's own");
    // A forged mark reaching far past the record, witnessed past the record's start: not
    // trusted either.
    let end = fs.metadata(Path::new(LOG)).unwrap().len;
    forge_mark(&fs, 1 << 41, end + 1);
    assert_eq!(a.append_raw(b"3").unwrap().seq, 7);
    assert_eq!(fs.syncs(LOG), syncs + 3);
    // The control: the same mark witnessed at 0 is trusted, and the check can fail.
    forge_mark(&fs, 1 << 42, 0);
    assert_eq!(a.append_raw(b"4").unwrap().seq, 8);
    assert_eq!(fs.syncs(LOG), syncs + 3, "skipped on a mark witnessed below the record");
}

#[test]
fn after_a_compaction_a_record_another_writer_synced_is_still_acknowledged_without_a_sync() {
    // What a handle knew of the old file's syncs says nothing of the new one: once it synced
    // the new file, marks of the new file vouch for its records again.
    let fs = fresh();
    let (a, b) = two_writers(&fs);
    let policy = ndlog::Policy::new().keep_last(3);
    ndlog::Compactor::new_in(fs.clone(), LOG, policy).run().unwrap();
    for _ in 0..2 {
        a.append_raw(b"{}").unwrap();
        b.append_raw(b"{}").unwrap();
    }
    let syncs = fs.syncs(LOG);
    fs.after_next_unlock(LOCK, move || assert_eq!(b.append_raw(b"2").unwrap().seq, 10));
    assert_eq!(a.append_raw(b"1").unwrap().seq, 9);
    assert_eq!(fs.syncs(LOG), syncs + 1, "one sync (B's) for both records");
}

#[test]
fn a_poisoned_handle_acknowledges_nothing_another_writer_synced() {
    let fs = fresh();
    let (_, b) = two_writers(&fs);
    let n = Options::new().durability(Durability::Never).open_in(fs.clone(), LOG).unwrap();
    n.append_raw(b"{}").unwrap();
    n.sync().unwrap();
    n.append_raw(b"1").unwrap();
    fs.fail_at(fs.ops() + 1, Fault::Io, true);
    assert!(n.sync().is_err());
    fs.heal();
    b.append_raw(b"2").unwrap();
    // B's sync covered N's record, but N's failed sync may have lost pages N wrote: N's handle
    // acknowledges nothing from now on.
    let err = n.sync().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Poisoned { .. }), "{err}");
}

/// The appender process: `NDLOG_TEST_APPENDER` = log, durability, threads, tag. Each thread
/// appends `{"tag":…,"t":…,"i":…}` until killed and writes `seq tag t i` to the file `acks` (one
/// `write` per line, after the append returned) beside the log.
const CHILD: &str = "NDLOG_TEST_APPENDER";

#[test]
fn appender_process() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let f: Vec<&str> = spec.split('\t').collect();
    let (log, durability, threads, tag) =
        (f[0], f[1].parse().unwrap(), f[2].parse().unwrap(), f[3]);
    let writer = Options::new().durability(durability).open(log).unwrap();
    let acks_path = Path::new(log).with_file_name(format!("acks-{tag}"));
    let acks = std::fs::OpenOptions::new().create(true).append(true).open(acks_path).unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (writer, acks) = (&writer, &acks);
            s.spawn(move || {
                for i in 0u64.. {
                    let payload = format!(r#"{{"tag":"{tag}","t":{t},"i":{i}}}"#);
                    let seq = writer.append_raw(payload.as_bytes()).unwrap().seq;
                    (&*acks).write_all(format!("{seq} {tag} {t} {i}\n").as_bytes()).unwrap();
                }
            });
        }
    });
}

fn spawn_appender(log: &Path, durability: &str, threads: usize, tag: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "durable_end::appender_process", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{}\t{durability}\t{threads}\t{tag}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn processes_with_threads_killed_again_and_again_lose_no_acknowledged_record() {
    let dir = util::tempdir();
    let log = dir.path().join("events.ndjson");
    let started = Instant::now();
    let mut rng = 0x9e37_u64;
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % n
    };
    let mut kills = 0;
    for round in 0..6 {
        // Group processes with threads beside Always processes with one thread and with four.
        let mut children: Vec<Child> = [("group", 8), ("group", 3), ("always", 1), ("always", 4)]
            .iter()
            .enumerate()
            .map(|(p, (durability, threads))| {
                spawn_appender(&log, durability, *threads, &format!("r{round}p{p}"))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(250 + next(200)));
        for child in &mut children {
            std::thread::sleep(Duration::from_millis(next(20)));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        }
    }
    // What each process acknowledged: seq -> (tag, thread, i).
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("acks-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A line cut by the kill was never acknowledged to anyone.
        for line in text.lines().filter(|l| l.split(' ').count() == 4) {
            let mut f = line.split(' ');
            let seq: u64 = f.next().unwrap().parse().unwrap();
            let (tag, t, i) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let payload = format!(r#"{{"tag":"{tag}","t":{t},"i":{i}}}"#);
            assert!(acked.insert(seq, payload).is_none(), "seq {seq} acknowledged twice");
        }
    }
    let reader = ndlog::Reader::open(&log).unwrap();
    let mut last = 0;
    let mut found: BTreeMap<u64, String> = BTreeMap::new();
    for r in reader.records() {
        assert!(r.seq > last, "seq {} after {last}", r.seq);
        last = r.seq;
        found.insert(r.seq, String::from_utf8(r.data.to_vec()).unwrap());
    }
    for (seq, payload) in &acked {
        assert_eq!(found.get(seq), Some(payload), "acknowledged seq {seq}");
    }
    // Each thread's records are in the order it appended them.
    let mut per_thread: BTreeMap<(String, String), u64> = BTreeMap::new();
    for payload in found.values() {
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let key = (v["tag"].to_string(), v["t"].to_string());
        let i = v["i"].as_u64().unwrap();
        if let Some(prev) = per_thread.insert(key, i) {
            assert!(i > prev, "{payload} after i {prev}");
        }
    }
    assert!(acked.len() > 200, "only {} acknowledged records", acked.len());
    eprintln!(
        "durable end soak: {} acknowledged records, {} in the log, {kills} SIGKILLs, {:.1?}",
        acked.len(),
        found.len(),
        started.elapsed()
    );
}
