//! okaywal: one entry of one chunk per record, committed (written and fsynced) on its own.

use std::path::Path;
use std::time::Duration;

use okaywal::{LogVoid, WriteAheadLog};

use crate::threads::timed_threads;

/// `threads` threads sharing one log each commit `iters` entries holding `payload`. The log
/// uses okaywal's default configuration and discards what it checkpoints ([`LogVoid`]), so the
/// time is the log's alone.
///
/// # Panics
/// On any I/O error: this is a bench.
pub fn commits(dir: &Path, payload: &[u8], threads: usize, iters: u64) -> Duration {
    let wal = WriteAheadLog::recover(dir.join("okaywal"), LogVoid).expect("open okaywal");
    let took = timed_threads(threads, || {
        for _ in 0..iters {
            let mut entry = wal.begin_entry().expect("okaywal begin_entry");
            entry.write_chunk(payload).expect("okaywal write_chunk");
            entry.commit().expect("okaywal commit");
        }
    });
    wal.shutdown().expect("okaywal shutdown");
    took
}

/// A log committing one entry at a time, as [`commits`] does on one thread, for a bench that
/// interleaves engines commit by commit.
pub struct Committer {
    wal: WriteAheadLog,
}

impl Committer {
    /// Opens (creates) the log in `dir`.
    ///
    /// # Panics
    /// On any I/O error: this is a bench.
    pub fn open(dir: &Path) -> Committer {
        Committer {
            wal: WriteAheadLog::recover(dir.join("okaywal"), LogVoid).expect("open okaywal"),
        }
    }

    /// Commits one entry holding `payload`.
    ///
    /// # Panics
    /// On any I/O error: this is a bench.
    pub fn commit(&mut self, payload: &[u8]) {
        let mut entry = self.wal.begin_entry().expect("okaywal begin_entry");
        entry.write_chunk(payload).expect("okaywal write_chunk");
        entry.commit().expect("okaywal commit");
    }
}

impl Drop for Committer {
    /// Shuts the log down: its checkpoint thread ends.
    fn drop(&mut self) {
        let _ = self.wal.clone().shutdown();
    }
}
