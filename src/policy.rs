//! What a compaction keeps: retention by age, count or size, and newest-per-key with
//! tombstones. A policy is decided in one pass over the log (the plan), then applied record by
//! record while the new log is written.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::pointer::{JsonPointer, key_bytes};
use crate::reader::{Reader, Record};

/// What a compaction keeps. Every rule that is set must keep a record for it to stay; the
/// newest record of the log always stays (it carries the log's seq and ts high-water mark, so
/// seqs are never reused).
///
/// # Example
/// ```
/// use std::time::Duration;
/// let policy = ndlog::Policy::new()
///     .max_age(Duration::from_secs(7 * 86_400))
///     .key(ndlog::JsonPointer::parse("/id")?)
///     .tombstone(ndlog::JsonPointer::parse("/deleted")?);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub(crate) max_age: Option<Duration>,
    pub(crate) keep_last: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) key: Option<JsonPointer>,
    pub(crate) tombstone: Option<JsonPointer>,
}

impl Policy {
    /// A policy that removes nothing but damage (corrupt lines and a torn tail, which go to
    /// the quarantine file).
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops records older than `age` (by their ts, against the clock when compaction starts).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps only the newest `n` records.
    #[must_use]
    pub fn keep_last(mut self, n: u64) -> Self {
        self.keep_last = Some(n);
        self
    }

    /// Drops the oldest records until the records' bytes are at most `bytes`.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Keeps only the newest record for each value of `key` in `data`. Records without the key
    /// are kept. String keys compare by content, others by their JSON text.
    #[must_use]
    pub fn key(mut self, key: JsonPointer) -> Self {
        self.key = Some(key);
        self
    }

    /// With [`Policy::key`]: a record whose `data` has `true` at `pointer` is a tombstone. It
    /// deletes its key: the tombstone and every older record of the key are dropped.
    #[must_use]
    pub fn tombstone(mut self, pointer: JsonPointer) -> Self {
        self.tombstone = Some(pointer);
        self
    }

    /// Whether the policy removes anything but damage.
    pub fn is_repair_only(&self) -> bool {
        self.max_age.is_none()
            && self.keep_last.is_none()
            && self.max_bytes.is_none()
            && self.key.is_none()
    }

    /// Rejects values that cannot be meant: a zero age, count or size; a tombstone without a key.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] saying which value.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid_argument(what));
        if self.max_age == Some(Duration::ZERO) {
            return bad("max age must be greater than zero".into());
        }
        if self.keep_last == Some(0) {
            return bad("keep-last must be at least 1 (the newest record is always kept)".into());
        }
        if self.max_bytes == Some(0) {
            return bad("max bytes must be greater than zero".into());
        }
        if self.tombstone.is_some() && self.key.is_none() {
            return bad("a tombstone field needs a key (--key) to delete".into());
        }
        Ok(())
    }
}

/// The newest record of a key: its seq, and whether it is a tombstone.
type Newest = (u64, bool);

/// The decisions of the first pass over the records present when compaction started.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Records with a lower seq are dropped by keep-last or max-bytes.
    first_kept_seq: u64,
    /// Records with a lower ts are dropped by max-age.
    min_ts: u64,
    /// For key compaction: the newest record of each key.
    newest: Option<HashMap<Box<[u8]>, Newest>>,
    /// The newest record, always kept.
    pub last_seq: u64,
    /// Records planned over, and how many the policy drops.
    pub records: u64,
    pub dropped: u64,
    /// Corrupt lines seen.
    pub damaged: u64,
}

impl Plan {
    /// Plans over the records of `reader` (complete lines only).
    pub(crate) fn build<D: AsRef<[u8]>>(reader: &Reader<D>, policy: &Policy, now_ms: u64) -> Plan {
        let mut records = 0u64;
        let mut damaged = 0u64;
        let mut last_seq = 0;
        let mut newest = policy.key.as_ref().map(|_| HashMap::new());
        for entry in reader.entries() {
            match entry {
                crate::Entry::Record(r) => {
                    records += 1;
                    last_seq = r.seq;
                    if let (Some(map), Some(key)) = (newest.as_mut(), policy.key.as_ref())
                        && let Some(k) = key.find(r.data)
                    {
                        let dead = policy
                            .tombstone
                            .as_ref()
                            .is_some_and(|t| t.find(r.data) == Some(b"true"));
                        map.insert(key_bytes(k).into_owned().into_boxed_slice(), (r.seq, dead));
                    }
                }
                crate::Entry::Corrupt { .. } => damaged += 1,
                _ => {}
            }
        }
        let mut plan = Plan {
            first_kept_seq: 0,
            min_ts: policy.max_age.map_or(0, |age| now_ms.saturating_sub(age.as_millis() as u64)),
            newest,
            last_seq,
            records,
            dropped: 0,
            damaged,
        };
        // keep-last and max-bytes both cut the oldest records: find the first seq they keep.
        let mut bytes = 0u64;
        for (i, r) in reader.records_rev().enumerate() {
            let kept = i as u64 + 1;
            bytes += r.line.len() as u64 + 1;
            let over_count = policy.keep_last.is_some_and(|n| kept > n);
            let over_bytes = policy.max_bytes.is_some_and(|m| bytes > m);
            if over_count || over_bytes {
                plan.first_kept_seq = r.seq + 1;
                break;
            }
        }
        plan.dropped = reader.records().filter(|r| !plan.keeps(r, policy)).count() as u64;
        plan
    }

    /// Whether the record stays.
    pub(crate) fn keeps(&self, r: &Record<'_>, policy: &Policy) -> bool {
        if r.seq == self.last_seq {
            return true;
        }
        if r.seq < self.first_kept_seq || r.ts < self.min_ts {
            return false;
        }
        match (&self.newest, &policy.key) {
            (Some(map), Some(key)) => match key.find(r.data) {
                None => true,
                Some(k) => match map.get(&*key_bytes(k)) {
                    Some(&(newest, dead)) => newest == r.seq && !dead,
                    None => true,
                },
            },
            _ => true,
        }
    }
}
