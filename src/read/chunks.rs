//! Reading a stretch of a log with `pread`, a chunk at a time, as entries. For writers and the
//! compactor, which read files other processes are appending to and do not map them.

use std::io;

use crate::fs::VfsFile;
use crate::read::{Entry, Reader};

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// Calls `each(base, chunk, entry)` for every entry in the complete lines of `from..to`
/// (`from` a line start): the entry's offsets are relative to `chunk`, which starts at file
/// offset `base`. Returns the end of the last complete line: the bytes after it are a torn tail
/// or a write in progress.
pub(crate) fn for_each_entry<F: VfsFile + ?Sized>(
    file: &F,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(u64, &[u8], Entry<'_>) -> io::Result<()>,
) -> io::Result<u64> {
    let mut base = from;
    let mut want = CHUNK;
    while base < to {
        let len = usize::try_from(to - base).unwrap_or(usize::MAX).min(want);
        buf.resize(len, 0);
        crate::fs::read_exact_at(file, buf, base)?;
        let Some(end) = memchr::memrchr(b'\n', buf).map(|i| i + 1) else {
            if base + len as u64 >= to {
                break;
            }
            // A line longer than the chunk: read more of it at once.
            want = want.saturating_mul(2);
            continue;
        };
        for entry in Reader::new(&buf[..end]).entries() {
            each(base, &buf[..end], entry)?;
        }
        base += end as u64;
    }
    Ok(base)
}
