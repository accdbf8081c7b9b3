//! The hash chain a writer of a chained log extends: the chain value of the log's last record,
//! kept in step under the writer lock like the other derived state, and the encoding of each
//! new record with its link (FORMAT.md, section 10). On a segmented log the chain runs on
//! across rolls: the first record of a segment links to the last record of the one before, and
//! a segment that holds no record yet (new, or preallocated padding) takes its value from the
//! segment before it, or from the anchor retention left when it removed that one.

use std::io;
use std::path::Path;

use crate::chain::ChainFile;
use crate::chain::last_link;
use crate::error::{Error, Result};
use crate::format::chain::{self, ChainValue};
use crate::fs::{FileId, Vfs};
use crate::names;
use crate::read::last_record::Tail;

use super::derive::{Derive, LogAt, Written};

/// The chain value at a known end of the log.
#[derive(Clone, Copy, Debug)]
struct Known {
    id: FileId,
    len: u64,
    /// The seq of the last record, whose chain value `value` is.
    seq: u64,
    value: ChainValue,
}

/// The chain state of one writer handle on a chained log.
#[derive(Debug)]
pub(crate) struct ChainWriter {
    /// The chain value at the end of the log this handle last knew.
    known: Option<Known>,
    /// The chain value of the last record encoded in the batch being written.
    pending: Option<ChainValue>,
}

impl ChainWriter {
    /// Decides, under the lock at open, whether the log at `path` is chained, and returns its
    /// chain state if it is. It is chained when `LOG.chain` exists or its last record carries a
    /// link; with `want` (`Options::chain`), a log without records becomes chained here (its
    /// `LOG.chain` is written), and a log of unchained records is refused.
    pub(crate) fn open<V: Vfs>(
        vfs: &V,
        path: &Path,
        file: &V::File,
        len: u64,
        last_seq: u64,
        want: bool,
        mode: u32,
    ) -> Result<Option<ChainWriter>> {
        let sidecar = ChainFile::read_at(vfs, &names::chain_file(path))?;
        let linked = match last_seq {
            0 => None,
            seq => Some(last_link(file, len, seq).map_err(|e| Error::io(path, "read", e))?),
        };
        let chained = sidecar.is_some() || matches!(linked, Some(Some(_)));
        if want && !chained && linked.is_some() {
            return Err(Error::invalid_argument(format!(
                "{}: not a chained log: it holds records without a chain link (a log is chained \
                 from its creation: ndlog create LOG --chain, or Options::chain on a new log)",
                path.display()
            )));
        }
        if !chained && !want {
            return Ok(None);
        }
        if sidecar.is_none() {
            ChainFile::new().write_at(vfs, &names::chain_file(path), mode)?;
        }
        Ok(Some(ChainWriter { known: None, pending: None }))
    }

    /// [`ChainWriter::open`] for a segmented log `dir`, under the lock at open: `file` is its
    /// active segment (starting at seq `first_seq`), `tail` its end, whose last record may be
    /// the last of the segment before. Chained when `LOG/ndlog.chain` exists or the last record
    /// carries a link; with `want`, a log without records becomes chained here, and one of
    /// unchained records is refused.
    pub(crate) fn open_segmented<V: Vfs>(
        vfs: &V,
        dir: &Path,
        file: &V::File,
        tail: Tail,
        first_seq: u64,
        want: bool,
        mode: u32,
    ) -> Result<Option<ChainWriter>> {
        let chain_path = names::segmented_chain_file(dir);
        if ChainFile::read_at(vfs, &chain_path)?.is_some() {
            return Ok(Some(ChainWriter { known: None, pending: None }));
        }
        let linked = match tail.last.map_or(0, |l| l.seq) {
            0 => None,
            seq if seq >= first_seq => {
                let link =
                    last_link(file, tail.content, seq).map_err(|e| Error::io(dir, "read", e));
                Some(link?.is_some())
            }
            // The active segment holds no record: the last one ends the segment before it
            // (when retention removed that one, only `ndlog.chain` could have said). A read
            // that fails is an error, not a sign of an unchained log.
            _ => match crate::segments::chain::value_before(vfs, dir, first_seq) {
                Ok(_) => Some(true),
                Err(e) if matches!(e.kind(), crate::ErrorKind::NotALog { .. }) => Some(false),
                Err(e) => return Err(e),
            },
        };
        match (linked, want) {
            (Some(true), _) => Ok(Some(ChainWriter { known: None, pending: None })),
            (None, true) => {
                ChainFile::new().write_at(vfs, &chain_path, mode)?;
                Ok(Some(ChainWriter { known: None, pending: None }))
            }
            (Some(false), true) => Err(Error::invalid_argument(format!(
                "{}: not a chained log: it holds records without a chain link (a log is chained \
                 from its creation: ndlog create LOG --chain --segment-bytes SIZE, or \
                 Options::chain on a new log)",
                dir.display()
            ))),
            (_, false) => Ok(None),
        }
    }

    /// Writes `LOG.chain` for a log about to be created chained, unless it exists: before the
    /// log file, so that no crash leaves a new log that is not marked as chained.
    pub(crate) fn prepare<V: Vfs>(vfs: &V, path: &Path, mode: u32) -> Result<()> {
        let chain_path = names::chain_file(path);
        if ChainFile::read_at(vfs, &chain_path)?.is_none() {
            ChainFile::new().write_at(vfs, &chain_path, mode)?;
        }
        Ok(())
    }

    /// Appends the chained record line for `(seq, ts, data)` to `out`, after the last record
    /// encoded or, for the batch's first, the end of the log found at `catch_up`.
    /// `marks`: where the record stands in the write.
    pub(crate) fn encode(
        &mut self,
        out: &mut Vec<u8>,
        seq: u64,
        ts: u64,
        data: &[u8],
        marks: crate::format::Marks,
    ) {
        let prev = self.pending.or(self.known.map(|k| k.value)).unwrap_or(ChainValue::GENESIS);
        self.pending = Some(chain::encode_marked(out, seq, ts, data, marks, &prev));
    }
}

impl<V: Vfs> Derive<V> for ChainWriter {
    fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.pending = None;
        if self.known.is_some_and(|k| k.id == log.id && k.len == log.len) {
            return Ok(());
        }
        let value = match (log.last_seq, log.older) {
            (0, _) => ChainValue::GENESIS,
            // A segment that holds no record yet: its first record links to the last record of
            // the segment before. This handle knows its value when it wrote or read it last (a
            // sealed record never changes); else it is read there, or from retention's anchor.
            (seq, Some(older)) if seq < older.first_seq => match self.known {
                Some(k) if k.seq == seq => k.value,
                _ => crate::segments::chain::value_before(log.vfs, older.dir, older.first_seq)?,
            },
            (seq, _) => last_link(log.file, log.len, seq)?.ok_or_else(|| {
                io::Error::other(format!(
                    "the log is chained, but its last record (seq {seq}) carries no chain link: \
                     a writer that does not chain appended it, and appending after it would hide \
                     that; `ndlog verify --chain` names it"
                ))
            })?,
        };
        self.known = Some(Known { id: log.id, len: log.len, seq: log.last_seq, value });
        Ok(())
    }

    fn wrote(&mut self, _record: &Written<'_>) {}

    fn written(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        if let Some(value) = self.pending.take() {
            self.known = Some(Known { id: log.id, len: log.len, seq: log.last_seq, value });
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.known = None;
        self.pending = None;
    }
}
