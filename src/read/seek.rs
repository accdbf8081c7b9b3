//! Finding a record by seq or by time. Seqs strictly increase and timestamps never decrease in
//! file order, so both are sorted keys: with an index the search starts at the right entry and
//! scans at most a stride of records; without one (or past its end) it is a binary search over
//! the bytes. Either way every answer is a record read and verified from the log.

use memchr::memchr;

use crate::index::IndexEntry;
use crate::read::{Entry, Reader, Record};

/// Below this many bytes between the bounds, the search finishes with a forward scan.
const SCAN_BELOW: usize = 16 * 1024;

/// How many bytes after an index entry a lookup loads at once ([`Reader::warm`]): a stride of
/// 4 lines of up to 256 bytes.
const WARM_BYTES: u64 = 1024;

/// The cache line's size on the machines ndlog runs on (x86-64 and most ARM cores).
const CACHE_LINE: u64 = 64;

/// Where a search ended.
enum Found<'a> {
    /// The first record at or past the target.
    Record(Record<'a>),
    /// No such record: where the next one will start (the torn tail, or the end).
    End(u64),
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// The offset of the first record with seq ≥ `seq`. When there is none: where the next
    /// record will start (the torn tail's offset, or the end of the data).
    ///
    /// # Example
    /// ```
    /// let mut log = Vec::new();
    /// for seq in 1..=100 { ndlog::format::encode(&mut log, seq, seq, b"0"); }
    /// let reader = ndlog::Reader::new(log);
    /// let offset = reader.seek_seq(42);
    /// assert_eq!(reader.records_from(offset).next().unwrap().seq, 42);
    /// ```
    pub fn seek_seq(&self, seq: u64) -> u64 {
        offset_of(self.search_seq(seq))
    }

    /// Where a reader that has read up to seq `seq` goes on: the end of the last record before
    /// the first with a greater seq (0 when there is none), so that the damage between the two
    /// is read, not jumped over.
    pub(crate) fn resume_after(&self, seq: u64) -> u64 {
        let next = self.seek_seq(seq.saturating_add(1));
        self.records_rev_before(next).next().map_or(0, |r| r.end())
    }

    /// The offset of the first record with ts ≥ `ts`; when there is none, as
    /// [`Reader::seek_seq`].
    pub fn seek_ts(&self, ts: u64) -> u64 {
        offset_of(self.search(ts, |_, t| t))
    }

    /// The record with sequence number `seq`, if the log holds it.
    pub fn get(&self, seq: u64) -> Option<Record<'_>> {
        match self.search_seq(seq) {
            Found::Record(r) if r.seq == seq => Some(r),
            _ => None,
        }
    }

    /// The newest record with ts ≤ `ts`: the log's state at a point in time.
    pub fn last_at(&self, ts: u64) -> Option<Record<'_>> {
        self.records_rev_before(self.seek_past_ts(ts)).next()
    }

    /// The offset of the first record with ts > `ts` (the end, for the largest ts: every
    /// record's ts is ≤ it).
    pub(crate) fn seek_past_ts(&self, ts: u64) -> u64 {
        match ts.checked_add(1) {
            Some(next) => self.seek_ts(next),
            None => self.bytes().len() as u64,
        }
    }

    fn search_seq(&self, seq: u64) -> Found<'_> {
        // Seqs are unique: an entry naming `seq` whose record verifies is the answer, with no
        // scan (every lookup when the stride is 1, one in `stride` otherwise).
        if let Some(idx) = self.index.as_ref().filter(|i| !i.is_empty()) {
            let p = idx.partition_point(seq, |e| e.seq);
            let next = idx.get(p);
            if let Some(e) = next.filter(|e| e.seq == seq)
                && let Some(r) = usize::try_from(e.offset).ok().and_then(|at| self.line_at(at))
                && (r.seq, r.ts) == (e.seq, e.ts)
            {
                return Found::Record(r);
            }
            // Otherwise the record lies within a stride after the previous entry, before the
            // next entry's record.
            let stride = idx.stride() as usize;
            if let Some(from) = p.checked_sub(1).map(|i| idx.entry(i).offset) {
                self.warm(from, next.map_or(u64::MAX, |e| e.offset));
                if let Some(r) = self.quick_get(from, seq, stride) {
                    return Found::Record(r);
                }
            }
        }
        self.search(seq, |s, _| s)
    }

    /// Loads one byte of every cache line of `from..to` (up to [`WARM_BYTES`] bytes), so
    /// that their misses overlap: the scan that follows walks the lines one by one, and would
    /// otherwise wait for each line's miss in turn. Plain loads, whose values are discarded.
    fn warm(&self, from: u64, to: u64) {
        let buf = self.bytes();
        let len = buf.len() as u64;
        let end = to.min(from.saturating_add(WARM_BYTES)).min(len);
        let mut at = from;
        let mut seen = 0u8;
        while at < end {
            seen ^= buf[at as usize];
            at += CACHE_LINE;
        }
        if end > from {
            seen ^= buf[(end - 1) as usize];
        }
        std::hint::black_box(seen);
    }

    /// Looks for `seq` in the `lines` lines from `offset`, reading only each line's seq digits
    /// and verifying just the line that names `seq`. `None` when that is not conclusive (a
    /// line without a seq prefix, a seq past the target, a line that does not verify): the
    /// caller then searches the careful way. Seqs are unique, so a verified line with the seq
    /// is the answer.
    fn quick_get(&self, offset: u64, seq: u64, lines: usize) -> Option<Record<'_>> {
        let buf = self.bytes();
        let mut pos = usize::try_from(offset).ok()?;
        if pos > buf.len() || (pos > 0 && buf[pos - 1] != b'\n') {
            return None;
        }
        for _ in 0..=lines {
            let rest = &buf[pos..];
            let nl = memchr(b'\n', rest)?;
            let (line_seq, _) =
                crate::format::parse_u64(rest.strip_prefix(crate::format::PREFIX)?)?;
            if line_seq == seq {
                return self.verified_line(pos, nl).filter(|r| r.seq == seq);
            }
            if line_seq > seq {
                return None;
            }
            pos += nl + 1;
        }
        None
    }

    /// The first record whose `key(seq, ts)` is ≥ `target`, for a key that does not decrease
    /// in file order (seq or ts).
    fn search(&self, target: u64, key: impl Fn(u64, u64) -> u64) -> Found<'_> {
        let len = self.bytes().len();
        let before = |seq, ts| key(seq, ts) < target;
        if let Some(idx) = self.index.as_ref().filter(|i| !i.is_empty()) {
            let p = idx.partition_point(target, |e| key(e.seq, e.ts));
            let hi = if p < idx.len() { idx.entry(p).offset as usize } else { len };
            let start = p.checked_sub(1).map(|i| idx.entry(i));
            match self.lower_bound(start, hi, &before) {
                Some(found) => return found,
                // The entry did not match the log: answer without the index from now on.
                None => idx.distrust(),
            }
        }
        self.lower_bound(None, len, &before).unwrap_or(Found::End(len as u64))
    }

    /// Searches from the record of `start` (an entry whose record is before the target; the
    /// start of the data if `None`), with `hi` a hint of where the target lies. `None` if the
    /// entry does not match the log.
    fn lower_bound(
        &self,
        start: Option<IndexEntry>,
        hi: usize,
        before: &impl Fn(u64, u64) -> bool,
    ) -> Option<Found<'_>> {
        let buf = self.bytes();
        // Every record before `lo` (a line start) is before the target.
        let mut lo = 0usize;
        if let Some(e) = start {
            let r = usize::try_from(e.offset).ok().and_then(|at| self.line_at(at))?;
            if (r.seq, r.ts) != (e.seq, e.ts) || !before(r.seq, r.ts) {
                return None;
            }
            lo = r.end() as usize;
        }
        // Binary search down to a short stretch. `hi` only steers it: the answer is always
        // the first record at or after `lo` that is not before the target.
        let mut hi = hi.clamp(lo, buf.len());
        while hi - lo > SCAN_BELOW {
            let mid = lo + (hi - lo) / 2;
            let line = line_start_at_or_after(buf, mid);
            match self.first_record_from(line) {
                Some(r) if before(r.seq, r.ts) => lo = (r.end() as usize).min(buf.len()),
                _ => hi = mid,
            }
            hi = hi.max(lo);
        }
        for entry in self.entries_from(lo as u64) {
            match entry {
                Entry::Record(r) if !before(r.seq, r.ts) => return Some(Found::Record(r)),
                Entry::TornTail { offset, .. } => return Some(Found::End(offset)),
                _ => {}
            }
        }
        Some(Found::End(buf.len() as u64))
    }

    /// The record whose line starts exactly at `at`, if that is a line start and the whole
    /// line verifies.
    pub(crate) fn line_at(&self, at: usize) -> Option<Record<'_>> {
        let buf = self.bytes();
        if at >= buf.len() || (at > 0 && buf[at - 1] != b'\n') {
            return None;
        }
        self.verified_line(at, memchr(b'\n', &buf[at..])?)
    }

    /// The record that fills the line `start..start + len` (a line start and the length up
    /// to its newline), if it verifies: the same check a scan makes of a whole line.
    fn verified_line(&self, start: usize, len: usize) -> Option<Record<'_>> {
        let line = &self.bytes()[start..start + len];
        let f = crate::format::resync::decode(line, self.json).ok()?;
        Some(Record { seq: f.seq, ts: f.ts, data: f.data, line, offset: start as u64 })
    }

    fn first_record_from(&self, offset: usize) -> Option<Record<'_>> {
        self.records_from(offset as u64).next()
    }
}

fn offset_of(found: Found<'_>) -> u64 {
    match found {
        Found::Record(r) => r.offset,
        Found::End(offset) => offset,
    }
}

/// The first line start at or after `pos`.
fn line_start_at_or_after(buf: &[u8], pos: usize) -> usize {
    if pos == 0 || buf[pos - 1] == b'\n' {
        return pos;
    }
    memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i + 1)
}

#[cfg(test)]
mod tests {
    use crate::format::encode;
    use crate::read::Reader;

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            // Two records per millisecond, and every 7th line damaged.
            encode(&mut out, seq * 2, seq / 2, "7".repeat(seq as usize % 90 + 1).as_bytes());
            if seq % 7 == 0 {
                out.extend_from_slice(b"damaged line\n");
            }
        }
        out
    }

    #[test]
    fn seeks_agree_with_a_linear_scan() {
        let reader = Reader::new(log(3000));
        let all: Vec<_> = reader.records().collect();
        let end = reader.bytes().len() as u64;
        for target in (0..6010).step_by(7) {
            let expect = all.iter().find(|r| r.seq >= target).map_or(end, |r| r.offset);
            assert_eq!(reader.seek_seq(target), expect, "seq {target}");
        }
        for target in (0..1510).step_by(3) {
            let expect = all.iter().find(|r| r.ts >= target).map_or(end, |r| r.offset);
            assert_eq!(reader.seek_ts(target), expect, "ts {target}");
            let at = all.iter().rev().find(|r| r.ts <= target).map(|r| r.seq);
            assert_eq!(reader.last_at(target).map(|r| r.seq), at, "at {target}");
        }
        assert_eq!(reader.get(200).map(|r| r.seq), Some(200));
        assert_eq!(reader.get(201), None);
    }
}
