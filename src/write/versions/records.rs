//! Where the record a slot names is in the log, and the record that ends at a covered
//! position: the reads that check the table against the log.

use std::io;
use std::path::Path;

use crate::fs::{OpenOptions, Vfs, VfsFile};
use crate::segments::older::Older;

use super::layout::Slot;

/// Where a slot's record is.
pub(super) enum Held {
    /// In the log: its payload.
    Record(Vec<u8>),
    /// Below the first segment left: retention removed it and every record before it.
    Removed,
    /// Not where the slot says, nor anywhere in the log: the table no longer describes the log.
    Gone,
}

/// A sealed segment opened for reading; `None` when retention removed it meanwhile.
pub(super) fn open_segment<V: Vfs>(vfs: &V, path: &Path) -> io::Result<Option<V::File>> {
    match vfs.open(path, OpenOptions::read()) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The seq of the record whose line ends exactly at `end` (just past its newline), if one
/// does.
pub(super) fn seq_ending_at<F: VfsFile + ?Sized>(
    file: &F,
    end: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    let max = crate::write::Options::MAX_RECORD_SIZE_LIMIT + crate::format::MAX_FRAME_OVERHEAD;
    let mut want = 4096usize;
    loop {
        let n = want.min(end as usize);
        let start = end - n as u64;
        buf.resize(n, 0);
        crate::fs::read_exact_at(file, buf, start)?;
        if buf.last() != Some(&b'\n') {
            return Ok(None);
        }
        let body = &buf[..n - 1];
        match memchr::memrchr(b'\n', body) {
            Some(i) => return Ok(crate::format::decode(&body[i + 1..]).ok().map(|f| f.seq)),
            None if start == 0 => return Ok(crate::format::decode(body).ok().map(|f| f.seq)),
            None if n >= max => return Ok(None),
            None => want *= 4,
        }
    }
}

/// The seq and payload of the record whose line starts at `offset`, if one does.
fn record_at<F: VfsFile + ?Sized>(file: &F, offset: u64) -> io::Result<Option<(u64, Vec<u8>)>> {
    // Most records fit; a longer one is read again, four times as far.
    let mut want = 1024usize;
    let mut buf = vec![0; want];
    loop {
        buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            match file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        if let Some(nl) = memchr::memchr(b'\n', &buf[..got]) {
            return Ok(crate::format::decode(&buf[..nl]).ok().map(|f| (f.seq, f.data.to_vec())));
        }
        if got < want {
            return Ok(None);
        }
        want *= 4;
    }
}

/// Where the record a slot names is: read at its offset in the file holding its seq, else
/// (a segment a key compaction rewrote) found by its seq.
pub(super) fn record_of<V: Vfs>(
    vfs: &V,
    log: &V::File,
    older: Option<Older<'_>>,
    slot: Slot,
) -> io::Result<Held> {
    let at = |file: &V::File| -> io::Result<Option<Vec<u8>>> {
        Ok(record_at(file, slot.offset)?.filter(|(seq, _)| *seq == slot.seq).map(|(_, d)| d))
    };
    let older = match older {
        Some(older) if slot.seq < older.first_seq => older,
        _ => return Ok(at(log)?.map_or(Held::Gone, Held::Record)),
    };
    let segments = crate::segments::list(vfs, older.dir).map_err(io::Error::from)?;
    if segments.first().is_none_or(|s| slot.seq < s.name.first_seq) {
        return Ok(Held::Removed);
    }
    let i = segments.partition_point(|s| s.name.first_seq <= slot.seq);
    if let Some(file) = open_segment(vfs, &segments[i - 1].path)?
        && let Some(data) = at(&file)?
    {
        return Ok(Held::Record(data));
    }
    Ok(older.payload(vfs, slot.seq)?.map_or(Held::Gone, Held::Record))
}
