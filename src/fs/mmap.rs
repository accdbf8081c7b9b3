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
