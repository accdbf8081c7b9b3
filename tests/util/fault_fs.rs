//! The real file system with one operation made to fail: the Nth call that changes something
//! (create, write, sync, rename, remove, fchmod) returns EIO, once or from then on. Used to
//! walk a workload through a failure at every step.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ndlog::fs::{Create, OpenOptions, StdFile, StdFs, Vfs, VfsFile};

#[derive(Clone, Debug, Default)]
pub(crate) struct FaultFs {
    pub state: Arc<Faults>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Operations counted so far.
    pub ops: AtomicU64,
    /// Fail operation number `fail_at` (1-based; 0 = never).
    pub fail_at: AtomicU64,
    /// Keep failing every operation after the first failure.
    pub persistent: AtomicBool,
    /// Whether a failure was injected.
    pub fired: AtomicBool,
}

impl FaultFs {
    pub(crate) fn failing_at(n: u64, persistent: bool) -> Self {
        let fs = FaultFs::default();
        fs.state.fail_at.store(n, Ordering::SeqCst);
        fs.state.persistent.store(persistent, Ordering::SeqCst);
        fs
    }

    pub(crate) fn fired(&self) -> bool {
        self.state.fired.load(Ordering::SeqCst)
    }

    fn step(&self) -> io::Result<()> {
        let n = self.state.ops.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.state.fail_at.load(Ordering::SeqCst);
        let failing =
            at != 0 && (n == at || (n > at && self.state.persistent.load(Ordering::SeqCst)));
        if failing {
            self.state.fired.store(true, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(5));
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct FaultFile {
    inner: StdFile,
    fs: FaultFs,
}

impl Vfs for FaultFs {
    type File = FaultFile;
    type Map = <StdFs as Vfs>::Map;
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<FaultFile> {
        if how.create != Create::No {
            self.step()?;
        }
        Ok(FaultFile { inner: StdFs.open(path, how)?, fs: self.clone() })
    }
    fn metadata(&self, path: &Path) -> io::Result<ndlog::fs::Metadata> {
        StdFs.metadata(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step()?;
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.step()?;
        StdFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        StdFs.list_dir(dir)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        StdFs.create_dir(path, mode)
    }
    fn map(&self, file: &FaultFile, len: u64) -> io::Result<Self::Map> {
        StdFs.map(&file.inner, len)
    }
}

impl VfsFile for FaultFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        self.fs.step()?;
        self.inner.append(buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.fs.step()?;
        self.inner.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.step()?;
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.fs.step()?;
        self.inner.sync_all()
    }
    fn metadata(&self) -> io::Result<ndlog::fs::Metadata> {
        self.inner.metadata()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.step()?;
        self.inner.set_len(len)
    }
    fn try_lock(&self) -> io::Result<bool> {
        self.inner.try_lock()
    }
    fn unlock(&self) -> io::Result<()> {
        self.inner.unlock()
    }
    fn set_permissions(&self, mode: u32) -> io::Result<()> {
        self.fs.step()?;
        self.inner.set_permissions(mode)
    }
}
