//! Following a segmented log as it grows (`tail -f`), across rolls and retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::fs::{StdFs, Vfs};
use crate::read::{Entry, Mapped, Reader, Record};

use super::list::{Segment, list_sorted};
use super::naming::SegmentName;

/// Yields the records of a segmented log as writers append them, in seq order, waiting when
/// there are none. It crosses rolls (it finishes a sealed segment, then opens the next) with no
/// gap and no repeat, and when retention removed records it had not read yet it says so
/// through [`SegmentedFollow::skipped`] and goes on from the oldest record left.
///
/// A lending iterator: each record borrows the follower until the next call.
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
///     assert_eq!(follow.next(None)?.map(|r| r.seq), Some(n));
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
    /// Whether it was opened after it stopped growing.
    whole: bool,
    /// The seq of the last record returned (or the one to start after).
    after: u64,
    poll: Duration,
    skipped: Option<(u64, u64)>,
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
        SegmentedFollow {
            vfs,
            dir: dir.as_ref().to_path_buf(),
            current: None,
            pos: 0,
            whole: false,
            after: seq,
            poll: Duration::from_millis(50),
            skipped: None,
        }
    }

    /// How often to look for changes while waiting (default 50 ms).
    #[must_use]
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Seqs that retention removed before this follower read them, since the last call: the
    /// first and last seq skipped.
    pub fn skipped(&mut self) -> Option<(u64, u64)> {
        self.skipped.take()
    }

    /// The next record, waiting for one to be appended: forever with `None`, or up to the
    /// timeout, after which it returns `Ok(None)`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] or [`crate::ErrorKind::NotALog`] when the directory or a
    /// segment cannot be read.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.current.is_none() && !self.open_next()? {
                if !self.nap(deadline) {
                    return Ok(None);
                }
                continue;
            }
            if self.advance() {
                break;
            }
            // Nothing new in this segment: has it been sealed, or a later one started?
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
                    if self.advance() {
                        break;
                    }
                }
                // It grows no more: read it once more, whole, under its present name (a roll
                // renames it), then move on.
                Some(s) => {
                    if !self.whole {
                        let segment = s.clone();
                        let reader = self.open(&segment)?;
                        // (Key compaction may have replaced it: find the place by seq.)
                        self.pos = reader.seek_seq(self.after.saturating_add(1));
                        self.current = Some((segment.name, reader));
                        self.whole = true;
                        if self.advance() {
                            break;
                        }
                    }
                    if later {
                        self.current = None;
                        continue;
                    }
                }
            }
            if !self.nap(deadline) {
                return Ok(None);
            }
        }
        let record = self.current.as_ref().and_then(|(_, r)| r.records_from(self.pos).next());
        if let Some(r) = record {
            self.pos = r.end();
            self.after = r.seq;
        }
        Ok(record)
    }

    /// Sleeps one poll interval; false when the deadline has passed.
    fn nap(&self, deadline: Option<Instant>) -> bool {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return false;
        }
        std::thread::sleep(deadline.map_or(self.poll, |d| self.poll.min(d - now)));
        true
    }

    /// Opens the segment that holds the record after `after`; false when the log has none
    /// yet. Notes what retention removed before it was read.
    fn open_next(&mut self) -> Result<bool> {
        let want = self.after.saturating_add(1);
        let segments = list_sorted(&self.vfs, &self.dir)?;
        let i = segments.partition_point(|s| s.name.first_seq <= want);
        let segment = match i.checked_sub(1) {
            Some(i) => &segments[i],
            None => match segments.first() {
                Some(first) => {
                    self.note_skipped(want, first.name.first_seq - 1);
                    self.after = first.name.first_seq - 1;
                    first
                }
                None => return Ok(false),
            },
        };
        let reader = match self.open(segment) {
            Ok(reader) => reader,
            // Sealed or removed between the listing and the open: look again.
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e),
        };
        self.pos = reader.seek_seq(self.after.saturating_add(1));
        self.whole = !segment.name.active;
        self.current = Some((segment.name, reader));
        Ok(true)
    }

    fn open(&self, segment: &Segment) -> Result<Reader<Mapped<V>>> {
        Reader::open_in(self.vfs.clone(), &segment.path)
    }

    fn note_skipped(&mut self, from: u64, to: u64) {
        if from <= to {
            self.skipped = Some(match self.skipped {
                Some((a, _)) => (a, to),
                None => (from, to),
            });
        }
    }

    /// Moves `pos` to the next new record of the segment; false when there is none yet. Stops
    /// before a torn tail: it may be a write in progress.
    fn advance(&mut self) -> bool {
        let Some((_, reader)) = &self.current else { return false };
        for entry in reader.entries_from(self.pos) {
            match entry {
                Entry::Record(r) if r.seq <= self.after => self.pos = r.end(),
                Entry::Record(r) => {
                    self.pos = r.offset;
                    return true;
                }
                // Not past damage or padding: in a preallocated segment the next record is
                // written in place over them (debris is padded first), at the end of the
                // last record.
                Entry::Corrupt { .. } | Entry::Padding { .. } => {}
                Entry::TornTail { .. } => return false,
            }
        }
        false
    }
}
