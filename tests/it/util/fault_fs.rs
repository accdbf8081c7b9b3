//! The real file system with one operation made to fail: the Nth call that changes something
//! (create, write, sync, rename, remove, truncate, fchmod) returns EIO, once or from then on.
//! Used to walk a workload through a failure at every step: `Hooked(FaultFs::failing_at(..))`.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ndlog::fs::{Create, OpenOptions, StdFile, StdFs, Vfs, VfsFile};

use super::hooked_fs::Hooks;

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

impl Hooks for FaultFs {
    fn open(&self, _: &Path, how: &OpenOptions) -> io::Result<()> {
        if how.create != Create::No { self.step() } else { Ok(()) }
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
    fn append(&self, _: &Path, file: &StdFile, buf: &[u8]) -> io::Result<usize> {
        self.step()?;
        file.append(buf)
    }
    fn write_at(&self, _: &Path, file: &StdFile, buf: &[u8], at: u64) -> io::Result<usize> {
        self.step()?;
        file.write_at(buf, at)
    }
    fn sync_data(&self, file: &StdFile) -> io::Result<()> {
        self.step()?;
        file.sync_data()
    }
    fn sync_all(&self, file: &StdFile) -> io::Result<()> {
        self.step()?;
        file.sync_all()
    }
    fn set_len(&self, file: &StdFile, len: u64) -> io::Result<()> {
        self.step()?;
        file.set_len(len)
    }
    fn set_permissions(&self, file: &StdFile, mode: u32) -> io::Result<()> {
        self.step()?;
        file.set_permissions(mode)
    }
}
