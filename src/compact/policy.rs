//! What a compaction keeps: retention by age, count or size, and newest-per-key with
//! tombstones. A policy is decided in one pass over the log (the plan), then applied record by
//! record while the new log is written.

use std::time::Duration;

use crate::error::{Error, Result};

use crate::format::resync;
use crate::json::{JsonPointer, key_bytes};
use crate::read::Reader;

use super::newest::Newest;

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
    pub(crate) tombstone_retention: Option<Duration>,
}

/// Default for [`Policy::tombstone_retention`]: a day, as Kafka's `delete.retention.ms`.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(86_400);

/// Whether a payload is a tombstone: `true` at the tombstone pointer.
pub(crate) fn is_tombstone(pointer: &JsonPointer, data: &[u8]) -> bool {
    pointer.find(data) == Some(b"true")
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
    /// deletes its key: every older record of the key is dropped, and the tombstone itself once
    /// it is older than the [`Policy::tombstone_retention`].
    #[must_use]
    pub fn tombstone(mut self, pointer: JsonPointer) -> Self {
        self.tombstone = Some(pointer);
        self
    }

    /// How long a compaction keeps a tombstone, by its ts (default
    /// [`DEFAULT_TOMBSTONE_RETENTION`], a day; zero drops it at once). While it is kept, the
    /// entity's version stays the tombstone's seq, so a writer that re-creates the entity
    /// sees it was deleted ([`crate::Expect::Version`] with the tombstone's seq), and readers
    /// that follow the log learn of the deletion before it disappears.
    #[must_use]
    pub fn tombstone_retention(mut self, retention: Duration) -> Self {
        self.tombstone_retention = Some(retention);
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

/// One bit per item.
#[derive(Debug, Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    fn push(&mut self, i: usize, on: bool) {
        if i / 64 >= self.0.len() {
            self.0.push(0);
        }
        self.set(i, on);
    }

    fn set(&mut self, i: usize, on: bool) {
        let (w, b) = (i / 64, i % 64);
        self.0[w] = (self.0[w] & !(1 << b)) | (u64::from(on) << b);
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
}

/// The decisions of one verified pass over the complete lines present when compaction
/// started. The write pass then copies lines by these decisions without verifying again.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Per line: whether it is exactly one valid record (the write pass copies it or skips it
    /// by `alive`; any other line is parsed again there).
    pub clean: Bits,
    /// Per record, in file order: whether key compaction keeps it (all kept without a key).
    alive: Bits,
    /// Records before this one (by position) are dropped by retention.
    first_kept: u64,
    /// Records planned over, and the position of the newest, which is always kept.
    pub records: u64,
    /// Records the policy drops.
    pub dropped: u64,
    /// Corrupt lines seen.
    pub damaged: u64,
}

impl Plan {
    /// Plans over `bytes`, whole lines of a log.
    pub(crate) fn build(bytes: &[u8], policy: &Policy, now_ms: u64) -> Plan {
        let min_ts = policy.max_age.map_or(0, |age| now_ms.saturating_sub(age.as_millis() as u64));
        let retention = policy.tombstone_retention.unwrap_or(DEFAULT_TOMBSTONE_RETENTION);
        // A tombstone with a ts at or past this is kept.
        let tombstone_min_ts = now_ms.saturating_sub(retention.as_millis() as u64);
        let mut plan = Plan::default();
        // For key compaction: the position of the newest record of each key (borrowed from the
        // log's bytes: no allocation per record).
        let mut newest = Newest::new();
        let mut too_old = 0u64;
        let mut pos = 0usize;
        let mut line = 0usize;
        while pos < bytes.len() {
            let nl = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            let parsed = resync::parse(&bytes[pos..nl], false);
            plan.clean.push(line, parsed.skip == 0 && parsed.frame.is_some());
            plan.damaged += u64::from(parsed.reason.is_some());
            if let Some(f) = parsed.frame {
                let at = plan.records as usize;
                plan.records += 1;
                too_old += u64::from(f.ts < min_ts);
                let mut keep = true;
                if let Some(key) = policy.key.as_ref().and_then(|k| k.find(f.data)) {
                    // Only the newest record of a key lives, and not even that if it is a
                    // tombstone past its retention.
                    let tombstone =
                        policy.tombstone.as_ref().is_some_and(|t| is_tombstone(t, f.data));
                    keep = !tombstone || (retention > Duration::ZERO && f.ts >= tombstone_min_ts);
                    // (Only records before this one are ever reported superseded.)
                    newest.push(key_bytes(key), at, |older| plan.alive.set(older, false));
                }
                plan.alive.push(at, keep);
            }
            line += 1;
            pos = nl + 1;
        }
        newest.finish(|older| plan.alive.set(older, false));
        // Timestamps never decrease, so too-old records are a prefix; keep-last and max-bytes
        // cut a prefix too.
        plan.first_kept = too_old;
        if let Some(n) = policy.keep_last {
            plan.first_kept = plan.first_kept.max(plan.records.saturating_sub(n));
        }
        if let Some(max) = policy.max_bytes {
            let mut used = 0u64;
            let mut kept = 0u64;
            for r in Reader::new(bytes).records_rev() {
                used += r.line.len() as u64 + 1;
                if used > max {
                    break;
                }
                kept += 1;
            }
            plan.first_kept = plan.first_kept.max(plan.records - kept);
        }
        let kept = (plan.first_kept.min(plan.records)..plan.records)
            .filter(|&i| plan.keeps(i))
            .count() as u64;
        let last_below_cut = plan.records > 0 && plan.records - 1 < plan.first_kept;
        plan.dropped = plan.records - kept - u64::from(last_below_cut);
        plan
    }

    /// Whether the record at position `i` (in file order) stays. The newest always does.
    pub(crate) fn keeps(&self, i: u64) -> bool {
        i + 1 == self.records || (i >= self.first_kept && self.alive.get(i as usize))
    }
}
