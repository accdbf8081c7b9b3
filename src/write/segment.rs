//! A writer on a segmented log: it appends to the active segment, rolls it under the lock when
//! the settings say it is full (see [`crate::segments`] for the protocol), and follows a roll
//! another writer made before it appends again.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, IoContext, Result};
use crate::format::MAX_FRAME_OVERHEAD;
use crate::fs::{LockFile, Vfs, VfsFile};
use crate::names;
use crate::read::last_record::{Last, Tail};
use crate::segments::Settings;
use crate::segments::active::{self, Active};

use super::batch::{Source, first_ts};
use super::chain::ChainWriter;
use super::dedup::DedupState;
use super::derive::LogAt;
use super::derived::Derived;
use super::group::Combiner;
use super::index::IndexWriter;
use super::versions::Versions;
use super::{Options, State, Writer};

/// What a writer knows of the active segment it appends to.
#[derive(Debug)]
pub(super) struct SegmentAt {
    /// The seq its name starts at.
    pub(super) first_seq: u64,
    /// The log's last record before it.
    pub(super) before: Last,
    /// The ts of its first record, once read or written.
    pub(super) first_ts: Option<u64>,
    /// Whether it is preallocated (padded with newlines), and written in place.
    pub(super) padded: bool,
}

impl<V: Vfs> Writer<V> {
    /// Opens the segmented log `dir` (a directory holding `ndlog.json`).
    pub(super) fn open_segmented(vfs: V, dir: &Path, opts: Options) -> Result<Self> {
        let settings = settings_of(&vfs, dir, &opts)?;
        if opts.auto_compact.is_some() {
            return Err(Error::invalid_argument(format!(
                "{}: a segmented log is not compacted by its writers (retention there removes \
                 whole segments: run `ndlog compact --every DUR` or a Compactor beside them); \
                 open it without auto_compact",
                dir.display()
            )));
        }
        // (The settings themselves were checked as they were read.)
        let frame = crate::format::MAX_FRAME_OVERHEAD as u64;
        if (opts.max_record_size as u64).saturating_add(frame) > settings.segment_bytes {
            return Err(Error::invalid_argument(format!(
                "{}: its segments hold {} bytes ({}), too few for a record of the maximum record \
                 size {} and its frame; open it with a maximum record size of at most {} \
                 (--max-record-size)",
                dir.display(),
                settings.segment_bytes,
                dir.join(crate::segments::naming::SETTINGS).display(),
                opts.max_record_size,
                settings.segment_bytes.saturating_sub(frame)
            )));
        }
        let lock = LockFile::open(&vfs, &names::segmented_lock_file(dir), opts.mode, None)?;
        let guard = lock.acquire(dir, opts.lock_timeout)?;
        let active = active::open_active(&vfs, dir, opts.mode, preallocation(&settings))?;
        // Always: a roll that died before its directory fsync leaves a segment whose name a
        // power loss can take back, and a creation that died before its parent's fsync a log
        // directory whose own name can go; nothing is acknowledged before both are durable.
        vfs.sync_dir(dir).at(dir, "fsync directory")?;
        let parent = names::parent_dir(dir);
        vfs.sync_dir(parent).at(parent, "fsync directory")?;
        let mode = active.meta.mode;
        let mut scratch = Vec::new();
        let padded = crate::segments::naming::is_padded(&active.path);
        let found = crate::consume::watermark::discover_synced(
            &vfs,
            &active.path,
            &active.file,
            active.meta.len,
            None,
            &mut scratch,
            padded,
        );
        let found = with_floor(found.at(&active.path, "read")?, active.before);
        let index = opts
            .index
            .then(|| IndexWriter::new(&active.path, opts.index_stride).sole_writer(opts.exclusive));
        let table = opts.version_table.then(|| names::segmented_versions(dir));
        let versions =
            opts.entity_key.clone().map(|key| Versions::new(key, opts.entity_cache, table));
        let dedup = opts.dedup.clone().map(DedupState::new);
        let (want, first) = (opts.chain, active.first_seq);
        let chain = ChainWriter::open_segmented(&vfs, dir, &active.file, found, first, want, mode)?;
        let mut derived = Derived { dedup, index, versions, chain };
        let last_seq = found.last.map_or(0, |l| l.seq);
        let log = LogAt {
            vfs: &vfs,
            file: &active.file,
            id: active.meta.id,
            // (Up to the last record, as `open_with` does.)
            len: found.end,
            mode,
            last_seq,
            now: 0,
            older: Some(crate::segments::older::Older { dir, first_seq: active.first_seq }),
        };
        derived.opened(&log).at(&active.path, "read")?;
        if opts.exclusive {
            // Released when the handle's lock file descriptor closes (see `open_with`).
            std::mem::forget(guard);
        } else {
            drop(guard);
        }
        let Active { path, first_seq, file, meta, before } = active;
        let state = State {
            file: Arc::new(file),
            id: meta.id,
            active: path,
            segment: Some(SegmentAt { first_seq, before, first_ts: None, padded }),
            tail: Some(found),
            buf: Vec::new(),
            scratch,
            derived,
            unsynced_writes: 0,
            synced_writes: 0,
            staged: (Vec::new(), Vec::new()),
        };
        Ok(Writer {
            vfs,
            path: dir.to_path_buf(),
            opts,
            settings: Some(settings),
            lock,
            mode,
            state: Mutex::new(state),
            group: Combiner::default(),
            sync_lock: Mutex::default(),
            cover: Default::default(),
            auto: None,
            poison: OnceLock::new(),
        })
    }

    /// Under the lock, before seqs are assigned: rolls the active segment when the batch would
    /// take it past the settings (an empty segment never rolls: a batch larger than a segment
    /// gets one to itself). Returns the tail to append at.
    pub(super) fn roll_if_due<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        state: &mut State<V>,
        source: &Source<'_, P>,
        tail: Tail,
        floor: u64,
        now: u64,
    ) -> Result<(Tail, bool)> {
        let (Some(settings), Some(segment), Some(last)) =
            (&self.settings, &mut state.segment, tail.last)
        else {
            return Ok((tail, false));
        };
        // After the last seq there is none to name a segment by: the append is refused.
        if tail.end == 0 || last.seq < segment.first_seq || last.seq == u64::MAX {
            return Ok((tail, false));
        }
        let bytes = tail.end.saturating_add(source.bytes_at_most(MAX_FRAME_OVERHEAD));
        let records = last.seq - segment.first_seq + 1;
        let by_bytes = bytes > settings.segment_bytes;
        let by_records = settings
            .segment_records
            .is_some_and(|n| records.saturating_add(source.count() as u64) > n);
        let by_age = match settings.segment_age {
            None => false,
            Some(age) => {
                let first_ts = match segment.first_ts {
                    Some(ts) => ts,
                    None => {
                        let ts = first_ts(&*state.file).unwrap_or(now);
                        segment.first_ts = Some(ts);
                        ts
                    }
                };
                now.saturating_sub(first_ts) >= crate::clock::millis(age)
            }
        };
        if !(by_bytes || by_records || by_age) {
            return Ok((tail, false));
        }
        // The sealed segment's index covers it to its end (it is never written again).
        if let Some(index) = &mut state.derived.index {
            let log = LogAt {
                vfs: &self.vfs,
                file: &*state.file,
                id: state.id,
                len: tail.end,
                mode: self.mode,
                last_seq: last.seq,
                now,
                older: None,
            };
            index.keep_up(&log);
        }
        if segment.padded {
            // A sealed segment ends at its last record: the padding goes (and with it the
            // size change is made durable by the sync below). Damage after the last valid
            // record stays, ended by the padding's first newline: a sync covered it
            // (`neutralise_debris`), and nothing else keeps those bytes.
            let keep =
                if tail.torn { tail.content.saturating_add(1).min(tail.len) } else { tail.end };
            state.file.set_len(keep).at(&state.active, "truncate the padding")?;
        }
        // 1. Every record in the segment, any writer's, is durable before it is sealed.
        self.sync_file(&state.file)?;
        let first = segment.first_seq;
        // Sealed as holding the damaged records a sync covered past its last valid one
        // (`neutralise_debris`): the next segment's name keeps their seqs taken.
        let last = Last { seq: last.seq.max(floor), ..last };
        // A failure from here on leaves the handle's segment possibly sealed: the next append
        // looks at the directory again (`current_tail`).
        state.tail = None;
        let next = active::seal_and_start(
            &self.vfs,
            &self.path,
            &state.active,
            first,
            last,
            self.mode,
            preallocation(settings),
        )?;
        let (len, before) = (next.meta.len, next.before);
        self.switch_to(state, next);
        // The new segment holds nothing but padding, if preallocated.
        let tail = Tail { len, last: Some(before), ..Tail::EMPTY };
        state.tail = Some(tail);
        Ok((tail, true))
    }

    /// After the lock is released, following a roll of a preallocated log: makes the spare
    /// segment the next roll renames into place, so that no roll writes a segment's worth of
    /// padding while writers wait for the lock. In a thread of its own unless
    /// [`Options::prepare_segments_in_background`] says not to; a failure only means that the
    /// next roll makes its segment itself.
    pub(super) fn after_roll(&self) {
        let Some(settings) = self.settings.filter(|s| s.preallocate) else { return };
        let (vfs, dir, mode) = (self.vfs.clone(), self.path.clone(), self.mode);
        let make = move || {
            let _ = active::prepare_spare(&vfs, &dir, settings.segment_bytes, mode);
        };
        if self.opts.background_segments {
            std::thread::spawn(make);
        } else {
            make();
        }
    }

    /// Under the lock: the handle's active segment is no longer at its path (another writer
    /// sealed it, or a roll of this handle failed half-way). Takes up the active segment the
    /// directory has now, recovering what a crashed roll left.
    pub(super) fn follow_segments(&self, state: &mut State<V>) -> Result<Tail> {
        let settings = self.settings.as_ref().map(preallocation).unwrap_or_default();
        let next = active::open_active(&self.vfs, &self.path, self.mode, settings)?;
        // The writer that created it may have died before its directory fsync.
        self.vfs.sync_dir(&self.path).at(&self.path, "fsync directory")?;
        self.switch_to(state, next);
        let len = state.file.metadata().at(&state.active, "fstat")?.len;
        let before = state.segment.as_ref().map(|s| s.before);
        let padded = state.in_place();
        let found = crate::consume::watermark::discover_synced(
            &self.vfs,
            &state.active,
            &*state.file,
            len,
            None,
            &mut state.scratch,
            padded,
        );
        let found = found.at(&state.active, "read")?;
        let tail = match before {
            Some(before) => with_floor(found, before),
            None => found,
        };
        state.tail = Some(tail);
        Ok(tail)
    }

    /// Appends go to `next` from now on; the index follows it.
    fn switch_to(&self, state: &mut State<V>, next: Active<V::File>) {
        let Active { path, first_seq, file, meta, before } = next;
        state.file = Arc::new(file);
        state.id = meta.id;
        state.unsynced_writes = 0;
        state.synced_writes = 0;
        // Found by the caller: a new segment holds nothing (but padding); one a crashed roll
        // left is read.
        state.tail = None;
        if let Some(index) = &mut state.derived.index {
            *index =
                IndexWriter::new(&path, self.opts.index_stride).sole_writer(self.opts.exclusive);
        }
        let padded = crate::segments::naming::is_padded(&path);
        state.active = path;
        state.segment = Some(SegmentAt { first_seq, before, first_ts: None, padded });
    }

    /// Under the lock, indexes the sealed segments of a segmented log whose index is missing or
    /// does not agree with the segment (every one with `all`); the active segment's index is
    /// kept by the appends. Returns how many were written. Does nothing on a single-file log.
    ///
    /// # Errors
    /// [`crate::ErrorKind::LockTimeout`]; [`crate::ErrorKind::Io`] naming the segment or index
    /// that could not be read or written.
    pub fn index_segments(&self, all: bool) -> Result<usize> {
        if self.settings.is_none() {
            return Ok(0);
        }
        let _held = self.lock_state();
        let _guard = self.lock_unless_exclusive()?;
        let mut built = 0;
        for segment in crate::segments::list(&self.vfs, &self.path)? {
            if segment.name.active {
                continue;
            }
            let reader = crate::Reader::open_in(self.vfs.clone(), &segment.path)?;
            let check = reader.check_index()?;
            if !all && check.problem.is_none() && check.agrees() && check.is_current() {
                continue;
            }
            let file = self.vfs.open(&segment.path, crate::fs::OpenOptions::read());
            let file = file.at(&segment.path, "open")?;
            let meta = file.metadata().at(&segment.path, "fstat")?;
            let last_seq = reader.last().map_or(0, |r| r.seq);
            let log = LogAt {
                vfs: &self.vfs,
                file: &file,
                id: meta.id,
                len: reader.bytes().len() as u64,
                mode: self.mode,
                last_seq,
                now: 0,
                older: None,
            };
            IndexWriter::new(&segment.path, self.opts.index_stride).rebuild_now(&log)?;
            built += 1;
        }
        Ok(built)
    }

    /// The segment's first record's ts, for age rolls, once written.
    pub(super) fn note_first_ts(state: &mut State<V>, ts: u64) {
        if let Some(segment) = &mut state.segment
            && segment.first_ts.is_none()
        {
            segment.first_ts = Some(ts);
        }
    }

    /// The length of the active segment a segmented writer appends to, by one `stat` of its
    /// path; `None` when the path no longer names that file (a roll sealed it).
    pub(super) fn active_len(&self, state: &State<V>) -> Result<Option<u64>> {
        match self.vfs.metadata(&state.active) {
            Ok(meta) => Ok((meta.id == state.id).then_some(meta.len)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&state.active, "stat", e)),
        }
    }
}

/// The settings of the log directory `dir`. A directory that holds nothing yet may be a log
/// another process is creating (`mkdir`, then the settings): its settings are waited for, up
/// to the lock timeout.
fn settings_of<V: Vfs>(vfs: &V, dir: &Path, opts: &Options) -> Result<Settings> {
    if let Some(settings) = opts.segments.filter(|_| opts.create)
        && only_settings_temps(vfs, dir)
        && Settings::load(vfs, dir).is_err()
    {
        // A creation that died between the directory and its settings: finish it. (Two
        // processes doing so at once each write the settings atomically; both then lock.)
        settings.store(vfs, dir, opts.mode)?;
    }
    let deadline =
        std::time::Instant::now() + opts.lock_timeout.min(std::time::Duration::from_secs(1));
    loop {
        match Settings::load(vfs, dir) {
            Ok(settings) => return Ok(settings),
            Err(e)
                if matches!(e.kind(), crate::ErrorKind::NotALog { .. })
                    && std::time::Instant::now() < deadline
                    && only_settings_temps(vfs, dir) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `dir` holds nothing but what a creation in progress writes before its settings (the
/// settings file's temporary files, a chained log's chain file).
fn only_settings_temps<V: Vfs>(vfs: &V, dir: &Path) -> bool {
    let (settings, chain) = (crate::segments::naming::SETTINGS, crate::segments::naming::CHAIN);
    vfs.list_dir(dir).is_ok_and(|names| {
        names.iter().all(|n| {
            n.to_str()
                .is_some_and(|n| (n.starts_with(settings) && n != settings) || n.starts_with(chain))
        })
    })
}

/// How big a new segment is made: `Some(segment_bytes)` for a log created with `--preallocate`.
fn preallocation(settings: &Settings) -> Option<u64> {
    settings.preallocate.then_some(settings.segment_bytes)
}

/// Whether the byte at `at` of a preallocated segment of `len` bytes is still padding: no
/// writer appended in place since the end was found there (an append starts with `{`).
pub(super) fn padding_at<F: VfsFile + ?Sized>(
    file: &F,
    at: u64,
    len: u64,
) -> std::io::Result<bool> {
    if at >= len {
        return Ok(true);
    }
    let mut byte = [0u8; 1];
    crate::fs::read_exact_at(file, &mut byte, at)?;
    Ok(byte[0] == b'\n')
}

/// `tail`, whose segment may hold no record yet, with the log's last record before the segment
/// as its last record then.
pub(super) fn with_floor(tail: Tail, before: Last) -> Tail {
    match tail.last {
        Some(_) => tail,
        None => Tail { last: Some(before), ..tail },
    }
}
