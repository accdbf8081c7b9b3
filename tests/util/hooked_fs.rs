//! The real file system with a test's hooks on what tests intercept: appends and syncs.
//! Everything else goes to `StdFs` unchanged, so a test writes only the behaviour it injects.

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::path::Path;

use ndlog::fs::{Metadata, OpenOptions, StdFile, StdFs, Vfs, VfsFile};

/// What a test does instead of the real call; each defaults to the real call.
pub(crate) trait Hooks: Clone + Debug + Send + Sync + 'static {
    fn append(&self, file: &StdFile, buf: &[u8]) -> io::Result<usize> {
        file.append(buf)
    }
    fn sync_data(&self, file: &StdFile) -> io::Result<()> {
        file.sync_data()
    }
    fn sync_all(&self, file: &StdFile) -> io::Result<()> {
        file.sync_all()
    }
}

/// `StdFs` with the hooks `H`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hooked<H>(pub H);

/// A file of [`Hooked`].
#[derive(Debug)]
pub(crate) struct HookedFile<H> {
    inner: StdFile,
    hooks: H,
}

impl<H: Hooks> Vfs for Hooked<H> {
    type File = HookedFile<H>;
    type Map = <StdFs as Vfs>::Map;
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<HookedFile<H>> {
        Ok(HookedFile { inner: StdFs.open(path, how)?, hooks: self.0.clone() })
    }
    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        StdFs.metadata(path)
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
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        StdFs.list_dir(dir)
    }
    fn map(&self, file: &HookedFile<H>, len: u64) -> io::Result<Self::Map> {
        StdFs.map(&file.inner, len)
    }
}

impl<H: Hooks> VfsFile for HookedFile<H> {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        self.hooks.append(&self.inner, buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
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
        self.inner.set_len(len)
    }
    fn try_lock(&self) -> io::Result<bool> {
        self.inner.try_lock()
    }
    fn unlock(&self) -> io::Result<()> {
        self.inner.unlock()
    }
}
