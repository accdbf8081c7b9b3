//! The writer: appends records under the cross-process lock, one `write` per record (or batch),
//! and syncs as the handle's durability says.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::Serialize;

use crate::compact::AutoState;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format;
use crate::fs::LockFile;
use crate::fs::{Create, FileId, FileKind, OpenOptions, StdFs, Vfs, VfsFile};
use crate::names;
use dedup::DedupState;
use group::Combiner;
use index::IndexWriter;
use last_record::{Last, Tail};

mod ack;
mod dedup;
mod group;
pub(crate) mod index;
mod last_record;
mod options;

pub(crate) use ack::first_ack;
pub use ack::{Ack, BatchAck, ImportAck};
pub use dedup::{Dedup, DedupWindow};
pub use options::{Durability, Options};

/// A batch is written in `write` calls of about this size, each holding whole records.
const WRITE_CHUNK: usize = 8 << 20;

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
    lock: LockFile<V::File>,
    /// Permission bits of the log, given to the sidecar files ndlog creates.
    mode: u32,
    state: Mutex<State<V::File>>,
    group: Combiner,
    /// Held across each fdatasync: see `sync_file`.
    sync_lock: Mutex<()>,
    /// Compaction this writer triggers by itself, if configured.
    auto: Option<AutoState>,
    poison: OnceLock<String>,
}

#[derive(Debug)]
struct State<F> {
    file: Arc<F>,
    id: FileId,
    /// What this handle knows of the end of the file; `None` after a failed write.
    tail: Option<Tail>,
    /// Encoded records of the append in progress.
    buf: Vec<u8>,
    /// Tail reads.
    scratch: Vec<u8>,
    /// The index this handle maintains, if any.
    index: Option<IndexWriter<F>>,
    /// The last error maintaining the index (appends do not fail for it: it is derived data).
    index_error: Option<String>,
    /// The window of recent keys, when deduplicating.
    dedup: Option<DedupState>,
    /// Writes to `file` without a sync, and how many of them a sync has covered since.
    unsynced_writes: u64,
    synced_writes: u64,
}

/// What to write: payloads to frame with new seqs, or whole records to write as they are.
enum Source<'a, P> {
    Payloads { count: usize, payload: P },
    Records(&'a [&'a [u8]]),
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
    pub(crate) fn open_with(vfs: V, path: &Path, opts: Options) -> Result<Self> {
        let resolved = vfs.resolve(path).at(path, "resolve symlink")?;
        let path = resolved.as_path();
        let existing = match vfs.metadata(path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(path, "stat", e)),
        };
        match existing.map(|m| m.kind) {
            Some(FileKind::Dir) => return Err(Error::not_a_log(path, "it is a directory")),
            Some(FileKind::Other) => return Err(Error::not_a_log(path, "not a regular file")),
            None if !opts.create => {
                let missing = io::Error::from(io::ErrorKind::NotFound);
                return Err(Error::io(path, "open", missing));
            }
            _ => {}
        }
        let mode = existing.map_or(opts.mode, |m| m.mode);
        let lock = LockFile::open(&vfs, &names::lock_file(path), mode)?;
        let guard = lock.acquire(path, opts.lock_timeout)?;
        let file = open_log(&vfs, path, &opts)?;
        let meta = file.metadata().at(path, "fstat")?;
        if meta.kind != FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        let mut scratch = Vec::new();
        let found =
            last_record::discover(&file, meta.len, 0, None, &mut scratch).at(path, "read")?;
        let marked = lock.has_marker()?;
        if found.last.is_none() && meta.len > 0 && !marked {
            return Err(Error::not_a_log(
                path,
                "the file holds no line with a valid ndlog CRC trailer, and ndlog never appends \
                 to a file it did not write",
            ));
        }
        if !marked {
            lock.write_marker(&guard)?;
        }
        // Always, not only for a log this handle created: a compaction that died between its
        // rename and its directory fsync leaves a name that a power loss can take back, and this
        // handle must not acknowledge a record in that file before the name is durable.
        let dir = names::parent_dir(path);
        vfs.sync_dir(dir).at(dir, "fsync directory")?;
        let mode = meta.mode;
        let auto = opts.auto_compact.clone().map(AutoState::new);
        let mut index = opts
            .index
            .then(|| IndexWriter::new(path, opts.index_stride).sole_writer(opts.exclusive));
        let index_error = index
            .as_mut()
            .and_then(|ix| ix.catch_up(&vfs, &file, meta.id, meta.len, mode).err())
            .map(|e| e.to_string());
        if opts.exclusive {
            // Never released explicitly: the kernel drops the `flock` when the handle's lock
            // file descriptor closes, that is when the handle is dropped.
            std::mem::forget(guard);
        } else {
            drop(guard);
        }
        let state = State {
            file: Arc::new(file),
            id: meta.id,
            tail: Some(found),
            buf: Vec::new(),
            scratch,
            index,
            index_error,
            dedup: opts.dedup.clone().map(DedupState::new),
            unsynced_writes: 0,
            synced_writes: 0,
        };
        Ok(Writer {
            vfs,
            path: path.to_path_buf(),
            opts,
            lock,
            mode,
            state: Mutex::new(state),
            group: Combiner::default(),
            sync_lock: Mutex::new(()),
            auto,
            poison: OnceLock::new(),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options the handle was opened with.
    pub fn options(&self) -> &Options {
        &self.opts
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

    /// Makes everything this handle wrote durable (`fdatasync`), whatever its durability.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the sync fails; the handle is poisoned from then on.
    pub fn sync(&self) -> Result<()> {
        self.check_poison()?;
        let (file, writes) = {
            let state = self.lock_state();
            (state.file.clone(), state.unsynced_writes)
        };
        self.sync_file(&file)?;
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
                // A custom Serialize (serde_json's RawValue) can emit raw newlines.
                if memchr::memchr2(b'\n', b'\r', &bytes[start..]).is_some() {
                    let msg = "serialised to JSON with a raw newline";
                    return Err(Error::payload(&self.path, index, msg));
                }
                self.check_size(bytes.len() - start)?;
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
            Durability::Always => self.write_locked(Source::Payloads { count, payload }, true),
            Durability::Never => self.write_locked(Source::Payloads { count, payload }, false),
            Durability::Group => {
                // The leader of the batch writes and syncs for every thread in it.
                let mut own_error = None;
                let outcome = self.group.submit((0..count).map(&payload), |bytes, ends| {
                    let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
                    let batch = Source::Payloads {
                        count: ends.len(),
                        payload: |i: usize| &bytes[start(i)..ends[i]],
                    };
                    match self.write_locked(batch, true) {
                        Ok(ack) => Ok(ack.acks().collect()),
                        Err(err) => {
                            let text = err.to_string();
                            own_error = Some(err);
                            Err(text)
                        }
                    }
                });
                match outcome {
                    Ok(acks) => Ok(BatchAck::from_acks(&acks)),
                    Err(text) => Err(own_error.take().unwrap_or_else(|| {
                        Error::io(&self.path, "group commit", io::Error::other(text))
                    })),
                }
            }
        }
    }

    /// Appends whole records as they are, keeping their seq and ts: for importing another ndlog
    /// log. Each must be one valid record line (without its newline), in strictly increasing
    /// seq and non-decreasing ts order, and the first must come after the log's last record.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidPayload`] naming the index of the first record that is not a valid
    /// line or is out of order (checked before anything is written, and again against the
    /// log's end under the lock); and the errors of [`Writer::append`].
    pub fn import_records<L: AsRef<[u8]>>(&self, lines: &[L]) -> Result<ImportAck> {
        let mut previous: Option<(u64, u64)> = None;
        for (i, line) in lines.iter().enumerate() {
            let frame = format::decode(line.as_ref()).map_err(|e| {
                Error::payload(&self.path, Some(i), format!("not an ndlog record: {e}"))
            })?;
            if let Some((seq, ts)) = previous
                && (frame.seq <= seq || frame.ts < ts)
            {
                let why = format!(
                    "record with seq {} ts {} comes after seq {seq} ts {ts}",
                    frame.seq, frame.ts
                );
                return Err(Error::payload(&self.path, Some(i), why));
            }
            previous = Some((frame.seq, frame.ts));
        }
        fn frame<L: AsRef<[u8]>>(line: Option<&L>) -> Option<format::Frame<'_>> {
            line.and_then(|l| format::decode(l.as_ref()).ok())
        }
        let (Some(first), Some(last)) = (frame(lines.first()), frame(lines.last())) else {
            return Ok(ImportAck { count: 0, first: None, last: None });
        };
        let refs: Vec<&[u8]> = lines.iter().map(AsRef::as_ref).collect();
        let sync = self.opts.durability != Durability::Never;
        self.write_locked(Source::<fn(usize) -> &'static [u8]>::Records(&refs), sync)?;
        let ack = |f: format::Frame<'_>| Ack { seq: f.seq, ts: f.ts, duplicate: false };
        Ok(ImportAck { count: lines.len() as u64, first: Some(ack(first)), last: Some(ack(last)) })
    }

    /// Under the mutex and the lock: finds the end of the file, assigns seqs (or checks the
    /// order of imported records), drops repeats when deduplicating, encodes the records into
    /// one buffer, writes it with one `write` (one per 8 MiB), keeps the index and the dedup
    /// window, then releases the lock and, with `sync`, makes the records durable.
    fn write_locked<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        source: Source<'_, P>,
        sync: bool,
    ) -> Result<BatchAck> {
        self.check_poison()?;
        let mut state = self.lock_state();
        // An exclusive handle holds the lock for its whole life: nobody else can have appended
        // or replaced the file, so neither the lock nor a stat is needed per append.
        let guard = match self.opts.exclusive {
            true => None,
            false => Some(self.lock.acquire(&self.path, self.opts.lock_timeout)?),
        };
        let tail = match (self.opts.exclusive, state.tail) {
            (true, Some(tail)) => tail,
            _ => self.current_tail(&mut state)?,
        };
        let previous = tail.last.unwrap_or(Last { seq: 0, ts: 0 });
        let now = crate::clock::now_ms();
        let State { file, id, dedup, .. } = &mut *state;
        // Which payloads are repeats (deduplication only).
        let mut duplicates: Vec<(usize, Ack)> = Vec::new();
        // Repeats of a payload earlier in the same batch: (index, that payload's place among
        // the records written).
        let mut in_batch: Vec<(usize, usize)> = Vec::new();
        if let (Some(d), Source::Payloads { count, payload }) = (dedup.as_mut(), &source) {
            d.catch_up(&self.vfs, file, *id, tail.len, now).at(&self.path, "read")?;
            d.evict(previous.seq, now);
            let mut fresh: Vec<(std::borrow::Cow<'_, [u8]>, usize)> = Vec::new();
            for i in 0..*count {
                let data = payload(i);
                if let Some((seq, ts)) = d.find(data, &**file).at(&self.path, "read")? {
                    duplicates.push((i, Ack { seq, ts, duplicate: true }));
                } else if *count > 1
                    && let Some(key) = d.key_of(data)
                {
                    // A repeat within the batch is a repeat of the record the batch writes.
                    match fresh.iter().find(|(k, _)| *k == key) {
                        Some(&(_, j)) => in_batch.push((i, j)),
                        None => fresh.push((key, i - duplicates.len() - in_batch.len())),
                    }
                }
            }
        }
        let (count, first_seq, ts, last) = match &source {
            Source::Payloads { count, .. } => {
                let written = (count - duplicates.len() - in_batch.len()) as u64;
                if previous.seq.checked_add(written).is_none() {
                    return Err(Error::invalid_argument("the log's seq space is exhausted"));
                }
                let ts = now.max(previous.ts);
                let last = Last { seq: previous.seq + written, ts };
                (*count, previous.seq + 1, ts, last)
            }
            Source::Records(lines) => {
                let bad = |e: format::LineError| Error::payload(&self.path, None, e.to_string());
                let first = format::decode(lines[0]).map_err(bad)?;
                let last = format::decode(lines[lines.len() - 1]).map_err(bad)?;
                if first.seq <= previous.seq || first.ts < previous.ts {
                    let why = format!(
                        "record with seq {} ts {} does not come after the log's last record (seq {} ts {})",
                        first.seq, first.ts, previous.seq, previous.ts
                    );
                    return Err(Error::payload(&self.path, Some(0), why));
                }
                (lines.len(), first.seq, first.ts, Last { seq: last.seq, ts: last.ts })
            }
        };
        if !in_batch.is_empty() {
            let repeats = in_batch
                .iter()
                .map(|&(i, j)| (i, Ack { seq: first_seq + j as u64, ts, duplicate: true }));
            duplicates.extend(repeats);
            duplicates.sort_unstable_by_key(|&(i, _)| i);
        }
        let writes = count - duplicates.len();
        let mut len = tail.len;
        if writes > 0 {
            // A failed or short write leaves the end of the file unknown.
            state.tail = None;
            let State { file, buf, dedup, index, .. } = &mut *state;
            buf.clear();
            if tail.torn {
                // Terminate the torn bytes, so the record never merges with them; they stay in
                // the file as a corrupt line that readers skip and `verify` reports.
                buf.push(b'\n');
            }
            let mut dups = duplicates.iter().map(|(i, _)| *i).peekable();
            let mut seq = first_seq;
            for i in 0..count {
                if dups.next_if_eq(&i).is_some() {
                    continue;
                }
                let at = len + buf.len() as u64;
                match &source {
                    Source::Payloads { payload, .. } => {
                        format::encode(buf, seq, ts, payload(i));
                        let end = len + buf.len() as u64;
                        if let Some(d) = dedup.as_mut() {
                            d.wrote(seq, ts, at, payload(i), end);
                        }
                        if let Some(ix) = index.as_mut() {
                            ix.wrote(seq, ts, at, end);
                        }
                        seq += 1;
                    }
                    Source::Records(lines) => {
                        buf.extend_from_slice(lines[i]);
                        buf.push(b'\n');
                    }
                }
                if buf.len() >= WRITE_CHUNK {
                    len += self.write_chunk(file, buf, dedup)?;
                }
            }
            if !buf.is_empty() {
                len += self.write_chunk(file, buf, dedup)?;
            }
            state.tail = Some(Tail { len, last: Some(last), torn: false });
            state.unsynced_writes += u64::from(!sync);
            self.maintain_index(&mut state, last.seq, len);
        }
        let file = state.file.clone();
        drop(guard);
        drop(state);
        // Syncing after the lock is released lets other writers append meanwhile; this sync
        // covers their records too. Should a compaction replace the file in between, it copied
        // this record into the new file and synced that before the rename. A repeat is synced
        // too: its original may have been written by a writer that does not sync.
        if sync {
            self.sync_file(&file)?;
        }
        if let Some(auto) = &self.auto
            && writes > 0
        {
            auto.after_append(writes as u64, &self.vfs, &self.path, len, || self.first_ts(&file));
        }
        Ok(BatchAck {
            first_seq: if writes > 0 { first_seq } else { 0 },
            count: writes as u64,
            ts,
            duplicates,
        })
    }

    /// Writes `buf` with one `write` and empties it; returns the bytes written. After a
    /// failure the dedup window is forgotten (the end of the file is unknown).
    fn write_chunk(
        &self,
        file: &V::File,
        buf: &mut Vec<u8>,
        dedup: &mut Option<DedupState>,
    ) -> Result<u64> {
        if let Err(e) = self.write_all_once(file, buf) {
            if let Some(d) = dedup.as_mut() {
                d.reset();
            }
            return Err(e);
        }
        let n = buf.len() as u64;
        buf.clear();
        Ok(n)
    }

    /// The ts of the first record, read from the start of the file.
    fn first_ts(&self, file: &V::File) -> Option<u64> {
        let mut buf = vec![0u8; 4096];
        let n = file.read_at(&mut buf, 0).ok()?;
        crate::read::Reader::new(&buf[..n]).records().next().map(|r| r.ts)
    }

    /// What the last compaction this writer started by itself did (see
    /// [`Options::auto_compact`]), once one has finished.
    pub fn last_auto_compaction(
        &self,
    ) -> Option<std::result::Result<crate::CompactReport, String>> {
        self.auto.as_ref().and_then(AutoState::last)
    }

    /// Whether a compaction this writer started is still running.
    pub fn auto_compaction_running(&self) -> bool {
        self.auto.as_ref().is_some_and(AutoState::is_running)
    }

    /// Catches the index up once a stride of records is unindexed. Under the lock, after the
    /// log write: a failure here does not fail the append, whose record is already written.
    fn maintain_index(&self, state: &mut State<V::File>, last_seq: u64, log_len: u64) {
        let State { index, file, id, index_error, .. } = state;
        let Some(ix) = index else { return };
        if last_seq.saturating_sub(ix.last_seq()) < u64::from(ix.stride()) {
            return;
        }
        *index_error =
            ix.catch_up(&self.vfs, file, *id, log_len, self.mode).err().map(|e| e.to_string());
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
        let _guard = match self.opts.exclusive {
            true => None,
            false => Some(self.lock.acquire(&self.path, self.opts.lock_timeout)?),
        };
        let tail = self.current_tail(&mut state)?;
        let State { index, file, id, index_error, .. } = &mut *state;
        let ix = index.get_or_insert_with(|| {
            IndexWriter::new(&self.path, self.opts.index_stride).sole_writer(self.opts.exclusive)
        });
        let result = ix.rebuild(&self.vfs, file, *id, tail.len, self.mode, false);
        *index_error = result.as_ref().err().map(|e| e.to_string());
        result.at(&names::index_file(&self.path), "rebuild index")
    }

    /// The last error keeping the index current, if the last attempt failed (for example in a
    /// read-only directory). Appends never fail for it: the index is derived from the log.
    pub fn index_error(&self) -> Option<String> {
        self.lock_state().index_error.clone()
    }

    /// One `write` of all of `buf`: a record is never split across two writes.
    fn write_all_once(&self, file: &V::File, buf: &[u8]) -> Result<()> {
        let n = file.append(buf).at(&self.path, "write")?;
        if n != buf.len() {
            let short = io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes; the next append terminates them", buf.len()),
            );
            return Err(Error::io(&self.path, "write", short));
        }
        Ok(())
    }

    /// The end of the file, under the lock: reopens the log if a compaction replaced it, and
    /// reads what other processes appended since this handle's last write.
    fn current_tail(&self, state: &mut State<V::File>) -> Result<Tail> {
        let mut meta = self.vfs.metadata(&self.path).at(&self.path, "stat")?;
        if meta.id != state.id {
            // The log was replaced. Records this handle wrote to the old file and did not sync
            // must be made durable before it moves on (a later sync covers only the new file),
            // unless the new file carries them: a compaction copies every record written
            // before it took the lock and syncs the copy before the rename.
            let file = self.vfs.open(&self.path, OpenOptions::append(Create::No, 0));
            let file = file.at(&self.path, "reopen")?;
            meta = file.metadata().at(&self.path, "fstat")?;
            // The compaction that renamed this file over the path may have died before its
            // directory fsync: make the name durable before acknowledging anything in the file.
            // On failure nothing changes here, so the next append tries again.
            let dir = names::parent_dir(&self.path);
            self.vfs.sync_dir(dir).at(dir, "fsync directory")?;
            if state.unsynced_writes > state.synced_writes {
                let ours = state.tail.and_then(|t| t.last).map_or(0, |l| l.seq);
                let carried = last_record::discover(&file, meta.len, 0, None, &mut state.scratch)
                    .at(&self.path, "read")?
                    .last
                    .is_some_and(|l| l.seq >= ours);
                if !carried {
                    self.sync_file(&state.file)?;
                }
            }
            state.unsynced_writes = 0;
            state.synced_writes = 0;
            state.file = Arc::new(file);
            state.id = meta.id;
            state.tail = None;
        }
        let (floor, below) = match state.tail {
            Some(t) if t.len == meta.len => return Ok(t),
            Some(t) if !t.torn && t.len < meta.len => (t.len, t.last),
            _ => (0, None),
        };
        let found = last_record::discover(&*state.file, meta.len, floor, below, &mut state.scratch);
        let found = found.at(&self.path, "read")?;
        state.tail = Some(found);
        Ok(found)
    }

    fn sync_file(&self, file: &V::File) -> Result<()> {
        // One sync at a time per handle, and none after a failure: the kernel reports a
        // writeback error once per open file, so a sync racing or following a failed one can
        // return success for pages that were lost.
        let _one_at_a_time = self.sync_lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.check_poison()?;
        file.sync_data().map_err(|e| {
            self.poison.get_or_init(|| e.to_string());
            Error::io(&self.path, "fdatasync", e)
        })
    }

    fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            None => Ok(()),
            Some(cause) => {
                let (path, cause) = (self.path.clone(), cause.clone());
                Err(ErrorKind::Poisoned { path, cause }.into())
            }
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State<V::File>> {
        // A panic while holding the mutex leaves at worst an unknown tail, which is re-read.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.state.is_poisoned() {
            state.tail = None;
            self.state.clear_poison();
        }
        state
    }
}

/// Opens the log for appending, creating it (exclusively) when allowed and missing.
fn open_log<V: Vfs>(vfs: &V, path: &Path, opts: &Options) -> Result<V::File> {
    if opts.create {
        match vfs.open(path, OpenOptions::append(Create::New, opts.mode)) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path, "create", e)),
        }
    }
    vfs.open(path, OpenOptions::append(Create::No, 0)).at(path, "open")
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}
