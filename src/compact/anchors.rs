//! The anchors a compaction of a chained log leaves in `LOG.chain`: for each record it keeps
//! whose predecessor it removes, the predecessor's chain value, so that the kept records still
//! verify (FORMAT.md, section 10).

use std::collections::BTreeMap;
use std::path::Path;

use crate::chain::ChainFile;
use crate::error::Result;
use crate::format::chain::{self, ChainValue};
use crate::fs::Vfs;
use crate::read::Reader;

/// The anchors of one compaction, collected as it walks the old log's records in order.
#[derive(Debug)]
pub(super) struct Anchors {
    /// Whether the log is chained (else nothing is collected or stored).
    chained: bool,
    /// The old log's first record's seq.
    first_seq: Option<u64>,
    /// The chain value of the record just walked, if it was removed.
    removed: Option<ChainValue>,
    /// New anchors: (seq of a kept record, chain value before it).
    new: BTreeMap<u64, ChainValue>,
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
        let chained = ChainFile::load(vfs, path)?.is_some()
            || first.is_some_and(|r| chain::link_of(r.line).is_some());
        Ok(Anchors { chained, first_seq: None, removed: None, new: BTreeMap::new() })
    }

    /// The next record of the old log, `line`, which the compaction keeps or removes.
    pub(super) fn saw(&mut self, line: &[u8], kept: bool) {
        if !self.chained {
            return;
        }
        let Some((seq, _)) = crate::format::peek_seq_ts(line) else { return };
        self.first_seq.get_or_insert(seq);
        match (kept, self.removed.take()) {
            (true, Some(before)) => {
                self.new.insert(seq, before);
            }
            (true, None) => {}
            // A removed record without a link leaves no anchor: the kept record after it then
            // fails verification, as the chain was already broken there.
            (false, _) => self.removed = chain::link_of(line),
        }
    }

    /// Adds the new anchors to `LOG.chain` (creating it for a chained log without one), and
    /// drops those below the old log's first record, which neither log needs. Atomic and
    /// durable before it returns; nothing is written for an unchained log.
    pub(super) fn store<V: Vfs>(&self, vfs: &V, path: &Path, mode: u32) -> Result<()> {
        if !self.chained {
            return Ok(());
        }
        // Read again under the writer lock: a writer may have created it meanwhile.
        let existing = ChainFile::load(vfs, path)?;
        let missing = existing.is_none();
        let mut file = existing.unwrap_or_default();
        let before = file.anchors.len();
        if let Some(first) = self.first_seq {
            file.anchors.retain(|&seq, _| seq >= first);
        }
        file.anchors.extend(&self.new);
        if missing || !self.new.is_empty() || file.anchors.len() != before {
            file.store(vfs, path, mode)?;
        }
        Ok(())
    }
}
