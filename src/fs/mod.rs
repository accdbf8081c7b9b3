//! The file-system seam: every file-system call the engine makes goes through [`Vfs`] and
//! [`VfsFile`]. [`StdFs`] is the real file system; a fault-injecting implementation
//! ([`crate::sim::SimFs`]) can replace it without touching the engine. The engine is generic
//! over `V: Vfs`, so the choice is made at compile time and the real path pays nothing for the
//! seam.
//!
//! - [`Vfs`], [`VfsFile`], [`OpenOptions`], [`Create`], [`Metadata`], [`FileId`], [`FileKind`]:
//!   the seam.
//! - [`StdFs`], [`StdFile`]: the real file system, through `rustix` (`statx` without
//!   timestamps, `O_NOFOLLOW` opens, non-blocking opens that refuse anything but a regular
//!   file).
//! - [`Map`], [`SharedMap`]: the memory maps (read-only for logs and indexes, shared and
//!   writable for the entity-version table), and the crate's only `unsafe`.
//! - [`LogLock`]: the writer lock of a log, for callers that need to hold it themselves.
//! - [`atomic_write`]: whole-file replacement for the small files beside a log.

mod atomic;
mod boot;
mod lock;
mod mmap;
mod std_fs;

pub use atomic::{atomic_write, atomic_write_in, sweep_temps};
pub use lock::LogLock;
pub(crate) use lock::{LockFile, LockGuard, only_a_file, open_writer_lock};
pub use mmap::{Map, SharedMap};

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::path::Path;

pub use std_fs::{StdFile, StdFs};

/// A file system as the engine sees it.
///
/// # Errors
/// Every method returns the `io::Error` the operation gave (a fault-injecting implementation
/// returns the one it injects); the engine adds the path and the operation.
#[allow(clippy::missing_errors_doc)]
pub trait Vfs: Clone + Debug + Send + Sync + 'static {
    /// An open file.
    type File: VfsFile;
    /// A read-only view of a file's first bytes (a memory map on the real file system).
    type Map: AsRef<[u8]> + Debug + Send + Sync + 'static;

    /// Opens `path` as `how` says.
    ///
    /// ndlog only ever opens regular files, and anyone who can create files beside a log can
    /// plant a FIFO or a device at a path it opens. So an implementation never blocks in the
    /// open (a FIFO opened for reading would wait for a writer, forever) and fails for
    /// anything but a regular file, with [`not_a_regular_file`]'s error.
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<Self::File>;
    /// Metadata of `path`, following symlinks.
    fn metadata(&self, path: &Path) -> io::Result<Metadata>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Creates the directory `path` with permission bits `mode` (before the umask); fails with
    /// `AlreadyExists` when anything is at the path. The new name is durable only after a
    /// [`Vfs::sync_dir`] of its parent. File systems that cannot keep the directories of
    /// segmented logs keep the default, which fails with `Unsupported`.
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        let _ = (path, mode);
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Maps the first `len` bytes of `file` read-only.
    fn map(&self, file: &Self::File, len: u64) -> io::Result<Self::Map>;

    /// The path of the file itself when `path` is a symlink to it, else `path`. ndlog keeps
    /// its sidecar files (lock, index) beside the real file, so that every writer of one log
    /// takes the same lock whatever path it was given. File systems without symlinks keep the
    /// default.
    fn resolve(&self, path: &Path) -> io::Result<std::path::PathBuf> {
        Ok(path.to_path_buf())
    }

    /// Bytes free for an unprivileged user on the file system that holds `dir`, where the file
    /// system can say (`Ok(None)` otherwise): a preallocated segment is not begun where it
    /// cannot fit. Only the real file system says.
    fn available(&self, dir: &Path) -> io::Result<Option<u64>> {
        let _ = dir;
        Ok(None)
    }

    /// Whether the operating system reports changes to this file system's files through
    /// inotify, so that a follower can wait for them instead of polling. Only the real file
    /// system does.
    fn watchable(&self) -> bool {
        false
    }

    /// Maps the first `len` bytes of `file` (opened for writing, and at least that long) for
    /// reading and writing, shared with every process (see [`SharedMap`]); `Ok(None)` where
    /// the file system has no such maps, and callers read and write the file with
    /// [`VfsFile::read_at`] and [`VfsFile::write_at`] instead, to the same effect. Only the
    /// real file system maps.
    fn map_shared(&self, file: &Self::File, len: u64) -> io::Result<Option<SharedMap>> {
        let _ = (file, len);
        Ok(None)
    }

    /// The identity of the machine's current boot (Linux's `/proc/sys/kernel/random/boot_id`),
    /// `None` where it is unknown. ndlog trusts the one file it never syncs and keeps across
    /// opens, the entity-version table (`LOG.versions`), only within the boot that wrote it:
    /// after a power loss its pages may be any mix of old and new, while within one boot the
    /// page cache is the same for every process. A simulated file system starts a new boot at
    /// each crash ([`crate::sim::SimFs::crash`]).
    fn boot_id(&self) -> Option<[u8; 16]> {
        boot::this_boot()
    }
}

/// An open file.
///
/// # Errors
/// Every method returns the `io::Error` the operation gave.
#[allow(clippy::missing_errors_doc)]
pub trait VfsFile: Debug + Send + Sync + 'static {
    /// One `write` at the end of a file opened for appending. May write fewer bytes than given.
    fn append(&self, buf: &[u8]) -> io::Result<usize>;
    /// One positioned write (`pwrite`); not for files opened for appending.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// One positioned read (`pread`); returns 0 at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// `fdatasync`: the file's data, and the metadata needed to read it, are durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: data and all metadata are durable.
    fn sync_all(&self) -> io::Result<()>;
    /// Metadata of the open file (`fstat`).
    fn metadata(&self) -> io::Result<Metadata>;
    /// Sets the file's length (`ftruncate`).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Tries to take an exclusive advisory lock (`flock(LOCK_EX | LOCK_NB)`); `Ok(false)` when
    /// another open file description holds it. The kernel drops it when the holder dies.
    fn try_lock(&self) -> io::Result<bool>;
    /// Releases the lock taken by [`VfsFile::try_lock`].
    fn unlock(&self) -> io::Result<()>;
    /// Sets the file's permission bits (`fchmod`), whatever the umask made of them at creation.
    fn set_permissions(&self, mode: u32) -> io::Result<()> {
        let _ = mode;
        Ok(())
    }
    /// Gives the file this owner and group (`fchown`); does nothing when it has them already.
    /// Fails with `PermissionDenied` where the process may not (only root gives a file away).
    /// File systems without owners keep the default, which does nothing.
    fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        let _ = (uid, gid);
        Ok(())
    }
}

/// What [`Vfs::open`] fails with when the path names anything but a regular file (`what` it
/// is instead: "a FIFO", "a directory"...). ndlog recognises it: a FIFO at `LOG.idx` then
/// means no usable index, and a FIFO given as the log is not a log.
pub fn not_a_regular_file(what: &str) -> io::Error {
    let kind = if what == "a directory" {
        io::ErrorKind::IsADirectory
    } else {
        io::ErrorKind::InvalidInput
    };
    io::Error::new(kind, NotARegularFile(what.to_owned()))
}

/// Whether `e` is [`not_a_regular_file`]'s error.
pub(crate) fn is_not_a_regular_file(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotARegularFile>())
}

/// The error of an `O_NOFOLLOW` open that met a symlink, which the OS words as "too many
/// levels of symbolic links".
pub(crate) fn symlink_refused(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), SymlinkRefused)
}

/// Whether `e` says an `O_NOFOLLOW` open met a symlink: [`symlink_refused`]'s error, or the
/// bare `ELOOP` of a file system that does not say so itself.
pub(crate) fn is_symlink_refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
        || e.get_ref().is_some_and(|inner| inner.is::<SymlinkRefused>())
}

/// The cause inside [`symlink_refused`]'s error.
#[derive(Debug)]
struct SymlinkRefused;

impl std::fmt::Display for SymlinkRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a symlink is at this path, and ndlog does not follow one here")
    }
}

impl std::error::Error for SymlinkRefused {}

/// The error for a log that cannot be opened: [`crate::ErrorKind::NotALog`] for a special
/// file or a directory, naming what it is; an I/O error otherwise.
pub(crate) fn refused(log: &Path, e: io::Error) -> crate::Error {
    if is_not_a_regular_file(&e) {
        crate::Error::not_a_log(log, e.to_string())
    } else {
        crate::Error::io(log, "open", e)
    }
}

/// `e`, naming `log` (the path given) where it named `target` (where the symlink at `log`
/// led) as not a log: the user knows the path they gave, not where it led.
pub(crate) fn named_as_given(e: crate::Error, log: &Path, target: &Path) -> crate::Error {
    match e.kind() {
        crate::ErrorKind::NotALog { path, reason } if path == target && log != target => {
            let reason = format!("{reason} (it is a symlink to {})", target.display());
            crate::Error::not_a_log(log, reason)
        }
        _ => e,
    }
}

/// The cause inside [`not_a_regular_file`]'s error.
#[derive(Debug)]
struct NotARegularFile(String);

impl std::fmt::Display for NotARegularFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a regular file but {}", self.0)
    }
}

impl std::error::Error for NotARegularFile {}

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open for reading and writing (otherwise read only).
    pub write: bool,
    /// Every write goes to the end of the file (`O_APPEND`).
    pub append: bool,
    /// Whether and how to create the file.
    pub create: Create,
    /// Permission bits of a created file.
    pub mode: u32,
    /// Refuse to open a symlink at the final component (`O_NOFOLLOW`).
    pub no_follow: bool,
}

/// Whether [`Vfs::open`] creates the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// The file must exist.
    No,
    /// Create it when missing.
    IfMissing,
    /// Create it; fail with `AlreadyExists` when anything exists at the path (`O_EXCL`).
    New,
}

impl OpenOptions {
    /// Read only; the file must exist.
    pub const fn read() -> Self {
        OpenOptions { write: false, append: false, create: Create::No, mode: 0, no_follow: false }
    }

    /// Read and append, creating the file with `mode` as `create` says.
    pub const fn append(create: Create, mode: u32) -> Self {
        OpenOptions { write: true, append: true, create, mode, no_follow: false }
    }

    /// Read and positioned writes, creating the file with `mode` as `create` says. Never follows a
    /// symlink: used for the lock file.
    pub const fn read_write(create: Create, mode: u32) -> Self {
        OpenOptions { write: true, append: false, create, mode, no_follow: true }
    }

    /// The same options, refusing a symlink at the final path component.
    pub const fn no_follow(mut self) -> Self {
        self.no_follow = true;
        self
    }
}

/// What the engine needs to know about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Identity of the file: device and inode. A rename over the path changes it.
    pub id: FileId,
    /// Length in bytes.
    pub len: u64,
    /// The kind of file.
    pub kind: FileKind,
    /// Permission bits (`0o600` and so on).
    pub mode: u32,
    /// Owner's user id: files ndlog creates beside a log take the log's owner.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
}

/// Device and inode: which file a path or descriptor refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// The kind of a file-system entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else (device, socket, fifo, symlink seen without following).
    Other,
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
pub(crate) fn read_exact_at<F: VfsFile + ?Sized>(
    file: &F,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Appends all of `buf`, looping over short writes.
pub(crate) fn append_all<F: VfsFile + ?Sized>(file: &F, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match file.append(buf)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Writes all of `buf` with positioned writes starting at `offset`.
pub(crate) fn write_all_at<F: VfsFile + ?Sized>(
    file: &F,
    mut buf: &[u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}
