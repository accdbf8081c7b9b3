//! A `Vfs` that forwards every call to the real file system: the `NeverRawForwarded` workload.

use std::path::Path;

/// A `Vfs` that forwards every call to the real file system, to show that the seam is free.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forward;

/// A file of [`Forward`].
#[derive(Debug)]
pub(crate) struct Forwarded(ndlog::fs::StdFile);

impl ndlog::fs::Vfs for Forward {
    type File = Forwarded;
    type Map = <ndlog::fs::StdFs as ndlog::fs::Vfs>::Map;
    fn open(&self, path: &Path, how: ndlog::fs::OpenOptions) -> std::io::Result<Forwarded> {
        ndlog::fs::StdFs.open(path, how).map(Forwarded)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<ndlog::fs::Metadata> {
        ndlog::fs::StdFs.metadata(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        ndlog::fs::StdFs.list_dir(dir)
    }
    fn create_dir(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        ndlog::fs::StdFs.create_dir(path, mode)
    }
    fn map(&self, file: &Forwarded, len: u64) -> std::io::Result<Self::Map> {
        ndlog::fs::StdFs.map(&file.0, len)
    }
}

impl ndlog::fs::VfsFile for Forwarded {
    fn append(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        self.0.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> std::io::Result<()> {
        self.0.sync_all()
    }
    fn metadata(&self) -> std::io::Result<ndlog::fs::Metadata> {
        self.0.metadata()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn try_lock(&self) -> std::io::Result<bool> {
        self.0.try_lock()
    }
    fn unlock(&self) -> std::io::Result<()> {
        self.0.unlock()
    }
    fn set_permissions(&self, mode: u32) -> std::io::Result<()> {
        self.0.set_permissions(mode)
    }
}
