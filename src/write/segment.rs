//! A writer on a segmented log: it appends to the active segment, rolls it under the lock when
//! the settings say it is full (see [`crate::segments`] for the protocol), and follows a roll
//! another writer made before it appends again.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, IoContext, Result};
use crate::format::MAX_FRAME_OVERHEAD;
use crate::fs::{LockFile, Vfs, VfsFile};
use crate::names;
use crate::read::last_record::{self, Last, Tail};
use crate::segments::Settings;
use crate::segments::active::{self, Active};

use super::batch::{Source, first_ts};
use super::derive::LogAt;
use super::derived::Derived;
use super::group::Combiner;
use super::index::IndexWriter;
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
}

impl<V: Vfs> Writer<V> {
    /// Opens the segmented log `dir` (a directory holding `ndlog.json`).
    pub(super) fn open_segmented(vfs: V, dir: &Path, opts: Options) -> Result<Self> {
        let settings = settings_of(&vfs, dir, &opts)?;
        if opts.dedup.is_some() || opts.entity_key.is_some() || opts.auto_compact.is_some() {
            return Err(Error::invalid_argument(format!(
                "{}: deduplication, entity versions and auto-compaction are not supported on a \
                 segmented log yet; open it without them",
                dir.display()
            )));
        }
        settings.validate(opts.max_record_size)?;
        let lock = LockFile::open(&vfs, &names::segmented_lock_file(dir), opts.mode, None)?;
        let guard = lock.acquire(dir, opts.lock_timeout)?;
        let active = active::open_active(&vfs, dir, opts.mode)?;
        // Always: a roll that died before its directory fsync leaves a segment whose name a
        // power loss can take back, and a creation that died before its parent's fsync a log
        // directory whose own name can go; nothing is acknowledged before both are durable.
        vfs.sync_dir(dir).at(dir, "fsync directory")?;
        let parent = names::parent_dir(dir);
        vfs.sync_dir(parent).at(parent, "fsync directory")?;
        let mode = active.meta.mode;
        let mut scratch = Vec::new();
        let found = last_record::discover(&active.file, active.meta.len, None, &mut scratch);
        let found = with_floor(found.at(&active.path, "read")?, active.before);
        let index = opts
            .index
            .then(|| IndexWriter::new(&active.path, opts.index_stride).sole_writer(opts.exclusive));
        let mut derived = Derived { dedup: None, index, versions: None };
        let last_seq = found.last.map_or(0, |l| l.seq);
        let log = LogAt {
            vfs: &vfs,
            file: &active.file,
            id: active.meta.id,
            len: active.meta.len,
            mode,
            last_seq,
            now: 0,
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
            segment: Some(SegmentAt { first_seq, before, first_ts: None }),
            tail: Some(found),
            buf: Vec::new(),
            scratch,
            derived,
            unsynced_writes: 0,
            synced_writes: 0,
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
        now: u64,
    ) -> Result<Tail> {
        let (Some(settings), Some(segment), Some(last)) =
            (&self.settings, &mut state.segment, tail.last)
        else {
            return Ok(tail);
        };
        if tail.end == 0 || last.seq < segment.first_seq {
            return Ok(tail);
        }
        let bytes = tail.end.saturating_add(source.bytes_at_most(MAX_FRAME_OVERHEAD));
        let records = last.seq - segment.first_seq + 1;
        let by_bytes = bytes > settings.segment_bytes;
        let by_records =
            settings.segment_records.is_some_and(|n| records + source.count() as u64 > n);
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
                now.saturating_sub(first_ts) >= age.as_millis() as u64
            }
        };
        if !(by_bytes || by_records || by_age) {
            return Ok(tail);
        }
        // The sealed segment's index covers it to its end (it is never written again).
        if let Some(index) = &mut state.derived.index {
            let log = LogAt {
                vfs: &self.vfs,
                file: &*state.file,
                id: state.id,
                len: tail.len,
                mode: self.mode,
                last_seq: last.seq,
                now,
            };
            index.keep_up(&log);
        }
        // 1. Every record in the segment, any writer's, is durable before it is sealed.
        self.sync_file(&state.file)?;
        let first = segment.first_seq;
        // A failure from here on leaves the handle's segment possibly sealed: the next append
        // looks at the directory again (`current_tail`).
        state.tail = None;
        let next =
            active::seal_and_start(&self.vfs, &self.path, &state.active, first, last, self.mode)?;
        self.switch_to(state, next);
        Ok(state.tail.unwrap_or(Tail::EMPTY))
    }

    /// Under the lock: the handle's active segment is no longer at its path (another writer
    /// sealed it, or a roll of this handle failed half-way). Takes up the active segment the
    /// directory has now, recovering what a crashed roll left.
    pub(super) fn follow_segments(&self, state: &mut State<V>) -> Result<()> {
        let next = active::open_active(&self.vfs, &self.path, self.mode)?;
        // The writer that created it may have died before its directory fsync.
        self.vfs.sync_dir(&self.path).at(&self.path, "fsync directory")?;
        self.switch_to(state, next);
        let len = state.file.metadata().at(&state.active, "fstat")?.len;
        let before = state.segment.as_ref().map(|s| s.before);
        let found = last_record::discover(&*state.file, len, None, &mut state.scratch);
        let found = found.at(&state.active, "read")?;
        state.tail = Some(match before {
            Some(before) => with_floor(found, before),
            None => found,
        });
        Ok(())
    }

    /// Appends go to `next` from now on; the index follows it.
    fn switch_to(&self, state: &mut State<V>, next: Active<V::File>) {
        let Active { path, first_seq, file, meta, before } = next;
        state.file = Arc::new(file);
        state.id = meta.id;
        state.unsynced_writes = 0;
        state.synced_writes = 0;
        // A new segment is empty; one a crashed roll left may not be, and is read.
        state.tail = (meta.len == 0).then_some(Tail { last: Some(before), ..Tail::EMPTY });
        if let Some(index) = &mut state.derived.index {
            *index =
                IndexWriter::new(&path, self.opts.index_stride).sole_writer(self.opts.exclusive);
        }
        state.active = path;
        state.segment = Some(SegmentAt { first_seq, before, first_ts: None });
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
                len: meta.len,
                mode: self.mode,
                last_seq,
                now: 0,
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

    /// The identity of the file a segmented writer appends to, as the path shows it now.
    pub(super) fn active_moved(&self, state: &State<V>) -> Result<bool> {
        match self.vfs.metadata(&state.active) {
            Ok(meta) => Ok(meta.id != state.id),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
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

/// Whether `dir` holds nothing but what a creation in progress writes (the settings file's
/// temporary files).
fn only_settings_temps<V: Vfs>(vfs: &V, dir: &Path) -> bool {
    let settings = crate::segments::naming::SETTINGS;
    vfs.list_dir(dir).is_ok_and(|names| {
        names.iter().all(|n| n.to_str().is_some_and(|n| n.starts_with(settings) && n != settings))
    })
}

/// `tail`, whose segment may hold no record yet, with the log's last record before the segment
/// as its last record then.
pub(super) fn with_floor(tail: Tail, before: Last) -> Tail {
    match tail.last {
        Some(_) => tail,
        None => Tail { last: Some(before), ..tail },
    }
}
