//! Append throughput, records/s, for ~100-byte and ~1 KiB payloads: ndlog at each durability,
//! with threads and processes, beside the raw system-call loops that bound it, measured in the
//! same run on the same file system. Ends with tables of each ndlog figure as a ratio of its
//! limit (Markdown, for BENCHMARKS.md).
//!
//! `cargo bench --bench append` (about 2.5 minutes); `cargo bench --bench append -- 100B` for
//! one payload size. Temp files go to `target/tmp`, or to `$NDLOG_BENCH_DIR`.

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    mod alternating;
    mod child;
    mod files;
    mod forward;
    mod median;
    mod payloads;
    mod raw;
    mod recorder;
    mod table;
    mod timer;
    mod workloads;

    pub(crate) use alternating::{alternating_rates, alternating_versus};
    pub(crate) use child::run_child_if_requested;
    pub(crate) use payloads::payload;
    pub(crate) use recorder::{SAMPLE_SIZE, record, recorded_rate};
    pub(crate) use table::{Row, Target, Unit, print_table};
    pub(crate) use timer::{Timed, round_robin};
    pub(crate) use workloads::Append;
}

use std::time::Duration;

use common::{Append, Row, Target, Timed, Unit};
use criterion::{Criterion, SamplingMode, Throughput};

/// Payload sizes the append benches measure: about 100 bytes and about 1 KiB.
const PAYLOAD_SIZES: [(usize, &str); 2] = [(100, "100B"), (1024, "1KiB")];

/// Every case measured, per payload size.
const CASES: [Append; 14] = [
    Append::Always,
    Append::Group { threads: 4 },
    Append::Group { threads: 16 },
    Append::Group { threads: 64 },
    Append::Processes { procs: 4 },
    Append::NeverRaw,
    Append::NeverRawForwarded,
    Append::NeverRawExclusive,
    Append::NeverBatch { batch: 64 },
    Append::NeverBatchExclusive { batch: 64 },
    Append::RawAppendSync,
    Append::RawAppendSyncEvery { lines: 64 },
    Append::RawOverwriteSync,
    Append::RawWrite,
];

/// The raw 64-line write bounds `append_raw_batch` of 64.
const BATCH_LIMIT: Append = Append::RawWriteBatch { lines: 64 };

fn bench_append(c: &mut Criterion) {
    for (size, label) in PAYLOAD_SIZES {
        let payload = common::payload(size);
        let mut group = c.benchmark_group(format!("append_{label}"));
        group
            .sample_size(common::SAMPLE_SIZE)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for case in CASES.into_iter().chain([BATCH_LIMIT]) {
            let id = case.name();
            let key = format!("{label}/{id}");
            group.throughput(Throughput::Elements(case.records_per_iter()));
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| common::record(&key, iters, case.run(&payload, iters)))
            });
        }
        group.finish();
    }
}

/// Each ndlog figure beside the limit it is judged against, for the cases `rate` knows.
fn rows(rate: impl Fn(Append) -> Option<f64>) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |ndlog: Append, limit: Append, versus: &str, target: Option<Target>| {
        if let (Some(value), Some(limit_rate)) = (rate(ndlog), rate(limit)) {
            rows.push(Row {
                case: ndlog.name(),
                value,
                versus: versus.to_string(),
                limit: limit_rate,
                unit: Unit::Records,
                target,
                ratio: None,
            });
        }
    };
    let always = Append::Always;
    let raw_sync = "raw O_APPEND write + fdatasync";
    row(always, Append::RawAppendSync, raw_sync, Some(Target::Ratio(0.95)));
    row(always, Append::RawOverwriteSync, "raw pwrite in place + fdatasync", None);
    for (threads, target) in [(4, None), (16, Some(10.0)), (64, Some(25.0))] {
        let group = Append::Group { threads };
        row(group, always, "ndlog Always, 1 thread", target.map(Target::Ratio));
        let every = Append::RawAppendSyncEvery { lines: 64 };
        row(group, every, "raw 64 writes per fdatasync", None);
    }
    let procs = Append::Processes { procs: 4 };
    row(procs, always, "ndlog Always, 1 process", Some(Target::Ratio(2.0)));
    row(procs, Append::RawAppendSync, raw_sync, None);
    let raw_write = "raw write, one per line";
    row(Append::NeverRaw, Append::RawWrite, raw_write, Some(Target::Ratio(0.5)));
    row(Append::NeverRawExclusive, Append::RawWrite, raw_write, Some(Target::Ratio(0.5)));
    row(Append::NeverRawForwarded, Append::NeverRaw, "ndlog Never through StdFs", None);
    let batch = Append::NeverBatch { batch: 64 };
    row(batch, BATCH_LIMIT, "raw write of 64 lines", Some(Target::AtLeast(5e6)));
    let batch = Append::NeverBatchExclusive { batch: 64 };
    row(batch, BATCH_LIMIT, "raw write of 64 lines", Some(Target::AtLeast(5e6)));
    rows
}

/// The fdatasync-bound cases, whose rate follows the load other programs put on the disk.
const SYNC_CASES: [Append; 7] = [
    Append::RawAppendSync,
    Append::RawOverwriteSync,
    Append::RawAppendSyncEvery { lines: 64 },
    Append::Always,
    Append::Group { threads: 16 },
    Append::Group { threads: 64 },
    Append::Processes { procs: 4 },
];

/// Rounds of the interleaved re-measurement, and the length of each run.
const PAIRED_ROUNDS: usize = 5;
const PAIRED_RUN: Duration = Duration::from_millis(250);

/// Prints, per payload size, each ndlog figure beside its limit: first from criterion's samples;
/// then, for the fdatasync-bound cases, from an interleaved re-measurement (every case once per
/// round, five rounds, medians) and from ndlog `Always` alternating append by append with the
/// raw loop, because on a shared disk the sync rate drifts during the minutes criterion takes
/// between one case and the next. `NDLOG_BENCH_PAIRED=0` skips the re-measurement.
fn summary() {
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let paired = !quick && std::env::var("NDLOG_BENCH_PAIRED").map_or(true, |v| v != "0");
    for (size, label) in PAYLOAD_SIZES {
        let recorded = |case: Append| {
            let key = format!("{label}/{}", case.name());
            common::recorded_rate(&key, case.records_per_iter() as f64)
        };
        let table = rows(recorded);
        if table.is_empty() {
            continue;
        }
        let title = format!("append, {label} payloads: criterion, medians of 10 samples");
        common::print_table(&title, &table);
        if !paired {
            continue;
        }
        let payload = &common::payload(size);
        eprintln!("append, {label}: fdatasync-bound cases again, interleaved");
        let mut cases: Vec<Timed> = SYNC_CASES.iter().map(|&case| case.timed(payload)).collect();
        let rates = common::round_robin(&mut cases, PAIRED_RUN, PAIRED_ROUNDS);
        drop(cases);
        let paired = common::alternating_rates(payload, PAIRED_RUN, PAIRED_ROUNDS);
        let interleaved = |case: Append| {
            let i = SYNC_CASES.iter().position(|&c| c == case)?;
            Some(rates[i])
        };
        let title = format!(
            "append, {label} payloads: fdatasync-bound cases interleaved, medians of \
             {PAIRED_ROUNDS} rounds"
        );
        let mut table = rows(interleaved);
        table.insert(
            0,
            Row {
                case: "ndlog_always_1t, alternating append by append".into(),
                value: paired.of,
                versus: common::alternating_versus("raw O_APPEND write + fdatasync", &paired),
                limit: paired.versus,
                unit: Unit::Records,
                target: Some(Target::Ratio(0.95)),
                ratio: Some(paired.ratio),
            },
        );
        common::print_table(&title, &table);
    }
}

fn main() {
    common::run_child_if_requested();
    let mut c = Criterion::default().without_plots().configure_from_args();
    bench_append(&mut c);
    c.final_summary();
    summary();
}
