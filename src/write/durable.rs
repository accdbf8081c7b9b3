//! How written records become durable: [`Writer::make_durable`] is the one step every synced
//! append goes through (`Always`, a group's sync, conditional appends, transactions, imports),
//! and the group commit's two halves, [`Writer::write_group_batch`] and
//! [`Writer::sync_group`], which [`super::group::Combiner`] runs in overlapping turns.

use std::sync::Arc;
use std::time::Instant;

use crate::consume::Watermark;
use crate::error::Result;
use crate::fs::Vfs;

use super::Writer;
use super::ack::BatchAck;
use super::batch::Source;
use super::cover::Found;

/// What a group sync needs to know of the batches written before it: the file they went to,
/// the end of the log the last one left (published once synced) and how many unsynced writes
/// the handle had made to that file.
#[derive(Debug)]
pub(super) struct GroupSync<F> {
    file: Arc<F>,
    mark: Option<Watermark>,
    writes: u64,
}

impl<F> Clone for GroupSync<F> {
    fn clone(&self) -> Self {
        GroupSync { file: self.file.clone(), mark: self.mark, writes: self.writes }
    }
}

impl<V: Vfs> Writer<V> {
    /// Makes the records of `file` up to `mark` durable (the end of the log as this handle
    /// last saw it: every record up to it was written before this call), and so every record
    /// written before: unless a sync already covers them (another thread's or another
    /// process's, published in `LOG.watermark`), or one in flight will, with `fdatasync`, then
    /// publishes the end it covered. See [`super::cover`] for the rules. A segmented log, whose
    /// watermark does not describe its active segment, always syncs.
    pub(super) fn make_durable(&self, file: &V::File, mark: Option<Watermark>) -> Result<()> {
        let Some(mark) = mark.filter(|_| self.settings.is_none()) else {
            return self.sync_and_publish(file, mark);
        };
        let since = Instant::now();
        loop {
            self.check_poison()?;
            match self.cover.check(&self.vfs, &self.path, mark, since) {
                Found::Durable => return self.check_poison(),
                Found::InFlight => {}
                Found::Nothing => break,
            }
        }
        let syncing = self.cover.begin(file, mark);
        self.sync_and_publish_witnessed(file, Some(syncing.covers), Some(syncing.since))?;
        syncing.succeeded();
        Ok(())
    }

    /// A group commit's write: the batch's records, with one `write` under the lock, not
    /// synced (the group syncs it, with the batches around it, in [`Writer::sync_group`]).
    pub(super) fn write_group_batch(
        &self,
        bytes: &[u8],
        ends: &[usize],
    ) -> Result<(BatchAck, GroupSync<V::File>)> {
        let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let source =
            Source::Payloads { count: ends.len(), payload: |i: usize| &bytes[start(i)..ends[i]] };
        self.check_poison()?;
        let mut state = self.lock_state();
        let guard = self.lock_unless_exclusive()?;
        let held = self.write_held(&mut state, &source, None, None, false)?;
        let file = state.file.clone();
        let mark = state.tail.and_then(|t| {
            let last = t.last?;
            Some(Watermark { file: state.id, end: t.end, seq: last.seq })
        });
        let target = GroupSync { file: file.clone(), mark, writes: state.unsynced_writes };
        drop(guard);
        drop(state);
        let ack = self.after_write(held, &file, false)?;
        Ok((ack, target))
    }

    /// A group commit's sync: every batch written before it began is durable once it returns.
    pub(super) fn sync_group(&self, target: &GroupSync<V::File>) -> Result<()> {
        self.make_durable(&target.file, target.mark)?;
        // Spares the next handle that finds the file replaced a look at whether these writes
        // need a sync; an optimisation only, not worth waiting for a writer's turn.
        if let Ok(mut state) = self.state.try_lock()
            && Arc::ptr_eq(&state.file, &target.file)
        {
            state.synced_writes = state.synced_writes.max(target.writes);
        }
        Ok(())
    }
}
