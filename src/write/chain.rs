//! The hash chain a writer of a chained log extends: the chain value of the log's last record,
//! kept in step under the writer lock like the other derived state, and the encoding of each
//! new record with its link (FORMAT.md, section 10).

use std::io;
use std::path::Path;

use crate::chain::ChainFile;
use crate::error::{Error, Result};
use crate::format::chain::{self, ChainValue};
use crate::fs::{FileId, Vfs, VfsFile};
use crate::read::Reader;

use super::derive::{Derive, LogAt, Written};

/// The chain value at a known end of the log.
#[derive(Clone, Copy, Debug)]
struct Known {
    id: FileId,
    len: u64,
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
        let sidecar = ChainFile::load(vfs, path)?;
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
            ChainFile::new().store(vfs, path, mode)?;
        }
        Ok(Some(ChainWriter { known: None, pending: None }))
    }

    /// Writes `LOG.chain` for a log about to be created chained, unless it exists: before the
    /// log file, so that no crash leaves a new log that is not marked as chained.
    pub(crate) fn prepare<V: Vfs>(vfs: &V, path: &Path, mode: u32) -> Result<()> {
        if ChainFile::load(vfs, path)?.is_none() {
            ChainFile::new().store(vfs, path, mode)?;
        }
        Ok(())
    }

    /// Appends the chained record line for `(seq, ts, data)` to `out`, after the last record
    /// encoded or, for the batch's first, the end of the log found at `catch_up`.
    pub(crate) fn encode(&mut self, out: &mut Vec<u8>, seq: u64, ts: u64, data: &[u8]) {
        let prev = self.pending.or(self.known.map(|k| k.value)).unwrap_or(ChainValue::GENESIS);
        self.pending = Some(chain::encode(out, seq, ts, data, &prev));
    }
}

impl<V: Vfs> Derive<V> for ChainWriter {
    fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.pending = None;
        if self.known.is_some_and(|k| k.id == log.id && k.len == log.len) {
            return Ok(());
        }
        let value = match log.last_seq {
            0 => ChainValue::GENESIS,
            seq => last_link(log.file, log.len, seq)?.ok_or_else(|| {
                io::Error::other(format!(
                    "the log is chained, but its last record (seq {seq}) carries no chain link: \
                     a writer that does not chain appended it, and appending after it would hide \
                     that; `ndlog verify --chain` names it"
                ))
            })?,
        };
        self.known = Some(Known { id: log.id, len: log.len, value });
        Ok(())
    }

    fn wrote(&mut self, _record: &Written<'_>) {}

    fn written(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        if let Some(value) = self.pending.take() {
            self.known = Some(Known { id: log.id, len: log.len, value });
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.known = None;
        self.pending = None;
    }
}

/// The chain value the record `seq`, the log's last (ending at or before `len`), carries:
/// `Some(None)` when it carries none. Reads backwards from `len` in growing windows.
fn last_link<F: VfsFile + ?Sized>(file: &F, len: u64, seq: u64) -> io::Result<Option<ChainValue>> {
    let mut window = 4096u64;
    loop {
        let from = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - from) as usize];
        crate::fs::read_exact_at(file, &mut buf, from)?;
        // A window starting mid-line yields that line as damage, never as a record.
        let found = Reader::new(&buf[..])
            .records_rev()
            .find(|r| r.seq <= seq)
            .map(|r| (r.seq, chain::link_of(r.line)));
        match found {
            Some((s, link)) if s == seq => return Ok(link),
            _ if from == 0 => {
                return Err(io::Error::other(format!(
                    "the log's last record, seq {seq}, was not found again"
                )));
            }
            _ => window = window.saturating_mul(16),
        }
    }
}
