//! What happens under the lock when a batch is appended, as named steps: find the end of the
//! log (following a compaction), catch the derived state up, find repeats, check the caller's
//! expectation (a conditional append), assign seqs and ts (or check imported records' order),
//! encode and write, then release the lock and sync. A transaction runs its closure between
//! finding the end of the log and these steps, with the lock held throughout.

use std::io;
use std::sync::{Arc, MutexGuard, PoisonError};

use crate::clock;
use crate::compact::Quarantine;
use crate::consume::Watermark;
use crate::consume::watermark::{self, Target};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format;
use crate::fs::{Create, FileId, LockGuard, OpenOptions, Vfs, VfsFile};
use crate::names;

use super::ack::{Ack, BatchAck};
use super::dedup::Repeats;
use super::derive::Written;
use super::expect::Expect;
use super::{State, Writer};
use crate::read::last_record::{Last, Tail};

/// A batch is written in `write` calls of about this size, each holding whole records.
const WRITE_CHUNK: usize = 8 << 20;
/// Crash debris is moved in pieces of this size.
const DEBRIS_CHUNK: u64 = 1 << 20;

/// What to write: payloads to frame with new seqs, or whole records to write as they are.
pub(super) enum Source<'a, P> {
    Payloads { count: usize, payload: P },
    Records(&'a [&'a [u8]]),
}

impl<P> Source<'_, P> {
    pub(super) fn count(&self) -> usize {
        match self {
            Source::Payloads { count, .. } => *count,
            Source::Records(lines) => lines.len(),
        }
    }
}

impl<'p, P: Fn(usize) -> &'p [u8]> Source<'_, P> {
    /// The bytes the batch takes in the file at most, each record framed with at most
    /// `overhead` bytes.
    pub(super) fn bytes_at_most(&self, overhead: usize) -> u64 {
        let sum: usize = match self {
            Source::Payloads { count, payload } => {
                (0..*count).map(|i| payload(i).len() + overhead).sum()
            }
            Source::Records(lines) => lines.iter().map(|l| l.len() + 1).sum(),
        };
        sum as u64
    }
}

/// What the steps under the lock did, for the steps after it.
pub(super) struct Held {
    plan: Plan,
    /// Whether the active segment was rolled.
    rolled: bool,
    /// Records written (repeats are not).
    writes: usize,
    /// The end of the file after the write.
    len: u64,
    /// The file written to.
    id: FileId,
}

/// The records of a batch as assigned under the lock.
struct Plan {
    first_seq: u64,
    ts: u64,
    /// The batch's last record, which becomes the log's.
    last: Last,
    /// Payloads not written because they repeat a key: (index in the batch, the original).
    duplicates: Vec<(usize, Ack)>,
}

impl Plan {
    /// The indexes of the first and the last of `count` payloads the plan writes (the others
    /// are repeats).
    fn written_span(&self, count: usize) -> (usize, usize) {
        let repeat = |i: usize| self.duplicates.binary_search_by_key(&i, |&(d, _)| d).is_ok();
        let first = (0..count).find(|&i| !repeat(i)).unwrap_or(0);
        let last = (0..count).rev().find(|&i| !repeat(i)).unwrap_or(0);
        (first, last)
    }
}

impl<V: Vfs> Writer<V> {
    /// Under the mutex and the lock: appends the batch with one `write` (one per 8 MiB), keeps
    /// the derived state, then releases the lock and, with `sync`, makes the records durable.
    /// With `expect`, the batch is written only if the log or its entities are as expected.
    pub(super) fn write_locked<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        source: Source<'_, P>,
        expect: Option<Expect>,
        sync: bool,
    ) -> Result<BatchAck> {
        self.check_poison()?;
        let mut state = self.lock_state();
        let guard = self.lock_unless_exclusive()?;
        let held = self.write_held(&mut state, &source, expect, None, sync)?;
        let file = state.file.clone();
        drop(guard);
        drop(state);
        self.after_write(held, &file, sync)
    }

    /// The steps under the mutex and the lock, in order; the caller holds both and releases
    /// them before [`Writer::after_write`]. `known` is the end of the log when the caller
    /// found it under the same lock (a transaction), which nobody can have moved since.
    pub(super) fn write_held<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        state: &mut State<V>,
        source: &Source<'_, P>,
        expect: Option<Expect>,
        known: Option<Tail>,
        sync: bool,
    ) -> Result<Held> {
        let tail = match known {
            Some(tail) => tail,
            None => self.end_of_log(state)?,
        };
        let (tail, floor) = self.neutralise_debris(state, tail)?;
        let now = clock::now_ms();
        let (tail, rolled) = self.roll_if_due(state, source, tail, floor, now)?;
        let previous = tail.last.unwrap_or(Last { seq: 0, ts: 0 });
        let repeats = self.find_repeats(state, source, tail, previous, now)?;
        // Seqs go on after a damaged record a sync covered, never reusing its seq; that
        // record, acknowledged, is the last a conditional append is checked against.
        let after = Last { seq: previous.seq.max(floor), ..previous };
        // A batch whose every payload repeats a record in the log is a retry of an append
        // that was written (its expectation held then): it is acknowledged as the repeat it
        // is, not checked against the log its first attempt moved.
        let retry = source.count() > 0 && repeats.in_log.len() == source.count();
        if let Some(expect) = expect.filter(|_| !retry) {
            self.check_expectation(state, source, expect, after)?;
        }
        let plan = self.assign(source, after, now, repeats)?;
        let writes = source.count() - plan.duplicates.len();
        let mut len = tail.len;
        if writes > 0 {
            len = self.encode_and_write(state, source, tail, &plan)?;
            if tail.end == 0 {
                Self::note_first_ts(state, plan.ts);
            }
            state.unsynced_writes += u64::from(!sync);
            self.feed_written(state, plan.last.seq, len, now);
        }
        Ok(Held { plan, rolled, writes, len, id: state.id })
    }

    /// After the lock is released: the sync, a compaction this writer starts by itself, and
    /// the acknowledgement.
    pub(super) fn after_write(
        &self,
        held: Held,
        file: &Arc<V::File>,
        sync: bool,
    ) -> Result<BatchAck> {
        let Held { plan, rolled, writes, len, id } = held;
        // Syncing after the lock is released lets other writers append meanwhile; this sync
        // covers their records too. Should a compaction replace the file in between, it copied
        // this record into the new file and synced that before the rename. A repeat is synced
        // too: its original may have been written by a writer that does not sync.
        if sync {
            let mark = (writes > 0).then_some(Watermark { file: id, end: len, seq: plan.last.seq });
            self.make_durable(file, mark)?;
        }
        if rolled {
            self.after_roll();
        }
        if let Some(auto) = &self.auto
            && writes > 0
        {
            auto.after_append(writes as u64, &self.vfs, &self.path, len, || first_ts(&**file));
        }
        Ok(BatchAck {
            first_seq: if writes > 0 { plan.first_seq } else { 0 },
            count: writes as u64,
            ts: plan.ts,
            duplicates: plan.duplicates,
        })
    }

    /// The writer lock, unless this is an exclusive handle: that one holds the lock for its
    /// whole life, so nobody else can have appended or replaced the file.
    pub(super) fn lock_unless_exclusive(&self) -> Result<Option<LockGuard<'_, V::File>>> {
        match self.opts.exclusive {
            true => Ok(None),
            false => self.lock.acquire(&self.path, self.opts.lock_timeout).map(Some),
        }
    }

    /// Where the log ends: an exclusive handle trusts what it knows; a shared one looks.
    pub(super) fn end_of_log(&self, state: &mut State<V>) -> Result<Tail> {
        match (self.opts.exclusive, state.tail) {
            (true, Some(tail)) => Ok(tail),
            _ => self.current_tail(state),
        }
    }

    /// Crash debris after the last record (a torn or damaged last line, never an acknowledged
    /// record: see [`Tail::end`]) is copied to the quarantine and made durable there, then
    /// overwritten in place with as many newlines, synced before anything is appended after it:
    /// the log stays strict NDJSON for every other tool. Readers never map bytes past the last
    /// record (FORMAT.md, section 4), so none of them sees these bytes change. If the debris
    /// cannot be moved (the quarantine is not writable, say), the append terminates it with a
    /// newline instead, as a damaged line that `verify` reports and compaction removes. An
    /// unfinished write cannot stay (its records would read as the log's once a record follows
    /// them), nor go without a copy: then nothing is appended until the quarantine can be
    /// written.
    ///
    /// Bytes the durable watermark covers are not crash debris: a sync covered them, so they
    /// held records that were (or could have been) acknowledged, damaged since (the medium, a
    /// lost writeback). They stay in place, terminated by the next append like debris that
    /// cannot be moved, and the seq of the last of them is returned as a floor: the next
    /// record takes a seq above it, never one a consumer or a downstream system may already
    /// hold for another record. 0 when there is none.
    pub(super) fn neutralise_debris(
        &self,
        state: &mut State<V>,
        tail: Tail,
    ) -> Result<(Tail, u64)> {
        if !tail.torn {
            return Ok((tail, 0));
        }
        if let Some(mark) = self.covering_mark(state, tail)? {
            // What the mark covers stays; an unfinished write after it (it covers none) is
            // debris, moved away as below, or nothing is appended.
            if tail.unfinished.is_some() {
                let after = Tail { end: mark.end.max(tail.end), ..tail };
                self.pad_debris(state, after)?;
                let content = if state.in_place() { after.end } else { tail.content };
                let kept = Tail { unfinished: None, content, ..tail };
                state.tail = Some(kept);
                return Ok((kept, mark.seq));
            }
            return Ok((tail, mark.seq));
        }
        match self.pad_debris(state, tail) {
            Ok(()) => {
                // (In a preallocated segment the debris is padding again, and the next record
                // is written over it.)
                let content = if state.in_place() { tail.end } else { tail.content };
                let padded = Tail { torn: false, unfinished: None, content, ..tail };
                state.tail = Some(padded);
                Ok((padded, 0))
            }
            Err(e) if self.poison.get().is_some() => Err(e),
            // Records of an unfinished write, left in place, would read as part of the log once
            // a record follows them, and a write is all or nothing: nothing is appended.
            Err(e) if tail.unfinished.is_some() => Err(e),
            Err(_) => Ok((tail, 0)),
        }
    }

    /// The seq of the last record the durable watermark says ends past the log's last valid
    /// record, in bytes that no longer hold a valid one ([`watermark::covers_damage`]);
    /// `None` when there is none (always when the tail is not torn). A mark that cannot be
    /// read (an I/O error, not a missing or damaged one) fails the append: treating those
    /// bytes as debris could give a seq again.
    pub(super) fn durable_damage(&self, state: &State<V>, tail: Tail) -> Result<Option<u64>> {
        Ok(self.covering_mark(state, tail)?.map(|m| m.seq))
    }

    /// The mark [`Writer::durable_damage`] goes by.
    fn covering_mark(&self, state: &State<V>, tail: Tail) -> Result<Option<Watermark>> {
        let target = match self.settings {
            None => Target::File(&self.path),
            Some(_) => Target::Segments(&self.path),
        };
        watermark::covering_damage(&self.vfs, target, state.id, &tail)
    }

    /// Quarantines the bytes between the last record and the end of the file, then overwrites
    /// them with newlines and syncs the log. Nothing is overwritten that the quarantine did not
    /// take: an unfinished write is never acknowledged as durable, but with no mark to say so
    /// (a publish that failed, a mark a power loss took back) it may hold records that were,
    /// with damage before them, and the quarantine is where they can still be recovered.
    fn pad_debris(&self, state: &mut State<V>, tail: Tail) -> Result<()> {
        let State { file, id, scratch, active, .. } = state;
        let log = &**active;
        let mut quarantine = Quarantine::new(log, self.mode, id.ino, clock::now_ms());
        let mut at = tail.end;
        while at < tail.content {
            let n = (tail.content - at).min(DEBRIS_CHUNK);
            scratch.resize(n as usize, 0);
            crate::fs::read_exact_at(&**file, scratch, at).at(log, "read")?;
            let why = "crash debris after the last record (a torn or damaged write that was never acknowledged)";
            quarantine.push(&self.vfs, at, scratch, why).at(quarantine.path(), "write")?;
            at += n;
        }
        if quarantine.commit(&self.vfs).at(quarantine.path(), "fsync")? {
            let dir = names::parent_dir(log);
            self.vfs.sync_dir(dir).at(dir, "fsync directory")?;
        }
        // A positioned write needs a descriptor without O_APPEND.
        let writer = self.vfs.open(log, OpenOptions::read_write(Create::No, 0));
        let writer = writer.at(log, "open")?;
        if writer.metadata().at(log, "fstat")?.id != *id {
            return Err(Error::io(log, "open", io::Error::other("the log was replaced")));
        }
        let mut at = tail.end;
        while at < tail.content {
            let n = (tail.content - at).min(DEBRIS_CHUNK);
            scratch.clear();
            scratch.resize(n as usize, b'\n');
            crate::fs::write_all_at(&writer, scratch, at).at(log, "write")?;
            at += n;
        }
        // The newlines must be durable before a record is appended after them: a crash that
        // kept the record but not them would glue the record onto the debris.
        self.sync_file(file)
    }

    /// Catches the derived state up with the log and finds the payloads that repeat a key
    /// (deduplication only; imported records are never deduplicated).
    fn find_repeats<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        state: &mut State<V>,
        source: &Source<'_, P>,
        tail: Tail,
        previous: Last,
        now: u64,
    ) -> Result<Repeats> {
        let Source::Payloads { count, payload } = source else { return Ok(Repeats::default()) };
        let older = self.older(state);
        let State { file, id, derived, .. } = state;
        let mut log = self.log_at(&**file, *id, tail.content, previous.seq, now);
        log.older = older;
        derived.catch_up(&log).at(&self.path, "read")?;
        match derived.dedup.as_mut() {
            Some(d) => d.repeats(*count, payload, &self.vfs, &**file, older).at(&self.path, "read"),
            None => Ok(Repeats::default()),
        }
    }

    /// Assigns seqs and the ts to the payloads written, or checks that imported records come
    /// after the log's last record.
    fn assign<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        source: &Source<'_, P>,
        previous: Last,
        now: u64,
        repeats: Repeats,
    ) -> Result<Plan> {
        let Repeats { in_log: mut duplicates, in_batch } = repeats;
        let (first_seq, ts, last) = match source {
            Source::Payloads { count, .. } => {
                let written = (count - duplicates.len() - in_batch.len()) as u64;
                if previous.seq.checked_add(written).is_none() {
                    return Err(Error::invalid_argument(format!(
                        "{}: the log's seq space is exhausted: its last record has seq {}, and \
                         seqs end at {}; start a new log",
                        self.path.display(),
                        previous.seq,
                        u64::MAX
                    )));
                }
                let ts = now.max(previous.ts);
                (previous.seq + 1, ts, Last { seq: previous.seq + written, ts })
            }
            Source::Records(lines) => {
                let bad = |e: format::LineError| Error::payload(&self.path, None, e.to_string());
                let first = format::decode(lines[0]).map_err(bad)?;
                let last = format::decode(lines[lines.len() - 1]).map_err(bad)?;
                if first.seq <= previous.seq || first.ts < previous.ts {
                    let why = format!(
                        "record with seq {} ts {} does not come after the log's last record (seq {} ts {})",
                        first.seq, first.ts, previous.seq, previous.ts
                    );
                    return Err(Error::payload(&self.path, Some(0), why));
                }
                (first.seq, first.ts, Last { seq: last.seq, ts: last.ts })
            }
        };
        if !in_batch.is_empty() {
            let repeats = in_batch
                .iter()
                .map(|&(i, j)| (i, Ack { seq: first_seq + j as u64, ts, duplicate: true }));
            duplicates.extend(repeats);
            duplicates.sort_unstable_by_key(|&(i, _)| i);
        }
        Ok(Plan { first_seq, ts, last, duplicates })
    }

    /// Encodes the records the plan writes into the handle's buffer and writes them, feeding
    /// each to the derived state; returns the new end of the file.
    fn encode_and_write<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        state: &mut State<V>,
        source: &Source<'_, P>,
        tail: Tail,
        plan: &Plan,
    ) -> Result<u64> {
        // A failed or short write leaves the end of the file unknown.
        state.tail = None;
        // A preallocated segment is written in place, at the end of its content.
        let in_place = state.in_place();
        let State { file, buf, derived, active, .. } = &mut *state;
        let active = &**active;
        // (In place, at the end of the last record: the padding after it is overwritten. Only
        // debris that could not be neutralised is written after instead.)
        let mut len = match (in_place, tail.torn) {
            (true, false) => tail.end,
            (true, true) => tail.content,
            (false, _) => tail.len,
        };
        buf.clear();
        if tail.torn {
            // Terminate the torn bytes, so the record never merges with them; they stay in
            // the file as a corrupt line that readers skip and `verify` reports.
            buf.push(b'\n');
        }
        let mut dups = plan.duplicates.iter().map(|(i, _)| *i).peekable();
        let mut lines = format::Consecutive::new(plan.first_seq, plan.ts);
        // The records of a write of several carry marks (every one but the last: more follow;
        // every one but the first: more came before), so that a write cut short or with a hole
        // (a crash, a kill between two pages) leaves records that readers and the next writer
        // take for an unfinished write, never for part of the log (FORMAT.md, section 4).
        let (first, last) = plan.written_span(source.count());
        for i in 0..source.count() {
            if dups.next_if_eq(&i).is_some() {
                continue;
            }
            let at = len + buf.len() as u64;
            match source {
                Source::Payloads { payload, .. } => {
                    let data = payload(i);
                    let seq = lines.seq();
                    let marks = format::Marks::of(i, first, last);
                    derived.encode(buf, &mut lines, plan.ts, data, marks);
                    let end = len + buf.len() as u64;
                    derived.wrote(&Written { index: i, seq, ts: plan.ts, at, end, data });
                }
                // Whole records keep their bytes, and with them the marks of the writes they
                // came from, but at this write's ends: its first is marked as no write's
                // continuation, its last as continuing none (each one's CRC computed again if
                // that changed it). (Each was checked to be a record before the lock.)
                Source::Records(lines) if i == first || i == last => {
                    let ends = |given: format::Marks| format::Marks {
                        continued: given.continued && i != first,
                        continues: given.continues && i != last,
                    };
                    format::remark(lines[i], ends, buf).map_err(|e| {
                        Error::payload(&self.path, Some(i), format!("not an ndlog record: {e}"))
                    })?;
                }
                Source::Records(lines) => {
                    buf.extend_from_slice(lines[i]);
                    buf.push(b'\n');
                }
            }
            if buf.len() >= WRITE_CHUNK {
                let at = in_place.then_some(len);
                len += self.write_chunk(file, active, at, buf, state_reset(derived))?;
            }
        }
        if !buf.is_empty() {
            let at = in_place.then_some(len);
            len += self.write_chunk(file, active, at, buf, state_reset(derived))?;
        }
        let file_len = if in_place { tail.len.max(len) } else { len };
        let tail =
            Tail { len: file_len, last: Some(plan.last), end: len, content: len, ..Tail::EMPTY };
        state.tail = Some(tail);
        Ok(len)
    }

    /// Tells the derived state that the batch is in the file. Under the lock, after the write:
    /// a failure here does not fail the append, whose records are already written.
    fn feed_written(&self, state: &mut State<V>, last_seq: u64, len: u64, now: u64) {
        let State { file, id, derived, .. } = state;
        let log = self.log_at(&**file, *id, len, last_seq, now);
        // Only essential derived state returns an error here, and none has a `written` step.
        let _ = derived.written(&log);
    }

    /// Writes `buf` with one `write` (at `at`, in place, or at the end of the file) and
    /// empties it; returns the bytes written. After a failure the derived state is reset (the
    /// end of the file is unknown).
    fn write_chunk(
        &self,
        file: &V::File,
        path: &std::path::Path,
        at: Option<u64>,
        buf: &mut Vec<u8>,
        reset: impl FnOnce(),
    ) -> Result<u64> {
        if let Err(e) = write_all_once(file, path, at, buf) {
            reset();
            return Err(e);
        }
        let n = buf.len() as u64;
        buf.clear();
        Ok(n)
    }

    /// The end of the file, under the lock: reopens the log if a compaction replaced it, and
    /// reads what other processes appended since this handle's last write.
    pub(super) fn current_tail(&self, state: &mut State<V>) -> Result<Tail> {
        if let Some(segment) = &state.segment {
            let before = segment.before;
            let Some(len) = self.active_len(state)? else {
                return self.follow_segments(state);
            };
            let padded = state.in_place();
            if let Some(t) = state.tail.filter(|t| t.len == len) {
                // A preallocated segment keeps its size: look at the end of its last record
                // for appends (not at `content`, which discovery rounds up to a block: another
                // process's append lands below it).
                let file = &*state.file;
                if !padded
                    || (!t.torn
                        && super::segment::padding_at(file, t.end, len)
                            .at(&state.active, "read")?)
                {
                    return Ok(t);
                }
            }
            let found = crate::consume::watermark::discover_synced(
                &self.vfs,
                &state.active,
                &*state.file,
                len,
                state.tail,
                &mut state.scratch,
                padded,
            );
            let found = super::segment::with_floor(found.at(&state.active, "read")?, before);
            state.tail = Some(found);
            return Ok(found);
        }
        let mut meta = self.vfs.metadata(&self.path).at(&self.path, "stat")?;
        if meta.id != state.id {
            // The log was replaced. Records this handle wrote to the old file and did not sync
            // must be made durable before it moves on (a later sync covers only the new file),
            // unless the new file carries them: a compaction copies every record written
            // before it took the lock and syncs the copy before the rename.
            let file = self.vfs.open(&self.path, OpenOptions::append(Create::No, 0));
            let file = file.at(&self.path, "reopen")?;
            meta = file.metadata().at(&self.path, "fstat")?;
            // The compaction that renamed this file over the path may have died before its
            // directory fsync: make the name durable before acknowledging anything in the file.
            // On failure nothing changes here, so the next append tries again.
            let dir = names::parent_dir(&self.path);
            self.vfs.sync_dir(dir).at(dir, "fsync directory")?;
            if state.unsynced_writes > state.synced_writes {
                let ours = state.tail.and_then(|t| t.last).map_or(0, |l| l.seq);
                let carried = crate::consume::watermark::discover_synced(
                    &self.vfs,
                    &self.path,
                    &file,
                    meta.len,
                    None,
                    &mut state.scratch,
                    false,
                )
                .at(&self.path, "read")?
                .last
                .is_some_and(|l| l.seq >= ours);
                if !carried {
                    self.sync_file(&state.file)?;
                }
            }
            state.unsynced_writes = 0;
            state.synced_writes = 0;
            state.file = Arc::new(file);
            state.id = meta.id;
            state.tail = None;
            self.cover.forget();
        }
        if let Some(t) = state.tail.filter(|t| t.len == meta.len) {
            return Ok(t);
        }
        if state.tail.is_some() {
            // Another writer appended since this handle's last look: its syncs and this
            // handle's may cover each other's records.
            self.cover.note_other_writer();
        }
        let found = crate::consume::watermark::discover_synced(
            &self.vfs,
            &self.path,
            &*state.file,
            meta.len,
            state.tail,
            &mut state.scratch,
            false,
        );
        let found = found.at(&self.path, "read")?;
        state.tail = Some(found);
        Ok(found)
    }

    /// `fdatasync`, one at a time per handle and none after a failure, which poisons the
    /// handle.
    pub(super) fn sync_file(&self, file: &V::File) -> Result<()> {
        self.sync_and_publish(file, None)
    }

    /// [`Writer::sync_file`], then, under the same one-at-a-time lock, publishes `mark` in
    /// `LOG.watermark`: the records of the file it names up to its end are durable, for
    /// committed readers. A failed publish only holds them back until the next sync, so it
    /// fails nothing here.
    pub(super) fn sync_and_publish(&self, file: &V::File, mark: Option<Watermark>) -> Result<()> {
        self.sync_and_publish_witnessed(file, mark, None)
    }

    /// [`Writer::sync_and_publish`], publishing the witness `since` with the mark: every byte
    /// of the file at or past it was written after `file` was opened (see [`super::cover`]).
    pub(super) fn sync_and_publish_witnessed(
        &self,
        file: &V::File,
        mark: Option<Watermark>,
        since: Option<u64>,
    ) -> Result<()> {
        // The kernel reports a writeback error once per open file, so a sync racing or
        // following a failed one can return success for pages that were lost.
        let mut publisher = self.sync_lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_poison()?;
        file.sync_data().map_err(|e| {
            self.poison.get_or_init(|| e.to_string());
            Error::io(&self.path, "fdatasync", e)
        })?;
        if let Some(mark) = mark {
            let target = match self.settings {
                None => Target::File(&self.path),
                Some(_) => Target::Segments(&self.path),
            };
            let _ = publisher.publish(&self.vfs, target, self.mode, mark, since);
        }
        Ok(())
    }

    pub(super) fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            None => Ok(()),
            Some(cause) => {
                let (path, cause) = (self.path.clone(), cause.clone());
                Err(ErrorKind::Poisoned { path, cause }.into())
            }
        }
    }

    pub(super) fn lock_state(&self) -> MutexGuard<'_, State<V>> {
        // A panic while holding the mutex leaves at worst an unknown tail, which is re-read.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.state.is_poisoned() {
            state.tail = None;
            self.state.clear_poison();
        }
        state
    }
}

/// One `write` (`pwrite` at `at`) of all of `buf`: a record is never split across two writes.
fn write_all_once<F: VfsFile>(
    file: &F,
    path: &std::path::Path,
    at: Option<u64>,
    buf: &[u8],
) -> Result<()> {
    let n = match at {
        Some(at) => file.write_at(buf, at),
        None => file.append(buf),
    };
    let n = n.at(path, "write")?;
    if n != buf.len() {
        let short = io::Error::new(
            io::ErrorKind::WriteZero,
            format!("only {n} of {} bytes written; the next append terminates them", buf.len()),
        );
        return Err(Error::io(path, "write", short));
    }
    Ok(())
}

/// A closure that resets the derived state after a failed write.
fn state_reset<V: Vfs>(derived: &mut super::derived::Derived<V>) -> impl FnOnce() + '_ {
    move || derived.reset()
}

/// The ts of the first record, read from the start of the file.
pub(super) fn first_ts<F: VfsFile>(file: &F) -> Option<u64> {
    let mut buf = vec![0u8; 4096];
    let n = file.read_at(&mut buf, 0).ok()?;
    crate::read::Reader::new(&buf[..n]).records().next().map(|r| r.ts)
}
