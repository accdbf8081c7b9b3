//! The sidecar index: its on-disk format, and a validated view of it for lookups.
//!
//! `LOG.idx` is a 64-byte header followed by fixed-width little-endian entries
//! `(seq, ts, offset)`, one for every `stride`-th record (FORMAT.md, section 6). It is derived
//! data: every answer found through it is checked against the log, and a wrong or missing
//! entry only costs a slower path, never a wrong answer.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::reader::Reader;
use crate::vfs::FileId;

/// First bytes of an index file.
pub const MAGIC: &[u8; 8] = b"NDLOGIDX";
/// The index format version.
pub const VERSION: u32 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 64;
/// Entry size in bytes: seq, ts, offset as little-endian u64.
pub const ENTRY_LEN: usize = 24;
/// One entry every this many records, by default.
pub const DEFAULT_STRIDE: u32 = 4;
/// Largest stride accepted in a header.
pub const MAX_STRIDE: u32 = 1 << 16;
/// Entries checked against the log, evenly spaced, when an index is attached to a reader.
const SAMPLES: usize = 8;
/// Torn or stale entries at the end that are skipped before the index is given up on.
const MAX_BAD_TAIL: usize = 64;

/// The index header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// One entry every `stride` records.
    pub stride: u32,
    /// The log file the index describes: compaction replaces the log, and its index with it.
    pub log_id: FileId,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.stride.to_le_bytes());
        out[16..24].copy_from_slice(&self.log_id.dev.to_le_bytes());
        out[24..32].copy_from_slice(&self.log_id.ino.to_le_bytes());
        let crc = crc32fast::hash(&out[..HEADER_LEN - 4]);
        out[HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, IndexProblem> {
        let bytes: &[u8; HEADER_LEN] =
            bytes.get(..HEADER_LEN).and_then(|b| b.try_into().ok()).ok_or(IndexProblem::Short)?;
        if &bytes[..8] != MAGIC {
            return Err(IndexProblem::BadHeader("not an ndlog index"));
        }
        let crc = u32::from_le_bytes(bytes[HEADER_LEN - 4..].try_into().unwrap_or_default());
        if crc != crc32fast::hash(&bytes[..HEADER_LEN - 4]) {
            return Err(IndexProblem::BadHeader("header checksum mismatch"));
        }
        if le32(&bytes[8..12]) != VERSION {
            return Err(IndexProblem::BadHeader("unsupported version"));
        }
        let stride = le32(&bytes[12..16]);
        if stride == 0 || stride > MAX_STRIDE {
            return Err(IndexProblem::BadHeader("invalid stride"));
        }
        let log_id = FileId { dev: le64(&bytes[16..24]), ino: le64(&bytes[24..32]) };
        Ok(Header { stride, log_id })
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap_or_default())
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or_default())
}

/// One index entry: where a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The record's seq.
    pub seq: u64,
    /// The record's ts.
    pub ts: u64,
    /// Byte offset of the record's line in the log.
    pub offset: u64,
}

impl IndexEntry {
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
    }

    #[inline]
    pub(crate) fn decode(b: &[u8]) -> IndexEntry {
        IndexEntry { seq: le64(&b[0..8]), ts: le64(&b[8..16]), offset: le64(&b[16..24]) }
    }
}

/// Why an index is not (fully) used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexProblem {
    /// There is no index file.
    Missing,
    /// Shorter than its header.
    Short,
    /// The header is not a valid ndlog index header.
    BadHeader(&'static str),
    /// The index was built for another file (the log was replaced, e.g. by compaction).
    OtherLog,
    /// An entry disagrees with the log.
    Disagrees {
        /// Position of the entry.
        entry: usize,
    },
}

impl fmt::Display for IndexProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexProblem::Missing => f.write_str("no index file"),
            IndexProblem::Short => f.write_str("index file shorter than its header"),
            IndexProblem::BadHeader(why) => write!(f, "bad index header: {why}"),
            IndexProblem::OtherLog => f.write_str("index was built for another log file"),
            IndexProblem::Disagrees { entry } => {
                write!(f, "index entry {entry} disagrees with the log")
            }
        }
    }
}

/// A parsed index, attached to a [`Reader`] of the log it describes.
pub struct Index {
    bytes: Box<dyn AsRef<[u8]> + Send + Sync>,
    header: Header,
    /// Entries that passed validation against the log (a prefix of the file's entries).
    count: usize,
    /// Entries in the file, including a torn or stale tail that was not used.
    total: usize,
    /// Set when a lookup found an entry that disagrees with the log: lookups stop using it.
    distrusted: AtomicBool,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("header", &self.header)
            .field("count", &self.count)
            .field("total", &self.total)
            .field("distrusted", &self.distrusted)
            .finish()
    }
}

impl Index {
    /// Parses index bytes (a map of `LOG.idx`). Checks only the header; entries are checked
    /// against the log when the index is attached to a reader.
    pub(crate) fn parse(bytes: Box<dyn AsRef<[u8]> + Send + Sync>) -> Result<Index, IndexProblem> {
        let all = (*bytes).as_ref();
        let header = Header::decode(all)?;
        let total = (all.len() - HEADER_LEN) / ENTRY_LEN;
        Ok(Index { bytes, header, count: total, total, distrusted: AtomicBool::new(false) })
    }

    pub(crate) fn header(&self) -> Header {
        self.header
    }

    /// Entries usable for lookups.
    pub fn len(&self) -> usize {
        if self.is_distrusted() { 0 } else { self.count }
    }

    /// Whether no entry is usable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One entry every `stride` records.
    pub fn stride(&self) -> u32 {
        self.header.stride
    }

    /// Entry `i` of the usable ones.
    pub fn get(&self, i: usize) -> Option<IndexEntry> {
        (i < self.len()).then(|| self.entry(i))
    }

    /// The last usable entry.
    pub fn last(&self) -> Option<IndexEntry> {
        self.len().checked_sub(1).map(|i| self.entry(i))
    }

    /// Entry `i` of the file; `i` must be below the file's entry count.
    pub(crate) fn entry(&self, i: usize) -> IndexEntry {
        let start = HEADER_LEN + i * ENTRY_LEN;
        IndexEntry::decode(&(*self.bytes).as_ref()[start..start + ENTRY_LEN])
    }

    /// Stops using the index for lookups.
    pub(crate) fn distrust(&self) {
        self.distrusted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_distrusted(&self) -> bool {
        self.distrusted.load(Ordering::Relaxed)
    }

    /// Checks the entries against `log`: drops a torn or stale tail (a crash between a log
    /// write and an index write, or a partly written entry), then samples entries across the
    /// index. Returns the problem that makes the index unusable, if any.
    pub(crate) fn validate<D: AsRef<[u8]>>(&mut self, log: &Reader<D>) -> Result<(), IndexProblem> {
        let mut count = self.total;
        let mut dropped = 0;
        while count > 0
            && !entry_matches(
                log,
                &self.entry(count - 1),
                count.checked_sub(2).map(|i| self.entry(i)),
            )
        {
            count -= 1;
            dropped += 1;
            if dropped > MAX_BAD_TAIL {
                return Err(IndexProblem::Disagrees { entry: count });
            }
        }
        self.count = count;
        for k in 0..SAMPLES.min(count) {
            let i = k * (count - 1) / (SAMPLES - 1).max(1);
            let previous = i.checked_sub(1).map(|p| self.entry(p));
            if !entry_matches(log, &self.entry(i), previous) {
                return Err(IndexProblem::Disagrees { entry: i });
            }
        }
        Ok(())
    }

    /// The position of the first usable entry whose `key` is ≥ `target`, for a key that does
    /// not decrease along the index (seq or ts). An interpolation guess, then galloping from
    /// it: a handful of probes for a log written at a steady pace, O(log n) at worst.
    pub(crate) fn partition_point(&self, target: u64, key: impl Fn(&IndexEntry) -> u64) -> usize {
        let n = self.len();
        // The entries' bytes, fetched once: every probe below reads from them.
        let entries = &(*self.bytes).as_ref()[HEADER_LEN..];
        let key_at = |i: usize| key(&IndexEntry::decode(&entries[i * ENTRY_LEN..][..ENTRY_LEN]));
        let below = |i: usize| key_at(i) < target;
        if n == 0 {
            return 0;
        }
        let (k0, k1) = (key_at(0), key_at(n - 1));
        if k0 >= target {
            return 0;
        }
        if k1 < target {
            return n;
        }
        // Now k0 < target <= k1: the answer is in 1..n.
        let (offset, span, last) = (target - k0, k1 - k0, n as u64 - 1);
        let guess = match offset.checked_mul(last) {
            Some(product) => product / span,
            None => (u128::from(offset) * u128::from(last) / u128::from(span)) as u64,
        };
        let guess = (guess as usize).clamp(1, n - 1);
        // Gallop away from the guess until the answer is bracketed in lo..=hi.
        let (mut lo, mut hi);
        let mut step = 1usize;
        if below(guess) {
            lo = guess + 1;
            loop {
                let probe = guess.saturating_add(step).min(n - 1);
                if !below(probe) {
                    hi = probe;
                    break;
                }
                lo = probe + 1;
                step *= 2;
            }
        } else {
            hi = guess;
            loop {
                let probe = guess.saturating_sub(step);
                if below(probe) {
                    lo = probe + 1;
                    break;
                }
                hi = probe;
                step *= 2;
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Whether `e` points at a record of the log with its seq and ts, in order after `previous`.
pub(crate) fn entry_matches<D: AsRef<[u8]>>(
    log: &Reader<D>,
    e: &IndexEntry,
    previous: Option<IndexEntry>,
) -> bool {
    if let Some(p) = previous
        && (e.seq <= p.seq || e.ts < p.ts || e.offset <= p.offset)
    {
        return false;
    }
    usize::try_from(e.offset)
        .ok()
        .and_then(|at| log.line_at(at))
        .is_some_and(|r| r.seq == e.seq && r.ts == e.ts)
}

/// Chooses which records get an entry: the first record, then every `stride`-th record after
/// the previous entry's. A function of the log alone, so a catch-up by any writer and a full
/// rebuild produce the same entries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Selector {
    stride: u32,
    /// Records to pass over before the next entry.
    countdown: u32,
    /// The last entry's record, where a resumed scan starts: already indexed.
    resume_at: Option<u64>,
}

impl Selector {
    /// Starts at the first record, or resumes after the entry `last`.
    pub(crate) fn new(stride: u32, last: Option<IndexEntry>) -> Self {
        Selector { stride, countdown: 0, resume_at: last.map(|l| l.offset) }
    }

    /// Whether the record `(seq, ts, offset)`, next in file order, gets an entry.
    pub(crate) fn select(&mut self, seq: u64, ts: u64, offset: u64) -> Option<IndexEntry> {
        if self.resume_at.take() == Some(offset) {
            self.countdown = self.stride - 1;
            return None;
        }
        if self.countdown > 0 {
            self.countdown -= 1;
            return None;
        }
        self.countdown = self.stride - 1;
        Some(IndexEntry { seq, ts, offset })
    }
}

/// What [`crate::Reader::check_index`] found: whether `LOG.idx` agrees with the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexCheck {
    /// Why the index cannot be used at all (missing, bad header, built for another log).
    pub problem: Option<IndexProblem>,
    /// One entry every `stride` records.
    pub stride: u32,
    /// Whole entries in the file.
    pub entries: u64,
    /// Bytes of a partial entry at the end (a torn write).
    pub torn_bytes: u64,
    /// Leading entries that are exactly the entries a rebuild would write.
    pub matching: u64,
    /// Entries a rebuild from the log would write.
    pub expected: u64,
}

impl IndexCheck {
    /// Every entry in the file is right (it may lag the log: see [`IndexCheck::is_current`]).
    pub fn agrees(&self) -> bool {
        self.problem.is_none() && self.matching == self.entries && self.torn_bytes == 0
    }

    /// It agrees and covers the whole log, up to at most `stride - 1` trailing records.
    pub fn is_current(&self) -> bool {
        self.agrees() && self.entries == self.expected
    }

    /// Compares index bytes with the entries a rebuild from `log` would produce.
    pub(crate) fn run<D: AsRef<[u8]>>(
        log: &Reader<D>,
        index: &[u8],
        log_id: Option<FileId>,
    ) -> IndexCheck {
        let header = match Header::decode(index) {
            Ok(h) if log_id.is_some_and(|id| id != h.log_id) => {
                return IndexCheck {
                    problem: Some(IndexProblem::OtherLog),
                    stride: h.stride,
                    ..Default::default()
                };
            }
            Ok(h) => h,
            Err(problem) => return IndexCheck { problem: Some(problem), ..Default::default() },
        };
        let body = &index[HEADER_LEN..];
        let entries = (body.len() / ENTRY_LEN) as u64;
        let mut check = IndexCheck {
            stride: header.stride,
            entries,
            torn_bytes: (body.len() % ENTRY_LEN) as u64,
            ..Default::default()
        };
        let mut selector = Selector::new(header.stride, None);
        let mut agreeing = true;
        for r in log.records() {
            let Some(want) = selector.select(r.seq, r.ts, r.offset) else { continue };
            let i = check.expected as usize;
            check.expected += 1;
            if agreeing && (i as u64) < entries {
                let got = IndexEntry::decode(&body[i * ENTRY_LEN..(i + 1) * ENTRY_LEN]);
                agreeing = got == want;
                check.matching += u64::from(agreeing);
            }
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode;

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            encode(&mut out, seq, seq / 3, b"{}");
        }
        out
    }

    fn build(bytes: &[u8], stride: u32) -> Vec<u8> {
        let header = Header { stride, log_id: FileId { dev: 1, ino: 2 } };
        let mut out = header.encode().to_vec();
        let mut sel = Selector::new(stride, None);
        for r in Reader::new(bytes).records() {
            if let Some(e) = sel.select(r.seq, r.ts, r.offset) {
                e.encode_into(&mut out);
            }
        }
        out
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = Header { stride: 16, log_id: FileId { dev: 7, ino: 99 } };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        for i in 0..HEADER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert!(Header::decode(&bad).is_err(), "flip at {i}");
        }
        assert_eq!(Header::decode(&bytes[..10]), Err(IndexProblem::Short));
    }

    #[test]
    fn selector_picks_every_stride_th_record_and_resumes_identically() {
        let bytes = log(100);
        let full = build(&bytes, 16);
        let idx = Index::parse(Box::new(full.clone())).unwrap();
        let seqs: Vec<u64> = (0..idx.len()).map(|i| idx.entry(i).seq).collect();
        assert_eq!(seqs, [1, 17, 33, 49, 65, 81, 97]);
        // Resuming from the entry for 49 yields the same later entries.
        let last = idx.entry(3);
        let mut sel = Selector::new(16, Some(last));
        let resumed: Vec<u64> = Reader::new(&bytes[..])
            .records_from(last.offset)
            .filter_map(|r| sel.select(r.seq, r.ts, r.offset))
            .map(|e| e.seq)
            .collect();
        assert_eq!(resumed, [65, 81, 97]);
    }

    #[test]
    fn validation_drops_a_torn_tail_and_rejects_disagreement() {
        let bytes = log(100);
        let reader = Reader::new(&bytes[..]);
        let mut full = build(&bytes, 4);
        let mut idx = Index::parse(Box::new(full.clone())).unwrap();
        assert_eq!(idx.validate(&reader), Ok(()));
        let all = idx.len();
        // A partial entry is not counted; a zeroed last entry is dropped.
        full.extend_from_slice(&[0; 10]);
        let n = full.len();
        full[n - 10 - ENTRY_LEN..n - 10].fill(0);
        let mut idx = Index::parse(Box::new(full.clone())).unwrap();
        assert_eq!(idx.validate(&reader), Ok(()));
        assert_eq!(idx.len(), all - 1);
        // An entry in the middle pointing elsewhere is caught by sampling (entries 0, 14, 28,
        // 42, ... of 100 are sampled); lookups check every entry they use in any case.
        let mut bad = build(&bytes, 1);
        let at = HEADER_LEN + 42 * ENTRY_LEN + 16;
        bad[at] = bad[at].wrapping_add(1);
        let mut idx = Index::parse(Box::new(bad)).unwrap();
        assert_eq!(idx.validate(&reader), Err(IndexProblem::Disagrees { entry: 42 }));
    }
}
