//! The bytes of `LOG.idx`: its header, its entries, and which records get one.
//!
//! `LOG.idx` is a 64-byte header followed by fixed-width little-endian entries
//! `(seq, ts, offset)`, one for every `stride`-th record (FORMAT.md, section 6). It is derived
//! data: every answer found through it is checked against the log, and a wrong or missing
//! entry only costs a slower path, never a wrong answer.

use std::fmt;

use crate::fs::FileId;

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

#[inline]
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap_or_default())
}

#[inline]
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
