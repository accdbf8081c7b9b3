//! Index lookups: the seqs looked up, and the memory floor a lookup is measured against.

use ndlog::Reader;

/// Pseudo-random seqs in `1..=records`, the same every run: 2^20 of them, so that a run over a
/// large log touches cold index entries and log lines (as random lookups do) rather than
/// cycling through a set small enough to stay in the caches.
pub(crate) fn lookup_targets(records: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            1 + (x >> 11) % records
        })
        .collect()
}

/// The memory floor of a lookup through the index, the physical limit `get(seq)` is measured
/// against: one load of the entry for `seq`'s stride (its position computed, not searched),
/// then one load of the log byte at the entry's offset, which depends on it. Any lookup pays
/// these two accesses; on a large log each is a cache and TLB miss. Needs a log whose seqs run
/// from 1 without gaps, as the generated ones do.
pub(crate) fn lookup_floor<D: AsRef<[u8]>>(reader: &Reader<D>, seq: u64) -> u8 {
    let index = reader.index().expect("the log has an index");
    let entry = index.get(((seq - 1) / u64::from(index.stride())) as usize).expect("an entry");
    reader.bytes()[entry.offset as usize]
}
