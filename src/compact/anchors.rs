//! The anchors a compaction of a chained log leaves in `LOG.chain` (`LOG/ndlog.chain` for a
//! segmented log): for each record it keeps whose predecessor it removes, the predecessor's
//! chain value, so that the kept records still verify (FORMAT.md, section 10). Retention of a
//! segmented log leaves one for the first seq of each segment that may become the log's first.

use std::collections::BTreeMap;
use std::path::Path;

use crate::chain::ChainFile;
use crate::error::Result;
use crate::format::chain::{self, ChainValue};
use crate::fs::Vfs;
use crate::read::Reader;
use crate::segments::Segment;
use crate::segments::chain::sealed_link;

/// The anchors of one compaction, collected as it walks the old log's records in order.
#[derive(Debug)]
pub(super) struct Anchors {
    /// Whether the log is chained (else nothing is collected or stored).
    chained: bool,
    /// The old log's first record's seq.
    first_seq: Option<u64>,
    /// The seq and chain value of the record just walked, if it was removed.
    removed: Option<(u64, ChainValue)>,
    /// New anchors: (seq of a kept record, chain value before it).
    new: BTreeMap<u64, ChainValue>,
    /// Whether anchors below the walked log's first record are dropped when storing (a
    /// single-file compaction: neither the old nor the new file needs them).
    prune: bool,
}

impl Anchors {
    /// The collector for the log at `path`, whose complete lines `head` reads: chained when
    /// `LOG.chain` exists or its first record carries a link.
    pub(super) fn new<V: Vfs, D: AsRef<[u8]>>(
        vfs: &V,
        path: &Path,
        head: &Reader<D>,
    ) -> Result<Self> {
        let first = head.records().next();
        let chained = ChainFile::read_at(vfs, &crate::names::chain_file(path))?.is_some()
            || first.is_some_and(|r| chain::link_of(r.line).is_some());
        Ok(Anchors { chained, first_seq: None, removed: None, new: BTreeMap::new(), prune: true })
    }

    /// The collector for one sealed segment of a segmented log a key compaction rewrites.
    pub(super) fn for_segment(chained: bool) -> Self {
        Anchors { chained, first_seq: None, removed: None, new: BTreeMap::new(), prune: false }
    }

    /// Whether it needs to see every record ([`Anchors::saw`]): only for a chained log.
    pub(super) fn collects(&self) -> bool {
        self.chained
    }

    /// The next record of the old log, `line`, which the compaction keeps or removes.
    pub(super) fn saw(&mut self, line: &[u8], kept: bool) {
        if !self.chained {
            return;
        }
        let Some((seq, _)) = crate::format::peek_seq_ts(line) else { return };
        self.first_seq.get_or_insert(seq);
        match (kept, self.removed.take()) {
            // Only the record right before a kept one holds the chain value before it. After
            // a gap (an earlier compaction removed the predecessor) the anchor that compaction
            // left is the right one, and stays.
            (true, Some((removed, before))) if removed.checked_add(1) == Some(seq) => {
                self.new.insert(seq, before);
            }
            (true, _) => {}
            // A removed record without a link leaves no anchor: the kept record after it then
            // fails verification, as the chain was already broken there.
            (false, _) => self.removed = chain::link_of(line).map(|value| (seq, value)),
        }
    }

    /// Adds the new anchors to `LOG.chain` (creating it for a chained log without one), and
    /// drops those below the old log's first record, which neither log needs. Atomic and
    /// durable before it returns; nothing is written for an unchained log.
    pub(super) fn store<V: Vfs>(&self, vfs: &V, path: &Path, mode: u32) -> Result<()> {
        self.store_at(vfs, &crate::names::chain_file(path), mode)
    }

    /// [`Anchors::store`] into the chain file at `chain_path` (a segmented log's
    /// `ndlog.chain`: nothing is dropped there, retention prunes it).
    pub(super) fn store_at<V: Vfs>(&self, vfs: &V, chain_path: &Path, mode: u32) -> Result<()> {
        if !self.chained {
            return Ok(());
        }
        // Read again under the writer lock: a writer may have created it meanwhile.
        let existing = ChainFile::read_at(vfs, chain_path)?;
        let missing = existing.is_none();
        let mut file = existing.unwrap_or_default();
        let before = file.anchors.len();
        if let Some(first) = self.first_seq.filter(|_| self.prune) {
            file.anchors.retain(|&seq, _| seq >= first);
        }
        file.anchors.extend(&self.new);
        if missing || !self.new.is_empty() || file.anchors.len() != before {
            file.write_at(vfs, chain_path, mode)?;
        }
        Ok(())
    }
}

/// Before retention removes the oldest `removable` of a segmented log's `segments` (in seq
/// order, the first kept one after them): records in `LOG/ndlog.chain` an anchor for the first
/// seq of each segment that a crash during the removals may leave first — every removed
/// segment's but the oldest's, and the first kept one's — with the chain value its predecessor,
/// the last record of the segment before, carries. Anchors below the oldest segment are
/// dropped (no state of the log needs them). Atomic and durable before it returns; nothing is
/// written for an unchained log (no chain file, and no link at the segments' ends).
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the segment or chain file that could not be read or
/// written; retention then removes nothing.
pub(super) fn store_retention<V: Vfs>(
    vfs: &V,
    dir: &Path,
    segments: &[Segment],
    removable: usize,
    mode: u32,
) -> Result<()> {
    let chain_path = crate::names::segmented_chain_file(dir);
    let existing = ChainFile::read_at(vfs, &chain_path)?;
    let mut new = BTreeMap::new();
    for (i, pair) in segments[..=removable].windows(2).enumerate() {
        let (last, link) = sealed_link(vfs, &pair[0])?;
        if i == 0 && existing.is_none() && link.is_none() {
            return Ok(()); // an unchained log: no chain file, no link
        }
        // A segment whose last record is not the one before the next (damage) leaves no
        // anchor: verification reports the gap, as it did before.
        if let Some(value) = link.filter(|_| last.seq + 1 == pair[1].name.first_seq) {
            new.insert(pair[1].name.first_seq, value);
        }
    }
    if existing.is_none() && new.is_empty() {
        return Ok(());
    }
    let mut file = existing.unwrap_or_default();
    let oldest = segments[0].name.first_seq;
    file.anchors.retain(|&seq, _| seq >= oldest);
    file.anchors.extend(new);
    file.write_at(vfs, &chain_path, mode)?;
    crate::fs::sweep_temps(vfs, &chain_path)?;
    Ok(())
}
