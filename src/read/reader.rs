//! Reading a log from bytes: every line CRC-checked, the torn tail skipped, corrupt lines skipped
//! and counted, no heap allocation per record.

use std::path::{Path, PathBuf};

use memchr::{memchr, memrchr};
use serde::Deserialize;

use crate::error::{ErrorKind, Result};
use crate::format::LineError;
use crate::format::resync;
use crate::index::{Index, IndexProblem};

/// A reader over a log's bytes: a memory map (see [`Reader::open`]), a `Vec<u8>`, anything that
/// is `AsRef<[u8]>`.
///
/// # Example
/// ```
/// let mut log = Vec::new();
/// ndlog::format::encode(&mut log, 1, 1_700_000_000_000, br#"{"user":"u1"}"#);
/// ndlog::format::encode(&mut log, 2, 1_700_000_000_001, br#"{"user":"u2"}"#);
/// let reader = ndlog::Reader::new(log);
/// let seqs: Vec<u64> = reader.records().map(|r| r.seq).collect();
/// assert_eq!(seqs, [1, 2]);
/// ```
#[derive(Debug)]
pub struct Reader<D> {
    pub(crate) data: D,
    /// The file's name for error messages (`None`: bytes in memory).
    pub(crate) path: Option<PathBuf>,
    pub(crate) json: bool,
    /// The sidecar index, validated against `data`, when one is attached.
    pub(crate) index: Option<Index>,
    /// Why no index is attached, or why part of it was dropped.
    pub(crate) index_problem: Option<IndexProblem>,
    /// Bytes of the file after `data`, copied rather than mapped: a file is mapped only up to
    /// the end of its last record (what follows may still change). They hold no record; entries
    /// and verification report them after `data`'s own.
    pub(crate) beyond: Beyond,
}

/// The bytes of a file after its last record, as a reader copied them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Beyond {
    pub(crate) bytes: Vec<u8>,
    /// Bytes after `bytes` that were not copied (see [`LineError::NotRead`]).
    pub(crate) unread: u64,
}

/// One valid record, borrowing the reader's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number: strictly increasing in file order.
    pub seq: u64,
    /// Timestamp in unix milliseconds: never decreasing in file order.
    pub ts: u64,
    /// The payload: one compact JSON value.
    pub data: &'a [u8],
    /// The whole line, without its newline.
    pub line: &'a [u8],
    /// Byte offset of the line in the file.
    pub offset: u64,
}

impl<'a> Record<'a> {
    /// Deserialises the payload, borrowing from the log where the type allows.
    ///
    /// # Errors
    /// [`ErrorKind::Deserialize`] when the payload does not match `T`.
    ///
    /// # Example
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Event<'a> { user: &'a str }
    /// let mut log = Vec::new();
    /// ndlog::format::encode(&mut log, 1, 0, br#"{"user":"u1"}"#);
    /// let reader = ndlog::Reader::new(log);
    /// let event: Event = reader.records().next().unwrap().deserialize().unwrap();
    /// assert_eq!(event.user, "u1");
    /// ```
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T> {
        serde_json::from_slice(self.data).map_err(|source| {
            ErrorKind::Deserialize { seq: self.seq, offset: self.offset, source }.into()
        })
    }

    /// The byte offset just past the record's newline.
    pub fn end(&self) -> u64 {
        self.offset + self.line.len() as u64 + 1
    }
}

/// One piece of the file, in file order. Together the entries account for every byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A valid record (its line and newline).
    Record(Record<'a>),
    /// Bytes that are not a valid record, up to and including a newline where there is one.
    Corrupt {
        /// Offset of the first corrupt byte.
        offset: u64,
        /// Number of corrupt bytes.
        len: u64,
        /// Why they are not a record.
        reason: LineError,
    },
    /// A run of blank lines (`\n` alone): padding, skipped by every reader.
    Padding {
        /// Offset of the first newline of the run.
        offset: u64,
        /// Number of newlines.
        len: u64,
    },
    /// Bytes after the last newline: a write in progress or a crash. Not an error.
    TornTail {
        /// Offset of the first byte after the last newline.
        offset: u64,
        /// Number of bytes to the end of the data.
        len: u64,
    },
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// A reader over `data`, checking every line's CRC.
    ///
    /// It takes every record in `data` as a record of the log, those of a write that did not
    /// finish at its end too (records marked to continue, FORMAT.md section 3): a reader that
    /// opens a file ([`Reader::open`]) maps it only up to its last finished write.
    pub fn new(data: D) -> Self {
        Reader {
            data,
            path: None,
            json: false,
            index: None,
            index_problem: Some(IndexProblem::Missing),
            beyond: Beyond::default(),
        }
    }

    /// Attaches an index (the bytes of a `LOG.idx` file) for faster seeks. The index is
    /// checked against the log: a torn or stale tail of entries is dropped, and an index that
    /// disagrees with the log is not attached. Lookups check every entry they use in any case,
    /// so an index can make a lookup slower, never wrong.
    ///
    /// # Errors
    /// The [`IndexProblem`] that keeps the index from being used; the reader works without it.
    pub fn attach_index(
        &mut self,
        bytes: impl AsRef<[u8]> + Send + Sync + 'static,
    ) -> std::result::Result<(), IndexProblem> {
        self.attach_index_for(Box::new(bytes), None)
    }

    /// Attaches an index, which must have been built for the log file `log_id` if given.
    pub(crate) fn attach_index_for(
        &mut self,
        bytes: Box<dyn AsRef<[u8]> + Send + Sync>,
        log_id: Option<crate::fs::FileId>,
    ) -> std::result::Result<(), IndexProblem> {
        self.index = None;
        let result = Index::parse(bytes).and_then(|mut index| {
            if log_id.is_some_and(|id| id != index.header().log_id) {
                return Err(IndexProblem::OtherLog);
            }
            super::indexed::validate(&mut index, self)?;
            self.index = Some(index);
            Ok(())
        });
        self.index_problem = result.err();
        result
    }

    /// The attached index, if any.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref().filter(|i| !i.is_distrusted())
    }

    /// Why the index is not used (missing, from another log, disagreeing with the log), if it
    /// is not. An index that lookups found to disagree with the log reports that here too.
    pub fn index_problem(&self) -> Option<IndexProblem> {
        match &self.index {
            Some(i) if i.is_distrusted() => Some(IndexProblem::Disagrees { entry: 0 }),
            _ => self.index_problem,
        }
    }

    /// Names the file in error messages.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Also checks that each payload is exactly one JSON value (slower; for untrusted files).
    ///
    /// The CRC proves a line is what a writer wrote, and ndlog writers only frame valid JSON;
    /// a CRC is not a signature, though, so a file from an untrusted source can carry a
    /// well-framed line with invalid JSON. This mode rejects such lines as corrupt.
    #[must_use]
    pub fn validate_json(mut self, yes: bool) -> Self {
        self.json = yes;
        self
    }

    /// The bytes being read.
    pub fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// The file name used in error messages.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("<memory>"))
    }

    /// Every piece of the file in order: records, corrupt lines, padding and the torn tail.
    pub fn entries(&self) -> Entries<'_> {
        self.entries_from(0)
    }

    /// Like [`Reader::entries`], starting at `offset`, which must be the start of a line (0, or
    /// just after a newline); anything else yields the rest of that line as corrupt.
    pub fn entries_from(&self, offset: u64) -> Entries<'_> {
        let (data, beyond) = (self.bytes(), &self.beyond.bytes[..]);
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let (buf, base, pos, then, beyond) = match at.checked_sub(data.len()) {
            Some(past) if past > 0 => (beyond, data.len(), past.min(beyond.len()), None, true),
            _ => (data, 0, at, Some(beyond).filter(|b| !b.is_empty()), false),
        };
        let unread = self.beyond.unread;
        Entries { buf, base, pos, then, beyond, unread, json: self.json, pending: None }
    }

    /// The valid records in order, skipping damage; [`Records::stats`] counts what was skipped.
    pub fn records(&self) -> Records<'_> {
        Records { entries: self.entries(), stats: ScanStats::default() }
    }

    /// The valid records from `offset` (a line start) on.
    pub fn records_from(&self, offset: u64) -> Records<'_> {
        Records { entries: self.entries_from(offset), stats: ScanStats::default() }
    }

    /// The valid records in order, failing at the first corrupt line (strict mode). The torn
    /// tail is not an error: it is what a write in progress looks like.
    pub fn try_records(&self) -> TryRecords<'_> {
        TryRecords { entries: self.entries(), path: self.path(), failed: false }
    }

    /// The valid records from the last to the first, reading backwards from the end.
    pub fn records_rev(&self) -> RecordsRev<'_> {
        self.records_rev_before(self.bytes().len() as u64)
    }

    /// The valid records before `offset` (a line start), from the last to the first.
    pub fn records_rev_before(&self, offset: u64) -> RecordsRev<'_> {
        let all = self.bytes();
        let buf = &all[..usize::try_from(offset).unwrap_or(usize::MAX).min(all.len())];
        // The torn tail (after the last newline) is not a record.
        let end = memrchr(b'\n', buf).unwrap_or(0);
        RecordsRev { buf, end, json: self.json, done: buf.is_empty() }
    }

    /// The last valid record, found by reading backwards from the end.
    pub fn last(&self) -> Option<Record<'_>> {
        self.records_rev().next()
    }

    /// Checks the whole file and reports what it holds. A mapped part of 8 MiB or more is
    /// checked on up to four threads (stretches of whole lines, merged in file order: the
    /// summary is the same as [`Reader::verify_in_order`]'s).
    pub fn verify(&self) -> Summary {
        super::split::verify(self, &super::split::VerifySplit::auto())
    }

    /// [`Reader::verify`], split as `split` says (for tests).
    #[doc(hidden)]
    pub fn verify_split(&self, split: &super::split::VerifySplit) -> Summary {
        super::split::verify(self, split)
    }

    /// [`Reader::verify`] on the calling thread, in file order.
    pub fn verify_in_order(&self) -> Summary {
        let bytes = (self.bytes().len() + self.beyond.bytes.len()) as u64 + self.beyond.unread;
        let mut summary = Summary { bytes, ..Summary::default() };
        super::split::tally(self.entries(), &mut summary, None);
        summary
    }
}

/// Iterator over [`Entry`]s; see [`Reader::entries`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    buf: &'a [u8],
    /// Offset of `buf` in the file.
    base: usize,
    pos: usize,
    /// The bytes that follow `buf` in the file, read next (`buf` then ends with a newline).
    then: Option<&'a [u8]>,
    /// `buf` is the bytes after the mapped part: they hold no record of the log. A record
    /// there carries the continuation mark (the last record without it ends the mapped part):
    /// it and everything after it are an unfinished write, reported as the torn tail.
    beyond: bool,
    /// Bytes after all of those that were not read: reported as one damaged span.
    unread: u64,
    json: bool,
    pending: Option<Entry<'a>>,
}

impl<'a> Entries<'a> {
    /// Byte offset of the next entry.
    pub fn position(&self) -> u64 {
        match self.pending {
            Some(Entry::Record(r)) => r.offset,
            _ => (self.base + self.pos) as u64,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        if let Some(entry) = self.pending.take() {
            return Some(entry);
        }
        let Some(rest) = self.buf.get(self.pos..).filter(|r| !r.is_empty()) else {
            if let Some(next) = self.then.take() {
                (self.base, self.buf, self.pos) = (self.base + self.buf.len(), next, 0);
                self.beyond = true;
                return self.next();
            }
            let len = std::mem::take(&mut self.unread);
            let offset = (self.base + self.buf.len()) as u64;
            return (len > 0).then_some(Entry::Corrupt { offset, len, reason: LineError::NotRead });
        };
        let start = self.base + self.pos;
        if rest[0] == b'\n' {
            let len = rest.iter().take_while(|&&b| b == b'\n').count();
            self.pos += len;
            return Some(Entry::Padding { offset: start as u64, len: len as u64 });
        }
        let Some(nl) = memchr(b'\n', rest) else {
            self.pos = self.buf.len();
            return Some(Entry::TornTail { offset: start as u64, len: rest.len() as u64 });
        };
        self.pos += nl + 1;
        let raw = &rest[..nl];
        let parsed = resync::parse(raw, self.json);
        if self.beyond && parsed.frame.is_some() {
            // (With the bytes after those copied, which belong to the same write.)
            self.pos = self.buf.len();
            let len = rest.len() as u64 + std::mem::take(&mut self.unread);
            return Some(Entry::TornTail { offset: start as u64, len });
        }
        let record = parsed.frame.map(|f| {
            let line = &raw[parsed.skip..];
            let offset = (start + parsed.skip) as u64;
            Entry::Record(Record { seq: f.seq, ts: f.ts, data: f.data, line, offset })
        });
        match parsed.reason {
            None => record,
            Some(reason) => {
                // Without a record, the corrupt bytes include the newline.
                let len = if record.is_some() { parsed.skip } else { nl + 1 };
                self.pending = record;
                Some(Entry::Corrupt { offset: start as u64, len: len as u64, reason })
            }
        }
    }
}

/// What a scan skipped. Returned by [`Records::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Valid records returned.
    pub records: u64,
    /// Corrupt lines (or corrupt prefixes before a resynchronised record) skipped.
    pub corrupt_lines: u64,
    /// Bytes in those.
    pub corrupt_bytes: u64,
    /// Offset of the first corrupt line seen, if any.
    pub first_corrupt: Option<u64>,
    /// Blank padding bytes skipped.
    pub padding_bytes: u64,
    /// The torn tail, as (offset, length), if the data ended in one.
    pub torn_tail: Option<(u64, u64)>,
}

/// Iterator over valid records; see [`Reader::records`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    entries: Entries<'a>,
    stats: ScanStats,
}

impl<'a> Records<'a> {
    /// What was returned and skipped so far.
    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    /// Byte offset where the next record search starts.
    pub fn position(&self) -> u64 {
        self.entries.position()
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            match self.entries.next()? {
                Entry::Record(r) => {
                    self.stats.records += 1;
                    return Some(r);
                }
                Entry::Corrupt { offset, len, .. } => {
                    self.stats.corrupt_lines += 1;
                    self.stats.corrupt_bytes += len;
                    self.stats.first_corrupt.get_or_insert(offset);
                }
                Entry::Padding { len, .. } => self.stats.padding_bytes += len,
                Entry::TornTail { offset, len } => self.stats.torn_tail = Some((offset, len)),
            }
        }
    }
}

/// Strict iterator: valid records, or an error at the first corrupt line; see
/// [`Reader::try_records`].
#[derive(Debug)]
pub struct TryRecords<'a> {
    entries: Entries<'a>,
    path: &'a Path,
    failed: bool,
}

impl<'a> Iterator for TryRecords<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Result<Record<'a>>> {
        if self.failed {
            return None;
        }
        loop {
            match self.entries.next()? {
                Entry::Record(r) => return Some(Ok(r)),
                Entry::Corrupt { offset, reason, .. } => {
                    self.failed = true;
                    let path = self.path.to_path_buf();
                    return Some(Err(ErrorKind::Corrupt { path, offset, reason }.into()));
                }
                Entry::Padding { .. } | Entry::TornTail { .. } => {}
            }
        }
    }
}

/// Iterator over valid records from the end; see [`Reader::records_rev`].
#[derive(Clone, Debug)]
pub struct RecordsRev<'a> {
    buf: &'a [u8],
    /// Index of the newline ending the next line to look at.
    end: usize,
    json: bool,
    done: bool,
}

impl<'a> Iterator for RecordsRev<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        while !self.done {
            // The line before the newline at `end` starts after the previous newline.
            let start = memrchr(b'\n', &self.buf[..self.end]).map_or(0, |i| i + 1);
            let raw = &self.buf[start..self.end];
            if start == 0 {
                self.done = true;
            } else {
                self.end = start - 1;
            }
            if raw.is_empty() {
                continue;
            }
            let parsed = resync::parse(raw, self.json);
            if let Some(f) = parsed.frame {
                let line = &raw[parsed.skip..];
                let offset = (start + parsed.skip) as u64;
                return Some(Record { seq: f.seq, ts: f.ts, data: f.data, line, offset });
            }
        }
        None
    }
}

/// What [`Reader::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes checked.
    pub bytes: u64,
    /// Valid records.
    pub records: u64,
    /// Seq and ts of the first valid record.
    pub first: Option<(u64, u64)>,
    /// Seq and ts of the last valid record.
    pub last: Option<(u64, u64)>,
    /// Corrupt lines (including corrupt prefixes before a resynchronised record).
    pub corrupt_lines: u64,
    /// Bytes in corrupt lines.
    pub corrupt_bytes: u64,
    /// Valid records whose seq did not increase or whose ts went backwards.
    pub out_of_order: u64,
    /// The first [`Summary::MAX_LISTED`] problems: corrupt lines and out-of-order records.
    pub problems: Vec<Problem>,
    /// Blank padding bytes.
    pub padding_bytes: u64,
    /// The torn tail, as (offset, length), if the file ends in one.
    pub torn_tail: Option<(u64, u64)>,
}

/// One problem [`Reader::verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset of the line.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// What is wrong.
    pub reason: LineError,
}

impl Summary {
    /// How many problems [`Summary::problems`] lists at most; the counts cover all of them.
    pub const MAX_LISTED: usize = 1000;

    /// Whether the file holds nothing but valid, ordered records (and padding or a torn tail).
    pub fn is_clean(&self) -> bool {
        self.corrupt_lines == 0 && self.out_of_order == 0
    }

    pub(super) fn note_problem(&mut self, offset: u64, len: u64, reason: LineError) {
        if self.problems.len() < Self::MAX_LISTED {
            self.problems.push(Problem { offset, len, reason });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode;

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            encode(&mut out, seq, 100 + seq, format!(r#"{{"n":{seq}}}"#).as_bytes());
        }
        out
    }

    fn accounted(reader: &Reader<Vec<u8>>) -> u64 {
        reader
            .entries()
            .map(|e| match e {
                Entry::Record(r) => r.line.len() as u64 + 1,
                Entry::Corrupt { len, .. }
                | Entry::Padding { len, .. }
                | Entry::TornTail { len, .. } => len,
            })
            .sum()
    }

    #[test]
    fn reads_records_in_order() {
        let r = Reader::new(log(5));
        let seqs: Vec<_> = r.records().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let rev: Vec<_> = r.records_rev().map(|r| r.seq).collect();
        assert_eq!(rev, [5, 4, 3, 2, 1]);
        assert_eq!(accounted(&r), r.bytes().len() as u64);
        let s = r.verify();
        assert!(s.is_clean());
        assert_eq!((s.records, s.first, s.last), (5, Some((1, 101)), Some((5, 105))));
    }

    #[test]
    fn torn_tail_is_skipped_not_reported_as_corrupt() {
        let mut bytes = log(3);
        let full = bytes.len();
        bytes.extend_from_slice(br#"{"seq":4,"ts":1"#);
        let r = Reader::new(bytes);
        assert_eq!(r.records().count(), 3);
        let s = r.verify();
        assert!(s.is_clean());
        assert_eq!(s.torn_tail, Some((full as u64, 15)));
        assert_eq!(r.last().unwrap().seq, 3);
        assert_eq!(r.try_records().filter_map(|r| r.ok()).count(), 3);
    }

    #[test]
    fn corrupt_line_is_skipped_and_located() {
        let mut bytes = log(3);
        let second = memchr(b'\n', &bytes).unwrap() + 1;
        bytes[second + 20] ^= 0x20;
        let r = Reader::new(bytes);
        let seqs: Vec<_> = r.records().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 3]);
        let s = r.verify();
        assert_eq!(s.corrupt_lines, 1);
        assert_eq!(s.problems[0].offset, second as u64);
        let err = r.try_records().find_map(|r| r.err()).unwrap();
        assert_eq!(err.offset(), Some(second as u64));
        assert_eq!(accounted(&r), r.bytes().len() as u64);
    }

    #[test]
    fn padding_and_out_of_order_are_accounted() {
        let mut bytes = log(2);
        bytes.extend_from_slice(b"\n\n\n");
        encode(&mut bytes, 2, 500, b"1");
        let r = Reader::new(bytes);
        let s = r.verify();
        assert_eq!((s.padding_bytes, s.out_of_order, s.records), (3, 1, 3));
        assert!(!s.is_clean());
        assert_eq!(accounted(&r), r.bytes().len() as u64);
    }
}
