//! Whether a sync already covers a record, so that a writer need not sync it again: a sync this
//! handle ran or runs, or one another process ran or runs.
//!
//! An `fdatasync` makes durable every byte of the file written before it began, whichever
//! process wrote it. So a writer that syncs first looks at the end of the file (not just of
//! its own record: records other processes wrote before its sync began are covered too), and
//! publishes that end in `LOG.watermark` once the sync returned. Another writer whose record
//! ends at or below a published end skips its own sync. One whose record a sync *in flight*
//! covers (announced, and no mark reaches its end yet) waits for that sync instead: each writer announces, before its `fdatasync`, the end
//! it covers in a second record of `LOG.watermark` (the *intent*, at byte 64; readers of the
//! watermark read only its first 48 bytes):
//!
//! ```text
//! offset  size  field
//!     64     8  magic "ndlogIN1"
//!     72     8  dev of the log file
//!     80     8  ino of that file
//!     88     8  end: a sync of that file began after every record ending at or before it was written
//!     96     8  seq of the record that ends at `end`
//!    104     8  when the sync began (CLOCK_MONOTONIC, ns)
//!    112     8  since: the witness its mark will carry (below)
//!    120     4  CRC-32 (IEEE) of bytes 64..120
//!    124     4  zero
//! ```
//!
//! An intent is a hint: its sync may fail or its process die, so a waiter gives up after a
//! bound and syncs itself; it trusts only the published watermark, which a writer writes
//! after its sync returned. The rules that keep "never acknowledged before durable":
//!
//! - Only the published watermark acknowledges: a record is skipped when the mark names the
//!   same file (dev and inode), and an end and seq at or past the record's, and carries a
//!   witness at or below the start of every record the skip acknowledges (below).
//! - A mark that was in `LOG.watermark` when this handle first looked at a file is not trusted
//!   (it may be left by an earlier file on the same inode, a log removed and created again);
//!   every mark written after that was published by a writer of this very file (the handle
//!   holds the file open, so its inode cannot be reused meanwhile).
//! - A poisoned handle acknowledges nothing, skipped sync or not.
//!
//! **The witness.** Linux reports a writeback error once to every open file description that
//! was open when it happened (and, while nobody has seen it, to one opened later): a process
//! that opened the log *after* another process was told of an error sees its own later sync
//! succeed, though bytes it never wrote were lost. A writer trusting a mark that process
//! published would acknowledge a lost record where its own `fdatasync` would have failed. So a
//! publisher writes beside its mark `since`, an offset past which every byte of the file was
//! written after it opened the descriptor it synced (the end of the log the first time this
//! handle syncs that file: bytes past it were appended later), and a writer trusts the mark only
//! for records starting at or past `since`. Pages dirtied by those records were written back,
//! well or not, while the publisher's descriptor was open, so its sync would have reported a
//! failure, and a publisher told of one is poisoned and publishes nothing again. The records
//! a skip acknowledges start at or past the handle's own durable end (everything below it is
//! durable already), which is the bound compared; a handle that has not synced the file yet
//! compares 0, and syncs its first records itself.
//!
//! A handle that has seen no other writer append for [`SOLO_AFTER`] skips all of this but its
//! own threads' syncs: its records are covered by its own syncs alone, and the three system
//! calls per sync (a read of `LOG.watermark`, a `statx` of the log, the intent's write) would
//! be spent for nothing. It sees another writer at its next append after that writer's.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::consume::Watermark;
use crate::consume::watermark::{WATERMARK_LEN, decode_witness, sidecar_path};
use crate::fs::{Create, FileId, OpenOptions, Vfs, VfsFile};
use crate::read::last_record::{self, Last, Tail};

const INTENT_AT: u64 = 64;
const INTENT_LEN: usize = 64;
const INTENT_MAGIC: &[u8; 8] = b"ndlogIN1";
/// What one read of `LOG.watermark` takes in: the mark, its witness and the intent.
const READ_LEN: usize = INTENT_AT as usize + INTENT_LEN;
/// A waiter for another process's sync looks again after this long.
const POLL: Duration = Duration::from_micros(50);
/// It waits at most this many times its own last sync's time (at least [`MIN_WAIT`], at most
/// [`MAX_WAIT`]) from when that sync began, then syncs itself.
const WAIT_FACTOR: u32 = 4;
const MIN_WAIT: Duration = Duration::from_millis(2);
const MAX_WAIT: Duration = Duration::from_millis(50);

/// A handle that saw no other writer append for this long works alone.
const SOLO_AFTER: Duration = Duration::from_secs(10);

/// A sync announced in `LOG.watermark`, in flight or done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Intent {
    mark: Watermark,
    /// CLOCK_MONOTONIC, ns.
    began: u64,
    /// The witness the mark published after this sync will carry.
    since: u64,
}

impl Intent {
    fn encode(&self) -> [u8; INTENT_LEN] {
        let mut b = [0u8; INTENT_LEN];
        b[..8].copy_from_slice(INTENT_MAGIC);
        b[8..16].copy_from_slice(&self.mark.file.dev.to_le_bytes());
        b[16..24].copy_from_slice(&self.mark.file.ino.to_le_bytes());
        b[24..32].copy_from_slice(&self.mark.end.to_le_bytes());
        b[32..40].copy_from_slice(&self.mark.seq.to_le_bytes());
        b[40..48].copy_from_slice(&self.began.to_le_bytes());
        b[48..56].copy_from_slice(&self.since.to_le_bytes());
        let crc = crc32fast::hash(&b[..56]);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Intent> {
        let b = b.get(..INTENT_LEN)?;
        let u64_at = |i: usize| {
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(n)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&b[56..60]);
        if &b[..8] != INTENT_MAGIC || u32::from_le_bytes(crc) != crc32fast::hash(&b[..56]) {
            return None;
        }
        let file = FileId { dev: u64_at(8), ino: u64_at(16) };
        let mark = Watermark { file, end: u64_at(24), seq: u64_at(32) };
        Some(Intent { mark, began: u64_at(40), since: u64_at(48) })
    }
}

/// Whether `a` says that every record up to `mark`'s is durable (or being synced).
pub(super) fn reaches(a: &Watermark, mark: &Watermark) -> bool {
    a.file == mark.file && a.end >= mark.end && a.seq >= mark.seq
}

/// CLOCK_MONOTONIC in ns: the same clock in every process of the machine.
fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

/// What this handle knows of syncs, its own and other processes'.
#[derive(Debug)]
pub(super) struct Cover<F> {
    local: Mutex<Local<F>>,
    /// A sync of this handle ended.
    ended: Condvar,
    /// When this handle last saw another writer's append (ms since `epoch`; 0: never).
    other_seen: AtomicU64,
    epoch: Instant,
}

#[derive(Debug)]
struct Local<F> {
    /// The highest end this handle knows durable: synced by it, or published and trusted.
    durable: Option<Watermark>,
    /// The highest end a sync of this handle now in flight covers, and how many are.
    inflight: Option<Watermark>,
    syncing: usize,
    /// Threads of this handle waiting for one of its syncs to end.
    waiting: usize,
    /// `LOG.watermark`, opened for reading the mark and writing intents (`None` until it
    /// exists: the first sync's publish creates it).
    sidecar: Option<F>,
    /// The log file the handle last looked at, and the mark `LOG.watermark` held then: not
    /// trusted (see the module's rules).
    seen: Option<(FileId, Option<Watermark>)>,
    /// The file this handle syncs and the witness it publishes for it: the end of the log
    /// when it first synced that file (its descriptor was open before any byte past it was
    /// written).
    opened: Option<(FileId, u64)>,
    /// How long this handle's last sync took: how long it waits for another's.
    last_sync: Duration,
    /// Reads of the end of the file.
    scratch: Vec<u8>,
}

impl<F> Default for Cover<F> {
    fn default() -> Self {
        let local = Local {
            durable: None,
            inflight: None,
            syncing: 0,
            waiting: 0,
            sidecar: None,
            seen: None,
            opened: None,
            last_sync: Duration::ZERO,
            scratch: Vec::new(),
        };
        Cover {
            local: Mutex::new(local),
            ended: Condvar::new(),
            other_seen: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

/// What [`Cover::check`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// A sync that returned covers the record: it is durable.
    Durable,
    /// A sync in flight covers it: wait for it, and look again.
    InFlight,
    /// Nothing covers it: sync.
    Nothing,
}

impl<F: VfsFile> Cover<F> {
    fn lock(&self) -> MutexGuard<'_, Local<F>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another writer appended to the log (seen under the writer lock).
    pub(super) fn note_other_writer(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.other_seen.store(now, Ordering::Relaxed);
    }

    /// The handle moved to another log file (a compaction replaced its file): what it knew of
    /// the old one's syncs says nothing of the new one, whose inode number may even be the old
    /// one's (a log removed and created again after the handle let go of the old file).
    pub(super) fn forget(&self) {
        let mut local = self.lock();
        local.durable = None;
        local.seen = None;
        local.opened = None;
    }

    /// Whether another writer appended lately: only then do other processes' syncs matter.
    fn shared(&self) -> bool {
        let seen = self.other_seen.load(Ordering::Relaxed);
        seen != 0
            && self.epoch.elapsed().as_millis() as u64 + 1 - seen < SOLO_AFTER.as_millis() as u64
    }

    /// Whether a sync covers `mark` (the end of a record this handle wrote to the log at
    /// `log`), or one in flight will; when a sync of this handle is in flight and covers it,
    /// waits for it first. `since` is when the caller began to look (bounding its waits for
    /// other processes' syncs).
    pub(super) fn check<V: Vfs<File = F>>(
        &self,
        vfs: &V,
        log: &Path,
        mark: Watermark,
        since: Instant,
    ) -> Found {
        let mut local = self.lock();
        if local.durable.is_some_and(|d| reaches(&d, &mark)) {
            return Found::Durable;
        }
        if local.syncing > 0 && local.inflight.is_some_and(|i| reaches(&i, &mark)) {
            local.waiting += 1;
            let mut local = self.ended.wait(local).unwrap_or_else(PoisonError::into_inner);
            local.waiting -= 1;
            return Found::InFlight;
        }
        if !self.shared() {
            return Found::Nothing;
        }
        let (published, witness, intent) = match local.read(vfs, log) {
            Ok(read) => read,
            Err(_) => return Found::Nothing,
        };
        // Every record this handle has yet to acknowledge starts at or past its durable end.
        let floor = local.durable.filter(|d| d.file == mark.file).map_or(0, |d| d.end);
        let witnessed = |since: u64| since <= floor;
        let untrusted = match local.seen {
            Some((file, first)) if file == mark.file => first,
            _ => {
                // First look at this file: whatever is there now may be a leftover.
                local.seen = Some((mark.file, published));
                published
            }
        };
        let trusted = |p: &Watermark| Some(*p) != untrusted && witness.is_some_and(witnessed);
        if let Some(p) = published.filter(|p| trusted(p) && reaches(p, &mark)) {
            local.durable = Some(p);
            return Found::Durable;
        }
        let bound = (local.last_sync * WAIT_FACTOR).clamp(MIN_WAIT, MAX_WAIT);
        let fresh = |i: &Intent| {
            let age = Duration::from_nanos(monotonic_ns().saturating_sub(i.began));
            age < bound && since.elapsed() < bound
        };
        // The sync an intent announced is over once a mark reaches its end (if that mark is
        // not trusted here, there is nothing to wait for either).
        let in_flight = |i: &Intent| !published.is_some_and(|p| reaches(&p, &i.mark));
        let useful = |i: &Intent| reaches(&i.mark, &mark) && witnessed(i.since);
        if intent.is_some_and(|i| useful(&i) && in_flight(&i) && fresh(&i)) {
            drop(local);
            std::thread::sleep(POLL);
            return Found::InFlight;
        }
        Found::Nothing
    }

    /// Before this handle's sync of `file`: the end it covers, `mark` (the end of the
    /// caller's record) or past it, where other writers appended since (read from the file:
    /// every byte below its length now was written before the sync begins); announces it in
    /// flight, to this handle's threads and in `LOG.watermark` to other processes. The sync
    /// ends when the guard does.
    pub(super) fn begin(&self, file: &F, mark: Watermark) -> Syncing<'_, F> {
        let shared = self.shared();
        let mut local = self.lock();
        let covers = if shared { local.end_now(file, mark) } else { mark };
        let since = match local.opened {
            Some((file, since)) if file == mark.file => since,
            _ => {
                // Past both the end this handle knows and the file's length now (a torn tail
                // below it may predate the descriptor).
                match file.metadata() {
                    Ok(meta) => {
                        let since = mark.end.max(meta.len);
                        local.opened = Some((mark.file, since));
                        since
                    }
                    // Unknown: vouch for nothing this time, and look again at the next sync.
                    Err(_) => u64::MAX,
                }
            }
        };
        local.syncing += 1;
        if local.inflight.is_none_or(|i| reaches(&covers, &i)) {
            local.inflight = Some(covers);
        }
        if let Some(sidecar) = local.sidecar.as_ref().filter(|_| shared) {
            let intent = Intent { mark: covers, began: monotonic_ns(), since };
            // A hint: a failure only makes others sync for themselves.
            let _ = crate::fs::write_all_at(sidecar, &intent.encode(), INTENT_AT);
        }
        Syncing { cover: self, covers, since, began: Instant::now(), ok: false }
    }

    /// After this handle's sync begun by [`Cover::begin`] covering `covers`, which took
    /// `took`: on success, everything up to `covers` is durable. Wakes the threads waiting.
    fn end(&self, covers: Watermark, ok: bool, took: Duration) {
        let mut local = self.lock();
        local.syncing -= 1;
        if local.syncing == 0 {
            local.inflight = None;
        }
        if ok {
            local.last_sync = took;
            // A durable end of another file, one a compaction replaced, says nothing now; but a
            // sync of the old file ending late does not replace the end of the file the handle
            // syncs now (the one its witness describes).
            let current = local.opened.map(|(file, _)| file);
            let stale = |d: &Watermark| d.file != covers.file && current != Some(d.file);
            if local.durable.is_none_or(|d| stale(&d) || reaches(&covers, &d)) {
                local.durable = Some(covers);
            }
        }
        // (A notify is a system call even with no one waiting: a lone thread's every sync.)
        let waiting = local.waiting > 0;
        drop(local);
        if waiting {
            self.ended.notify_all();
        }
    }
}

/// A sync of this handle in flight: ends it (as failed unless [`Syncing::succeeded`] said
/// otherwise) when dropped, so that a panic never leaves its waiters waiting.
#[must_use]
pub(super) struct Syncing<'a, F: VfsFile> {
    cover: &'a Cover<F>,
    /// The end it covers.
    pub(super) covers: Watermark,
    /// The witness to publish with it.
    pub(super) since: u64,
    began: Instant,
    ok: bool,
}

impl<F: VfsFile> Syncing<'_, F> {
    /// The sync returned without error.
    pub(super) fn succeeded(mut self) {
        self.ok = true;
    }
}

impl<F: VfsFile> Drop for Syncing<'_, F> {
    fn drop(&mut self) {
        self.cover.end(self.covers, self.ok, self.began.elapsed());
    }
}

impl<F: VfsFile> Local<F> {
    /// The published mark, its witness and the intent in `LOG.watermark`.
    fn read<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &Path,
    ) -> io::Result<(Option<Watermark>, Option<u64>, Option<Intent>)> {
        if self.sidecar.is_none() {
            let path = sidecar_path(log);
            match vfs.open(&path, OpenOptions::read_write(Create::No, 0).no_follow()) {
                Ok(file) => self.sidecar = Some(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, None, None)),
                Err(e) => return Err(e),
            }
        }
        let sidecar = self.sidecar.as_ref().expect("opened above");
        let mut buf = [0u8; READ_LEN];
        let n = match sidecar.read_at(&mut buf, 0) {
            Ok(n) => n,
            Err(e) => {
                self.sidecar = None;
                return Err(e);
            }
        };
        let published = Watermark::decode(&buf[..n.min(WATERMARK_LEN)]);
        let witness = published.and(decode_witness(&buf[..n]));
        let intent = buf.get(INTENT_AT as usize..n).and_then(Intent::decode);
        Ok((published, witness, intent))
    }

    /// The end of the last record in `file` now, at or past `mark`'s.
    fn end_now(&mut self, file: &F, mark: Watermark) -> Watermark {
        let Ok(meta) = file.metadata() else { return mark };
        if meta.len <= mark.end {
            return mark;
        }
        let last = Some(Last { seq: mark.seq, ts: 0 });
        let known = Tail { len: mark.end, last, end: mark.end, content: mark.end, ..Tail::EMPTY };
        match last_record::discover(file, meta.len, Some(known), &mut self.scratch) {
            Ok(Tail { end, last: Some(last), .. }) if end > mark.end && last.seq > mark.seq => {
                Watermark { file: mark.file, end, seq: last.seq }
            }
            _ => mark,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intent_round_trips_and_every_damaged_byte_is_refused() {
        let mark = Watermark { file: FileId { dev: 3, ino: 4 }, end: 900, seq: 12 };
        let intent = Intent { mark, began: 77, since: 500 };
        let good = intent.encode();
        assert_eq!(Intent::decode(&good), Some(intent));
        for i in 0..60 {
            let mut bad = good;
            bad[i] ^= 1;
            assert_eq!(Intent::decode(&bad), None, "byte {i}");
        }
        assert_eq!(Intent::decode(&good[..58]), None);
    }

    #[test]
    fn a_fresh_intent_is_waited_for_and_a_stale_one_is_not() {
        use crate::sim::SimFs;
        let fs = SimFs::new(1);
        let log = Path::new("/log.ndjson");
        fs.put(log, b"");
        let file = FileId { dev: 1, ino: 1 };
        let mark = Watermark { file, end: 100, seq: 3 };
        fs.put(sidecar_path(log), b"");
        let how = OpenOptions::read_write(Create::No, 0);
        let sidecar = fs.open(&sidecar_path(log), how).unwrap();
        let write_intent = |began: u64| {
            let intent = Intent { mark: Watermark { end: 200, seq: 5, ..mark }, began, since: 0 };
            crate::fs::write_all_at(&sidecar, &intent.encode(), INTENT_AT).unwrap();
        };
        let cover = Cover::<crate::sim::SimFile>::default();
        // Alone, a handle does not look at other processes' syncs at all.
        write_intent(monotonic_ns());
        assert_eq!(cover.check(&fs, log, mark, Instant::now()), Found::Nothing);
        cover.note_other_writer();
        assert_eq!(cover.check(&fs, log, mark, Instant::now()), Found::InFlight);
        // Waited for long enough: sync.
        let long_ago = Instant::now() - MIN_WAIT;
        assert_eq!(cover.check(&fs, log, mark, long_ago), Found::Nothing);
        // An intent whose sync began long ago (its process died, say) is not waited for.
        write_intent(monotonic_ns() - MIN_WAIT.as_nanos() as u64);
        assert_eq!(cover.check(&fs, log, mark, Instant::now()), Found::Nothing);
        // Nor one that does not reach the record.
        write_intent(monotonic_ns());
        let beyond = Watermark { end: 300, seq: 9, ..mark };
        assert_eq!(cover.check(&fs, log, beyond, Instant::now()), Found::Nothing);
        // Nor one whose sync is over: a mark reaches its end (here one not trusted, found at the
        // first look, so that the record is not taken for durable either).
        let done = Watermark { end: 200, seq: 5, ..mark };
        crate::fs::write_all_at(&sidecar, &done.encode(), 0).unwrap();
        let fresh_cover = Cover::<crate::sim::SimFile>::default();
        fresh_cover.note_other_writer();
        assert_eq!(fresh_cover.check(&fs, log, mark, Instant::now()), Found::Nothing);
    }

    #[test]
    fn a_mark_reaches_records_of_its_file_at_or_before_it() {
        let f = FileId { dev: 1, ino: 2 };
        let m = |end, seq| Watermark { file: f, end, seq };
        assert!(reaches(&m(100, 5), &m(100, 5)));
        assert!(reaches(&m(200, 9), &m(100, 5)));
        assert!(!reaches(&m(100, 5), &m(200, 9)));
        let other = Watermark { file: FileId { dev: 1, ino: 3 }, end: 500, seq: 50 };
        assert!(!reaches(&other, &m(100, 5)));
    }
}
