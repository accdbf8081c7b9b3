//! The real file system, through rustix system calls.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, FlockOperation, Gid, Mode, OFlags, StatxFlags, Uid};
use rustix::io::Errno;

use super::{Create, FileId, FileKind, Metadata, OpenOptions, Vfs, VfsFile, not_a_regular_file};
use crate::fs::{Map, SharedMap};

/// The operating system's file system. Zero-sized: the engine's calls compile to the system
/// calls themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

/// A file open on the real file system.
#[derive(Debug)]
pub struct StdFile {
    fd: OwnedFd,
}

/// Retries a system call interrupted by a signal before it did anything.
fn retry<T>(mut call: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

fn metadata_of(st: &rustix::fs::Stat) -> Metadata {
    Metadata {
        id: FileId { dev: st.st_dev, ino: st.st_ino },
        len: u64::try_from(st.st_size).unwrap_or(0),
        kind: kind_of(st.st_mode),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
    }
}

fn metadata_of_statx(st: &rustix::fs::Statx) -> Metadata {
    let mode = u32::from(st.stx_mode);
    Metadata {
        id: FileId {
            dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        },
        len: st.stx_size,
        kind: kind_of(mode),
        mode: mode & 0o7777,
        uid: st.stx_uid,
        gid: st.stx_gid,
    }
}

fn kind_of(st_mode: u32) -> FileKind {
    match FileType::from_raw_mode(st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        _ => FileKind::Other,
    }
}

/// What a file of this type is, for an error that refuses it.
fn what(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Fifo => "a FIFO",
        FileType::Directory => "a directory",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        FileType::Symlink => "a symlink",
        _ => "a special file",
    }
}

/// What [`Metadata`] holds, and nothing else. Leaving out the timestamps matters: on a file
/// system with multigrain timestamps (ext4, XFS, btrfs... since Linux 6.13), a stat that reads
/// the ctime or mtime obliges the next `write` to store a fresh fine-grained timestamp and dirty
/// the inode, which measured ~1 µs per append here. (Owner and group cost nothing of the kind.)
const STATX_MASK: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::MODE)
    .union(StatxFlags::INO)
    .union(StatxFlags::SIZE)
    .union(StatxFlags::UID)
    .union(StatxFlags::GID);

/// `statx` of `path` (or of `fd` itself when `path` is empty), asking for [`STATX_MASK`];
/// `None` where the kernel or a sandbox refuses `statx`, or the file system did not fill in
/// every field asked for (its zeros would read as another inode or an empty file), for the
/// caller to fall back to `stat`.
fn statx_metadata(fd: impl AsFd, path: &Path, flags: AtFlags) -> io::Result<Option<Metadata>> {
    match retry(|| rustix::fs::statx(&fd, path, flags, STATX_MASK)) {
        Ok(st) if StatxFlags::from_bits_retain(st.stx_mask).contains(STATX_MASK) => {
            Ok(Some(metadata_of_statx(&st)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.raw_os_error().is_some_and(is_statx_refused) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `statx` missing (before Linux 4.11) or blocked by a seccomp filter.
fn is_statx_refused(errno: i32) -> bool {
    errno == Errno::NOSYS.raw_os_error() || errno == Errno::PERM.raw_os_error()
}

impl Vfs for StdFs {
    type File = StdFile;
    type Map = Map;

    /// Opens with `O_NONBLOCK`, so that a FIFO (waiting for a peer) or a device (waiting for
    /// a carrier) at the path cannot block the open, and `O_NOCTTY`, so that a terminal never
    /// becomes the process's controlling one; then `fstat`s the descriptor and refuses
    /// anything but a regular file before a byte is read or written. `O_NONBLOCK` is cleared
    /// again on a regular file, where it means nothing to Linux but might to a FUSE server.
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<StdFile> {
        let mut flags = OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        flags |= if how.write { OFlags::RDWR } else { OFlags::RDONLY };
        if how.append {
            flags |= OFlags::APPEND;
        }
        match how.create {
            Create::No => {}
            Create::IfMissing => flags |= OFlags::CREATE,
            Create::New => flags |= OFlags::CREATE | OFlags::EXCL,
        }
        if how.no_follow {
            flags |= OFlags::NOFOLLOW;
        }
        let mode = Mode::from_raw_mode(how.mode);
        let fd = match retry(|| rustix::fs::open(path, flags, mode)) {
            Err(e) if e.raw_os_error() == Some(Errno::ISDIR.raw_os_error()) => {
                return Err(not_a_regular_file(what(FileType::Directory)));
            }
            Err(e) if how.no_follow && e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                return Err(super::symlink_refused(&e));
            }
            other => other?,
        };
        let file_type = FileType::from_raw_mode(retry(|| rustix::fs::fstat(&fd))?.st_mode);
        if file_type != FileType::RegularFile {
            return Err(not_a_regular_file(what(file_type)));
        }
        retry(|| rustix::fs::fcntl_setfl(&fd, flags & OFlags::APPEND))?;
        Ok(StdFile { fd })
    }

    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        match statx_metadata(rustix::fs::CWD, path, AtFlags::empty())? {
            Some(meta) => Ok(meta),
            None => Ok(metadata_of(&rustix::fs::stat(path)?)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        Ok(rustix::fs::rename(from, to)?)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        Ok(rustix::fs::unlink(path)?)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = retry(|| rustix::fs::open(dir, flags, Mode::empty()))?;
        retry(|| rustix::fs::fsync(&fd))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?.map(|entry| entry.map(|e| e.file_name())).collect()
    }

    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdir(path, Mode::from_raw_mode(mode))?)
    }

    fn map(&self, file: &StdFile, len: u64) -> io::Result<Map> {
        Map::new(&file.fd, len)
    }

    fn resolve(&self, path: &Path) -> io::Result<std::path::PathBuf> {
        match rustix::fs::lstat(path) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                std::fs::canonicalize(path)
            }
            _ => Ok(path.to_path_buf()),
        }
    }

    fn available(&self, dir: &Path) -> io::Result<Option<u64>> {
        let st = rustix::fs::statvfs(dir)?;
        Ok(Some(st.f_bavail.saturating_mul(st.f_frsize)))
    }

    fn watchable(&self) -> bool {
        true
    }

    fn map_shared(&self, file: &StdFile, len: u64) -> io::Result<Option<SharedMap>> {
        SharedMap::new(&file.fd, len).map(Some)
    }
}

impl VfsFile for StdFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        retry(|| rustix::io::write(&self.fd, buf))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        retry(|| rustix::io::pwrite(&self.fd, buf, offset))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        retry(|| rustix::io::pread(&self.fd, &mut *buf, offset))
    }

    fn sync_data(&self) -> io::Result<()> {
        // Retried on EINTR alone: any other failure must reach the caller, who poisons the
        // handle, because a second fdatasync can report success for pages the kernel dropped.
        retry(|| rustix::fs::fdatasync(&self.fd))
    }

    fn sync_all(&self) -> io::Result<()> {
        retry(|| rustix::fs::fsync(&self.fd))
    }

    fn metadata(&self) -> io::Result<Metadata> {
        match statx_metadata(&self.fd, Path::new(""), AtFlags::EMPTY_PATH)? {
            Some(meta) => Ok(meta),
            None => Ok(metadata_of(&rustix::fs::fstat(&self.fd)?)),
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        retry(|| rustix::fs::ftruncate(&self.fd, len))
    }

    fn try_lock(&self) -> io::Result<bool> {
        match retry(|| rustix::fs::flock(&self.fd, FlockOperation::NonBlockingLockExclusive)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn unlock(&self) -> io::Result<()> {
        retry(|| rustix::fs::flock(&self.fd, FlockOperation::Unlock))
    }

    fn set_permissions(&self, mode: u32) -> io::Result<()> {
        retry(|| rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(mode)))
    }

    fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        let st = retry(|| rustix::fs::fstat(&self.fd))?;
        if (st.st_uid, st.st_gid) == (uid, gid) {
            return Ok(());
        }
        // `-1` leaves an id as it is (and is no valid id to give).
        let uid = (uid != u32::MAX).then(|| Uid::from_raw(uid));
        let gid = (gid != u32::MAX).then(|| Gid::from_raw(gid));
        retry(|| rustix::fs::fchown(&self.fd, uid, gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `statx` and `stat` must agree: file identities are stored in index headers, so a change
    /// in how the device number is formed would orphan every existing index.
    #[test]
    fn statx_agrees_with_stat() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        for path in [file.as_path(), dir.path()] {
            let via_statx = statx_metadata(rustix::fs::CWD, path, AtFlags::empty()).unwrap();
            let via_stat = metadata_of(&rustix::fs::stat(path).unwrap());
            if let Some(via_statx) = via_statx {
                assert_eq!(via_statx, via_stat, "{}", path.display());
            }
        }
        let fd = StdFs.open(&file, OpenOptions::read()).unwrap();
        assert_eq!(fd.metadata().unwrap(), metadata_of(&rustix::fs::fstat(&fd.fd).unwrap()));
        assert_eq!(fd.metadata().unwrap().len, 5);
    }

    /// Anyone who can create files beside a log can plant a FIFO where ndlog opens one: no
    /// open may wait for its other end, and none may succeed.
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0)
            .unwrap();
        let every_way = [
            OpenOptions::read(),
            OpenOptions::read().no_follow(),
            OpenOptions::append(Create::No, 0),
            OpenOptions::append(Create::IfMissing, 0o600),
            OpenOptions::read_write(Create::IfMissing, 0o600),
        ];
        let cases = [(fifo.as_path(), "a FIFO"), (dir.path(), "a directory")];
        let cases = cases.into_iter().chain([(Path::new("/dev/null"), "a character device")]);
        for (path, what) in cases {
            for how in every_way {
                let err = StdFs.open(path, how).unwrap_err();
                assert!(super::super::is_not_a_regular_file(&err), "{path:?} {how:?}: {err}");
                assert!(err.to_string().contains(what), "{err}");
            }
        }
        // Nothing to wait for on a regular file either: the descriptor blocks as usual.
        let file = dir.path().join("f");
        let fd = StdFs.open(&file, OpenOptions::append(Create::New, 0o600)).unwrap();
        let flags = rustix::fs::fcntl_getfl(&fd.fd).unwrap();
        assert!(!flags.contains(OFlags::NONBLOCK) && flags.contains(OFlags::APPEND), "{flags:?}");
    }

    /// `set_owner` gives a file away where the process may (root), and does nothing when the
    /// file has that owner already (which anyone may ask).
    #[test]
    fn set_owner_changes_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        let fd = StdFs.open(&file, OpenOptions::append(Create::New, 0o600)).unwrap();
        let meta = fd.metadata().unwrap();
        fd.set_owner(meta.uid, meta.gid).unwrap();
        if !rustix::process::geteuid().is_root() {
            assert!(fd.set_owner(meta.uid.wrapping_add(1), meta.gid).is_err());
            return;
        }
        fd.set_owner(65534, 65533).unwrap();
        let meta = StdFs.metadata(&file).unwrap();
        assert_eq!((meta.uid, meta.gid), (65534, 65533));
        assert_eq!(fd.metadata().unwrap(), meta);
    }
}
