//! Read-then-append under one lock: appends conditional on the last seq or an entity's version
//! (`append --expect-last-seq`, `--expect-version`, `Writer::append_if`) and
//! `Writer::transaction`. Concurrent read-modify-write loses no update, a conflict, a timeout
//! or a failed closure leaves the log byte-identical, and a process killed inside a transaction
//! leaves nothing of it and a free lock.

use crate::util;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndlog::{Durability, ErrorKind, Expect, JsonPointer, LogLock, Options, Reader};
use util::*;

fn id_key() -> JsonPointer {
    JsonPointer::parse("/id").unwrap()
}

/// The counter's newest record: (its seq, its n); (0, 0) before the first.
fn read_counter(log: &Path) -> (u64, u64) {
    let out = ndlog().args(["tail", "-n", "1", log.to_str().unwrap()]).output().unwrap();
    let text = stdout(&out);
    let Some(line) = text.lines().last() else { return (0, 0) };
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (v["seq"].as_u64().unwrap(), v["data"]["n"].as_u64().unwrap())
}

/// One CLI process at a time increments the counter until `until`, retrying on exit 6.
/// While it exists, transaction incrementers hold back (up to 200 ms): a CLI increment reads
/// the counter and then starts a process to append, a window in which in-process transactions
/// otherwise always get in first, so the CLI would only ever see conflicts.
fn cli_turn(log: &Path) -> std::path::PathBuf {
    log.with_extension("cli-turn")
}

/// With `take_turns`, it holds the others back while it reads and appends (see [`cli_turn`]).
fn cli_incrementer(log: &Path, until: Instant, take_turns: bool) -> u64 {
    let mut done = 0;
    while Instant::now() < until {
        if take_turns {
            std::fs::write(cli_turn(log), b"").unwrap();
        }
        let (version, n) = read_counter(log);
        let line = format!("{{\"id\":\"c\",\"n\":{}}}\n", n + 1);
        let args = [
            "append",
            log.to_str().unwrap(),
            "--durability",
            "never",
            "--key",
            "/id",
            "--expect-version",
            &version.to_string(),
        ];
        let out = run(&args, line.as_bytes());
        if take_turns {
            std::fs::remove_file(cli_turn(log)).unwrap();
            // The others' turn.
            std::thread::sleep(Duration::from_millis(20));
        }
        match out.status.code() {
            Some(0) => done += 1,
            Some(6) => assert!(stderr(&out).contains("\"c\""), "{}", stderr(&out)),
            other => panic!("append exited {other:?}: {}", stderr(&out)),
        }
    }
    done
}

/// Every record is the counter, and each is the one before plus one: no update was lost or
/// applied twice. Returns the final value.
fn check_counter(log: &Path) -> u64 {
    let reader = Reader::open(log).unwrap();
    let mut expected = 1;
    for r in reader.records() {
        let v: serde_json::Value = r.deserialize().unwrap();
        assert_eq!(v["n"].as_u64(), Some(expected), "record {} of {}", r.seq, log.display());
        expected += 1;
    }
    expected - 1
}

#[test]
fn four_processes_incrementing_with_expect_version_lose_no_update() {
    let dir = tempdir();
    let log = dir.path().join("counter.ndjson");
    let until = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || cli_incrementer(&log, until, false))
        })
        .collect();
    let successes: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(successes > 4, "too few increments to mean anything: {successes}");
    assert_eq!(check_counter(&log), successes);
}

/// Increments the counter in transactions until `until`; returns how many committed.
fn transaction_incrementer(writer: &ndlog::Writer, until: Instant) -> u64 {
    let mut done = 0;
    let turn = cli_turn(writer.path());
    while Instant::now() < until {
        let waited = Instant::now();
        while turn.exists() && waited.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(1));
        }
        writer
            .transaction(|tx| {
                let n = match tx.latest("c")? {
                    Some(r) => r.deserialize::<serde_json::Value>()?["n"].as_u64(),
                    None => Some(0),
                };
                tx.append(&serde_json::json!({"id": "c", "n": n.unwrap() + 1}))
            })
            .unwrap();
        done += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    done
}

/// The child half of the mixed test: increments in transactions for the given milliseconds
/// and prints how many committed. Run only by that test.
#[test]
#[ignore = "run as a child process by transactions_from_threads_and_processes_lose_no_update"]
fn child_increments_in_transactions() {
    let log = std::env::var("NDLOG_TX_COUNTER_LOG").expect("run by the mixed test");
    let ms: u64 = std::env::var("NDLOG_TX_COUNTER_MS").unwrap().parse().unwrap();
    let writer = Options::new().entity_key(id_key()).open(&log).unwrap();
    let done = transaction_incrementer(&writer, Instant::now() + Duration::from_millis(ms));
    println!("committed {done}");
}

#[test]
fn transactions_from_threads_and_processes_lose_no_update() {
    let dir = tempdir();
    let log = dir.path().join("counter.ndjson");
    let run_for = Duration::from_secs(3);
    let until = Instant::now() + run_for;
    let writer = Arc::new(
        Options::new().entity_key(id_key()).durability(Durability::Group).open(&log).unwrap(),
    );
    let done = Arc::new(AtomicU64::new(0));
    // Two threads sharing one handle, a process of transactions, a process of CLI appends.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (writer, done) = (writer.clone(), done.clone());
            std::thread::spawn(move || {
                done.fetch_add(transaction_incrementer(&writer, until), Ordering::Relaxed);
            })
        })
        .collect();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "conditional_append::child_increments_in_transactions",
            "--nocapture",
        ])
        .env("NDLOG_TX_COUNTER_LOG", &log)
        .env("NDLOG_TX_COUNTER_MS", run_for.as_millis().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cli = {
        let log = log.clone();
        std::thread::spawn(move || cli_incrementer(&log, until, true))
    };
    threads.into_iter().for_each(|t| t.join().unwrap());
    let by_cli = cli.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    let by_child: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("committed "))
        .unwrap_or_else(|| panic!("no count from the child: {text}"))
        .parse()
        .unwrap();
    assert!(by_cli > 0 && by_child > 0, "cli {by_cli}, child {by_child}");
    let total = done.load(Ordering::Relaxed) + by_cli + by_child;
    assert_eq!(check_counter(&log), total);
}

#[test]
fn expect_last_seq_conflict_exits_6_names_the_last_seq_and_writes_nothing() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&log).unwrap();
    let path = log.to_str().unwrap();
    let out = run(&["append", path, "--expect-last-seq", "2"], b"{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected the last seq to be 2, but it is 3"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // Right: both lines, one batch.
    let out = run(&["append", path, "--expect-last-seq", "3"], b"{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "4\n5\n");
    // 0 means empty.
    let empty = dir.path().join("empty.ndjson");
    let out = run(&["append", empty.to_str().unwrap(), "--expect-last-seq", "0"], b"1\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "1\n".to_string()));
}

#[test]
fn an_expectation_is_checked_even_when_there_is_nothing_to_write() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&log).unwrap();
    let path = log.to_str().unwrap();
    // No lines: the log's last seq is still checked, and a mismatch is a conflict.
    let out = run(&["append", path, "--expect-last-seq", "2"], b"");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected the last seq to be 2, but it is 3"),
        "{}",
        stderr(&out)
    );
    let out = run(&["append", path, "--expect-last-seq", "3"], b"\n\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), String::new()), "{}", stderr(&out));
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // A log that does not exist has no record: 0 holds, anything else conflicts, and neither
    // creates it.
    let missing = dir.path().join("missing.ndjson");
    let m = missing.to_str().unwrap();
    let out = run(&["append", m, "--expect-last-seq", "4"], b"");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("expected the last seq to be 4, but it is 0"),
        "{}",
        stderr(&out)
    );
    let out = run(&["append", m, "--expect-last-seq", "0"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let made = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name());
    let made: Vec<_> = made.filter(|n| n.to_string_lossy().starts_with("missing")).collect();
    assert!(made.is_empty(), "{made:?}");
    // The library checks too.
    let writer = Options::new().open(&log).unwrap();
    let err = writer.append_raw_batch_if(Expect::LastSeq(9), &[] as &[&[u8]]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Conflict { expected: 9, actual: 3, .. }), "{err}");
    let ack = writer.append_raw_batch_if(Expect::LastSeq(3), &[] as &[&[u8]]).unwrap();
    assert_eq!(ack.count, 0);
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn refused_input_to_a_log_that_does_not_exist_creates_nothing() {
    let dir = tempdir();
    let log = dir.path().join("new.ndjson");
    let path = log.to_str().unwrap();
    for (input, code) in [(&b""[..], 0), (b"not json\n", 1), (b"\n  \n", 0)] {
        let out = run(&["append", path], input);
        assert_eq!(out.status.code(), Some(code), "{:?}: {}", input, stderr(&out));
        let left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{:?} left {left:?}", input);
    }
    let out = run(&["append", path, "--expect-last-seq", "0"], b"{\"a\":1}\nnot json\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin line 2"), "{}", stderr(&out));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    // An expectation a log that does not exist cannot meet is a conflict, or a line without
    // the key an error, before anything is created.
    let key = ["--key", "/id", "--expect-version"];
    for (args, input, code, says) in [
        (&["--expect-last-seq", "5"][..], &b"{\"a\":1}\n"[..], 6, "to be 5, but it is 0"),
        (&[key[0], key[1], key[2], "3"], b"{\"id\":\"a\"}\n", 6, "entity \"a\" at version 3"),
        (
            &[key[0], key[1], key[2], "0"],
            b"{\"id\":\"a\"}\n{\"x\":1}\n",
            1,
            "stdin line 2: no value",
        ),
    ] {
        let out = run(&[&["append", path][..], args].concat(), input);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{args:?}");
    }
    // `import` of nothing does not create the log either.
    for input in [&b""[..], b"\n\n"] {
        let out = run(&["import", path, "-"], input);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("nothing to import"), "{}", stdout(&out));
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "{input:?}");
    }
    // A path that names a directory is refused at once, input or not.
    let out = run(&["append", &format!("{}/sub/", dir.path().display())], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The first good line creates it.
    let out = run(&["append", path], b"{\"a\":1}\nnot json\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(1), "1\n".to_string()), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdin line 2: ") && stderr(&out).contains("new.ndjson"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn expect_version_is_all_or_nothing_and_names_the_entity() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let path = log.to_str().unwrap();
    let create =
        |input: &[u8]| run(&["append", path, "--key", "/id", "--expect-version", "0"], input);
    let out = create(b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    assert_eq!(stdout(&out), "1\n2\n", "{}", stderr(&out));
    let before = std::fs::read(&log).unwrap();
    // c is new, b is not: neither is written.
    let out = create(b"{\"id\":\"c\"}\n{\"id\":\"b\",\"x\":1}\n");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("entity \"b\" at version 0, but its newest record is seq 2"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // A line without the key is refused before anything is written.
    let out = create(b"{\"other\":1}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // Named by its stdin line (blank lines counted), not its place in the batch.
    let out = create(b"{\"id\":\"d\"}\n\n{\"other\":1}\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stdin line 3: no value at the entity key /id"), "{err}");
    assert!(err.contains("nothing was appended") && !err.contains("batch index"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // --expect-version without --key is a usage error.
    let out = run(&["append", path, "--expect-version", "0"], b"{}\n");
    assert_eq!(out.status.code(), Some(2));
    // --help documents exit 6.
    let help = stdout(&ndlog().args(["append", "--help"]).output().unwrap());
    assert!(help.contains("6  conflict"), "{help}");
}

#[test]
fn a_version_batch_is_checked_against_the_log_before_it() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    let path = log.to_str().unwrap();
    let expect = |v: &str, input: &[u8]| {
        run(&["append", path, "--key", "/id", "--expect-version", v], input)
    };
    // Two lines of one entity, both "create": each is checked against the log before the
    // batch, as a stream's expected version is for the events appended with it.
    let out = expect("0", b"{\"id\":\"e\",\"n\":1}\n{\"id\":\"e\",\"n\":2}\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "1\n2\n".into()), "{}", stderr(&out));
    // Its version is now the second's seq.
    assert_eq!(expect("1", b"{\"id\":\"e\"}\n").status.code(), Some(6));
    let out = expect("2", b"{\"id\":\"e\",\"n\":3}\n");
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "3\n".into()), "{}", stderr(&out));
}

#[test]
fn versions_stay_right_across_writers_and_past_the_cache() {
    let dir = tempdir();
    let log = dir.path().join("state.ndjson");
    // A cache of 2 entities: the older ones are found by reading back from the floor.
    let small = Options::new().entity_key(id_key()).entity_cache(2).open(&log).unwrap();
    let other = Options::new().entity_key(id_key()).open(&log).unwrap();
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        let ack = small.append_if(Expect::Version(0), &serde_json::json!({"id": id})).unwrap();
        assert_eq!(ack.seq, i as u64 + 1);
    }
    // The other handle appended nothing yet; it catches up under the lock.
    let err = other.append_if(Expect::Version(0), &serde_json::json!({"id": "a"})).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Conflict { actual: 1, .. }), "{err}");
    other.append_if(Expect::Version(2), &serde_json::json!({"id": "b", "v": 2})).unwrap();
    // The small cache evicted a and b; it learns b's new version from the log.
    let err = small.append_if(Expect::Version(2), &serde_json::json!({"id": "b"})).unwrap_err();
    match err.kind() {
        ErrorKind::Conflict { expected: 2, actual: 5, entity: Some(e), .. } => assert_eq!(e, "b"),
        other => panic!("{other:?}"),
    }
    let (version, _) = small.transaction(|tx| tx.version("a")).unwrap();
    assert_eq!(version, 1, "an evicted entity is read back from the log");
    let (missing, _) = small.transaction(|tx| tx.version("zz")).unwrap();
    assert_eq!(missing, 0);
    // Without an entity key, a version expectation is refused.
    let plain = Options::new().open(&log).unwrap();
    let err = plain.append_if(Expect::Version(0), &1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
}

#[test]
fn conflict_timeout_and_closure_errors_leave_the_log_byte_identical() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 5);
    let before = std::fs::read(&log).unwrap();
    for exclusive in [false, true] {
        for durability in [Durability::Always, Durability::Group, Durability::Never] {
            let w = Options::new()
                .entity_key(JsonPointer::parse("/n").unwrap())
                .durability(durability)
                .exclusive(exclusive)
                .open(&log)
                .unwrap();
            let err = w.append_if(Expect::LastSeq(4), &serde_json::json!({"n": 9})).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Conflict { expected: 4, actual: 5, .. }));
            let err = w.append_batch_if(Expect::Version(0), [1, 2]).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::InvalidPayload { .. }), "{err}");
            let err = w
                .append_raw_batch_if(Expect::Version(0), &[&br#"{"n":9}"#[..], br#"{"n":3}"#])
                .unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Conflict { actual: 3, .. }), "{err}");
            let failed: Result<((), _), ndlog::Error> = w.transaction(|tx| {
                tx.append(&serde_json::json!({"n": 10}))?;
                assert_eq!(tx.last_seq(), 5);
                assert_eq!(tx.version("5")?, 5);
                Err(ndlog::Error::from(ErrorKind::InvalidArgument("changed my mind".into())))
            });
            assert!(failed.is_err());
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = w.transaction(|tx| -> ndlog::Result<()> {
                    tx.append_raw(br#"{"n":11}"#)?;
                    panic!("closure panics");
                });
            }));
            assert!(panicked.is_err());
            assert_eq!(std::fs::read(&log).unwrap(), before, "{durability:?} {exclusive}");
            // The handle still works after the panic.
            let (seen, ack) = w.transaction(|tx| Ok::<_, ndlog::Error>(tx.last_seq())).unwrap();
            assert_eq!((seen, ack.count), (5, 0));
        }
    }
    // A transaction that times out waiting for the lock writes nothing and runs nothing.
    let w = Options::new().lock_timeout(Duration::from_millis(50)).open(&log).unwrap();
    let held = LogLock::acquire(&log, Duration::from_secs(1)).unwrap();
    let err = w
        .transaction(|tx| -> ndlog::Result<()> { panic!("ran without the lock: {tx:?}") })
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }), "{err}");
    let err = w.append_if(Expect::LastSeq(5), &1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }), "{err}");
    let out = run(
        &["append", log.to_str().unwrap(), "--lock-timeout", "50ms", "--expect-last-seq", "5"],
        b"1\n",
    );
    assert_eq!(out.status.code(), Some(5));
    drop(held);
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn a_transaction_reads_and_commits_in_one_write() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let w = Options::new().entity_key(JsonPointer::parse("/n").unwrap()).open(&log).unwrap();
    let (seen, ack) = w
        .transaction(|tx| {
            assert_eq!(tx.last()?.unwrap().seq, 10);
            assert_eq!(tx.get(4)?.unwrap().data, br#"{"n":4}"#);
            assert_eq!(tx.latest("7")?.map(|r| r.seq), Some(7));
            assert_eq!(tx.state_at("7", u64::MAX)?.map(|r| r.seq), Some(7));
            tx.append(&serde_json::json!({"n": 11}))?;
            tx.append_raw(br#"{"n":12}"#)?;
            assert!(tx.append_raw(b"not json").is_err(), "a bad payload is refused when staged");
            // Staged appends are not visible until the commit.
            assert_eq!(tx.last_seq(), 10);
            Ok::<_, ndlog::Error>(tx.staged())
        })
        .unwrap();
    assert_eq!((seen, ack.first_seq, ack.count), (2, 11, 2));
    let reader = Reader::open(&log).unwrap();
    assert_eq!(reader.get(12).unwrap().data, br#"{"n":12}"#);
    // The version cache saw the transaction's own records.
    let err = w.append_if(Expect::Version(0), &serde_json::json!({"n": 12})).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Conflict { actual: 12, .. }), "{err}");
}

/// The child half of the SIGKILL test: stages an append in a transaction, says so, and waits
/// there to be killed. Run only by that test.
#[test]
#[ignore = "run as a child process by a_process_killed_inside_a_transaction_leaves_nothing"]
fn child_waits_inside_a_transaction() {
    let log = std::env::var("NDLOG_TX_CHILD_LOG").expect("run by the SIGKILL test");
    let w = Options::new().open(&log).unwrap();
    let _ = w.transaction(|tx| -> ndlog::Result<()> {
        tx.append_raw(br#"{"from":"the killed transaction"}"#)?;
        println!("inside");
        std::thread::sleep(Duration::from_secs(600));
        Ok(())
    });
    unreachable!("killed inside the transaction");
}

#[test]
fn a_process_killed_inside_a_transaction_leaves_nothing() {
    use std::io::BufRead;
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&log).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "conditional_append::child_waits_inside_a_transaction",
            "--nocapture",
        ])
        .env("NDLOG_TX_CHILD_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("inside")), "the child never got inside");
    // It holds the lock.
    let err = LogLock::acquire(&log, Duration::ZERO).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }));
    child.kill().unwrap();
    child.wait().unwrap();
    // Free at once, and nothing of the transaction is in the log.
    drop(LogLock::acquire(&log, Duration::ZERO).unwrap());
    assert_eq!(std::fs::read(&log).unwrap(), before);
    let ack = Options::new().open(&log).unwrap().append_raw(b"1").unwrap();
    assert_eq!(ack.seq, 4);
}

#[test]
fn a_transaction_after_a_crash_reads_past_a_torn_tail_and_appends_cleanly() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    // A torn last line, as a crash mid-write leaves.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, br#"{"seq":4,"ts":17636832"#).unwrap();
    drop(f);
    let w = Options::new().entity_key(JsonPointer::parse("/n").unwrap()).open(&log).unwrap();
    let ((), ack) = w
        .transaction(|tx| {
            assert_eq!(tx.last()?.map(|r| r.seq), Some(3));
            assert_eq!(tx.version("3")?, 3);
            assert_eq!(tx.latest("4")?.map(|r| r.seq), None);
            tx.append_raw(br#"{"n":4}"#)
        })
        .unwrap();
    assert_eq!(ack.first_seq, 4);
    let out = ndlog().args(["verify", log.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}
