//! Where two copies of a chained log part: the last seq at which they carry the same chain
//! value, found by binary search over seqs (each probe a lookup through the index), not by
//! reading both logs.

use super::Lookup;
use crate::format::chain::{self, ChainValue};

/// What [`diverge`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The last seq both logs hold with the same chain value (which commits to everything
    /// before it): the fork point. `None` when they share no record.
    pub last_common: Option<u64>,
    /// Whether both continue past it differently; `false` when one is a prefix of the other.
    pub forked: bool,
    /// The last seq of each log.
    pub last_a: Option<u64>,
    /// See `last_a`.
    pub last_b: Option<u64>,
    /// Records looked up in each log.
    pub probes: u32,
}

/// Compares two copies of a chained log (a backup and the original, two replicas).
///
/// Two records with the same seq and chain value have the same history up to them, so the
/// seqs at which the copies agree form a prefix of their common seqs, and a binary search over
/// it finds the fork point with `O(log n)` lookups ([`Lookup::record`]: through the index, and
/// for a segmented log through the segment names first). Either copy may be a single file or
/// a segmented log.
/// Where a seq is missing from either copy (a key compaction left gaps), it counts as a
/// difference.
///
/// # Errors
/// A message naming the log and seq of a record without a chain link (the log is not chained).
///
/// # Example
/// ```
/// use ndlog::format::chain::{self, ChainValue};
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// let v1 = chain::encode(&mut a, 1, 10, b"1", &ChainValue::GENESIS);
/// chain::encode(&mut b, 1, 10, b"1", &ChainValue::GENESIS);
/// chain::encode(&mut a, 2, 11, b"2", &v1);
/// chain::encode(&mut b, 2, 11, b"3", &v1);
/// let d = ndlog::chain::diverge(&ndlog::Reader::new(&a), &ndlog::Reader::new(&b)).unwrap();
/// assert_eq!((d.last_common, d.forked), (Some(1), true));
/// ```
pub fn diverge<A: Lookup + ?Sized, B: Lookup + ?Sized>(a: &A, b: &B) -> Result<Divergence, String> {
    let last_a = a.last_record().map(|r| r.seq);
    let last_b = b.last_record().map(|r| r.seq);
    let mut d = Divergence { last_common: None, forked: false, last_a, last_b, probes: 0 };
    let (Some(la), Some(lb)) = (last_a, last_b) else {
        return Ok(d); // an empty log is a prefix of any
    };
    let first_a = a.first_record().map_or(1, |r| r.seq);
    let first_b = b.first_record().map_or(1, |r| r.seq);
    let (lo, hi) = (first_a.max(first_b), la.min(lb));
    let probes = std::cell::Cell::new(0u32);
    let same = |seq: u64| -> Result<bool, String> {
        probes.set(probes.get() + 1);
        let va = value_at(a, seq)?;
        Ok(va.is_some() && va == value_at(b, seq)?)
    };
    let found = if lo > hi || !same(lo)? {
        (None, true)
    } else if same(hi)? {
        (Some(hi), false)
    } else {
        // same(lo) and not same(hi): the fork lies between them.
        let (mut lo, mut hi) = (lo, hi);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if same(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (Some(lo), true)
    };
    (d.last_common, d.forked) = found;
    d.probes = probes.get();
    Ok(d)
}

/// The chain value of the record `seq`, if the log holds it.
fn value_at<L: Lookup + ?Sized>(log: &L, seq: u64) -> Result<Option<ChainValue>, String> {
    match log.record(seq) {
        None => Ok(None),
        Some(r) => chain::link_of(r.line).map(Some).ok_or_else(|| unchained(log, seq)),
    }
}

fn unchained<L: Lookup + ?Sized>(log: &L, seq: u64) -> String {
    format!("{}: seq {seq} carries no chain link: not a chained log", log.location().display())
}
