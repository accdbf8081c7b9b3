//! Keeping `LOG.idx` current: catching it up from the log under the writer lock, and repairing a
//! torn or stale one. The index is derived data: it is never
//! fsynced, never trusted over the log, and never shrunk or rewritten in place (readers map
//! it); a repair writes a new file and renames it over the old one.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fs::{Create, FileId, FileKind, OpenOptions, Vfs, VfsFile};

use super::derive::{Derive, LogAt, Written};
use crate::index::{ENTRY_LEN, HEADER_LEN, Header, IndexEntry, Selector};
use crate::names;
use crate::read::chunks;
use crate::read::{Entry, Reader};

/// Torn or stale entries at the end that a repair steps back over before rebuilding.
const MAX_BAD_TAIL: u64 = 64;

/// A writer's view of the index file.
#[derive(Debug)]
pub(crate) struct IndexWriter<F> {
    path: PathBuf,
    stride: u32,
    /// The index file as this writer last saw it: descriptor, identity, length.
    file: Option<(F, FileId)>,
    len: u64,
    /// Its last entry (`None` when it has none yet).
    last: Option<IndexEntry>,
    /// Scratch space for log reads and new entries.
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Records this writer appended are fed to `selector` as it writes them, so that
    /// catching up does not read them back: valid while the log holds nothing but what was
    /// fed up to `fed_to`. `pending` holds the entries chosen and not yet written, and
    /// `pending_last` the last of them.
    selector: Option<Selector>,
    fed_to: u64,
    pending: Vec<u8>,
    pending_last: Option<IndexEntry>,
    /// This writer holds the writer lock for its whole life (an exclusive writer): nobody else
    /// can replace the index, so the open descriptor is trusted without a stat of the path.
    sole: bool,
    /// The last error keeping the file current, if the last attempt failed. Appends never
    /// fail for it: the index is derived from the log.
    error: Option<Error>,
}

impl<F: VfsFile> IndexWriter<F> {
    pub(crate) fn new(log: &Path, stride: u32) -> Self {
        IndexWriter {
            path: names::index_file(log),
            stride,
            file: None,
            len: 0,
            last: None,
            buf: Vec::new(),
            out: Vec::new(),
            selector: None,
            fed_to: 0,
            pending: Vec::new(),
            pending_last: None,
            sole: false,
            error: None,
        }
    }

    /// Marks this writer as the only one for its life (see [`IndexWriter::sole`]).
    pub(crate) fn sole_writer(mut self, sole: bool) -> Self {
        self.sole = sole;
        self
    }

    /// Notes a record this writer just wrote at `offset..end` of the log.
    fn feed(&mut self, seq: u64, ts: u64, offset: u64, end: u64) {
        match self.selector.as_mut() {
            Some(selector) if self.fed_to == offset => {
                if let Some(e) = selector.select(seq, ts, offset) {
                    e.encode_into(&mut self.pending);
                    self.pending_last = Some(e);
                }
                self.fed_to = end;
            }
            // Something else is in between (another writer, a terminated torn tail): the next
            // catch-up reads the log.
            _ => self.selector = None,
        }
    }

    /// The seq of the last indexed record this writer knows of.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last.map_or(0, |e| e.seq)
    }

    /// The last error keeping the file current, if the last attempt failed.
    pub(crate) fn error(&self) -> Option<Error> {
        self.error.as_ref().map(Error::duplicate)
    }

    /// Catches up, keeping the outcome for [`IndexWriter::error`].
    pub(crate) fn keep_up<V: Vfs<File = F>>(&mut self, log: &LogAt<'_, V>) {
        let result = self.catch_up(log.vfs, log.file, log.id, log.len, log.mode);
        self.error = result.err().map(|e| Error::io(&self.path, "update index", e));
    }

    /// Rebuilds the file from the whole log, keeping the outcome for [`IndexWriter::error`]
    /// too.
    pub(crate) fn rebuild_now<V: Vfs<File = F>>(
        &mut self,
        log: &LogAt<'_, V>,
    ) -> crate::error::Result<()> {
        let result = self.rebuild(log.vfs, log.file, log.id, log.len, log.mode, false);
        let result = result.map_err(|e| Error::io(&self.path, "rebuild index", e));
        self.error = result.as_ref().err().map(Error::duplicate);
        result
    }

    /// Brings the index up to date with the first `log_len` bytes of the log. Call with the
    /// writer lock held. Reads only the part of the log the index does not cover.
    pub(crate) fn catch_up<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &F,
        log_id: FileId,
        log_len: u64,
        mode: u32,
    ) -> io::Result<()> {
        let (len, id) = (self.len, self.file.as_ref().map(|(_, id)| *id));
        let trusted = self.sole && self.file.is_some();
        if !trusted && !self.current(vfs, log, log_id)? {
            self.selector = None;
            return self.rebuild(vfs, log, log_id, log_len, mode, true);
        }
        let unchanged = self.len == len && self.file.as_ref().map(|(_, id)| *id) == id;
        let mut last = self.last;
        self.out.clear();
        if unchanged && self.selector.is_some() && self.fed_to == log_len {
            // Everything since the last entry was fed as it was written: no read.
            std::mem::swap(&mut self.out, &mut self.pending);
            last = self.pending_last.or(last);
        } else {
            let from = self.last.map_or(0, |e| e.offset);
            let mut selector = Selector::new(self.stride, self.last);
            let out = &mut self.out;
            let mut fed_to = from;
            chunks::for_each_entry(log, from, log_len, &mut self.buf, |base, _, entry| {
                if let Entry::Record(r) = entry {
                    if let Some(e) = selector.select(r.seq, r.ts, base + r.offset) {
                        e.encode_into(out);
                        last = Some(e);
                    }
                    fed_to = base + r.end();
                }
                Ok(())
            })?;
            // Go on feeding from where the scan ended, if it read every byte of the log.
            self.selector = (fed_to == log_len).then_some(selector);
            self.fed_to = fed_to;
        }
        self.pending.clear();
        self.pending_last = None;
        if !self.out.is_empty() {
            let (file, _) = self.file.as_ref().ok_or_else(|| io::Error::other("index not open"))?;
            let written = file.append(&self.out);
            if written.as_ref().ok() != Some(&self.out.len()) {
                // Failed or torn (a short write leaves part of an entry): forget what this
                // writer knew, so that the next catch-up re-reads the file, salvages it and
                // reads the log again for the entries that were not written.
                self.file = None;
                self.selector = None;
                return Err(written.err().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::WriteZero, "short index write")
                }));
            }
            self.len += self.out.len() as u64;
            self.last = last;
        }
        Ok(())
    }

    /// Makes sure `self` describes the index file on disk; false when it must be rebuilt
    /// (missing, torn, built for another log, or its last entries disagree with the log).
    fn current<V: Vfs<File = F>>(&mut self, vfs: &V, log: &F, log_id: FileId) -> io::Result<bool> {
        let meta = match vfs.metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if self.file.as_ref().is_some_and(|(_, id)| *id == meta.id) && self.len == meta.len {
            return Ok(true);
        }
        if meta.kind != FileKind::File {
            return Err(io::Error::other(format!("{} is not a regular file", self.path.display())));
        }
        let file = match vfs.open(&self.path, OpenOptions::append(Create::No, 0).no_follow()) {
            Ok(file) => file,
            // Not a file ndlog made (a planted symlink): replace it by a rebuild.
            Err(e) if crate::fs::is_symlink_refused(&e) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let mut header = [0u8; HEADER_LEN];
        let body = meta.len.saturating_sub(HEADER_LEN as u64);
        if meta.len < HEADER_LEN as u64 || !body.is_multiple_of(ENTRY_LEN as u64) {
            return Ok(false);
        }
        crate::fs::read_exact_at(&file, &mut header, 0)?;
        match Header::decode(&header) {
            Ok(h) if h.log_id == log_id && h.stride == self.stride => {}
            _ => return Ok(false),
        }
        let count = (meta.len - HEADER_LEN as u64) / ENTRY_LEN as u64;
        let last = match count.checked_sub(1) {
            None => None,
            Some(i) => {
                let e = read_entry(&file, i)?;
                if !record_matches(log, &e, &mut self.buf)? {
                    return Ok(false);
                }
                Some(e)
            }
        };
        self.file = Some((file, meta.id));
        self.len = meta.len;
        self.last = last;
        Ok(true)
    }

    /// Writes a new index and renames it into place. With `salvage`, keeps the entries of the
    /// old index that still match the log (a crash tears only its end) and indexes the log
    /// from there on; otherwise indexes the whole log.
    pub(crate) fn rebuild<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &F,
        log_id: FileId,
        log_len: u64,
        mode: u32,
        salvage: bool,
    ) -> io::Result<()> {
        let kept = if salvage { self.salvage(vfs, log, log_id)? } else { Vec::new() };
        let mut out = Header { stride: self.stride, log_id }.encode().to_vec();
        out.extend_from_slice(&kept);
        let mut last = kept.len().checked_sub(ENTRY_LEN).map(|at| IndexEntry::decode(&kept[at..]));
        let mut selector = Selector::new(self.stride, last);
        scan(log, last.map_or(0, |e| e.offset), log_len, &mut self.buf, |seq, ts, offset| {
            if let Some(e) = selector.select(seq, ts, offset) {
                e.encode_into(&mut out);
                last = Some(e);
            }
        })?;
        let tmp = names::sidecar(&self.path, ".tmp");
        // Only writer-lock holders create this file: one left behind is from a dead process.
        match vfs.remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = vfs.open(&tmp, OpenOptions::append(Create::New, mode).no_follow())?;
        let written = file.append(&out);
        // The id is read before the rename: after it, a failure would leave this handle
        // appending to the replaced file (an exclusive writer never looks at the path again).
        let id = match (written, file.metadata()) {
            (Ok(n), Ok(meta)) if n == out.len() => meta.id,
            (written, meta) => {
                let _ = vfs.remove_file(&tmp);
                let err = written.err().or(meta.err());
                return Err(err.unwrap_or_else(|| io::ErrorKind::WriteZero.into()));
            }
        };
        vfs.rename(&tmp, &self.path)?;
        self.selector = None;
        self.file = Some((file, id));
        self.len = out.len() as u64;
        self.last = last;
        Ok(())
    }

    /// The entries of the existing index that can be kept: all but a torn or stale tail, if
    /// the header is intact and the entries before it match the log.
    fn salvage<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &F,
        log_id: FileId,
    ) -> io::Result<Vec<u8>> {
        let Ok(file) = vfs.open(&self.path, OpenOptions::read().no_follow()) else {
            return Ok(Vec::new());
        };
        let len = file.metadata()?.len;
        let mut header = [0u8; HEADER_LEN];
        if len < HEADER_LEN as u64 || crate::fs::read_exact_at(&file, &mut header, 0).is_err() {
            return Ok(Vec::new());
        }
        match Header::decode(&header) {
            Ok(h) if h.log_id == log_id && h.stride == self.stride => {}
            _ => return Ok(Vec::new()),
        }
        let count = (len - HEADER_LEN as u64) / ENTRY_LEN as u64;
        let mut keep = count;
        while keep > 0 && count - keep <= MAX_BAD_TAIL {
            if record_matches(log, &read_entry(&file, keep - 1)?, &mut self.buf)? {
                let mut kept = vec![0u8; keep as usize * ENTRY_LEN];
                crate::fs::read_exact_at(&file, &mut kept, HEADER_LEN as u64)?;
                return Ok(kept);
            }
            keep -= 1;
        }
        Ok(Vec::new())
    }
}

fn read_entry<F: VfsFile>(file: &F, i: u64) -> io::Result<IndexEntry> {
    let mut b = [0u8; ENTRY_LEN];
    crate::fs::read_exact_at(file, &mut b, HEADER_LEN as u64 + i * ENTRY_LEN as u64)?;
    Ok(IndexEntry::decode(&b))
}

/// Whether the log holds, at `e.offset`, the start of a line that is the record `e` names.
fn record_matches<F: VfsFile>(log: &F, e: &IndexEntry, buf: &mut Vec<u8>) -> io::Result<bool> {
    let start = e.offset.saturating_sub(1);
    let mut want = 4096usize;
    loop {
        buf.resize(want, 0);
        let mut got = 0;
        while got < want {
            match log.read_at(&mut buf[got..], start + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        let bytes = &buf[..got];
        let line = if e.offset == 0 {
            bytes
        } else if bytes.first() == Some(&b'\n') {
            &bytes[1..]
        } else {
            return Ok(false);
        };
        if line.contains(&b'\n') || got < want {
            let reader = Reader::new(line);
            return Ok(matches!(reader.entries().next(),
                Some(Entry::Record(r)) if r.offset == 0 && r.seq == e.seq && r.ts == e.ts));
        }
        want *= 4;
    }
}

/// Calls `each(seq, ts, offset)` for every record whose line lies in `from..to` of the log,
/// `from` being a line start.
pub(crate) fn scan<F: VfsFile>(
    log: &F,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(u64, u64, u64),
) -> io::Result<()> {
    chunks::for_each_entry(log, from, to, buf, |base, _, entry| {
        if let Entry::Record(r) = entry {
            each(r.seq, r.ts, base + r.offset);
        }
        Ok(())
    })
    .map(|_| ())
}

impl<V: Vfs> Derive<V> for IndexWriter<V::File> {
    fn opened(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.keep_up(log);
        Ok(())
    }

    fn wrote(&mut self, r: &Written<'_>) {
        self.feed(r.seq, r.ts, r.at, r.end);
    }

    /// Writes the entries due once a stride of records is unindexed. A failure here does not
    /// fail the append, whose records are already written.
    fn written(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        if log.last_seq.saturating_sub(self.last_seq()) >= u64::from(self.stride) {
            self.keep_up(log);
        }
        Ok(())
    }

    /// The records fed since the last catch-up may not be in the file: read it next time.
    fn reset(&mut self) {
        self.selector = None;
    }
}
