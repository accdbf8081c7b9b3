//! The one seam for state a writer derives from the records of its log — the dedup window, the
//! index, the entity versions of conditional appends, and later the hash chain and segment
//! bookkeeping: each implements [`Derive`], and
//! `derived.rs` feeds them all from the writer's batch steps, under the writer lock.

use std::io;

use crate::fs::{FileId, Vfs};

/// The log as a derived state sees it under the lock: its descriptor and identity, how far it
/// reaches, and the clock of this append.
pub(crate) struct LogAt<'a, V: Vfs> {
    pub(crate) vfs: &'a V,
    pub(crate) file: &'a V::File,
    pub(crate) id: FileId,
    /// The end of the log (of its last complete record, at `catch_up`).
    pub(crate) len: u64,
    /// Permission bits for sidecar files.
    pub(crate) mode: u32,
    /// The seq of the last record in the log.
    pub(crate) last_seq: u64,
    /// The wall clock of this append, unix milliseconds.
    pub(crate) now: u64,
    /// A segmented log's segments before this one.
    pub(crate) older: Option<crate::segments::older::Older<'a>>,
}

impl<V: Vfs> super::Writer<V> {
    /// The segments before the active one a handle appends to (a segmented log).
    pub(super) fn older(
        &self,
        state: &super::State<V>,
    ) -> Option<crate::segments::older::Older<'_>> {
        let first_seq = state.segment.as_ref()?.first_seq;
        Some(crate::segments::older::Older { dir: &self.path, first_seq })
    }

    /// The log as a derived state sees it: this handle's file system and permission bits, the
    /// descriptor `file` (identity `id`) ending at `len` after the record `last_seq`, at `now`.
    pub(super) fn log_at<'a>(
        &'a self,
        file: &'a V::File,
        id: FileId,
        len: u64,
        last_seq: u64,
        now: u64,
    ) -> LogAt<'a, V> {
        LogAt { vfs: &self.vfs, file, id, len, mode: self.mode, last_seq, now, older: None }
    }
}

/// One record this handle encoded at `at..end` of the log.
pub(crate) struct Written<'a> {
    /// Which payload of the batch it is (repeats that are not written keep their place).
    pub(crate) index: usize,
    pub(crate) seq: u64,
    pub(crate) ts: u64,
    pub(crate) at: u64,
    pub(crate) end: u64,
    pub(crate) data: &'a [u8],
}

/// State kept in step with the records of a log. A step's error fails the append; state that
/// an append may go on without (the index, a hint never trusted over the log) keeps its own
/// error instead and returns `Ok`.
pub(crate) trait Derive<V: Vfs> {
    /// The handle opened the log.
    fn opened(&mut self, _log: &LogAt<'_, V>) -> io::Result<()> {
        Ok(())
    }

    /// Before seqs are assigned: take in what other writers appended up to `log.len`.
    fn catch_up(&mut self, _log: &LogAt<'_, V>) -> io::Result<()> {
        Ok(())
    }

    /// A record this handle encoded; it reaches the file with the batch's write.
    fn wrote(&mut self, record: &Written<'_>);

    /// The batch is in the file, which now ends at `log.len`.
    fn written(&mut self, _log: &LogAt<'_, V>) -> io::Result<()> {
        Ok(())
    }

    /// A write failed: the end of the file is unknown, so forget what was fed since.
    fn reset(&mut self);
}
