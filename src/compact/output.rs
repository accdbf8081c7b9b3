//! The new log a compaction writes: a temporary file beside the log, filled in large writes, its
//! index entries collected on the way, synced, and renamed over the log under the writer lock.

use std::io;
use std::path::{Path, PathBuf};

use crate::clock::now_ms;
use crate::error::{Error, IoContext, Result};
use crate::fs::{Create, OpenOptions, Vfs, VfsFile, append_all};
use crate::index::{Header, IndexEntry};
use crate::names;

/// Output is written in pieces of this size.
const OUT_CHUNK: usize = 1 << 20;

/// The new log being written, with its index.
pub(super) struct Output<V: Vfs> {
    pub(super) vfs: V,
    pub(super) path: PathBuf,
    file: V::File,
    mode: u32,
    /// Owner and group of the log, given to both files.
    owner: (u32, u32),
    buf: Vec<u8>,
    /// Bytes written so far (flushed or buffered).
    pub(super) len: u64,
    pub(super) records: u64,
    index_path: PathBuf,
    /// Index entries not yet written to `index_file`.
    index: Vec<u8>,
    index_file: Option<V::File>,
    stride: u32,
    installed: bool,
}

impl<V: Vfs> Output<V> {
    /// Creates the new log beside `log` with the log's `mode` and `owner`. A process that may
    /// not give it that owner (only root gives a file away) fails here, before anything
    /// changed: the compacted log would otherwise take the log away from its owner.
    pub(super) fn create(
        vfs: V,
        log: &Path,
        mode: u32,
        owner: (u32, u32),
        stride: u32,
    ) -> Result<Self> {
        let mut name = names::compact_temp_prefix(log);
        name.push(format!("{}.{}", std::process::id(), now_ms()));
        let dir = names::parent_dir(log);
        let mut data = name.clone();
        data.push(".tmp");
        let mut index = name;
        index.push(".idx.tmp");
        let (path, index_path) = (dir.join(data), dir.join(index));
        let file = vfs
            .open(&path, OpenOptions::append(Create::New, mode).no_follow())
            .at(&path, "create")?;
        let out = Output {
            vfs,
            path,
            file,
            mode,
            owner,
            buf: Vec::with_capacity(OUT_CHUNK),
            len: 0,
            records: 0,
            index_path,
            index: Vec::new(),
            index_file: None,
            stride,
            installed: false,
        };
        // The same owner as the log (before the mode: a change of owner may clear mode bits).
        let (uid, gid) = owner;
        out.file.set_owner(uid, gid).map_err(|e| foreign_owner(log, uid, gid, e))?;
        // The same mode as the log, whatever the umask made of it.
        out.file.set_permissions(mode).at(&out.path, "fchmod")?;
        Ok(out)
    }

    /// Adds one record (its line, without the newline); `seq_ts` gives its seq and ts, needed
    /// only when the record gets an index entry (every `stride`-th of the new log).
    pub(super) fn push(
        &mut self,
        line: &[u8],
        seq_ts: impl FnOnce() -> Option<(u64, u64)>,
    ) -> Result<()> {
        if self.records.is_multiple_of(u64::from(self.stride)) {
            let (seq, ts) = seq_ts().ok_or_else(|| {
                Error::io(&self.path, "index", io::Error::other("a copied record has no seq"))
            })?;
            IndexEntry { seq, ts, offset: self.len }.encode_into(&mut self.index);
        }
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.len += line.len() as u64 + 1;
        self.records += 1;
        if self.buf.len() >= OUT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        append_all(&self.file, &self.buf).at(&self.path, "write")?;
        self.buf.clear();
        Ok(())
    }

    /// Writes out the buffer and makes the file durable.
    pub(super) fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file.sync_data().at(&self.path, "fdatasync")
    }

    /// Writes the index entries gathered so far to the new index file (created on the first
    /// call). Called before the writer lock is taken, so that only the entries of the last
    /// appends are written while writers wait. The index is derived data: never fsynced, and
    /// if it cannot be written the next writer rebuilds it.
    pub(super) fn write_index(&mut self) -> Result<()> {
        if self.index_file.is_none() {
            let id = self.file.metadata().at(&self.path, "fstat")?.id;
            let how = OpenOptions::append(Create::New, self.mode).no_follow();
            let file = self.vfs.open(&self.index_path, how).at(&self.index_path, "create")?;
            let (uid, gid) = self.owner;
            file.set_owner(uid, gid).at(&self.index_path, "fchown")?;
            let header = Header { stride: self.stride, log_id: id }.encode();
            append_all(&file, &header).at(&self.index_path, "write")?;
            self.index_file = Some(file);
        }
        if let Some(file) = &self.index_file {
            append_all(file, &self.index).at(&self.index_path, "write")?;
            self.index.clear();
        }
        Ok(())
    }

    /// The durable watermark of the new file once it is installed and synced: all of it.
    pub(super) fn watermark(&self) -> Option<crate::consume::Watermark> {
        let id = self.file.metadata().ok()?.id;
        let tail = crate::read::last_record::discover(&self.file, self.len, None, &mut Vec::new());
        let tail = tail.ok()?;
        tail.last.map(|last| crate::consume::Watermark { file: id, end: tail.end, seq: last.seq })
    }

    /// Renames the new log over `log`, then its index over `LOG.idx`. Call with the writer
    /// lock held and the file synced.
    pub(super) fn install(&mut self, log: &Path) -> Result<()> {
        let index_ok = self.write_index().is_ok();
        self.vfs.rename(&self.path, log).at(log, "rename the new log into place")?;
        self.installed = true;
        if index_ok {
            let _ = self.vfs.rename(&self.index_path, &names::index_file(log));
        }
        Ok(())
    }
}

/// Why a compaction refuses a log whose owner it cannot give the new file.
fn foreign_owner(log: &Path, uid: u32, gid: u32, e: io::Error) -> Error {
    let why = io::Error::new(
        e.kind(),
        format!(
            "the log belongs to uid {uid} gid {gid}, which this process may not give the \
             compacted log ({e}); nothing was changed: compact as the log's owner or as root"
        ),
    );
    Error::io(log, "compact", why)
}

/// Removes the temporary files when the compaction did not get as far as installing them.
impl<V: Vfs> Drop for Output<V> {
    fn drop(&mut self) {
        // Best effort: the next compaction removes what is left in any case.
        if !self.installed {
            let _ = self.vfs.remove_file(&self.path);
        }
        let _ = self.vfs.remove_file(&self.index_path);
    }
}
