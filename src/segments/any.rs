//! A log of either kind, decided by what is at the path: a file ([`Reader`]) or a segmented
//! log's directory ([`SegmentedReader`]).

use std::path::Path;
use std::time::Duration;

use crate::consume::{Follow, Gap, Stopper};
use crate::error::Result;
use crate::fs::{FileKind, StdFs, Vfs};
use crate::read::{Mapped, Reader, Record};

use super::follow::SegmentedFollow;
use super::reader::SegmentedReader;

/// A log opened for reading, whichever kind it is.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::segments::Settings;
/// let file = dir.path().join("events.ndjson");
/// let segmented = dir.path().join("events");
/// ndlog::Writer::open(&file)?.append(&1)?;
/// let settings = Settings { segment_records: Some(1), ..Settings::new(2 << 20) };
/// let w = ndlog::Options::new().segments(settings).open(&segmented)?;
/// w.append(&1)?;
/// w.append(&2)?;
/// assert_eq!(ndlog::Log::open(&file)?.records().count(), 1);
/// let log = ndlog::Log::open(&segmented)?;
/// assert_eq!((log.records().count(), log.get(2).map(|r| r.data)), (2, Some(&b"2"[..])));
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // One per opened log; boxing would cost every lookup a hop.
pub enum Log<V: Vfs = StdFs> {
    /// A single-file log.
    File(Reader<Mapped<V>>),
    /// A segmented log.
    Segmented(SegmentedReader<V>),
}

impl Log<StdFs> {
    /// Opens the log at `path`: a segmented log when it is a directory, else a file.
    ///
    /// # Errors
    /// As [`Reader::open`] and [`SegmentedReader::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_in(StdFs, path)
    }
}

impl<V: Vfs> Log<V> {
    /// [`Log::open`] on the file system `vfs`.
    ///
    /// # Errors
    /// As [`Log::open`].
    pub fn open_in(vfs: V, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match vfs.metadata(path) {
            Ok(meta) if meta.kind == FileKind::Dir => {
                SegmentedReader::open_in(vfs, path).map(Log::Segmented)
            }
            _ => Reader::open_in(vfs, path).map(Log::File),
        }
    }

    /// The log's path: its file, or its segmented log's directory.
    pub fn path(&self) -> &Path {
        match self {
            Log::File(reader) => reader.path(),
            Log::Segmented(log) => log.dir(),
        }
    }

    /// Every valid record, in seq order.
    pub fn records(&self) -> Box<dyn Iterator<Item = Record<'_>> + '_> {
        match self {
            Log::File(reader) => Box::new(reader.records()),
            Log::Segmented(log) => Box::new(log.records()),
        }
    }

    /// The record with sequence number `seq`.
    pub fn get(&self, seq: u64) -> Option<Record<'_>> {
        match self {
            Log::File(reader) => reader.get(seq),
            Log::Segmented(log) => log.get(seq),
        }
    }

    /// The first record.
    pub fn first(&self) -> Option<Record<'_>> {
        match self {
            Log::File(reader) => reader.records().next(),
            Log::Segmented(log) => log.first(),
        }
    }

    /// The last record.
    pub fn last(&self) -> Option<Record<'_>> {
        match self {
            Log::File(reader) => reader.last(),
            Log::Segmented(log) => log.last(),
        }
    }

    /// Follows the log from the first record with a seq greater than `seq`, across
    /// compactions of a file and rolls and retention of a segmented log.
    pub fn follow_after(self, seq: u64) -> LogFollow<V> {
        match self {
            Log::File(reader) => LogFollow::File(reader.follow_after(seq)),
            Log::Segmented(log) => {
                let vfs = log.vfs().clone();
                LogFollow::Segmented(SegmentedFollow::after_in(vfs, log.dir(), seq))
            }
        }
    }
}

/// A follower of a log of either kind: see [`Log::follow_after`]. Committed by default (it
/// returns only records a sync made durable), as [`Follow`] and [`SegmentedFollow`] are.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events");
/// let settings = ndlog::segments::Settings { segment_records: Some(2), ..ndlog::segments::Settings::new(2 << 20) };
/// let writer = ndlog::Options::new().segments(settings).open(&path)?;
/// let mut follow = ndlog::Log::open(&path)?.follow_after(0);
/// let stop = follow.stopper();
/// for n in 1..=3 {
///     writer.append(&n)?;
///     assert_eq!(follow.next_within(None)?.map(|r| r.seq), Some(n));
/// }
/// stop.stop();
/// assert!(follow.next_within(None)?.is_none());
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // One per follower.
pub enum LogFollow<V: Vfs = StdFs> {
    /// Following a single-file log.
    File(Follow<V>),
    /// Following a segmented log.
    Segmented(SegmentedFollow<V>),
}

impl<V: Vfs> LogFollow<V> {
    /// The next record, waiting up to `timeout` (forever with `None`) for one; `Ok(None)` after
    /// the timeout or once stopped.
    ///
    /// # Errors
    /// As [`Follow::next_within`] and [`SegmentedFollow::next_within`].
    pub fn next_within(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        match self {
            LogFollow::File(follow) => follow.next_within(timeout),
            LogFollow::Segmented(follow) => follow.next_within(timeout),
        }
    }

    /// The same as [`LogFollow::next_within`].
    ///
    /// # Errors
    /// As [`LogFollow::next_within`].
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        self.next_within(timeout)
    }

    /// Records removed before this follower returned them (retention, a compaction), if it
    /// found any since the last call.
    pub fn take_gap(&mut self) -> Option<Gap> {
        match self {
            LogFollow::File(follow) => follow.take_gap(),
            LogFollow::Segmented(follow) => follow.take_gap(),
        }
    }

    /// [`LogFollow::take_gap`] as the first and last seq skipped.
    pub fn skipped(&mut self) -> Option<(u64, u64)> {
        self.take_gap().map(|g| (g.after_seq + 1, g.first_seq - 1))
    }

    /// The damaged lines this follower went past since the last call, one file's at a time
    /// (call it until it returns `None`): see [`Follow::take_skipped`] and
    /// [`SegmentedFollow::take_skipped`].
    pub fn take_skipped(&mut self) -> Option<crate::consume::Skipped> {
        match self {
            LogFollow::File(follow) => follow.take_skipped(),
            LogFollow::Segmented(follow) => follow.take_skipped(),
        }
    }

    /// Seqs a segmented log's follower went past without finding their records, if it did
    /// since the last call: see [`SegmentedFollow::take_missing`]. A single-file log's
    /// follower reports no such seqs: what damage hid there is [`LogFollow::take_skipped`].
    pub fn take_missing(&mut self) -> Option<(u64, u64)> {
        match self {
            LogFollow::File(_) => None,
            LogFollow::Segmented(follow) => follow.take_missing(),
        }
    }

    /// The seq of the last record returned (or the one it was asked to start after).
    pub fn last_seq(&self) -> u64 {
        match self {
            LogFollow::File(follow) => follow.last_seq().unwrap_or(0),
            LogFollow::Segmented(follow) => follow.last_seq(),
        }
    }

    /// Returns records as soon as they are written: [`Follow::uncommitted`].
    #[must_use]
    pub fn uncommitted(self) -> Self {
        match self {
            LogFollow::File(follow) => LogFollow::File(follow.uncommitted()),
            LogFollow::Segmented(follow) => LogFollow::Segmented(follow.uncommitted()),
        }
    }

    /// Uses `stop` instead of the follower's own [`Stopper`].
    #[must_use]
    pub fn stop_with(self, stop: Stopper) -> Self {
        match self {
            LogFollow::File(follow) => LogFollow::File(follow.stop_with(stop)),
            LogFollow::Segmented(follow) => LogFollow::Segmented(follow.stop_with(stop)),
        }
    }

    /// A handle that stops this follower from another thread.
    pub fn stopper(&self) -> Stopper {
        match self {
            LogFollow::File(follow) => follow.stopper(),
            LogFollow::Segmented(follow) => follow.stopper(),
        }
    }
}

impl<V: Vfs> From<Follow<V>> for LogFollow<V> {
    fn from(follow: Follow<V>) -> Self {
        LogFollow::File(follow)
    }
}

impl<V: Vfs> From<SegmentedFollow<V>> for LogFollow<V> {
    fn from(follow: SegmentedFollow<V>) -> Self {
        LogFollow::Segmented(follow)
    }
}

impl<V: Vfs> Iterator for LogFollow<V> {
    type Item = Result<crate::consume::OwnedRecord>;

    /// Blocks until the next record (or an error); `None` once stopped.
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            LogFollow::File(follow) => follow.next(),
            LogFollow::Segmented(follow) => follow.next(),
        }
    }
}
