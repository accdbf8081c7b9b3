//! The quarantine file: damaged bytes that compaction removes from a log are never thrown away.
//! Each damaged span becomes a JSON line of `LOG.quarantine` for each MiB of it, with its
//! original offset and its bytes in base64, and the file is fsynced before the log that held them is replaced. A
//! quarantine file created here gets the log's mode, owner and group.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::fs::{Create, OpenOptions, Vfs, VfsFile};
use crate::names;

/// Buffered quarantine lines are written out past this size.
const FLUSH_AT: usize = 1 << 20;

/// The most bytes of a span one line holds: a longer span (a damaged stretch of hundreds of
/// megabytes) is written as several lines, each with its own offset, so that quarantining it
/// takes a few megabytes of memory, not several times the span.
const PIECE: usize = 1 << 20;

/// Damaged spans gathered during one compaction.
#[derive(Debug)]
pub(crate) struct Quarantine<F> {
    path: PathBuf,
    /// The log, whose owner a quarantine file created here takes.
    log: PathBuf,
    mode: u32,
    /// Owner and group of the log, when the caller knows them.
    owner: Option<(u32, u32)>,
    /// Identity of the log the spans come from, and the compaction's clock.
    log_ino: u64,
    at_ms: u64,
    file: Option<F>,
    created: bool,
    buf: Vec<u8>,
    /// Spans and bytes quarantined.
    pub spans: u64,
    pub bytes: u64,
}

impl<F: VfsFile> Quarantine<F> {
    pub(crate) fn new(log: &Path, mode: u32, log_ino: u64, at_ms: u64) -> Self {
        Quarantine {
            path: names::sidecar(log, ".quarantine"),
            log: log.to_path_buf(),
            mode,
            owner: None,
            log_ino,
            at_ms,
            file: None,
            created: false,
            buf: Vec::new(),
            spans: 0,
            bytes: 0,
        }
    }

    /// The log's owner and group, for a quarantine file created here (otherwise looked up
    /// when the file is created).
    pub(crate) fn owned_by(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }

    /// The quarantine file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a damaged span found at `offset` of the log: a line for each [`PIECE`] of it.
    pub(crate) fn push<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        offset: u64,
        bytes: &[u8],
        reason: &str,
    ) -> io::Result<()> {
        let mut at = offset;
        for piece in bytes.chunks(PIECE) {
            let line = serde_json::json!({
                "offset": at,
                "len": piece.len(),
                "reason": reason,
                "log_ino": self.log_ino,
                "quarantined_at": self.at_ms,
                "bytes_base64": base64::engine::general_purpose::STANDARD.encode(piece),
            });
            serde_json::to_writer(&mut self.buf, &line).map_err(io::Error::other)?;
            self.buf.push(b'\n');
            at += piece.len() as u64;
            if self.buf.len() >= FLUSH_AT {
                self.flush(vfs)?;
            }
        }
        self.spans += 1;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn flush<V: Vfs<File = F>>(&mut self, vfs: &V) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.created = vfs.metadata(&self.path).is_err();
            let how = OpenOptions::append(Create::IfMissing, self.mode).no_follow();
            let file = vfs.open(&self.path, how)?;
            if self.created {
                // The log's owner and group, or whoever runs this would take the damaged
                // bytes of someone else's log (root from a cron job, say).
                let (uid, gid) = match self.owner {
                    Some(owner) => owner,
                    None => vfs.metadata(&self.log).map(|m| (m.uid, m.gid))?,
                };
                file.set_owner(uid, gid)?;
            }
            self.file = Some(file);
        }
        let file = self.file.as_ref().ok_or_else(|| io::Error::other("quarantine not open"))?;
        crate::fs::append_all(file, &self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes out and fsyncs what was gathered; returns whether the file was created (its
    /// directory entry then needs a directory fsync).
    pub(crate) fn commit<V: Vfs<File = F>>(&mut self, vfs: &V) -> io::Result<bool> {
        self.flush(vfs)?;
        if let Some(file) = &self.file {
            file.sync_all()?;
        }
        Ok(self.created)
    }
}
