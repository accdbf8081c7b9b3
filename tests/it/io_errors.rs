//! Every operation failed in turn (SQLite's loop: fail op N for N = 1, 2, ... until the
//! workload completes), once and persistently, with EIO, ENOSPC and short writes, on the
//! simulated file system: the error reaches the caller, nothing is acknowledged that is not
//! durable, a failed fsync poisons the handle, and a fresh open recovers.

use std::io::Write;

use ndlog::segments::Settings;
use ndlog::sim::{Fate, Fault, Ledger, SimFs};
use ndlog::{Compactor, Durability, ErrorKind, Expect, Options, Policy};

const LOG: &str = "/data/log.ndjson";

fn fresh() -> SimFs {
    let fs = SimFs::new(9);
    fs.put("/data/.keep", b"");
    fs
}

struct Outcome {
    ledger: Ledger,
    errors: u64,
    completed: bool,
}

/// Appends 24 records (Never syncs after every fourth), continuing past errors to see what the
/// handle does next. An exclusive handle keeps its tail and index state across appends, so a
/// failure must make it learn them again.
fn workload(fs: &SimFs, durability: Durability, exclusive: bool) -> Outcome {
    let mut ledger = Ledger::default();
    let mut errors = 0;
    let opts = Options::new().durability(durability).exclusive(exclusive).index_stride(4);
    let writer = match opts.open_in(fs.clone(), LOG) {
        Ok(w) => w,
        Err(_) => return Outcome { ledger, errors: 1, completed: false },
    };
    let mut poisoned = false;
    let mut unsynced = Vec::new();
    for i in 0..24 {
        let p = format!(r#"{{"i":{i},"pad":"{}"}}"#, "e".repeat(i * 13 % 70)).into_bytes();
        ledger.attempt(&p);
        let result = writer.append_raw(&p).and_then(|ack| {
            if durability == Durability::Never {
                unsynced.push((ack.seq, p.clone()));
                if i % 4 == 3 {
                    writer.sync()?;
                    for (seq, p) in unsynced.drain(..) {
                        ledger.acknowledge(seq, &p);
                    }
                }
            } else {
                ledger.acknowledge(ack.seq, &p);
            }
            Ok(())
        });
        match result {
            Ok(()) => assert!(!poisoned, "an append was acknowledged after a failed fsync"),
            Err(e) => {
                errors += 1;
                if matches!(
                    e.kind(),
                    ErrorKind::Io { op: "fdatasync", .. } | ErrorKind::Poisoned { .. }
                ) {
                    poisoned = true;
                }
                if durability == Durability::Never {
                    unsynced.clear();
                }
            }
        }
    }
    Outcome { ledger, errors, completed: errors == 0 }
}

#[test]
fn every_operation_failed_in_turn() {
    let mut runs = 0u64;
    let mut reported = 0u64;
    let modes = [
        (Durability::Always, false),
        (Durability::Group, false),
        (Durability::Never, false),
        (Durability::Always, true),
        (Durability::Never, true),
    ];
    for (durability, exclusive) in modes {
        let dry = fresh();
        assert!(workload(&dry, durability, exclusive).completed);
        let total = dry.ops();
        for fault in [Fault::Io, Fault::NoSpace, Fault::ShortWrite] {
            for persistent in [false, true] {
                for n in 1..=total {
                    let fs = fresh();
                    fs.fail_at(n, fault, persistent);
                    let out = workload(&fs, durability, exclusive);
                    runs += 1;
                    let label = format!(
                        "{durability:?} exclusive={exclusive} {fault:?} persistent={persistent} at op {n}"
                    );
                    // What was acknowledged is durable: it survives a crash that keeps nothing
                    // unsynced.
                    fs.heal();
                    let cold = fs.crash(|_| Fate::Dropped, 0);
                    if let Err(v) = out.ledger.check(&cold, LOG) {
                        panic!("{label}: after a crash: {v}");
                    }
                    // A fresh open recovers, with or without a crash.
                    if let Err(v) = out.ledger.check_and_recover(&fs, LOG) {
                        panic!("{label}: recovering: {v}");
                    }
                    if let Err(v) = out.ledger.check_and_recover(&cold, LOG) {
                        panic!("{label}: recovering after a crash: {v}");
                    }
                    // Faults in index maintenance are absorbed (the index is derived data);
                    // every other fault reaches the caller.
                    reported += u64::from(out.errors > 0);
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors: {runs} runs (every operation failed in turn), {reported} reported an error to the caller, 0 violations"
    );
    assert!(runs > 500, "{runs}");
    assert!(reported * 2 > runs, "faults must reach the caller: {reported} of {runs}");
}

/// Conditional appends and transactions, alternately, continuing past errors: 16 records, each
/// a new entity (`Expect::Version(0)`), or staged in a transaction that first reads the
/// previous entity's version and writes a second record with it (all or nothing).
fn conditional_workload(fs: &SimFs, durability: Durability, exclusive: bool) -> Outcome {
    let mut ledger = Ledger::default();
    let mut errors = 0;
    let opts = Options::new()
        .durability(durability)
        .exclusive(exclusive)
        .index_stride(4)
        .entity_key(ndlog::JsonPointer::parse("/id").unwrap());
    let writer = match opts.open_in(fs.clone(), LOG) {
        Ok(w) => w,
        Err(_) => return Outcome { ledger, errors: 1, completed: false },
    };
    let mut poisoned = false;
    for i in 0..16 {
        let p = format!(r#"{{"id":"e{i}","pad":"{}"}}"#, "c".repeat(i * 17 % 70)).into_bytes();
        // A transaction writes a second record with it: one write, all or nothing.
        let second = format!(r#"{{"id":"e{i}b","pad":"{}"}}"#, "t".repeat(i * 29 % 90));
        let second = (i % 2 == 1).then(|| second.into_bytes());
        match &second {
            None => ledger.attempt(&p),
            Some(q) => ledger.attempt_write(&[&p, q]),
        }
        let result = if i % 2 == 0 {
            writer.append_raw_if(Expect::Version(0), &p).map(|a| a.seq)
        } else {
            let previous = format!("e{}", i - 1);
            writer
                .transaction(|tx| {
                    tx.version(&previous)?;
                    tx.append_raw(&p)?;
                    second.iter().try_for_each(|q| tx.append_raw(q))
                })
                .map(|((), ack)| ack.first_seq)
        };
        let result = result.and_then(|seq| {
            if durability == Durability::Never {
                writer.sync()?;
            }
            Ok(seq)
        });
        match result {
            Ok(seq) => {
                assert!(!poisoned, "an append was acknowledged after a failed fsync");
                ledger.acknowledge(seq, &p);
                if let Some(q) = &second {
                    ledger.acknowledge(seq + 1, q);
                }
            }
            Err(e) => {
                errors += 1;
                if matches!(
                    e.kind(),
                    ErrorKind::Io { op: "fdatasync", .. } | ErrorKind::Poisoned { .. }
                ) {
                    poisoned = true;
                }
            }
        }
    }
    Outcome { ledger, errors, completed: errors == 0 }
}

#[test]
fn every_operation_failed_in_turn_under_conditional_appends_and_transactions() {
    let mut runs = 0u64;
    for (durability, exclusive) in
        [(Durability::Always, false), (Durability::Never, false), (Durability::Group, true)]
    {
        let dry = fresh();
        assert!(conditional_workload(&dry, durability, exclusive).completed);
        let total = dry.ops();
        for fault in [Fault::Io, Fault::ShortWrite] {
            for n in 1..=total {
                let fs = fresh();
                fs.fail_at(n, fault, false);
                let out = conditional_workload(&fs, durability, exclusive);
                runs += 1;
                let label = format!("{durability:?} exclusive={exclusive} {fault:?} at op {n}");
                fs.heal();
                let cold = fs.crash(|_| Fate::Dropped, 0);
                if let Err(v) = out.ledger.check(&cold, LOG) {
                    panic!("{label}: after a crash: {v}");
                }
                if let Err(v) = out.ledger.check_and_recover(&fs, LOG) {
                    panic!("{label}: recovering: {v}");
                }
                // The entity versions a process finds next: in the same boot (the table as the
                // failed run left it, trusted) and after a crash (rebuilt).
                if let Err(v) = versions_hold(&fs) {
                    panic!("{label}: {v}");
                }
                if let Err(v) = versions_hold(&cold) {
                    panic!("{label}: after a crash: {v}");
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors: {runs} runs of conditional appends and transactions, 0 violations (entity \
         versions right after each, with and without a crash)"
    );
    assert!(runs > 100, "{runs}");
}

/// Every entity of [`conditional_workload`] (and one it never writes) has the version a fresh
/// writer reports: the seq of its newest record in the log.
fn versions_hold(fs: &SimFs) -> Result<(), String> {
    if fs.contents(LOG).is_none() {
        return Ok(());
    }
    let reader = ndlog::Reader::open_in(fs.clone(), LOG).map_err(|e| e.to_string())?;
    let mut truth = std::collections::HashMap::new();
    for r in reader.records() {
        let v: serde_json::Value = serde_json::from_slice(r.data).map_err(|e| e.to_string())?;
        if let Some(id) = v["id"].as_str() {
            truth.insert(id.to_string(), r.seq);
        }
    }
    let opts = Options::new().entity_key(ndlog::JsonPointer::parse("/id").unwrap());
    let writer = opts.open_in(fs.clone(), LOG).map_err(|e| e.to_string())?;
    let entities: Vec<String> = (0..16).map(|i| format!("e{i}")).chain(["never".into()]).collect();
    let (seen, _) = writer
        .transaction(|tx| entities.iter().map(|e| tx.version(e)).collect::<ndlog::Result<Vec<_>>>())
        .map_err(|e| e.to_string())?;
    for (e, v) in entities.iter().zip(seen) {
        let want = truth.get(e).copied().unwrap_or(0);
        if v != want {
            return Err(format!("{e} at version {v}, its newest record is {want}"));
        }
    }
    Ok(())
}

const SEGMENTED: &str = "/data/seglog";

/// Records (seq, payload) another handle wrote while a step of this one ran.
type Records = std::sync::Arc<std::sync::Mutex<Vec<(u64, Vec<u8>)>>>;

/// Three writers of one log, as three processes: A (`Always`) appends 12 records; between
/// each write of A's and its sync (`SimFs::after_next_unlock`), B (`durability`) appends, or
/// N (`Never`) appends, so that A's sync covers their records and they find them covered (B
/// at once, N at its `sync()` after every third). Continues past errors; a handle whose sync
/// failed must acknowledge nothing after.
fn shared_workload(fs: &SimFs, durability: Durability) -> Outcome {
    use std::sync::{Arc, Mutex};
    let mut ledger = Ledger::default();
    let mut errors = 0u64;
    let open =
        |d: Durability| Options::new().durability(d).index_stride(4).open_in(fs.clone(), LOG);
    let (a, b, n) = match (open(Durability::Always), open(durability), open(Durability::Never)) {
        (Ok(a), Ok(b), Ok(n)) => (a, Arc::new(b), Arc::new(n)),
        _ => return Outcome { ledger, errors: 1, completed: false },
    };
    // What B acknowledged and N wrote during A's appends, and whether each handle failed a
    // sync.
    let acked: Records = Arc::default();
    let unsynced: Records = Arc::default();
    let poisoned = Arc::new(Mutex::new([false; 3]));
    let failed = |e: &ndlog::Error| {
        matches!(e.kind(), ErrorKind::Io { op: "fdatasync", .. } | ErrorKind::Poisoned { .. })
    };
    let _ = &b;
    for i in 0..12 {
        let other = format!(r#"{{"o":{i}}}"#).into_bytes();
        ledger.attempt(&other);
        let (b2, n2, acked2, unsynced2, poisoned2) =
            (b.clone(), n.clone(), acked.clone(), unsynced.clone(), poisoned.clone());
        fs.after_next_unlock("/data/log.ndjson.lock", move || {
            if i % 2 == 0 {
                match b2.append_raw(&other) {
                    Ok(ack) => {
                        assert!(
                            !poisoned2.lock().unwrap()[1],
                            "B acknowledged after a failed sync"
                        );
                        acked2.lock().unwrap().push((ack.seq, other));
                    }
                    Err(e) => poisoned2.lock().unwrap()[1] |= failed(&e),
                }
            } else if let Ok(ack) = n2.append_raw(&other) {
                unsynced2.lock().unwrap().push((ack.seq, other));
            }
        });
        let p = format!(r#"{{"a":{i},"pad":"{}"}}"#, "s".repeat(i * 17 % 60)).into_bytes();
        ledger.attempt(&p);
        match a.append_raw(&p) {
            Ok(ack) => {
                assert!(!poisoned.lock().unwrap()[0], "A acknowledged after a failed sync");
                ledger.acknowledge(ack.seq, &p);
            }
            Err(e) => {
                errors += 1;
                poisoned.lock().unwrap()[0] |= failed(&e);
            }
        }
        if i % 3 == 2 {
            match n.sync() {
                Ok(()) => {
                    assert!(!poisoned.lock().unwrap()[2], "N acknowledged after a failed sync");
                    for (seq, p) in unsynced.lock().unwrap().drain(..) {
                        ledger.acknowledge(seq, &p);
                    }
                }
                Err(e) => {
                    errors += 1;
                    poisoned.lock().unwrap()[2] |= failed(&e);
                    unsynced.lock().unwrap().clear();
                }
            }
        }
        for (seq, p) in acked.lock().unwrap().drain(..) {
            ledger.acknowledge(seq, &p);
        }
    }
    Outcome { ledger, errors, completed: errors == 0 }
}

#[test]
fn every_operation_failed_in_turn_with_writers_sharing_syncs() {
    let (mut runs, mut reported) = (0u64, 0u64);
    for durability in [Durability::Always, Durability::Group] {
        let dry = fresh();
        assert!(shared_workload(&dry, durability).completed);
        let total = dry.ops();
        for fault in [Fault::Io, Fault::ShortWrite] {
            for persistent in [false, true] {
                for n in 1..=total {
                    let fs = fresh();
                    fs.fail_at(n, fault, persistent);
                    let out = shared_workload(&fs, durability);
                    runs += 1;
                    let label =
                        format!("{durability:?} {fault:?} persistent={persistent} at op {n}");
                    fs.heal();
                    let cold = fs.crash(|_| Fate::Dropped, 0);
                    if let Err(v) = out.ledger.check(&cold, LOG) {
                        panic!("{label}: after a crash: {v}");
                    }
                    if let Err(v) = out.ledger.check_and_recover(&cold, LOG) {
                        panic!("{label}: recovering after a crash: {v}");
                    }
                    reported += u64::from(out.errors > 0);
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors: {runs} runs of three writers sharing syncs, {reported} reported an error to the caller, 0 violations"
    );
    assert!(runs > 500, "{runs}");
}

fn segmented_options(durability: Durability, preallocate: bool) -> Options {
    let settings = Settings { segment_records: Some(4), preallocate, ..Settings::new(8 << 10) };
    let options = Options::new().segments(settings).max_record_size(2048);
    options.durability(durability).index_stride(2).prepare_segments_in_background(false)
}

/// A segmented log: 24 records in segments of 4 (so six rolls), retention keeping the newest
/// 8 after the 12th and a key compaction after the 18th, continuing past errors.
fn segmented_workload(fs: &SimFs, durability: Durability, preallocate: bool) -> Outcome {
    let mut ledger = Ledger::default();
    let mut errors = 0;
    let writer = match segmented_options(durability, preallocate).open_in(fs.clone(), SEGMENTED) {
        Ok(w) => w,
        Err(_) => return Outcome { ledger, errors: 1, completed: false },
    };
    let mut unsynced = Vec::new();
    let mut last_seq = 0;
    for i in 0..24 {
        let p = format!(r#"{{"i":{i},"k":{},"pad":"{}"}}"#, i % 5, "s".repeat(i * 13 % 70));
        let p = p.into_bytes();
        ledger.attempt(&p);
        let result = writer.append_raw(&p).and_then(|ack| {
            last_seq = ack.seq;
            if durability == Durability::Never {
                unsynced.push((ack.seq, p.clone()));
                if i % 4 == 3 {
                    writer.sync()?;
                    for (seq, p) in unsynced.drain(..) {
                        ledger.acknowledge(seq, &p);
                    }
                }
            } else {
                ledger.acknowledge(ack.seq, &p);
            }
            Ok(())
        });
        if result.is_err() {
            errors += 1;
            unsynced.clear();
        }
        let policy = match i {
            11 => Some(Policy::new().keep_last(8)),
            17 => Some(Policy::new().key(ndlog::JsonPointer::parse("/k").unwrap())),
            _ => None,
        };
        if let Some(policy) = policy {
            // From the start of a compaction, what its policy may drop is no longer required.
            let acked: Vec<(u64, Vec<u8>)> =
                ledger.acknowledged().iter().map(|(s, p)| (*s, p.clone())).collect();
            for (seq, payload) in &acked {
                let by_count = i == 11 && seq + 8 <= last_seq;
                let superseded =
                    i == 17 && acked.iter().any(|(s, q)| s > seq && key_of(q) == key_of(payload));
                if by_count || superseded {
                    ledger.forget(*seq);
                }
            }
            if Compactor::new_in(fs.clone(), SEGMENTED, policy).run().is_err() {
                errors += 1;
            }
        }
    }
    Outcome { ledger, errors, completed: errors == 0 }
}

fn key_of(payload: &[u8]) -> Option<u8> {
    let at = payload.windows(5).position(|w| w == b"\"k\":")?;
    payload.get(at + 4).copied()
}

#[test]
fn every_operation_failed_in_turn_on_a_segmented_log() {
    let mut runs = 0u64;
    let mut reported = 0u64;
    for (durability, preallocate) in
        [(Durability::Always, false), (Durability::Never, false), (Durability::Always, true)]
    {
        let dry = fresh();
        assert!(segmented_workload(&dry, durability, preallocate).completed);
        let total = dry.ops();
        for fault in [Fault::Io, Fault::NoSpace, Fault::ShortWrite] {
            for persistent in [false, true] {
                for n in 1..=total {
                    let fs = fresh();
                    fs.fail_at(n, fault, persistent);
                    let out = segmented_workload(&fs, durability, preallocate);
                    runs += 1;
                    let label = format!(
                        "{durability:?} preallocate={preallocate} {fault:?} persistent={persistent} at op {n}"
                    );
                    fs.heal();
                    let cold = fs.crash(|_| Fate::Dropped, 0);
                    let options = segmented_options(Durability::Always, preallocate);
                    if let Err(v) = out.ledger.check(&cold, SEGMENTED) {
                        panic!("{label}: after a crash: {v}");
                    }
                    if let Err(v) = out.ledger.check_and_recover_with(&fs, SEGMENTED, &options) {
                        panic!("{label}: recovering: {v}");
                    }
                    if let Err(v) = out.ledger.check_and_recover_with(&cold, SEGMENTED, &options) {
                        panic!("{label}: recovering after a crash: {v}");
                    }
                    reported += u64::from(out.errors > 0);
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors: {runs} runs on a segmented log (rolls, retention, key compaction; plain and preallocated), {reported} reported an error to the caller, 0 violations"
    );
    assert!(runs > 500, "{runs}");
    assert!(reported * 2 > runs, "faults must reach the caller: {reported} of {runs}");
}

/// Four acknowledged records; long after (everything written back, the watermark included),
/// media damage to the last one, whose seq the ledger retires.
fn damaged_setup(fs: &SimFs) -> Ledger {
    let mut ledger = Ledger::default();
    let w = Options::new().open_in(fs.clone(), LOG).unwrap();
    for i in 0..4 {
        let p = format!(r#"{{"d":{i}}}"#).into_bytes();
        ledger.acknowledge(w.append_raw(&p).unwrap().seq, &p);
    }
    drop(w);
    fs.write_back();
    let bytes = fs.contents(LOG).unwrap();
    let last = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    assert!(fs.damage(LOG, (last + 2) as u64, 0x01));
    ledger.retire(4);
    ledger
}

/// After [`damaged_setup`]: a new handle appends six records, with a repairing compaction after
/// the third (the damage then lies between records), continuing past errors.
fn damaged_workload(fs: &SimFs, ledger: &mut Ledger) -> u64 {
    let Ok(w) = Options::new().open_in(fs.clone(), LOG) else { return 1 };
    let mut errors = 0;
    for i in 0..6 {
        let p = format!(r#"{{"after":{i}}}"#).into_bytes();
        ledger.attempt(&p);
        match w.append_raw(&p) {
            Ok(ack) => ledger.acknowledge(ack.seq, &p),
            Err(_) => errors += 1,
        }
        if i == 2 && Compactor::new_in(fs.clone(), LOG, Policy::new()).run().is_err() {
            errors += 1;
        }
    }
    errors
}

/// The repair of a log whose last acknowledged record was damaged after its sync, every
/// operation failed in turn: an error never makes the writer take the damaged record for crash
/// debris and give its seq again.
#[test]
fn every_operation_failed_in_turn_after_media_damage() {
    let dry = fresh();
    let mut ledger = damaged_setup(&dry);
    let setup = dry.ops();
    assert_eq!(damaged_workload(&dry, &mut ledger), 0);
    assert!(dry.contents(format!("{LOG}.quarantine")).is_some(), "the compaction repaired");
    let total = dry.ops() - setup;
    let (mut runs, mut reported) = (0u64, 0u64);
    for fault in [Fault::Io, Fault::NoSpace, Fault::ShortWrite] {
        for persistent in [false, true] {
            for n in 1..=total {
                let fs = fresh();
                let mut ledger = damaged_setup(&fs);
                fs.fail_at(setup + n, fault, persistent);
                let errors = damaged_workload(&fs, &mut ledger);
                runs += 1;
                reported += u64::from(errors > 0);
                let label = format!("{fault:?} persistent={persistent} at op {n} of {total}");
                fs.heal();
                let cold = fs.crash(|_| Fate::Dropped, 0);
                if let Err(v) = ledger.check(&cold, LOG) {
                    panic!("{label}: after a crash: {v}");
                }
                if let Err(v) = ledger.check_and_recover(&fs, LOG) {
                    panic!("{label}: recovering: {v}");
                }
                if let Err(v) = ledger.check_and_recover(&cold, LOG) {
                    panic!("{label}: recovering after a crash: {v}");
                }
            }
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "io errors after media damage: {runs} runs, {reported} reported an error to the caller, 0 violations"
    );
    assert!(reported * 2 > runs, "faults must reach the caller: {reported} of {runs}");
}
