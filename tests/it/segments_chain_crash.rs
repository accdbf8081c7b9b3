//! A chained segmented log on the simulated file system: every crash state of chained appends
//! across rolls (plain and preallocated segments, handles opened with and without
//! `Options::chain`, a segment left empty by a roll whose append then wrote nothing), of
//! retention writing its anchors to `ndlog.chain` before it removes segments (including every
//! segment before an empty active one, whose writer must then continue from the anchor), and of
//! a key compaction of sealed segments writing its anchors before each rename; and every
//! operation of those workloads failed in turn. Beyond the ledger's check (every acknowledged
//! record recovered, once, in order, nothing invented), the chain must verify through every
//! acknowledged record, and the record the recovering writer appends — a writer opened without
//! `Options::chain`, which finds the log chained and the chain value at its end by itself — must
//! link to the record before it.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ndlog::chain::ChainFile;
use ndlog::format::chain::{self, ChainValue};
use ndlog::segments::{SegmentedReader, Settings};
use ndlog::sim::{Fate, Fault, Ledger, SimFs};
use ndlog::{Compactor, Expect, JsonPointer, Options, Policy};

const DIR: &str = "/data/chained";

type Workload = fn(&SimFs, &mut Ledger) -> ndlog::Result<()>;

fn fresh(seed: u64) -> SimFs {
    let fs = SimFs::new(seed);
    fs.put("/data/.keep", b"");
    fs
}

fn payload(tag: &str, i: usize) -> Vec<u8> {
    format!(r#"{{"k":{},"t":"{tag}{i}","pad":"{}"}}"#, i % 3, "c".repeat(i * 97 % 700)).into_bytes()
}

/// Segments of three records; the options a writer that does not ask for a chain opens with.
fn plain() -> Options {
    let settings = Settings { segment_records: Some(3), ..Settings::new(2 << 20) };
    Options::new().segments(settings).index_stride(2)
}

/// Preallocated segments of 8 KiB, four records each, written in place.
fn preallocated() -> Options {
    let settings =
        Settings { segment_records: Some(4), preallocate: true, ..Settings::new(8 << 10) };
    let options = Options::new().segments(settings).max_record_size(2048).index_stride(2);
    options.prepare_segments_in_background(false)
}

fn append(
    w: &ndlog::Writer<SimFs>,
    ledger: &mut Ledger,
    tag: &str,
    i: usize,
) -> ndlog::Result<u64> {
    let p = payload(tag, i);
    ledger.attempt(&p);
    let seq = w.append_raw(&p)?.seq;
    ledger.acknowledge(seq, &p);
    Ok(seq)
}

fn batch(w: &ndlog::Writer<SimFs>, ledger: &mut Ledger, tag: &str, n: usize) -> ndlog::Result<()> {
    let batch: Vec<Vec<u8>> = (0..n).map(|i| payload(tag, i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    Ok(())
}

/// A conditional append that rolls the full active segment, then finds its expectation wrong
/// and writes nothing: the log's new active segment holds no record, and the next writer's
/// chain value must come from the segment before it.
fn roll_without_a_record(w: &ndlog::Writer<SimFs>, ledger: &mut Ledger) -> ndlog::Result<()> {
    let p = payload("never", 0);
    ledger.attempt(&p);
    match w.append_raw_if(Expect::LastSeq(u64::MAX), &p) {
        Err(e) if matches!(e.kind(), ndlog::ErrorKind::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
        Ok(_) => panic!("an append whose expectation is wrong was written"),
    }
}

/// Chained appends across rolls: a handle that creates the log chained, one opened without
/// `Options::chain` (the log's `ndlog.chain` makes it chain), a batch across a roll, a roll
/// that leaves the active segment empty, and a reopen.
fn chained_rolls(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = plain().chain(true).open_in(fs.clone(), DIR)?;
    let other = plain().open_in(fs.clone(), DIR)?;
    for i in 0..4 {
        append(&w, ledger, "w", i)?;
    }
    batch(&w, ledger, "b", 4)?;
    for i in 0..2 {
        append(&other, ledger, "o", i)?;
        append(&w, ledger, "w", i + 4)?;
    }
    roll_without_a_record(&w, ledger)?;
    append(&other, ledger, "o", 2)?;
    drop((w, other));
    let w = plain().open_in(fs.clone(), DIR)?;
    for i in 0..2 {
        append(&w, ledger, "r", i)?;
    }
    Ok(())
}

/// The same across preallocated segments (padding after the records, trimmed at the seal): an
/// empty preallocated active segment takes its value from the sealed one before it. The log is
/// created unchained and made chained by the first writer asking for it, before any record.
fn chained_preallocated(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    drop(preallocated().open_in(fs.clone(), DIR)?);
    let w = preallocated().chain(true).open_in(fs.clone(), DIR)?;
    let other = preallocated().open_in(fs.clone(), DIR)?;
    for i in 0..4 {
        append(&w, ledger, "p", i)?;
    }
    roll_without_a_record(&w, ledger)?;
    append(&other, ledger, "po", 0)?;
    batch(&w, ledger, "pb", 3)?;
    for i in 0..2 {
        append(&other, ledger, "po", i + 1)?;
        append(&w, ledger, "pw", i)?;
    }
    Ok(())
}

/// Retention by `keep_last` (anchors first, then the removals), appends, then a roll that
/// leaves the active segment empty and retention by age removing every segment before it: a
/// new writer continues the chain from the anchor alone.
fn chained_retention(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = plain().chain(true).open_in(fs.clone(), DIR)?;
    let mut seqs = Vec::new();
    for i in 0..10 {
        seqs.push(append(&w, ledger, "k", i)?);
    }
    // From the start of a retention run, what its policy removes is no longer required.
    for seq in &seqs[..6] {
        ledger.forget(*seq);
    }
    Compactor::new_in(fs.clone(), DIR, Policy::new().keep_last(4)).run()?;
    for i in 10..12 {
        seqs.push(append(&w, ledger, "k", i)?);
    }
    roll_without_a_record(&w, ledger)?;
    drop(w);
    // Every record now lies in a sealed segment, all of them older than the age.
    std::thread::sleep(Duration::from_millis(3));
    for seq in &seqs {
        ledger.forget(*seq);
    }
    Compactor::new_in(fs.clone(), DIR, Policy::new().max_age(Duration::from_millis(1))).run()?;
    let w = plain().open_in(fs.clone(), DIR)?;
    for i in 0..4 {
        append(&w, ledger, "a", i)?;
    }
    Ok(())
}

/// Key compaction of sealed segments while a writer appends: each rewritten segment's anchors
/// reach `ndlog.chain` before its rename.
fn chained_key_compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = plain().chain(true).open_in(fs.clone(), DIR)?;
    let mut seqs = Vec::new();
    for i in 0..10 {
        seqs.push(append(&w, ledger, "kc", i)?);
    }
    // Superseded versions may go (each segment keeps its last record in any case).
    for seq in &seqs[..7] {
        ledger.forget(*seq);
    }
    let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
    Compactor::new_in(fs.clone(), DIR, policy).run()?;
    for i in 10..13 {
        append(&w, ledger, "kc", i)?;
    }
    Ok(())
}

/// The chain value before the record `seq` as the log and its chain file say: the stored link
/// of the record `seq - 1`, else the anchor for `seq`.
fn value_before(
    log: &SegmentedReader<SimFs>,
    file: Option<&ChainFile>,
    seq: u64,
) -> Option<ChainValue> {
    match log.get(seq - 1) {
        Some(r) => chain::link_of(r.line),
        None => file.and_then(|f| f.anchor(seq)),
    }
}

/// The chain of the log holds through every acknowledged record (a failure, if any, comes after
/// the last one: records never acknowledged that a crash kept out of order), and a chained log
/// has its `ndlog.chain`. With `newest_links`, the log's last record (the recovery append)
/// links to the record before it.
/// A log created unchained may be found so when nothing was acknowledged (`created_chained`
/// false: the writer that marks it chained had not yet).
fn check_chain(fs: &SimFs, last_acked: u64, newest_links: bool) -> Result<(), String> {
    check_chain_of(fs, last_acked, newest_links, true)
}

fn check_chain_of(
    fs: &SimFs,
    last_acked: u64,
    newest_links: bool,
    created_chained: bool,
) -> Result<(), String> {
    let log = match SegmentedReader::open_in(fs.clone(), DIR) {
        Ok(log) => log,
        Err(_) if last_acked == 0 && !newest_links => return Ok(()),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    let file = ChainFile::load(fs, Path::new(DIR)).map_err(|e| e.to_string())?;
    match file {
        Some(_) => {}
        // A log created chained has its chain file durable before its settings.
        None if created_chained => return Err("a chained segmented log without ndlog.chain".into()),
        None if last_acked == 0 => return Ok(()),
        None => return Err(format!("acknowledged seq {last_acked} in a log without ndlog.chain")),
    }
    let report = log.verify_chain(file.as_ref());
    if let Some(f) = report.failure.filter(|f| f.seq <= last_acked) {
        return Err(format!("chain broken at {f}, at or before acknowledged seq {last_acked}"));
    }
    if newest_links {
        let last = log.last().ok_or("no record after the recovery append")?;
        let before = value_before(&log, file.as_ref(), last.seq)
            .ok_or(format!("no chain value before the recovery append (seq {})", last.seq))?;
        chain::check(&before, last.line).map_err(|e| {
            format!("the recovery append (seq {}) does not link to the log: {e}", last.seq)
        })?;
    }
    Ok(())
}

/// The ledger's check and recovery (a writer opened without `Options::chain` appends once),
/// then the chain's.
fn check_and_recover(
    fs: &SimFs,
    ledger: &Ledger,
    options: &Options,
    created_chained: bool,
) -> Result<(), String> {
    let last_acked = ledger.acknowledged().keys().next_back().copied().unwrap_or(0);
    // A log whose settings never became durable was never created: the recovering writer
    // creates a log of its own options (no chain) and nothing was acknowledged.
    let born = Settings::load(fs, Path::new(DIR)).is_ok();
    check_chain_of(fs, last_acked, false, created_chained)?;
    ledger.check_and_recover_with(fs, DIR, options).map_err(|v| v.to_string())?;
    match born {
        true => check_chain_of(fs, last_acked, true, created_chained),
        false if last_acked == 0 => Ok(()),
        false => Err(format!("acknowledged seq {last_acked} in a log without settings")),
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

/// A workload, the options its log is recovered with (no chain), and whether it creates the log
/// chained (else a writer marks it chained before the first record).
struct Case {
    name: &'static str,
    workload: Workload,
    options: fn() -> Options,
    created_chained: bool,
}

const WORKLOADS: [Case; 4] = [
    Case { name: "chained rolls", workload: chained_rolls, options: plain, created_chained: true },
    Case {
        name: "chained preallocated rolls, marked chained after creation",
        workload: chained_preallocated,
        options: preallocated,
        created_chained: false,
    },
    Case {
        name: "chained retention (anchors)",
        workload: chained_retention,
        options: plain,
        created_chained: true,
    },
    Case {
        name: "chained key compaction (anchors)",
        workload: chained_key_compaction,
        options: plain,
        created_chained: true,
    },
];

#[test]
fn every_crash_state_of_a_chained_segmented_log_recovers_with_its_chain_intact() {
    let (mut total, mut violations) = (0u64, Vec::new());
    for Case { name, workload, options, created_chained } in WORKLOADS {
        let dry = fresh(1);
        workload(&dry, &mut Ledger::default()).expect("the workload runs without faults");
        check_chain(&dry, u64::MAX, false).expect("the chain holds without faults");
        let ops = dry.ops();
        let mut states = 0u64;
        for k in 0..=ops {
            let fs = fresh(1);
            fs.halt_after(k);
            let mut ledger = Ledger::default();
            let _ = workload(&fs, &mut ledger);
            for (what, crashed) in crash_states(&fs, k) {
                states += 1;
                if let Err(v) = check_and_recover(&crashed, &ledger, &options(), created_chained) {
                    violations.push(format!("{name}: crash after op {k} of {ops}, {what}: {v}"));
                }
            }
        }
        total += states;
        report(&format!("segmented chain crash states: {name}: {ops} operations, {states} states"));
    }
    report(&format!(
        "segmented chain crash states: {total} checked, {} violations",
        violations.len()
    ));
    assert!(total >= 2_000, "only {total} crash states");
    assert!(
        violations.is_empty(),
        "{} violations: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

#[test]
fn every_operation_failed_in_turn_leaves_a_segmented_chain_that_verifies() {
    let (mut runs, mut violations, mut reported) = (0u64, Vec::new(), 0u64);
    for Case { name, workload, options, created_chained } in WORKLOADS {
        for fault in [Fault::Io, Fault::ShortWrite] {
            for persistent in [false, true] {
                for n in 1.. {
                    let fs = fresh(3);
                    fs.fail_at(n, fault, persistent);
                    let mut ledger = Ledger::default();
                    let result = workload(&fs, &mut ledger);
                    runs += 1;
                    reported += u64::from(result.is_err());
                    // What was acknowledged survives a crash that drops everything unsynced,
                    // and a fresh open recovers with the chain intact.
                    fs.heal();
                    let crashed = fs.crash(|_| Fate::Dropped, usize::MAX);
                    if let Err(v) =
                        check_and_recover(&crashed, &ledger, &options(), created_chained)
                    {
                        violations.push(format!(
                            "{name}: {fault:?} at op {n} (persistent {persistent}): {v}"
                        ));
                    }
                    if result.is_ok() {
                        break;
                    }
                }
            }
        }
    }
    report(&format!(
        "segmented chain I/O errors: {runs} runs, {reported} reported the error, {} violations",
        violations.len()
    ));
    assert!(runs > 400, "only {runs} runs");
    assert!(
        violations.is_empty(),
        "{} violations: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

/// Rewrites the record `seq` of the log on `fs` with `edit` applied to its line, and its CRC
/// refitted: only the chain can tell.
fn edit_record(fs: &SimFs, seq: u64, edit: impl FnOnce(&mut Vec<u8>)) {
    let log = SegmentedReader::open_in(fs.clone(), DIR).unwrap();
    let part = log.part_of(seq).unwrap();
    let path = part.path().to_path_buf();
    let record = part.reader.get(seq).unwrap();
    let (start, end) = (record.offset as usize, record.offset as usize + record.line.len());
    drop(log);
    let mut bytes = fs.contents(&path).unwrap();
    let mut line = bytes[start..end].to_vec();
    edit(&mut line);
    let crc_at = line.len() - ndlog::format::TRAILER_LEN;
    let crc = ndlog::format::hex8(crc32fast::hash(&line[..crc_at]));
    line[crc_at + 8..crc_at + 16].copy_from_slice(&crc);
    bytes.splice(start..end, line);
    fs.put(&path, &bytes);
}

/// The controls: the check above fails when a link is broken in a sealed segment or in the
/// active one, when the recovery append is not linked, and when retention's anchors are gone.
#[test]
fn the_segmented_chain_check_catches_what_it_rules_out() {
    let fs = fresh(1);
    let mut ledger = Ledger::default();
    chained_rolls(&fs, &mut ledger).unwrap();
    check_chain(&fs, u64::MAX, false).unwrap();
    for seq in [2, 14] {
        let edited = fs.crash(|_| Fate::Kept, usize::MAX);
        edit_record(&edited, seq, |line| {
            let at = line.windows(4).position(|w| w == b"\"t\":").unwrap() + 5;
            line[at] = if line[at] == b'x' { b'y' } else { b'x' };
        });
        let err = check_chain(&edited, u64::MAX, false).unwrap_err();
        assert!(err.contains(&format!("seq {seq} at byte")), "{err}");
    }
    // An unlinked newest record: a writer that continued from the wrong value.
    let edited = fs.crash(|_| Fate::Kept, usize::MAX);
    let last = SegmentedReader::open_in(edited.clone(), DIR).unwrap().last().unwrap().seq;
    edit_record(&edited, last, |line| {
        let at = line.windows(9).position(|w| w == b"\"chain\":\"").unwrap() + 9;
        line[at] = if line[at] == b'0' { b'1' } else { b'0' };
    });
    let err = check_chain(&edited, 0, true).unwrap_err();
    assert!(err.contains("does not link"), "{err}");

    let fs = fresh(1);
    chained_retention(&fs, &mut Ledger::default()).unwrap();
    check_chain(&fs, u64::MAX, true).unwrap();
    let mut file = ChainFile::load(&fs, Path::new(DIR)).unwrap().unwrap();
    // Retention by age removed every segment before the empty active one: the writer that
    // appended next continued the chain from the anchor alone.
    let log = SegmentedReader::open_in(fs.clone(), DIR).unwrap();
    let first = log.first().unwrap().seq;
    assert!(log.get(first - 1).is_none() && file.anchors.contains_key(&first), "{first}");
    assert_eq!(log.parts().len(), 2, "the segment the writer continued and the next");
    drop(log);
    file.anchors.clear();
    file.store(&fs, Path::new(DIR), 0o600).unwrap();
    let err = check_chain(&fs, u64::MAX, false).unwrap_err();
    assert!(err.contains("no anchor"), "{err}");
}
