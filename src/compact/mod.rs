//! Compaction: rewrite the log into a temporary file and rename it over the log, while writers
//! and readers keep working, without losing an acknowledged record.
//!
//! The protocol (FORMAT.md, section 7):
//! 1. take the compaction lock (one compaction at a time) and remove what crashed ones left;
//! 2. map the log and plan over its complete lines (no writer lock);
//! 3. write what the policy keeps to `LOG.compact.<id>.tmp`, created exclusively with the log's
//!    mode, and its index beside it; quarantine damaged lines;
//! 4. copy what writers appended meanwhile, until little is left; fsync the temporary file;
//! 5. take the writer lock; copy the last appends (a torn tail is now a crash remnant: it is
//!    quarantined); fsync the quarantine and the temporary file; for a chained log, record the
//!    anchors of the records whose predecessor was removed in `LOG.chain` (atomically); rename it over the log; rename
//!    its index over `LOG.idx`; fsync the directory; release the lock.
//!
//! A crash at any point leaves the old log or the new one at the path, each complete. Writers
//! notice the new inode under the lock and reopen; readers keep their mapped view until they
//! refresh.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::consume::watermark::{self, Publisher, Target};
use crate::error::{Error, IoContext, Result};
use crate::fs::{
    LockFile, OpenOptions, StdFs, Vfs, VfsFile, only_a_file, open_writer_lock, refused,
};
use crate::names;
use crate::read::chunks;
use crate::read::{Entry, Reader};

mod anchors;
mod newest;
mod output;
mod policy;
mod quarantine;
mod segmented;

use anchors::Anchors;
use output::Output;
pub(crate) use policy::Plan;
pub use policy::{DEFAULT_TOMBSTONE_RETENTION, Policy};
pub(crate) use quarantine::Quarantine;

/// Appends during compaction are copied without the writer lock until fewer bytes than this
/// remain; the rest is copied under the lock, which bounds how long writers wait.
const COPY_UNDER_LOCK: u64 = 256 * 1024;

/// The write pass reports its progress once every this many lines (and at the end).
const PROGRESS_LINES: usize = 65_536;

/// Rewrites a log by a [`Policy`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// let writer = ndlog::Writer::open(&path)?;
/// for id in [1, 2, 1, 3, 1] {
///     writer.append(&serde_json::json!({"id": id}))?;
/// }
/// let policy = ndlog::Policy::new().key(ndlog::JsonPointer::parse("/id")?);
/// let report = ndlog::Compactor::new(&path, policy).run()?;
/// assert_eq!((report.records_before, report.records_after), (5, 3));
/// let seqs: Vec<u64> = ndlog::Reader::open(&path)?.records().map(|r| r.seq).collect();
/// assert_eq!(seqs, [2, 4, 5]); // seqs are preserved, never renumbered
/// writer.append(&serde_json::json!({"id": 4}))?; // the writer follows the new file
/// # Ok::<(), ndlog::Error>(())
/// ```
pub struct Compactor<V: Vfs = StdFs> {
    vfs: V,
    path: PathBuf,
    policy: Policy,
    lock_timeout: Duration,
    queue_timeout: Option<Duration>,
    index_stride: u32,
    min_dead_share: f64,
    progress: Option<Box<dyn Fn(Progress) + Send + Sync>>,
}

impl<V: Vfs> std::fmt::Debug for Compactor<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor").field("path", &self.path).field("policy", &self.policy).finish()
    }
}

/// How far a compaction is: bytes of the old log processed, out of its size at the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes processed.
    pub done: u64,
    /// Bytes in the log when the compaction started.
    pub total: u64,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Whether the log was rewritten (a compaction that removes nothing leaves it alone).
    pub rewritten: bool,
    /// Records in the log when compaction started. A segmented log's records are counted
    /// where a compaction reads them: in the segments kept, when a key compaction or repair
    /// reads them all; retention alone reads none and leaves these three at 0 (see
    /// [`CompactReport::segments_removed`] and [`CompactReport::removed_seqs`]).
    pub records_before: u64,
    /// Records in the new log.
    pub records_after: u64,
    /// Records the policy removed (of a segmented log: from the segments kept).
    pub dropped: u64,
    /// Records writers appended during the compaction, copied as they were.
    pub appended_during: u64,
    /// Damaged spans moved to the quarantine file, and their bytes.
    pub quarantined_spans: u64,
    /// Bytes moved to the quarantine file.
    pub quarantined_bytes: u64,
    /// The quarantine file, when something was quarantined. A segmented log has one beside each
    /// damaged segment (`LOG/<first seq>.quarantine`): this is the last one written.
    pub quarantine: Option<PathBuf>,
    /// Size of the log before and after.
    pub bytes_before: u64,
    /// Size of the new log.
    pub bytes_after: u64,
    /// How long the writer lock was held: the longest any writer waited for this compaction.
    pub writer_lock_held: Duration,
    /// Wall time of the whole compaction.
    pub elapsed: Duration,
    /// Sealed segments retention removed whole (a segmented log).
    pub segments_removed: u64,
    /// The seqs the removed segments spanned, by their names: every record of them is gone
    /// (a key compaction or damage may have left some of these seqs without a record before).
    pub removed_seqs: Option<std::ops::RangeInclusive<u64>>,
    /// Set when the log was not rewritten because it ends in damaged records that a sync
    /// covered (the durable watermark reaches past its last valid record): they held
    /// acknowledged records, and their seqs must not be given again, which removing them
    /// would allow. The next append ends the log with a record; compaction then removes them.
    pub damaged_tail: Option<DamagedTail>,
}

/// Damaged records at the end of a log that a sync covered: see
/// [`CompactReport::damaged_tail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DamagedTail {
    /// Where they start: the end of the last valid record.
    pub offset: u64,
    /// The seq of the last of them, by the watermark.
    pub seq: u64,
}

impl Compactor<StdFs> {
    /// A compaction of the log at `path` on the real file system.
    pub fn new(path: impl AsRef<Path>, policy: Policy) -> Self {
        Self::new_in(StdFs, path, policy)
    }
}

impl<V: Vfs> Compactor<V> {
    /// A compaction of the log at `path` on the file system `vfs`.
    pub fn new_in(vfs: V, path: impl AsRef<Path>, policy: Policy) -> Self {
        Compactor {
            vfs,
            path: path.as_ref().to_path_buf(),
            policy,
            lock_timeout: Duration::from_secs(60),
            queue_timeout: None,
            index_stride: crate::index::DEFAULT_STRIDE,
            min_dead_share: 0.0,
            progress: None,
        }
    }

    /// How long to wait for the writer lock, and by default for another compaction to finish
    /// (default 60 s). Writers wait for the compaction only while it holds the writer lock.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long to wait for another compaction to finish before giving up with
    /// [`crate::ErrorKind::LockTimeout`] (default: the lock timeout). A writer compacting by
    /// itself uses zero: if a compaction is already running, it skips its own.
    #[must_use]
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = Some(timeout);
        self
    }

    /// The stride of the index written for the new log (default 4).
    #[must_use]
    pub fn index_stride(mut self, stride: u32) -> Self {
        self.index_stride = stride.clamp(1, crate::index::MAX_STRIDE);
        self
    }

    /// Rewrites only when the policy removes at least this share (0 to 1) of the records, or
    /// there is damage to quarantine (default 0: whenever it removes anything).
    #[must_use]
    pub fn min_dead_share(mut self, share: f64) -> Self {
        self.min_dead_share = share;
        self
    }

    /// Calls `f` as the compaction proceeds (for a progress bar).
    #[must_use]
    pub fn on_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Runs the compaction.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a policy value that cannot be meant, before anything
    /// is touched; [`crate::ErrorKind::NotALog`] for a file ndlog did not write, a directory or a
    /// special file (nothing is created beside it); lock timeouts; an I/O error when this
    /// process may not give the new log the log's owner and group (before anything changed);
    /// I/O errors naming the file. On any error the log at the path is complete: the old one,
    /// or (if the error came after the rename) the new one.
    pub fn run(&self) -> Result<CompactReport> {
        let started = Instant::now();
        self.policy.validate()?;
        let resolved = self.vfs.resolve(&self.path).at(&self.path, "resolve symlink")?;
        self.run_resolved(&resolved, started)
            .map_err(|e| crate::fs::named_as_given(e, &self.path, &resolved))
    }

    /// [`Compactor::run`] of the log at `path`, a path no symlink leads away from.
    fn run_resolved(&self, path: &Path, started: Instant) -> Result<CompactReport> {
        let vfs = &self.vfs;
        let meta = vfs.metadata(path).at(path, "stat")?;
        if meta.kind == crate::fs::FileKind::Dir {
            return self.run_segmented(path, started);
        }
        only_a_file(path, meta.kind)?;
        // The writer lock first: it refuses a file ndlog did not write before anything is
        // created beside it.
        let writer_lock = open_writer_lock(vfs, path, &meta, |file, len| {
            let tail = watermark::find_end(vfs, path, file, len, false);
            Ok(tail?.last.is_some())
        })?;
        let owner = (meta.uid, meta.gid);
        let compaction = LockFile::open(vfs, &names::compact_lock(path), meta.mode, Some(owner))?;
        let _one_at_a_time =
            compaction.acquire(path, self.queue_timeout.unwrap_or(self.lock_timeout))?;
        self.remove_leftovers(path)?;

        let log = vfs.open(path, OpenOptions::read()).map_err(|e| refused(path, e))?;
        let log_meta = log.metadata().at(path, "fstat")?;
        // Mapped only up to the end of the last record, found with pread: the bytes after it
        // may be a write in progress, or crash debris a writer may overwrite (FORMAT.md,
        // section 4). They are copied below, like appends made during the compaction.
        let mut scratch = Vec::new();
        let tail = crate::consume::watermark::discover_synced(
            vfs,
            path,
            &log,
            log_meta.len,
            None,
            &mut scratch,
            false,
        )
        .at(path, "read")?;
        let map = vfs.map(&log, tail.end).at(path, "mmap")?;
        let all = map.as_ref();
        let end = all.len();
        let head = Reader::new(all);
        if head.last().is_none() && log_meta.len > 0 && !writer_lock.has_marker()? {
            return Err(Error::not_a_log(
                path,
                "it holds no valid ndlog record; ndlog never repairs a file it did not write",
            ));
        }
        let clock = now_ms();
        let plan = Plan::build(&all[..end], &self.policy, clock);
        let mut anchors = Anchors::new(vfs, path, &head)?;
        let mut report = CompactReport {
            records_before: plan.records,
            dropped: plan.dropped,
            bytes_before: log_meta.len,
            ..CompactReport::default()
        };
        // A log that ends in damaged records a sync covered is not rewritten: see `held_back`.
        if tail.torn {
            let _guard = writer_lock.acquire(path, self.lock_timeout)?;
            let len = vfs.metadata(path).at(path, "stat")?.len;
            if let Some(damage) = covered_damage(vfs, path, &log, log_meta.id, len)? {
                return Ok(held_back(report, damage, started));
            }
        }
        let too_few =
            plan.dropped == 0 || (plan.dropped as f64) < self.min_dead_share * plan.records as f64;
        if too_few
            && plan.damaged == 0
            && !self.tail_is_torn(&writer_lock, path, &log, log_meta.id)?
        {
            report.records_after = plan.records;
            report.bytes_after = log_meta.len;
            report.elapsed = started.elapsed();
            return Ok(report);
        }

        // Every file that replaces or joins the log takes its owner, or nothing is changed.
        let mut out = Output::create(vfs.clone(), path, meta.mode, owner, self.index_stride)?;
        let mut quarantine =
            Quarantine::new(path, meta.mode, log_meta.id.ino, clock).owned_by(owner.0, owner.1);
        let total = log_meta.len;
        // The planned lines, by the plan: a clean record line is copied or skipped without
        // being verified again; anything else is parsed again to quarantine its damage.
        let (mut at, mut line, mut record) = (0usize, 0usize, 0u64);
        // Runs of lines the plan drops whole are jumped over, mark to mark (unless each
        // removed record's link is wanted for the chain's anchors).
        let (mut mark, jumps) = (0usize, !anchors.collects());
        while at < end {
            if jumps && let Some((next, offset)) = plan.skip(&mut mark, line, record) {
                // Reported as a line-by-line pass would: when the jump starts or crosses a
                // block of lines.
                if line % PROGRESS_LINES == 0 || next / PROGRESS_LINES != line / PROGRESS_LINES {
                    self.report_progress(offset as u64, total);
                }
                record += (next - line) as u64;
                (line, at) = (next, offset);
                continue;
            }
            let nl = at + memchr::memchr(b'\n', &all[at..end]).unwrap_or(end - at);
            let segment = &all[at..nl];
            if plan.clean.get(line) {
                let keeps = plan.keeps(record);
                if keeps {
                    out.push(segment, || crate::format::peek_seq_ts(segment))?;
                }
                anchors.saw(segment, keeps);
                record += 1;
            } else if !segment.is_empty() {
                let parsed = crate::format::resync::parse(segment, false);
                if let Some(reason) = parsed.reason {
                    let damaged =
                        if parsed.frame.is_some() { parsed.skip } else { segment.len() + 1 };
                    let bytes = &all[at..at + damaged];
                    quarantine
                        .push(vfs, at as u64, bytes, &reason.to_string())
                        .at(quarantine.path(), "write")?;
                }
                if let Some(f) = parsed.frame {
                    let keeps = plan.keeps(record);
                    if keeps {
                        out.push(&segment[parsed.skip..], || Some((f.seq, f.ts)))?;
                    }
                    anchors.saw(&segment[parsed.skip..], keeps);
                    record += 1;
                }
            }
            if line % PROGRESS_LINES == 0 {
                self.report_progress(at as u64, total);
            }
            at = nl + 1;
            line += 1;
        }
        let mut pos = end as u64;
        self.report_progress(pos, total);
        // Appends made meanwhile: copied as they are, without the writer lock, until little
        // is left; then the bulk of the new file is made durable, still without the lock.
        let mut appended = 0u64;
        loop {
            let now = vfs.metadata(path).at(path, "stat")?;
            if now.id != log_meta.id {
                return Err(replaced(path));
            }
            if now.len.saturating_sub(pos) <= COPY_UNDER_LOCK {
                break;
            }
            let before = pos;
            pos = copy_appended(
                &log,
                path,
                pos,
                now.len,
                false,
                &mut out,
                &mut quarantine,
                &mut appended,
            )?;
            self.report_progress(pos, total.max(pos));
            if pos == before {
                // What remains is one write not finished yet (or never to finish): the rest is
                // copied under the lock.
                break;
            }
        }
        out.sync()?;
        // The bulk of the new index, too, before writers have to wait. (A failure only leaves
        // the index to be rebuilt.)
        let _ = out.write_index();

        let guard = writer_lock.acquire(path, self.lock_timeout)?;
        let locked = Instant::now();
        let now = vfs.metadata(path).at(path, "stat")?;
        if now.id != log_meta.id {
            return Err(replaced(path));
        }
        // Under the lock no write is in progress: a torn tail is what a crash left. Unless a
        // sync covered it (see `held_back`), which only new damage can have made so since.
        if let Some(damage) = covered_damage(vfs, path, &log, log_meta.id, now.len)? {
            drop(guard);
            return Ok(held_back(report, damage, started));
        }
        copy_appended(&log, path, pos, now.len, true, &mut out, &mut quarantine, &mut appended)?;
        let quarantine_created = quarantine.commit(vfs).at(quarantine.path(), "write")?;
        let dir = names::parent_dir(path);
        if quarantine_created {
            // The damaged bytes must be durable before the file holding them is replaced.
            vfs.sync_dir(dir).at(dir, "fsync directory")?;
        }
        out.sync()?;
        // The anchors that let the kept records verify, durable before the rename makes them
        // needed (the old log's own anchors are kept: a crash may leave it in place).
        anchors.store(vfs, path, meta.mode)?;
        let new_len = out.len;
        let records_after = out.records;
        out.install(path)?;
        vfs.sync_dir(dir).at(dir, "fsync directory")?;
        // Every record of the new file is durable: committed followers may read it at once.
        // (A failure only holds them back until a writer's next sync.)
        if let Some(mark) = out.watermark() {
            let _ = Publisher::default().publish_existing(vfs, path, mark);
        }
        drop(guard);

        report.rewritten = true;
        report.records_after = records_after;
        report.appended_during = appended;
        report.quarantined_spans = quarantine.spans;
        report.quarantined_bytes = quarantine.bytes;
        report.quarantine = (quarantine.spans > 0).then(|| quarantine.path().to_path_buf());
        report.bytes_after = new_len;
        report.writer_lock_held = locked.elapsed();
        report.elapsed = started.elapsed();
        self.report_progress(total.max(pos), total.max(pos));
        Ok(report)
    }

    /// Whether the log ends in crash debris after its last record: a torn or damaged last line
    /// (checked under the writer lock, so that a write in progress is not mistaken for one).
    fn tail_is_torn(
        &self,
        writer_lock: &LockFile<V::File>,
        path: &Path,
        log: &V::File,
        id: crate::fs::FileId,
    ) -> Result<bool> {
        let _guard = writer_lock.acquire(path, self.lock_timeout)?;
        let now = self.vfs.metadata(path).at(path, "stat")?;
        if now.id != id || now.len == 0 {
            return Ok(false);
        }
        let tail = crate::consume::watermark::find_end(&self.vfs, path, log, now.len, false)
            .at(path, "read")?;
        Ok(tail.torn)
    }

    /// Removes temporary files of compactions that died (every compaction holds the lock this
    /// one holds, so none of them is running).
    fn remove_leftovers(&self, path: &Path) -> Result<()> {
        let dir = names::parent_dir(path);
        let prefix = names::compact_temp_prefix(path);
        let prefix = prefix.as_encoded_bytes();
        for name in self.vfs.list_dir(dir).at(dir, "list directory")? {
            let bytes = name.as_encoded_bytes();
            if bytes.starts_with(prefix) && bytes.ends_with(b".tmp") {
                let leftover = dir.join(&name);
                match self.vfs.remove_file(&leftover) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(Error::io(&leftover, "remove leftover", e));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn report_progress(&self, done: u64, total: u64) {
        if let Some(f) = &self.progress {
            f(Progress { done, total });
        }
    }
}

fn replaced(path: &Path) -> Error {
    let why = io::Error::other(
        "the log was replaced by another process during compaction; nothing was changed",
    );
    Error::io(path, "compact", why)
}

/// The damaged records a sync covered after the last valid record of the log file `log` (the
/// file `id`, `len` bytes), if the watermark says there are any
/// ([`crate::consume::watermark::covers_damage`]).
fn covered_damage<V: Vfs>(
    vfs: &V,
    path: &Path,
    log: &V::File,
    id: crate::fs::FileId,
    len: u64,
) -> Result<Option<DamagedTail>> {
    let tail = crate::consume::watermark::find_end(vfs, path, log, len, false).at(path, "read")?;
    let mark = watermark::covering_damage(vfs, Target::File(path), id, &tail)?;
    Ok(mark.map(|m| DamagedTail { offset: tail.end, seq: m.seq }))
}

/// The report of a compaction that left the log alone because it ends in damaged records a
/// sync covered. Rewriting it would remove them, and with them what keeps their seqs from
/// being given again: the watermark that covers them names this file, and a crash right after
/// the rename could leave the new file without a mark. A writer appending after them ends the
/// log with a record again (`Writer::neutralise_debris`), after which a compaction removes
/// them like any damage between records.
fn held_back(mut report: CompactReport, damage: DamagedTail, started: Instant) -> CompactReport {
    report.records_after = report.records_before;
    report.bytes_after = report.bytes_before;
    report.damaged_tail = Some(damage);
    report.elapsed = started.elapsed();
    report
}

/// Copies the complete lines of `from..len` of the old log up to its last record (records as
/// they are, damage to the quarantine), and with `last` what follows it (a torn tail, an
/// unfinished write) to the quarantine. Returns where it stopped. Records of a write that has
/// not finished (or never will) are not copied: a new file ending in them, all of it marked
/// durable, would keep them as records.
#[allow(clippy::too_many_arguments)]
fn copy_appended<V: Vfs>(
    log: &V::File,
    log_path: &Path,
    from: u64,
    len: u64,
    last: bool,
    out: &mut Output<V>,
    quarantine: &mut Quarantine<V::File>,
    appended: &mut u64,
) -> Result<u64> {
    let mut buf = Vec::new();
    let vfs = out.vfs.clone();
    let path = out.path.clone();
    let tail =
        crate::consume::watermark::discover_synced(&vfs, log_path, log, len, None, &mut buf, false)
            .at(&path, "read")?;
    let finished = tail.end.max(from);
    let end = chunks::for_each_entry(log, from, finished, &mut buf, |base, chunk, entry| {
        match entry {
            Entry::Record(r) => {
                *appended += 1;
                out.push(r.line, || Some((r.seq, r.ts))).map_err(io::Error::from)?;
            }
            Entry::Corrupt { offset, len, reason } => {
                let bytes = &chunk[offset as usize..(offset + len) as usize];
                quarantine.push(&vfs, base + offset, bytes, &reason.to_string())?;
            }
            Entry::Padding { .. } | Entry::TornTail { .. } => {}
        }
        Ok(())
    })
    .at(&path, "copy appended records")?;
    if last && end < len {
        let mut torn = vec![0u8; (len - end) as usize];
        crate::fs::read_exact_at(log, &mut torn, end).at(&path, "read")?;
        let why = match tail.unfinished {
            Some(_) => "an unfinished write (a write cut short by a crash, never acknowledged)",
            None => "torn tail (a write cut short by a crash)",
        };
        quarantine.push(&vfs, end, &torn, why).at(quarantine.path(), "write")?;
        return Ok(len);
    }
    Ok(end)
}
