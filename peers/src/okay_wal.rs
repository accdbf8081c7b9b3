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
