//! The table file as one writer handle holds it: a descriptor, and a shared map of it where the
//! file system has one (the real one), so that a lookup or an update costs no system call.
//! Elsewhere (the simulated file system) the same bytes are read and written with
//! `pread`/`pwrite`, to the same effect: both go through the page cache every process shares.

use std::io;
use std::path::Path;

use crate::fs::{Create, FileKind, OpenOptions, SharedMap, Vfs, VfsFile};

/// An open `LOG.versions`.
#[derive(Debug)]
pub(crate) struct TableFile<F> {
    file: F,
    map: Option<SharedMap>,
    /// The file system refused a shared map: use `pread`/`pwrite` from then on.
    unmappable: bool,
}

impl<F: VfsFile> TableFile<F> {
    /// Opens the table, creating it (with permission bits `mode`) when missing, never through a
    /// symlink, and only a regular file.
    pub(crate) fn open<V: Vfs<File = F>>(vfs: &V, path: &Path, mode: u32) -> io::Result<Self> {
        let file = vfs.open(path, OpenOptions::read_write(Create::IfMissing, mode))?;
        if file.metadata()?.kind != FileKind::File {
            return Err(crate::fs::not_a_regular_file("a special file"));
        }
        Ok(TableFile { file, map: None, unmappable: false })
    }

    /// The file's length.
    pub(crate) fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len)
    }

    /// Maps at least the first `len` bytes, where the file system maps; fails when the file is
    /// shorter (a map past the end of a file faults when touched).
    pub(crate) fn map_to<V: Vfs<File = F>>(&mut self, vfs: &V, len: u64) -> io::Result<()> {
        if self.unmappable || self.map.as_ref().is_some_and(|m| m.len() as u64 >= len) {
            return Ok(());
        }
        let file_len = self.len()?;
        if file_len < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "table shorter than its slots",
            ));
        }
        self.map = None;
        match vfs.map_shared(&self.file, file_len)? {
            Some(map) => self.map = Some(map),
            None => self.unmappable = true,
        }
        Ok(())
    }

    /// Whether the table is mapped (the real file system).
    #[cfg(test)]
    pub(crate) fn mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Reads `buf.len()` bytes at `offset`: from the map when it holds them.
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if let Some(map) = &self.map
            && let Ok(at) = usize::try_from(offset)
            && map.read(at, buf)
        {
            return Ok(());
        }
        crate::fs::read_exact_at(&self.file, buf, offset)
    }

    /// Writes `buf` at `offset`: into the map when it holds those bytes, else with `pwrite`,
    /// which also allocates the blocks of any new length before a map ever covers them (on a
    /// file system that overwrites in place, a write through the map then never needs a block
    /// the disk may not have).
    pub(crate) fn write(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if let Some(map) = &self.map
            && let Ok(at) = usize::try_from(offset)
            && map.write(at, buf)
        {
            return Ok(());
        }
        crate::fs::write_all_at(&self.file, buf, offset)
    }
}
