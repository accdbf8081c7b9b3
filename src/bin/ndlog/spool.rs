//! Temporary files a command writes before it is done with them: a copy of standard input
//! (`$TMPDIR/.ndlog-stdin-*`), an import's staged lines and an export before its rename (beside
//! the log or the output). Each is held under an `flock` by the process that made it, so that
//! one a process killed by SIGKILL left behind (no handler runs then) is known by the next
//! command that makes one in the same directory, and removed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

/// A leftover is removed only when untouched for this long: a file is locked a moment after it
/// is created, never this late.
const QUIET_FOR: Duration = Duration::from_secs(60);

/// How often a copy checks the room left: every this many bytes it writes.
const CHECK_EVERY: u64 = 64 << 20;

/// Room a copy into a temporary file leaves the file system's other users: a twentieth of it,
/// at least 64 MiB and at most 1 GiB.
fn reserve(total: u64) -> u64 {
    (total / 20).clamp(64 << 20, 1 << 30)
}

/// Watches the room a copy into a temporary file in `dir` leaves: an input that would fill the
/// file system (an endless stream, standard input of `/dev/zero`) is stopped with an error
/// instead of leaving the disk, or a memory-backed `$TMPDIR`, full for everyone.
pub(crate) struct Room<'a> {
    dir: &'a Path,
    next_check: u64,
}

impl<'a> Room<'a> {
    pub(crate) fn new(dir: &'a Path) -> Self {
        Room { dir, next_check: 0 }
    }

    /// Called before the copy, `copied` bytes so far, writes `upcoming` more.
    ///
    /// # Errors
    /// `StorageFull` when writing them would leave fewer than the reserve's bytes free, saying
    /// how much was copied.
    pub(crate) fn check(&mut self, copied: u64, upcoming: u64) -> io::Result<()> {
        if copied.saturating_add(upcoming) < self.next_check {
            return Ok(());
        }
        let Ok(st) = rustix::fs::statvfs(self.dir) else { return Ok(()) };
        let (free, total) = (st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize);
        let reserve = reserve(total);
        let left = free.checked_sub(upcoming).filter(|left| *left >= reserve);
        if let Some(left) = left {
            // Next, when half of what is left above the reserve may be gone.
            let step = ((left - reserve) / 2).clamp(1 << 20, CHECK_EVERY);
            self.next_check = copied + upcoming + step;
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "{copied} bytes copied, {upcoming} more to write, and {free} of {total} left \
                 free; the copy stops short of the last {reserve}"
            ),
        ))
    }
}

/// Creates a temporary file named `prefix…` in `dir`, locked for as long as it is open, after
/// removing the ones dead processes left there.
pub(crate) fn create(dir: &Path, prefix: &str) -> io::Result<NamedTempFile> {
    sweep(dir, prefix);
    let file = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    // Not lockable (a file system without `flock`): it works as before, unswept.
    let _ = file.as_file().try_lock();
    Ok(file)
}

/// Removes the regular files of this user named `prefix…` in `dir` that no process holds and
/// nothing wrote to for [`QUIET_FOR`]. Best effort: a file it cannot open or lock is left.
fn sweep(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        if !entry.file_name().as_encoded_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        let path = entry.path();
        let flags = (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits();
        let Ok(file) = OpenOptions::new().read(true).custom_flags(flags as i32).open(&path) else {
            continue;
        };
        if abandoned(&file, me) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A regular file of user `me`, untouched for [`QUIET_FOR`], whose `flock` nobody holds.
fn abandoned(file: &File, me: u32) -> bool {
    let Ok(meta) = file.metadata() else { return false };
    let quiet = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age >= QUIET_FOR);
    meta.is_file() && meta.uid() == me && quiet && file.try_lock().is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reserve_is_a_twentieth_within_its_bounds() {
        assert_eq!(super::reserve(100 << 20), 64 << 20);
        assert_eq!(super::reserve(10 << 30), 512 << 20);
        assert_eq!(super::reserve(1 << 40), 1 << 30);
    }
}
