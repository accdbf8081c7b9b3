//! Reading a stretch of a log with `pread`, a chunk at a time, as entries. For writers and the
//! compactor, which read files other processes are appending to and do not map them.

use std::io;

use crate::format::LineError;
use crate::fs::VfsFile;
use crate::read::{Entry, Reader};

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;

/// The longest line a record can fill: the largest record size a writer accepts, and room for
/// its frame. A longer line is damage, passed on a chunk at a time instead of held whole.
const LONGEST_LINE: usize = crate::Options::MAX_RECORD_SIZE_LIMIT + 256;

/// Calls `each(base, chunk, entry)` for every entry in the complete lines of `from..to`
/// (`from` a line start): the entry's offsets are relative to `chunk`, which starts at file
/// offset `base`. Returns the end of the last complete line: the bytes after it are a torn tail
/// or a write in progress. A line longer than [`LONGEST_LINE`] comes as several
/// [`Entry::Corrupt`] pieces of at most [`CHUNK`] bytes ([`LineError::TooLong`]), then its last
/// [`LONGEST_LINE`] bytes as entries (a record after the damage on its line, as a reader finds
/// it), so memory stays bounded by the longest line a record can fill, whatever the damage.
pub(crate) fn for_each_entry<F: VfsFile + ?Sized>(
    file: &F,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    each: impl FnMut(u64, &[u8], Entry<'_>) -> io::Result<()>,
) -> io::Result<u64> {
    entries_within(file, from, to, buf, LONGEST_LINE, each)
}

/// [`for_each_entry`], with lines longer than `longest` passed on in pieces.
fn entries_within<F: VfsFile + ?Sized>(
    file: &F,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    longest: usize,
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
            if want >= longest {
                // No record fills this line, but one may end it (a reader resynchronises to a
                // record that follows damage on its line): once the line is complete, all of it
                // but its last `longest` bytes is passed on in pieces, and those are read as a
                // reader reads them.
                buf.clear();
                buf.shrink_to(CHUNK);
                let Some(end) = line_end(file, base + len as u64, to, buf)? else { break };
                let last = end.saturating_sub(longest as u64).max(base);
                pieces(file, base, last, buf, &mut each)?;
                let n = usize::try_from(end - last).unwrap_or(usize::MAX);
                buf.resize(n, 0);
                crate::fs::read_exact_at(file, buf, last)?;
                for entry in Reader::new(&buf[..]).entries() {
                    each(last, &buf[..], entry)?;
                }
                base = end;
                want = CHUNK;
                continue;
            }
            // A line longer than the chunk: read more of it at once.
            want = want.saturating_mul(2).min(longest.max(CHUNK));
            continue;
        };
        for entry in Reader::new(&buf[..end]).entries() {
            each(base, &buf[..end], entry)?;
        }
        base += end as u64;
    }
    Ok(base)
}

/// The end (past its newline) of the line that runs on at `from`, if it ends before `to`.
fn line_end<F: VfsFile + ?Sized>(
    file: &F,
    mut from: u64,
    to: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    while from < to {
        let len = read_piece(file, from, to, buf)?;
        if let Some(i) = memchr::memchr(b'\n', buf) {
            return Ok(Some(from + i as u64 + 1));
        }
        from += len as u64;
    }
    Ok(None)
}

/// Reads into `buf` the bytes at `from`, up to [`CHUNK`] of them and none past `to`; returns
/// how many.
fn read_piece<F: VfsFile + ?Sized>(
    file: &F,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    let len = usize::try_from(to - from).unwrap_or(usize::MAX).min(CHUNK);
    buf.resize(len, 0);
    crate::fs::read_exact_at(file, buf, from)?;
    Ok(len)
}

/// Passes `from..to` on as [`Entry::Corrupt`] pieces of at most [`CHUNK`] bytes.
fn pieces<F: VfsFile + ?Sized>(
    file: &F,
    mut from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    each: &mut impl FnMut(u64, &[u8], Entry<'_>) -> io::Result<()>,
) -> io::Result<()> {
    while from < to {
        let len = read_piece(file, from, to, buf)?;
        let piece = Entry::Corrupt { offset: 0, len: len as u64, reason: LineError::TooLong };
        each(from, buf, piece)?;
        from += len as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Create, OpenOptions, Vfs};
    use crate::sim::SimFs;

    /// An entry as `entries_within` passes it on: file offset, length, and the record's seq.
    type Seen = (u64, u64, Option<u64>);

    /// The entries of `bytes`, where the walk ended, and the buffer's capacity after it.
    fn walk(bytes: &[u8], longest: usize) -> (Vec<Seen>, u64, usize) {
        let fs = SimFs::new(1);
        let file =
            fs.open("/log".as_ref(), OpenOptions::read_write(Create::IfMissing, 0o600)).unwrap();
        file.append(bytes).unwrap();
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        let end = entries_within(&file, 0, bytes.len() as u64, &mut buf, longest, |base, _, e| {
            seen.push(match e {
                Entry::Record(r) => (base + r.offset, r.line.len() as u64 + 1, Some(r.seq)),
                Entry::Corrupt { offset, len, .. } => (base + offset, len, None),
                Entry::Padding { offset, len } | Entry::TornTail { offset, len } => {
                    (base + offset, len, None)
                }
            });
            Ok(())
        })
        .unwrap();
        (seen, end, buf.capacity())
    }

    #[test]
    fn a_line_longer_than_any_record_comes_in_pieces_and_memory_stays_bounded() {
        let mut log = Vec::new();
        crate::format::encode(&mut log, 1, 1, b"1");
        let damage_at = log.len() as u64;
        log.extend(std::iter::repeat_n(b'x', 5 * CHUNK + 10));
        log.push(b'\n');
        let after = log.len() as u64;
        crate::format::encode(&mut log, 2, 1, b"2");
        let (seen, end, capacity) = walk(&log, 2 * CHUNK);
        assert_eq!(end, log.len() as u64);
        assert_eq!(seen.first().map(|s| s.2), Some(Some(1)));
        assert_eq!(seen.last().map(|s| s.2), Some(Some(2)));
        // The damage, in pieces of at most a chunk, then its last 2 MiB read as a reader reads
        // them: together they cover it exactly.
        let pieces = &seen[1..seen.len() - 1];
        assert_eq!(pieces.len(), 5, "{pieces:?}");
        let mut at = damage_at;
        for (i, &(offset, len, seq)) in pieces.iter().enumerate() {
            assert_eq!((offset, seq), (at, None));
            assert!(len <= if i + 1 < pieces.len() { CHUNK as u64 } else { 2 * CHUNK as u64 });
            at += len;
        }
        assert_eq!(at, after);
        assert!(capacity <= 2 * CHUNK, "{capacity}");
        // Without the bound, the line is held whole (the buffer grows past it) and comes once.
        let (seen, _, capacity) = walk(&log, usize::MAX);
        assert_eq!(seen.len(), 3);
        assert!(capacity > 5 * CHUNK);
    }

    /// Damage longer than any record, then a record on the same line (no newline between, as
    /// a torn write followed by the next append leaves them): the record is found, as a reader
    /// finds it, and the damage before it comes in pieces.
    #[test]
    fn a_record_that_ends_a_long_damaged_line_is_found() {
        let mut log = Vec::new();
        crate::format::encode(&mut log, 1, 1, b"1");
        let damage_at = log.len() as u64;
        log.extend(std::iter::repeat_n(b'x', 5 * CHUNK + 10));
        let record_at = log.len() as u64;
        crate::format::encode(&mut log, 2, 1, b"2");
        crate::format::encode(&mut log, 3, 1, b"3");
        let reader: Vec<u64> = Reader::new(&log[..]).records().map(|r| r.seq).collect();
        assert_eq!(reader, [1, 2, 3]);
        let (seen, end, capacity) = walk(&log, 2 * CHUNK);
        assert_eq!(end, log.len() as u64);
        let records: Vec<(u64, Option<u64>)> =
            seen.iter().filter(|s| s.2.is_some()).map(|s| (s.0, s.2)).collect();
        assert_eq!(records[..2], [(0, Some(1)), (record_at, Some(2))]);
        assert_eq!(records.len(), 3);
        // The damage, covered exactly by what is not a record, in order.
        let mut at = damage_at;
        for &(offset, len, _) in seen.iter().filter(|s| s.2.is_none()) {
            assert_eq!(offset, at);
            at += len;
        }
        assert_eq!(at, record_at);
        assert!(capacity <= 2 * CHUNK + 4096, "{capacity}");
    }

    #[test]
    fn a_long_line_without_its_newline_is_left_for_later() {
        let mut log = Vec::new();
        crate::format::encode(&mut log, 1, 1, b"1");
        let torn_at = log.len() as u64;
        log.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        let (seen, end, _) = walk(&log, CHUNK);
        assert_eq!(end, torn_at);
        assert_eq!(seen.iter().map(|s| s.2).collect::<Vec<_>>(), [Some(1)]);
    }
}
