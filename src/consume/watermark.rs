//! The durable watermark: `LOG.watermark`, where writers publish how far an `fdatasync` has
//! covered the log, so that committed readers deliver only records a power loss cannot take
//! back (FORMAT.md, section 5). A segmented log keeps it in `LOG/ndlog.watermark`, describing
//! its active segment; a sealed segment is durable whole (the roll synced it before the
//! rename).
//!
//! The mark is the file's first 48 bytes (64 with the witness below; writers keep an intent at
//! bytes 64..128, `write::cover`), rewritten in place with one `pwrite` under an `flock` on the
//! file itself; it is never fsynced (after a power loss an older or damaged copy only holds readers
//! back, never ahead: it is written after the sync it describes has returned).
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ndlogWM1"
//!      8     8  dev of the log file it describes (u64, little-endian)
//!     16     8  ino of that file
//!     24     8  end: every record ending at or before this byte offset is durable
//!     32     8  seq: the seq of the record that ends exactly at `end`
//!     40     4  CRC-32 (IEEE) of bytes 0..40
//!     44     4  zero
//!     48     8  since (optional, the *witness*): every byte of the file at or past this offset
//!               was written after the publisher opened the descriptor it synced
//!     56     4  CRC-32 (IEEE) of bytes 0..56
//!     60     4  zero
//! ```
//!
//! Readers of the mark read its first 48 bytes. The witness is for other writers, which skip
//! their own sync on a mark only when it carries one (`crate::write::cover` says why): a writer
//! publishing from a sync that covered others' records writes all 64 bytes with one `pwrite`;
//! a publisher without one writes 48, which leaves a stale witness whose CRC no longer matches.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs::{Create, FileId, OpenOptions, Vfs, VfsFile};
use crate::names;
use crate::read::last_record::{Last, Tail};

/// Size of `LOG.watermark`.
pub const WATERMARK_LEN: usize = 48;
const MAGIC: &[u8; 8] = b"ndlogWM1";

/// What `LOG.watermark` says: in the log file `file`, every record ending at or before byte
/// `end` has been covered by a successful `fdatasync`, and the record ending at `end` has seq
/// `seq`.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// let writer = ndlog::Writer::open(&path)?; // Durability::Always: each append is synced
/// writer.append_raw(b"1")?;
/// let mark = ndlog::consume::Watermark::read(&path)?.expect("published after the sync");
/// assert_eq!(mark.seq, 1);
/// assert_eq!(mark.file, ndlog::Reader::open(&path)?.file_id());
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermark {
    /// The log file (device and inode) it describes; a compaction's new file has another.
    pub file: FileId,
    /// Byte offset: records ending at or before it are durable.
    pub end: u64,
    /// The seq of the record that ends at `end`.
    pub seq: u64,
}

/// Whether a record may be delivered to a committed reader, by [`Watermark::covers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cover {
    /// Durable: deliver it.
    Yes,
    /// Not known to be durable yet: wait for the next sync.
    No,
    /// The watermark cannot describe this file as it is (its `end` falls inside a record, or
    /// the record ending there has another seq): a leftover from a log that was removed and
    /// recreated on a reused inode. Treat as no watermark until a writer publishes again.
    Stale,
}

impl Watermark {
    /// Encodes the 48 bytes of `LOG.watermark`.
    ///
    /// # Example
    /// ```
    /// use ndlog::consume::Watermark;
    /// let mark = Watermark { file: ndlog::fs::FileId { dev: 1, ino: 2 }, end: 90, seq: 3 };
    /// assert_eq!(Watermark::decode(&mark.encode()), Some(mark));
    /// ```
    pub fn encode(&self) -> [u8; WATERMARK_LEN] {
        let mut b = [0u8; WATERMARK_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&self.file.dev.to_le_bytes());
        b[16..24].copy_from_slice(&self.file.ino.to_le_bytes());
        b[24..32].copy_from_slice(&self.end.to_le_bytes());
        b[32..40].copy_from_slice(&self.seq.to_le_bytes());
        let crc = crc32fast::hash(&b[..40]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes `LOG.watermark`; `None` when it is short, torn or not one (a power loss can
    /// leave any of these: the file is never fsynced).
    ///
    /// # Example
    /// ```
    /// assert_eq!(ndlog::consume::Watermark::decode(&[0u8; 48]), None);
    /// ```
    pub fn decode(bytes: &[u8]) -> Option<Watermark> {
        let b = bytes.get(..WATERMARK_LEN)?;
        let u64_at = |i: usize| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(n)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&b[40..44]);
        let crc = u32::from_le_bytes(crc);
        if &b[..8] != MAGIC || crc != crc32fast::hash(&b[..40]) {
            return None;
        }
        let file = FileId { dev: u64_at(8), ino: u64_at(16) };
        Some(Watermark { file, end: u64_at(24), seq: u64_at(32) })
    }

    /// Reads `LOG.watermark` beside the log at `log` (after symlinks), or `LOG/ndlog.watermark`
    /// when `log` is a segmented log's directory; `None` when there is none or it is damaged.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] naming `LOG.watermark` when it exists but cannot be read.
    ///
    /// # Example
    /// See [`Watermark`].
    pub fn read(log: impl AsRef<Path>) -> crate::Result<Option<Watermark>> {
        use crate::error::IoContext;
        let vfs = crate::fs::StdFs;
        let log = vfs.resolve(log.as_ref()).at(log.as_ref(), "resolve symlink")?;
        let segmented = vfs.metadata(&log).is_ok_and(|m| m.kind == crate::fs::FileKind::Dir);
        let path = if segmented { names::segmented_watermark(&log) } else { sidecar_path(&log) };
        match vfs.open(&path, OpenOptions::read().no_follow()) {
            Ok(file) => read_from(&file).at(&path, "read"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::Error::io(&path, "open", not_a_mark(e))),
        }
    }

    /// Whether the record of seq `seq` at bytes `offset..end` of the file this watermark
    /// describes is durable.
    ///
    /// # Example
    /// ```
    /// use ndlog::consume::{Cover, Watermark};
    /// let mark = Watermark { file: ndlog::fs::FileId { dev: 1, ino: 2 }, end: 90, seq: 3 };
    /// assert_eq!(mark.covers(3, 60, 90), Cover::Yes);
    /// assert_eq!(mark.covers(4, 90, 120), Cover::No);
    /// assert_eq!(mark.covers(7, 60, 90), Cover::Stale);
    /// ```
    pub fn covers(&self, seq: u64, offset: u64, end: u64) -> Cover {
        if end < self.end {
            Cover::Yes
        } else if end == self.end {
            if seq == self.seq { Cover::Yes } else { Cover::Stale }
        } else if offset < self.end {
            Cover::Stale
        } else {
            Cover::No
        }
    }
}

impl Watermark {
    /// Whether this mark says that records a sync covered lie after the last valid record of
    /// the log file `file`, in bytes that no longer hold one: `last` is that record's seq and
    /// the offset just past its newline (`None`: the file holds no valid record), `len` the
    /// file's length (to its padding, in a preallocated segment). Such bytes held records that
    /// were, or could have been, acknowledged, damaged since (the medium, a writeback lost
    /// after the sync): not a write a crash interrupted. Writers give no later record their
    /// seqs (FORMAT.md, section 4).
    ///
    /// Believed only when the mark names this very file, ends within those bytes, and its seq
    /// is one they could hold (no more records than shortest lines fit in them): a mark an
    /// earlier file on the same inode left behind fails these but for a coincidence.
    ///
    /// # Example
    /// ```
    /// use ndlog::consume::Watermark;
    /// let file = ndlog::fs::FileId { dev: 1, ino: 2 };
    /// // Records up to seq 3 end at byte 180, and the file is 240 bytes long.
    /// let mark = Watermark { file, end: 240, seq: 4 };
    /// assert!(mark.covers_lost_records(file, Some((3, 180)), 240));
    /// // Seq 40 cannot have ended within 60 bytes after seq 3.
    /// let far = Watermark { seq: 40, ..mark };
    /// assert!(!far.covers_lost_records(file, Some((3, 180)), 240));
    /// ```
    pub fn covers_lost_records(&self, file: FileId, last: Option<(u64, u64)>, len: u64) -> bool {
        let (seq, end) = last.unwrap_or((0, 0));
        let within = self.file == file && self.end > end && self.end <= len;
        let room = self.end.saturating_sub(end) / (crate::format::MIN_LINE_LEN as u64 + 1);
        within && self.seq > seq && self.seq - seq <= room
    }
}

/// The log a mark is published for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    /// A single-file log, `LOG.watermark` beside it: a mark is for the file now at the path.
    File(&'a Path),
    /// A segmented log's directory, `LOG/ndlog.watermark` in it: a mark is for the segment
    /// that held the record of its seq, and a mark with a higher seq replaces one with a lower
    /// (seqs rise across segments, and those a sync covered are never given out again).
    Segments(&'a Path),
}

impl Target<'_> {
    /// The log's path: the file, or the directory.
    fn log(&self) -> &Path {
        match self {
            Target::File(p) | Target::Segments(p) => p,
        }
    }

    /// Where its watermark lives.
    pub(crate) fn sidecar(&self) -> PathBuf {
        match self {
            Target::File(log) => sidecar_path(log),
            Target::Segments(dir) => names::segmented_watermark(dir),
        }
    }
}

/// Opens the watermark file for reading and writing; with `create`, creates it when missing
/// with `mode` and gives it the log's owner and group where the process may (root appending to
/// a user's log must not leave a file the user's own writers cannot update).
fn open_sidecar<V: Vfs>(vfs: &V, log: Target<'_>, mode: u32, create: bool) -> io::Result<V::File> {
    let path = log.sidecar();
    let log = log.log();
    if create {
        match vfs.open(&path, OpenOptions::read_write(Create::New, mode).no_follow()) {
            Ok(file) => {
                let meta = vfs.metadata(log)?;
                match file.set_owner(meta.uid, meta.gid) {
                    Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                    other => other?,
                }
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    vfs.open(&path, OpenOptions::read_write(Create::No, 0).no_follow())
}

/// The mark in the watermark file of `log`, read without creating or locking anything; `None`
/// when there is no mark that reads well: no file, a damaged one, or something no writer
/// writes through (a symlink, a FIFO, a directory).
pub(crate) fn read_mark<V: Vfs>(vfs: &V, log: Target<'_>) -> io::Result<Option<Watermark>> {
    match vfs.open(&log.sidecar(), OpenOptions::read().no_follow()) {
        Ok(file) => read_from(&file),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || crate::fs::is_not_a_regular_file(&e)
                || crate::fs::is_symlink_refused(&e) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// [`crate::read::last_record::discover_covered`] for the file `file` at `path` (a log, or a
/// segment of one), told by the durable watermark which records a sync covered: in a sealed
/// segment of a segmented log all of them (its roll synced it before the rename), in any other
/// file those its mark reaches (the mark names the file, lies within it, and reaches the
/// record). What it takes (the file's id, the mark, the settings file) is read once, at the
/// first question: only a file that ends in records of a write of several asks. So a log that
/// ends in a write of several records a sync covered is read up to its last readable record,
/// and that write is not read back to look for a hole.
pub(crate) fn discover_synced<V: Vfs>(
    vfs: &V,
    path: &Path,
    file: &V::File,
    len: u64,
    known: Option<Tail>,
    scratch: &mut Vec<u8>,
    padded: bool,
) -> io::Result<Tail> {
    // (Whether the file is a sealed segment, else its id and its log's mark.)
    let mut facts: Option<(bool, Option<FileId>, Option<Watermark>)> = None;
    let mut covered = |last: Last, end: u64| {
        let (sealed, id, mark) = facts.get_or_insert_with(|| {
            let (target, sealed) = target_of(vfs, path);
            if sealed {
                return (true, None, None);
            }
            let id = file.metadata().ok().map(|meta| meta.id);
            (false, id, read_mark(vfs, target).ok().flatten())
        });
        *sealed
            || matches!((id, mark), (Some(id), Some(m))
                if m.file == *id && m.end <= len && m.end >= end && m.seq >= last.seq)
    };
    crate::read::last_record::discover_covered(file, len, known, scratch, padded, &mut covered)
}

/// [`discover_synced`] from nothing known: where the file `file` at `path`, `len` bytes, ends.
pub(crate) fn find_end<V: Vfs>(
    vfs: &V,
    path: &Path,
    file: &V::File,
    len: u64,
    padded: bool,
) -> io::Result<Tail> {
    discover_synced(vfs, path, file, len, None, &mut Vec::new(), padded)
}

/// The log the file at `path` belongs to, and whether it is a sealed segment: a file named as a
/// segment in a directory beside a segmented log's settings file belongs to that log (and its
/// name says whether it is sealed); any other file is a log of its own.
fn target_of<'a, V: Vfs>(vfs: &V, path: &'a Path) -> (Target<'a>, bool) {
    let name = path.file_name().and_then(crate::segments::naming::parse);
    match (name, path.parent()) {
        (Some(name), Some(dir))
            if vfs.metadata(&dir.join(crate::segments::naming::SETTINGS)).is_ok() =>
        {
            (Target::Segments(dir), !name.active)
        }
        _ => (Target::File(path), false),
    }
}

/// The mark of `log`, when it says that the tail `tail` of the file `file` is damage a sync
/// covered ([`covers_damage`]): one read of the watermark file, and the test. An I/O error
/// reading it is returned (the caller must not take the damage for crash debris then); a
/// missing or damaged mark is `None`.
pub(crate) fn covering_damage<V: Vfs>(
    vfs: &V,
    log: Target<'_>,
    file: FileId,
    tail: &Tail,
) -> crate::Result<Option<Watermark>> {
    use crate::error::IoContext;
    if !tail.torn {
        return Ok(None);
    }
    let mark = read_mark(vfs, log).at(&log.sidecar(), "read")?;
    Ok(mark.filter(|m| covers_damage(m, file, tail)))
}

/// Voids, durably, a mark in `LOG.watermark` that names the log file `file` while it is still
/// empty (just created): a mark only an earlier file on the same inode can have left (a log
/// removed without its watermark and created again; file systems reuse inode numbers at once).
/// Left in place, it could make crash debris in the new file look like records a sync covered
/// ([`covers_damage`]). The intent goes with it. Nothing to do, the usual case, costs an open
/// and a read.
pub(crate) fn void_left_behind<V: Vfs>(vfs: &V, log: &Path, file: FileId) -> io::Result<()> {
    let path = sidecar_path(log);
    let sidecar = match vfs.open(&path, OpenOptions::read_write(Create::No, 0).no_follow()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match read_from(&sidecar)? {
        Some(mark) if mark.file == file && mark.end > 0 => {
            crate::fs::write_all_at(&sidecar, &[0u8; 128], 0)?;
            sidecar.sync_data()
        }
        _ => Ok(()),
    }
}

/// Whether `mark` says that records a sync covered lie past the last valid record of the file
/// `file`, whose end `tail` describes: in bytes after it that no longer hold one (media damage,
/// a writeback lost after the sync). Those bytes held records that were (or could have been)
/// acknowledged, so they are not crash debris, and no later record may take their seqs.
/// Believed only when the mark names this very file, ends within those bytes, and its seq is
/// one they could hold (no more records than shortest lines fit): a mark an earlier file on
/// the same inode left behind fails these but for a coincidence, which costs a gap in the
/// seqs, never a record.
pub(crate) fn covers_damage(mark: &Watermark, file: FileId, tail: &Tail) -> bool {
    let last = tail.last.map(|l| (l.seq, tail.end));
    tail.torn && mark.covers_lost_records(file, last, tail.content)
}

/// `LOG.watermark`.
pub(crate) fn sidecar_path(log: &Path) -> PathBuf {
    names::sidecar(log, ".watermark")
}

/// Size of `LOG.watermark` with the witness (bytes 48..64).
pub(crate) const WITNESSED_LEN: usize = 64;

/// `mark` and its witness `since`, the 64 bytes written at offset 0.
pub(crate) fn encode_witnessed(mark: &Watermark, since: u64) -> [u8; WITNESSED_LEN] {
    let mut b = [0u8; WITNESSED_LEN];
    b[..WATERMARK_LEN].copy_from_slice(&mark.encode());
    b[48..56].copy_from_slice(&since.to_le_bytes());
    let crc = crc32fast::hash(&b[..56]);
    b[56..60].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The witness of the mark in `bytes` (the start of `LOG.watermark`): `None` when there is
/// none, or it was written with another mark than the one now in bytes 0..48.
pub(crate) fn decode_witness(bytes: &[u8]) -> Option<u64> {
    let b = bytes.get(..WITNESSED_LEN)?;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[56..60]);
    if u32::from_le_bytes(crc) != crc32fast::hash(&b[..56]) {
        return None;
    }
    let mut since = [0u8; 8];
    since.copy_from_slice(&b[48..56]);
    Some(u64::from_le_bytes(since))
}

/// The error of opening a watermark file that is something else (a FIFO, a directory, a
/// symlink, which ndlog neither reads nor writes through), with what to do about it.
fn not_a_mark(e: io::Error) -> io::Error {
    if crate::fs::is_not_a_regular_file(&e) || crate::fs::is_symlink_refused(&e) {
        let what = "remove it: the next writer's sync writes a new one";
        return io::Error::new(e.kind(), format!("{e}; {what}"));
    }
    e
}

/// The watermark in an open `LOG.watermark`.
pub(crate) fn read_from<F: VfsFile + ?Sized>(file: &F) -> io::Result<Option<Watermark>> {
    let mut buf = [0u8; WATERMARK_LEN];
    let n = file.read_at(&mut buf, 0)?;
    Ok(Watermark::decode(&buf[..n]))
}

/// A writer's side of `LOG.watermark`: keeps it open, and raises it after each successful
/// sync. Every failure here only holds committed readers back until the next sync, so the
/// caller ignores it (the log itself is fine).
#[derive(Debug)]
pub(crate) struct Publisher<F> {
    file: Option<F>,
    /// The last mark this publisher wrote (or found it need not): one that covers a new mark
    /// makes publishing it a no-op, since a stored mark only rises for the same file.
    last: Option<Watermark>,
}

impl<F> Default for Publisher<F> {
    fn default() -> Self {
        Publisher { file: None, last: None }
    }
}

impl<F: VfsFile> Publisher<F> {
    /// Publishes that the log file `mark.file` of `log` is durable up to `mark.end`. Under an
    /// `flock` on the watermark file, so that concurrent writers (threads or processes) never
    /// lower it. A single file's mark is raised when it describes the same file and is behind,
    /// and replaced when it describes another file than the one now at the path (a compaction
    /// or a recreated log); a writer that synced a file compaction has since replaced
    /// publishes nothing. A segmented log's mark is replaced by any with a higher seq. `since`
    /// is the witness written with a single file's mark (see the module), if any.
    pub(crate) fn publish<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: Target<'_>,
        mode: u32,
        mark: Watermark,
        since: Option<u64>,
    ) -> io::Result<()> {
        if self.last.is_some_and(|l| l.file == mark.file && l.end >= mark.end && l.seq >= mark.seq)
        {
            // (A `sync()` after appends that each synced: five syscalls saved.)
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(open_sidecar(vfs, log, mode, true)?);
        }
        self.publish_open(vfs, log, mark, since)?;
        self.last = Some(mark);
        Ok(())
    }

    /// [`Publisher::publish`], for a compaction: only where `LOG.watermark` exists already
    /// (a compaction run by root never creates a file the log's writers could not update).
    pub(crate) fn publish_existing<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &Path,
        mark: Watermark,
    ) -> io::Result<()> {
        match open_sidecar(vfs, Target::File(log), 0, false) {
            Ok(file) => self.file = Some(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        self.publish_open(vfs, Target::File(log), mark, None)
    }

    fn publish_open<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: Target<'_>,
        mark: Watermark,
        since: Option<u64>,
    ) -> io::Result<()> {
        let file = self.file.as_ref().expect("opened above");
        let mut spins = 0u32;
        while !file.try_lock()? {
            // Held for a pread and a pwrite: microseconds.
            spins += 1;
            if spins > 20_000 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "LOG.watermark stays locked"));
            }
            std::thread::sleep(Duration::from_micros(if spins < 10 { 1 } else { 50 }));
        }
        let outcome = (|| {
            let stored = read_from(file)?;
            let log = match log {
                Target::File(log) => log,
                Target::Segments(_) => {
                    if stored.is_none_or(|s| s.seq < mark.seq) {
                        crate::fs::write_all_at(file, &mark.encode(), 0)?;
                    }
                    return Ok(());
                }
            };
            let current = vfs.metadata(log)?;
            if current.id != mark.file {
                return Ok(());
            }
            let write = match stored {
                Some(s) if s.file == mark.file => {
                    let ahead = s.end >= mark.end && s.seq >= mark.seq;
                    let consistent = (s.end <= mark.end) == (s.seq <= mark.seq);
                    // A stored mark past the end of the file, or whose end and seq disagree
                    // with ours, belongs to an earlier file on the same inode.
                    !ahead || !consistent || s.end > current.len
                }
                _ => true,
            };
            if write {
                match since {
                    Some(since) => {
                        crate::fs::write_all_at(file, &encode_witnessed(&mark, since), 0)?
                    }
                    None => crate::fs::write_all_at(file, &mark.encode(), 0)?,
                }
            }
            Ok(())
        })();
        let unlocked = file.unlock();
        if outcome.is_err() {
            // Open it afresh next time.
            self.file = None;
        }
        outcome.and(unlocked)
    }
}

/// What a committed reader knows of `LOG.watermark`: keeps it open and re-reads it on demand.
#[derive(Debug)]
pub(crate) struct Watcher<F> {
    path: PathBuf,
    /// The file open, and its identity.
    file: Option<(F, FileId)>,
}

impl<F: VfsFile> Watcher<F> {
    pub(crate) fn new(log: Target<'_>) -> Self {
        Watcher { path: log.sidecar(), file: None }
    }

    /// `LOG.watermark`'s path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The watermark now; `None` while there is none (no writer synced since the log was
    /// created) or it is damaged.
    ///
    /// The file kept open is the one at the path: a log removed and created again (its
    /// `LOG.watermark` with it) has a new one, which is opened instead. (One `stat` a read: a
    /// follower reads the mark only when the one it holds does not cover the next record.)
    pub(crate) fn read<V: Vfs<File = F>>(&mut self, vfs: &V) -> io::Result<Option<Watermark>> {
        let at_path = match vfs.metadata(&self.path) {
            Ok(meta) => meta.id,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.file = None;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if self.file.as_ref().is_none_or(|(_, id)| *id != at_path) {
            self.file = None;
            match vfs.open(&self.path, OpenOptions::read().no_follow()) {
                Ok(f) => {
                    let id = f.metadata()?.id;
                    self.file = Some((f, id));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(not_a_mark(e)),
            }
        }
        let (file, _) = self.file.as_ref().expect("opened above");
        let read = read_from(file);
        if read.is_err() {
            self.file = None;
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(end: u64, seq: u64) -> Watermark {
        Watermark { file: FileId { dev: 7, ino: 9 }, end, seq }
    }

    #[test]
    fn every_damaged_byte_is_refused() {
        let good = mark(1234, 56).encode();
        assert_eq!(Watermark::decode(&good), Some(mark(1234, 56)));
        for i in 0..44 {
            let mut bad = good;
            bad[i] ^= 0x20;
            assert_eq!(Watermark::decode(&bad), None, "byte {i}");
        }
        assert_eq!(Watermark::decode(&good[..47]), None);
    }

    #[test]
    fn a_mark_covers_records_ending_at_or_before_it() {
        let m = mark(100, 5);
        assert_eq!(m.covers(4, 60, 80), Cover::Yes);
        assert_eq!(m.covers(5, 80, 100), Cover::Yes);
        assert_eq!(m.covers(6, 100, 130), Cover::No);
        assert_eq!(m.covers(6, 80, 100), Cover::Stale);
        assert_eq!(m.covers(5, 90, 120), Cover::Stale);
    }
}
