//! Read, then append, under one lock: [`Writer::transaction`] holds the writer's mutex and the
//! cross-process lock across a closure that reads the log as it is and stages appends, which
//! are written with one `write` when the closure returns `Ok`.

use std::sync::OnceLock;

use serde::Serialize;

use crate::clock;
use crate::error::{Error, IoContext, Result};
use crate::fs::Vfs;
use crate::read::last_record::Tail;
use crate::read::{Reader, Record};

use super::ack::BatchAck;
use super::batch::Source;
use super::{Durability, State, Writer};

/// The largest staging buffers (payload bytes, and their ends) a writer keeps for its next
/// transaction.
const KEEP_STAGED: usize = 1 << 20;

/// Keeps a transaction's staging buffers, emptied, for the writer's next one, unless they grew
/// past [`KEEP_STAGED`].
fn keep_staged<V: Vfs>(state: &mut State<V>, mut staged: Vec<u8>, mut ends: Vec<usize>) {
    if staged.capacity() <= KEEP_STAGED && ends.capacity() * size_of::<usize>() <= KEEP_STAGED {
        staged.clear();
        ends.clear();
        state.staged = (staged, ends);
    }
}

/// The inside of a [`Writer::transaction`]: reads of the log as it is now, and appends staged
/// for the commit. Reads see the log up to its last record when the transaction began (no
/// other writer can append meanwhile), not the appends staged in this transaction.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::{JsonPointer, Options};
/// let log = Options::new()
///     .entity_key(JsonPointer::parse("/id")?)
///     .open(dir.path().join("counters.ndjson"))?;
/// for _ in 0..3 {
///     // Read the counter and write the next value, with no other writer in between.
///     log.transaction(|tx| {
///         let n = match tx.latest("hits")? {
///             Some(r) => r.deserialize::<serde_json::Value>()?["n"].as_u64().unwrap_or(0),
///             None => 0,
///         };
///         tx.append(&serde_json::json!({"id": "hits", "n": n + 1}))
///     })?;
/// }
/// let reader = ndlog::Reader::open(log.path())?;
/// assert_eq!(reader.last().unwrap().data, br#"{"id":"hits","n":3}"#);
/// # Ok::<(), ndlog::Error>(())
/// ```
pub struct Transaction<'w, V: Vfs> {
    writer: &'w Writer<V>,
    state: &'w mut State<V>,
    tail: Tail,
    /// The seq of a damaged record a sync covered after the last valid one (0: none): the
    /// commit's records come after it (`Writer::neutralise_debris`).
    floor: u64,
    /// The log mapped up to the end of its last record, at the first read that needs it.
    reader: OnceLock<Reader<V::Map>>,
    /// Staged payloads back to back, and where each ends.
    staged: Vec<u8>,
    ends: Vec<usize>,
}

impl<V: Vfs> std::fmt::Debug for Transaction<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("path", &self.writer.path)
            .field("last_seq", &self.last_seq())
            .field("staged", &self.ends.len())
            .finish()
    }
}

impl<V: Vfs> Writer<V> {
    /// Runs `f` holding this handle's mutex and the writer lock (other threads and processes
    /// wait), with a [`Transaction`] that reads the log and stages appends. When `f` returns
    /// `Ok`, the staged appends are written with one `write` (synced as the durability says,
    /// `Group` as `Always`) and `f`'s value is returned with their acknowledgement; when it
    /// returns `Err` or panics, nothing is written.
    ///
    /// Isolation is serializable, across processes: no other writer can append between the
    /// reads and the write, since the lock is held throughout. Keep `f` short: every other
    /// writer waits for it (and gives up after its lock timeout). A process killed inside `f`
    /// has written nothing, and the kernel releases its lock at once. Appending through the
    /// same handle inside `f` would deadlock: stage through the transaction instead.
    ///
    /// # Errors
    /// `f`'s error as it is; [`crate::ErrorKind::LockTimeout`], [`crate::ErrorKind::Poisoned`]
    /// and [`crate::ErrorKind::Io`] before `f` runs or at the commit; the errors of
    /// [`Writer::append`] for the staged appends.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = ndlog::Writer::open(dir.path().join("registry.ndjson"))?;
    /// // Append only if no record has this name yet: a registry merge.
    /// let (added, ack) = log.transaction(|tx| {
    ///     let taken = tx.reader()?.records().any(|r| r.data == br#""alice""#);
    ///     if !taken {
    ///         tx.append(&"alice")?;
    ///     }
    ///     Ok::<_, ndlog::Error>(!taken)
    /// })?;
    /// assert!(added);
    /// assert_eq!(ack.first_seq, 1);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn transaction<R, E, F>(&self, f: F) -> Result<(R, BatchAck), E>
    where
        E: From<Error>,
        F: FnOnce(&mut Transaction<'_, V>) -> Result<R, E>,
    {
        self.check_poison()?;
        let mut state = self.lock_state();
        let guard = self.lock_unless_exclusive()?;
        let (tail, floor) = self.begin(&mut state)?;
        // The last transaction's buffers, emptied: no allocation for a transaction no larger.
        let (staged, ends) = std::mem::take(&mut state.staged);
        let mut tx = Transaction {
            writer: self,
            state: &mut state,
            tail,
            floor,
            reader: OnceLock::new(),
            staged,
            ends,
        };
        let value = f(&mut tx);
        let Transaction { staged, ends, .. } = tx;
        // Whatever the outcome, the buffers are kept for the next transaction (one that
        // declined, staged nothing or failed to write would otherwise cost the next an
        // allocation).
        let value = match value {
            Ok(value) if !ends.is_empty() => value,
            Ok(value) => {
                keep_staged(&mut state, staged, ends);
                return Ok((value, BatchAck::empty()));
            }
            Err(e) => {
                keep_staged(&mut state, staged, ends);
                return Err(e);
            }
        };
        let sync = self.opts.durability != Durability::Never;
        let held = {
            let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
            let source =
                Source::Payloads { count: ends.len(), payload: |i| &staged[start(i)..ends[i]] };
            self.write_held(&mut state, &source, None, Some(tail), sync)
        };
        keep_staged(&mut state, staged, ends);
        let held = held?;
        let file = state.file.clone();
        drop(guard);
        drop(state);
        Ok((value, self.after_write(held, &file, sync)?))
    }

    /// Finds the end of the log (neutralising crash debris, as an append does) and catches
    /// the derived state up, so that reads in the transaction see everything other writers
    /// appended.
    fn begin(&self, state: &mut State<V>) -> Result<(Tail, u64)> {
        let tail = self.end_of_log(state)?;
        let (tail, floor) = self.neutralise_debris(state, tail)?;
        let last_seq = tail.last.map_or(0, |l| l.seq);
        let older = self.older(state);
        let State { file, id, derived, .. } = state;
        let mut log = self.log_at(&**file, *id, tail.content, last_seq, clock::now_ms());
        log.older = older;
        derived.catch_up(&log).at(&self.path, "read")?;
        Ok((tail, floor))
    }
}

impl<V: Vfs> Transaction<'_, V> {
    /// The seq of the log's last record (0: the log holds none); that of an acknowledged
    /// record lost to damage since, when the log ends in one (its seq is not given again).
    pub fn last_seq(&self) -> u64 {
        self.tail.last.map_or(0, |l| l.seq).max(self.floor)
    }

    /// A reader over the log up to its last record (mapped at the first call).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] when the log cannot be mapped.
    pub fn reader(&self) -> Result<&Reader<V::Map>> {
        if let Some(reader) = self.reader.get() {
            return Ok(reader);
        }
        let w = self.writer;
        // Only up to the end of the last record: never bytes a later write could change
        // (FORMAT.md, section 4).
        let map = w.vfs.map(&*self.state.file, self.tail.end).at(&w.path, "map")?;
        let reader = Reader::new(map).with_path(&w.path);
        Ok(self.reader.get_or_init(|| reader))
    }

    /// The log's last record.
    ///
    /// # Errors
    /// As [`Transaction::reader`].
    pub fn last(&self) -> Result<Option<Record<'_>>> {
        Ok(self.reader()?.last())
    }

    /// The record with sequence number `seq`.
    ///
    /// # Errors
    /// As [`Transaction::reader`].
    pub fn get(&self, seq: u64) -> Result<Option<Record<'_>>> {
        Ok(self.reader()?.get(seq))
    }

    /// The version of `entity` (its value at [`crate::Options::entity_key`], as
    /// `history --entity` names it): the seq of its newest record, 0 when it has none. From
    /// the writer's cache of versions, else from `LOG.versions` (reading at most the record it
    /// names, to check it), without scanning the log.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] on a writer without an entity key;
    /// [`crate::ErrorKind::Io`] when the log cannot be read.
    pub fn version(&self, entity: &str) -> Result<u64> {
        let w = self.writer;
        let versions = self.state.derived.versions.as_ref().ok_or_else(|| {
            Error::invalid_argument("entity versions need an entity key (Options::entity_key)")
        })?;
        let older = w.older(self.state);
        versions.version_of(&w.vfs, &*self.state.file, entity.as_bytes(), older).at(&w.path, "read")
    }

    /// The newest record of `entity`, found through [`Transaction::version`].
    ///
    /// # Errors
    /// As [`Transaction::version`].
    pub fn latest(&self, entity: &str) -> Result<Option<Record<'_>>> {
        match self.version(entity)? {
            0 => Ok(None),
            seq => self.get(seq),
        }
    }

    /// The newest version of `entity` with ts ≤ `ts` (see [`Reader::state_at`]).
    ///
    /// # Errors
    /// As [`Transaction::version`].
    pub fn state_at<'a>(&'a self, entity: &'a str, ts: u64) -> Result<Option<Record<'a>>> {
        let versions = self.state.derived.versions.as_ref().ok_or_else(|| {
            Error::invalid_argument("entity state needs an entity key (Options::entity_key)")
        })?;
        Ok(self.reader()?.state_at(&versions.key, entity, ts))
    }

    /// Stages a serialisable value, appended at the commit.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidPayload`], [`crate::ErrorKind::RecordTooLarge`].
    pub fn append<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let start = self.staged.len();
        let index = Some(self.ends.len());
        let w = self.writer;
        let checked = serde_json::to_writer(&mut self.staged, value)
            .map_err(|e| Error::payload(&w.path, index, e.to_string()))
            .and_then(|()| w.check_raw(&self.staged[start..], index).map(|_| ()));
        if let Err(e) = checked {
            self.staged.truncate(start);
            return Err(e);
        }
        self.ends.push(self.staged.len());
        Ok(())
    }

    /// Stages a payload the caller serialised, appended at the commit.
    ///
    /// # Errors
    /// As [`Writer::append_raw`] when the payload is rejected (nothing is staged then).
    pub fn append_raw(&mut self, json: &[u8]) -> Result<()> {
        let data = self.writer.check_raw(json, Some(self.ends.len()))?;
        self.staged.extend_from_slice(data);
        self.ends.push(self.staged.len());
        Ok(())
    }

    /// How many appends are staged.
    pub fn staged(&self) -> usize {
        self.ends.len()
    }
}
