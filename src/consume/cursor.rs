//! A consumer's position in a log, kept in a small file: the seq of the last record it
//! delivered, replaced atomically (temp + fsync + rename + directory fsync) at each commit.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{LogLock, StdFs, Vfs, VfsFile};

/// A cursor file holds at most this many bytes.
const MAX_CURSOR_LEN: usize = 4096;

/// Where a consumer stands in a log: the seq of the last record it delivered, stored in a
/// file. A consumer delivers the records after [`Cursor::after_seq`], and calls
/// [`Cursor::commit`] only once what it delivered is safely out of its hands (written and
/// flushed, inserted and committed): a consumer killed at any moment then resumes at the
/// first record it had not committed — **at least once, never a gap** — and redelivers at
/// most what it delivered since its last commit.
///
/// The file holds the seq as decimal text and a newline (`1234\n`), so scripts read it as is;
/// a seq, not a byte offset, so it stays valid across compactions (and segments). Replaced
/// atomically at each commit; a cursor whose file does not exist starts before the first
/// record. While loaded, it holds an `flock` on `FILE.lock`: one consumer per cursor.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let (log, cursor_file) = (dir.path().join("events.ndjson"), dir.path().join("shipper.cursor"));
/// let writer = ndlog::Writer::open(&log)?;
/// writer.append_raw_batch(&[b"1", b"2", b"3"])?;
///
/// let mut cursor = ndlog::consume::Cursor::load(&cursor_file)?;
/// let mut follow = cursor.follow(ndlog::Reader::open(&log)?);
/// let first = follow.next().transpose()?.unwrap();
/// assert_eq!(first.seq, 1);
/// // ... ship it somewhere, then:
/// cursor.commit(first.seq)?;
/// drop((follow, cursor));
///
/// // After a restart, the consumer resumes after the last commit.
/// let cursor = ndlog::consume::Cursor::load(&cursor_file)?;
/// assert_eq!(cursor.after_seq(), Some(1));
/// let mut follow = cursor.follow(ndlog::Reader::open(&log)?);
/// assert_eq!(follow.next().transpose()?.map(|r| r.seq), Some(2));
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct Cursor<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    after: Option<u64>,
    _lock: LogLock<V>,
}

impl Cursor<StdFs> {
    /// Loads the cursor stored at `path` (none yet when the file does not exist), and takes
    /// its lock.
    ///
    /// # Errors
    /// [`ErrorKind::BadCursor`] when the file holds something else than a seq;
    /// [`ErrorKind::LockTimeout`] when another consumer holds the cursor;
    /// [`ErrorKind::Io`] naming the file when it cannot be read.
    ///
    /// # Example
    /// See [`Cursor`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_in(StdFs, path)
    }
}

impl<V: Vfs> Cursor<V> {
    /// [`Cursor::load`] on the file system `vfs`.
    ///
    /// # Errors
    /// As [`Cursor::load`].
    pub fn load_in(vfs: V, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let lock = LogLock::acquire_in(vfs.clone(), &path, Duration::from_millis(500))
            .map_err(|e| not_a_cursor(&path, e))?;
        // Temporary files of a commit that was killed; nobody else writes this cursor.
        crate::fs::sweep_temps(&vfs, &path)?;
        let after = read_seq(&vfs, &path).map_err(|e| not_a_cursor(&path, e))?;
        Ok(Cursor { vfs, path, after, _lock: lock })
    }

    /// The seq of the last record committed; `None` before the first commit.
    ///
    /// # Example
    /// See [`Cursor`].
    pub fn after_seq(&self) -> Option<u64> {
        self.after
    }

    /// The cursor file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Follows `reader`'s log from the first record after the cursor.
    ///
    /// # Example
    /// See [`Cursor`].
    pub fn follow(&self, reader: crate::Reader<crate::read::Mapped<V>>) -> super::Follow<V> {
        match self.after {
            Some(seq) => reader.follow_after(seq),
            None => reader.follow(),
        }
    }

    /// Stores `seq` as the last record delivered, atomically and durably: after it returns,
    /// a restart resumes after `seq`. Call it only once every record up to `seq` is out of
    /// the consumer's hands. A new cursor file gets mode 0600; an existing one keeps its mode.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] naming the file and the step that failed; the file then still holds
    /// the previous seq (a restart redelivers, never skips).
    ///
    /// # Example
    /// See [`Cursor`].
    pub fn commit(&mut self, seq: u64) -> Result<()> {
        if self.after == Some(seq) {
            return Ok(());
        }
        let mut text = itoa::Buffer::new().format(seq).as_bytes().to_vec();
        text.push(b'\n');
        // The file keeps the mode it has (its owner may have shared it); a new one is private,
        // as a log is unless created with another mode. (It used to be 0644 whatever the
        // umask.)
        let mode = self.vfs.metadata(&self.path).map_or(0o600, |m| m.mode & 0o777);
        crate::fs::atomic_write_in(&self.vfs, &self.path, &text, mode)?;
        self.after = Some(seq);
        Ok(())
    }
}

/// `e`, where it says the path is no file ndlog may use (a directory, a FIFO, a symlink), said
/// of a cursor file rather than of a log.
fn not_a_cursor(path: &Path, e: Error) -> Error {
    match e.kind() {
        ErrorKind::NotALog { reason, .. } => {
            ErrorKind::BadCursor { path: path.to_path_buf(), reason: reason.clone() }.into()
        }
        _ => e,
    }
}

/// The seq in the cursor file at `path`; `None` when there is no file yet.
fn read_seq<V: Vfs>(vfs: &V, path: &Path) -> Result<Option<u64>> {
    let file = match vfs.open(path, crate::fs::OpenOptions::read().no_follow()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::fs::refused(path, e)),
    };
    let mut buf = vec![0u8; MAX_CURSOR_LEN + 1];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    parse_seq(&buf[..len]).map(Some).map_err(|reason| {
        ErrorKind::BadCursor { path: path.to_path_buf(), reason: reason.to_string() }.into()
    })
}

/// A cursor file's seq: decimal text (`1234\n`), or a JSON object with a `seq` field.
fn parse_seq(bytes: &[u8]) -> std::result::Result<u64, &'static str> {
    if bytes.len() > MAX_CURSOR_LEN {
        return Err("it is longer than a cursor file can be");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not text")?.trim();
    if text.is_empty() {
        return Err("it is empty");
    }
    if let Ok(seq) = text.parse::<u64>() {
        return Ok(seq);
    }
    #[derive(serde::Deserialize)]
    struct Stored {
        seq: u64,
    }
    serde_json::from_str::<Stored>(text)
        .map(|s| s.seq)
        .map_err(|_| "it holds neither a seq (digits) nor a JSON object with a \"seq\" number")
}

#[cfg(test)]
mod tests {
    use super::parse_seq;

    #[test]
    fn a_cursor_is_a_seq_in_digits_or_json() {
        assert_eq!(parse_seq(b"1234\n"), Ok(1234));
        assert_eq!(parse_seq(b" 0 "), Ok(0));
        assert_eq!(parse_seq(br#"{"seq":77}"#), Ok(77));
        assert!(parse_seq(b"").is_err());
        assert!(parse_seq(b"-3").is_err());
        assert!(parse_seq(b"12 13").is_err());
        assert!(parse_seq(br#"{"seq":"x"}"#).is_err());
        assert!(parse_seq(&[b'1'; 5000]).is_err());
    }
}
