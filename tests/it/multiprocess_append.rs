//! Several real processes append to one log at once: every acknowledged record is present
//! exactly once, with the payload that was sent, seqs strictly increase, ts never decreases,
//! and every line is plain JSON that serde_json parses on its own.

use crate::util;

use std::collections::HashMap;
use std::process::{Child, Stdio};

use util::*;

fn spawn_appender(log: &std::path::Path, durability: &str) -> Child {
    ndlog()
        .args(["append", log.to_str().unwrap(), "--durability", durability])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn concurrent_appenders(durability: &str, processes: usize, per_process: usize) {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    let inputs: Vec<Vec<String>> = (0..processes)
        .map(|p| {
            (0..per_process)
                .map(|i| format!(r#"{{"p":{p},"i":{i},"pad":"{}"}}"#, "x".repeat(i % 50)))
                .collect()
        })
        .collect();
    let children: Vec<_> = inputs
        .iter()
        .map(|lines| {
            let mut child = spawn_appender(&log, durability);
            let mut stdin = child.stdin.take().unwrap();
            let text = lines.join("\n") + "\n";
            let feeder =
                std::thread::spawn(move || std::io::Write::write_all(&mut stdin, text.as_bytes()));
            (child, feeder)
        })
        .collect();
    // seq -> the payload its process sent for it.
    let mut acked: HashMap<u64, serde_json::Value> = HashMap::new();
    for ((child, feeder), lines) in children.into_iter().zip(&inputs) {
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(out.status.success(), "appender failed: {}", stderr(&out));
        let seqs: Vec<u64> = stdout(&out).lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(seqs.len(), lines.len(), "one acknowledged seq per input line");
        for (seq, line) in seqs.into_iter().zip(lines) {
            let previous = acked.insert(seq, serde_json::from_str(line).unwrap());
            assert!(previous.is_none(), "seq {seq} acknowledged twice");
        }
    }
    let bytes = std::fs::read(&log).unwrap();
    let lines = independent_parse(&bytes);
    assert_eq!(
        bytes.iter().filter(|&&b| b == b'\n').count(),
        lines.len(),
        "every line is a valid record"
    );
    assert_eq!(lines.len(), processes * per_process);
    for pair in lines.windows(2) {
        assert!(pair[1].seq > pair[0].seq, "seq {} after {}", pair[1].seq, pair[0].seq);
        assert!(pair[1].ts >= pair[0].ts, "ts went backwards at seq {}", pair[1].seq);
    }
    for line in &lines {
        assert_eq!(acked.get(&line.seq), Some(&line.data), "record {} is what was sent", line.seq);
    }
    // The library reader agrees with the independent parse.
    assert_eq!(seqs(&bytes), lines.iter().map(|l| l.seq).collect::<Vec<_>>());
}

#[test]
fn four_processes_durability_always() {
    concurrent_appenders("always", 4, 150);
}

#[test]
fn four_processes_durability_group() {
    concurrent_appenders("group", 4, 1500);
}

#[test]
fn six_processes_durability_never() {
    concurrent_appenders("never", 6, 3000);
}

#[test]
fn threads_of_one_handle_in_group_mode_are_linearised() {
    let dir = tempdir();
    let log = std::sync::Arc::new(
        ndlog::Options::new()
            .durability(ndlog::Durability::Group)
            .open(dir.path().join("t.ndjson"))
            .unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| (log.append(&serde_json::json!({"t": t, "i": i})).unwrap().seq, t, i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    acked.sort();
    let lines = independent_parse(&std::fs::read(log.path()).unwrap());
    assert_eq!(lines.len(), acked.len());
    for (line, (seq, t, i)) in lines.iter().zip(&acked) {
        assert_eq!((line.seq, &line.data), (*seq, &serde_json::json!({"t": t, "i": i})));
    }
}

#[test]
fn an_exclusive_writer_holds_the_lock_until_dropped() {
    let dir = tempdir();
    let path = dir.path().join("x.ndjson");
    let owner = ndlog::Options::new()
        .exclusive(true)
        .durability(ndlog::Durability::Never)
        .open(&path)
        .unwrap();
    for i in 0..100 {
        owner.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    // Another writer (here another process) waits and gives up; so does a compaction.
    let out = run(&["append", path.to_str().unwrap(), "--lock-timeout", "100ms"], b"1\n");
    assert_eq!(out.status.code(), Some(5), "a lock timeout has its own exit code");
    assert!(stderr(&out).contains("lock not acquired"), "{}", stderr(&out));
    let compact = ndlog::Compactor::new(&path, ndlog::Policy::new().keep_last(5))
        .lock_timeout(std::time::Duration::from_millis(100))
        .run();
    assert!(matches!(compact.unwrap_err().kind(), ndlog::ErrorKind::LockTimeout { .. }));
    // Rebuilding its own index does not let go of the lock.
    owner.rebuild_index().unwrap();
    let other =
        ndlog::Options::new().lock_timeout(std::time::Duration::from_millis(50)).open(&path);
    assert!(other.is_err(), "still exclusive after rebuild_index");
    owner.sync().unwrap();
    drop(owner);
    let out = run(&["append", path.to_str().unwrap(), "--lock-timeout", "1s"], b"1\n");
    assert_eq!(stdout(&out), "101\n");
    assert!(ndlog::Reader::open(&path).unwrap().check_index().unwrap().agrees());
    let err = ndlog::Options::new()
        .exclusive(true)
        .auto_compact(ndlog::AutoCompact::new(ndlog::Policy::new().keep_last(5)))
        .open(&path)
        .unwrap_err();
    assert!(matches!(err.kind(), ndlog::ErrorKind::InvalidArgument(_)), "{err}");
}
