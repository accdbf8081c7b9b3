//! Reading a range of records by seq and by time: the start is found by a seek (through the
//! index when there is one), the end by the first record past a bound.

use crate::read::{Entries, Entry, Reader, Record};

/// Bounds of a range of records; unset bounds are open.
///
/// # Example
/// ```
/// let mut log = Vec::new();
/// for seq in 1..=10 { ndlog::format::encode(&mut log, seq, 100 + seq, b"0"); }
/// let reader = ndlog::Reader::new(log);
/// let bounds = ndlog::read::Bounds { from_seq: Some(3), until: Some(108), ..Default::default() };
/// let seqs: Vec<u64> = reader.records_in(bounds).map(|r| r.seq).collect();
/// assert_eq!(seqs, [3, 4, 5, 6, 7]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// First seq (inclusive).
    pub from_seq: Option<u64>,
    /// Last seq (inclusive).
    pub to_seq: Option<u64>,
    /// First ts (inclusive), unix ms.
    pub since: Option<u64>,
    /// End ts (exclusive), unix ms.
    pub until: Option<u64>,
}

impl Bounds {
    fn past_end(&self, r: &Record<'_>) -> bool {
        self.to_seq.is_some_and(|s| r.seq > s) || self.until.is_some_and(|t| r.ts >= t)
    }
}

/// Entries from the first record in [`Bounds`] to the last; see [`Reader::entries_in`].
#[derive(Clone, Debug)]
pub struct EntriesIn<'a> {
    entries: Entries<'a>,
    bounds: Bounds,
    done: bool,
}

impl<'a> Iterator for EntriesIn<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.done {
            return None;
        }
        match self.entries.next()? {
            Entry::Record(r) if self.bounds.past_end(&r) => {
                self.done = true;
                None
            }
            entry => Some(entry),
        }
    }
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// Every entry (records and the damage between them) from the first record within
    /// `bounds` up to the last one. Seqs increase and timestamps never decrease, so the start
    /// is a seek and the end the first record past a bound.
    pub fn entries_in(&self, bounds: Bounds) -> EntriesIn<'_> {
        let by_seq = bounds.from_seq.map_or(0, |s| self.seek_seq(s));
        let by_ts = bounds.since.map_or(0, |t| self.seek_ts(t));
        EntriesIn { entries: self.entries_from(by_seq.max(by_ts)), bounds, done: false }
    }

    /// The records within `bounds`, skipping damage.
    pub fn records_in(&self, bounds: Bounds) -> impl Iterator<Item = Record<'_>> {
        self.entries_in(bounds).filter_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        })
    }
}
