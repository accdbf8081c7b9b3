//! The raw system-call loops that bound ndlog's appends: `O_APPEND` writes and `pwrite`s, with
//! and without `fdatasync`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// A raw loop: `iters` times, `per_sync` writes of `line` on an `O_APPEND` descriptor, then an
/// `fdatasync` if `sync`.
pub(crate) fn raw_append(
    path: &Path,
    line: &[u8],
    per_sync: usize,
    iters: u64,
    sync: bool,
) -> Duration {
    let file = create_for_append(path);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..per_sync {
            write_once(&file, line);
        }
        if sync {
            file.sync_data().expect("fdatasync");
        }
    }
    start.elapsed()
}

/// A raw loop: `pwrite` of `line` over a zero-filled, synced file, then `fdatasync`, `iters`
/// times at consecutive offsets: what a sync costs when the file's size does not change.
pub(crate) fn raw_overwrite(path: &Path, line: &[u8], iters: u64) -> Duration {
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .expect("create the raw bench file");
    let total = iters * line.len() as u64;
    let zeros = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < total {
        let n = zeros.len().min((total - done) as usize);
        file.write_all_at(&zeros[..n], done).expect("preallocate");
        done += n as u64;
    }
    file.sync_all().expect("fsync the preallocated file");
    let start = Instant::now();
    for i in 0..iters {
        let n = file.write_at(line, i * line.len() as u64).expect("pwrite");
        assert_eq!(n, line.len(), "short pwrite");
        file.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

/// A new file at `path` (which must not exist) on an `O_APPEND` descriptor: what the raw loops
/// append to.
pub(crate) fn create_for_append(path: &Path) -> File {
    OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .expect("create the raw bench file")
}

/// One `write` system call holding all of `buf`.
pub(crate) fn write_once(mut file: &File, buf: &[u8]) {
    let n = file.write(buf).expect("write");
    assert_eq!(n, buf.len(), "short write");
}
