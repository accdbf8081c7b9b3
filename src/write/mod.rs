//! Appending: [`Writer`] appends records under the cross-process lock, one `write` per record
//! (or batch), and syncs as the handle's [`Durability`] says before acknowledging.
//!
//! - [`Writer`], [`Options`], [`Durability`]: the handle and how it is opened.
//! - [`Ack`], [`BatchAck`], [`ImportAck`]: what an append assigned.
//! - [`Dedup`], [`DedupWindow`]: idempotent appends by a key in the payload.
//! - [`Expect`] with [`Writer::append_if`]: appends conditional on the log's last seq or on an
//!   entity's version (optimistic concurrency); [`Writer::transaction`] and [`Transaction`]:
//!   read the log and append under one lock.
//! - [`ImportAdjust`], [`Adjusted`]: what a verbatim import of a legacy log may change.
//! - With the `tokio` feature, `AsyncWriter`: appends from async code on the blocking pool.
//!
//! Inside, `open` takes a log, `batch` is what happens under the lock (as named steps),
//! `derive` is the one seam through which the dedup window, the index, the entity versions
//! (`versions`, with the persistent table `LOG.versions`) and the hash chain (`chain`) follow
//! the records written, `expect` and `transaction` check and read under the
//! lock, `group` combines the appends of many threads into one write and one `fdatasync` (the next
//! batch written while the current one syncs), `durable` is the one step through which a written
//! record becomes durable.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::consume::watermark::Publisher;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{FileId, LockFile, StdFs, Vfs};

mod ack;
#[cfg(feature = "tokio")]
mod async_writer;
mod auto_compact;
mod batch;
mod chain;
mod cover;
mod dedup;
mod derive;
mod derived;
mod durable;
mod expect;
mod group;
mod import;
mod index;
mod transaction;
mod versions;

mod open;
mod options;
mod segment;

use crate::read::last_record::Tail;
use batch::Source;
use derived::Derived;
use group::Combiner;
use index::IndexWriter;

pub(crate) use ack::first_ack;
pub use ack::{Ack, BatchAck, ImportAck};
#[cfg(feature = "tokio")]
pub use async_writer::AsyncWriter;
pub use auto_compact::AutoCompact;
use auto_compact::AutoState;
pub use dedup::{Dedup, DedupWindow};
pub use expect::Expect;
pub use import::{Adjusted, ImportAdjust};
pub use options::{Durability, Options};
pub use transaction::Transaction;

/// An append handle on one log. `Send + Sync`: share it between threads (in an `Arc`), and
/// concurrent appends are linearised; other processes append through their own handles.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let log = ndlog::Writer::open(dir.path().join("events.ndjson"))?;
/// let ack = log.append(&serde_json::json!({"user": "u1", "action": "login"}))?;
/// assert_eq!(ack.seq, 1);
/// let ack = log.append_raw(br#"{"user":"u2","action":"logout"}"#)?;
/// assert_eq!(ack.seq, 2);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct Writer<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    opts: Options,
    /// How a segmented log rolls; `None` for a single-file log.
    settings: Option<crate::segments::Settings>,
    lock: LockFile<V::File>,
    /// Permission bits of the log, given to the sidecar files ndlog creates.
    mode: u32,
    state: Mutex<State<V>>,
    group: Combiner<durable::GroupSync<V::File>>,
    /// Held across each fdatasync (see `sync_file`), and while publishing what it covered.
    sync_lock: Mutex<Publisher<V::File>>,
    /// What this handle knows of syncs covering its records, its own and other processes'.
    cover: cover::Cover<V::File>,
    /// Compaction this writer triggers by itself, if configured.
    auto: Option<AutoState>,
    poison: OnceLock<String>,
}

#[derive(Debug)]
struct State<V: Vfs> {
    file: Arc<V::File>,
    id: FileId,
    /// The path of `file`: the log's, or its active segment's.
    active: PathBuf,
    /// The active segment of a segmented log.
    segment: Option<segment::SegmentAt>,
    /// What this handle knows of the end of the file; `None` after a failed write.
    tail: Option<Tail>,
    /// Encoded records of the append in progress.
    buf: Vec<u8>,
    /// Tail reads.
    scratch: Vec<u8>,
    /// The dedup window and the index this handle keeps, if any.
    derived: Derived<V>,
    /// Writes to `file` without a sync, and how many of them a sync has covered since.
    unsynced_writes: u64,
    synced_writes: u64,
    /// A transaction's staged payloads and their ends, kept for the next one.
    staged: (Vec<u8>, Vec<usize>),
}

impl<V: Vfs> State<V> {
    /// Whether appends go in place: the active segment is preallocated.
    fn in_place(&self) -> bool {
        self.segment.as_ref().is_some_and(|s| s.padded)
    }
}

thread_local! {
    /// Serialised payloads of typed appends, built before taking any lock: (bytes, ends).
    static SCRATCH: RefCell<(Vec<u8>, Vec<usize>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl Writer<StdFs> {
    /// Opens (creating when missing) the log at `path` with default [`Options`].
    ///
    /// # Errors
    /// - [`ErrorKind::NotALog`]: the path is a directory, not a regular file, or a non-empty
    ///   file with no valid ndlog record (ndlog never appends to a file it did not write).
    /// - [`ErrorKind::LockTimeout`]: another process held the lock for the whole timeout.
    /// - [`ErrorKind::Io`]: an operating-system call failed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Options::new().open(path)
    }
}

impl Options {
    /// Opens a writer on the real file system.
    ///
    /// # Errors
    /// See [`Writer::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Writer<StdFs>> {
        self.open_in(StdFs, path)
    }

    /// Opens a writer on the file system `vfs`.
    ///
    /// # Errors
    /// See [`Writer::open`].
    pub fn open_in<V: Vfs>(&self, vfs: V, path: impl AsRef<Path>) -> Result<Writer<V>> {
        self.validate()?;
        Writer::open_with(vfs, path.as_ref(), self.clone())
    }
}

impl<V: Vfs> Writer<V> {
    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the handle was opened with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// How a segmented log rolls (the settings stored in its directory); `None` for a
    /// single-file log. A caller that batches appends can keep its batches within a segment:
    /// a batch is never split, so one larger than a segment gets a segment of its own.
    pub fn segment_settings(&self) -> Option<&crate::segments::Settings> {
        self.settings.as_ref()
    }

    /// Appends one serialisable value as a record.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidPayload`] if it does not serialise to JSON,
    /// [`ErrorKind::RecordTooLarge`], [`ErrorKind::LockTimeout`], [`ErrorKind::Poisoned`],
    /// [`ErrorKind::Io`]. Nothing is acknowledged unless this returns `Ok`.
    pub fn append<T: Serialize + ?Sized>(&self, value: &T) -> Result<Ack> {
        self.with_serialized(std::iter::once(value), false, |bytes, ends| {
            self.commit(1, |_| &bytes[..ends[0]]).map(first_ack)
        })
    }

    /// Appends one JSON value the caller serialised. Surrounding whitespace is trimmed.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidPayload`] when `json` is not exactly one JSON value on one line,
    /// [`ErrorKind::RecordTooLarge`], and the errors of [`Writer::append`]. Nothing is written
    /// when the payload is rejected.
    pub fn append_raw(&self, json: &[u8]) -> Result<Ack> {
        let data = self.check_raw(json, None)?;
        self.commit(1, |_| data).map(first_ack)
    }

    /// Appends serialisable values as consecutive records, in one `write` (one per 8 MiB).
    ///
    /// # Errors
    /// As [`Writer::append`]; when any value is rejected, nothing is written.
    pub fn append_batch<T, I>(&self, values: I) -> Result<BatchAck>
    where
        T: Serialize,
        I: IntoIterator<Item = T>,
    {
        self.with_serialized(values, true, |bytes, ends| {
            if ends.is_empty() {
                return Ok(BatchAck::empty());
            }
            self.commit(ends.len(), |i| &bytes[if i == 0 { 0 } else { ends[i - 1] }..ends[i]])
        })
    }

    /// Appends JSON values the caller serialised as consecutive records.
    ///
    /// # Errors
    /// As [`Writer::append_raw`]; the error names the index of the first rejected payload, and
    /// when any payload is rejected nothing is written.
    pub fn append_raw_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<BatchAck> {
        if payloads.is_empty() {
            return Ok(BatchAck::empty());
        }
        for (i, p) in payloads.iter().enumerate() {
            self.check_raw(p.as_ref(), Some(i))?;
        }
        self.commit(payloads.len(), |i| trim(payloads[i].as_ref()))
    }

    /// Checks a payload exactly as [`Writer::append_raw`] would, without writing anything.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidPayload`] or [`ErrorKind::RecordTooLarge`].
    pub fn check_payload(&self, json: &[u8]) -> Result<()> {
        self.check_raw(json, None).map(|_| ())
    }

    /// Makes everything this handle wrote durable, whatever its durability: with `fdatasync`,
    /// unless a sync another handle or process published already covers it.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the sync fails; the handle is poisoned from then on.
    pub fn sync(&self) -> Result<()> {
        self.check_poison()?;
        let (file, writes, id, tail) = {
            let state = self.lock_state();
            (state.file.clone(), state.unsynced_writes, state.id, state.tail)
        };
        let mark = match tail {
            Some(Tail { end, last: Some(last), .. }) => {
                Some(crate::consume::Watermark { file: id, end, seq: last.seq })
            }
            _ => None,
        };
        self.make_durable(&file, mark)?;
        let mut state = self.lock_state();
        if Arc::ptr_eq(&state.file, &file) {
            state.synced_writes = state.synced_writes.max(writes);
        }
        Ok(())
    }

    /// The last record this handle knows of (its own last append, or what it found at the end
    /// of the file when it last looked). Other processes may have appended since.
    pub fn last_known(&self) -> Option<Ack> {
        let state = self.lock_state();
        state.tail.and_then(|t| t.last).map(|l| Ack { seq: l.seq, ts: l.ts, duplicate: false })
    }

    /// Serialises `values` into the thread's scratch buffer and calls `then` with the bytes and
    /// the end offset of each value.
    fn with_serialized<T: Serialize, R>(
        &self,
        values: impl IntoIterator<Item = T>,
        batch: bool,
        then: impl FnOnce(&[u8], &[usize]) -> Result<R>,
    ) -> Result<R> {
        SCRATCH.with(|cell| {
            let mut fresh = (Vec::new(), Vec::new());
            let mut borrowed = cell.try_borrow_mut();
            let (bytes, ends) = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            bytes.clear();
            ends.clear();
            for (i, value) in values.into_iter().enumerate() {
                let start = bytes.len();
                let index = Some(i).filter(|_| batch);
                serde_json::to_writer(&mut *bytes, &value)
                    .map_err(|e| Error::payload(&self.path, index, e.to_string()))?;
                // serde_json writes whole characters on one line, but a RawValue is copied as
                // it was given: its own parse admits newlines between tokens and a `\u`
                // escape of half a surrogate pair. And it serialises a Value of any depth. A
                // payload that may hold such an escape (serde_json itself writes `\u` only for
                // control characters) or nest too deep gets the check a raw payload gets.
                let written = &bytes[start..];
                self.check_size(written.len())?;
                if memchr::memchr2(b'\n', b'\r', written).is_some() {
                    let msg = "serialised to JSON with a raw newline";
                    return Err(Error::payload(&self.path, index, msg));
                }
                if may_hold_a_surrogate_escape(written) || may_nest_too_deep(written) {
                    crate::format::payload::check_payload_bytes(written)
                        .map_err(|reason| Error::payload(&self.path, index, reason))?;
                }
                ends.push(bytes.len());
            }
            then(bytes, ends)
        })
    }

    /// Checks a caller-serialised payload; returns it without surrounding whitespace.
    fn check_raw<'a>(&self, json: &'a [u8], index: Option<usize>) -> Result<&'a [u8]> {
        let data = trim(json);
        self.check_size(data.len())?;
        crate::format::payload::check_payload_bytes(data)
            .map_err(|reason| Error::payload(&self.path, index, reason))?;
        Ok(data)
    }

    fn check_size(&self, size: usize) -> Result<()> {
        let max = self.opts.max_record_size;
        if size > max {
            return Err(ErrorKind::RecordTooLarge { path: self.path.clone(), size, max }.into());
        }
        Ok(())
    }

    /// Writes `count` records whose payloads (already checked) `payload` returns, then waits
    /// for durability. The heart of every append.
    fn commit<'p>(&self, count: usize, payload: impl Fn(usize) -> &'p [u8]) -> Result<BatchAck> {
        match self.opts.durability {
            Durability::Always => {
                self.write_locked(Source::Payloads { count, payload }, None, true)
            }
            Durability::Never => {
                self.write_locked(Source::Payloads { count, payload }, None, false)
            }
            Durability::Group => {
                // Whichever thread finds no batch being written writes everything queued, and
                // whichever finds no sync running syncs everything written: see `group`.
                let outcome = self.group.submit(
                    (0..count).map(&payload),
                    |bytes, ends| self.write_group_batch(bytes, ends),
                    |target| self.sync_group(target),
                );
                outcome.map_err(|error| {
                    error.unwrap_or_else(|| {
                        let panicked = io::Error::other("a thread of the group commit panicked");
                        Error::io(&self.path, "group commit", panicked)
                    })
                })
            }
        }
    }

    /// What the last compaction this writer started by itself did (see
    /// [`Options::auto_compact`]), once one has finished.
    pub fn last_auto_compaction(&self) -> Option<Result<crate::compact::CompactReport>> {
        self.auto.as_ref().and_then(AutoState::last)
    }

    /// Whether a compaction this writer started is still running.
    pub fn auto_compaction_running(&self) -> bool {
        self.auto.as_ref().is_some_and(AutoState::is_running)
    }

    /// Rebuilds `LOG.idx` from the whole log, under the lock, and renames it into place.
    ///
    /// # Errors
    /// [`ErrorKind::LockTimeout`], or [`ErrorKind::Io`] naming the index when it cannot be
    /// written.
    pub fn rebuild_index(&self) -> Result<()> {
        let mut state = self.lock_state();
        // (An exclusive handle already holds the lock; taking it again and dropping the guard
        // would release it.)
        let _guard = self.lock_unless_exclusive()?;
        let tail = self.current_tail(&mut state)?;
        let State { derived, file, id, .. } = &mut *state;
        let ix = derived.index.get_or_insert_with(|| {
            IndexWriter::new(&self.path, self.opts.index_stride).sole_writer(self.opts.exclusive)
        });
        let last_seq = tail.last.map_or(0, |l| l.seq);
        let log = self.log_at(&**file, *id, tail.end, last_seq, 0);
        ix.rebuild_now(&log)
    }

    /// The last error keeping the index current, if the last attempt failed (for example in a
    /// read-only directory). Appends never fail for it: the index is derived from the log.
    pub fn index_error(&self) -> Option<Error> {
        self.lock_state().derived.index.as_ref().and_then(IndexWriter::error)
    }
}

/// Whether JSON bytes may hold a `\u` escape of a UTF-16 surrogate (`\ud800` to `\udfff`):
/// false for almost every payload serde_json writes.
fn may_hold_a_surrogate_escape(json: &[u8]) -> bool {
    memchr::memmem::find_iter(json, b"\\u").any(|i| {
        matches!(json.get(i + 2), Some(b'd' | b'D'))
            && matches!(json.get(i + 3), Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'))
    })
}

/// Whether JSON bytes could nest deeper than a writer takes ([`crate::json::MAX_DEPTH`]):
/// each level takes an opening bracket and a closing one, so a payload needs more than twice
/// the limit in bytes, and more opening brackets than the limit. Cheap, and false for almost
/// every payload; true sends it to the full check.
fn may_nest_too_deep(json: &[u8]) -> bool {
    let limit = crate::json::MAX_DEPTH;
    json.len() > 2 * limit && json.iter().filter(|&&c| c == b'[' || c == b'{').count() > limit
}

/// A payload without surrounding whitespace. (Every byte that `trim_ascii` trims is at most
/// b' ': a payload that neither starts nor ends with one is returned without looking further.)
fn trim(bytes: &[u8]) -> &[u8] {
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) if first > b' ' && last > b' ' => bytes,
        _ => bytes.trim_ascii(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_is_trim_ascii() {
        for first in 0..=u8::MAX {
            for last in 0..=u8::MAX {
                for middle in [&b""[..], b"1", b" ", b"\x0c", b"ab"] {
                    let mut bytes = vec![first];
                    bytes.extend_from_slice(middle);
                    bytes.push(last);
                    assert_eq!(super::trim(&bytes), bytes.trim_ascii(), "{bytes:?}");
                    assert_eq!(super::trim(&bytes[..1]), bytes[..1].trim_ascii(), "{bytes:?}");
                }
            }
        }
        assert_eq!(super::trim(b""), b"");
    }
}
