//! The writer lock: an exclusive `flock` on a sidecar lock file, held through an RAII guard.
//!
//! The lock lives on `LOG.lock`, not on the log: compaction replaces the log by rename, and a
//! lock on the replaced inode would protect nothing. `flock` belongs to the open file
//! description, so the kernel releases it when the holder dies, even by SIGKILL: no stale lock.
//! It excludes processes and separate handles; threads sharing one handle are ordered by the
//! handle's mutex, taken before the lock.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::fs::{Create, FileKind, Metadata, OpenOptions, Vfs, VfsFile};
use crate::names;

/// First bytes of a lock file that belongs to a log ndlog created or accepted.
pub(crate) const MARKER: &[u8] = b"ndlog lock v1\n";

/// Spins with `yield_now` this many times before sleeping.
const SPINS: u32 = 16;
/// First sleep between attempts; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_micros(20);
/// Longest sleep between attempts: lock holds are one `write`, so waits are short.
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// An open lock file.
#[derive(Debug)]
pub(crate) struct LockFile<F> {
    file: F,
    path: PathBuf,
}

/// Proof that the lock is held; releases it on drop.
#[derive(Debug)]
#[must_use]
pub(crate) struct LockGuard<'a, F: VfsFile> {
    file: &'a F,
}

impl<F: VfsFile> LockFile<F> {
    /// Opens (creating when missing, with `mode`) the lock file at `path`. A symlink planted at
    /// the path is never followed, and anything but a regular file is refused. With `owner`,
    /// the owner and group of the log beside it, a lock file owned by someone else gets them
    /// where the process may give them (root may; anyone may give a file of theirs a group
    /// they are in): a lock file that root created beside a user's log would otherwise lock
    /// that user out of their own log.
    pub(crate) fn open<V: Vfs<File = F>>(
        vfs: &V,
        path: &Path,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<Self> {
        let how = OpenOptions::read_write(Create::IfMissing, mode);
        let file =
            vfs.open(path, how).map_err(|e| explain(vfs, e, path)).at(path, "open lock file")?;
        Self::opened(file, path, owner)
    }

    /// Opens the lock file at `path` if it exists, creating nothing.
    fn open_existing<V: Vfs<File = F>>(
        vfs: &V,
        path: &Path,
        owner: Option<(u32, u32)>,
    ) -> Result<Option<Self>> {
        match vfs.open(path, OpenOptions::read_write(Create::No, 0)) {
            Ok(file) => Self::opened(file, path, owner).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(explain(vfs, e, path)).at(path, "open lock file"),
        }
    }

    fn opened(file: F, path: &Path, owner: Option<(u32, u32)>) -> Result<Self> {
        let meta = file.metadata().at(path, "fstat")?;
        if meta.kind != FileKind::File {
            let err = io::Error::other("the lock file path is not a regular file");
            return Err(err).at(path, "open lock file");
        }
        if let Some((uid, gid)) = owner
            && (meta.uid, meta.gid) != (uid, gid)
        {
            // Best effort: the lock works whoever owns it, and the log's own writers can
            // still open it when the group at least matches.
            let _ = file.set_owner(uid, gid).or_else(|_| file.set_owner(meta.uid, gid));
        }
        Ok(LockFile { file, path: path.to_path_buf() })
    }

    /// Takes the lock, retrying with backoff for up to `timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::LockTimeout`] naming `log` and the time waited, or an I/O error.
    pub(crate) fn acquire(&self, log: &Path, timeout: Duration) -> Result<LockGuard<'_, F>> {
        if self.try_acquire()? {
            return Ok(LockGuard { file: &self.file });
        }
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut backoff = MIN_BACKOFF;
        loop {
            let waited = start.elapsed();
            if waited >= timeout {
                let (path, lock) = (log.to_path_buf(), self.path.clone());
                return Err(ErrorKind::LockTimeout { path, lock, waited }.into());
            }
            if attempt < SPINS {
                std::thread::yield_now();
            } else {
                std::thread::sleep(backoff.min(timeout - waited));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            attempt += 1;
            if self.try_acquire()? {
                return Ok(LockGuard { file: &self.file });
            }
        }
    }

    fn try_acquire(&self) -> Result<bool> {
        self.file.try_lock().at(&self.path, "flock")
    }

    /// Whether the lock file carries [`MARKER`]: ndlog created or accepted the log beside it.
    pub(crate) fn has_marker(&self) -> Result<bool> {
        let mut buf = [0u8; MARKER.len()];
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], got as u64).at(&self.path, "read")? {
                0 => return Ok(false),
                n => got += n,
            }
        }
        Ok(buf == MARKER)
    }

    /// Writes [`MARKER`] and makes it durable. Call with the lock held.
    pub(crate) fn write_marker(&self, _held: &LockGuard<'_, F>) -> Result<()> {
        crate::fs::write_all_at(&self.file, MARKER, 0).at(&self.path, "write")?;
        self.file.sync_all().at(&self.path, "fsync")
    }
}

/// Says what went wrong when a lock file cannot be opened for a reason ndlog caused itself.
fn explain<V: Vfs>(vfs: &V, e: io::Error, path: &Path) -> io::Error {
    if crate::fs::is_symlink_refused(&e) {
        return io::Error::new(e.kind(), "refusing to follow a symlink at the lock file path");
    }
    let dir = names::parent_dir(path);
    if e.kind() == io::ErrorKind::NotFound && vfs.metadata(dir).is_err() {
        let why = format!("the directory {} does not exist: create it first", dir.display());
        return io::Error::new(e.kind(), why);
    }
    e
}

/// Opens the writer lock file of the log at `log` (`meta` is the log's), creating it only
/// beside a file ndlog may write to: an empty file, or one that `holds_a_record` (given the
/// log open for reading and its length) says holds a valid record; the caller decides that
/// with what writers use to find the last record, so that the two never disagree. A lock file
/// that exists is opened whatever the log holds (its marker then decides, under the lock:
/// FORMAT.md, section 5). So a command refused on a file ndlog did not write (a CSV, a file of
/// NULs) leaves nothing beside it.
///
/// # Errors
/// [`ErrorKind::NotALog`] for such a file; I/O errors naming the file.
pub(crate) fn open_writer_lock<V: Vfs>(
    vfs: &V,
    log: &Path,
    meta: &Metadata,
    holds_a_record: impl FnOnce(&V::File, u64) -> io::Result<bool>,
) -> Result<LockFile<V::File>> {
    let path = names::lock_file(log);
    let owner = Some((meta.uid, meta.gid));
    if let Some(lock) = LockFile::open_existing(vfs, &path, owner)? {
        return Ok(lock);
    }
    if meta.len > 0 {
        let file = vfs.open(log, OpenOptions::read()).map_err(|e| super::refused(log, e))?;
        let len = file.metadata().at(log, "fstat")?.len;
        if len > 0 && !holds_a_record(&file, len).at(log, "read")? {
            return Err(Error::not_a_log(
                log,
                "the file holds no line with a valid ndlog CRC trailer, and ndlog never writes \
                 to or beside a file it did not write",
            ));
        }
    }
    LockFile::open(vfs, &path, meta.mode, owner)
}

/// Refuses a log path that names a directory or a special file, before anything is opened:
/// ndlog only ever opens regular files.
pub(crate) fn only_a_file(log: &Path, kind: FileKind) -> Result<()> {
    match kind {
        FileKind::File => Ok(()),
        FileKind::Dir => Err(Error::not_a_log(log, "it is a directory")),
        FileKind::Other => {
            Err(Error::not_a_log(log, "not a regular file but a FIFO, a device or a socket"))
        }
    }
}

impl<F: VfsFile> Drop for LockGuard<'_, F> {
    fn drop(&mut self) {
        // An unlock can only fail for a bad descriptor; the kernel releases the lock when the
        // descriptor closes in any case.
        let _ = self.file.unlock();
    }
}

/// Holds a log's writer lock: appends from every process wait until it is dropped (or its
/// process dies, which releases it at once). For maintenance that needs the log still, such as
/// a backup copy; `ndlog lock LOG -- CMD` runs a command under it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// # let writer = ndlog::Options::new().lock_timeout(std::time::Duration::ZERO).open(&path)?;
/// let held = ndlog::LogLock::acquire(&path, std::time::Duration::from_secs(1))?;
/// let err = writer.append_raw(b"1").unwrap_err();
/// assert!(matches!(err.kind(), ndlog::ErrorKind::LockTimeout { .. }));
/// drop(held);
/// writer.append_raw(b"1")?;
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct LogLock<V: Vfs = crate::fs::StdFs> {
    lock: LockFile<V::File>,
}

impl LogLock {
    /// Whether ndlog wrote or accepted the log at `path`: its lock file `PATH.lock` starts with
    /// the marker a writer puts there. It tells a log whose only bytes are a torn first record
    /// (a writer killed mid-append) from a file that was never a log. Reads, never creates.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("events.ndjson");
    /// assert!(!ndlog::LogLock::marks(&path));
    /// ndlog::Writer::open(&path)?;
    /// assert!(ndlog::LogLock::marks(&path));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn marks(path: impl AsRef<Path>) -> bool {
        use std::os::unix::fs::OpenOptionsExt as _;
        // The lock file is named after the file a symlinked path leads to, as writers name it;
        // it is opened without blocking (a FIFO planted there) and read only when regular.
        let path = std::fs::canonicalize(path.as_ref()).unwrap_or_else(|_| path.as_ref().into());
        let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW;
        let mut head = [0u8; MARKER.len()];
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(crate::names::lock_file(&path))
            .and_then(|f| match f.metadata()?.is_file() {
                true => std::io::Read::read_exact(&mut &f, &mut head),
                false => Err(io::ErrorKind::InvalidInput.into()),
            })
            .is_ok_and(|()| head == MARKER)
    }

    /// Takes the writer lock of the log (or any file) at `path`, waiting up to `timeout`. The
    /// file need not exist: the lock is on `PATH.lock`, created with mode `0600` when missing,
    /// so a small file beside a log (settings, a registry) can be read, changed and replaced
    /// with [`crate::fs::atomic_write`] under it. A lock file created beside an existing file
    /// gets that file's owner and group where the process may give them (root locking a
    /// user's log must not lock the user out of it).
    ///
    /// # Errors
    /// [`ErrorKind::LockTimeout`]; [`ErrorKind::NotALog`] when `path` is a directory or a
    /// special file (nothing is created beside it); [`ErrorKind::Io`] when the lock file
    /// cannot be opened.
    pub fn acquire(path: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        Self::acquire_in(crate::fs::StdFs, path, timeout)
    }
}

impl<V: Vfs> LogLock<V> {
    /// Takes the writer lock of the file at `path` on the file system `vfs`.
    ///
    /// # Errors
    /// As [`LogLock::acquire`].
    pub fn acquire_in(vfs: V, path: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        let path = vfs.resolve(path.as_ref()).at(path.as_ref(), "resolve symlink")?;
        let path = path.as_path();
        let owner = match vfs.metadata(path) {
            Ok(meta) => {
                only_a_file(path, meta.kind)?;
                Some((meta.uid, meta.gid))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).at(path, "stat"),
        };
        // 0600 whatever the file's own mode: the lock file holds nothing, and a lock others
        // can open is a lock others can hold.
        let lock = LockFile::open(&vfs, &crate::names::lock_file(path), 0o600, owner)?;
        std::mem::forget(lock.acquire(path, timeout)?);
        Ok(LogLock { lock })
    }

    /// Holds `lock`, whose guard was forgotten (released on drop).
    pub(crate) fn holding(lock: LockFile<V::File>) -> Self {
        LogLock { lock }
    }
}

impl<V: Vfs> Drop for LogLock<V> {
    fn drop(&mut self) {
        let _ = self.lock.file.unlock();
    }
}
