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

    fn before_start(&self, r: &Record<'_>) -> bool {
        self.from_seq.is_some_and(|s| r.seq < s) || self.since.is_some_and(|t| r.ts < t)
    }

    /// Whether a record between `before` and `after` (seq and ts; `None`: no record on that
    /// side) may lie within the bounds: seqs strictly between theirs, ts between theirs. It
    /// decides whether damage, or seqs missing, between two records can hide a record of the
    /// range.
    ///
    /// # Example
    /// ```
    /// let bounds = ndlog::read::Bounds { since: Some(200), ..Default::default() };
    /// // Seq 20 is lost between seq 19 (ts 190) and seq 21 (ts 210): it may be at ts 200.
    /// assert!(bounds.may_hold(Some((19, 190)), Some((21, 210))));
    /// // Nothing is lost between seq 20 and seq 21.
    /// assert!(!bounds.may_hold(Some((20, 200)), Some((21, 210))));
    /// // Whatever is lost between ts 150 and ts 190 is before the range.
    /// assert!(!bounds.may_hold(Some((15, 150)), Some((19, 190))));
    /// ```
    pub fn may_hold(&self, before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> bool {
        let (a_seq, a_ts) = before.unwrap_or((0, 0));
        let (lo, hi) =
            (a_seq.saturating_add(1), after.map_or(u64::MAX, |(s, _)| s.saturating_sub(1)));
        let (lo, hi) =
            (lo.max(self.from_seq.unwrap_or(0)), hi.min(self.to_seq.unwrap_or(u64::MAX)));
        let b_ts = after.map_or(u64::MAX, |(_, t)| t);
        lo <= hi && self.until.is_none_or(|u| a_ts < u) && self.since.is_none_or(|s| b_ts >= s)
    }
}

/// Entries from the first record in [`Bounds`] to the last; see [`Reader::entries_in`].
#[derive(Clone, Debug)]
pub struct EntriesIn<'a> {
    entries: Entries<'a>,
    bounds: Bounds,
    done: bool,
    /// Seq and ts of the last record passed: the damage after it lies above them.
    before: Option<(u64, u64)>,
    /// Whether the last record passed was within the bounds.
    inside: bool,
    /// Whether the stretch of damage being passed is read, decided at its first line.
    keep: Option<bool>,
}

impl<'a> EntriesIn<'a> {
    /// Whether the damage (or padding, or torn tail) starting here is read: always in an
    /// unbounded range and between two records of the range; at its edges only where a record
    /// it held could be in it.
    fn keep_damage(&self) -> bool {
        if self.bounds == Bounds::default() {
            return true;
        }
        let after = self.entries.clone().find_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        });
        let after_inside = after.as_ref().is_some_and(|r| !self.bounds.past_end(r));
        (self.inside && after_inside)
            || self.bounds.may_hold(self.before, after.map(|r| (r.seq, r.ts)))
    }
}

impl<'a> Iterator for EntriesIn<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        while !self.done {
            match self.entries.next()? {
                Entry::Record(r) if self.bounds.past_end(&r) => self.done = true,
                Entry::Record(r) => {
                    self.keep = None;
                    self.before = Some((r.seq, r.ts));
                    self.inside = !self.bounds.before_start(&r);
                    if self.inside {
                        return Some(Entry::Record(r));
                    }
                }
                damage => {
                    let keep = match self.keep {
                        Some(keep) => keep,
                        None => *self.keep.insert(self.keep_damage()),
                    };
                    if keep {
                        return Some(damage);
                    }
                }
            }
        }
        None
    }
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// Every entry (records and the damage between them) from the first record within
    /// `bounds` up to the last one. Seqs increase and timestamps never decrease, so the start
    /// is a seek and the end the first record past a bound.
    ///
    /// Damage between two records of the range is read with them; damage at its edges only
    /// where a record it held could lie within the bounds (between the record before the
    /// range and its first, it may be the first seq asked for; after a record at the last seq
    /// asked for, it cannot be in the range).
    pub fn entries_in(&self, bounds: Bounds) -> EntriesIn<'_> {
        let by_seq = bounds.from_seq.map_or(0, |s| self.seek_seq(s));
        let by_ts = bounds.since.map_or(0, |t| self.seek_ts(t));
        let first = by_seq.max(by_ts);
        // From the end of the record before it, so that the damage in between is seen.
        let (start, before) = match self.records_rev_before(first).next() {
            Some(r) if first > 0 => (r.end(), Some((r.seq, r.ts))),
            _ => (0, None),
        };
        EntriesIn {
            entries: self.entries_from(start),
            bounds,
            done: false,
            before,
            inside: false,
            keep: None,
        }
    }

    /// The records within `bounds`, skipping damage.
    pub fn records_in(&self, bounds: Bounds) -> impl Iterator<Item = Record<'_>> {
        self.entries_in(bounds).filter_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        })
    }
}
