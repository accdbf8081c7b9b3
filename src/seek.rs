//! Finding a record by seq or by time with a binary search over the bytes: seqs strictly
//! increase and timestamps never decrease in file order, so both are sorted keys.

use memchr::memchr;

use crate::reader::{Entry, Reader, Record};

/// Below this many bytes between the bounds, the search finishes with a forward scan.
const SCAN_BELOW: usize = 16 * 1024;

impl<D: AsRef<[u8]>> Reader<D> {
    /// The offset of the first record with seq ≥ `seq`, found in O(log n) probes without an
    /// index. When there is none: where the next record will start (the torn tail's offset, or
    /// the data's length).
    ///
    /// # Example
    /// ```
    /// let mut log = Vec::new();
    /// for seq in 1..=100 { ndlog::encode_record(&mut log, seq, seq, b"0"); }
    /// let reader = ndlog::Reader::new(log);
    /// let offset = reader.seek_seq(42);
    /// assert_eq!(reader.records_from(offset).next().unwrap().seq, 42);
    /// ```
    pub fn seek_seq(&self, seq: u64) -> u64 {
        self.lower_bound(|r| r.seq < seq)
    }

    /// The offset of the first record with ts ≥ `ts`; when there is none, as [`Reader::seek_seq`].
    pub fn seek_ts(&self, ts: u64) -> u64 {
        self.lower_bound(|r| r.ts < ts)
    }

    /// The record with sequence number `seq`, if the log holds it.
    pub fn get(&self, seq: u64) -> Option<Record<'_>> {
        self.records_from(self.seek_seq(seq))
            .next()
            .filter(|r| r.seq == seq)
    }

    /// Offset of the first record for which `before` is false, given that `before` is true for
    /// a prefix of the records and false for the rest.
    fn lower_bound(&self, before: impl Fn(&Record<'_>) -> bool) -> u64 {
        let buf = self.bytes();
        // Every record before `lo` (a line start) is before the target; the first record at or
        // after the line start following `hi` is not (or there is none).
        let mut lo = 0usize;
        let mut hi = buf.len();
        while hi.saturating_sub(lo) > SCAN_BELOW {
            let mid = lo + (hi - lo) / 2;
            let start = line_start_at_or_after(buf, mid);
            match self.first_record_from(start) {
                Some(r) if before(&r) => lo = r.end() as usize,
                _ => hi = mid,
            }
        }
        for entry in self.entries_from(lo as u64) {
            match entry {
                Entry::Record(r) if !before(&r) => return r.offset,
                // Where the record being written will start.
                Entry::TornTail { offset, .. } => return offset,
                _ => {}
            }
        }
        buf.len() as u64
    }

    fn first_record_from(&self, offset: usize) -> Option<Record<'_>> {
        self.entries_from(offset as u64).find_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        })
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
    use crate::reader::Reader;

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            // Two records per millisecond, and every 7th line damaged.
            encode(
                &mut out,
                seq * 2,
                seq / 2,
                "7".repeat(seq as usize % 90 + 1).as_bytes(),
            );
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
        for target in (0..6010).step_by(7) {
            let expect = all
                .iter()
                .find(|r| r.seq >= target)
                .map_or(reader.bytes().len() as u64, |r| r.offset);
            assert_eq!(reader.seek_seq(target), expect, "seq {target}");
        }
        for target in (0..1510).step_by(3) {
            let expect = all
                .iter()
                .find(|r| r.ts >= target)
                .map_or(reader.bytes().len() as u64, |r| r.offset);
            assert_eq!(reader.seek_ts(target), expect, "ts {target}");
        }
        assert_eq!(reader.get(200).map(|r| r.seq), Some(200));
        assert_eq!(reader.get(201), None);
    }
}
