//! A file-system wrapper for tests: the real file system, counting the bytes read from each
//! file, and able to refuse writes to a directory (as a read-only mount would, even for root).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ndlog::fs::{Create, OpenOptions, StdFile, StdFs, Vfs, VfsFile};

#[derive(Clone, Debug, Default)]
pub(crate) struct ProbeFs {
    /// Bytes read, by path.
    pub reads: Arc<Mutex<HashMap<PathBuf, u64>>>,
    /// Refuse to create, rename or remove anything (EROFS).
    pub read_only: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
pub(crate) struct ProbeFile {
    inner: StdFile,
    path: PathBuf,
    reads: Arc<Mutex<HashMap<PathBuf, u64>>>,
    read_only: Arc<std::sync::atomic::AtomicBool>,
}

impl ProbeFs {
    pub(crate) fn bytes_read(&self, path: &Path) -> u64 {
        self.reads.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    pub(crate) fn reset(&self) {
        self.reads.lock().unwrap().clear();
    }
    pub(crate) fn set_read_only(&self, on: bool) {
        self.read_only.store(on, std::sync::atomic::Ordering::SeqCst);
    }
    fn refuse(&self) -> io::Result<()> {
        if self.read_only.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(30)); // EROFS
        }
        Ok(())
    }
}

impl Vfs for ProbeFs {
    type File = ProbeFile;
    type Map = <StdFs as Vfs>::Map;
    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<ProbeFile> {
        if how.create != Create::No || how.write {
            // Opening an existing file for writing is allowed; creating is not.
            if how.create != Create::No && !path.exists() {
                self.refuse()?;
            }
            if how.create == Create::New && !path.exists() {
                self.refuse()?;
            }
        }
        Ok(ProbeFile {
            inner: StdFs.open(path, how)?,
            path: path.to_path_buf(),
            reads: self.reads.clone(),
            read_only: self.read_only.clone(),
        })
    }
    fn metadata(&self, path: &Path) -> io::Result<ndlog::fs::Metadata> {
        StdFs.metadata(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.refuse()?;
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.refuse()?;
        StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        StdFs.list_dir(dir)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> io::Result<()> {
        StdFs.create_dir(path, mode)
    }
    fn map(&self, file: &ProbeFile, len: u64) -> io::Result<Self::Map> {
        StdFs.map(&file.inner, len)
    }
}

impl VfsFile for ProbeFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        if self.read_only.load(std::sync::atomic::Ordering::SeqCst)
            && !self.path.to_string_lossy().ends_with(".ndjson")
        {
            return Err(io::Error::from_raw_os_error(30));
        }
        self.inner.append(buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        *self.reads.lock().unwrap().entry(self.path.clone()).or_default() += n as u64;
        Ok(n)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn metadata(&self) -> io::Result<ndlog::fs::Metadata> {
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
