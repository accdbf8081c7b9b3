//! A log file mapped for reading, re-mapped on request to see appends and replacements.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::reader::Reader;
use crate::vfs::{FileId, FileKind, OpenOptions, StdFs, Vfs};

/// The bytes of a log file as mapped at one moment, plus what is needed to map it again.
/// Use it through [`Reader`]: `Reader::open(path)`.
#[derive(Debug)]
pub struct Mapped<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    file: V::File,
    map: V::Map,
    id: FileId,
}

/// What [`Reader::refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Same file, same length.
    Unchanged,
    /// Same file, new length: appends are visible now.
    Resized,
    /// A different file is at the path (compaction replaced the log): the reader now maps it.
    Replaced,
}

impl<V: Vfs> AsRef<[u8]> for Mapped<V> {
    fn as_ref(&self) -> &[u8] {
        self.map.as_ref()
    }
}

impl<V: Vfs> Mapped<V> {
    fn open(vfs: V, path: &Path) -> Result<Self> {
        let meta = vfs.metadata(path).at(path, "stat")?;
        if meta.kind == FileKind::Dir {
            return Err(Error::not_a_log(path, "it is a directory"));
        }
        let file = vfs.open(path, OpenOptions::read()).at(path, "open")?;
        let meta = crate::vfs::VfsFile::metadata(&file).at(path, "fstat")?;
        if meta.kind != FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        let map = vfs.map(&file, meta.len).at(path, "mmap")?;
        Ok(Mapped {
            vfs,
            path: path.to_path_buf(),
            file,
            map,
            id: meta.id,
        })
    }

    /// Which file is mapped.
    pub fn file_id(&self) -> FileId {
        self.id
    }
}

impl Reader<Mapped<StdFs>> {
    /// Maps the log at `path` for reading. The reader never writes to the log.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] naming the path when it cannot be opened or mapped;
    /// [`crate::ErrorKind::NotALog`] for a directory or special file.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?.append_raw(b"{\"n\":1}")?;
    /// let reader = ndlog::Reader::open(&path)?;
    /// for record in reader.records() {
    ///     println!("{} {} {}", record.seq, record.ts, String::from_utf8_lossy(record.data));
    /// }
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_in(StdFs, path)
    }
}

impl<V: Vfs> Reader<Mapped<V>> {
    /// Maps the log at `path` on the file system `vfs`.
    ///
    /// # Errors
    /// As [`Reader::open`].
    pub fn open_in(vfs: V, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(Reader::new(Mapped::open(vfs, path)?).with_path(path))
    }

    /// Maps the file again to see what changed since it was mapped: appends, or a new file
    /// put in place by compaction. Records borrowed from the old map must be dropped first.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] when the path cannot be opened or mapped; the old map stays.
    pub fn refresh(&mut self) -> Result<Refresh> {
        let mapped = &mut self.data;
        let path = mapped.path.as_path();
        let meta = match mapped.vfs.metadata(path) {
            Ok(meta) => meta,
            // Between a crashed compaction's steps the path always exists; a missing path
            // means someone removed the log: keep the current view.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Refresh::Unchanged),
            Err(e) => return Err(Error::io(path, "stat", e)),
        };
        if meta.id == mapped.id {
            let len = mapped.map.as_ref().len() as u64;
            if meta.len == len {
                return Ok(Refresh::Unchanged);
            }
            mapped.map = mapped.vfs.map(&mapped.file, meta.len).at(path, "mmap")?;
            return Ok(Refresh::Resized);
        }
        *mapped = Mapped::open(mapped.vfs.clone(), path)?;
        Ok(Refresh::Replaced)
    }
}
