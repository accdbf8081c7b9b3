//! Scan throughput, bytes/s, over a generated, page-cached log (`$NDLOG_BENCH_SCAN_MB` MiB,
//! default 256): the verified scan beside a `memchr` newline count (the scan-speed limit), and
//! scan + deserialise (serde_json, simd-json) beside what users write by hand (`BufReader::lines`
//! + `serde_json::from_str`). Ends with a table of the ratios.
//!
//! `cargo bench --bench scan` (about 2 minutes at 256 MiB);
//! `NDLOG_BENCH_SCAN_MB=1024 cargo bench --bench scan` for the 1 GiB file of the issue.

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    mod files;
    mod history;
    mod median;
    mod recorder;
    mod scan_log;
    mod scans;
    mod simd_value;
    mod table;

    pub(crate) use history::{history_filter, library_history};
    pub(crate) use recorder::{SAMPLE_SIZE, record, recorded_rate};
    pub(crate) use scan_log::{ScanLog, make_scan_log, scan_log_mib};
    pub(crate) use scans::{
        bufreader_serde_json, memchr_lines, scan_serde_json, scan_simd_serde, time_scan,
        verified_scan,
    };
    pub(crate) use simd_value::scan_simd_value;
    pub(crate) use table::{Row, Target, Unit, print_table};
}

use std::time::Duration;

use common::{Row, ScanLog, Target, Unit};
use criterion::{Criterion, SamplingMode, Throughput};

/// The cases, by criterion id: each scans the whole file once per iteration.
const MEMCHR: &str = "limit_memchr_newlines";
const VERIFIED: &str = "ndlog_verified_scan";
const SERDE: &str = "ndlog_deserialize_serde_json";
const SIMD_SERDE: &str = "ndlog_deserialize_simd_json_serde";
const SIMD_VALUE: &str = "ndlog_deserialize_simd_json_value";
const BUFREADER: &str = "bufreader_lines_serde_json";
const FILTER: &str = "ndlog_filter_memmem_user";
const HISTORY: &str = "ndlog_reader_history";

fn run(log: &ScanLog, case: &str) -> u64 {
    let reader = &log.reader;
    match case {
        MEMCHR => common::memchr_lines(reader),
        VERIFIED => common::verified_scan(reader),
        SERDE => common::scan_serde_json(reader),
        SIMD_SERDE => common::scan_simd_serde(reader),
        SIMD_VALUE => common::scan_simd_value(reader),
        BUFREADER => common::bufreader_serde_json(&log.path),
        FILTER => common::history_filter(reader),
        HISTORY => common::library_history(reader, &log.key),
        _ => unreachable!("unknown scan case {case}"),
    }
}

const CASES: [&str; 8] =
    [MEMCHR, VERIFIED, SERDE, SIMD_SERDE, SIMD_VALUE, BUFREADER, FILTER, HISTORY];

fn bench_scan(c: &mut Criterion, log: &ScanLog) {
    let mut group = c.benchmark_group("scan");
    group
        .sample_size(common::SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(log.bytes));
    for case in CASES {
        group.bench_function(case, |b| {
            b.iter_custom(|iters| {
                common::record(case, iters, common::time_scan(iters, || run(log, case)))
            })
        });
    }
    group.finish();
}

fn summary(log: &ScanLog) {
    let rate = |case: &str| common::recorded_rate(case, log.bytes as f64);
    let mut rows = Vec::new();
    let mut row = |case: &str, limit: &str, versus: &str, target: Option<Target>| {
        if let (Some(value), Some(limit_rate)) = (rate(case), rate(limit)) {
            rows.push(Row {
                case: case.to_string(),
                value,
                versus: versus.to_string(),
                limit: limit_rate,
                unit: Unit::Bytes,
                target,
                ratio: None,
            });
        }
    };
    row(VERIFIED, MEMCHR, "memchr newline count", None);
    row(FILTER, MEMCHR, "memchr newline count", None);
    row(HISTORY, MEMCHR, "memchr newline count", None);
    let hand = "BufReader::lines + serde_json";
    for case in [SERDE, SIMD_SERDE, SIMD_VALUE] {
        row(case, BUFREADER, hand, Some(Target::Ratio(1.3)));
    }
    if rows.is_empty() {
        return;
    }
    let mib = log.bytes as f64 / f64::from(1 << 20);
    common::print_table(
        &format!(
            "scan, {mib:.0} MiB page-cached log, {} records: medians of 10 samples",
            log.records
        ),
        &rows,
    );
    if let Some(verified) = rate(VERIFIED) {
        println!(
            "verified scan target: ≥ 3.5 GB/s: {}",
            if verified >= 3.5e9 { "met" } else { "MISSED" }
        );
    }
    let faster = [SERDE, SIMD_SERDE, SIMD_VALUE]
        .into_iter()
        .filter_map(|case| rate(case).map(|r| (case, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((case, r)) = faster {
        let per_record = log.bytes as f64 / log.records as f64;
        println!("fastest deserialise: {case}, {:.2} M records/s", r / per_record / 1e6);
    }
}

fn main() {
    let mut c = Criterion::default().without_plots().configure_from_args();
    let log = common::make_scan_log(common::scan_log_mib());
    bench_scan(&mut c, &log);
    c.final_summary();
    summary(&log);
}
