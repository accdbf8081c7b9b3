//! ndlog `Always` and the raw append + `fdatasync` loop measured append by append, alternating, so
//! that both see the same disk at the same moment.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use ndlog::Durability;

use super::files::{open_writer, temp_dir};
use super::median::median;
use super::payloads::line_for;
use super::raw::write_once;
use super::table::{Unit, fmt_rate};

/// ndlog `Always` and the raw `O_APPEND` write + `fdatasync` loop, append by append: each
/// iteration does one of each (in alternating order) on two files in one directory, timing
/// each separately. Both see the same disk at the same moment, so their ratio survives the
/// minute-to-minute drift of a shared disk. Returns (ndlog's time, the raw loop's time).
pub(crate) fn alternate_always_vs_raw(payload: &[u8], iters: u64) -> (Duration, Duration) {
    let dir = temp_dir();
    let writer = open_writer(&dir.path().join("ndlog.ndjson"), Durability::Always);
    let raw = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(dir.path().join("raw.ndjson"))
        .expect("create the raw bench file");
    let line = line_for(payload);
    let (mut ndlog, mut limit) = (Duration::ZERO, Duration::ZERO);
    for i in 0..iters {
        for turn in [i % 2, 1 - i % 2] {
            let start = Instant::now();
            if turn == 0 {
                black_box(writer.append_raw(payload).expect("append_raw"));
                ndlog += start.elapsed();
            } else {
                write_once(&raw, &line);
                raw.sync_data().expect("fdatasync");
                limit += start.elapsed();
            }
        }
    }
    (ndlog, limit)
}

/// [`alternate_always_vs_raw`] `runs` times, each about `run` long: the median rates (records/s)
/// of ndlog `Always` and of the raw loop.
pub(crate) fn alternating_rates(payload: &[u8], run: Duration, runs: usize) -> (f64, f64) {
    let mut n = 16u64;
    let calibration = alternate_always_vs_raw(payload, n);
    let per_iter = (calibration.0 + calibration.1).as_secs_f64() / n as f64;
    n = ((run.as_secs_f64() / per_iter.max(1e-9)) as u64).max(16);
    let (mut ndlog, mut limit) = (Vec::new(), Vec::new());
    for round in 1..=runs {
        let (a, b) = alternate_always_vs_raw(payload, n);
        let (a, b) = (n as f64 / a.as_secs_f64(), n as f64 / b.as_secs_f64());
        eprintln!(
            "  round {round}: ndlog Always {} / raw append+fdatasync {}, alternating",
            fmt_rate(a, Unit::Records),
            fmt_rate(b, Unit::Records)
        );
        ndlog.push(a);
        limit.push(b);
    }
    (median(ndlog), median(limit))
}
