//! Following a log as it grows (`tail -f`), across compactions, delivering by default only
//! records below the durable watermark.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fs::{StdFs, Vfs};
use crate::read::{Entry, Mapped, Reader, Record, Refresh};

use super::wake::{Stopper, Waker};
use super::watermark::{Cover, Watcher, Watermark};

/// How long a follower waiting through inotify goes without looking anyway, in case a change
/// was not reported (a network file system, say).
const RECHECK: Duration = Duration::from_secs(1);

/// Yields records as writers append them, waiting when there are none. Survives compaction:
/// when the log is replaced it continues at the first record after the last one it returned,
/// so nothing is skipped or repeated.
///
/// **Committed by default**: it returns a record only once a writer's `fdatasync` covered it
/// (the durable watermark, `LOG.watermark`), so that no record it returned can be taken back
/// by a power loss and its seq given to another record. With [`Durability::Never`] records
/// become visible at [`Writer::sync`]. [`Follow::uncommitted`] returns records as soon as they
/// are written, as `Reader` does.
///
/// Two ways to read: [`Follow::next_within`] lends each record (no copy) and can give up
/// after a timeout; the [`Iterator`] yields [`OwnedRecord`]s and blocks until the next record
/// or until [`Stopper::stop`]. It wakes on change through inotify on the log's directory where
/// the file system has it, and polls every 50 ms where it has not.
///
/// [`Durability::Never`]: crate::Durability::Never
/// [`Writer::sync`]: crate::Writer::sync
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// let writer = ndlog::Writer::open(&path)?;
/// writer.append_raw(b"1")?;
/// let mut follow = ndlog::Reader::open(&path)?.follow();
/// assert_eq!(follow.next_within(None)?.map(|r| r.seq), Some(1));
/// writer.append_raw(b"2")?;
/// assert_eq!(follow.next().transpose()?.map(|r| r.seq), Some(2));
/// let idle = std::time::Duration::from_millis(10);
/// assert_eq!(follow.next_within(Some(idle))?.map(|r| r.seq), None);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct Follow<V: Vfs = StdFs> {
    reader: Reader<Mapped<V>>,
    /// The log's path after symlinks, and its file system (for the watermark).
    path: PathBuf,
    vfs: V,
    pos: u64,
    last_seq: Option<u64>,
    poll: Duration,
    committed: bool,
    watcher: Watcher<V::File>,
    mark: Option<Watermark>,
    waker: Option<Waker>,
    stop: Stopper,
    gap: Option<Gap>,
    /// Damaged lines gone past since the last look: the first one's offset, and how many.
    skipped: Option<(u64, u64)>,
}

/// Damaged lines a follower went past ([`Follow::take_skipped`],
/// [`crate::segments::SegmentedFollow::take_skipped`]): each may have held a record, which the
/// consumer will not get. `ndlog verify` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file they are in (a segment, for a segmented log).
    pub file: PathBuf,
    /// The first one's byte offset in it.
    pub first_offset: u64,
    /// How many.
    pub lines: u64,
}

/// Notes `lines` damaged lines, the first at `offset`, in `skipped`.
pub(crate) fn note_skipped(skipped: &mut Option<(u64, u64)>, offset: u64, lines: u64) {
    if lines > 0 {
        let (first, count) = skipped.get_or_insert((offset, 0));
        *first = (*first).min(offset);
        *count += lines;
    }
}

/// Records a follower will never return because a compaction removed them first (retention),
/// found when it started or when the log was replaced: the log's first record now has seq
/// `first_seq`, and the follower had returned everything up to `after_seq`.
///
/// # Example
/// ```
/// let gap = ndlog::consume::Gap { after_seq: 10, first_seq: 15 };
/// assert_eq!(gap.missing(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The last seq the follower had returned (or was asked to start after).
    pub after_seq: u64,
    /// The first seq still in the log.
    pub first_seq: u64,
}

impl Gap {
    /// How many seqs lie between: records removed before the follower returned them (fewer
    /// when some of those seqs never held a record, e.g. after a key compaction).
    pub fn missing(&self) -> u64 {
        self.first_seq - self.after_seq - 1
    }
}

/// A record copied out of the log: what the [`Iterator`] of [`Follow`] yields.
///
/// # Example
/// ```
/// let mut log = Vec::new();
/// ndlog::format::encode(&mut log, 7, 99, br#"{"n":1}"#);
/// let reader = ndlog::Reader::new(log);
/// let owned = ndlog::consume::OwnedRecord::from(reader.records().next().unwrap());
/// assert_eq!((owned.seq, owned.ts, owned.data()), (7, 99, &br#"{"n":1}"#[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// Sequence number.
    pub seq: u64,
    /// Timestamp in unix milliseconds.
    pub ts: u64,
    /// Byte offset of the line in the file it was read from.
    pub offset: u64,
    line: Box<[u8]>,
    data: std::ops::Range<usize>,
}

impl OwnedRecord {
    /// The payload: one compact JSON value.
    pub fn data(&self) -> &[u8] {
        &self.line[self.data.clone()]
    }

    /// The whole line, without its newline.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The record, borrowing from this copy (for [`crate::Cursor::commit_at`], say).
    pub fn as_record(&self) -> Record<'_> {
        Record {
            seq: self.seq,
            ts: self.ts,
            data: self.data(),
            line: self.line(),
            offset: self.offset,
        }
    }
}

impl From<Record<'_>> for OwnedRecord {
    fn from(r: Record<'_>) -> Self {
        // `data` lies inside `line`.
        let start = r.data.as_ptr() as usize - r.line.as_ptr() as usize;
        OwnedRecord {
            seq: r.seq,
            ts: r.ts,
            offset: r.offset,
            line: r.line.into(),
            data: start..start + r.data.len(),
        }
    }
}

impl<V: Vfs> Reader<Mapped<V>> {
    /// Follows the log from its first record.
    ///
    /// # Example
    /// See [`Follow`].
    pub fn follow(self) -> Follow<V> {
        Follow::new(self, 0, None)
    }

    /// Follows the log from the first record with a seq greater than `seq`; pass the last
    /// record's seq to see only what is appended from now on (`tail -f`). When the log's first
    /// record comes after `seq + 1`, [`Follow::take_gap`] says so.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// let writer = ndlog::Writer::open(&path)?;
    /// writer.append_raw_batch(&[b"1", b"2", b"3"])?;
    /// let mut follow = ndlog::Reader::open(&path)?.follow_after(2);
    /// assert_eq!(follow.next().transpose()?.map(|r| r.seq), Some(3));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn follow_after(self, seq: u64) -> Follow<V> {
        let pos = self.resume_after(seq);
        let mut follow = Follow::new(self, pos, Some(seq));
        follow.check_gap();
        follow
    }
}

impl<V: Vfs> Follow<V> {
    fn new(reader: Reader<Mapped<V>>, pos: u64, last_seq: Option<u64>) -> Self {
        let (vfs, path) = reader.vfs_and_path();
        let (vfs, path) = (vfs.clone(), path.to_path_buf());
        let watcher = Watcher::new(super::watermark::Target::File(&path));
        let mut follow = Follow {
            reader,
            vfs,
            pos,
            last_seq,
            poll: Duration::from_millis(50),
            committed: true,
            watcher,
            mark: None,
            waker: None,
            stop: Stopper::new(),
            gap: None,
            skipped: None,
            path,
        };
        follow.watch();
        follow
    }

    /// Watches the directory before the first look, so that no change after it is missed.
    fn watch(&mut self) {
        self.waker = None;
        if self.vfs.watchable() {
            let mark = self.watcher.path().to_path_buf();
            self.waker = Waker::new(&[self.path.as_path(), mark.as_path()]);
        }
    }

    /// Returns records as soon as they are written, before any sync made them durable (what
    /// `Reader` sees, `tail -f --uncommitted`). A power loss can take such a record back, and
    /// its seq then goes to another record.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&path)?;
    /// writer.append_raw(b"1")?;
    /// let idle = Some(std::time::Duration::from_millis(10));
    /// let mut committed = ndlog::Reader::open(&path)?.follow();
    /// assert!(committed.next_within(idle)?.is_none(), "not synced yet");
    /// let mut eager = ndlog::Reader::open(&path)?.follow().uncommitted();
    /// assert_eq!(eager.next_within(idle)?.map(|r| r.seq), Some(1));
    /// writer.sync()?;
    /// assert_eq!(committed.next_within(idle)?.map(|r| r.seq), Some(1));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn uncommitted(mut self) -> Self {
        self.committed = false;
        self
    }

    /// How often to look for changes while waiting where inotify is unavailable (default
    /// 50 ms). With inotify, changes wake the follower at once.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?;
    /// let follow = ndlog::Reader::open(&path)?.follow().poll_interval(std::time::Duration::from_millis(5));
    /// # drop(follow);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Uses `stop` instead of the follower's own [`Stopper`], so that one call stops many.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?;
    /// let stop = ndlog::consume::Stopper::new();
    /// let mut follow = ndlog::Reader::open(&path)?.follow().stop_with(stop.clone());
    /// stop.stop();
    /// assert!(follow.next().is_none());
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn stop_with(mut self, stop: Stopper) -> Self {
        self.stop = stop;
        self
    }

    /// A handle that stops this follower from another thread: see [`Stopper`].
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// The seq of the last record returned (or the one it was asked to start after).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?;
    /// assert_eq!(ndlog::Reader::open(&path)?.follow_after(41).last_seq(), Some(41));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Records removed by a compaction before this follower returned them, if it found any
    /// since the last call: see [`Gap`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// let writer = ndlog::Writer::open(&path)?;
    /// writer.append_raw_batch(&[b"1", b"2", b"3", b"4"])?;
    /// ndlog::Compactor::new(&path, ndlog::Policy::new().keep_last(2)).run()?;
    /// let mut follow = ndlog::Reader::open(&path)?.follow_after(1);
    /// assert_eq!(follow.take_gap(), Some(ndlog::consume::Gap { after_seq: 1, first_seq: 3 }));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn take_gap(&mut self) -> Option<Gap> {
        self.gap.take()
    }

    /// The damaged lines this follower went past since the last call, if any: see
    /// [`Skipped`].
    pub fn take_skipped(&mut self) -> Option<Skipped> {
        let (first_offset, lines) = self.skipped.take()?;
        Some(Skipped { file: self.path.clone(), first_offset, lines })
    }

    /// The current durable watermark, as this follower last read it.
    pub fn watermark(&self) -> Option<Watermark> {
        self.mark
    }

    /// The next record, waiting for one: forever with `None`, or up to the timeout, after
    /// which it returns `Ok(None)`. Returns `Ok(None)` at once when stopped.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] when the log cannot be re-mapped or `LOG.watermark` cannot be
    /// read.
    ///
    /// # Example
    /// See [`Follow`].
    pub fn next_within(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        if !self.wait_ready(timeout)? {
            return Ok(None);
        }
        let record = self.reader.records_from(self.pos).next();
        if let Some(r) = record {
            self.pos = r.end();
            self.last_seq = Some(r.seq);
        }
        Ok(record)
    }

    /// Every record that can be returned now, as one batch, waiting for the first as
    /// [`Follow::next_within`] does (an empty batch after the timeout or once stopped). For
    /// catching up on a backlog: each record is read once, where `next_within` reads it twice.
    /// The follower moves past each record as the batch yields it.
    ///
    /// # Errors
    /// As [`Follow::next_within`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// let writer = ndlog::Writer::open(&path)?;
    /// writer.append_raw_batch(&[b"1", b"2", b"3"])?;
    /// let mut follow = ndlog::Reader::open(&path)?.follow();
    /// let batch = follow.next_batch(None)?;
    /// assert!(batch.gap().is_none());
    /// assert_eq!(batch.map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    /// assert_eq!(follow.last_seq(), Some(3));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn next_batch(&mut self, timeout: Option<Duration>) -> Result<Batch<'_>> {
        let ready = self.wait_ready(timeout)?;
        let gap = self.gap.take();
        // Committed: up to the mark that covers the record at `pos` (checked by `wait_ready`);
        // the batch stops before a record the mark does not cover exactly.
        let (end, mark_seq) = match (self.committed, self.mark) {
            (true, Some(m)) => (m.end, Some(m.seq)),
            _ => (u64::MAX, None),
        };
        let records = self.reader.records_from(self.pos);
        Ok(Batch {
            records,
            end,
            mark_seq,
            pos: &mut self.pos,
            last_seq: &mut self.last_seq,
            done: !ready,
            gap,
            skipped: &mut self.skipped,
            counted: 0,
        })
    }

    /// Waits until the record at `pos` may be returned: true, or false after the timeout or
    /// once stopped. The timeout runs from the first wait.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let mut deadline = None;
        loop {
            if self.stop.is_stopped() {
                return Ok(false);
            }
            if let Some(next) = self.advance()
                && self.deliverable(next)?
            {
                return Ok(true);
            }
            match self.reader.refresh()? {
                Refresh::Resized => continue,
                Refresh::Replaced => {
                    self.pos = self.resume_offset();
                    self.check_gap();
                    continue;
                }
                Refresh::Unchanged => {}
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert_with(|| timeout.map(|t| now + t));
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let left = deadline.map_or(Duration::MAX, |d| d - now);
            match &mut self.waker {
                Some(waker) => waker.wait(&self.stop, left.min(RECHECK)),
                None => self.stop.sleep(left.min(self.poll)),
            }
        }
    }

    /// Moves `pos` to the next new record in the current map and returns its seq, offset and
    /// end; `None` when there is none yet. Stops before a torn tail: it may be a write in
    /// progress.
    fn advance(&mut self) -> Option<(u64, u64, u64)> {
        for entry in self.reader.entries_from(self.pos) {
            match entry {
                Entry::Record(r) if self.last_seq.is_some_and(|s| r.seq <= s) => self.pos = r.end(),
                Entry::Record(r) => {
                    self.pos = r.offset;
                    return Some((r.seq, r.offset, r.end()));
                }
                Entry::Corrupt { offset, len, .. } => {
                    note_skipped(&mut self.skipped, offset, 1);
                    self.pos = offset + len;
                }
                Entry::Padding { offset, len } => self.pos = offset + len,
                Entry::TornTail { .. } => return None,
            }
        }
        None
    }

    /// Whether the record at `pos` (its seq, offset and end) may be returned: always when
    /// uncommitted, else when the watermark of this very file covers it (read again when the
    /// last one read does not).
    fn deliverable(&mut self, (seq, offset, end): (u64, u64, u64)) -> Result<bool> {
        if !self.committed {
            return Ok(true);
        }
        let file = self.reader.file_id();
        // A mark past the end of the map is trusted once a refresh mapped that far: a file that
        // stays shorter is another one on a reused inode (the log was removed and created again).
        // Or when it ends in the damaged bytes after the last record, with a seq they could
        // hold: records a sync covered and damaged since (`watermark::covers_damage`), past
        // which no refresh will ever map, while every record before them is durable.
        let mapped = self.reader.bytes().len() as u64;
        let tail = self.reader.known_tail();
        let covered = |mark: Option<Watermark>| {
            mark.is_some_and(|m| {
                let here = m.end <= mapped || super::watermark::covers_damage(&m, file, &tail);
                m.file == file && here && m.covers(seq, offset, end) == Cover::Yes
            })
        };
        if covered(self.mark) {
            return Ok(true);
        }
        let read = self.watcher.read(&self.vfs);
        self.mark = read.map_err(|e| Error::io(self.watcher.path(), "read", e))?;
        Ok(covered(self.mark))
    }

    /// Where to continue in a replacement file: just after the last record returned.
    fn resume_offset(&self) -> u64 {
        match self.last_seq {
            Some(seq) => self.reader.resume_after(seq),
            None => 0,
        }
    }

    /// Notes a gap when the log's first record comes after the one the follower expects next.
    fn check_gap(&mut self) {
        let (Some(after), Some(first)) = (self.last_seq, self.reader.records().next()) else {
            return;
        };
        if first.seq > after.saturating_add(1) {
            let first_seq = first.seq;
            let gap = match self.gap {
                // Two compactions before anyone looked: one gap from the earliest.
                Some(g) => Gap { after_seq: g.after_seq, first_seq },
                None => Gap { after_seq: after, first_seq },
            };
            self.gap = Some(gap);
        }
    }

    /// The log's path after symlinks.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The records [`Follow::next_batch`] found ready, in order; the follower moves past each as
/// it is yielded (a batch dropped half-way leaves the rest for the next call).
#[derive(Debug)]
pub struct Batch<'a> {
    records: crate::read::Records<'a>,
    /// Records must end at or before it (committed: the watermark's end)...
    end: u64,
    /// ... and the one ending exactly there must have this seq.
    mark_seq: Option<u64>,
    pos: &'a mut u64,
    last_seq: &'a mut Option<u64>,
    done: bool,
    gap: Option<Gap>,
    /// The follower's note of damaged lines gone past, and how many of the batch's it holds.
    skipped: &'a mut Option<(u64, u64)>,
    counted: u64,
}

impl Batch<'_> {
    /// Records a compaction removed before the follower returned them, found while waiting
    /// for this batch (as [`Follow::take_gap`]).
    pub fn gap(&self) -> Option<Gap> {
        self.gap
    }

    /// Whether the batch is empty: the wait timed out or the follower was stopped.
    pub fn is_empty(&self) -> bool {
        self.done
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = Record<'a>;

    #[inline]
    fn next(&mut self) -> Option<Record<'a>> {
        while !self.done {
            let Some(r) = self.records.next() else { break };
            let end = r.end();
            // Below the mark: the common case while catching up.
            if end >= self.end && (end > self.end || self.mark_seq.is_some_and(|s| s != r.seq)) {
                break;
            }
            *self.pos = end;
            // Damage before this record is gone past for good now.
            let stats = self.records.stats();
            if stats.corrupt_lines > self.counted {
                let first = stats.first_corrupt.unwrap_or(r.offset);
                note_skipped(self.skipped, first, stats.corrupt_lines - self.counted);
                self.counted = stats.corrupt_lines;
            }
            if self.last_seq.is_some_and(|s| r.seq <= s) {
                continue;
            }
            *self.last_seq = Some(r.seq);
            return Some(r);
        }
        self.done = true;
        None
    }
}

impl<V: Vfs> Iterator for Follow<V> {
    type Item = Result<OwnedRecord>;

    /// Blocks until the next record (or an error); `None` once stopped.
    fn next(&mut self) -> Option<Result<OwnedRecord>> {
        match self.next_within(None) {
            Ok(Some(r)) => Some(Ok(OwnedRecord::from(r))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}
