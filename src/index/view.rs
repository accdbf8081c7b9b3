//! The parsed view of `LOG.idx` that lookups use: a map of the file, how many of its entries
//! are usable, and the interpolation search over them.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::layout::{ENTRY_LEN, HEADER_LEN, Header, IndexEntry, IndexProblem};

/// A parsed index, attached to a [`crate::Reader`] of the log it describes.
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

    /// Entries in the file, including a torn or stale tail that validation may drop.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Keeps only the first `count` entries for lookups (validation dropped a bad tail).
    pub(crate) fn keep(&mut self, count: usize) {
        self.count = count.min(self.total);
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
