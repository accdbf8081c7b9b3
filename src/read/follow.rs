//! Following a log as it grows (`tail -f`), across compactions.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::fs::{StdFs, Vfs};
use crate::read::{Entry, Reader, Record};
use crate::read::{Mapped, Refresh};

/// Yields records as writers append them, waiting when there are none. Survives compaction:
/// when the log is replaced it continues at the first record after the last one it returned,
/// so nothing is skipped or repeated.
///
/// A lending iterator: each record borrows the follower until the next call.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// let writer = ndlog::Writer::open(&path)?;
/// writer.append_raw(b"1")?;
/// let mut follow = ndlog::Reader::open(&path)?.follow();
/// assert_eq!(follow.next(None)?.map(|r| r.seq), Some(1));
/// writer.append_raw(b"2")?;
/// assert_eq!(follow.next(None)?.map(|r| r.seq), Some(2));
/// let idle = std::time::Duration::from_millis(10);
/// assert_eq!(follow.next(Some(idle))?.map(|r| r.seq), None);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct Follow<V: Vfs = StdFs> {
    reader: Reader<Mapped<V>>,
    pos: u64,
    last_seq: Option<u64>,
    poll: Duration,
}

impl<V: Vfs> Reader<Mapped<V>> {
    /// Follows the log from its first record.
    pub fn follow(self) -> Follow<V> {
        Follow { reader: self, pos: 0, last_seq: None, poll: Duration::from_millis(50) }
    }

    /// Follows the log from the first record with a seq greater than `seq`; pass the last
    /// record's seq to see only what is appended from now on (`tail -f`).
    pub fn follow_after(self, seq: u64) -> Follow<V> {
        let pos = self.seek_seq(seq.saturating_add(1));
        Follow { reader: self, pos, last_seq: Some(seq), poll: Duration::from_millis(50) }
    }
}

impl<V: Vfs> Follow<V> {
    /// How often to look for changes while waiting (default 50 ms).
    #[must_use]
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The next record, waiting for one to be appended: forever with `None`, or up to the
    /// timeout, after which it returns `Ok(None)`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] when the log cannot be re-mapped.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_>>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.advance() {
                break;
            }
            match self.reader.refresh()? {
                Refresh::Resized => {}
                Refresh::Replaced => self.pos = self.resume_offset(),
                Refresh::Unchanged => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Ok(None);
                    }
                    let nap = deadline.map_or(self.poll, |d| self.poll.min(d - now));
                    std::thread::sleep(nap);
                }
            }
        }
        let record = self.reader.records_from(self.pos).next();
        if let Some(r) = record {
            self.pos = r.end();
            self.last_seq = Some(r.seq);
        }
        Ok(record)
    }

    /// Moves `pos` to the next new record in the current map; false when there is none yet.
    /// Stops before a torn tail: it may be a write in progress.
    fn advance(&mut self) -> bool {
        for entry in self.reader.entries_from(self.pos) {
            match entry {
                Entry::Record(r) if self.last_seq.is_some_and(|s| r.seq <= s) => self.pos = r.end(),
                Entry::Record(r) => {
                    self.pos = r.offset;
                    return true;
                }
                Entry::Corrupt { offset, len, .. } | Entry::Padding { offset, len } => {
                    self.pos = offset + len;
                }
                Entry::TornTail { .. } => return false,
            }
        }
        false
    }

    /// Where to continue in a replacement file: just after the last record returned.
    fn resume_offset(&self) -> u64 {
        match self.last_seq {
            Some(seq) => self.reader.seek_seq(seq.saturating_add(1)),
            None => 0,
        }
    }
}
