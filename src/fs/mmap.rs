//! The only place ndlog maps a file, and so the only `unsafe` code in the crate.

use std::io;
use std::os::fd::OwnedFd;

/// A read-only memory map of a file's first bytes; empty files map to an empty slice.
#[derive(Debug)]
pub struct Map(Option<memmap2::Mmap>);

impl Map {
    /// Maps the first `len` bytes of `fd` read-only.
    pub(crate) fn new(fd: &OwnedFd, len: u64) -> io::Result<Map> {
        if len == 0 {
            return Ok(Map(None));
        }
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
        // SAFETY: memmap2 requires that the mapped bytes are not modified while the map lives.
        // ndlog never shrinks a log or its index (the only files it maps) in place: writers
        // append past the end, and compaction and index repair replace a file by rename, which
        // leaves this inode and its bytes intact for as long as the map holds it. The one
        // in-place write ndlog makes, overwriting crash debris with newlines, touches only bytes
        // after a log's last record, and callers map a log only up to the end of its last
        // record, found with pread (read::last_record, FORMAT.md section 4): no byte mapped here
        // is ever one of them. The residual risk is another program truncating or overwriting
        // the file, which ndlog cannot prevent: a truncation raises SIGBUS on access (the README
        // says so in plain words).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(fd)? };
        Ok(Map(Some(map)))
    }
}

impl AsRef<[u8]> for Map {
    fn as_ref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// A shared, writable memory map of a file's first bytes (`MAP_SHARED`): what one process
/// writes into it, every process that maps or reads the file sees at once, through the page
/// cache. ndlog maps only its entity-version table (`LOG.versions`) so, and touches it only
/// while holding the log's writer lock. Nothing hands out a reference into it: bytes are copied
/// in and out by [`SharedMap::read`] and [`SharedMap::write`].
#[derive(Debug)]
pub struct SharedMap(memmap2::MmapRaw);

impl SharedMap {
    /// Maps the first `len` bytes of `fd` (which the file must hold) for reading and writing.
    pub(crate) fn new(fd: &OwnedFd, len: u64) -> io::Result<SharedMap> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "cannot map this length"))?;
        Ok(SharedMap(memmap2::MmapOptions::new().len(len).map_raw(fd)?))
    }

    /// How many bytes are mapped.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is mapped (never: a map holds at least one byte).
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Copies the mapped bytes at `offset` into `buf`; false (and nothing copied) when they are
    /// not all mapped.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        if offset.checked_add(buf.len()).is_none_or(|end| end > self.0.len()) {
            return false;
        }
        // SAFETY: `offset..offset + buf.len()` lies inside the mapping (checked above), which
        // memmap2 keeps alive as long as `self`, and `buf` is a distinct allocation of that
        // length, so the copy stays inside two valid, non-overlapping ranges. No reference into
        // the mapping is ever made, only copies, so no Rust aliasing rule covers its bytes. Two
        // invariants keep them readable and unraced: ndlog never shrinks the file it maps so
        // (`LOG.versions` only grows, and is only ever rewritten in place), and every process
        // reads and writes it only while holding the log's writer lock. The residual risk is
        // another program truncating the file, which raises SIGBUS on access (README), and a
        // full copy-on-write file system refusing the page a write needs (the table allocates
        // its blocks with `pwrite` before it maps them, which is all a file system that
        // overwrites in place needs).
        unsafe {
            std::ptr::copy_nonoverlapping(self.0.as_ptr().add(offset), buf.as_mut_ptr(), buf.len());
        }
        true
    }

    /// Copies `buf` into the mapped bytes at `offset`; false (and nothing copied) when they are
    /// not all mapped.
    pub fn write(&self, offset: usize, buf: &[u8]) -> bool {
        if offset.checked_add(buf.len()).is_none_or(|end| end > self.0.len()) {
            return false;
        }
        // SAFETY: as in `read`: the range lies inside the live mapping, `buf` does not overlap
        // it, no reference into the mapping exists, and only the holder of the writer lock
        // touches these bytes (the map is writable: `map_raw` maps with PROT_WRITE and
        // MAP_SHARED).
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr(), self.0.as_mut_ptr().add(offset), buf.len());
        }
        true
    }
}
