//! Opening a log for appending: refuse what ndlog did not write, take the lock, learn the end
//! of the file, and make the log's name durable before the first record is acknowledged. And
//! [`LogLock::acquire_log`], which takes the same lock for a caller, refusing the same files.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, IoContext, Result};
use crate::fs::{
    Create, FileKind, LockFile, LogLock, Metadata, OpenOptions, StdFs, Vfs, VfsFile, only_a_file,
    open_writer_lock,
};
use crate::names;

use super::auto_compact::AutoState;
use super::chain::ChainWriter;
use super::dedup::DedupState;
use super::derive::LogAt;
use super::derived::Derived;
use super::group::Combiner;
use super::index::IndexWriter;
use super::versions::Versions;
use super::{Options, State, Writer};

impl<V: Vfs> Writer<V> {
    pub(crate) fn open_with(vfs: V, path: &Path, opts: Options) -> Result<Self> {
        let resolved = vfs.resolve(path).at(path, "resolve symlink")?;
        Self::open_resolved(vfs, &resolved, opts)
            .map_err(|e| crate::fs::named_as_given(e, path, &resolved))
    }

    /// [`Writer::open_with`] of the log at `path`, a path no symlink leads away from.
    fn open_resolved(vfs: V, path: &Path, opts: Options) -> Result<Self> {
        let existing = match vfs.metadata(path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(path, "stat", e)),
        };
        if existing.is_none()
            && opts.create
            && let Some(settings) = opts.segments
        {
            let (max, mode, chain) = (opts.max_record_size, opts.mode, opts.chain);
            match crate::segments::active::create_with(&vfs, path, &settings, max, mode, chain) {
                Ok(()) => return Writer::open_segmented(vfs, path, opts),
                // Another process created it meanwhile: open what it created.
                Err(e) if already_exists(&e) => return Writer::open_segmented(vfs, path, opts),
                Err(e) => return Err(e),
            }
        }
        match &existing {
            Some(meta) if meta.kind == FileKind::Dir => {
                return Writer::open_segmented(vfs, path, opts);
            }
            Some(meta) => only_a_file(path, meta.kind)?,
            None if !opts.create => {
                let missing = io::Error::from(io::ErrorKind::NotFound);
                return Err(Error::io(path, "open", missing));
            }
            None => {}
        }
        // Nothing is created beside a file ndlog did not write: it is refused first.
        let lock = match &existing {
            Some(meta) => writer_lock(&vfs, path, meta)?,
            None => LockFile::open(&vfs, &names::lock_file(path), opts.mode, None)?,
        };
        let guard = lock.acquire(path, opts.lock_timeout)?;
        if opts.chain && existing.is_none() {
            // Durable before the log exists: a crash never leaves a new log unmarked.
            ChainWriter::prepare(&vfs, path, opts.mode)?;
        }
        let file = open_log(&vfs, path, &opts)?;
        let meta = file.metadata().at(path, "fstat")?;
        if meta.kind != FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        if meta.len == 0 {
            // (A failure leaves the mark: at worst a seq gap after a crash, never a record lost.)
            let _ = crate::consume::watermark::void_left_behind(&vfs, path, meta.id);
        }
        let mut scratch = Vec::new();
        let found = crate::consume::watermark::discover_synced(
            &vfs,
            path,
            &file,
            meta.len,
            None,
            &mut scratch,
            false,
        )
        .at(path, "read")?;
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
        let index = opts
            .index
            .then(|| IndexWriter::new(path, opts.index_stride).sole_writer(opts.exclusive));
        let table = opts.version_table.then(|| names::versions_file(path));
        let versions =
            opts.entity_key.clone().map(|key| Versions::new(key, opts.entity_cache, table));
        let last_seq = found.last.map_or(0, |l| l.seq);
        let chain = ChainWriter::open(&vfs, path, &file, found.end, last_seq, opts.chain, mode)?;
        let dedup = opts.dedup.clone().map(DedupState::new);
        let mut derived = Derived { dedup, index, versions, chain };
        let log = LogAt {
            vfs: &vfs,
            file: &file,
            id: meta.id,
            // (Up to the last record: what follows is debris, an unfinished write's records
            // among it, which the first append moves away.)
            len: found.end,
            mode,
            last_seq,
            now: 0,
            older: None,
        };
        derived.opened(&log).at(path, "read")?;
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
            active: path.to_path_buf(),
            segment: None,
            tail: Some(found),
            buf: Vec::new(),
            scratch,
            derived,
            unsynced_writes: 0,
            synced_writes: 0,
            staged: (Vec::new(), Vec::new()),
        };
        Ok(Writer {
            vfs,
            path: path.to_path_buf(),
            opts,
            settings: None,
            lock,
            mode,
            state: Mutex::new(state),
            group: Combiner::default(),
            sync_lock: Mutex::default(),
            cover: Default::default(),
            auto,
            poison: OnceLock::new(),
        })
    }
}

fn already_exists(e: &Error) -> bool {
    matches!(e.kind(), crate::ErrorKind::Io { cause, .. } if cause.kind() == io::ErrorKind::AlreadyExists)
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
    vfs.open(path, OpenOptions::append(Create::No, 0)).map_err(|e| crate::fs::refused(path, e))
}

/// Opens the writer lock of the existing log at `log`, refusing a file ndlog did not write
/// before anything is created beside it: a non-empty file is a log when its last record can be
/// found the way a writer finds it, so that the refusal here and the one under the lock agree.
fn writer_lock<V: Vfs>(vfs: &V, log: &Path, meta: &Metadata) -> Result<LockFile<V::File>> {
    open_writer_lock(vfs, log, meta, |file, len| {
        let tail = crate::consume::watermark::find_end(vfs, log, file, len, false);
        Ok(tail?.last.is_some())
    })
}

impl LogLock {
    /// Takes the writer lock of the ndlog log at `log`, waiting up to `timeout`, refusing what
    /// a writer refuses: unlike [`LogLock::acquire`], which locks any path, this one creates
    /// nothing beside a file ndlog did not write, and gives a new lock file the log's mode and
    /// owner, as a writer would (`ndlog lock` uses it).
    ///
    /// # Errors
    /// [`crate::ErrorKind::LockTimeout`]; [`crate::ErrorKind::NotALog`] for a directory, a
    /// special file, or a file ndlog did not write (nothing is created beside it);
    /// [`crate::ErrorKind::Io`] when the log does not exist or the lock file cannot be opened.
    pub fn acquire_log(log: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        Self::acquire_log_in(StdFs, log, timeout)
    }
}

impl<V: Vfs> LogLock<V> {
    /// Takes the writer lock of the ndlog log at `log` on the file system `vfs`.
    ///
    /// # Errors
    /// As [`LogLock::acquire_log`].
    pub fn acquire_log_in(vfs: V, log: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        let log = vfs.resolve(log.as_ref()).at(log.as_ref(), "resolve symlink")?;
        let log = log.as_path();
        let meta = vfs.metadata(log).at(log, "stat")?;
        if meta.kind == FileKind::Dir {
            // A segmented log: what makes it one is its settings file.
            crate::segments::Settings::load(&vfs, log)?;
            let path = names::segmented_lock_file(log);
            let lock = LockFile::open(&vfs, &path, meta.mode & 0o666, None)?;
            std::mem::forget(lock.acquire(log, timeout)?);
            return Ok(LogLock::holding(lock));
        }
        only_a_file(log, meta.kind)?;
        let lock = writer_lock(&vfs, log, &meta)?;
        std::mem::forget(lock.acquire(log, timeout)?);
        Ok(LogLock::holding(lock))
    }
}
