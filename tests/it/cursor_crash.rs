//! A cursor's commit (the cursor file replaced atomically, then `FILE.record` written in place
//! without a sync) in every crash state and under every operation failed in turn: the cursor
//! holds a committed seq no older than the last commit that returned, the check against its
//! own log never raises a false alarm, and once checked it tells another log apart.

use std::io::Write;

use ndlog::consume::Cursor;
use ndlog::sim::{Fate, Fault, SimFs};
use ndlog::{ErrorKind, Log};

use crate::crash_states::crash_states;

const LOG: &str = "/data/log.ndjson";
const OTHER: &str = "/data/other.ndjson";
const CURSOR: &str = "/data/c.cursor";
/// The records the workload commits at, in turn.
const COMMITS: [u64; 4] = [2, 3, 5, 9];

/// Two durable logs of 10 records each, with the same seqs and other payloads, and (with
/// `cursor`) a cursor committed at seq 1 that remembers its record.
fn setup(seed: u64, cursor: bool) -> SimFs {
    let fs = SimFs::new(seed);
    for (path, tag) in [(LOG, "a"), (OTHER, "b")] {
        let mut bytes = Vec::new();
        for seq in 1..=10u64 {
            let data = format!(r#"{{"tag":"{tag}","n":{seq}}}"#);
            ndlog::format::encode(&mut bytes, seq, 1_700_000_000_000 + seq, data.as_bytes());
        }
        fs.put(path, &bytes);
    }
    if cursor {
        fs.put(CURSOR, b"1\n");
        let mut c = Cursor::load_in(fs.clone(), CURSOR).unwrap();
        c.check(&Log::open_in(fs.clone(), LOG).unwrap()).unwrap();
        drop(c);
        fs.write_back();
    }
    fs
}

/// Commits at each of [`COMMITS`] in turn, each remembering its record; returns the last seq
/// whose commit returned, and how many commits failed.
fn commits(fs: &SimFs, done: &mut u64) -> u64 {
    let Ok(mut cursor) = Cursor::load_in(fs.clone(), CURSOR) else { return 1 };
    let Ok(log) = Log::open_in(fs.clone(), LOG) else { return 1 };
    let mut failed = 0;
    for seq in COMMITS {
        match cursor.commit_at(&log.get(seq).expect("the log holds it")) {
            Ok(()) => *done = seq,
            Err(_) => failed += 1,
        }
    }
    failed
}

/// What a consumer that starts on `fs` finds: its cursor no older than `done` and committed,
/// no false alarm from its own log, and another log refused.
fn recovered(fs: &SimFs, done: u64) -> Result<(), String> {
    let mut cursor = Cursor::load_in(fs.clone(), CURSOR).map_err(|e| format!("load: {e}"))?;
    let after = cursor.after_seq().unwrap_or(0);
    if after < done || !(after == 1 || COMMITS.contains(&after)) {
        return Err(format!("cursor at {after}, after a commit at {done} returned"));
    }
    let own = Log::open_in(fs.clone(), LOG).map_err(|e| format!("open: {e}"))?;
    cursor.check(&own).map_err(|e| format!("a false alarm on its own log: {e}"))?;
    let other = Log::open_in(fs.clone(), OTHER).map_err(|e| format!("open: {e}"))?;
    match cursor.check(&other).map_err(|e| e.into_kind()) {
        Err(ErrorKind::CursorOfAnotherLog { seq, .. }) if seq <= after => Ok(()),
        other => Err(format!("another log not refused: {other:?}")),
    }
}

#[test]
fn every_crash_state_of_a_cursor_commit_keeps_the_cursor_and_its_check() {
    let dry = setup(1, true);
    let start = dry.ops();
    assert_eq!(commits(&dry, &mut 0), 0);
    let total = dry.ops() - start;
    let (mut states, mut violations) = (0u64, Vec::new());
    for k in 0..=total {
        let fs = setup(1, true);
        fs.halt_after(start + k);
        let mut done = 1;
        let _ = commits(&fs, &mut done);
        for (what, crashed) in crash_states(&fs, k) {
            states += 1;
            if let Err(v) = recovered(&crashed, done) {
                violations.push(format!("crash after op {k} of {total}, {what}: {v}"));
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "crash states: cursor commits: {total} operations, {states} crash states checked, {} violations",
        violations.len()
    );
    assert!(states > 500, "only {states} crash states");
    assert!(
        violations.is_empty(),
        "{} violations, first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

#[test]
fn every_operation_of_a_cursor_commit_failed_in_turn() {
    let dry = setup(9, true);
    let start = dry.ops();
    assert_eq!(commits(&dry, &mut 0), 0);
    let total = dry.ops() - start;
    let (mut runs, mut reported) = (0u64, 0u64);
    for fault in [Fault::Io, Fault::NoSpace, Fault::ShortWrite] {
        for persistent in [false, true] {
            for n in 1..=total {
                let fs = setup(9, true);
                fs.fail_at(start + n, fault, persistent);
                let mut done = 1;
                let failed = commits(&fs, &mut done);
                runs += 1;
                reported += u64::from(failed > 0);
                fs.heal();
                let label = format!("{fault:?} persistent={persistent} at op {n} of {total}");
                recovered(&fs, done).unwrap_or_else(|v| panic!("{label}: {v}"));
                let cold = fs.crash(|_| Fate::Dropped, 0);
                recovered(&cold, done).unwrap_or_else(|v| panic!("{label}: after a crash: {v}"));
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors, cursor commits: {runs} runs, {reported} reported an error to the caller, 0 violations"
    );
    assert!(reported * 3 > runs, "faults must reach the caller: {reported} of {runs}");
}

/// The check is only as good as what the cursor remembers: a cursor without `FILE.record`
/// (written by an earlier ndlog, or removed) passes another log, and takes up that log's
/// record, so that its own log is then the one refused.
#[test]
fn without_what_a_cursor_remembers_another_log_passes() {
    let fs = setup(3, false);
    fs.put(CURSOR, b"5\n");
    let mut cursor = Cursor::load_in(fs.clone(), CURSOR).unwrap();
    cursor.check(&Log::open_in(fs.clone(), OTHER).unwrap()).unwrap();
    // Checked against the other log first, the cursor now remembers its record 5: its own
    // log is the one refused.
    let refused = cursor.check(&Log::open_in(fs.clone(), LOG).unwrap()).map_err(|e| e.into_kind());
    assert!(matches!(refused, Err(ErrorKind::CursorOfAnotherLog { seq: 5, .. })), "{refused:?}");
}

/// A consumer that delivered uncommitted records (written, not yet synced) and committed at
/// one: a power loss takes it back, and the writer gives its seq to another record. Where
/// `FILE.record` survived, the next start is refused, and the message says how to go on
/// after the cursor's seq when the log is the same one. (Where `FILE.record` was lost too, the
/// check passes: it is a hint.)
#[test]
fn a_record_a_crash_took_back_from_an_uncommitted_consumer_stops_it() {
    let fs = SimFs::new(5);
    fs.put("/data/.keep", b"");
    let writer = ndlog::Options::new()
        .durability(ndlog::Durability::Never)
        .open_in(fs.clone(), LOG)
        .unwrap();
    writer.append_raw(b"1").unwrap();
    writer.append_raw(b"2").unwrap();
    writer.sync().unwrap();
    writer.append_raw(b"3").unwrap();
    drop(writer);
    let mut cursor = Cursor::load_in(fs.clone(), CURSOR).unwrap();
    cursor.commit_at(&Log::open_in(fs.clone(), LOG).unwrap().get(3).unwrap()).unwrap();
    drop(cursor);
    let log_only = |p: &ndlog::sim::Pending| match p.path.as_deref() {
        Some(path) if path == std::path::Path::new(LOG) => Fate::Dropped,
        _ => Fate::Kept,
    };
    let crashed = fs.crash(log_only, usize::MAX);
    let writer = ndlog::Options::new().open_in(crashed.clone(), LOG).unwrap();
    assert_eq!(writer.append_raw(b"\"another\"").unwrap().seq, 3, "seq 3 given again");
    drop(writer);
    let mut cursor = Cursor::load_in(crashed.clone(), CURSOR).unwrap();
    let err = cursor.check(&Log::open_in(crashed.clone(), LOG).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err.into_kind(), ErrorKind::CursorOfAnotherLog { seq: 3, after: 3, .. }),
        "{text}"
    );
    assert!(text.contains("--uncommitted") && text.contains("go on after seq 3"), "{text}");
}
