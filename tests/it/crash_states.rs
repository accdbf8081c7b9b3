//! Crash-state enumeration on the simulated file system. Each workload is run once to count
//! its operations; then, for every prefix of its operations (the machine stops after op k),
//! the crash states are built: every pending write kept, dropped, torn in half, torn at sector
//! boundaries, zeroed or garbled in turn, every surviving prefix of pending directory
//! operations, and seeded random combinations (which reorder unsynced writes). From each,
//! recovery must find every acknowledged record exactly once and in order, invent nothing,
//! and append again.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ndlog::segments::Settings;
use ndlog::sim::{Fate, Ledger, SimFs};
use ndlog::{Compactor, Durability, ErrorKind, Expect, JsonPointer, Options, Policy};

const LOG: &str = "/data/log.ndjson";

/// A workload: drives the file system and records attempts and acknowledgements. It stops at
/// the first error, as an application whose machine stopped would.
type Workload = fn(&SimFs, &mut Ledger) -> ndlog::Result<()>;

fn payload(tag: &str, i: usize) -> Vec<u8> {
    format!(r#"{{"w":"{tag}","i":{i},"pad":"{}"}}"#, "q".repeat(i * 37 % 90)).into_bytes()
}

fn append(
    w: &ndlog::Writer<SimFs>,
    ledger: &mut Ledger,
    tag: &str,
    i: usize,
    ack: bool,
) -> ndlog::Result<u64> {
    let p = payload(tag, i);
    ledger.attempt(&p);
    let a = w.append_raw(&p)?;
    if ack {
        ledger.acknowledge(a.seq, &p);
    }
    Ok(a.seq)
}

fn always(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..12 {
        append(&w, ledger, "a", i, true)?;
    }
    // Records larger than a sector, so that sector-sized tears split them.
    for i in 0..3 {
        let p = format!(r#"{{"big":{i},"pad":"{}"}}"#, "B".repeat(1500)).into_bytes();
        ledger.attempt(&p);
        let seq = w.append_raw(&p)?.seq;
        ledger.acknowledge(seq, &p);
    }
    let batch: Vec<Vec<u8>> = (0..5).map(|i| payload("b", i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    Ok(())
}

fn group(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w =
        Options::new().durability(Durability::Group).index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..14 {
        append(&w, ledger, "g", i, true)?;
    }
    Ok(())
}

fn never_with_syncs(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w =
        Options::new().durability(Durability::Never).index_stride(4).open_in(fs.clone(), LOG)?;
    let mut unsynced = Vec::new();
    for i in 0..16 {
        let p = payload("n", i);
        ledger.attempt(&p);
        unsynced.push((w.append_raw(&p)?.seq, p));
        // Never promises durability only once sync() returns.
        if i % 5 == 4 {
            w.sync()?;
            for (seq, p) in unsynced.drain(..) {
                ledger.acknowledge(seq, &p);
            }
        }
    }
    Ok(())
}

fn two_writers(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // Two handles with their own lock descriptors, like two processes, interleaved.
    let a = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let b =
        Options::new().durability(Durability::Group).index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..8 {
        append(&a, ledger, "x", i, true)?;
        append(&b, ledger, "y", i, true)?;
    }
    Ok(())
}

fn exclusive(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // A handle that holds the lock for its life and trusts its cached tail and index state:
    // `Always` appends, then a `Never` handle's appends made durable by `sync`.
    {
        let w = Options::new().exclusive(true).index_stride(4).open_in(fs.clone(), LOG)?;
        for i in 0..9 {
            append(&w, ledger, "e", i, true)?;
        }
    }
    let w = Options::new()
        .exclusive(true)
        .durability(Durability::Never)
        .index_stride(4)
        .open_in(fs.clone(), LOG)?;
    let batch: Vec<Vec<u8>> = (0..6).map(|i| payload("f", i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    w.sync()?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    Ok(())
}

/// The writer lock of the single-file log.
const LOCK: &str = "/data/log.ndjson.lock";

/// Records another handle acknowledged while a step of this one ran (`SimFs::after_next_unlock`).
type Acks = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

fn enter(acks: &Acks, ledger: &mut Ledger) {
    for (seq, p) in acks.lock().unwrap().drain(..) {
        ledger.acknowledge(seq, &p);
    }
}

/// Two writers of one log with `Always`, as two processes: each time A has written its record
/// and released the lock, B appends and syncs before A's next step, so A finds its record
/// covered by B's published sync and acknowledges it without an `fdatasync` of its own.
fn shared_syncs(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let a = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let b = Arc::new(Options::new().index_stride(4).open_in(fs.clone(), LOG)?);
    // Each looks at the file once: a mark there before is not trusted.
    append(&a, ledger, "a", 0, true)?;
    append(&b, ledger, "b", 0, true)?;
    let acks: Acks = Arc::default();
    for i in 1..7 {
        let (b2, acks2) = (b.clone(), acks.clone());
        let p = payload("b", i);
        ledger.attempt(&p);
        fs.after_next_unlock(LOCK, move || {
            if let Ok(ack) = b2.append_raw(&p) {
                acks2.lock().unwrap().push((ack.seq, p));
            }
        });
        let appended = append(&a, ledger, "a", i, true);
        enter(&acks, ledger);
        appended?;
    }
    Ok(())
}

/// A `Never` writer's records, written between an `Always` writer's write and its sync, are
/// covered by that sync (which reads the end of the file before it begins and publishes it):
/// the `Never` writer's `sync()` then finds them durable without an `fdatasync` of its own.
fn covered_by_another_sync(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let a = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let n = Arc::new(
        Options::new().durability(Durability::Never).index_stride(4).open_in(fs.clone(), LOG)?,
    );
    append(&a, ledger, "a", 0, true)?;
    let seq = append(&n, ledger, "n", 0, false)?;
    n.sync()?;
    ledger.acknowledge(seq, &payload("n", 0));
    let written: Acks = Arc::default();
    for i in 1..6 {
        let (n2, written2) = (n.clone(), written.clone());
        let p = payload("n", i);
        ledger.attempt(&p);
        fs.after_next_unlock(LOCK, move || {
            if let Ok(ack) = n2.append_raw(&p) {
                written2.lock().unwrap().push((ack.seq, p));
            }
        });
        let appended = append(&a, ledger, "a", i, true);
        let synced = appended.and_then(|_| n.sync());
        if synced.is_ok() {
            // Durable once its sync returned (here, covered by A's).
            enter(&written, ledger);
        }
        synced?;
    }
    Ok(())
}

/// The control for the two above: a "writer" that publishes a mark before its sync (here, a
/// mark forged between A's write and A's check, covering everything). A trusts it, skips its
/// sync, and a crash takes back what it acknowledged.
fn mark_published_before_its_sync(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let a = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let b = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    // Each sees the other append, and takes its first look at the watermark.
    for i in 0..2 {
        append(&a, ledger, "a", i, true)?;
        append(&b, ledger, "b", i, true)?;
    }
    for i in 2..5 {
        let fs2 = fs.clone();
        fs.after_next_unlock(LOCK, move || {
            use ndlog::fs::{Create, OpenOptions, Vfs, VfsFile};
            let Ok(meta) = fs2.metadata(Path::new(LOG)) else { return };
            let end = (1 << 40) + i as u64;
            let mark = ndlog::consume::Watermark { file: meta.id, end, seq: end };
            let how = OpenOptions::read_write(Create::No, 0);
            if let Ok(f) = fs2.open(Path::new("/data/log.ndjson.watermark"), how) {
                let _ = f.write_at(&mark.encode(), 0);
            }
        });
        append(&a, ledger, "a", i, true)?;
    }
    Ok(())
}

fn torn_tail_repair(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // A log left by a crash: two records, then a torn one.
    let mut bytes = Vec::new();
    ndlog::format::encode(&mut bytes, 1, 5, &payload("old", 0));
    ndlog::format::encode(&mut bytes, 2, 6, &payload("old", 1));
    ledger.acknowledge(1, &payload("old", 0));
    ledger.acknowledge(2, &payload("old", 1));
    bytes.extend_from_slice(br#"{"seq":3,"ts":7,"data":{"w":"torn""#);
    if !fs.contents(LOG).is_some_and(|c| c.starts_with(&bytes[..20])) {
        fs.put(LOG, &bytes);
        fs.put("/data/log.ndjson.lock", b"ndlog lock v1\n");
    }
    let w = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..6 {
        append(&w, ledger, "r", i, true)?;
    }
    Ok(())
}

fn compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let mut seqs = Vec::new();
    for i in 0..10 {
        // Keys 0..4 repeat: the older versions may be dropped by the compaction.
        let p = format!(r#"{{"k":{},"i":{i}}}"#, i % 5).into_bytes();
        ledger.attempt(&p);
        let seq = w.append_raw(&p)?.seq;
        ledger.acknowledge(seq, &p);
        seqs.push(seq);
    }
    // From the moment the compaction starts it may drop the first five (superseded): the
    // checker no longer requires them, but still rejects anything invented.
    for seq in &seqs[..5] {
        ledger.forget(*seq);
    }
    let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
    Compactor::new_in(fs.clone(), LOG, policy).run()?;
    for i in 10..14 {
        append(&w, ledger, "c", i, true)?;
    }
    Ok(())
}

/// A key compaction that dies between renaming the new log over the path and fsyncing the
/// directory (its directory fsync fails, as when the compactor is killed there): the rename is
/// visible but not durable, and the lock is free again.
fn compaction_dies_before_dir_sync(
    fs: &SimFs,
    ledger: &mut Ledger,
) -> ndlog::Result<ndlog::Writer<SimFs>> {
    let w = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let mut seqs = Vec::new();
    for i in 0..8 {
        let p = format!(r#"{{"k":{},"i":{i}}}"#, i % 4).into_bytes();
        ledger.attempt(&p);
        let seq = w.append_raw(&p)?.seq;
        ledger.acknowledge(seq, &p);
        seqs.push(seq);
    }
    for seq in &seqs[..4] {
        ledger.forget(*seq);
    }
    let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
    fs.fail_next_dir_sync();
    let died = Compactor::new_in(fs.clone(), LOG, policy).run();
    assert!(died.is_err(), "the compaction's directory fsync was to fail");
    Ok(w)
}

fn writer_after_dying_compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // The writer that was open during the compaction goes on: it reopens the renamed file.
    let w = compaction_dies_before_dir_sync(fs, ledger)?;
    for i in 0..4 {
        append(&w, ledger, "after", i, true)?;
    }
    Ok(())
}

fn new_writer_after_dying_compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // Another process opens the log after the compaction died and appends.
    drop(compaction_dies_before_dir_sync(fs, ledger)?);
    let w = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    for i in 0..4 {
        append(&w, ledger, "fresh", i, true)?;
    }
    Ok(())
}

fn conditional(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    // append_if and transactions are ordinary appends once their check passed: a conflict
    // writes nothing, a success is acknowledged like any append.
    let key = JsonPointer::parse("/w").unwrap();
    let w = Options::new().entity_key(key.clone()).index_stride(4).open_in(fs.clone(), LOG)?;
    let mut last = 0;
    for i in 0..4 {
        let p = payload(&format!("k{i}"), i);
        ledger.attempt(&p);
        last = w.append_raw_if(Expect::Version(0), &p)?.seq;
        ledger.acknowledge(last, &p);
        // A conflict: the entity exists now.
        assert!(w.append_raw_if(Expect::Version(0), &p).is_err());
    }
    let batch: Vec<Vec<u8>> = (0..3).map(|i| payload("b", i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch_if(Expect::LastSeq(last), &batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    for round in 0..3 {
        let staged: Vec<Vec<u8>> = (0..2).map(|i| payload(&format!("t{round}"), i)).collect();
        ledger.attempt_write(&staged);
        let (version, ack) = w.transaction(|tx| {
            let v = tx.version("k1")?;
            staged.iter().try_for_each(|p| tx.append_raw(p))?;
            Ok::<_, ndlog::Error>(v)
        })?;
        assert_eq!(version, 2, "k1 was written second");
        for (seq, p) in ack.seqs().zip(&staged) {
            ledger.acknowledge(seq, p);
        }
    }
    // An exclusive `Never` handle's transaction, made durable by sync.
    drop(w);
    let w = Options::new()
        .exclusive(true)
        .durability(Durability::Never)
        .entity_key(key)
        .open_in(fs.clone(), LOG)?;
    let staged: Vec<Vec<u8>> = (0..3).map(|i| payload("x", i)).collect();
    ledger.attempt_write(&staged);
    let ((), ack) = w.transaction(|tx| staged.iter().try_for_each(|p| tx.append_raw(p)))?;
    w.sync()?;
    for (seq, p) in ack.seqs().zip(&staged) {
        ledger.acknowledge(seq, p);
    }
    Ok(())
}

/// A segmented log: segments of three records.
const SEGMENTED: &str = "/data/seglog";

fn segment_settings() -> Settings {
    Settings { segment_records: Some(3), ..Settings::new(2 << 20) }
}

fn segmented_writer(fs: &SimFs) -> ndlog::Result<ndlog::Writer<SimFs>> {
    Options::new().segments(segment_settings()).index_stride(2).open_in(fs.clone(), SEGMENTED)
}

/// Appends that roll segments: single records, a batch across a roll, a second handle that
/// notices the other's rolls, and a reopen.
fn segment_rolls(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = segmented_writer(fs)?;
    let other = segmented_writer(fs)?;
    for i in 0..5 {
        append(&w, ledger, "s", i, true)?;
    }
    let batch: Vec<Vec<u8>> = (0..4).map(|i| payload("sb", i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    for i in 0..4 {
        append(&other, ledger, "o", i, true)?;
        append(&w, ledger, "w", i, true)?;
    }
    drop((w, other));
    let w = segmented_writer(fs)?;
    for i in 0..2 {
        append(&w, ledger, "r", i, true)?;
    }
    Ok(())
}

/// A handle that does not sync fills a segment; another handle's append rolls it. The roll
/// makes the sealed segment durable first: otherwise a crash could take its last records and
/// leave seqs missing between it and the next segment.
fn segment_roll_seals_unsynced(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let lazy = Options::new()
        .segments(segment_settings())
        .durability(Durability::Never)
        .open_in(fs.clone(), SEGMENTED)?;
    let w = segmented_writer(fs)?;
    for round in 0..3 {
        for i in 0..3 {
            let p = payload(&format!("lazy{round}"), i);
            ledger.attempt(&p);
            lazy.append_raw(&p)?;
        }
        append(&w, ledger, &format!("roll{round}"), 0, true)?;
    }
    Ok(())
}

/// A preallocated segmented log: segments of 8 KiB written in place, trimmed when sealed.
const PREALLOCATED: &str = "/data/prealloc";

fn preallocated_options() -> Options {
    let settings =
        Settings { segment_records: Some(4), preallocate: true, ..Settings::new(8 << 10) };
    let options = Options::new().segments(settings).max_record_size(2048).index_stride(2);
    options.prepare_segments_in_background(false)
}

/// Appends in place into preallocated segments across rolls, from two handles, with a batch
/// and records larger than a sector.
fn preallocated_rolls(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = preallocated_options().open_in(fs.clone(), PREALLOCATED)?;
    let other = preallocated_options().open_in(fs.clone(), PREALLOCATED)?;
    for i in 0..3 {
        append(&w, ledger, "p", i, true)?;
    }
    let big = format!(r#"{{"big":1,"pad":"{}"}}"#, "B".repeat(700)).into_bytes();
    ledger.attempt(&big);
    let seq = other.append_raw(&big)?.seq;
    ledger.acknowledge(seq, &big);
    let batch: Vec<Vec<u8>> = (0..3).map(|i| payload("pb", i)).collect();
    ledger.attempt_write(&batch);
    let ack = w.append_raw_batch(&batch)?;
    for (seq, p) in ack.seqs().zip(&batch) {
        ledger.acknowledge(seq, p);
    }
    for i in 0..3 {
        append(&other, ledger, "po", i, true)?;
        append(&w, ledger, "pw", i, true)?;
    }
    // A handle that found the end by discovery (rounded up to a block past the padding's
    // start), then another handle's append below that: the first must see it.
    let late = preallocated_options().open_in(fs.clone(), PREALLOCATED)?;
    append(&w, ledger, "pl", 0, true)?;
    append(&late, ledger, "pl", 1, true)?;
    append(&w, ledger, "pl", 2, true)?;
    Ok(())
}

/// Retention removes whole sealed segments while a writer keeps appending.
fn segment_retention(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = segmented_writer(fs)?;
    let mut seqs = Vec::new();
    for i in 0..10 {
        seqs.push(append(&w, ledger, "k", i, true)?);
    }
    // Keep the newest 4: from here on the older ones may go (whole segments only).
    for seq in &seqs[..6] {
        ledger.forget(*seq);
    }
    Compactor::new_in(fs.clone(), SEGMENTED, Policy::new().keep_last(4)).run()?;
    for i in 10..14 {
        append(&w, ledger, "k", i, true)?;
    }
    Ok(())
}

/// Key compaction rewrites sealed segments (temp, fsync, rename, directory fsync) while a
/// writer appends to the active one.
fn segment_key_compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let w = segmented_writer(fs)?;
    let mut seqs = Vec::new();
    for i in 0..10 {
        let p = format!(r#"{{"k":{},"i":{i}}}"#, i % 3).into_bytes();
        ledger.attempt(&p);
        let seq = w.append_raw(&p)?.seq;
        ledger.acknowledge(seq, &p);
        seqs.push(seq);
    }
    // Superseded versions may go, except what the newest of each key keeps.
    for seq in &seqs[..7] {
        ledger.forget(*seq);
    }
    let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
    Compactor::new_in(fs.clone(), SEGMENTED, policy).run()?;
    for i in 10..13 {
        append(&w, ledger, "kc", i, true)?;
    }
    Ok(())
}

/// Runs `workload` on a fresh file system with `/data` present.
/// Writers that do not sync each append (`Never`, made durable by a `sync` or by another
/// writer's sync) and a follower reading between their appends, across a compaction. Every
/// record the follower returns is entered in the ledger as acknowledged: a committed reader
/// must never have returned a record that a crash then takes back.
fn reader_workload(fs: &SimFs, ledger: &mut Ledger, committed: bool) -> ndlog::Result<()> {
    let never =
        Options::new().durability(Durability::Never).index_stride(4).open_in(fs.clone(), LOG)?;
    let group =
        Options::new().durability(Durability::Group).index_stride(4).open_in(fs.clone(), LOG)?;
    let mut follow: Option<ndlog::Follow<SimFs>> = None;
    let mut dropped_by_compaction = None;
    for i in 0..14 {
        // Two records share a key, so that the compaction below has one to drop.
        let key = if i < 2 { "dup".to_string() } else { format!("k{i}") };
        let p = format!(r#"{{"k":"{key}","i":{i}}}"#).into_bytes();
        ledger.attempt(&p);
        let seq = if i % 4 == 1 {
            // Acknowledged, and its sync covers the unsynced records before it.
            let seq = group.append_raw(&p)?.seq;
            ledger.acknowledge(seq, &p);
            seq
        } else {
            never.append_raw(&p)?.seq
        };
        if i == 0 {
            dropped_by_compaction = Some(seq);
        }
        if i % 5 == 3 {
            never.sync()?;
        }
        if i == 8 {
            // The policy may drop it from here on (the follower returned it long ago).
            ledger.forget(dropped_by_compaction.unwrap());
            let policy = Policy::new().key(JsonPointer::parse("/k").unwrap());
            Compactor::new_in(fs.clone(), LOG, policy).run()?;
        }
        let f = match &mut follow {
            Some(f) => f,
            None => {
                let f = ndlog::Reader::open_in(fs.clone(), LOG)?.follow();
                follow.insert(if committed { f } else { f.uncommitted() })
            }
        };
        while let Some(r) = f.next_within(Some(std::time::Duration::ZERO))? {
            // What a consumer would have shipped and checkpointed.
            ledger.acknowledge(r.seq, r.data);
        }
    }
    Ok(())
}

fn committed_reader(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    reader_workload(fs, ledger, true)
}

fn uncommitted_reader(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    reader_workload(fs, ledger, false)
}

/// [`reader_workload`] on a segmented log (plain or preallocated): records that do not sync
/// (`Never`) fill segments that another handle's appends roll, retention removes sealed
/// segments, and a follower reads between the appends; every record it returns enters the
/// ledger as acknowledged.
fn segmented_reader_workload(
    fs: &SimFs,
    ledger: &mut Ledger,
    committed: bool,
    log: &str,
) -> ndlog::Result<()> {
    let options = || match log {
        PREALLOCATED => preallocated_options(),
        _ => Options::new().segments(segment_settings()).index_stride(2),
    };
    let never = options().durability(Durability::Never).open_in(fs.clone(), log)?;
    let group = options().durability(Durability::Group).open_in(fs.clone(), log)?;
    let mut follow = ndlog::segments::SegmentedFollow::after_in(fs.clone(), log, 0);
    if !committed {
        follow = follow.uncommitted();
    }
    let mut returned = Vec::new();
    for i in 0..13 {
        let p = payload("sr", i);
        ledger.attempt(&p);
        if i % 4 == 2 {
            let seq = group.append_raw(&p)?.seq;
            ledger.acknowledge(seq, &p);
        } else {
            never.append_raw(&p)?;
        }
        if i % 5 == 4 {
            never.sync()?;
        }
        if i == 8 {
            // Retention: the oldest sealed segments may go, and with them what the follower
            // returned from them long ago.
            for seq in returned.drain(..) {
                ledger.forget(seq);
            }
            Compactor::new_in(fs.clone(), log, Policy::new().keep_last(5)).run()?;
        }
        while let Some(r) = follow.next_within(Some(std::time::Duration::ZERO))? {
            ledger.acknowledge(r.seq, r.data);
            returned.push(r.seq);
        }
    }
    Ok(())
}

fn committed_segmented_reader(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    segmented_reader_workload(fs, ledger, true, SEGMENTED)
}

fn committed_preallocated_reader(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    segmented_reader_workload(fs, ledger, true, PREALLOCATED)
}

fn uncommitted_segmented_reader(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    segmented_reader_workload(fs, ledger, false, SEGMENTED)
}

fn fresh(seed: u64) -> SimFs {
    let fs = SimFs::new(seed);
    fs.put("/data/.keep", b"");
    fs
}

/// The crash states of one crash point.
pub(crate) fn crash_states(fs: &SimFs, seed: u64) -> Vec<(String, SimFs)> {
    let pending = fs.pending_writes();
    let dir_ops = fs.pending_dir_ops();
    let mut states = vec![
        ("all kept".to_string(), fs.crash(|_| Fate::Kept, usize::MAX)),
        ("all dropped".to_string(), fs.crash(|_| Fate::Dropped, 0)),
        ("data dropped, names kept".to_string(), fs.crash(|_| Fate::Dropped, usize::MAX)),
    ];
    for p in &pending {
        for fate in [
            Fate::Dropped,
            Fate::Prefix(p.len / 2),
            Fate::Sectors(0b01),
            Fate::Zeroed,
            Fate::Garbage,
        ] {
            let i = p.index;
            states.push((
                format!("write {i} {fate:?}"),
                fs.crash(move |q| if q.index == i { fate } else { Fate::Kept }, usize::MAX),
            ));
        }
        // This write persisted, every earlier pending one did not: a reordering.
        let i = p.index;
        states.push((
            format!("only writes from {i} on"),
            fs.crash(move |q| if q.index < i { Fate::Dropped } else { Fate::Kept }, usize::MAX),
        ));
    }
    for k in 0..dir_ops {
        states.push((format!("{k} of {dir_ops} directory ops"), fs.crash(|_| Fate::Kept, k)));
    }
    for r in 0..6 {
        states.push((format!("random {r}"), fs.crash_random(seed * 1000 + r)));
    }
    states
}

struct Tally {
    states: u64,
    violations: Vec<String>,
}

impl Tally {
    /// Fails unless at least `at_least` states were checked and none broke a promise.
    fn assert_clean(&self, at_least: u64) {
        assert!(self.states >= at_least, "only {} crash states", self.states);
        let v = &self.violations;
        assert!(v.is_empty(), "{} violations, first: {:#?}", v.len(), &v[..v.len().min(10)]);
    }
}

fn enumerate(name: &str, workload: Workload, tally: &mut Tally) -> (u64, u64) {
    enumerate_at(name, workload, LOG, tally)
}

fn enumerate_at(name: &str, workload: Workload, log: &str, tally: &mut Tally) -> (u64, u64) {
    let dry = fresh(1);
    workload(&dry, &mut Ledger::default()).expect("the workload runs without faults");
    let total_ops = dry.ops();
    let mut states = 0u64;
    for k in 0..=total_ops {
        let fs = fresh(1);
        fs.halt_after(k);
        let mut ledger = Ledger::default();
        let _ = workload(&fs, &mut ledger);
        for (what, crashed) in crash_states(&fs, k) {
            states += 1;
            let options = match log {
                SEGMENTED => Options::new().segments(segment_settings()),
                PREALLOCATED => preallocated_options(),
                _ => Options::new(),
            };
            if let Err(v) = ledger.check_and_recover_with(&crashed, log, &options) {
                tally
                    .violations
                    .push(format!("{name}: crash after op {k} of {total_ops}, {what}: {v}"));
            }
        }
    }
    tally.states += states;
    (total_ops, states)
}

fn report(line: &str) {
    // Straight to the terminal: `cargo test` shows it without --nocapture.
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn every_crash_state_recovers_every_acknowledged_record() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let workloads: [(&str, Workload); 13] = [
        ("always", always),
        ("group", group),
        ("never+sync", never_with_syncs),
        ("two writers", two_writers),
        ("exclusive", exclusive),
        ("torn-tail repair", torn_tail_repair),
        ("compaction", compaction),
        ("append_if and transactions", conditional),
        (
            "compaction dies before its directory fsync, writer goes on",
            writer_after_dying_compaction,
        ),
        (
            "compaction dies before its directory fsync, new writer",
            new_writer_after_dying_compaction,
        ),
        ("committed reader", committed_reader),
        ("two processes: a sync published by the other covers a record", shared_syncs),
        ("a Never writer's records covered by another writer's sync", covered_by_another_sync),
    ];
    for (name, workload) in workloads {
        let (ops, states) = enumerate(name, workload, &mut tally);
        report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    }
    report(&format!(
        "crash states: {} checked, {} violations",
        tally.states,
        tally.violations.len()
    ));
    tally.assert_clean(2_000);
}

/// The committed reader is not vacuous: without a crash it returns every record, the
/// unsynced writer's too, once a sync (its own, or the other writer's) covered them.
#[test]
fn a_committed_reader_returns_every_record_once_synced() {
    let fs = fresh(1);
    let mut ledger = Ledger::default();
    committed_reader(&fs, &mut ledger).unwrap();
    let seqs: Vec<u64> = ledger.acknowledged().keys().copied().collect();
    assert_eq!(seqs, (2..=14).collect::<Vec<_>>(), "seq 1 was compacted away");
}

/// The control for the committed reader: the same workload with a follower that returns
/// records as soon as they are written does return records a crash takes back, so the
/// enumeration above can see the failure it rules out.
#[test]
fn an_uncommitted_reader_returns_records_a_crash_takes_back() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let (ops, states) = enumerate("uncommitted reader", uncommitted_reader, &mut tally);
    report(&format!(
        "crash states: uncommitted reader (control): {ops} operations, {states} crash states, {} \
         violations",
        tally.violations.len()
    ));
    assert!(!tally.violations.is_empty(), "an uncommitted follower returned only durable records");
}

/// The control for the shared durable end: trusting a mark published before its sync loses
/// acknowledged records, and the enumeration sees it.
#[test]
fn a_mark_published_before_its_sync_loses_acknowledged_records() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let name = "a mark published before its sync (control)";
    let (ops, states) = enumerate(name, mark_published_before_its_sync, &mut tally);
    report(&format!(
        "crash states: {name}: {ops} operations, {states} crash states, {} violations",
        tally.violations.len()
    ));
    assert!(!tally.violations.is_empty(), "a writer that skipped its sync lost nothing");
}

/// The committed segmented reader is not vacuous: without a crash it returns every record of
/// the `Never` handle too, once a sync or a roll covered it.
#[test]
fn a_committed_segmented_reader_returns_every_record_once_synced() {
    for (log, workload) in [
        (SEGMENTED, committed_segmented_reader as Workload),
        (PREALLOCATED, committed_preallocated_reader),
    ] {
        let fs = fresh(1);
        let mut ledger = Ledger::default();
        workload(&fs, &mut ledger).unwrap();
        // What the follower returned after the retention (earlier ones were forgotten then).
        let returned: Vec<u64> = ledger.acknowledged().keys().copied().collect();
        let (first, last) = (returned[0], *returned.last().unwrap());
        assert!(last >= 11, "{log}: the follower stopped at seq {last}");
        let reader = ndlog::Log::open_in(fs.clone(), log).unwrap();
        let written: Vec<u64> =
            reader.records().map(|r| r.seq).filter(|s| (first..=last).contains(s)).collect();
        assert_eq!(returned, written, "{log}: every record from {first} to {last} returned");
    }
}

/// Its control: an uncommitted follower of the same workload returns records a crash takes
/// back.
#[test]
fn an_uncommitted_segmented_reader_returns_records_a_crash_takes_back() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let name = "uncommitted segmented reader";
    let (ops, states) = enumerate_at(name, uncommitted_segmented_reader, SEGMENTED, &mut tally);
    report(&format!(
        "crash states: {name} (control): {ops} operations, {states} crash states, {} violations",
        tally.violations.len()
    ));
    assert!(!tally.violations.is_empty(), "an uncommitted follower returned only durable records");
}

#[test]
fn every_crash_state_of_a_segmented_log_recovers_every_acknowledged_record() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let workloads: [(&str, Workload); 4] = [
        ("segment rolls", segment_rolls),
        ("a roll seals another handle's unsynced records", segment_roll_seals_unsynced),
        ("segment retention", segment_retention),
        ("key compaction of sealed segments", segment_key_compaction),
    ];
    for (name, workload) in workloads {
        let (ops, states) = enumerate_at(name, workload, SEGMENTED, &mut tally);
        report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    }
    let name = "preallocated segments written in place";
    let (ops, states) = enumerate_at(name, preallocated_rolls, PREALLOCATED, &mut tally);
    report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    let name = "committed reader of a segmented log";
    let (ops, states) = enumerate_at(name, committed_segmented_reader, SEGMENTED, &mut tally);
    report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    let name = "committed reader of preallocated segments";
    let (ops, states) = enumerate_at(name, committed_preallocated_reader, PREALLOCATED, &mut tally);
    report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    report(&format!(
        "crash states (segmented): {} checked, {} violations",
        tally.states,
        tally.violations.len()
    ));
    tally.assert_clean(2_000);
}

#[test]
fn atomic_write_leaves_the_old_or_a_newer_content_in_every_crash_state() {
    // Three replacements in a row. In every crash state of every prefix of the operations the
    // file holds one whole version (never a mix, never missing), and never one older than the
    // last replacement that returned.
    const SIDE: &str = "/data/settings.json";
    let versions: Vec<Vec<u8>> = (0..4)
        .map(|v| format!("{{\"v\":{v},\"pad\":\"{}\"}}\n", "s".repeat(v * 700)).into_bytes())
        .collect();
    let run = |fs: &SimFs, done: &mut usize| -> ndlog::Result<()> {
        for (v, bytes) in versions.iter().enumerate().skip(1) {
            ndlog::fs::atomic_write_in(fs, Path::new(SIDE), bytes, 0o600)?;
            *done = v;
        }
        Ok(())
    };
    let dry = fresh(1);
    dry.put(SIDE, &versions[0]);
    run(&dry, &mut 0).expect("runs without faults");
    let (mut states, total_ops) = (0u64, dry.ops());
    for k in 0..=total_ops {
        let fs = fresh(1);
        fs.put(SIDE, &versions[0]);
        fs.halt_after(k);
        let mut done = 0;
        let _ = run(&fs, &mut done);
        for (what, crashed) in crash_states(&fs, k) {
            states += 1;
            let got = crashed.contents(SIDE);
            let at = versions.iter().position(|v| Some(v) == got.as_ref());
            assert!(
                at.is_some_and(|at| at >= done),
                "crash after op {k} of {total_ops}, {what}: {:?} after version {done} returned",
                got.map(|g| String::from_utf8_lossy(&g).into_owned())
            );
        }
    }
    report(&format!(
        "crash states: atomic_write: {total_ops} operations, {states} crash states checked"
    ));
    assert!(states > 100, "only {states} crash states");
}

#[test]
fn the_checker_catches_a_lost_record() {
    // The invariant is not vacuous: an acknowledged record that did not survive is reported.
    let fs = fresh(3);
    let mut ledger = Ledger::default();
    let w = Options::new().durability(Durability::Never).open_in(fs.clone(), LOG).unwrap();
    let seq = w.append_raw(b"1").unwrap().seq;
    ledger.acknowledge(seq, b"1"); // wrongly: Never did not sync
    let crashed = fs.crash(|_| Fate::Dropped, usize::MAX);
    assert_eq!(ledger.check(&crashed, LOG), Err(ndlog::sim::Violation::Lost { seq: 1 }));
    let mut wrong = Ledger::default();
    wrong.acknowledge(1, b"2");
    assert_eq!(wrong.check(&fs, Path::new(LOG)), Err(ndlog::sim::Violation::Changed { seq: 1 }));
    assert_eq!(Ledger::default().check(&fs, LOG), Err(ndlog::sim::Violation::Invented { seq: 1 }));
}

#[test]
fn a_writer_acknowledges_nothing_in_a_renamed_log_until_its_name_is_durable() {
    // The compaction's directory fsync fails after its rename; the writer's own directory
    // fsync at its reopen fails too: that append must fail, and the next one (whose fsync
    // succeeds) is durable even if the machine keeps no pending directory operation.
    let fs = fresh(5);
    let mut ledger = Ledger::default();
    let w = compaction_dies_before_dir_sync(&fs, &mut ledger).unwrap();
    fs.fail_next_dir_sync();
    let p = payload("refused", 0);
    ledger.attempt(&p);
    let err = w.append_raw(&p).unwrap_err();
    assert!(err.to_string().contains("fsync directory"), "{err}");
    assert!(fs.pending_dir_ops() > 0, "the rename is still not durable");
    let seq = append(&w, &mut ledger, "durable", 1, true).unwrap();
    assert_eq!(fs.pending_dir_ops(), 0);
    let crashed = fs.crash(|_| Fate::Dropped, 0);
    // The compacted log survived (keys 0..3 once each) with the durable append after it.
    let kept = ndlog::Reader::open_in(crashed.clone(), LOG).unwrap();
    let seqs: Vec<u64> = kept.records().map(|r| r.seq).collect();
    assert_eq!(seqs, [5, 6, 7, 8, seq]);
    assert!(ledger.check_and_recover(&crashed, LOG).is_ok());
}

/// The entities of [`entity_versions`], and one never written.
const ENTITIES: [&str; 4] = ["a", "b", "c", "never"];

fn entity_key() -> JsonPointer {
    JsonPointer::parse("/e").unwrap()
}

/// Counters kept with `append_if` on entity versions by two keyed handles (two processes:
/// `Always`, and `Never` + `sync`), each appending with the version the last acknowledgement
/// gave, and a stale expectation refused after each; a writer without the key appends to one
/// of the entities between rounds (the table lags behind it); a transaction reads versions.
/// Every version a handle is asked to expect is the true one, so every append must succeed.
fn entity_versions(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let keyed = || Options::new().entity_key(entity_key()).index_stride(4);
    let p = keyed().open_in(fs.clone(), LOG)?;
    let q = keyed().durability(Durability::Never).open_in(fs.clone(), LOG)?;
    let plain = Options::new().index_stride(4).open_in(fs.clone(), LOG)?;
    let mut model: HashMap<&str, u64> = HashMap::new();
    for round in 0..3 {
        for (i, e) in ENTITIES[..3].iter().enumerate() {
            let w = if (round + i) % 2 == 0 { &p } else { &q };
            let data = format!(r#"{{"e":"{e}","n":{round}}}"#).into_bytes();
            let expected = model.get(e).copied().unwrap_or(0);
            ledger.attempt(&data);
            let seq = w.append_raw_if(Expect::Version(expected), &data)?.seq;
            if std::ptr::eq(w, &q) {
                q.sync()?;
            }
            ledger.acknowledge(seq, &data);
            model.insert(e, seq);
            let again = format!(r#"{{"e":"{e}","n":{round},"stale":true}}"#).into_bytes();
            ledger.attempt(&again);
            match w.append_raw_if(Expect::Version(expected), &again) {
                Err(err) if matches!(err.kind(), ErrorKind::Conflict { .. }) => {}
                Err(err) => return Err(err),
                Ok(ack) => panic!("accepted against the stale version {expected}: {ack:?}"),
            }
        }
        let data = format!(r#"{{"e":"b","plain":{round}}}"#).into_bytes();
        ledger.attempt(&data);
        let seq = plain.append_raw(&data)?.seq;
        ledger.acknowledge(seq, &data);
        model.insert("b", seq);
        let ((), _) = p.transaction(|tx| {
            for e in ENTITIES {
                let v = tx.version(e)?;
                assert_eq!(v, model.get(e).copied().unwrap_or(0), "{e} in a transaction");
            }
            Ok::<_, ndlog::Error>(())
        })?;
    }
    Ok(())
}

/// What a process opening the log now finds: every entity's version is the seq of its newest
/// record in the log, and an append expecting it is accepted (so one expecting anything else is
/// not).
fn versions_hold(fs: &SimFs) -> Result<(), String> {
    if fs.contents(LOG).is_none() {
        return Ok(()); // not created yet
    }
    let reader = ndlog::Reader::open_in(fs.clone(), LOG).map_err(|e| e.to_string())?;
    let mut truth: HashMap<String, u64> = HashMap::new();
    for r in reader.records() {
        let v: serde_json::Value = serde_json::from_slice(r.data).map_err(|e| e.to_string())?;
        if let Some(e) = v["e"].as_str() {
            truth.insert(e.to_string(), r.seq);
        }
    }
    let w = Options::new().entity_key(entity_key()).open_in(fs.clone(), LOG);
    let w = w.map_err(|e| e.to_string())?;
    let (seen, _) = w
        .transaction(|tx| {
            ENTITIES.iter().map(|e| tx.version(e)).collect::<ndlog::Result<Vec<u64>>>()
        })
        .map_err(|e| e.to_string())?;
    for (e, v) in ENTITIES.iter().zip(seen) {
        let want = truth.get(*e).copied().unwrap_or(0);
        if v != want {
            return Err(format!("{e} at version {v}, its newest record is {want}"));
        }
    }
    let want = truth.get("a").copied().unwrap_or(0);
    let ack = w.append_raw_if(Expect::Version(want), br#"{"e":"a","after":true}"#);
    let ack = ack.map_err(|e| format!("an append expecting a's version {want}: {e}"))?;
    let (seen, _) = w.transaction(|tx| tx.version("a")).map_err(|e| e.to_string())?;
    if seen != ack.seq {
        return Err(format!("a at version {seen} after its append at {}", ack.seq));
    }
    Ok(())
}

/// Enumerates the crash states of [`entity_versions`], and the state a process killed at each
/// point leaves without a power loss (the table as written, in the same boot); in each, the
/// ledger's check and [`versions_hold`]. Returns (operations, states, violations).
fn enumerate_versions(keep_boot_id: bool) -> (u64, u64, Vec<String>) {
    let dry = fresh(1);
    entity_versions(&dry, &mut Ledger::default()).expect("the workload runs without faults");
    let total_ops = dry.ops();
    let (mut states, mut violations) = (0u64, Vec::new());
    for k in 0..=total_ops {
        let fs = fresh(1);
        fs.crashes_keep_boot_id(keep_boot_id);
        fs.halt_after(k);
        let mut ledger = Ledger::default();
        let _ = entity_versions(&fs, &mut ledger);
        let mut cases = crash_states(&fs, k);
        fs.heal();
        cases.push(("killed, no power loss".to_string(), fs));
        for (what, state) in cases {
            states += 1;
            // (The ledger's recovery appends a record without the key: the table lags it.)
            let outcome = ledger
                .check_and_recover(&state, LOG)
                .map_err(|v| v.to_string())
                .and_then(|_| versions_hold(&state));
            if let Err(v) = outcome {
                violations.push(format!("crash after op {k} of {total_ops}, {what}: {v}"));
            }
        }
    }
    (total_ops, states, violations)
}

#[test]
fn every_crash_state_keeps_entity_versions() {
    let (ops, states, violations) = enumerate_versions(false);
    report(&format!(
        "crash states: entity versions (LOG.versions): {ops} operations, {states} states checked, \
         {} violations",
        violations.len()
    ));
    assert!(states >= 2_000, "only {states} states");
    assert!(
        violations.is_empty(),
        "{} violations, first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
}

/// The control: the same enumeration on a machine whose boot id survives a crash, so that the
/// table's unsynced pages are trusted after a power loss: some crash state then answers a stale
/// version (a slot write lost, the header after it kept).
#[test]
fn with_a_boot_id_that_survives_a_crash_stale_versions_are_found() {
    let (ops, states, violations) = enumerate_versions(true);
    report(&format!(
        "crash states: entity versions, boot id kept across crashes (control): {ops} operations, \
         {states} states, {} violations",
        violations.len()
    ));
    assert!(
        violations.iter().any(|v| v.contains("at version")),
        "no stale version found: {:#?}",
        &violations[..violations.len().min(5)]
    );
}

/// Appends four acknowledged records to `log`; long after (every page written back, the
/// watermark's included, unless `keep_mark` is false: then `LOG.watermark` is gone), media
/// damage flips a byte of the last one, whose seq the ledger retires; then a new handle
/// appends three more. No record may take the damaged one's seq.
fn damaged_tail(
    fs: &SimFs,
    ledger: &mut Ledger,
    log: &str,
    options: Options,
    keep_mark: bool,
) -> ndlog::Result<()> {
    damaged_tail_with(fs, ledger, log, options, keep_mark, |_, _| Ok(()))
}

/// [`damaged_tail`], with `between` run after the damage and before the new handle appends.
fn damaged_tail_with(
    fs: &SimFs,
    ledger: &mut Ledger,
    log: &str,
    options: Options,
    keep_mark: bool,
    between: impl FnOnce(&SimFs, &mut Ledger) -> ndlog::Result<()>,
) -> ndlog::Result<()> {
    use ndlog::fs::Vfs;
    let w = options.clone().open_in(fs.clone(), log)?;
    let mut last = 0;
    for i in 0..4 {
        last = append(&w, ledger, "d", i, true)?;
    }
    drop(w);
    // The damage comes to a running machine, long after. (One that stopped during the appends
    // may have stopped between a sync and publishing its mark: that append's acknowledgement
    // never reached anyone, and nothing says its record was durable. A publish that fails on a
    // running machine leaves the same gap until the next sync publishes: RELIABILITY.md.)
    if fs.metadata(Path::new(log)).is_err() {
        return Ok(());
    }
    if !keep_mark {
        let mark = match log {
            LOG => format!("{LOG}.watermark"),
            dir => format!("{dir}/ndlog.watermark"),
        };
        if fs.remove_file(Path::new(&mark)).is_err() {
            return Ok(()); // the machine stopped
        }
    }
    fs.write_back();
    // The file holding the last record: the log, or its active segment.
    let file = match log {
        LOG => LOG.to_string(),
        dir => {
            let Ok(names) = fs.list_dir(Path::new(dir)) else {
                return Ok(()); // the machine stopped
            };
            let active = names.iter().map(|n| n.to_string_lossy()).find(|n| n.contains(".ndjson."));
            format!("{dir}/{}", active.expect("an active segment"))
        }
    };
    let bytes = fs.contents(&file).expect("the file holding the last record");
    let needle = format!(r#"{{"seq":{last},"#);
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("record");
    assert!(fs.damage(&file, (at + needle.len() + 8) as u64, 0x01));
    ledger.retire(last);
    between(fs, ledger)?;
    let w = options.open_in(fs.clone(), log)?;
    for i in 4..7 {
        append(&w, ledger, "d", i, true)?;
    }
    Ok(())
}

fn damaged_tail_of_a_file(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    damaged_tail(fs, ledger, LOG, Options::new().index_stride(4), true)
}

fn damaged_tail_of_segments(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let options = Options::new().segments(segment_settings()).index_stride(2);
    damaged_tail(fs, ledger, SEGMENTED, options, true)
}

fn damaged_tail_of_preallocated_segments(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    damaged_tail(fs, ledger, PREALLOCATED, preallocated_options(), true)
}

/// A key compaction after the damage, before the new handle appends: it leaves the log alone
/// (removing the damaged record would let its seq be given again). Another after the appends,
/// when the damage lies between records: it rewrites the log without it.
fn damaged_tail_then_compaction(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let options = Options::new().index_stride(4);
    let compact = |fs: &SimFs| {
        let policy = Policy::new().key(JsonPointer::parse("/w").unwrap());
        Compactor::new_in(fs.clone(), LOG, policy).run().map(|_| ())
    };
    damaged_tail_with(fs, ledger, LOG, options.clone(), true, |fs, _| compact(fs))?;
    // Every payload has the key "d": the second compaction may drop all but the newest.
    let acked: Vec<u64> = ledger.acknowledged().keys().copied().collect();
    for seq in &acked[..acked.len().saturating_sub(1)] {
        ledger.forget(*seq);
    }
    compact(fs)?;
    let w = options.open_in(fs.clone(), LOG)?;
    append(&w, ledger, "e", 0, true)?;
    Ok(())
}

/// The segment holding the damaged record is full: the first append after the damage, a
/// batch of two, rolls it at once, sealing it with the damage as its tail and naming the next
/// segment after the damaged record's seq (the checker accepts that one seq missing between
/// the segments: it is retired).
fn damaged_tail_rolled_at_once(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    let roll = |fs: &SimFs, ledger: &mut Ledger| {
        let w = preallocated_options().open_in(fs.clone(), PREALLOCATED)?;
        let batch: Vec<Vec<u8>> = (0..2).map(|i| payload("roll", i)).collect();
        ledger.attempt_write(&batch);
        let ack = w.append_raw_batch(&batch)?;
        for (seq, p) in ack.seqs().zip(&batch) {
            ledger.acknowledge(seq, p);
        }
        Ok(())
    };
    damaged_tail_with(fs, ledger, PREALLOCATED, preallocated_options(), true, roll)
}

/// A log created on an inode whose earlier file left its mark in `LOG.watermark`: the writer
/// that creates it voids the mark (durably) before its first record; `Never` appends, a
/// `sync`, more appends.
fn stale_mark_voided_at_creation(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    use ndlog::fs::Vfs;
    if fs.contents(LOG).is_none() {
        fs.put(LOG, b"");
        let Ok(meta) = fs.metadata(Path::new(LOG)) else {
            return Ok(()); // the machine stopped
        };
        let file = meta.id;
        let stale = ndlog::consume::Watermark { file, end: 60_000, seq: 1000 };
        fs.put(format!("{LOG}.watermark"), &stale.encode());
    }
    let w = Options::new().durability(Durability::Never).open_in(fs.clone(), LOG)?;
    for i in 0..3 {
        append(&w, ledger, "v", i, false)?;
    }
    w.sync()?;
    for (seq, i) in (1..=3).zip(0..3) {
        ledger.acknowledge(seq, &payload("v", i));
    }
    for i in 3..5 {
        append(&w, ledger, "v", i, false)?;
    }
    Ok(())
}

fn damaged_tail_without_a_mark(fs: &SimFs, ledger: &mut Ledger) -> ndlog::Result<()> {
    damaged_tail(fs, ledger, LOG, Options::new().index_stride(4), false)
}

/// Media damage to the last acknowledged record, then appends, from every crash point of
/// the appends and of the repair: the damaged record's seq is never given to another record
/// (a consumer that delivered it would skip the new one; a downstream deduplicating by seq
/// would drop it).
#[test]
fn every_crash_state_after_media_damage_keeps_the_damaged_records_seq_taken() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let workloads: [(&str, Workload, &str); 6] = [
        ("a mark an earlier file left, voided at creation", stale_mark_voided_at_creation, LOG),
        (
            "damaged last record of a full preallocated segment, rolled at once",
            damaged_tail_rolled_at_once,
            PREALLOCATED,
        ),
        ("damaged last record of a file", damaged_tail_of_a_file, LOG),
        ("damaged last record, then a compaction", damaged_tail_then_compaction, LOG),
        ("damaged last record of the active segment", damaged_tail_of_segments, SEGMENTED),
        (
            "damaged last record of a preallocated segment",
            damaged_tail_of_preallocated_segments,
            PREALLOCATED,
        ),
    ];
    for (name, workload, log) in workloads {
        let (ops, states) = enumerate_at(name, workload, log, &mut tally);
        report(&format!("crash states: {name}: {ops} operations, {states} crash states checked"));
    }
    tally.assert_clean(1_000);
}

/// The control: without a watermark describing the file, the damaged record is crash debris
/// to the writer, its seq is given again, and the enumeration sees it.
#[test]
fn without_a_watermark_media_damage_gives_a_seq_again() {
    let mut tally = Tally { states: 0, violations: Vec::new() };
    let name = "damaged last record, no watermark (control)";
    let (ops, states) = enumerate(name, damaged_tail_without_a_mark, &mut tally);
    report(&format!(
        "crash states: {name}: {ops} operations, {states} crash states, {} violations",
        tally.violations.len()
    ));
    assert!(!tally.violations.is_empty(), "no seq was given again");
}
