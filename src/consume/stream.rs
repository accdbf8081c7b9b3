//! A follower ([`super::Follow`], [`crate::segments::SegmentedFollow`] or a [`LogFollow`]) as
//! an async `Stream` (feature `tokio`): the follower runs on a thread of its
//! own and hands records over a bounded channel, so no runtime thread ever blocks on the log.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use super::{OwnedRecord, Stopper};
use crate::error::Result;
use crate::fs::Vfs;
use crate::segments::LogFollow;

/// The records of a follower of either kind of log ([`super::Follow`],
/// [`crate::segments::SegmentedFollow`], [`LogFollow`]) as a [`Stream`], for async consumers. The follower blocks on
/// a dedicated thread (named `ndlog-follow`), never on a runtime thread; at most `capacity`
/// records wait in between. Dropping the stream stops the thread.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// let writer = ndlog::Writer::open(&path)?;
/// writer.append_raw(b"1")?;
/// let mut stream = ndlog::consume::FollowStream::new(ndlog::Reader::open(&path)?.follow());
/// let first = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await.unwrap()?;
/// assert_eq!(first.seq, 1);
/// # Ok::<(), ndlog::Error>(())
/// # })?;
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct FollowStream {
    rx: mpsc::Receiver<Result<OwnedRecord>>,
    stop: Stopper,
}

impl FollowStream {
    /// Streams `follow`'s records, with up to 1024 records in flight.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    ///
    /// # Example
    /// See [`FollowStream`].
    pub fn new<V: Vfs>(follow: impl Into<LogFollow<V>>) -> Self {
        Self::with_capacity(follow, 1024)
    }

    /// Streams `follow`'s records, with up to `capacity` (at least 1) records in flight.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?;
    /// let follow = ndlog::Reader::open(&path)?.follow();
    /// let stream = ndlog::consume::FollowStream::with_capacity(follow, 16);
    /// # drop(stream);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn with_capacity<V: Vfs>(follow: impl Into<LogFollow<V>>, capacity: usize) -> Self {
        let follow = follow.into();
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stop = follow.stopper();
        std::thread::Builder::new()
            .name("ndlog-follow".into())
            .spawn(move || {
                for item in follow {
                    let failed = item.is_err();
                    // The receiver is gone: the stream was dropped.
                    if tx.blocking_send(item).is_err() || failed {
                        break;
                    }
                }
            })
            .expect("the follower's thread starts");
        FollowStream { rx, stop }
    }

    /// A handle that ends the stream from anywhere: see [`Stopper`].
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }
}

impl Stream for FollowStream {
    type Item = Result<OwnedRecord>;

    /// The next record; `None` once stopped. An error ends the stream after it is returned.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for FollowStream {
    fn drop(&mut self) {
        self.stop.stop();
    }
}
