//! The writer: appends records under the cross-process lock, one `write` per record (or batch),
//! and syncs as the handle's durability says.

use std::cell::RefCell;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::auto_compact::AutoState;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format;
use crate::group::GroupCommit;
use crate::index_file::IndexWriter;
use crate::lock::LockFile;
use crate::options::{Durability, Options};
use crate::paths;
use crate::segment::check_one_json_value;
use crate::tail::{self, Last, Tail};
use crate::vfs::{Create, FileId, FileKind, OpenOptions, StdFs, Vfs, VfsFile};

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
    group: GroupCommit,
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
    /// Writes done so far: the group-commit ticket of the newest.
    written: u64,
    /// The index this handle maintains, if any.
    index: Option<IndexWriter<F>>,
    /// The last error maintaining the index (appends do not fail for it: it is derived data).
    index_error: Option<String>,
}

/// What an append assigned to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ack {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's timestamp, unix milliseconds.
    pub ts: u64,
}

/// What a batch append assigned: consecutive seqs sharing one ts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchAck {
    /// Seq of the first record (0 for an empty batch).
    pub first_seq: u64,
    /// Number of records.
    pub count: u64,
    /// Timestamp of every record in the batch.
    pub ts: u64,
}

/// What [`Writer::import_records`] wrote: the first and last imported records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImportAck {
    /// Number of records written.
    pub count: u64,
    /// The first record (its seq and ts, as they were).
    pub first: Option<Ack>,
    /// The last record.
    pub last: Option<Ack>,
}

/// What `write_locked` hands back: the plan it wrote by.
struct Written<P> {
    plan: P,
}

impl BatchAck {
    /// The seqs assigned, in order.
    pub fn seqs(&self) -> Range<u64> {
        self.first_seq..self.first_seq + self.count
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
        let lock = LockFile::open(&vfs, &paths::lock_file(path), mode)?;
        let guard = lock.acquire(path, opts.lock_timeout)?;
        let (file, created) = open_log(&vfs, path, &opts)?;
        let meta = file.metadata().at(path, "fstat")?;
        if meta.kind != FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        let mut scratch = Vec::new();
        let found = tail::discover(&file, meta.len, 0, None, &mut scratch).at(path, "read")?;
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
        if created || !marked {
            let dir = paths::parent_dir(path);
            vfs.sync_dir(dir).at(dir, "fsync directory")?;
        }
        let mode = meta.mode;
        let auto = opts.auto_compact.clone().map(AutoState::new);
        let mut index = opts.index.then(|| IndexWriter::new(path, opts.index_stride));
        let index_error = index
            .as_mut()
            .and_then(|ix| ix.catch_up(&vfs, &file, meta.id, meta.len, mode).err())
            .map(|e| e.to_string());
        drop(guard);
        let state = State {
            file: Arc::new(file),
            id: meta.id,
            tail: Some(found),
            buf: Vec::new(),
            scratch,
            written: 0,
            index,
            index_error,
        };
        Ok(Writer {
            vfs,
            path: path.to_path_buf(),
            opts,
            lock,
            mode,
            state: Mutex::new(state),
            group: GroupCommit::default(),
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
                return Ok(BatchAck { first_seq: 0, count: 0, ts: 0 });
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
            return Ok(BatchAck { first_seq: 0, count: 0, ts: 0 });
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
        let file = self.lock_state().file.clone();
        self.sync_file(&file)
    }

    /// The last record this handle knows of (its own last append, or what it found at the end
    /// of the file when it last looked). Other processes may have appended since.
    pub fn last_known(&self) -> Option<Ack> {
        let state = self.lock_state();
        state.tail.and_then(|t| t.last).map(|l| Ack { seq: l.seq, ts: l.ts })
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
        if data.is_empty() {
            return Err(Error::payload(&self.path, index, "empty payload"));
        }
        self.check_size(data.len())?;
        if memchr::memchr2(b'\n', b'\r', data).is_some() {
            let msg = "contains a raw newline: pass compact JSON, one value on one line";
            return Err(Error::payload(&self.path, index, msg));
        }
        check_one_json_value(data).map_err(|reason| Error::payload(&self.path, index, reason))?;
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
        let written = self.write_locked(
            count,
            |previous| {
                if previous.seq.checked_add(count as u64).is_none() {
                    return Err(Error::invalid_argument("the log's seq space is exhausted"));
                }
                let ts = now_ms().max(previous.ts);
                Ok(((previous.seq + 1, ts), Last { seq: previous.seq + count as u64, ts }))
            },
            |buf, i, (first_seq, ts)| {
                format::encode(buf, first_seq + i as u64, ts, payload(i));
            },
        )?;
        let (first_seq, ts) = written.plan;
        Ok(BatchAck { first_seq, count: count as u64, ts })
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
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Ok(ImportAck { count: 0, first: None, last: None });
        };
        let first = format::decode(first.as_ref())
            .map_err(|e| Error::payload(&self.path, Some(0), e.to_string()))?;
        let last = format::decode(last.as_ref())
            .map_err(|e| Error::payload(&self.path, None, e.to_string()))?;
        self.write_locked(
            lines.len(),
            |previous| {
                if first.seq <= previous.seq || first.ts < previous.ts {
                    let why = format!(
                        "record with seq {} ts {} does not come after the log's last record (seq {} ts {})",
                        first.seq, first.ts, previous.seq, previous.ts
                    );
                    return Err(Error::payload(&self.path, Some(0), why));
                }
                Ok(((), Last { seq: last.seq, ts: last.ts }))
            },
            |buf, i, ()| {
                buf.extend_from_slice(lines[i].as_ref());
                buf.push(b'\n');
            },
        )?;
        let ack = |f: format::Frame<'_>| Ack { seq: f.seq, ts: f.ts };
        Ok(ImportAck { count: lines.len() as u64, first: Some(ack(first)), last: Some(ack(last)) })
    }

    /// Under the mutex and the lock: finds the end of the file, lets `plan` decide from the
    /// last record (or refuse) and name the last record it will write, has `emit` encode
    /// `count` records into one buffer, writes it with one `write` (one per 8 MiB), keeps the
    /// index, then releases the lock and waits for durability.
    fn write_locked<P: Copy>(
        &self,
        count: usize,
        plan: impl FnOnce(Last) -> Result<(P, Last)>,
        mut emit: impl FnMut(&mut Vec<u8>, usize, P),
    ) -> Result<Written<P>> {
        self.check_poison()?;
        if count == 0 {
            return Err(Error::invalid_argument("nothing to append"));
        }
        let mut state = self.lock_state();
        let guard = self.lock.acquire(&self.path, self.opts.lock_timeout)?;
        let tail = self.current_tail(&mut state)?;
        let (plan, last) = plan(tail.last.unwrap_or(Last { seq: 0, ts: 0 }))?;
        // A failed or short write leaves the end of the file unknown.
        state.tail = None;
        let State { file, buf, .. } = &mut *state;
        buf.clear();
        if tail.torn {
            // Terminate the torn bytes, so the record never merges with them; they stay in the
            // file as a corrupt line that readers skip and `verify` reports.
            buf.push(b'\n');
        }
        let mut len = tail.len;
        for i in 0..count {
            emit(buf, i, plan);
            if buf.len() >= WRITE_CHUNK || i + 1 == count {
                self.write_all_once(file, buf)?;
                len += buf.len() as u64;
                buf.clear();
            }
        }
        state.tail = Some(Tail { len, last: Some(last), torn: false });
        self.maintain_index(&mut state, last.seq, len);
        state.written += 1;
        let ticket = state.written;
        let file = state.file.clone();
        drop(guard);
        drop(state);
        // Syncing after the lock is released lets other writers append meanwhile; this sync
        // covers their records too. Should a compaction replace the file in between, it copied
        // this record into the new file and synced that before the rename.
        match self.opts.durability {
            Durability::Always => self.sync_file(&file)?,
            Durability::Group => self.group.wait(
                ticket,
                || {
                    let (covered, file) = {
                        let state = self.lock_state();
                        (state.written, state.file.clone())
                    };
                    self.sync_file(&file).map(|()| covered)
                },
                || self.check_poison().err(),
            )?,
            Durability::Never => {}
        }
        if let Some(auto) = &self.auto {
            auto.after_append(count as u64, &self.vfs, &self.path, len, || self.first_ts(&file));
        }
        Ok(Written { plan })
    }

    /// The ts of the first record, read from the start of the file.
    fn first_ts(&self, file: &V::File) -> Option<u64> {
        let mut buf = vec![0u8; 4096];
        let n = file.read_at(&mut buf, 0).ok()?;
        crate::reader::Reader::new(&buf[..n]).records().next().map(|r| r.ts)
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
        if last_seq - ix.last_seq().min(last_seq) < u64::from(ix.stride()) {
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
        let _guard = self.lock.acquire(&self.path, self.opts.lock_timeout)?;
        let tail = self.current_tail(&mut state)?;
        let State { index, file, id, index_error, .. } = &mut *state;
        let ix = index.get_or_insert_with(|| IndexWriter::new(&self.path, self.opts.index_stride));
        let result = ix.rebuild(&self.vfs, file, *id, tail.len, self.mode, false);
        *index_error = result.as_ref().err().map(|e| e.to_string());
        result.at(&paths::index_file(&self.path), "rebuild index")
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
            // The log was replaced. Records this handle wrote to the old file must be durable
            // before it moves on: a later sync covers only the new file.
            self.sync_file(&state.file)?;
            let file = self.vfs.open(&self.path, OpenOptions::append(Create::No, 0));
            let file = file.at(&self.path, "reopen")?;
            meta = file.metadata().at(&self.path, "fstat")?;
            state.file = Arc::new(file);
            state.id = meta.id;
            state.tail = None;
        }
        let (floor, below) = match state.tail {
            Some(t) if t.len == meta.len => return Ok(t),
            Some(t) if !t.torn && t.len < meta.len => (t.len, t.last),
            _ => (0, None),
        };
        let found = tail::discover(&*state.file, meta.len, floor, below, &mut state.scratch);
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
fn open_log<V: Vfs>(vfs: &V, path: &Path, opts: &Options) -> Result<(V::File, bool)> {
    if opts.create {
        match vfs.open(path, OpenOptions::append(Create::New, opts.mode)) {
            Ok(file) => return Ok((file, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path, "create", e)),
        }
    }
    let file = vfs.open(path, OpenOptions::append(Create::No, 0)).at(path, "open")?;
    Ok((file, false))
}

fn first_ack(batch: BatchAck) -> Ack {
    Ack { seq: batch.first_seq, ts: batch.ts }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// The wall clock in unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
