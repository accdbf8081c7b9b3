//! Limits the issue measures ndlog against that `benches/common` does not have.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The trailer every ndlog line ends with: `,"crc":"xxxxxxxx"}` (FORMAT.md).
const TRAILER: usize = 18;

/// The verified-scan limit, hand-tuned for ndlog's format and nothing else: split the mapped
/// bytes at newlines with `memchr`, CRC each line's covered prefix with `crc32fast`, and compare
/// with the 8 hex digits at a fixed place in the trailer. No JSON is looked at, no seq or ts is
/// parsed. Returns the number of lines whose CRC matched.
pub fn tuned_crc_scan(bytes: &[u8]) -> u64 {
    let mut ok = 0u64;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        let line = &bytes[start..end];
        start = end + 1;
        if line.len() <= TRAILER {
            continue;
        }
        let covered = line.len() - TRAILER;
        let stored = hex8(&line[covered + 8..covered + 16]);
        ok += u64::from(Some(crc32fast::hash(&line[..covered])) == stored);
    }
    ok
}

/// Eight lowercase hex digits as a `u32`.
fn hex8(digits: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        v = v << 4 | u32::from(n);
    }
    Some(v)
}

/// The compaction limit: copy the file at `path` to a new file beside it in 1 MiB reads and
/// writes, `fdatasync` it, rename it over the original and fsync the directory.
///
/// # Panics
/// On any I/O error: this is a bench.
pub fn copy_fsync_rename(path: &Path) -> Duration {
    let started = Instant::now();
    let tmp = path.with_extension("copy.tmp");
    let mut src = File::open(path).expect("open the log to copy");
    let mut dst = File::create(&tmp).expect("create the copy");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).expect("read the log");
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).expect("write the copy");
    }
    dst.sync_data().expect("fdatasync the copy");
    std::fs::rename(&tmp, path).expect("rename the copy");
    let parent = path.parent().expect("the log's directory");
    File::open(parent).and_then(|d| d.sync_all()).expect("fsync the directory");
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuned_scan_checks_crcs() {
        let mut log = Vec::new();
        ndlog::format::encode(&mut log, 1, 2, br#"{"a":1}"#);
        ndlog::format::encode(&mut log, 2, 3, br#"{"a":2}"#);
        assert_eq!(tuned_crc_scan(&log), 2);
        let flip = log.iter().position(|&b| b == b'1').expect("a digit");
        log[flip] = b'7';
        assert_eq!(tuned_crc_scan(&log), 1);
    }
}
