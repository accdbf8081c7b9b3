//! The real file system with a test's hooks on what tests intercept: opens, renames and
//! removals, directory syncs, appends and writes, syncs, reads, truncations, permission changes
//! and maps. Everything else goes to `StdFs` unchanged, so a test writes only the behaviour it
//! injects.

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};

use ndlog::fs::{Metadata, OpenOptions, SharedMap, StdFile, StdFs, Vfs, VfsFile};

/// What a test does instead of the real call; each defaults to the real call.
pub(crate) trait Hooks: Clone + Debug + Send + Sync + 'static {
    /// Before `path` is opened as `how` says: an error refuses the open.
    fn open(&self, path: &Path, how: &OpenOptions) -> io::Result<()> {
        let _ = (path, how);
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
    /// An append to the file opened at `path`.
    fn append(&self, path: &Path, file: &StdFile, buf: &[u8]) -> io::Result<usize> {
        let _ = path;
        file.append(buf)
    }
    /// A `pwrite` to the file opened at `path`.
    fn write_at(&self, path: &Path, file: &StdFile, buf: &[u8], at: u64) -> io::Result<usize> {
        let _ = path;
        file.write_at(buf, at)
    }
    fn sync_data(&self, file: &StdFile) -> io::Result<()> {
        file.sync_data()
    }
    fn sync_all(&self, file: &StdFile) -> io::Result<()> {
        file.sync_all()
    }
    /// A `pread` of the file opened at `path`.
    fn read_at(&self, path: &Path, file: &StdFile, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let _ = path;
        file.read_at(buf, at)
    }
    fn set_len(&self, file: &StdFile, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    fn set_permissions(&self, file: &StdFile, mode: u32) -> io::Result<()> {
        file.set_permissions(mode)
    }
    /// A map of the first `len` bytes of the file opened at `path`.
    fn map(&self, path: &Path, file: &StdFile, len: u64) -> io::Result<<StdFs as Vfs>::Map> {
        let _ = path;
        StdFs.map(file, len)
    }
}

/// `StdFs` with the hooks `H`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hooked<H>(pub H);

/// A file of [`Hooked`].
#[derive(Debug)]
pub(crate) struct HookedFile<H> {
    inner: StdFile,
    /// The path it was opened at.
    path: PathBuf,
    hooks: H,
}

impl<H: Hooks> Vfs for Hooked<H> {
    type File = HookedFile<H>;
    type Map = <StdFs as Vfs>::Map;
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<HookedFile<H>> {
        self.0.open(path, &how)?;
        let inner = StdFs.open(path, how)?;
        Ok(HookedFile { inner, path: path.to_path_buf(), hooks: self.0.clone() })
    }
    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        StdFs.metadata(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        StdFs.list_dir(dir)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        StdFs.create_dir(path, mode)
    }
    fn map(&self, file: &HookedFile<H>, len: u64) -> io::Result<Self::Map> {
        self.0.map(&file.path, &file.inner, len)
    }
    fn map_shared(&self, file: &HookedFile<H>, len: u64) -> io::Result<Option<SharedMap>> {
        StdFs.map_shared(&file.inner, len)
    }
}

impl<H: Hooks> VfsFile for HookedFile<H> {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        self.hooks.append(&self.path, &self.inner, buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.hooks.write_at(&self.path, &self.inner, buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.hooks.read_at(&self.path, &self.inner, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.hooks.sync_data(&self.inner)
    }
    fn sync_all(&self) -> io::Result<()> {
        self.hooks.sync_all(&self.inner)
    }
    fn metadata(&self) -> io::Result<Metadata> {
        self.inner.metadata()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.hooks.set_len(&self.inner, len)
    }
    fn try_lock(&self) -> io::Result<bool> {
        self.inner.try_lock()
    }
    fn unlock(&self) -> io::Result<()> {
        self.inner.unlock()
    }
    fn set_permissions(&self, mode: u32) -> io::Result<()> {
        self.hooks.set_permissions(&self.inner, mode)
    }
    fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        self.inner.set_owner(uid, gid)
    }
}
