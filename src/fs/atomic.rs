//! Whole-file replacement for the small files beside a log (settings, manifests, registries):
//! readers see the old content or the new, never a mix, and never a missing file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Create, OpenOptions, StdFs, Vfs, VfsFile, append_all};
use crate::error::{IoContext, Result};
use crate::names;

/// What every temporary file [`atomic_write`] makes starts with, after the target's name:
/// `settings.json` is written as `settings.json.atomic.<pid>.<n>.tmp`, never mistaken for the
/// target, and [`sweep_temps`] removes those a killed writer left.
const TEMP_MARK: &str = ".atomic.";

/// Replaces the file at `path` with `bytes`, atomically and durably: a temporary file with a
/// unique name in the same directory is written, fsynced and given `mode` (whatever the umask)
/// and the replaced file's owner and group (where permitted), then renamed over `path`, and the
/// directory is fsynced.
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the file and the step that failed; `path` is then unchanged
/// (or, if only the final directory fsync failed, replaced but not yet durable).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("registry.json");
/// ndlog::fs::atomic_write(&path, b"{\"users\":1}\n", 0o600)?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"{\"users\":1}\n");
/// # Ok::<(), ndlog::Error>(())
/// ```
pub fn atomic_write(path: impl AsRef<Path>, bytes: &[u8], mode: u32) -> Result<()> {
    atomic_write_in(&StdFs, path.as_ref(), bytes, mode)
}

/// [`atomic_write`] on the file system `vfs`.
///
/// # Errors
/// As [`atomic_write`].
pub fn atomic_write_in<V: Vfs>(vfs: &V, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(
        "{TEMP_MARK}{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = PathBuf::from(temp);
    // A replacement keeps the owner and group of the file it replaces, where the process may
    // give them (root replacing a user's file); otherwise it belongs to whoever wrote it.
    let owner = vfs.metadata(path).ok().map(|m| (m.uid, m.gid));
    let written = (|| {
        let file = vfs.open(&temp, OpenOptions::append(Create::New, mode).no_follow())?;
        append_all(&file, bytes)?;
        file.set_permissions(mode)?;
        if let Some((uid, gid)) = owner {
            match file.set_owner(uid, gid) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                other => other?,
            }
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = vfs.remove_file(&temp);
        return Err(e).at(&temp, "write");
    }
    if let Err(e) = vfs.rename(&temp, path) {
        let _ = vfs.remove_file(&temp);
        return Err(e).at(path, "rename");
    }
    let dir = names::parent_dir(path);
    vfs.sync_dir(dir).at(dir, "fsync directory")
}

/// Removes the temporary files that [`atomic_write`] calls for `path` left when their process
/// was killed. Call it where no other process may be writing `path` at the same moment (for
/// example under the log's lock).
///
/// # Errors
/// [`crate::ErrorKind::Io`] when the directory cannot be listed or a temporary file removed.
pub fn sweep_temps<V: Vfs>(vfs: &V, path: &Path) -> Result<usize> {
    let dir = names::parent_dir(path);
    let Some(name) = path.file_name() else { return Ok(0) };
    let mut prefix = name.to_owned();
    prefix.push(TEMP_MARK);
    let prefix = prefix.to_string_lossy().into_owned();
    let mut removed = 0;
    for entry in vfs.list_dir(dir).at(dir, "list directory")? {
        let entry = entry.to_string_lossy();
        if entry.starts_with(&prefix) && entry.ends_with(".tmp") {
            let temp = dir.join(&*entry);
            match vfs.remove_file(&temp) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&temp, "remove"),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Fate, SimFs};

    #[test]
    fn the_file_is_the_old_or_the_new_content_in_every_crash_state() {
        // Every prefix of the operations, then a crash that keeps any prefix of the directory
        // operations and drops or keeps the unsynced writes.
        let run = |fs: &SimFs| atomic_write_in(fs, Path::new("/d/s.json"), b"new content\n", 0o600);
        let dry = SimFs::new(1);
        dry.put("/d/s.json", b"old\n");
        run(&dry).unwrap();
        for k in 0..=dry.ops() {
            let fs = SimFs::new(1);
            fs.put("/d/s.json", b"old\n");
            fs.halt_after(k);
            let done = run(&fs).is_ok();
            for dir_ops in 0..=fs.pending_dir_ops() {
                for fate in [Fate::Kept, Fate::Dropped, Fate::Zeroed] {
                    let after = fs.crash(|_| fate, dir_ops);
                    let got = after.contents("/d/s.json");
                    assert!(
                        got.as_deref() == Some(b"old\n")
                            || got.as_deref() == Some(b"new content\n"),
                        "op {k}, {dir_ops} dir ops, {fate:?}: {got:?}"
                    );
                    if done && dir_ops == fs.pending_dir_ops() {
                        assert_eq!(got.as_deref(), Some(&b"new content\n"[..]));
                    }
                }
            }
            if done {
                assert_eq!(fs.pending_dir_ops(), 0, "durable once it returned");
            }
        }
    }

    #[test]
    fn leftover_temps_are_swept_and_never_the_file() {
        let fs = SimFs::new(2);
        fs.put("/d/s.json", b"old\n");
        fs.put("/d/s.json.atomic.99.0.tmp", b"half");
        fs.put("/d/other.json.atomic.99.0.tmp", b"x");
        assert_eq!(sweep_temps(&fs, Path::new("/d/s.json")).unwrap(), 1);
        assert!(fs.contents("/d/s.json.atomic.99.0.tmp").is_none());
        assert!(fs.contents("/d/other.json.atomic.99.0.tmp").is_some());
        assert_eq!(fs.contents("/d/s.json").as_deref(), Some(&b"old\n"[..]));
    }
}
