//! Consuming a log: following it as it grows, resuming where a consumer stopped, and seeing
//! only records a power loss cannot take back.
//!
//! - [`Follow`]: waits for new records (inotify, or a poll where there is none), across
//!   compactions; an [`Iterator`] of [`OwnedRecord`]s, or [`Follow::next_within`] lending each
//!   record. [`Stopper`] ends it from another thread. [`Gap`] reports records a compaction
//!   removed before the follower returned them.
//! - [`Watermark`]: the **durable watermark** in `LOG.watermark`. Writers sync after releasing
//!   the lock, so a reader can see a record before it is durable; a power loss can then take it
//!   back and give its seq to another record. Every writer publishes, after each successful
//!   `fdatasync`, how far the sync covered the log file (named by its device and inode, so that
//!   a compaction's new file is never confused with the old), and a follower returns only the
//!   records below it unless told [`Follow::uncommitted`]. `Reader` and `ndlog cat` read
//!   everything written. A segmented log keeps it in `LOG/ndlog.watermark`, for its active
//!   segment ([`crate::segments::SegmentedFollow`] reads it; sealed segments are durable whole).
//! - [`Cursor`]: a consumer's position (a seq) in a small file, committed atomically, for
//!   at-least-once delivery without a gap across restarts and kills.
//! - With the `tokio` feature, `FollowStream`: the records as an async `Stream`.
//!
//! Dependencies: this module reads through [`crate::read`] and the file system seam; the
//! writer uses only [`watermark`]'s publishing step.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("events.ndjson");
//! let writer = ndlog::Writer::open(&path)?;
//! let follow = ndlog::Reader::open(&path)?.follow();
//! let consumer = std::thread::spawn(move || {
//!     follow.take(3).map(|r| r.map(|r| r.seq)).collect::<ndlog::Result<Vec<u64>>>()
//! });
//! for n in 0..3 {
//!     writer.append(&n)?;
//! }
//! assert_eq!(consumer.join().unwrap()?, [1, 2, 3]);
//! # Ok::<(), ndlog::Error>(())
//! ```

mod cursor;
mod follow;
#[cfg(feature = "tokio")]
mod stream;
pub(crate) mod wake;
pub mod watermark;

pub use cursor::Cursor;
pub use follow::{Batch, Follow, Gap, OwnedRecord, Skipped};
#[cfg(feature = "tokio")]
pub use stream::FollowStream;
pub use wake::{Stopper, wait_until_exists};
pub use watermark::{Cover, Watermark};
