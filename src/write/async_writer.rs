//! Appends from async code (feature `tokio`): each call runs on tokio's blocking thread pool,
//! so a runtime thread never waits for the lock or an `fdatasync`, and the calls of many tasks
//! share one handle, hence its group commit.

use std::io;
use std::sync::Arc;

use serde::Serialize;

use super::{Ack, BatchAck, Writer};
use crate::error::{Error, Result};
use crate::fs::{StdFs, Vfs};

/// A [`Writer`] for async code. Cheap to clone; clones share the writer, so the appends of
/// concurrent tasks are combined by its [`crate::Durability::Group`] commit into one write and
/// one `fdatasync`.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let writer = ndlog::Options::new().durability(ndlog::Durability::Group).open(&path)?;
/// let writer = ndlog::write::AsyncWriter::new(writer);
/// let ack = writer.append(&serde_json::json!({"user": "u1"})).await?;
/// assert_eq!(ack.seq, 1);
/// # Ok::<(), ndlog::Error>(())
/// # })?;
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct AsyncWriter<V: Vfs = StdFs> {
    inner: Arc<Writer<V>>,
}

impl<V: Vfs> Clone for AsyncWriter<V> {
    fn clone(&self) -> Self {
        AsyncWriter { inner: self.inner.clone() }
    }
}

impl<V: Vfs> AsyncWriter<V> {
    /// Wraps a writer.
    ///
    /// # Example
    /// See [`AsyncWriter`].
    pub fn new(writer: Writer<V>) -> Self {
        AsyncWriter { inner: Arc::new(writer) }
    }

    /// The writer, for calls that do not wait (`path`, `last_known`).
    pub fn writer(&self) -> &Writer<V> {
        &self.inner
    }

    /// [`Writer::append`] off the runtime: the value is serialised here, the append runs on
    /// the blocking pool.
    ///
    /// # Errors
    /// As [`Writer::append`]; [`crate::ErrorKind::Io`] when the blocking task panicked or
    /// the runtime is shutting down.
    ///
    /// # Example
    /// See [`AsyncWriter`].
    pub async fn append<T: Serialize + ?Sized>(&self, value: &T) -> Result<Ack> {
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::payload(self.inner.path(), None, e.to_string()))?;
        self.append_raw(json).await
    }

    /// [`Writer::append_raw`] off the runtime.
    ///
    /// # Errors
    /// As [`AsyncWriter::append`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let writer = ndlog::write::AsyncWriter::new(ndlog::Writer::open(dir.path().join("l"))?);
    /// assert_eq!(writer.append_raw(b"{\"n\":1}".to_vec()).await?.seq, 1);
    /// # Ok::<(), ndlog::Error>(())
    /// # })?;
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub async fn append_raw(&self, json: Vec<u8>) -> Result<Ack> {
        self.run(move |w| w.append_raw(&json)).await
    }

    /// [`Writer::append_raw_batch`] off the runtime.
    ///
    /// # Errors
    /// As [`AsyncWriter::append`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let writer = ndlog::write::AsyncWriter::new(ndlog::Writer::open(dir.path().join("l"))?);
    /// let ack = writer.append_raw_batch(vec![b"1".to_vec(), b"2".to_vec()]).await?;
    /// assert_eq!(ack.seqs().collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), ndlog::Error>(())
    /// # })?;
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub async fn append_raw_batch(&self, payloads: Vec<Vec<u8>>) -> Result<BatchAck> {
        self.run(move |w| w.append_raw_batch(&payloads)).await
    }

    /// [`Writer::sync`] off the runtime.
    ///
    /// # Errors
    /// As [`Writer::sync`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(dir.path().join("l"))?;
    /// let writer = ndlog::write::AsyncWriter::new(writer);
    /// writer.append_raw(b"1".to_vec()).await?;
    /// writer.sync().await?;
    /// # Ok::<(), ndlog::Error>(())
    /// # })?;
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub async fn sync(&self) -> Result<()> {
        self.run(|w| w.sync()).await
    }

    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Writer<V>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.inner.clone();
        match tokio::task::spawn_blocking(move || call(&writer)).await {
            Ok(outcome) => outcome,
            Err(e) => Err(Error::io(self.inner.path(), "append task", io::Error::other(e))),
        }
    }
}
