//! A consumer's position in a log, kept in a small file: the seq of the last record it
//! delivered, replaced atomically (temp + fsync + rename + directory fsync) at each commit.
//! Beside it, `FILE.record` names one record of the log the cursor was committed against, so
//! that a cursor used with a log created again at the same path is refused rather than
//! skipping that log's records.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{Create, LogLock, OpenOptions, StdFs, Vfs, VfsFile};
use crate::read::{Mapped, Reader, Record};

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
/// **A cursor knows its log.** A seq alone cannot tell a log from one removed and created
/// again at the same path (or replaced by another log's copy): a cursor at seq 500 of the old
/// log would skip the new log's first 500 records without a word. So the cursor also keeps,
/// in `FILE.record`, the seq, ts and CRC of one record of its log at or before the cursor (the
/// record of the last [`Cursor::commit_at`], or of the cursor's seq when the cursor was last
/// [checked](Cursor::check)). [`Cursor::follow`] and [`Cursor::check`] compare it with the
/// log's record of that seq, as [`Cursor::check_log_at`] does cheaply before each commit (a
/// follower goes on at the next seq of whatever log is at the path), and refuse a log whose
/// record differs
/// ([`ErrorKind::CursorOfAnotherLog`]), or one that ends before it
/// ([`ErrorKind::CursorPastLog`]). Compaction and retention keep a record's bytes and the
/// newest record, so they never trip it; a record they removed cannot be compared, and the
/// check passes (as it does for a cursor without `FILE.record`). `FILE.record` is a hint, written in place
/// without a sync after the cursor itself: after a crash it may name an older record of the
/// same log, or be torn, which its own checksum shows (it is then ignored).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let (log, cursor_file) = (dir.path().join("events.ndjson"), dir.path().join("shipper.cursor"));
/// let writer = ndlog::Writer::open(&log)?;
/// writer.append_raw_batch(&[b"1", b"2", b"3"])?;
///
/// let mut cursor = ndlog::consume::Cursor::load(&cursor_file)?;
/// let mut follow = cursor.follow(ndlog::Reader::open(&log)?)?;
/// let first = follow.next().transpose()?.unwrap();
/// assert_eq!(first.seq, 1);
/// // ... ship it somewhere, then:
/// cursor.commit_at(&first.as_record())?;
/// drop((follow, cursor));
///
/// // After a restart, the consumer resumes after the last commit.
/// let mut cursor = ndlog::consume::Cursor::load(&cursor_file)?;
/// assert_eq!(cursor.after_seq(), Some(1));
/// let mut follow = cursor.follow(ndlog::Reader::open(&log)?)?;
/// assert_eq!(follow.next().transpose()?.map(|r| r.seq), Some(2));
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Debug)]
pub struct Cursor<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    after: Option<u64>,
    /// What `FILE.record` holds (as read at load, or last written).
    seen: Option<Seen>,
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
        let seen = Seen::read(&vfs, &crate::names::cursor_record(&path));
        Ok(Cursor { vfs, path, after, seen, _lock: lock })
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

    /// `FILE.record`, beside the cursor file: the record it remembers (see [`Cursor`]).
    pub fn record_path(&self) -> PathBuf {
        crate::names::cursor_record(&self.path)
    }

    /// The mode of the cursor's files: the cursor file's (its owner may have shared it); 0600
    /// for a new one, as a log is unless created with another mode. (It used to be 0644
    /// whatever the umask.)
    fn mode(&self) -> u32 {
        self.vfs.metadata(&self.path).map_or(0o600, |m| m.mode & 0o777)
    }

    /// Follows `reader`'s log from the first record after the cursor, once
    /// [`Cursor::check`] found the log to be the one the cursor was committed against.
    ///
    /// # Errors
    /// As [`Cursor::check`].
    ///
    /// # Example
    /// See [`Cursor`].
    pub fn follow(&mut self, reader: Reader<Mapped<V>>) -> Result<super::Follow<V>> {
        let last = reader.last().map(|r| r.seq);
        self.check_with(reader.path(), last, |seq| reader.get(seq).and_then(|r| Seen::of(&r)))?;
        Ok(match self.after {
            Some(seq) => reader.follow_after(seq),
            None => reader.follow(),
        })
    }

    /// Checks that `log` is the log this cursor was committed against: that the record named
    /// in `FILE.record` (see [`Cursor`]) is, in `log`, the same record. Then remembers the
    /// record at the cursor's seq, so that the next check compares a record as recent as can
    /// be. Call it before following a log with the cursor ([`Cursor::follow`] does).
    ///
    /// # Errors
    /// [`ErrorKind::CursorOfAnotherLog`] when `log` holds another record at that seq: the
    /// log was created again, or replaced, since; [`ErrorKind::CursorPastLog`] when `log`
    /// ends before that seq (compaction and retention always keep the newest record, so it
    /// was created again, truncated or restored from an older copy, or lost its last records
    /// to damage or a crash). Nothing is written then.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let (log, cursor_file) = (dir.path().join("events.ndjson"), dir.path().join("c.cursor"));
    /// ndlog::Writer::open(&log)?.append_raw_batch(&[b"1", b"2"])?;
    /// let mut cursor = ndlog::Cursor::load(&cursor_file)?;
    /// let first = ndlog::Log::open(&log)?.get(1).unwrap().seq;
    /// cursor.commit(first)?;
    /// cursor.check(&ndlog::Log::open(&log)?)?; // the same log: passes, remembers record 1
    ///
    /// // The log is removed and written again: its record 1 is another record.
    /// std::fs::remove_file(&log).unwrap();
    /// ndlog::Writer::open(&log)?.append_raw_batch(&[b"3", b"4"])?;
    /// let err = cursor.check(&ndlog::Log::open(&log)?).unwrap_err();
    /// assert!(matches!(err.kind(), ndlog::ErrorKind::CursorOfAnotherLog { seq: 1, .. }));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn check(&mut self, log: &crate::Log<V>) -> Result<()> {
        let last = log.last().map(|r| r.seq);
        self.check_with(log.path(), last, |seq| log.get(seq).and_then(|r| Seen::of(&r)))
    }

    /// [`Cursor::check`] of the log at `log`, reading only the records it compares: one
    /// segment of a segmented log rather than every one (and the last ones, for the log's last
    /// seq), so that it is cheap enough before each commit (a follower goes on at the next seq
    /// of whatever log is at the path, so a log created again while it ran is only seen so).
    /// A log that cannot be read now (removed, a roll or retention racing the lookup) cannot
    /// be compared: the check passes.
    ///
    /// # Errors
    /// As [`Cursor::check`].
    pub fn check_log_at(&mut self, log: impl AsRef<Path>) -> Result<()> {
        let (log, vfs) = (log.as_ref(), self.vfs.clone());
        let Some(last) = last_seq_at(&vfs, log) else { return Ok(()) };
        self.check_with(log, last, |seq| look_up(&vfs, log, seq))
    }

    /// [`Cursor::check`] with `get` finding a record of the log at `log`, whose last seq is
    /// `last`.
    fn check_with(
        &mut self,
        log: &Path,
        last: Option<u64>,
        get: impl Fn(u64) -> Option<Seen>,
    ) -> Result<()> {
        let Some(after) = self.after else { return Ok(()) };
        // A record past the cursor was not written by a commit of this cursor (it was moved
        // back by hand): it says nothing about the log.
        if let Some(seen) = self.seen.filter(|s| s.seq <= after) {
            match get(seen.seq) {
                Some(found) if found != seen => {
                    return Err(ErrorKind::CursorOfAnotherLog {
                        path: self.path.clone(),
                        log: log.to_path_buf(),
                        seq: seen.seq,
                        after,
                        committed_ts: seen.ts,
                        committed_crc: seen.crc,
                        found_ts: found.ts,
                        found_crc: found.crc,
                    }
                    .into());
                }
                // Removed by a compaction or retention, which never remove the newest record:
                // a log that ends before it is not the log it was.
                None if last.is_none_or(|last| last < seen.seq) => {
                    return Err(ErrorKind::CursorPastLog {
                        path: self.path.clone(),
                        log: log.to_path_buf(),
                        seq: seen.seq,
                        after,
                        last,
                    }
                    .into());
                }
                _ => {}
            }
        }
        self.remember_with(get);
        Ok(())
    }

    /// Has the cursor remember the record at its seq, looked up in the log at `log` (after a
    /// [`Cursor::commit`] where the record was not at hand), without checking the log again.
    #[cfg_attr(not(feature = "ship"), allow(dead_code))]
    pub(crate) fn remember_log_at(&mut self, log: &Path) {
        let vfs = self.vfs.clone();
        self.remember_with(|seq| look_up(&vfs, log, seq));
    }

    /// Remembers the record at the cursor's seq, as `get` finds it, unless it already does.
    fn remember_with(&mut self, get: impl Fn(u64) -> Option<Seen>) {
        if let Some(after) = self.after
            && self.seen.map(|s| s.seq) != Some(after)
            && let Some(now) = get(after)
        {
            self.remember(now);
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
        crate::fs::atomic_write_in(&self.vfs, &self.path, &text, self.mode())?;
        self.after = Some(seq);
        Ok(())
    }

    /// [`Cursor::commit`] of `record`'s seq, remembering the record itself in `FILE.record`
    /// (see [`Cursor`]) once the cursor is stored, so that a later [`Cursor::check`] can tell
    /// this log from another. Use it where the committed record is at hand.
    ///
    /// # Errors
    /// As [`Cursor::commit`]. `FILE.record` is a hint: a failure to write it is not an error
    /// (the next check compares an older record, or none).
    pub fn commit_at(&mut self, record: &Record<'_>) -> Result<()> {
        self.commit(record.seq)?;
        if let Some(seen) = Seen::of(record)
            && self.seen != Some(seen)
        {
            self.remember(seen);
        }
        Ok(())
    }

    /// Writes `seen` to `FILE.record` in place, without a sync. On failure the file may hold
    /// the previous record, or torn bytes its checksum refuses: either way no false alarm.
    /// Opened at each write, not kept open: a `FILE.record` removed while the consumer runs
    /// is written again, not a deleted file.
    fn remember(&mut self, seen: Seen) {
        let path = self.record_path();
        let Ok(file) =
            self.vfs.open(&path, OpenOptions::read_write(Create::IfMissing, self.mode()))
        else {
            self.seen = None;
            return;
        };
        let text = seen.encode();
        let written =
            crate::fs::write_all_at(&file, &text, 0).and_then(|()| file.set_len(text.len() as u64));
        self.seen = written.is_ok().then_some(seen);
    }
}

/// One record of a log, as `FILE.record` keeps it: enough to tell it from another log's record
/// with the same seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    seq: u64,
    ts: u64,
    /// The CRC of the record's line (its `crc` field): it covers the seq, ts and payload.
    crc: u32,
}

impl Seen {
    /// The longest `FILE.record` read.
    const MAX_LEN: usize = 256;

    fn of(record: &Record<'_>) -> Option<Seen> {
        let (_, crc) = crate::format::split_trailer(record.line).ok()?;
        Some(Seen { seq: record.seq, ts: record.ts, crc })
    }

    /// The text before the checksum: `{"seq":N,"ts":T,"crc":"xxxxxxxx"`.
    fn body(&self) -> String {
        let crc = crate::format::hex8(self.crc);
        format!(
            r#"{{"seq":{},"ts":{},"crc":"{}""#,
            self.seq,
            self.ts,
            std::str::from_utf8(&crc).unwrap_or_default()
        )
    }

    /// `{"seq":N,"ts":T,"crc":"xxxxxxxx","check":"yyyyyyyy"}` and a newline, where `check` is
    /// the CRC-32 of the text before `,"check"`.
    fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let check = crate::format::hex8(crc32fast::hash(body.as_bytes()));
        let mut out = body.into_bytes();
        out.extend_from_slice(br#","check":""#);
        out.extend_from_slice(&check);
        out.extend_from_slice(b"\"}\n");
        out
    }

    /// What `FILE.record` holds: `None` when it is missing, unreadable, or not what
    /// [`Seen::encode`] writes (torn, damaged, edited).
    fn decode(bytes: &[u8]) -> Option<Seen> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Stored<'a> {
            seq: u64,
            ts: u64,
            crc: &'a str,
            check: &'a str,
        }
        let line = bytes.split(|&b| b == b'\n').next()?;
        let stored: Stored<'_> = serde_json::from_slice(line).ok()?;
        let seen = Seen {
            seq: stored.seq,
            ts: stored.ts,
            crc: crate::format::unhex8(stored.crc.as_bytes())?,
        };
        let check = crate::format::unhex8(stored.check.as_bytes())?;
        (crc32fast::hash(seen.body().as_bytes()) == check).then_some(seen)
    }

    fn read<V: Vfs>(vfs: &V, path: &Path) -> Option<Seen> {
        let file = vfs.open(path, OpenOptions::read().no_follow()).ok()?;
        let mut buf = [0u8; Self::MAX_LEN];
        let len = read_start(&file, &mut buf).ok()?;
        Self::decode(&buf[..len])
    }
}

/// The last seq of the log at `log` (`Some(None)`: it holds no record): the file's last
/// record, or the last record of the newest segment that holds one (an active segment just
/// rolled holds none). `None` when it cannot be read now.
fn last_seq_at<V: Vfs>(vfs: &V, log: &Path) -> Option<Option<u64>> {
    if vfs.metadata(log).ok()?.kind != crate::fs::FileKind::Dir {
        return Some(Reader::open_in(vfs.clone(), log).ok()?.last().map(|r| r.seq));
    }
    // A roll renames the active segment, retention removes old ones: list again.
    'list: for _ in 0..3 {
        let segments = crate::segments::list_sorted(vfs, log).ok()?;
        for segment in segments.iter().rev() {
            match Reader::open_in(vfs.clone(), &segment.path) {
                Ok(reader) => match reader.last() {
                    Some(r) => return Some(Some(r.seq)),
                    None => continue,
                },
                Err(e) if e.is_not_found() => continue 'list,
                Err(_) => return None,
            }
        }
        return Some(None);
    }
    None
}

/// The record `seq` of the log at `log` as [`Seen`]: in the file, or in the one segment whose
/// name says it holds `seq` (as [`crate::segments::SegmentedReader::get`] finds it).
fn look_up<V: Vfs>(vfs: &V, log: &Path, seq: u64) -> Option<Seen> {
    let segmented = vfs.metadata(log).ok()?.kind == crate::fs::FileKind::Dir;
    // A roll renames the active segment, retention removes old ones: list again.
    for _ in 0..3 {
        let file = match segmented {
            true => {
                let segments = crate::segments::list_sorted(vfs, log).ok()?;
                let i = segments.partition_point(|s| s.name.first_seq <= seq).checked_sub(1)?;
                segments[i].path.clone()
            }
            false => log.to_path_buf(),
        };
        match Reader::open_in(vfs.clone(), &file) {
            Ok(reader) => return reader.get(seq).and_then(|r| Seen::of(&r)),
            Err(e) if segmented && e.is_not_found() => {}
            Err(_) => return None,
        }
    }
    None
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
    let len = read_start(&file, &mut buf).map_err(|e| Error::io(path, "read", e))?;
    parse_seq(&buf[..len]).map(Some).map_err(|reason| {
        ErrorKind::BadCursor { path: path.to_path_buf(), reason: reason.to_string() }.into()
    })
}

/// Reads the start of `file` into `buf`, up to its length or the end of the file; how many
/// bytes that was.
fn read_start<F: VfsFile>(file: &F, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64)? {
            0 => break,
            n => len += n,
        }
    }
    Ok(len)
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
    use super::{Seen, parse_seq};

    #[test]
    fn what_a_cursor_remembers_is_one_line_with_its_own_checksum() {
        // FORMAT.md's example, section 5.
        let seen = Seen { seq: 42, ts: 1_763_683_200_123, crc: 0x8163_e145 };
        let line = br#"{"seq":42,"ts":1763683200123,"crc":"8163e145","check":"b2ae2f56"}"#;
        assert_eq!(seen.encode(), [&line[..], b"\n"].concat());
        assert_eq!(Seen::decode(&seen.encode()), Some(seen));
        // Any one byte changed, or any prefix (a torn write), is refused.
        let bytes = seen.encode();
        for i in 0..bytes.len() - 1 {
            let mut changed = bytes.clone();
            changed[i] ^= 0x04;
            assert_eq!(Seen::decode(&changed), None, "byte {i} changed");
            assert_eq!(Seen::decode(&bytes[..i]), None, "cut at {i}");
        }
    }

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
