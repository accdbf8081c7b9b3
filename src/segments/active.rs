//! The directory steps of a segmented log, taken under the writer lock: creating the log,
//! finding (or recovering) the active segment, and rolling it.
//!
//! A roll seals the active segment and starts the next one:
//!
//! 1. the writer `fdatasync`s the active segment (every record in it, any writer's, is durable);
//! 2. `N.ndjson.active` is renamed to `N.ndjson` (same inode: readers and writers holding it
//!    open follow it, and nobody appends to it again: writers check the active path under the
//!    lock before every append);
//! 3. `M.ndjson.active` is created exclusively, `M` being the seq its first record will get;
//! 4. the directory is fsynced, so the seal and the new name are durable before any record in
//!    the new segment is acknowledged.
//!
//! A crash between the steps leaves one of these, each of which [`open_active`] repairs: the
//! old active segment alone (no roll happened); a sealed last segment and no active one (the
//! next is created); an active segment before a later one (it was synced in step 1, and is
//! sealed now).

use std::io;
use std::path::{Path, PathBuf};

use crate::consume::watermark::{self, Target};
use crate::error::{Error, IoContext, Result};
use crate::fs::{Create, Metadata, OpenOptions, Vfs, VfsFile};
use crate::read::last_record::Last;

use super::list::{Segment, list_sorted};
use super::naming::{self, SegmentName};
use super::settings::Settings;

/// The active segment of a log directory, open for appending.
#[derive(Debug)]
pub(crate) struct Active<F> {
    pub(crate) path: PathBuf,
    pub(crate) first_seq: u64,
    pub(crate) file: F,
    pub(crate) meta: Metadata,
    /// The log's last record before this segment: seq `first_seq - 1`, and the ts of the
    /// previous segment's last record (0 when retention removed it).
    pub(crate) before: Last,
}

/// Creates the segmented log `dir` with `settings`: the directory (refused when anything is
/// at the path: two processes creating one log at once get one success and one error), its
/// settings file (atomically), and a durable name in the parent directory. The first writer
/// creates the first segment.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArgument`] for settings that cannot be meant;
/// [`crate::ErrorKind::Io`] naming the path, `AlreadyExists` when something is at it.
pub fn create<V: Vfs>(
    vfs: &V,
    dir: &Path,
    settings: &Settings,
    max_record_size: usize,
    mode: u32,
) -> Result<()> {
    create_with(vfs, dir, settings, max_record_size, mode, false)
}

/// [`create`] for a chained segmented log: its chain file `LOG/ndlog.chain` (a new log id, no
/// anchors) is written and made durable before the settings, so that no crash leaves a log
/// that writers would take for an unchained one.
///
/// # Errors
/// As [`create`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::segments::Settings;
/// let path = dir.path().join("events");
/// ndlog::segments::create_chained(&ndlog::fs::StdFs, &path, &Settings::new(2 << 20), 1024, 0o600)?;
/// // Every writer chains, whatever its options say.
/// ndlog::Writer::open(&path)?.append(&1)?;
/// let log = ndlog::segments::SegmentedReader::open(&path)?;
/// assert!(log.chain_file()?.is_some() && log.verify_chain(log.chain_file()?.as_ref()).is_intact());
/// # Ok::<(), ndlog::Error>(())
/// ```
pub fn create_chained<V: Vfs>(
    vfs: &V,
    dir: &Path,
    settings: &Settings,
    max_record_size: usize,
    mode: u32,
) -> Result<()> {
    create_with(vfs, dir, settings, max_record_size, mode, true)
}

/// [`create`], chained or not.
pub(crate) fn create_with<V: Vfs>(
    vfs: &V,
    dir: &Path,
    settings: &Settings,
    max_record_size: usize,
    mode: u32,
    chain: bool,
) -> Result<()> {
    settings.validate(max_record_size)?;
    // Whoever may read a file may list the directory.
    let dir_mode = mode | ((mode & 0o444) >> 2);
    vfs.create_dir(dir, dir_mode).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Error::io(
            dir,
            "create",
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "something is already at this path; choose another path or remove it",
            ),
        ),
        io::ErrorKind::NotFound if vfs.metadata(crate::names::parent_dir(dir)).is_err() => {
            let parent = crate::names::parent_dir(dir).display();
            let why = format!("the directory {parent} does not exist: create it first");
            Error::io(dir, "create directory", io::Error::new(e.kind(), why))
        }
        _ => Error::io(dir, "create directory", e),
    })?;
    if chain {
        // Before the settings make the directory a log: a writer that finds the settings
        // finds the chain file too.
        let chain_path = crate::names::segmented_chain_file(dir);
        crate::chain::ChainFile::new().write_at(vfs, &chain_path, mode)?;
    }
    settings.store(vfs, dir, mode)?;
    let parent = crate::names::parent_dir(dir);
    vfs.sync_dir(parent).at(parent, "fsync directory")
}

/// Under the writer lock: seals an active segment a crashed roll left before a later one,
/// creates the active segment when a crashed roll left none, and opens it for appending.
/// Every directory change is fsynced before this returns.
pub(crate) fn open_active<V: Vfs>(
    vfs: &V,
    dir: &Path,
    mode: u32,
    preallocate: Option<u64>,
) -> Result<Active<V::File>> {
    remove_half_created(vfs, dir)?;
    if preallocate.is_some() {
        remove_dead_spares(vfs, dir)?;
    }
    let mut segments = list_sorted(vfs, dir)?;
    let count = segments.len();
    let active_last = segments.last().is_some_and(|s| s.name.active);
    // The segment before the active one (or the last, when a crashed roll left none active).
    let previous = if active_last { count.checked_sub(2) } else { count.checked_sub(1) };
    // A sealed one is read before anything is changed: a log refused for it is left as found.
    let checked = match previous {
        Some(i) if !segments[i].name.active => Some(last_before(vfs, &segments, i)?),
        _ => None,
    };
    // An active segment before another is a roll's leftover only when the next one starts
    // right after its last record (the roll named it so); anything else is a stray file.
    for pair in segments.windows(2).filter(|pair| pair[0].name.active) {
        let (active, next) = (&pair[0], &pair[1]);
        let Some(last) = last_of_active(vfs, active)? else {
            // A roll seals only a segment that holds records: this one is the stray.
            return Err(Error::not_a_log(
                &active.path,
                format!(
                    "an active segment that holds no record, before {}: not a roll's leftover; \
                     move it out of the log directory if it is not part of the log",
                    next.path.display()
                ),
            ));
        };
        // Records a sync covered past its last valid one (damaged since) named the next
        // segment too (`Writer::roll_if_due`).
        let last = Last { seq: last.seq.max(covered_floor(vfs, dir, active)?), ..last };
        if last.seq.checked_add(1) != Some(next.name.first_seq) {
            return Err(Error::not_a_log(
                &next.path,
                format!(
                    "it follows the active segment {}, which ends at seq {}: not the segment a \
                     roll starts; move it out of the log directory if it is not part of the log",
                    active.path.display(),
                    last.seq
                ),
            ));
        }
    }
    // No record of the active segment is below the seq its name says (a roll names it after
    // the last record; a verbatim import may then skip seqs, so the first may be above it): a
    // segment renamed by hand would have new records numbered against its name.
    if let Some(active) = segments.last().filter(|s| s.name.active)
        && let Some(seq) = first_seq_in(vfs, &active.path)?
        && seq < active.name.first_seq
    {
        return Err(Error::not_a_log(
            &active.path,
            format!(
                "its name says its records start at seq {}, but its first is seq {seq}: was it \
                 renamed? give it back the name {}",
                active.name.first_seq,
                SegmentName { first_seq: seq, ..active.name }.file_name()
            ),
        ));
    }
    let mut changed = false;
    for segment in segments.iter_mut().take(count.saturating_sub(1)) {
        if segment.name.active {
            // A roll died after creating the next segment: this one was synced (and trimmed)
            // before that.
            if segment.name.padded {
                trim(vfs, &segment.path)?;
            }
            let name = SegmentName::sealed(segment.name.first_seq);
            let sealed = dir.join(name.file_name());
            vfs.rename(&segment.path, &sealed).at(&segment.path, "seal (rename)")?;
            *segment = Segment { name, path: sealed };
            changed = true;
        }
    }
    let before = match (checked, previous) {
        (Some(known), _) => known,
        // Sealed just now (a roll's leftover): read once sealed and trimmed.
        (None, Some(i)) => last_before(vfs, &segments, i)?,
        (None, None) => None,
    };
    let (path, first_seq) = match segments.last() {
        Some(s) if s.name.active => (s.path.clone(), s.name.first_seq),
        _ => {
            // A roll died after sealing, or this is a new log: start the next segment, after
            // the damaged records a sync covered at the end of the sealed one, if any (their
            // seqs stay taken, as the roll would have kept them).
            let floor = match previous {
                Some(i) => covered_floor(vfs, dir, &segments[i])?,
                None => 0,
            };
            let first_seq = before.map_or(1, |l| l.seq.max(floor) + 1);
            let path = create_segment(vfs, dir, first_seq, mode, preallocate)?;
            changed = true;
            (path, first_seq)
        }
    };
    if let Some(last) = before.filter(|l| l.seq >= first_seq) {
        return Err(Error::not_a_log(
            &path,
            format!(
                "the segment before it ends at seq {}, not before its first seq {first_seq}: \
                 segments overlap; ndlog never leaves them so",
                last.seq
            ),
        ));
    }
    if changed {
        vfs.sync_dir(dir).at(dir, "fsync directory")?;
    }
    let (file, meta) = open_for_writing(vfs, &path)?;
    let before = Last { seq: first_seq - 1, ts: before.map_or(0, |l| l.ts) };
    Ok(Active { path, first_seq, file, meta, before })
}

/// The seq of the last record the durable watermark says ends past the last valid record of
/// `segment`, in bytes that no longer hold one (`watermark::covers_damage`); 0 when there is
/// none. A mark that cannot be read fails: taking the damage for crash debris could give a
/// seq again.
fn covered_floor<V: Vfs>(vfs: &V, dir: &Path, segment: &Segment) -> Result<u64> {
    let path = &segment.path;
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let meta = file.metadata().at(path, "fstat")?;
    let padded = segment.name.padded;
    let tail = crate::consume::watermark::find_end(vfs, path, &file, meta.len, padded);
    let tail = tail.at(path, "read")?;
    let mark = watermark::covering_damage(vfs, Target::Segments(dir), meta.id, &tail)?;
    Ok(mark.map_or(0, |m| m.seq))
}

/// The seq of the first record of the segment at `path`, when its first line (within the first
/// 4 KiB: a writer opens in O(1) reads) is a valid record.
fn first_seq_in<V: Vfs>(vfs: &V, path: &Path) -> Result<Option<u64>> {
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let len = file.metadata().at(path, "fstat")?.len;
    let mut head = vec![0; len.min(4 << 10) as usize];
    crate::fs::read_exact_at(&file, &mut head, 0).at(path, "read")?;
    let Some(nl) = memchr::memchr(b'\n', &head) else { return Ok(None) };
    Ok(crate::format::decode(&head[..nl]).ok().map(|frame| frame.seq))
}

/// The last record of an active segment, read as it is (padding and all).
fn last_of_active<V: Vfs>(vfs: &V, segment: &Segment) -> Result<Option<Last>> {
    let path = &segment.path;
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let len = file.metadata().at(path, "fstat")?.len;
    let tail = crate::consume::watermark::find_end(vfs, path, &file, len, segment.name.padded);
    Ok(tail.at(path, "read")?.last)
}

/// The last record of `segments[i]`, the sealed segment before the active one; `None` when
/// retention removed it since the listing (the log starts later now).
fn last_before<V: Vfs>(vfs: &V, segments: &[Segment], i: usize) -> Result<Option<Last>> {
    match last_of_sealed(vfs, &segments[i]) {
        Ok(last) => Ok(Some(last)),
        Err(e) if e.is_not_found() && segments.last().is_some_and(|s| s.name.active) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens an active segment for appending: a preallocated one for writes in place.
fn open_for_writing<V: Vfs>(vfs: &V, path: &Path) -> Result<(V::File, Metadata)> {
    let how = match naming::is_padded(path) {
        true => OpenOptions::read_write(Create::No, 0),
        false => OpenOptions::append(Create::No, 0),
    };
    let file = vfs.open(path, how).at(path, "open")?;
    let meta = file.metadata().at(path, "fstat")?;
    Ok((file, meta))
}

/// Cuts a preallocated segment's padding off, durably: a sealed segment ends at its last
/// record, like any log file.
fn trim<V: Vfs>(vfs: &V, path: &Path) -> Result<()> {
    let file = vfs.open(path, OpenOptions::read_write(Create::No, 0)).at(path, "open")?;
    let len = file.metadata().at(path, "fstat")?.len;
    let tail = crate::consume::watermark::find_end(vfs, path, &file, len, true).at(path, "read")?;
    // Damage after the last record stays (a roll keeps it: `Writer::roll_if_due`).
    let keep = if tail.torn { tail.content.saturating_add(1).min(len) } else { tail.end };
    file.set_len(keep).at(path, "truncate the padding")?;
    file.sync_data().at(path, "fdatasync")
}

/// What a preallocated segment's temporary file's name ends with.
const HALF_CREATED: &str = ".preallocating.tmp";

/// Removes preallocated segments a crash left half-created (under the writer lock: nobody
/// else creates them).
fn remove_half_created<V: Vfs>(vfs: &V, dir: &Path) -> Result<()> {
    for name in vfs.list_dir(dir).at(dir, "list directory")? {
        if name.to_str().is_some_and(|n| n.ends_with(HALF_CREATED)) {
            let path = dir.join(&name);
            match vfs.remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::io(&path, "remove a half-created segment", e));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Steps 2 to 4 of a roll (the caller synced the active segment `current`, whose records end
/// at `last`): seals it and starts the next segment, durably.
pub(crate) fn seal_and_start<V: Vfs>(
    vfs: &V,
    dir: &Path,
    current: &Path,
    current_first: u64,
    last: Last,
    mode: u32,
    preallocate: Option<u64>,
) -> Result<Active<V::File>> {
    let sealed = dir.join(SegmentName::sealed(current_first).file_name());
    vfs.rename(current, &sealed).at(current, "seal (rename)")?;
    let first_seq = last.seq + 1;
    let path = create_segment(vfs, dir, first_seq, mode, preallocate)?;
    vfs.sync_dir(dir).at(dir, "fsync directory")?;
    let (file, meta) = open_for_writing(vfs, &path)?;
    Ok(Active { path, first_seq, file, meta, before: last })
}

/// Creates the active segment starting at `first_seq`, exclusively: empty, or with
/// `preallocate`, that many bytes of newlines, written and synced under a temporary name first
/// so that the segment never exists half-created. Returns its path.
fn create_segment<V: Vfs>(
    vfs: &V,
    dir: &Path,
    first_seq: u64,
    mode: u32,
    preallocate: Option<u64>,
) -> Result<PathBuf> {
    let path = dir.join(SegmentName::active(first_seq, preallocate.is_some()).file_name());
    let Some(size) = preallocate else {
        let file = vfs.open(&path, OpenOptions::append(Create::New, mode).no_follow());
        let file = file.at(&path, "create segment")?;
        file.set_permissions(mode).at(&path, "chmod")?;
        return Ok(path);
    };
    if take_spare(vfs, dir, size, &path)? {
        // The log's mode, whoever made the spare: a spare left or put there with another mode
        // would give the segment that one.
        let file = vfs.open(&path, OpenOptions::read_write(Create::No, mode).no_follow());
        file.at(&path, "open")?.set_permissions(mode).at(&path, "chmod")?;
        return Ok(path);
    }
    check_room(vfs, dir, size).at(&path, "preallocate")?;
    let temp = dir.join(format!("{first_seq:020}{HALF_CREATED}"));
    let file = vfs.open(&temp, OpenOptions::read_write(Create::New, mode));
    let file = file.at(&temp, "create segment")?;
    let made = (|| {
        let padding = vec![b'\n'; PREALLOCATE_CHUNK.min(size) as usize];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(padding.len() as u64) as usize;
            crate::fs::write_all_at(&file, &padding[..n], at)
                .map_err(|e| needs(e, size))
                .at(&path, "preallocate")?;
            at += n as u64;
        }
        file.set_permissions(mode).at(&temp, "chmod")?;
        file.sync_data().map_err(|e| needs(e, size)).at(&path, "preallocate (fdatasync)")?;
        if vfs.metadata(&path).is_ok() {
            let exists = io::Error::from(io::ErrorKind::AlreadyExists);
            return Err(Error::io(&path, "create segment", exists));
        }
        vfs.rename(&temp, &path).at(&path, "rename the preallocated segment into place")
    })();
    if made.is_err() {
        // A segment's worth of padding is not left to fill the disk until the next writer
        // comes; if this removal fails too, that writer removes it (`remove_half_created`).
        drop(file);
        let _ = vfs.remove_file(&temp);
    }
    made.map(|()| path)
}

/// Refuses to begin a preallocated segment of `size` bytes where the file system says fewer are
/// free: writing it would fill the disk for everyone on it, and fail at the end all the same.
fn check_room<V: Vfs>(vfs: &V, dir: &Path, size: u64) -> io::Result<()> {
    // A file system that cannot say (an error from `statvfs`) is written as before.
    match vfs.available(dir).ok().flatten() {
        Some(free) if free < size => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "a preallocated segment takes {size} bytes and the file system has {free} free"
            ),
        )),
        _ => Ok(()),
    }
}

/// `e`, from writing or syncing a preallocated segment, saying how large the segment is when
/// it is about room (a full disk, a quota, a file size limit).
fn needs(e: io::Error, size: u64) -> io::Error {
    use io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    match e.kind() {
        kind @ (StorageFull | QuotaExceeded | FileTooLarge) => {
            io::Error::new(kind, format!("{e}; a preallocated segment takes {size} bytes"))
        }
        _ => e,
    }
}

/// The spare: a preallocated segment made ahead of the next roll, outside the writer lock, so
/// that the roll only renames it (see [`prepare_spare`]).
const SPARE: &str = "ndlog.spare";
/// What a spare being made is called first: `ndlog.spare.<pid>.<n>.tmp`.
const SPARE_TEMP: &str = "ndlog.spare.";

/// Renames the spare to `path` when there is one of `size` bytes; false when there is none.
fn take_spare<V: Vfs>(vfs: &V, dir: &Path, size: u64, path: &Path) -> Result<bool> {
    let spare = dir.join(SPARE);
    match vfs.metadata(&spare) {
        Ok(meta) if meta.kind == crate::fs::FileKind::File && meta.len == size => {}
        _ => return Ok(false),
    }
    match vfs.rename(&spare, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&spare, "rename the spare segment into place", e)),
    }
}

/// Makes the spare segment of a preallocated log, if there is none: `size` bytes of newlines,
/// synced, under a temporary name (locked while it is written, so that a writer can tell one
/// a dead process left), then renamed to `ndlog.spare`. Needs no writer lock: two processes
/// making one at once each make a complete one, and the last rename wins. Its name need not
/// be durable: the roll that takes it fsyncs the directory.
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the file; nothing is left but a temporary file the next
/// writer removes.
pub(crate) fn prepare_spare<V: Vfs>(vfs: &V, dir: &Path, size: u64, mode: u32) -> Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if vfs.metadata(&dir.join(SPARE)).is_ok() {
        return Ok(());
    }
    check_room(vfs, dir, size).at(&dir.join(SPARE), "make the spare segment")?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!("{SPARE_TEMP}{}.{n}.tmp", std::process::id()));
    let file = vfs.open(&temp, OpenOptions::read_write(Create::New, mode));
    let file = file.at(&temp, "create the spare segment")?;
    let made = (|| {
        file.try_lock()?;
        let padding = vec![b'\n'; PREALLOCATE_CHUNK.min(size) as usize];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(padding.len() as u64) as usize;
            crate::fs::write_all_at(&file, &padding[..n], at)?;
            at += n as u64;
        }
        file.set_permissions(mode)?;
        file.sync_data()?;
        vfs.rename(&temp, &dir.join(SPARE))
    })();
    if let Err(e) = made {
        let _ = vfs.remove_file(&temp);
        return Err(Error::io(&temp, "make the spare segment", e));
    }
    Ok(())
}

/// Removes spares a dead process left half-made (their lock is free).
fn remove_dead_spares<V: Vfs>(vfs: &V, dir: &Path) -> Result<()> {
    for name in vfs.list_dir(dir).at(dir, "list directory")? {
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(SPARE_TEMP) && name.ends_with(".tmp")) {
            continue;
        }
        let path = dir.join(name);
        let Ok(file) = vfs.open(&path, OpenOptions::read_write(Create::No, 0)) else { continue };
        if file.try_lock().unwrap_or(false) {
            let _ = vfs.remove_file(&path);
        }
    }
    Ok(())
}

/// Padding is written in pieces of this size.
const PREALLOCATE_CHUNK: u64 = 1 << 20;

/// The last record of a sealed segment, which is never empty.
pub(crate) fn last_of_sealed<V: Vfs>(vfs: &V, segment: &Segment) -> Result<Last> {
    let path = &segment.path;
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let len = file.metadata().at(path, "fstat")?.len;
    let tail =
        crate::consume::watermark::find_end(vfs, path, &file, len, false).at(path, "read")?;
    match tail.last {
        Some(last) if last.seq >= segment.name.first_seq => Ok(last),
        Some(last) => Err(Error::not_a_log(
            path,
            format!(
                "its last record has seq {}, below the seq {} its name starts at",
                last.seq, segment.name.first_seq
            ),
        )),
        None => Err(Error::not_a_log(
            path,
            "a sealed segment holds no valid record; move it out of the log directory if it \
             is not part of the log",
        )),
    }
}
