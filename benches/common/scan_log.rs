//! The generated log the scans read: about 110-byte events, page-cached, synced and mapped.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use ndlog::{Durability, Mapped, Options, Reader};

use super::files::{open_writer, temp_dir};
use super::scans::memchr_lines;

/// Size of the generated scan log in MiB: `$NDLOG_BENCH_SCAN_MB`, default 256.
pub(crate) fn scan_log_mib() -> u64 {
    std::env::var("NDLOG_BENCH_SCAN_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// A generated log, page-cached and synced, with a reader mapping it.
pub(crate) struct ScanLog {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub reader: Reader<Mapped>,
    pub bytes: u64,
    pub records: u64,
    /// `/user`, for `history::library_history`.
    #[allow(dead_code, reason = "only the scan bench runs the history case; the report does not")]
    pub key: ndlog::JsonPointer,
}

/// Writes the `i`-th event of the scan log into `out`: about 110 bytes of compact JSON.
fn event_payload(out: &mut Vec<u8>, i: u64) {
    const ACTIONS: [&str; 5] = ["login", "view", "click", "purchase", "logout"];
    let cents = (i * 7919) % 100_000;
    write!(
        out,
        r#"{{"user":"u{}","action":"{}","item":{},"price":{}.{:02},"ok":true,"tags":["web","eu"],"ref":"r{:08x}"}}"#,
        i % 100,
        ACTIONS[(i % 5) as usize],
        (i * 104_729) % 1_000_000,
        cents / 100,
        cents % 100,
        i,
    )
    .expect("write to a Vec");
}

/// Generates a log of about `mib` MiB with ndlog (`Never`, batches of 4096), syncs it so that
/// no writeback runs during the measurements, and maps it once.
pub(crate) fn make_scan_log(mib: u64) -> ScanLog {
    make_scan_log_with(mib, false)
}

/// As [`make_scan_log`], a chained log (`Options::chain`) when `chain`: the same events, each
/// line 75 bytes longer, so a log of the same size holds fewer records.
pub(crate) fn make_scan_log_with(mib: u64, chain: bool) -> ScanLog {
    let dir = temp_dir();
    let path = dir.path().join("scan.ndjson");
    let writer = if chain {
        let writer = Options::new().durability(Durability::Never).chain(true).open(&path);
        writer.expect("open the chained scan log")
    } else {
        open_writer(&path, Durability::Never)
    };
    let target = mib << 20;
    let (mut buf, mut ends) = (Vec::new(), Vec::new());
    let mut i = 0u64;
    let mut written = 0u64;
    while written < target {
        buf.clear();
        ends.clear();
        for _ in 0..4096 {
            event_payload(&mut buf, i);
            ends.push(buf.len());
            i += 1;
        }
        let payloads: Vec<&[u8]> = ends
            .iter()
            .scan(0, |start, &end| Some(&buf[std::mem::replace(start, end)..end]))
            .collect();
        writer.append_raw_batch(&payloads).expect("generate the scan log");
        written = std::fs::metadata(&path).expect("stat").len();
    }
    writer.sync().expect("sync the scan log");
    let reader = Reader::open(&path).expect("map the scan log");
    let bytes = reader.bytes().len() as u64;
    // Touch every page once, so every measurement sees a page-cached, mapped file.
    black_box(memchr_lines(&reader));
    let key = ndlog::JsonPointer::parse("/user").expect("a JSON pointer");
    ScanLog { _dir: dir, path, reader, bytes, records: i, key }
}
