//! The whole-log scans: the `memchr` limit, the verified scan, scan + deserialise, and what users
//! write by hand; each returns a checksum, and [`time_scan`] times repetitions of one.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use ndlog::{Mapped, Reader};
use serde::Deserialize;

/// An event as an application would define it.
#[derive(Debug, Deserialize)]
pub(crate) struct Event<'a> {
    pub user: &'a str,
    pub action: &'a str,
    pub item: u64,
    pub price: f64,
}

/// A whole line, for readers that parse it with serde_json instead of using ndlog.
#[derive(Debug, Deserialize)]
pub(crate) struct Line<'a> {
    pub seq: u64,
    pub ts: u64,
    #[serde(borrow)]
    pub data: Event<'a>,
    pub crc: &'a str,
}

/// The scan-speed limit: count newlines over the mapped file with `memchr`.
pub(crate) fn memchr_lines(reader: &Reader<Mapped>) -> u64 {
    memchr::memchr_iter(b'\n', reader.bytes()).count() as u64
}

/// Verified scan: every line's CRC checked; sums the payload lengths.
pub(crate) fn verified_scan(reader: &Reader<Mapped>) -> u64 {
    reader.records().map(|r| r.data.len() as u64).sum()
}

/// Verified scan + `Record::deserialize` (serde_json, borrowing from the map).
pub(crate) fn scan_serde_json(reader: &Reader<Mapped>) -> u64 {
    let mut sum = 0u64;
    for r in reader.records() {
        let e: Event = r.deserialize().expect("deserialize");
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box(e.price);
    }
    sum
}

/// Verified scan + simd-json's serde API: each payload copied into a reused scratch buffer (simd-json
/// parses in place), reused parser buffers.
pub(crate) fn scan_simd_serde(reader: &Reader<Mapped>) -> u64 {
    let mut scratch = Vec::with_capacity(4096);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut sum = 0u64;
    for r in reader.records() {
        scratch.clear();
        scratch.extend_from_slice(r.data);
        let e: Event = simd_json::serde::from_slice_with_buffers(&mut scratch, &mut buffers)
            .expect("simd-json deserialize");
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box(e.price);
    }
    sum
}

/// What users write by hand: `BufReader::lines()` and `serde_json::from_str` of the whole line
/// (no CRC check), borrowing from each line's `String`.
pub(crate) fn bufreader_serde_json(path: &Path) -> u64 {
    let file = File::open(path).expect("open the scan log");
    let mut sum = 0u64;
    for line in BufReader::new(file).lines() {
        let line = line.expect("read a line");
        let l: Line = serde_json::from_str(&line).expect("parse a line");
        let e = &l.data;
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box((e.price, l.seq, l.ts, l.crc));
    }
    sum
}

/// Repeats a scan `iters` times and times it.
pub(crate) fn time_scan(iters: u64, mut scan: impl FnMut() -> u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(scan());
    }
    start.elapsed()
}
