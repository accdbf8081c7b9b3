//! Compaction: policies checked against a model; compaction racing appender processes; the
//! compactor killed with SIGKILL and failed at every file-system step; readers and writers
//! across the rename; bad policy values. The log at the path is always complete, and no
//! acknowledged record the policy keeps is ever lost.

use crate::util;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ndlog::{Compactor, JsonPointer, Options, Policy, Reader};
use util::fault_fs::FaultFs;
use util::hooked_fs::{Hooked, Hooks};
use util::*;

/// Writes records (seq, ts, payload) as a log, directly in the format.
fn write_records(path: &Path, records: &[(u64, u64, String)]) {
    let mut out = Vec::new();
    for (seq, ts, data) in records {
        ndlog::format::encode(&mut out, *seq, *ts, data.as_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// The records of a log file as (seq, ts, data JSON), by an independent parser.
fn contents(path: &Path) -> Vec<(u64, u64, serde_json::Value)> {
    independent_parse(&std::fs::read(path).unwrap())
        .into_iter()
        .map(|l| (l.seq, l.ts, l.data))
        .collect()
}

fn key_policy() -> Policy {
    Policy::new()
        .key(JsonPointer::parse("/k").unwrap())
        .tombstone(JsonPointer::parse("/deleted").unwrap())
}

/// What key compaction with tombstones keeps, computed the simple way.
fn model_key(records: &[(u64, u64, serde_json::Value)]) -> Vec<u64> {
    let mut newest: HashMap<String, (u64, bool)> = HashMap::new();
    for (seq, _, data) in records {
        if let Some(k) = data.get("k") {
            newest.insert(
                k.to_string(),
                (*seq, data.get("deleted") == Some(&serde_json::json!(true))),
            );
        }
    }
    let last = records.last().map(|r| r.0);
    records
        .iter()
        .filter(|(seq, _, data)| {
            Some(*seq) == last
                || match data.get("k") {
                    None => true,
                    Some(k) => newest[&k.to_string()] == (*seq, false),
                }
        })
        .map(|r| r.0)
        .collect()
}

fn sample(n: u64) -> Vec<(u64, u64, String)> {
    (1..=n)
        .map(|seq| {
            let data = match seq % 7 {
                0 => format!(r#"{{"k":"k{}","deleted":true}}"#, seq % 13),
                3 => format!(r#"{{"nokey":{seq}}}"#),
                _ => format!(
                    r#"{{"k":"k{}","v":{seq},"pad":"{}"}}"#,
                    seq % 13,
                    "x".repeat((seq % 40) as usize)
                ),
            };
            (seq * 2, 1_000 + seq * 10, data)
        })
        .collect()
}

#[test]
fn key_compaction_matches_the_model_and_preserves_seq_and_ts() {
    let dir = tempdir();
    let path = dir.path().join("k.ndjson");
    write_records(&path, &sample(500));
    let before = contents(&path);
    let report = Compactor::new(&path, key_policy()).run().unwrap();
    let after = contents(&path);
    let want = model_key(&before);
    assert_eq!(after.iter().map(|r| r.0).collect::<Vec<_>>(), want);
    // Kept records are byte for byte what they were: same seq, ts and data.
    for r in &after {
        assert!(before.contains(r));
    }
    assert!(report.rewritten);
    assert_eq!(
        (report.records_before, report.records_after, report.dropped),
        (500, want.len() as u64, 500 - want.len() as u64)
    );
    assert!(
        Reader::open(&path).unwrap().check_index().unwrap().is_current(),
        "the new log's index is written with it"
    );
}

#[test]
fn retention_policies_match_the_model() {
    let now = ndlog::Writer::open(tempdir().path().join("clock.ndjson"))
        .unwrap()
        .append_raw(b"0")
        .unwrap()
        .ts;
    let records: Vec<(u64, u64, String)> = (1..=300)
        .map(|seq| {
            (
                seq,
                now - (300 - seq) * 60_000,
                format!(r#"{{"n":{seq},"pad":"{}"}}"#, "y".repeat(seq as usize % 17)),
            )
        })
        .collect();
    let line_len = |seq: u64| {
        let mut l = Vec::new();
        ndlog::format::encode(
            &mut l,
            seq,
            records[seq as usize - 1].1,
            records[seq as usize - 1].2.as_bytes(),
        )
    };
    let budget = 9_000u64;
    let mut from_bytes = 300;
    let mut used = 0;
    while from_bytes > 0 && used + line_len(from_bytes) as u64 <= budget {
        used += line_len(from_bytes) as u64;
        from_bytes -= 1;
    }
    let cases: Vec<(Policy, Vec<u64>)> = vec![
        (Policy::new().keep_last(25), (276..=300).collect()),
        (Policy::new().keep_last(1_000), (1..=300).collect()),
        // Records older than an hour (and a minute of slack for the clock) go.
        (Policy::new().max_age(Duration::from_secs(3_630)), (240..=300).collect()),
        (Policy::new().max_bytes(budget), (from_bytes + 1..=300).collect()),
        (Policy::new().max_age(Duration::from_secs(1)).keep_last(10), vec![300]),
        (Policy::new().keep_last(50).max_bytes(budget), (from_bytes.max(250) + 1..=300).collect()),
    ];
    for (policy, want) in cases {
        let dir = tempdir();
        let path = dir.path().join("r.ndjson");
        write_records(&path, &records);
        Compactor::new(&path, policy.clone()).run().unwrap();
        let got: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
        assert_eq!(got, want, "{policy:?}");
    }
}

#[test]
fn nothing_to_remove_leaves_the_file_alone() {
    let dir = tempdir();
    let path = write_log(dir.path(), "n.ndjson", 100);
    let ino = std::fs::metadata(&path).unwrap().ino();
    for policy in [
        Policy::new(),
        Policy::new().keep_last(100),
        Policy::new().key(JsonPointer::parse("/n").unwrap()),
    ] {
        let report = Compactor::new(&path, policy).run().unwrap();
        assert!(!report.rewritten);
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino, "not rewritten");
    }
    let out = run(&["compact", path.to_str().unwrap(), "--keep-last", "500"], b"");
    assert!(out.status.success() && stdout(&out).contains("nothing to remove"), "{}", stdout(&out));
}

/// Progress comes from the first block of lines on, also when the write pass starts by
/// jumping over a run of records the policy drops; it rises, and ends at the log's size.
#[test]
fn progress_is_reported_from_the_start_to_the_end() {
    let dir = tempdir();
    // 70,000 lines, more than one block of 65,536; the policy drops the first 1,000 records.
    let path = write_log(dir.path(), "p.ndjson", 70_000);
    let bytes = std::fs::read(&path).unwrap();
    let size = bytes.len() as u64;
    let first_block = memchr::memchr_iter(b'\n', &bytes).nth(65_535).unwrap() as u64;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let report = Compactor::new(&path, Policy::new().keep_last(69_000))
        .on_progress(move |p| into.lock().unwrap().push((p.done, p.total)))
        .run()
        .unwrap();
    assert!(report.rewritten);
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|&(_, total)| total == size), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "progress went back: {seen:?}");
    assert!(seen[0].0 < first_block, "no report in the first block of lines: {seen:?}");
    assert_eq!(seen.last().unwrap().0, size, "{seen:?}");
}

#[test]
fn damage_goes_to_quarantine_with_its_offsets_never_lost() {
    let dir = tempdir();
    let path = write_log(dir.path(), "d.ndjson", 50);
    let mut bytes = std::fs::read(&path).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
        .collect();
    bytes[line_starts[10] + 5] ^= 0x10; // a flipped bit in record 11
    bytes[line_starts[30]..line_starts[30] + 7].fill(0); // NULs over the start of record 31
    bytes.extend_from_slice(br#"{"seq":51,"ts":17"#); // a torn tail
    std::fs::write(&path, &bytes).unwrap();
    let original = bytes.clone();

    let out = run(&["compact", path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("moved 3 damaged span(s)"), "{}", stdout(&out));
    let kept: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
    assert_eq!(kept, (1..=50).filter(|s| *s != 11 && *s != 31).collect::<Vec<_>>());
    assert!(
        Reader::open(&path).unwrap().verify().is_clean()
            && Reader::open(&path).unwrap().verify().torn_tail.is_none()
    );
    // Every quarantined span is exactly the bytes that were at its offset.
    let q = std::fs::read_to_string(path.with_extension("ndjson.quarantine")).unwrap();
    let spans: Vec<serde_json::Value> =
        q.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(spans.len(), 3);
    let mut offsets = Vec::new();
    for span in &spans {
        use base64::Engine;
        let offset = span["offset"].as_u64().unwrap() as usize;
        let got = base64::engine::general_purpose::STANDARD
            .decode(span["bytes_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(got.len() as u64, span["len"].as_u64().unwrap());
        assert_eq!(&original[offset..offset + got.len()], &got[..], "span at {offset}");
        offsets.push(offset);
    }
    assert_eq!(offsets, [line_starts[10], line_starts[30], line_starts[50]]);
}

/// A damaged span of 2.5 MiB between two records goes to the quarantine a MiB a line, each with
/// its own offset, the lines together exactly the span: quarantining a span of hundreds of
/// megabytes took several times its size in memory as one line (1.5 GB for 400 MB).
#[test]
fn a_long_damaged_span_is_quarantined_a_mib_a_line() {
    use base64::Engine;
    let dir = tempdir();
    let path = write_log(dir.path(), "long.ndjson", 2);
    let bytes = std::fs::read(&path).unwrap();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut damaged = bytes[..second].to_vec();
    let span_at = damaged.len();
    damaged.extend(br#"{"seq":9,"#);
    damaged.extend(std::iter::repeat_n(b'x', (5 << 19) - 10));
    damaged.push(b'\n');
    let span = damaged[span_at..].to_vec();
    damaged.extend(&bytes[second..]);
    std::fs::write(&path, &damaged).unwrap();

    let report = Compactor::new(&path, Policy::new()).run().unwrap();
    assert_eq!((report.quarantined_spans, report.records_after), (1, 2), "{report:?}");
    let q = std::fs::read_to_string(path.with_extension("ndjson.quarantine")).unwrap();
    let mut at = span_at as u64;
    let mut got = Vec::new();
    for line in q.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["offset"].as_u64(), Some(at), "{line:.120}");
        let piece = base64::engine::general_purpose::STANDARD
            .decode(v["bytes_base64"].as_str().unwrap())
            .unwrap();
        assert!(piece.len() <= 1 << 20);
        assert_eq!(v["len"].as_u64(), Some(piece.len() as u64));
        at += piece.len() as u64;
        got.extend(piece);
    }
    assert_eq!(q.lines().count(), 3);
    assert!(got == span, "the pieces are not the span");
}

#[test]
fn bad_policy_values_are_rejected_up_front() {
    let dir = tempdir();
    let path = write_log(dir.path(), "b.ndjson", 10);
    let before = std::fs::read(&path).unwrap();
    for policy in [
        Policy::new().max_age(Duration::ZERO),
        Policy::new().keep_last(0),
        Policy::new().max_bytes(0),
        Policy::new().tombstone(JsonPointer::parse("/deleted").unwrap()),
    ] {
        let err = Compactor::new(&path, policy).run().unwrap_err();
        assert!(matches!(err.kind(), ndlog::ErrorKind::InvalidArgument(_)), "{err}");
    }
    let log = path.to_str().unwrap();
    for (args, says) in [
        (vec!["compact", log, "--max-age", "0s"], "greater than zero"),
        (vec!["compact", log, "--max-age=-5m"], "-5m"),
        (vec!["compact", log, "--keep-last", "0"], "0"),
        (vec!["compact", log, "--max-bytes", "0"], "greater than zero"),
        (vec!["compact", log, "--max-bytes", "12XB"], "unknown unit"),
        (vec!["compact", log, "--key", "id"], "must be empty or start with '/'"),
        (vec!["compact", log, "--key", "/a~2"], "'~' must be followed by 0 or 1"),
        (vec!["compact", log, "--tombstone", "/deleted"], "--key"),
        (vec!["compact", log, "--every", "0s"], "greater than zero"),
    ] {
        let out = run(&args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
    // A file ndlog did not write is not "repaired".
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, b"{\"a\":1}\n{\"a\":2}\n").unwrap();
    let err = Compactor::new(&plain, Policy::new()).run().unwrap_err();
    assert!(matches!(err.kind(), ndlog::ErrorKind::NotALog { .. }), "{err}");
    assert_eq!(std::fs::read(&plain).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
}

#[test]
fn a_reader_mapped_before_keeps_its_view_and_sees_the_new_file_after_refresh() {
    let dir = tempdir();
    let path = write_log(dir.path(), "v.ndjson", 200);
    let mut reader = Reader::open(&path).unwrap();
    let old: Vec<(u64, Vec<u8>)> = reader.records().map(|r| (r.seq, r.line.to_vec())).collect();
    Compactor::new(&path, Policy::new().keep_last(20)).run().unwrap();
    let still: Vec<(u64, Vec<u8>)> = reader.records().map(|r| (r.seq, r.line.to_vec())).collect();
    assert_eq!(still, old, "the mapped old file is intact after the rename");
    assert_eq!(reader.refresh().unwrap(), ndlog::read::Refresh::Replaced);
    assert_eq!(
        reader.records().map(|r| r.seq).collect::<Vec<_>>(),
        (181..=200).collect::<Vec<_>>()
    );
}

/// Hooks that make `rename` wait until the test opens a gate.
#[derive(Clone, Debug, Default)]
struct GatedRename {
    gate: Arc<(Mutex<(bool, bool)>, Condvar)>,
}

impl Hooks for GatedRename {
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        let (lock, cv) = &*self.gate;
        let mut st = lock.lock().unwrap();
        st.0 = true; // waiting at the gate
        cv.notify_all();
        let _open = cv.wait_while(st, |s| !s.1).unwrap();
        ndlog::fs::Vfs::rename(&ndlog::fs::StdFs, from, to)
    }
}

#[test]
fn a_writer_blocked_on_the_lock_during_the_rename_appends_to_the_new_file() {
    let dir = tempdir();
    let path = write_log(dir.path(), "w.ndjson", 100);
    let writer =
        Arc::new(Options::new().lock_timeout(Duration::from_secs(30)).open(&path).unwrap());
    let fs = GatedRename::default();
    let compaction = {
        let (fs, path) = (fs.clone(), path.clone());
        std::thread::spawn(move || {
            Compactor::new_in(Hooked(fs), &path, Policy::new().keep_last(10)).run().unwrap()
        })
    };
    // Wait until the compactor holds the writer lock and is inside the rename.
    {
        let (lock, cv) = &*fs.gate;
        let _at_gate = cv.wait_while(lock.lock().unwrap(), |s| !s.0).unwrap();
    }
    let old_ino = std::fs::metadata(&path).unwrap().ino();
    let appender = {
        let writer = writer.clone();
        std::thread::spawn(move || writer.append_raw(b"{\"late\":true}").unwrap())
    };
    std::thread::sleep(Duration::from_millis(50)); // the append is now waiting for the lock
    assert!(!appender.is_finished(), "the append must wait for the compaction's lock");
    {
        let (lock, cv) = &*fs.gate;
        lock.lock().unwrap().1 = true;
        cv.notify_all();
    }
    let report = compaction.join().unwrap();
    let ack = appender.join().unwrap();
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), old_ino);
    let now = contents(&path);
    assert_eq!(now.iter().map(|r| r.0).collect::<Vec<_>>(), (91..=101).collect::<Vec<_>>());
    assert_eq!(ack.seq, 101);
    assert_eq!(
        now.last().unwrap().2,
        serde_json::json!({"late": true}),
        "the append landed in the new file"
    );
    assert!(report.writer_lock_held >= Duration::from_millis(50));
}

/// Several processes append while compaction runs again and again: every acknowledged record
/// the policy keeps is present exactly once, in seq order, and nothing else is.
#[test]
fn compaction_racing_appender_processes_loses_no_acknowledged_record() {
    let dir = tempdir();
    let path = dir.path().join("race.ndjson");
    let log = path.to_str().unwrap().to_string();
    let processes = 3;
    let per_process = 1500;
    let appenders: Vec<_> = (0..processes)
        .map(|p| {
            let mut child = spawn_piped(&["append", &log, "--durability", "group"]);
            let mut stdin = child.stdin.take().unwrap();
            let lines: Vec<String> = (0..per_process)
                .map(|i| format!(r#"{{"k":"p{p}-{}","p":{p},"i":{i}}}"#, i % 40))
                .collect();
            let feed = lines.clone();
            std::thread::spawn(move || {
                for chunk in feed.chunks(50) {
                    stdin.write_all((chunk.join("\n") + "\n").as_bytes()).unwrap();
                    std::thread::sleep(Duration::from_millis(3));
                }
            });
            (child, lines)
        })
        .collect();
    // Compact repeatedly, in other processes, while they append.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let compactor = {
        let (stop, log) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if Path::new(&log).exists() {
                    let out = run(&["compact", &log, "--key", "/k"], b"");
                    assert!(out.status.success(), "{}", stderr(&out));
                    runs += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            runs
        })
    };
    let mut acked: BTreeMap<u64, serde_json::Value> = BTreeMap::new();
    for (child, lines) in appenders {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let seqs: Vec<u64> = stdout(&out).lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(seqs.len(), lines.len());
        for (seq, line) in seqs.into_iter().zip(lines) {
            assert!(acked.insert(seq, serde_json::from_str(&line).unwrap()).is_none());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = compactor.join().unwrap();
    assert!(runs >= 2, "compaction ran {runs} times");
    let present = contents(&path);
    let mut newest_per_key: HashMap<String, u64> = HashMap::new();
    for (seq, data) in &acked {
        newest_per_key.insert(data["k"].to_string(), *seq);
    }
    for pair in present.windows(2) {
        assert!(pair[0].0 < pair[1].0, "seq order");
    }
    let present_seqs: HashMap<u64, &serde_json::Value> =
        present.iter().map(|r| (r.0, &r.2)).collect();
    for (seq, _, data) in &present {
        assert_eq!(acked.get(seq), Some(data), "record {seq} is one that was appended, unchanged");
    }
    for (seq, data) in &acked {
        let key = data["k"].to_string();
        if newest_per_key[&key] == *seq {
            assert!(
                present_seqs.contains_key(seq),
                "the newest record of {key} (seq {seq}) was lost"
            );
        } else if !present_seqs.contains_key(seq) {
            // Dropped: only because a newer record of its key is in the log.
            assert!(
                present.iter().any(|(s, _, d)| d["k"] == data["k"] && s > seq),
                "seq {seq} dropped with no newer {key}"
            );
        }
    }
}

/// A log of many records with repeated keys, big enough that compaction takes a while.
fn big_log(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("big.ndjson");
    let records: Vec<(u64, u64, String)> = (1..=120_000)
        .map(|seq| {
            (seq, 1_000 + seq, format!(r#"{{"k":{},"pad":"{}"}}"#, seq % 5_000, "z".repeat(60)))
        })
        .collect();
    write_records(&path, &records);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn leftovers(dir: &Path) -> Vec<String> {
    names_where(dir, |n| n.ends_with(".tmp"))
}

#[test]
fn the_compactor_killed_with_sigkill_leaves_a_complete_log() {
    let dir = tempdir();
    let (path, original) = big_log(dir.path());
    let old_seqs: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
    let new_seqs: Vec<u64> = (115_001..=120_000).collect();
    let (mut saw_old, mut saw_new) = (0, 0);
    for round in 0..14u64 {
        std::fs::write(&path, &original).unwrap();
        let mut child = ndlog()
            .args(["compact", path.to_str().unwrap(), "--key", "/k"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(round * 23 % 300));
        let _ = child.kill();
        child.wait().unwrap();
        let seqs: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
        assert!(
            seqs == old_seqs || seqs == new_seqs,
            "round {round}: a mixture of {} records",
            seqs.len()
        );
        if seqs == old_seqs {
            saw_old += 1
        } else {
            saw_new += 1
        }
        // The next run cleans up whatever the killed one left and succeeds.
        Compactor::new(&path, Policy::new().key(JsonPointer::parse("/k").unwrap())).run().unwrap();
        assert_eq!(contents(&path).iter().map(|r| r.0).collect::<Vec<_>>(), new_seqs);
        assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    }
    assert!(saw_old > 0, "no kill landed before the rename ({saw_new} after)");
}

#[test]
fn a_fault_at_every_step_leaves_a_complete_log_and_the_next_run_succeeds() {
    let dir = tempdir();
    let path = dir.path().join("f.ndjson");
    let mut records = sample(400);
    records.push((900, 9_999, r#"{"k":"last"}"#.into()));
    write_records(&path, &records);
    // Damage too, so the quarantine path is exercised.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"damaged\n");
    ndlog::format::encode(&mut bytes, 901, 10_000, br#"{"k":"after"}"#);
    bytes.extend_from_slice(br#"{"seq":902"#);
    std::fs::write(&path, &bytes).unwrap();
    let old = contents(&path);
    let new: Vec<u64> = model_key(&old);
    let mut steps = 0;
    for persistent in [false, true] {
        for n in 1.. {
            std::fs::write(&path, &bytes).unwrap();
            let _ = std::fs::remove_file(path.with_extension("ndjson.quarantine"));
            let fs = FaultFs::failing_at(n, persistent);
            let result = Compactor::new_in(Hooked(fs.clone()), &path, key_policy()).run();
            let seqs: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
            let old_seqs: Vec<u64> = old.iter().map(|r| r.0).collect();
            assert!(
                seqs == old_seqs || seqs == new,
                "fault at op {n} (persistent {persistent}): mixture"
            );
            if result.is_ok() && !fs.fired() {
                break;
            }
            if result.is_ok() {
                assert_eq!(seqs, new, "op {n}: success means the new log is in place");
            }
            steps += 1;
            // A clean run afterwards cleans up and succeeds, keeping the damage in quarantine.
            Compactor::new(&path, key_policy()).run().unwrap();
            assert_eq!(contents(&path).iter().map(|r| r.0).collect::<Vec<_>>(), new, "op {n}");
            assert!(leftovers(dir.path()).is_empty(), "op {n}: {:?}", leftovers(dir.path()));
            let q = std::fs::read_to_string(path.with_extension("ndjson.quarantine")).unwrap();
            assert!(q.contains(r#""offset""#), "op {n}: the damage is in quarantine");
            assert!(n < 200, "the workload never completed");
        }
    }
    assert!(steps >= 10, "only {steps} fault points");
}

#[test]
fn a_writer_compacts_by_itself_past_a_threshold() {
    let dir = tempdir();
    let path = dir.path().join("auto.ndjson");
    let auto =
        ndlog::AutoCompact::new(Policy::new().keep_last(100)).size_over(20_000).check_every(50);
    let writer =
        Options::new().durability(ndlog::Durability::Never).auto_compact(auto).open(&path).unwrap();
    let mut last = 0;
    for i in 0..2_000u64 {
        last = writer
            .append_raw(format!(r#"{{"i":{i},"pad":"{}"}}"#, "p".repeat(40)).as_bytes())
            .unwrap()
            .seq;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while writer.auto_compaction_running() || writer.last_auto_compaction().is_none() {
        assert!(std::time::Instant::now() < deadline, "no background compaction finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = writer.last_auto_compaction().unwrap().unwrap();
    assert!(report.rewritten && report.dropped > 0, "{report:?}");
    let seqs: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
    assert!(seqs.len() < 2_000, "the log was compacted: {} records", seqs.len());
    assert_eq!(*seqs.last().unwrap(), last);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a contiguous tail of the log is kept");
    // And appends go on, to the new file.
    assert_eq!(writer.append_raw(b"1").unwrap().seq, last + 1);
}

#[test]
fn an_age_threshold_past_u64_milliseconds_never_starts_a_compaction() {
    // 18446744073709552 s is 2^64 ms + 384 ms: cut to 64 bits it acted as 384 ms, and a writer
    // asked to compact only past that age compacted to its last record within a second.
    let dir = tempdir();
    let path = dir.path().join("auto.ndjson");
    let age = Duration::from_secs(18_446_744_073_709_552);
    let auto = ndlog::AutoCompact::new(Policy::new().keep_last(1)).older_than(age).check_every(1);
    let writer =
        Options::new().durability(ndlog::Durability::Never).auto_compact(auto).open(&path).unwrap();
    writer.append_raw(b"1").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        writer.append_raw(b"2").unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!writer.auto_compaction_running());
    assert!(writer.last_auto_compaction().is_none(), "no compaction was started");
    assert_eq!(contents(&path).len(), 4, "every record kept");
}

#[test]
fn compact_every_runs_as_a_maintenance_process() {
    let dir = tempdir();
    let path = write_log(dir.path(), "m.ndjson", 300);
    let maintenance = ndlog()
        .args(["compact", path.to_str().unwrap(), "--keep-last", "10", "--every", "50ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = Options::new().open(&path).unwrap();
    for i in 0..50 {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(4));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SIGTERM stops it cleanly (exit 0), as it does `tail -f` and `ship`: it was killed (143).
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&maintenance),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = maintenance.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().filter(|l| l.contains("rewritten")).count() >= 2, "{text}");
    let seqs: Vec<u64> = contents(&path).iter().map(|r| r.0).collect();
    assert_eq!(seqs, (341..=350).collect::<Vec<_>>());
}

/// `compact --every` pointed at a file that is not a log stops at once (exit 1) rather than
/// saying so every round forever; trouble that may pass (here a log not created yet) is said
/// once, not every round, and the loop goes on.
#[test]
fn compact_every_stops_on_a_file_that_is_not_a_log_and_says_lasting_trouble_once() {
    let dir = tempdir();
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let mut child = ndlog()
        .args(["compact", csv.to_str().unwrap(), "--keep-last", "5", "--every", "50ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("compact --every kept going on a file that is not a log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an ndlog log"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "a,b\n1,2\n");

    let missing = dir.path().join("later.ndjson");
    let mut child = ndlog()
        .args(["compact", missing.to_str().unwrap(), "--keep-last", "5", "--every", "20ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(child.try_wait().unwrap().is_none(), "the loop ended");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn an_age_or_retention_past_u64_milliseconds_keeps_everything() {
    // 18446744073709552s is 2^64 ms + 384 ms: cut to u64 it was 384ms, and compaction dropped
    // every record older than that (all but the last) and every tombstone.
    const FOREVER: &str = "18446744073709552s";
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let input = "{\"id\":\"a\",\"v\":1}\n{\"id\":\"a\",\"deleted\":true}\n{\"id\":\"b\",\"v\":2}\n";
    let log = path.to_str().unwrap();
    assert!(run(&["append", log], input.as_bytes()).status.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = std::fs::read(&path).unwrap();
    let out = run(&["compact", log, "--max-age", FOREVER], b"");
    assert!(stdout(&out).contains("nothing to remove"), "{}", stdout(&out));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let out = run(
        &[
            "compact",
            log,
            "--key",
            "/id",
            "--tombstone",
            "/deleted",
            "--tombstone-retention",
            FOREVER,
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The tombstone stays (it drops the older version of a), and so does b.
    assert_eq!(seqs(&std::fs::read(&path).unwrap()), [2, 3]);
}
