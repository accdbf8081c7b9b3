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
