//! The append workloads: [`Append`], each of ndlog's ways of appending and each raw system-call
//! loop that bounds one, and the ndlog loops it runs.
//!
//! Every workload is a function of an iteration count that returns the time the iterations took,
//! so criterion (`iter_custom`) and the report's plain timer measure exactly the same code.

use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ndlog::{Durability, Options};

use super::child::ndlog_processes;
use super::files::{open_writer, temp_dir};
use super::forward::Forward;
use super::payloads::line_for;
use super::raw::{raw_append, raw_overwrite};
use super::table::Unit;
use super::timer::Timed;

/// One way of appending records, ndlog's or a raw loop that bounds it. An iteration appends
/// [`Append::records_per_iter`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Append {
    /// ndlog `Durability::Always`, `append_raw`, one thread.
    Always,
    /// ndlog `Durability::Group`, `append_raw`, `threads` threads sharing one handle.
    Group { threads: usize },
    /// ndlog `Durability::Always`, `append_raw`, `procs` processes with a handle each.
    Processes { procs: usize },
    /// ndlog `Durability::Never`, `append_raw`, one thread.
    NeverRaw,
    /// ndlog `Durability::Never`, `append_raw_batch` of `batch` payloads, one thread.
    NeverBatch { batch: usize },
    /// As `NeverRaw`, with an exclusive writer (the lock held for the handle's life).
    NeverRawExclusive,
    /// As `NeverBatch`, with an exclusive writer.
    NeverBatchExclusive { batch: usize },
    /// As `NeverRaw`, through a `Vfs` that forwards every call to the real one: the file-system
    /// seam is generic, so this costs what `NeverRaw` costs.
    #[allow(dead_code, reason = "a case the append bench measures and the report does not")]
    NeverRawForwarded,
    /// Limit: `write` of one line on an `O_APPEND` descriptor, then `fdatasync`.
    RawAppendSync,
    /// Limit: `lines` `O_APPEND` writes of one line each, then one `fdatasync`.
    #[allow(dead_code, reason = "a case the append bench measures and the report does not")]
    RawAppendSyncEvery { lines: usize },
    /// Limit: `pwrite` of one line over a zero-filled, synced file, then `fdatasync`.
    #[allow(dead_code, reason = "a case the append bench measures and the report does not")]
    RawOverwriteSync,
    /// Limit: `write` of one line on an `O_APPEND` descriptor, no sync.
    RawWrite,
    /// Limit: one `write` of `lines` lines on an `O_APPEND` descriptor, no sync.
    RawWriteBatch { lines: usize },
}

impl Append {
    /// The name used as the criterion benchmark id and in the tables.
    pub(crate) fn name(self) -> String {
        match self {
            Append::Always => "ndlog_always_1t".into(),
            Append::Group { threads } => format!("ndlog_group_{threads}t"),
            Append::Processes { procs } => format!("ndlog_always_{procs}proc"),
            Append::NeverRaw => "ndlog_never_append_raw".into(),
            Append::NeverBatch { batch } => format!("ndlog_never_batch{batch}"),
            Append::NeverRawExclusive => "ndlog_never_append_raw_exclusive".into(),
            Append::NeverBatchExclusive { batch } => format!("ndlog_never_batch{batch}_exclusive"),
            Append::NeverRawForwarded => "ndlog_never_append_raw_forwarded_vfs".into(),
            Append::RawAppendSync => "limit_append_fdatasync".into(),
            Append::RawAppendSyncEvery { lines } => format!("limit_append_{lines}_per_fdatasync"),
            Append::RawOverwriteSync => "limit_pwrite_fdatasync".into(),
            Append::RawWrite => "limit_write".into(),
            Append::RawWriteBatch { lines } => format!("limit_write_{lines}_lines"),
        }
    }

    /// Records appended by one iteration.
    pub(crate) fn records_per_iter(self) -> u64 {
        let n = match self {
            Append::Group { threads } => threads,
            Append::Processes { procs } => procs,
            Append::NeverBatch { batch } | Append::NeverBatchExclusive { batch } => batch,
            Append::RawAppendSyncEvery { lines } | Append::RawWriteBatch { lines } => lines,
            _ => 1,
        };
        n as u64
    }

    /// This case as a case of the report's round-robin timer.
    pub(crate) fn timed(self, payload: &[u8]) -> Timed<'_> {
        Timed {
            name: self.name(),
            units: self.records_per_iter() as f64,
            unit: Unit::Records,
            timed: Box::new(move |n| self.run(payload, n)),
        }
    }

    /// Runs `iters` iterations on a fresh file in a fresh directory and returns the time they
    /// took. Opening files, spawning threads or processes and preallocating are not timed.
    pub(crate) fn run(self, payload: &[u8], iters: u64) -> Duration {
        let dir = temp_dir();
        let path = dir.path().join("bench.ndjson");
        match self {
            Append::Always => ndlog_threads(&path, Durability::Always, 1, payload, iters),
            Append::Group { threads } => {
                ndlog_threads(&path, Durability::Group, threads, payload, iters)
            }
            Append::Processes { procs } => ndlog_processes(&path, procs, payload, iters),
            Append::NeverRaw => ndlog_threads(&path, Durability::Never, 1, payload, iters),
            Append::NeverBatch { batch } => {
                never_batch(&open_writer(&path, Durability::Never), batch, payload, iters)
            }
            Append::NeverBatchExclusive { batch } => {
                let writer =
                    Options::new().durability(Durability::Never).exclusive(true).open(&path);
                never_batch(&writer.expect("open the bench log"), batch, payload, iters)
            }
            Append::NeverRawExclusive => {
                let writer =
                    Options::new().durability(Durability::Never).exclusive(true).open(&path);
                let writer = writer.expect("open the bench log");
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(writer.append_raw(payload).expect("append_raw"));
                }
                start.elapsed()
            }
            Append::NeverRawForwarded => {
                let writer = Options::new().durability(Durability::Never).open_in(Forward, &path);
                let writer = writer.expect("open the bench log");
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(writer.append_raw(payload).expect("append_raw"));
                }
                start.elapsed()
            }
            Append::RawAppendSync => raw_append(&path, &line_for(payload), 1, iters, true),
            Append::RawAppendSyncEvery { lines } => {
                raw_append(&path, &line_for(payload), lines, iters, true)
            }
            Append::RawOverwriteSync => raw_overwrite(&path, &line_for(payload), iters),
            Append::RawWrite => raw_append(&path, &line_for(payload), 1, iters, false),
            Append::RawWriteBatch { lines } => {
                let batch = line_for(payload).repeat(lines);
                raw_append(&path, &batch, 1, iters, false)
            }
        }
    }
}

fn never_batch(writer: &ndlog::Writer, batch: usize, payload: &[u8], iters: u64) -> Duration {
    let payloads = vec![payload; batch];
    let start = Instant::now();
    for _ in 0..iters {
        black_box(writer.append_raw_batch(&payloads).expect("append_raw_batch"));
    }
    start.elapsed()
}

/// `threads` threads sharing one handle append `iters` payloads each.
fn ndlog_threads(
    path: &Path,
    durability: Durability,
    threads: usize,
    payload: &[u8],
    iters: u64,
) -> Duration {
    let writer = open_writer(path, durability);
    let append = || {
        for _ in 0..iters {
            black_box(writer.append_raw(payload).expect("append_raw"));
        }
    };
    if threads == 1 {
        let start = Instant::now();
        append();
        return start.elapsed();
    }
    let go = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                go.wait();
                append();
            });
        }
        go.wait();
        let start = Instant::now();
        // The scope joins every thread before it returns.
        start
    })
    .elapsed()
}
