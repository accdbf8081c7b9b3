//! Following a segmented log as it grows (`tail -f`), across rolls and retention, delivering by
//! default only records a sync made durable.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::consume::wake::Waker;
use crate::consume::watermark::{Target, Watcher};
use crate::consume::{Cover, Gap, OwnedRecord, Skipped, Stopper, Watermark};
use crate::error::{Error, Result};
use crate::fs::{StdFs, Vfs};
use crate::read::{Entry, Mapped, Reader, Record};

use super::list::{Segment, list_sorted};
use super::naming::SegmentName;

/// How long a follower waiting through inotify goes without looking anyway.
const RECHECK: Duration = Duration::from_secs(1);

/// Yields the records of a segmented log as writers append them, in seq order, waiting when
/// there are none. It crosses rolls (it finishes a sealed segment, then opens the next) with no
/// gap and no repeat, and when retention removed records it had not read yet it says so
/// through [`SegmentedFollow::take_gap`] and goes on from the oldest record left.
///
/// **Committed by default**, as [`crate::consume::Follow`]: a record of the active segment is
/// returned once the durable watermark `LOG/ndlog.watermark` covers it; a sealed segment is
/// durable whole (the roll synced it before renaming it). [`SegmentedFollow::uncommitted`]
/// returns records as soon as they are written. It wakes through inotify on the log's
/// directory, polling where there is none.
///
/// [`SegmentedFollow::next_within`] lends each record; the [`Iterator`] yields
/// [`OwnedRecord`]s, blocking until the next one or until [`Stopper::stop`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::segments::{SegmentedFollow, Settings};
/// let path = dir.path().join("events");
/// let settings = Settings { segment_records: Some(2), ..Settings::new(2 << 20) };
/// let writer = ndlog::Options::new().segments(settings).open(&path)?;
/// let mut follow = SegmentedFollow::after(&path, 0);
/// for n in 1..=5 {
///     writer.append(&n)?;
///     assert_eq!(follow.next_within(None)?.map(|r| r.seq), Some(n));
/// }
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct SegmentedFollow<V: Vfs = StdFs> {
    vfs: V,
    dir: PathBuf,
    /// The segment being read.
    current: Option<(SegmentName, Reader<Mapped<V>>)>,
    /// Where to look for the next record in it.
    pos: u64,
    /// Whether it was opened after it stopped growing (sealed: durable whole).
    whole: bool,
    /// The seq of the last record returned (or the one to start after).
    after: u64,
    poll: Duration,
    gap: Option<Gap>,
    /// The first seq of a sealed segment read to its end without reaching the seq after it: the
    /// next segment to open is the one after it, not the one that holds `after + 1` by name.
    past: Option<u64>,
    /// Seqs a sealed segment should have held and did not, since the last look.
    missing: Option<(u64, u64)>,
    /// Damaged lines gone past since the last look, a segment at a time.
    skipped: VecDeque<Skipped>,
    committed: bool,
    watcher: Watcher<V::File>,
    mark: Option<Watermark>,
    waker: Option<Waker>,
    stop: Stopper,
}

impl SegmentedFollow<StdFs> {
    /// Follows the segmented log `dir` from the first record with a seq greater than `seq`
    /// (0: from its first record).
    pub fn after(dir: impl AsRef<Path>, seq: u64) -> Self {
        Self::after_in(StdFs, dir, seq)
    }
}

impl<V: Vfs> SegmentedFollow<V> {
    /// [`SegmentedFollow::after`] on the file system `vfs`.
    pub fn after_in(vfs: V, dir: impl AsRef<Path>, seq: u64) -> Self {
        let dir = dir.as_ref().to_path_buf();
        // Watched before the first look, so that no change after it is missed.
        let waker = if vfs.watchable() { Waker::any(&dir) } else { None };
        SegmentedFollow {
            watcher: Watcher::new(Target::Segments(&dir)),
            vfs,
            dir,
            current: None,
            pos: 0,
            whole: false,
            after: seq,
            poll: Duration::from_millis(50),
            gap: None,
            past: None,
            missing: None,
            skipped: VecDeque::new(),
            committed: true,
            mark: None,
            waker,
            stop: Stopper::new(),
        }
    }

    /// How often to look for changes while waiting where inotify is unavailable (default
    /// 50 ms).
    #[must_use]
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Returns records as soon as they are written, before a sync made them durable (what
    /// `SegmentedReader` sees, `tail -f --uncommitted`). A power loss can take such a record
    /// back, and its seq then goes to another record.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use ndlog::segments::{SegmentedFollow, Settings};
    /// let path = dir.path().join("events");
    /// let opts = ndlog::Options::new().segments(Settings::new(2 << 20));
    /// let writer = opts.durability(ndlog::Durability::Never).open(&path)?;
    /// writer.append_raw(b"1")?;
    /// let idle = Some(std::time::Duration::from_millis(10));
    /// let mut committed = SegmentedFollow::after(&path, 0);
    /// assert!(committed.next_within(idle)?.is_none(), "not synced yet");
    /// let mut eager = SegmentedFollow::after(&path, 0).uncommitted();
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

    /// Uses `stop` instead of the follower's own [`Stopper`], so that one call stops many.
    #[must_use]
    pub fn stop_with(mut self, stop: Stopper) -> Self {
        self.stop = stop;
        self
    }

    /// A handle that stops this follower from another thread: see [`Stopper`].
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// The seq of the last record returned (or the one it was asked to start after, or the
    /// one before the oldest record left when retention removed the rest).
    pub fn last_seq(&self) -> u64 {
        self.after
    }

    /// Records retention removed before this follower returned them, if it found any since
    /// the last call: see [`Gap`].
    pub fn take_gap(&mut self) -> Option<Gap> {
        self.gap.take()
    }

    /// Seqs the follower went past without finding their records, if it did since the last
    /// call, as the first and last: a sealed segment ended before the seq the next one starts
    /// at (its last records are damaged, or a segment file was removed by something other than
    /// retention, which removes only the oldest). `ndlog verify` says which.
    pub fn take_missing(&mut self) -> Option<(u64, u64)> {
        self.missing.take()
    }

    /// The damaged lines this follower went past, one segment's at a time: call it until it
    /// returns `None`. See [`Skipped`].
    pub fn take_skipped(&mut self) -> Option<Skipped> {
        self.skipped.pop_front()
    }

    /// [`SegmentedFollow::take_gap`] as the first and last seq skipped.
    pub fn skipped(&mut self) -> Option<(u64, u64)> {
        self.take_gap().map(|g| (g.after_seq + 1, g.first_seq - 1))
    }

    /// The directory followed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next record, waiting for one to be appended: forever with `None`, or up to the
    /// timeout, after which it returns `Ok(None)`. Returns `Ok(None)` at once when stopped.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] or [`crate::ErrorKind::NotALog`] when the directory, a
    /// segment or the watermark cannot be read.
    pub fn next_within(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        if !self.wait_ready(timeout)? {
            return Ok(None);
        }
        let record = self.current.as_ref().and_then(|(_, r)| r.records_from(self.pos).next());
        if let Some(r) = record {
            self.pos = r.end();
            self.after = r.seq;
        }
        Ok(record)
    }

    /// Waits until the record at `pos` of the current segment may be returned: true, or false
    /// after the timeout or once stopped.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.stop.is_stopped() {
                return Ok(false);
            }
            if self.current.is_none() && !self.open_next()? {
                if !self.nap(deadline) {
                    return Ok(false);
                }
                continue;
            }
            if self.ready()? {
                return Ok(true);
            }
            // Nothing to return from this segment: has it been sealed, or a later one started?
            let segments = list_sorted(&self.vfs, &self.dir)?;
            let first = self.current.as_ref().map_or(0, |(name, _)| name.first_seq);
            let later = segments.iter().any(|s| s.name.first_seq > first);
            match segments.iter().find(|s| s.name.first_seq == first) {
                // Removed by retention after it was read to here: go on with the next one.
                None => {
                    self.current = None;
                    continue;
                }
                Some(s) if s.name.active && !later => {
                    if let Some((_, reader)) = self.current.as_mut() {
                        reader.refresh()?;
                    }
                    if self.ready()? {
                        return Ok(true);
                    }
                }
                // It grows no more, and its records are durable: read it once more, whole,
                // under its present name (a roll renames it), then move on.
                Some(s) => {
                    if !self.whole {
                        let segment = s.clone();
                        let reader = match self.open(&segment) {
                            Ok(reader) => reader,
                            // Removed by retention since the listing: the next one says so.
                            Err(e) if e.is_not_found() => {
                                self.current = None;
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        // (Key compaction may have replaced it: find the place by seq.)
                        self.pos = reader.resume_after(self.after);
                        self.current = Some((segment.name, reader));
                        self.whole = true;
                        if self.ready()? {
                            return Ok(true);
                        }
                    }
                    if later {
                        // Read to its end: what comes next is in a later segment, whatever
                        // seq it starts at.
                        self.note_damage_at_end();
                        self.past = Some(first);
                        self.current = None;
                        continue;
                    }
                }
            }
            if !self.nap(deadline) {
                return Ok(false);
            }
        }
    }

    /// Whether the record at `pos` (after [`SegmentedFollow::advance`]) may be returned.
    fn ready(&mut self) -> Result<bool> {
        match self.advance() {
            Some(next) => self.deliverable(next),
            None => Ok(false),
        }
    }

    /// Waits one poll interval, or until inotify reports a change in the directory; false
    /// when the deadline has passed or the follower was stopped.
    fn nap(&mut self, deadline: Option<Instant>) -> bool {
        let now = Instant::now();
        if self.stop.is_stopped() || deadline.is_some_and(|d| now >= d) {
            return false;
        }
        let left = deadline.map_or(Duration::MAX, |d| d - now);
        match &mut self.waker {
            Some(waker) => waker.wait(&self.stop, left.min(RECHECK)),
            None => self.stop.sleep(left.min(self.poll)),
        }
        true
    }

    /// Opens the segment that holds the record after `after`; false when the log has none
    /// yet. Notes what retention removed before it was read. A segment sealed or removed
    /// between the listing and the open is looked for again at once, so that a caller asking
    /// without waiting is never told "nothing" because of a roll.
    fn open_next(&mut self) -> Result<bool> {
        loop {
            if let Some(opened) = self.try_open_next()? {
                return Ok(opened);
            }
        }
    }

    /// [`SegmentedFollow::open_next`] once; `None` when the segment it listed was gone.
    fn try_open_next(&mut self) -> Result<Option<bool>> {
        let want = self.after.saturating_add(1);
        let segments = list_sorted(&self.vfs, &self.dir)?;
        let mut i = segments.partition_point(|s| s.name.first_seq <= want);
        if let Some(past) = self.past
            && i.checked_sub(1).is_some_and(|h| segments[h].name.first_seq <= past)
        {
            // The segment that holds `want` by name was read to its end: the next one.
            let next = segments.partition_point(|s| s.name.first_seq <= past);
            let Some(segment) = segments.get(next) else { return Ok(Some(false)) };
            let first = segment.name.first_seq;
            if first > want {
                let from = self.missing.map_or(want, |(from, _)| from);
                self.missing = Some((from, first - 1));
            }
            i = next + 1;
        }
        let segment = match i.checked_sub(1) {
            Some(i) => &segments[i],
            None => match segments.first() {
                Some(first) => {
                    self.note_gap(first.name.first_seq);
                    first
                }
                None => return Ok(Some(false)),
            },
        };
        let reader = match self.open(segment) {
            Ok(reader) => reader,
            // Sealed or removed between the listing and the open: look again.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        self.pos = reader.resume_after(self.after);
        self.whole = !segment.name.active;
        self.past = None;
        self.current = Some((segment.name, reader));
        Ok(Some(true))
    }

    fn open(&self, segment: &Segment) -> Result<Reader<Mapped<V>>> {
        Reader::open_in(self.vfs.clone(), &segment.path)
    }

    /// Retention removed every seq from `after + 1` to before `first_seq`.
    fn note_gap(&mut self, first_seq: u64) {
        if first_seq > self.after.saturating_add(1) {
            let after_seq = self.gap.map_or(self.after, |g| g.after_seq);
            self.gap = Some(Gap { after_seq, first_seq });
            self.after = first_seq - 1;
        }
    }

    /// Moves `pos` to the next new record of the segment and returns its seq, offset and end;
    /// `None` when there is none yet. Stops before a torn tail: it may be a write in progress.
    fn advance(&mut self) -> Option<(u64, u64, u64)> {
        let (_, reader) = self.current.as_ref()?;
        // Damaged lines are gone past for good when a record after them is reached.
        let (mut first, mut lines) = (0, 0);
        for entry in reader.entries_from(self.pos) {
            if let Entry::Corrupt { offset, .. } = entry {
                first = if lines == 0 { offset } else { first };
                lines += 1;
            }
            match entry {
                Entry::Record(r) if r.seq <= self.after => {
                    self.pos = r.end();
                    (first, lines) = (0, 0);
                }
                Entry::Record(r) => {
                    let file = reader.path().to_path_buf();
                    note_skipped(&mut self.skipped, file, first, lines);
                    self.pos = r.offset;
                    return Some((r.seq, r.offset, r.end()));
                }
                // Not past damage or padding: in a preallocated segment the next record is
                // written in place over them (debris is padded first), at the end of the
                // last record.
                Entry::Corrupt { .. } | Entry::Padding { .. } => {}
                Entry::TornTail { .. } => return None,
            }
        }
        None
    }

    /// Notes the damaged lines after the last record of the current segment, read to its end:
    /// no record after them will say they were gone past.
    fn note_damage_at_end(&mut self) {
        let Some((_, reader)) = self.current.as_ref() else { return };
        // No record is left after `pos`: the scan's count is of the damage alone.
        let mut rest = reader.records_from(self.pos);
        rest.by_ref().for_each(drop);
        let stats = rest.stats();
        let first = stats.first_corrupt.unwrap_or(0);
        note_skipped(&mut self.skipped, reader.path().to_path_buf(), first, stats.corrupt_lines);
    }

    /// Whether the record of seq `seq` at `offset..end` of the current segment may be
    /// returned: always when uncommitted or when the segment is sealed, else when the
    /// watermark names this segment and covers the record (read again when the last one read
    /// does not). A mark for an earlier segment on the same inode number (removed by
    /// retention since) has a lower seq than any record of this one.
    fn deliverable(&mut self, (seq, offset, end): (u64, u64, u64)) -> Result<bool> {
        if !self.committed || self.whole {
            return Ok(true);
        }
        let Some((_, reader)) = &self.current else { return Ok(false) };
        let file = reader.file_id();
        let covered = |mark: Option<Watermark>| {
            mark.is_some_and(|m| {
                m.file == file && seq <= m.seq && m.covers(seq, offset, end) == Cover::Yes
            })
        };
        if covered(self.mark) {
            return Ok(true);
        }
        let read = self.watcher.read(&self.vfs);
        self.mark = read.map_err(|e| Error::io(self.watcher.path(), "read", e))?;
        Ok(covered(self.mark))
    }
}

/// Notes in `skipped` `lines` damaged lines of `file`, the first at byte `first`: added to
/// the last file's when it is the same file.
fn note_skipped(skipped: &mut VecDeque<Skipped>, file: PathBuf, first: u64, lines: u64) {
    match skipped.back_mut() {
        _ if lines == 0 => {}
        Some(last) if last.file == file => {
            last.first_offset = last.first_offset.min(first);
            last.lines += lines;
        }
        _ => skipped.push_back(Skipped { file, first_offset: first, lines }),
    }
}

impl<V: Vfs> Iterator for SegmentedFollow<V> {
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
