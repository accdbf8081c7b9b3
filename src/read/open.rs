//! A log file mapped for reading, re-mapped on request to see appends and replacements.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fs::{FileId, FileKind, OpenOptions, StdFs, Vfs, VfsFile};
use crate::index::{IndexCheck, IndexProblem};
use crate::names;
use crate::read::Reader;
use crate::read::last_record::Tail;
use crate::read::reader::Beyond;

/// The bytes of a log file as mapped at one moment, plus what is needed to map it again.
/// Use it through [`Reader`]: `Reader::open(path)`.
#[derive(Debug)]
pub struct Mapped<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    /// The open file; `None` once [`Reader::close_file`] closed it (the map stays).
    file: Option<V::File>,
    map: V::Map,
    id: FileId,
    /// The end of the file as last seen: the map covers it up to the end of its last record.
    tail: Tail,
    /// Identity and length of the index file when it was last loaded.
    index_seen: Option<(FileId, u64)>,
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
    /// Opens and maps the file; returns the bytes past the last record too (copied, never
    /// mapped: see [`map_records`]).
    fn open(vfs: V, path: &Path) -> Result<(Self, Beyond)> {
        let resolved = vfs.resolve(path).at(path, "resolve symlink")?;
        Self::open_resolved(vfs, &resolved)
            .map_err(|e| crate::fs::named_as_given(e, path, &resolved))
    }

    /// [`Mapped::open`] of the file at `path`, a path no symlink leads away from.
    fn open_resolved(vfs: V, path: &Path) -> Result<(Self, Beyond)> {
        let meta = vfs.metadata(path).at(path, "stat")?;
        if meta.kind == FileKind::Dir {
            let why = "it is a directory: a segmented log is read with `ndlog::Log` or \
                       `ndlog::segments::SegmentedReader`";
            return Err(Error::not_a_log(path, why));
        }
        // A FIFO or a device is refused by the open itself, which never waits for a peer.
        let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
        let meta = VfsFile::metadata(&file).at(path, "fstat")?;
        if meta.kind != FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        let (map, tail, beyond) = map_records(&vfs, &file, meta.len, None, path)?;
        let mapped = Mapped {
            vfs,
            path: path.to_path_buf(),
            file: Some(file),
            map,
            id: meta.id,
            tail,
            index_seen: None,
        };
        Ok((mapped, beyond))
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
        let (mapped, beyond) = Mapped::open(vfs, path)?;
        let mut reader = Reader::new(mapped).with_path(path);
        reader.beyond = beyond;
        reader.load_index();
        Ok(reader)
    }

    /// Closes the file and keeps its map, for a file that no longer changes (a sealed
    /// segment): a reader of a log of thousands of segments then holds no file descriptor for
    /// each. A later [`Reader::refresh`] opens it again.
    pub(crate) fn close_file(&mut self) {
        self.data.file = None;
    }

    /// Which file is mapped (device and inode): a compaction's new log is another.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("events.ndjson");
    /// # ndlog::Writer::open(&path)?;
    /// let reader = ndlog::Reader::open(&path)?;
    /// use std::os::unix::fs::MetadataExt;
    /// assert_eq!(reader.file_id().ino, std::fs::metadata(&path).unwrap().ino());
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn file_id(&self) -> FileId {
        self.data.id
    }

    /// The end of the file as last mapped: its last record, and what lies after it.
    pub(crate) fn known_tail(&self) -> Tail {
        self.data.tail
    }

    /// The file system and the log's path after symlinks (where its sidecars are).
    pub(crate) fn vfs_and_path(&self) -> (&V, &Path) {
        (&self.data.vfs, &self.data.path)
    }

    /// Maps `LOG.idx` and attaches it when it describes this log; see
    /// [`Reader::index_problem`] for why it is not used when it is not. An index that cannot
    /// be read is no error: lookups then search the log itself.
    fn load_index(&mut self) {
        let mapped = &mut self.data;
        match crate::index::load(&mapped.vfs, &mapped.path) {
            Ok(Some((file, map))) => {
                let seen = VfsFile::metadata(&file).ok().map(|m| (m.id, m.len));
                mapped.index_seen = seen;
                let log_id = mapped.id;
                let _ = self.attach_index_for(Box::new(map), Some(log_id));
            }
            Ok(None) | Err(_) => {
                mapped.index_seen = None;
                self.index = None;
                self.index_problem = Some(IndexProblem::Missing);
            }
        }
    }

    /// Checks every entry of `LOG.idx` against the log as it is now (a full scan of the log,
    /// mapped again after the index is read).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] when the index exists but cannot be read.
    pub fn check_index(&self) -> Result<IndexCheck> {
        let mapped = &self.data;
        let idx_path = names::index_file(&mapped.path);
        match crate::index::load(&mapped.vfs, &mapped.path).at(&idx_path, "open")? {
            None => Ok(IndexCheck { problem: Some(IndexProblem::Missing), ..Default::default() }),
            Some((_, map)) => {
                // Writers index records only once they are in the log, so a log mapped after
                // the index holds every record it names; this reader's map may be older. (A
                // segment sealed or removed since is no longer at its path: its map is used.)
                match Mapped::open(mapped.vfs.clone(), &mapped.path) {
                    Ok((now, _)) => {
                        let log = Reader::new(now.map.as_ref());
                        Ok(super::indexed::check(&log, map.as_ref(), Some(now.id)))
                    }
                    Err(_) => Ok(super::indexed::check(self, map.as_ref(), Some(mapped.id))),
                }
            }
        }
    }

    /// Whether the index file changed since it was loaded.
    fn index_changed(&self) -> bool {
        let mapped = &self.data;
        let now = mapped.vfs.metadata(&names::index_file(&mapped.path)).ok().map(|m| (m.id, m.len));
        now != mapped.index_seen
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
        // A file closed by `close_file` is opened again to see whether it changed; the file
        // mapped is read only while it is still the one at the path.
        let reopened = match &mapped.file {
            None if meta.id == mapped.id => {
                let file = mapped.vfs.open(path, OpenOptions::read());
                let file = file.map_err(|e| crate::fs::refused(path, e))?;
                let id = VfsFile::metadata(&file).at(path, "fstat")?.id;
                (id == mapped.id).then_some(file)
            }
            _ => None,
        };
        let file = mapped.file.as_ref().or(reopened.as_ref()).filter(|_| meta.id == mapped.id);
        let refreshed = if let Some(file) = file {
            // A preallocated segment keeps its size: appends show at the end of its last
            // record (`content` is rounded up to a block, and appends land below it).
            let padded = mapped.tail.content < mapped.tail.len;
            let grew_in_place = padded
                && (mapped.tail.torn || {
                    let mut byte = [0u8; 1];
                    match crate::fs::read_exact_at(file, &mut byte, mapped.tail.end) {
                        Ok(()) => byte[0] != b'\n',
                        // Sealed meanwhile: its padding was trimmed.
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
                        Err(e) => return Err(Error::io(path, "read", e)),
                    }
                });
            if meta.len == mapped.tail.len && !grew_in_place {
                if self.index_changed() {
                    self.load_index();
                }
                return Ok(Refresh::Unchanged);
            }
            let (vfs, path) = (&mapped.vfs, mapped.path.as_path());
            let (map, tail, beyond) = map_records(vfs, file, meta.len, Some(mapped.tail), path)?;
            // The index was validated against the old map; drop it before the map goes.
            self.index = None;
            let mapped = &mut self.data;
            (mapped.map, mapped.tail, self.beyond) = (map, tail, beyond);
            if reopened.is_some() {
                mapped.file = reopened;
            }
            Refresh::Resized
        } else {
            self.index = None;
            let (vfs, path) = (mapped.vfs.clone(), mapped.path.clone());
            (self.data, self.beyond) = Mapped::open(vfs, &path)?;
            Refresh::Replaced
        };
        self.load_index();
        Ok(refreshed)
    }
}

/// What a reader copies of the bytes after a file's last record, at most. They hold no record
/// (a write in progress, crash debris); a file with more after its last record is mostly not an
/// ndlog log, and the rest is reported as damage not read.
const MAX_BEYOND: u64 = 16 << 20;

/// Maps the file up to the end of its last record, found with `pread` (not through a map), and
/// copies the bytes after it: a write in progress, or crash debris that a writer may still
/// overwrite with newlines (FORMAT.md, section 4). So no reference into the map ever covers
/// bytes that can change.
fn map_records<V: Vfs>(
    vfs: &V,
    file: &V::File,
    mut len: u64,
    known: Option<Tail>,
    path: &Path,
) -> Result<(V::Map, Tail, Beyond)> {
    // Again with the file's new size if it shrank meanwhile: sealing a preallocated segment
    // trims its padding (never a record) while others may be reading it.
    loop {
        match map_records_once(vfs, file, len, known, path) {
            Err(e)
                if matches!(e.kind(), crate::ErrorKind::Io { cause, .. }
                    if cause.kind() == io::ErrorKind::UnexpectedEof) =>
            {
                match file.metadata() {
                    Ok(meta) if meta.len < len => len = meta.len,
                    _ => return Err(e),
                }
            }
            mapped => return mapped,
        }
    }
}

/// [`map_records`] for a file of `len` bytes.
fn map_records_once<V: Vfs>(
    vfs: &V,
    file: &V::File,
    len: u64,
    known: Option<Tail>,
    path: &Path,
) -> Result<(V::Map, Tail, Beyond)> {
    // A preallocated segment (by its name) ends in newline padding, found first: only what is
    // before it is read, and only that is copied.
    let padded = crate::segments::naming::is_padded(path);
    let tail = crate::consume::watermark::discover_synced(
        vfs,
        path,
        file,
        len,
        known,
        &mut Vec::new(),
        padded,
    );
    let tail = tail.at(path, "read")?;
    let map = vfs.map(file, tail.end).at(path, "mmap")?;
    let len = tail.content;
    let mut beyond = vec![0u8; (len - tail.end).min(MAX_BEYOND) as usize];
    crate::fs::read_exact_at(file, &mut beyond, tail.end).at(path, "read")?;
    if len - tail.end > MAX_BEYOND {
        // Whole lines only; the rest is reported as not read.
        beyond.truncate(memchr::memrchr(b'\n', &beyond).map_or(0, |i| i + 1));
    }
    let unread = len - tail.end - beyond.len() as u64;
    Ok((map, tail, Beyond { bytes: beyond, unread }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose file was closed keeps reading its map, and a refresh opens the file
    /// again: it sees appends to it, and another file put at its path.
    #[test]
    fn a_closed_file_is_opened_again_by_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.ndjson");
        let writer = crate::Writer::open(&path).unwrap();
        writer.append_raw(b"1").unwrap();
        let mut reader = Reader::open(&path).unwrap();
        reader.close_file();
        assert!(reader.data.file.is_none());
        assert_eq!(reader.refresh().unwrap(), Refresh::Unchanged);
        assert!(reader.data.file.is_none(), "nothing changed: it stays closed");
        writer.append_raw(b"2").unwrap();
        assert_eq!(reader.refresh().unwrap(), Refresh::Resized);
        assert!(reader.data.file.is_some());
        assert_eq!(reader.records().map(|r| r.data).collect::<Vec<_>>(), [b"1", b"2"]);
        drop(writer);
        reader.close_file();
        let other = dir.path().join("other.ndjson");
        crate::Writer::open(&other).unwrap().append_raw(b"3").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(reader.refresh().unwrap(), Refresh::Replaced);
        assert_eq!(reader.records().map(|r| r.data).collect::<Vec<_>>(), [b"3"]);
    }
}
