//! The checks behind ndlog's fuzz targets, shared by `cargo fuzz` (fuzz_targets/) and the
//! ordinary test `tests/it/fuzz_corpus.rs`, which runs them over the checked-in corpus and a
//! seeded random sample on stable Rust.

use ndlog::sim::{Fate, Fault, Ledger, SimFs};
use ndlog::{Compactor, Durability, Entry, Options, Policy, Reader};

/// Arbitrary bytes as a log: reading never panics, every byte is accounted for as a record, a
/// corrupt span, padding or the torn tail; every record's CRC is right (unless the build skips
/// CRCs for fuzzing) and, when the reader validates JSON, its data is one JSON value; the
/// backward scan, `last`, seeks and `get` agree with the forward scan.
pub fn reader(data: &[u8]) {
    let crc_checked = ndlog::format::crc_checked();
    for json in [false, true] {
        let reader = Reader::new(data).validate_json(json);
        let mut pos = 0usize;
        let mut records = Vec::new();
        for entry in reader.entries() {
            match entry {
                Entry::Record(r) => {
                    let start = r.offset as usize;
                    assert!(
                        start >= pos,
                        "record at {start} overlaps the previous entry ending at {pos}"
                    );
                    assert_eq!(&data[start..start + r.line.len()], r.line);
                    assert_eq!(data[start + r.line.len()], b'\n');
                    if crc_checked {
                        let body = &r.line[..r.line.len() - 18];
                        let crc = format!("{:08x}", crc32fast::hash(body));
                        assert_eq!(
                            &r.line[r.line.len() - 10..r.line.len() - 2],
                            crc.as_bytes(),
                            "record with a wrong CRC"
                        );
                    }
                    if json {
                        let mut de = serde_json::Deserializer::from_slice(r.data);
                        assert!(
                            serde::de::IgnoredAny::deserialize(&mut de)
                                .and_then(|_| de.end())
                                .is_ok(),
                            "record {} data is not JSON",
                            r.seq
                        );
                    }
                    // A corrupt prefix of the same segment comes first; the record ends the segment.
                    pos = start + r.line.len() + 1;
                    records.push(r);
                }
                Entry::Corrupt { offset, len, .. } => {
                    assert_eq!(offset as usize, pos, "gap before corrupt span");
                    pos += len as usize;
                }
                Entry::Padding { offset, len } => {
                    assert_eq!(offset as usize, pos);
                    assert!(data[pos..pos + len as usize].iter().all(|&b| b == b'\n'));
                    pos += len as usize;
                }
                Entry::TornTail { offset, len } => {
                    assert_eq!(offset as usize, pos);
                    assert_eq!(pos + len as usize, data.len(), "the torn tail ends the data");
                    assert!(!data[pos..].contains(&b'\n'));
                    pos = data.len();
                }
            }
        }
        assert_eq!(pos, data.len(), "every byte is accounted for");
        let mut backward: Vec<u64> = reader.records_rev().map(|r| r.offset).collect();
        backward.reverse();
        assert_eq!(backward, records.iter().map(|r| r.offset).collect::<Vec<_>>());
        assert_eq!(reader.last().map(|r| r.offset), records.last().map(|r| r.offset));
        let summary = reader.verify();
        assert_eq!(summary.records as usize, records.len());
        // Seeks are defined on ordered logs (what writers produce).
        let ordered = records.windows(2).all(|w| w[0].seq < w[1].seq && w[0].ts <= w[1].ts);
        if ordered {
            for r in records.iter().take(8) {
                assert_eq!(reader.get(r.seq).map(|g| g.offset), Some(r.offset));
                let first_at = records.iter().find(|x| x.ts >= r.ts).map(|x| x.offset);
                assert_eq!(Some(reader.seek_ts(r.ts)), first_at);
            }
        }
    }
}

/// Reads the fuzz input as a little program.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u8(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }
}

const LOG: &str = "/d/log.ndjson";

fn open(
    fs: &SimFs,
    durability: Durability,
    dedup: bool,
    exclusive: bool,
) -> Option<ndlog::Writer<SimFs>> {
    let mut options = Options::new().durability(durability).exclusive(exclusive).index_stride(3);
    if dedup {
        let key = ndlog::JsonPointer::parse("/k").unwrap();
        options = options.dedup(ndlog::Dedup::new(key, ndlog::DedupWindow::Records(4)));
    }
    options.open_in(fs.clone(), LOG).ok()
}

/// An arbitrary sequence of append / batch / sync / crash / reopen / compact / read / fault
/// operations on the simulated file system, checked against a model of the acknowledged
/// records after every crash and read, and at the end.
pub fn ops(data: &[u8]) {
    let mut input = Input(data);
    let seed = u64::from(input.u8()) << 8 | u64::from(input.u8());
    let mut fs = SimFs::new(seed);
    fs.put("/d/.keep", b"");
    let mut ledger = Ledger::default();
    let mut durability = Durability::Always;
    let mut dedup = false;
    let mut exclusive = false;
    let mut writer = open(&fs, durability, dedup, exclusive);
    let mut unsynced: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut counter = 0u32;
    let mut payload = |len: u8| {
        counter += 1;
        format!(
            r#"{{"n":{counter},"k":{},"p":"{}"}}"#,
            counter % 4,
            "z".repeat(usize::from(len) * 7)
        )
        .into_bytes()
    };
    for _ in 0..48 {
        let Some(op) = input.byte() else { break };
        if writer.is_none() {
            writer = open(&fs, durability, dedup, exclusive);
        }
        match op % 8 {
            0 | 1 => {
                let Some(w) = writer.as_ref() else { continue };
                let n = if op % 8 == 0 { 1 } else { 1 + usize::from(input.u8() % 6) };
                let batch: Vec<Vec<u8>> = (0..n).map(|_| payload(input.u8())).collect();
                batch.iter().for_each(|p| ledger.attempt(p));
                match w.append_raw_batch(&batch) {
                    Ok(ack) => {
                        // A repeat (dedup) names a record written before: nothing new to track.
                        let written = ack.acks().zip(batch).filter(|(a, _)| !a.duplicate);
                        for (seq, p) in written.map(|(a, p)| (a.seq, p)) {
                            if durability == Durability::Never {
                                unsynced.push((seq, p));
                            } else {
                                ledger.acknowledge(seq, &p);
                            }
                        }
                    }
                    Err(_) => writer = None,
                }
            }
            2 => match writer.as_ref().map(|w| w.sync()) {
                Some(Ok(())) => unsynced.drain(..).for_each(|(seq, p)| ledger.acknowledge(seq, &p)),
                _ => {
                    unsynced.clear();
                    writer = None;
                }
            },
            3 => {
                // Power loss: what survives is up to the simulated disk.
                writer = None;
                unsynced.clear();
                fs = match input.u8() % 4 {
                    0 => fs.crash(|_| Fate::Kept, usize::MAX),
                    1 => fs.crash(|_| Fate::Dropped, 0),
                    _ => fs.crash_random(u64::from(input.u8()) + seed),
                };
                if let Err(v) = ledger.check(&fs, LOG) {
                    panic!("after a crash: {v}");
                }
            }
            4 => {
                writer = None;
                unsynced.clear();
                let choice = input.u8();
                durability = [Durability::Always, Durability::Group, Durability::Never]
                    [usize::from(choice % 3)];
                dedup = choice & 0x10 != 0;
                exclusive = choice & 0x20 != 0;
            }
            5 => {
                // An exclusive writer holds the lock the compaction needs: it stops first, and
                // what it wrote without a sync stays unacknowledged.
                if exclusive {
                    writer = None;
                    unsynced.clear();
                }
                // Keep the newest few; the model forgets what the policy may drop.
                let keep = 1 + u64::from(input.u8() % 8);
                // (If the log cannot be read now, the model cannot know what the policy will
                // drop: skip the compaction.)
                if let Ok(reader) = Reader::open_in(fs.clone(), LOG) {
                    let kept: Vec<u64> =
                        reader.records_rev().take(keep as usize).map(|r| r.seq).collect();
                    let drop: Vec<u64> = ledger
                        .acknowledged()
                        .keys()
                        .copied()
                        .filter(|s| !kept.contains(s))
                        .collect();
                    drop.into_iter().for_each(|s| ledger.forget(s));
                    // Unsynced records the policy drops are gone too, sync or not.
                    unsynced.retain(|(s, _)| kept.contains(s));
                    let _ = Compactor::new_in(fs.clone(), LOG, Policy::new().keep_last(keep)).run();
                }
            }
            6 => {
                // Reading is checked with the disk healthy (a pending fault would fail the read
                // itself, which proves nothing about the log).
                fs.heal();
                if let Err(v) = ledger.check(&fs, LOG) {
                    panic!("reading: {v}");
                }
            }
            _ => {
                let kind =
                    [Fault::Io, Fault::NoSpace, Fault::ShortWrite][usize::from(input.u8() % 3)];
                fs.fail_at(fs.ops() + 1 + u64::from(input.u8() % 16), kind, input.u8() % 4 == 0);
            }
        }
    }
    drop(writer);
    fs.heal();
    // (Recovery appends a record, so crash first.)
    let crashed = fs.crash_random(seed);
    if let Err(v) = ledger.check_and_recover(&fs, LOG) {
        panic!("at the end: {v}");
    }
    if let Err(v) = ledger.check_and_recover(&crashed, LOG) {
        panic!("after a final crash: {v}");
    }
}

use serde::Deserialize as _;
