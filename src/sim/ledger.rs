//! The promise a crash test checks: every acknowledged record survives, exactly once and in
//! order, nothing is invented, and a write's records are there all or not at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use crate::fs::Vfs;
use crate::read::Reader;
use crate::segments::SegmentedReader;
use crate::write::Options;

/// What a workload appended and what was acknowledged, to check a log against.
///
/// # Example
/// ```
/// use ndlog::sim::{Fate, Ledger, SimFs};
/// let fs = SimFs::new(1);
/// let writer = ndlog::Options::new().open_in(fs.clone(), "/l.ndjson")?;
/// let mut ledger = Ledger::default();
/// for i in 0..3 {
///     let payload = format!("{i}");
///     ledger.attempt(payload.as_bytes());
///     let ack = writer.append_raw(payload.as_bytes())?;
///     ledger.acknowledge(ack.seq, payload.as_bytes());
/// }
/// let crashed = fs.crash(|_| Fate::Garbage, 0);
/// assert_eq!(ledger.check_and_recover(&crashed, "/l.ndjson"), Ok(3));
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    acked: BTreeMap<u64, Vec<u8>>,
    attempted: HashSet<Vec<u8>>,
    /// Seqs of acknowledged records lost to media damage: no record may take them again.
    retired: BTreeSet<u64>,
    /// The payloads of each write of several records (a batch, a transaction): all of them in
    /// the log, or none.
    writes: Vec<Vec<Vec<u8>>>,
}

/// A broken promise, found by [`Ledger::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The log could not be opened or read at all.
    Unreadable(String),
    /// An acknowledged record is missing.
    Lost {
        /// Its seq.
        seq: u64,
    },
    /// A record's seq holds other data than the acknowledged record of that seq.
    Changed {
        /// The seq.
        seq: u64,
    },
    /// A record that was never appended.
    Invented {
        /// Its seq.
        seq: u64,
    },
    /// Seqs do not strictly increase, or ts goes backwards.
    OutOfOrder {
        /// The seq that breaks the order.
        seq: u64,
    },
    /// Appending after recovery failed or did not read back.
    Stuck(String),
    /// Some records of one write (a batch, a transaction) are in the log, others are not.
    Partial {
        /// The seq of the first of them that is.
        seq: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unreadable(e) => write!(f, "log unreadable: {e}"),
            Violation::Lost { seq } => write!(f, "acknowledged record {seq} lost"),
            Violation::Changed { seq } => {
                write!(f, "record {seq} holds other data than was acknowledged")
            }
            Violation::Invented { seq } => write!(f, "record {seq} was never appended"),
            Violation::OutOfOrder { seq } => write!(f, "record {seq} is out of order"),
            Violation::Stuck(e) => write!(f, "cannot append after recovery: {e}"),
            Violation::Partial { seq } => {
                write!(f, "record {seq} is in the log without the rest of its write")
            }
        }
    }
}

impl Ledger {
    /// Notes a payload about to be appended (it may reach the log even if never acknowledged).
    pub fn attempt(&mut self, payload: &[u8]) {
        self.attempted.insert(payload.to_vec());
    }

    /// Notes the payloads of one write of several records (a batch, a transaction) about to be
    /// appended: after a crash the log must hold all of them or none. Payloads must differ from
    /// every other payload of the workload, so that each can be found.
    pub fn attempt_write<P: AsRef<[u8]>>(&mut self, payloads: &[P]) {
        payloads.iter().for_each(|p| self.attempt(p.as_ref()));
        self.writes.push(payloads.iter().map(|p| p.as_ref().to_vec()).collect());
    }

    /// Notes an acknowledged record: from now on it must survive anything.
    pub fn acknowledge(&mut self, seq: u64, payload: &[u8]) {
        self.attempted.insert(payload.to_vec());
        self.acked.insert(seq, payload.to_vec());
    }

    /// Forgets an acknowledged record a compaction policy was allowed to drop.
    pub fn forget(&mut self, seq: u64) {
        self.acked.remove(&seq);
    }

    /// An acknowledged record lost to media damage (not to a crash): it need not be found,
    /// but its seq must never be given to another record, which a consumer past it would skip
    /// and a downstream deduplicating by seq would drop; a record found with it is
    /// [`Violation::Changed`].
    pub fn retire(&mut self, seq: u64) {
        self.acked.remove(&seq);
        self.retired.insert(seq);
    }

    /// Acknowledged records.
    pub fn acknowledged(&self) -> &BTreeMap<u64, Vec<u8>> {
        &self.acked
    }

    /// Checks the log at `path`: every acknowledged record is there once with its payload,
    /// seqs strictly increase and ts never decreases, and every record was appended. Returns the
    /// number of records.
    ///
    /// # Errors
    /// The first [`Violation`] found.
    pub fn check<V: Vfs>(&self, vfs: &V, path: impl AsRef<Path>) -> Result<u64, Violation> {
        let path = path.as_ref();
        let records = match read_log(vfs, path, &self.retired) {
            Ok(records) => records,
            Err(_) if vfs.metadata(path).is_err() => {
                return match self.acked.keys().next() {
                    Some(&seq) => Err(Violation::Lost { seq }),
                    None => Ok(0),
                };
            }
            Err(e) => return Err(Violation::Unreadable(e)),
        };
        let mut previous: Option<(u64, u64)> = None;
        let mut present = 0u64;
        let mut acked = self.acked.iter().peekable();
        for r in &records {
            if previous.is_some_and(|(seq, ts)| r.seq <= seq || r.ts < ts) {
                return Err(Violation::OutOfOrder { seq: r.seq });
            }
            previous = Some((r.seq, r.ts));
            present += 1;
            if self.retired.contains(&r.seq) {
                return Err(Violation::Changed { seq: r.seq });
            }
            if let Some(&(&seq, _)) = acked.peek().filter(|(s, _)| **s < r.seq) {
                return Err(Violation::Lost { seq });
            }
            match acked.peek() {
                Some(&(&seq, payload)) if seq == r.seq => {
                    if payload.as_slice() != r.data.as_slice() {
                        return Err(Violation::Changed { seq });
                    }
                    acked.next();
                }
                _ if !self.attempted.contains(&r.data) => {
                    return Err(Violation::Invented { seq: r.seq });
                }
                _ => {}
            }
        }
        if let Some((&seq, _)) = acked.next() {
            return Err(Violation::Lost { seq });
        }
        self.check_writes(&records)?;
        Ok(present)
    }

    /// Every write noted with [`Ledger::attempt_write`] is in `records` whole or not at all.
    fn check_writes(&self, records: &[Seen]) -> Result<(), Violation> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let seqs: HashMap<&[u8], u64> = records.iter().map(|r| (&r.data[..], r.seq)).collect();
        for write in &self.writes {
            let found: Vec<u64> = write.iter().filter_map(|p| seqs.get(&p[..]).copied()).collect();
            if !found.is_empty() && found.len() < write.len() {
                return Err(Violation::Partial { seq: found[0] });
            }
        }
        Ok(())
    }

    /// [`Ledger::check`], then recovery: open a writer, append one more record, and check
    /// again that everything is still there with the new record last.
    ///
    /// # Errors
    /// The first [`Violation`] found.
    pub fn check_and_recover<V: Vfs>(
        &self,
        vfs: &V,
        path: impl AsRef<Path>,
    ) -> Result<u64, Violation> {
        self.check_and_recover_with(vfs, path, &Options::new())
    }

    /// [`Ledger::check_and_recover`], reopening the log with `options` as the application
    /// that wrote it would (a segmented log's settings, say).
    ///
    /// # Errors
    /// As [`Ledger::check_and_recover`].
    pub fn check_and_recover_with<V: Vfs>(
        &self,
        vfs: &V,
        path: impl AsRef<Path>,
        options: &Options,
    ) -> Result<u64, Violation> {
        let path = path.as_ref();
        let before = match self.check(vfs, path) {
            // A segmented log whose creation died before its settings were durable: nothing
            // can have been acknowledged in it; the application creates it again.
            Err(Violation::Unreadable(_)) if self.acked.is_empty() && unborn(vfs, path) => 0,
            other => other?,
        };
        let stuck = |e: crate::error::Error| Violation::Stuck(e.to_string());
        let writer = options.open_in(vfs.clone(), path).map_err(stuck)?;
        let payload = br#"{"recovered":true}"#;
        let ack = writer.append_raw(payload).map_err(stuck)?;
        drop(writer);
        let mut after = self.clone();
        after.acknowledge(ack.seq, payload);
        let now = after.check(vfs, path)?;
        let last =
            read_log(vfs, path, &after.retired).map_err(Violation::Stuck)?.last().map(|r| r.seq);
        // (A torn tail that is a whole record but for its newline becomes readable once the
        // recovery append terminates it: the count can grow by two.)
        if last != Some(ack.seq) || now <= before {
            return Err(Violation::Stuck(format!(
                "the recovery append (seq {}) is not the last record",
                ack.seq
            )));
        }
        Ok(before)
    }
}

/// A record as the checker compares it.
struct Seen {
    seq: u64,
    ts: u64,
    data: Vec<u8>,
}

/// Every record of the log at `path`: a file, or a segmented log's directory (whose segments
/// must join without a seq missing between them, but for seqs `retired`: records lost to
/// media damage, which a roll right after it seals away).
fn read_log<V: Vfs>(vfs: &V, path: &Path, retired: &BTreeSet<u64>) -> Result<Vec<Seen>, String> {
    let seen = |r: crate::read::Record<'_>| Seen { seq: r.seq, ts: r.ts, data: r.data.to_vec() };
    let meta = vfs.metadata(path).map_err(|e| e.to_string())?;
    if meta.kind == crate::fs::FileKind::Dir {
        let log = SegmentedReader::open_in(vfs.clone(), path).map_err(|e| e.to_string())?;
        let lost = |g: &crate::segments::Gap| (g.seqs.0..=g.seqs.1).all(|s| retired.contains(&s));
        if let Some(gap) = log.gaps().iter().find(|g| !lost(g)) {
            return Err(gap.to_string());
        }
        return Ok(log.records().map(seen).collect());
    }
    let reader = Reader::open_in(vfs.clone(), path).map_err(|e| e.to_string())?;
    Ok(reader.records().map(seen).collect())
}

/// Whether `path` is a directory holding no segment and no settings.
fn unborn<V: Vfs>(vfs: &V, path: &Path) -> bool {
    vfs.list_dir(path).is_ok_and(|names| {
        names.iter().all(|n| {
            crate::segments::naming::parse(n).is_none() && n != crate::segments::naming::SETTINGS
        })
    })
}
