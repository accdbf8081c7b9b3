//! A file-system wrapper for tests: the real file system, counting the bytes read from each
//! file, and able to refuse writes to a directory (as a read-only mount would, even for root).

use std::collections::HashMap;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ndlog::fs::{Create, OpenOptions, StdFile, StdFs, Vfs, VfsFile};

use super::hooked_fs::{Hooked, Hooks};

/// The real file system with a [`Probe`].
pub(crate) type ProbeFs = Hooked<Probe>;

#[derive(Clone, Debug, Default)]
pub(crate) struct Probe {
    /// Bytes read, by path.
    pub reads: Arc<Mutex<HashMap<PathBuf, u64>>>,
    /// Refuse to create, rename or remove anything (EROFS).
    pub read_only: Arc<std::sync::atomic::AtomicBool>,
}

impl ProbeFs {
    pub(crate) fn bytes_read(&self, path: &Path) -> u64 {
        self.0.reads.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    pub(crate) fn reset(&self) {
        self.0.reads.lock().unwrap().clear();
    }
    pub(crate) fn set_read_only(&self, on: bool) {
        self.0.read_only.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Probe {
    fn refuse(&self) -> io::Result<()> {
        if self.read_only.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(30)); // EROFS
        }
        Ok(())
    }
}

impl Hooks for Probe {
    fn open(&self, path: &Path, how: &OpenOptions) -> io::Result<()> {
        // Opening an existing file for writing is allowed; creating is not.
        if how.create != Create::No && !path.exists() {
            self.refuse()?;
        }
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.refuse()?;
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.refuse()?;
        StdFs.remove_file(path)
    }
    fn append(&self, path: &Path, file: &StdFile, buf: &[u8]) -> io::Result<usize> {
        if !path.to_string_lossy().ends_with(".ndjson") {
            self.refuse()?;
        }
        file.append(buf)
    }
    fn read_at(&self, path: &Path, file: &StdFile, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let n = file.read_at(buf, at)?;
        *self.reads.lock().unwrap().entry(path.to_path_buf()).or_default() += n as u64;
        Ok(n)
    }
}
