//! Writers killed with SIGKILL: the lock is free at once, and no acknowledged record is lost.

use crate::util;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ndlog::{ErrorKind, LogLock, Options};
use util::*;

fn lock_is_held(log: &std::path::Path) -> bool {
    match LogLock::acquire(log, Duration::ZERO) {
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::LockTimeout { .. }),
    }
}

#[test]
fn a_lock_holder_killed_with_sigkill_leaves_no_stale_lock() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    // `ndlog lock LOG -- cat` holds the writer lock until cat sees end of input.
    let mut holder = ndlog()
        .args(["lock", log.to_str().unwrap(), "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock_is_held(&log) {
        assert!(Instant::now() < deadline, "the lock holder never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    // While it is held, a writer waits and then gives up with a LockTimeout naming the log.
    let writer = Options::new().lock_timeout(Duration::from_millis(100)).open(&log);
    let err = writer.expect_err("open must wait for the lock");
    match err.kind() {
        ErrorKind::LockTimeout { path, waited, .. } => {
            assert_eq!(path, &log);
            assert!(*waited >= Duration::from_millis(100));
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(err.to_string().contains("events.ndjson"), "{err}");

    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    drop(holder.stdin.take()); // lets the orphaned `cat` exit
    // One attempt, no waiting: the kernel released the lock with the process.
    let held = LogLock::acquire(&log, Duration::ZERO).expect("the lock is free at once");
    drop(held);
    let writer = Options::new().lock_timeout(Duration::ZERO).open(&log).unwrap();
    assert_eq!(writer.append_raw(b"4").unwrap().seq, 4);
}

#[test]
fn appenders_killed_mid_stream_lose_no_acknowledged_record() {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    let mut acked = Vec::new();
    for round in 0..3 {
        let mut children: Vec<_> = (0..3)
            .map(|p| {
                let mut child = ndlog()
                    .args(["append", log.to_str().unwrap(), "--durability", "always"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                // Feeds lines until the process dies (the write then fails).
                std::thread::spawn(move || {
                    for i in 0.. {
                        if writeln!(stdin, r#"{{"round":{round},"p":{p},"i":{i}}}"#).is_err() {
                            break;
                        }
                    }
                });
                child
            })
            .collect();
        for (p, child) in children.iter_mut().enumerate() {
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let kill_after = 20 + 15 * p;
            let mut line = String::new();
            for _ in 0..kill_after {
                line.clear();
                out.read_line(&mut line).unwrap();
                acked.push(line.trim().parse::<u64>().unwrap());
            }
            child.kill().unwrap();
            child.wait().unwrap();
            // Seqs printed before the kill landed in the pipe were acknowledged too.
            for line in out.lines() {
                acked.push(line.unwrap().parse().unwrap());
            }
        }
        let bytes = std::fs::read(&log).unwrap();
        let present = seqs(&bytes);
        assert!(present.windows(2).all(|w| w[0] < w[1]), "seqs strictly increase");
        for seq in &acked {
            assert!(
                present.binary_search(seq).is_ok(),
                "acknowledged seq {seq} lost in round {round}"
            );
        }
        // A fresh writer recovers the tail and appends after everything that is there.
        let writer = Options::new().open(&log).unwrap();
        let ack = writer.append_raw(b"{\"after\":true}").unwrap();
        assert_eq!(Some(&ack.seq), present.last().map(|s| s + 1).as_ref());
        acked.push(ack.seq);
    }
    let summary = ndlog::Reader::open(&log).unwrap().verify();
    assert_eq!(summary.out_of_order, 0);
    assert!(summary.records as usize >= acked.len());
}

/// A batch whose writer is killed while its 24 MiB go into the file (three writes of 8 MiB,
/// each of which a kill can cut between pages): readers see the whole batch or none of it, and
/// the next writer moves what the cut left to the quarantine and appends after the record
/// before the batch.
#[test]
fn a_batch_killed_as_it_is_written_is_all_or_nothing() {
    let dir = tempdir();
    let input = dir.path().join("batch.ndjson");
    let pad = "p".repeat(230);
    let count = 100_000u64;
    let lines: String = (0..count).map(|i| format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n")).collect();
    std::fs::write(&input, &lines).unwrap();
    let (mut cut, mut whole, mut none) = (0, 0, 0);
    for round in 0..5 {
        let log = dir.path().join(format!("r{round}.ndjson"));
        Options::new().open(&log).unwrap().append_raw(b"{\"before\":true}").unwrap();
        let before = std::fs::metadata(&log).unwrap().len();
        let mut child = ndlog()
            .args(["append", log.to_str().unwrap(), "--expect-last-seq", "1"])
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed as soon as the file grows: while the batch is being written.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::fs::metadata(&log).unwrap().len() == before {
            assert!(Instant::now() < deadline, "the batch was never written");
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::yield_now();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let len = std::fs::metadata(&log).unwrap().len();
        let n = ndlog::Reader::open(&log).unwrap().records().count() as u64;
        assert!(n == 1 || n == 1 + count, "round {round}: {n} records of 1 + {count}");
        match (n, len) {
            (1, len) if len > before => cut += 1,
            (1, _) => none += 1,
            _ => whole += 1,
        }
        let ack = Options::new().open(&log).unwrap().append_raw(b"{\"after\":true}").unwrap();
        assert_eq!(
            ack.seq,
            n + 1,
            "round {round}: the next record follows the batch or the one before"
        );
        let summary = ndlog::Reader::open(&log).unwrap().verify();
        assert!(summary.is_clean(), "round {round}: {summary:?}");
        assert_eq!(summary.records, n + 1);
        if n == 1 && len > before {
            let quarantine = dir.path().join(format!("r{round}.ndjson.quarantine"));
            assert!(std::fs::metadata(&quarantine).unwrap().len() > 0, "round {round}");
        }
    }
    eprintln!("a batch killed as it is written: {cut} cut, {whole} whole, {none} not begun (of 5)");
    assert!(cut > 0, "no kill landed inside the write: nothing was shown");
}
