//! A chained log on the simulated file system: every crash state of chained appends, of a
//! retention and a key compaction (whose anchor step writes `LOG.chain` before the rename),
//! and every operation failed in turn. Beyond what `crash_states.rs` checks (every acknowledged
//! record recovered, nothing invented), the chain must verify over every acknowledged record
//! after recovery: a torn tail never becomes a link, and the anchors always match the log the
//! path holds.

use std::io::Write;

use ndlog::chain::ChainFile;
use ndlog::sim::{Fate, Fault, Ledger, SimFs};
use ndlog::{Compactor, Durability, JsonPointer, Options, Policy, Reader};

const LOG: &str = "/data/log.ndjson";

type Workload = fn(&SimFs, &mut Ledger) -> ndlog::Result<()>;

fn fresh(seed: u64) -> SimFs {
    let fs = SimFs::new(seed);
    fs.put("/data/.keep", b"");
    fs
}

fn payload(i: usize) -> Vec<u8> {
    format!(r#"{{"k":{},"i":{i},"pad":"{}"}}"#, i % 4, "c".repeat(i * 41 % 700)).into_bytes()
}

fn append(w: &ndlog::Writer<SimFs>, ledger: &mut Ledger, i: usize) -> ndlog::Result<()> {
    let p = payload(i);
    ledger.attempt(&p);
    let seq = w.append_raw(&p)?.seq;
    ledger.acknowledge(seq, &p);
    Ok(())
}

/// Chained appends with `Always`, records spanning sectors, and a batch.
fn chained_always(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = Options::new().chain(true).index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..8 {
        append(&w, ledger, i)?;
    }
    let batch: Vec<Vec<u8>> = (8..12).map(payload).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    Ok(())
}

/// `Never` with a sync every third append, and a second handle appending in between.
fn chained_never_two_handles(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let opts = Options::new().chain(true).durability(Durability::Never);
    let a = opts.open_in(fs.clone(), LOG)?;
    let b = Options::new().durability(Durability::Never).open_in(fs.clone(), LOG)?;
    let mut unsynced = Vec::new();
    for i in 0..9 {
        let w = if i % 2 == 0 { &a } else { &b };
        let p = payload(i);
        ledger.attempt(&p);
        unsynced.push((w.append_raw(&p)?.seq, p));
        if i % 3 == 2 {
            a.sync()?;
            b.sync()?;
            for (seq, p) in unsynced.drain(..) {
                ledger.acknowledge(seq, &p);
            }
        }
    }
    Ok(())
}

/// A retention compaction, then a key compaction, with appends around them: each writes its
/// anchors to `LOG.chain` before its rename.
fn chained_compactions(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = Options::new().chain(true).index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..8 {
        append(&w, ledger, i)?;
    }
    // From the start of each compaction, the records it may drop are no longer required.
    for seq in 1..=5 {
        ledger.forget(seq);
    }
    Compactor::new_in(fs.clone(), LOG, Policy::new().keep_last(3)).run()?;
    for i in 8..14 {
        append(&w, ledger, i)?;
    }
    for seq in 6..=10 {
        ledger.forget(seq);
    }
    let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
    Compactor::new_in(fs.clone(), LOG, policy).run()?;
    for i in 14..16 {
        append(&w, ledger, i)?;
    }
    Ok(())
}

/// The chain of the log at the path, with the anchors of its `LOG.chain`, holds at least up to
/// the last acknowledged record: anything that fails comes after it (records never
/// acknowledged that a crash kept out of order).
fn check_chain(fs: &SimFs, ledger: &Ledger) -> Result<(), String> {
    let reader = match Reader::open_in(fs.clone(), LOG) {
        Ok(r) => r,
        Err(_) if ledger.acknowledged().is_empty() => return Ok(()),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let file = ChainFile::load(fs, std::path::Path::new(LOG)).map_err(|e| e.to_string())?;
    let report = reader.verify_chain(file.as_ref());
    let last_acked = ledger.acknowledged().keys().next_back().copied().unwrap_or(0);
    // Once a chained append was acknowledged, the log is chained for good.
    if last_acked > 0 && file.is_none() {
        return Err("a chained log without LOG.chain".into());
    }
    if file.is_none() {
        return Ok(()); // the chained log's creation never completed; recovery made a plain one
    }
    match report.failure {
        Some(f) if f.seq <= last_acked => {
            Err(format!("chain broken at {f}, at or before acknowledged seq {last_acked}"))
        }
        _ => Ok(()),
    }
}

fn crash_states(fs: &SimFs, seed: u64) -> Vec<(String, SimFs)> {
    let mut states = vec![
        ("all kept".to_string(), fs.crash(|_| Fate::Kept, usize::MAX)),
        ("all dropped".to_string(), fs.crash(|_| Fate::Dropped, 0)),
        ("data dropped, names kept".to_string(), fs.crash(|_| Fate::Dropped, usize::MAX)),
    ];
    for p in fs.pending_writes() {
        for fate in [Fate::Dropped, Fate::Prefix(p.len / 2), Fate::Sectors(0b01), Fate::Zeroed] {
            let i = p.index;
            states.push((
                format!("write {i} {fate:?}"),
                fs.crash(move |q| if q.index == i { fate } else { Fate::Kept }, usize::MAX),
            ));
        }
    }
    let dir_ops = fs.pending_dir_ops();
    for k in 0..dir_ops {
        states.push((format!("{k} of {dir_ops} directory ops"), fs.crash(|_| Fate::Kept, k)));
    }
    for r in 0..3 {
        states.push((format!("random {r}"), fs.crash_random(seed * 1000 + r)));
    }
    states
}

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn every_crash_state_of_a_chained_log_recovers_with_its_chain_intact() {
    let workloads: [(&str, Workload); 3] = [
        ("chained always", chained_always),
        ("chained never, two handles", chained_never_two_handles),
        ("chained compactions (anchors)", chained_compactions),
    ];
    let (mut total, mut violations) = (0u64, Vec::new());
    for (name, workload) in workloads {
        let dry = fresh(1);
        workload(&dry, &mut Ledger::default()).expect("the workload runs without faults");
        check_chain(&dry, &Ledger::default()).expect("the chain holds without faults");
        let ops = dry.ops();
        let mut states = 0u64;
        for k in 0..=ops {
            let fs = fresh(1);
            fs.halt_after(k);
            let mut ledger = Ledger::default();
            let _ = workload(&fs, &mut ledger);
            for (what, crashed) in crash_states(&fs, k) {
                states += 1;
                let outcome = ledger
                    .check_and_recover(&crashed, LOG)
                    .map_err(|v| v.to_string())
                    .and_then(|_| check_chain(&crashed, &ledger));
                if let Err(v) = outcome {
                    violations.push(format!("{name}: crash after op {k} of {ops}, {what}: {v}"));
                }
            }
        }
        total += states;
        report(&format!("chain crash states: {name}: {ops} operations, {states} crash states"));
    }
    report(&format!("chain crash states: {total} checked, {} violations", violations.len()));
    assert!(total >= 1_000, "only {total} crash states");
    assert!(
        violations.is_empty(),
        "{} violations: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

#[test]
fn every_operation_failed_in_turn_leaves_a_chain_that_verifies() {
    let (mut runs, mut violations, mut reported) = (0u64, Vec::new(), 0u64);
    for fault in [Fault::Io, Fault::ShortWrite] {
        for persistent in [false, true] {
            for n in 1.. {
                let fs = fresh(3);
                fs.fail_at(n, fault, persistent);
                let mut ledger = Ledger::default();
                let result = chained_compactions(&fs, &mut ledger);
                runs += 1;
                reported += u64::from(result.is_err());
                // What was acknowledged survives a crash that drops everything unsynced, and
                // a fresh open recovers with the chain intact.
                fs.heal();
                let crashed = fs.crash(|_| Fate::Dropped, usize::MAX);
                let outcome = ledger
                    .check_and_recover(&crashed, LOG)
                    .map_err(|v| v.to_string())
                    .and_then(|_| check_chain(&crashed, &ledger));
                if let Err(v) = outcome {
                    violations.push(format!("{fault:?} at op {n} (persistent {persistent}): {v}"));
                }
                if result.is_ok() {
                    break;
                }
            }
        }
    }
    report(&format!(
        "chain I/O errors: {runs} runs, {reported} reported the error, {} violations",
        violations.len()
    ));
    assert!(runs > 100, "only {runs} runs");
    assert!(
        violations.is_empty(),
        "{} violations: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

#[test]
fn the_chain_check_catches_a_broken_link() {
    let fs = fresh(1);
    let mut ledger = Ledger::default();
    chained_always(&fs, &mut ledger).unwrap();
    let mut bytes = fs.contents(LOG).unwrap();
    // Swap two payload digits of the third record and refit its CRC: only the chain notices.
    let line_start = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
    let line_end = line_start + bytes[line_start..].iter().position(|&b| b == b'\n').unwrap();
    let at = line_start
        + bytes[line_start..line_end].windows(4).position(|w| w == b"\"i\":").unwrap()
        + 4;
    bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
    let crc_at = line_end - ndlog::format::TRAILER_LEN;
    let crc = ndlog::format::hex8(crc32fast::hash(&bytes[line_start..crc_at]));
    bytes[crc_at + 8..crc_at + 16].copy_from_slice(&crc);
    fs.put(LOG, &bytes);
    let err = check_chain(&fs, &ledger).unwrap_err();
    assert!(err.contains("seq 3"), "{err}");
}
