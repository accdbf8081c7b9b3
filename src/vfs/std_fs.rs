//! The real file system, through rustix system calls.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{Create, FileId, FileKind, Metadata, OpenOptions, Vfs, VfsFile};
use crate::mmap::Map;

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
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        _ => FileKind::Other,
    };
    Metadata {
        id: FileId { dev: st.st_dev, ino: st.st_ino },
        len: u64::try_from(st.st_size).unwrap_or(0),
        kind,
        mode: st.st_mode & 0o7777,
    }
}

impl Vfs for StdFs {
    type File = StdFile;
    type Map = Map;

    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<StdFile> {
        let mut flags = OFlags::CLOEXEC;
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
        let fd = retry(|| rustix::fs::open(path, flags, mode))?;
        Ok(StdFile { fd })
    }

    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        Ok(metadata_of(&rustix::fs::stat(path)?))
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
        // Not retried on EINTR alone: any other failure must reach the caller, who poisons the
        // handle, because a second fdatasync can report success for pages the kernel dropped.
        retry(|| rustix::fs::fdatasync(&self.fd))
    }

    fn sync_all(&self) -> io::Result<()> {
        retry(|| rustix::fs::fsync(&self.fd))
    }

    fn metadata(&self) -> io::Result<Metadata> {
        Ok(metadata_of(&rustix::fs::fstat(&self.fd)?))
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
}
