//! One table of the figures the performance issue sets targets for, each beside the limit it is
//! judged against, measured in the same run: `cargo bench --bench report` (about a minute).
//!
//! Not criterion: each case is calibrated to runs of about 0.8 s, then every case runs once per
//! round for three rounds (round-robin, so a change in the machine's load hits every case
//! alike), and the median of the three is reported. Payloads are ~100 bytes; the scan log is
//! `$NDLOG_BENCH_SCAN_MB` MiB (default 256).

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    mod alternating;
    mod child;
    mod files;
    mod forward;
    mod lookup;
    mod median;
    mod payloads;
    mod raw;
    mod scan_log;
    mod scans;
    mod table;
    mod timer;
    mod workloads;

    pub(crate) use alternating::{alternating_rates, alternating_versus};
    pub(crate) use child::run_child_if_requested;
    pub(crate) use lookup::{lookup_floor, lookup_targets};
    pub(crate) use payloads::payload;
    pub(crate) use scan_log::{ScanLog, make_scan_log, scan_log_mib};
    pub(crate) use scans::{
        bufreader_serde_json, memchr_lines, scan_serde_json, scan_simd_serde, time_scan,
        verified_scan,
    };
    pub(crate) use table::{Row, Target, Unit, print_table};
    pub(crate) use timer::{Timed, round_robin};
    pub(crate) use workloads::Append;
}

use std::ffi::OsStr;
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Append, Row, Target, Timed, Unit};

/// Length of one run of a case.
const RUN: Duration = Duration::from_millis(800);
/// Runs per case; the median is reported.
const ROUNDS: usize = 3;

/// The append cases, in the order of [`append_rows`]'s indexes.
const APPENDS: [Append; 11] = [
    Append::RawAppendSync,
    Append::Always,
    Append::Group { threads: 16 },
    Append::Group { threads: 64 },
    Append::Processes { procs: 4 },
    Append::RawWrite,
    Append::NeverRaw,
    Append::NeverRawExclusive,
    Append::RawWriteBatch { lines: 64 },
    Append::NeverBatch { batch: 64 },
    Append::NeverBatchExclusive { batch: 64 },
];

fn append_rows(r: &[f64]) -> Vec<Row> {
    let [
        raw_sync,
        always,
        group16,
        group64,
        procs4,
        raw_write,
        never,
        never_x,
        raw_batch,
        batch,
        batch_x,
    ] = r
    else {
        unreachable!("one rate per append case")
    };
    let row = |case: &str, value: f64, versus: &str, limit: f64, target| Row {
        case: case.to_string(),
        value,
        versus: versus.to_string(),
        limit,
        unit: Unit::Records,
        target: Some(target),
        ratio: None,
    };
    let always_1 = "ndlog Always, 1 thread";
    vec![
        row(
            "Always, 1 thread",
            *always,
            "raw O_APPEND write + fdatasync",
            *raw_sync,
            Target::Ratio(0.95),
        ),
        row("Group, 16 threads", *group16, always_1, *always, Target::Ratio(10.0)),
        row("Group, 64 threads", *group64, always_1, *always, Target::Ratio(25.0)),
        row("Always, 4 processes", *procs4, always_1, *always, Target::Ratio(2.0)),
        row("Never, append_raw", *never, "raw write, one per line", *raw_write, Target::Ratio(0.5)),
        row(
            "Never, append_raw, exclusive writer",
            *never_x,
            "raw write, one per line",
            *raw_write,
            Target::Ratio(0.5),
        ),
        row(
            "Never, append_raw_batch of 64",
            *batch,
            "raw write of 64 lines",
            *raw_batch,
            Target::AtLeast(5e6),
        ),
        row(
            "Never, append_raw_batch of 64, exclusive writer",
            *batch_x,
            "raw write of 64 lines",
            *raw_batch,
            Target::AtLeast(5e6),
        ),
    ]
}

fn scan_case<'a>(name: &str, bytes: u64, scan: Box<dyn Fn() -> u64 + 'a>) -> Timed<'a> {
    Timed {
        name: name.to_string(),
        units: bytes as f64,
        unit: Unit::Bytes,
        timed: Box::new(move |n| common::time_scan(n, &scan)),
    }
}

fn main() {
    common::run_child_if_requested();
    let payload = &common::payload(100);
    eprintln!("append, 100-byte payloads: {ROUNDS} round-robin rounds of {RUN:?} per case");
    let mut cases: Vec<Timed> = APPENDS.iter().map(|&case| case.timed(payload)).collect();
    let mut rows = append_rows(&common::round_robin(&mut cases, RUN, ROUNDS));
    drop(cases);
    let paired = common::alternating_rates(payload, RUN, ROUNDS);
    rows.insert(
        1,
        Row {
            case: "Always, 1 thread, alternating append by append".into(),
            value: paired.of,
            versus: common::alternating_versus("raw O_APPEND write + fdatasync", &paired),
            limit: paired.versus,
            unit: Unit::Records,
            target: Some(Target::Ratio(0.95)),
            ratio: Some(paired.ratio),
        },
    );

    let mib = common::scan_log_mib();
    eprintln!("scan: generating a {mib} MiB log");
    let log = common::make_scan_log(mib);
    let reader = &log.reader;
    let mut cases = vec![
        scan_case("memchr newline count", log.bytes, Box::new(|| common::memchr_lines(reader))),
        scan_case("verified scan", log.bytes, Box::new(|| common::verified_scan(reader))),
        scan_case(
            "BufReader::lines + serde_json",
            log.bytes,
            Box::new(|| common::bufreader_serde_json(&log.path)),
        ),
        scan_case(
            "scan + deserialize (serde_json)",
            log.bytes,
            Box::new(|| common::scan_serde_json(reader)),
        ),
        scan_case(
            "scan + deserialize (simd-json serde)",
            log.bytes,
            Box::new(|| common::scan_simd_serde(reader)),
        ),
    ];
    let r = common::round_robin(&mut cases, RUN, ROUNDS);
    drop(cases);
    let [memchr, verified, hand, serde, simd] = r[..] else {
        unreachable!("one rate per scan case")
    };
    let (deser_name, deser) = if simd > serde {
        ("scan + deserialize (simd-json serde)", simd)
    } else {
        ("scan + deserialize (serde_json)", serde)
    };
    rows.push(Row {
        case: format!("verified scan, {mib} MiB"),
        value: verified,
        versus: "memchr newline count".into(),
        limit: memchr,
        unit: Unit::Bytes,
        target: Some(Target::AtLeast(3.5e9)),
        ratio: None,
    });
    rows.push(Row {
        case: deser_name.into(),
        value: deser,
        versus: "BufReader::lines + serde_json".into(),
        limit: hand,
        unit: Unit::Bytes,
        target: Some(Target::Ratio(1.3)),
        ratio: None,
    });
    rows.extend(lookup_rows(&log, log.records));
    drop(log);
    rows.extend(cat_data_row());
    common::print_table(
        "ndlog against the machine's limits (100-byte payloads; medians of 3 runs)",
        &rows,
    );
}

/// redb's lookup latency on the reference machine (1.35 µs): the `get(seq)` target is 3×
/// its rate. redb is not a dependency, so this one figure is quoted, not measured here.
const REDB_LOOKUPS_PER_S: f64 = 1.0 / 1.35e-6;

/// `get(seq)` at pseudo-random seqs through the scan log's index (default stride), against
/// redb's quoted figure and against the memory floor measured beside it.
fn lookup_rows(log: &common::ScanLog, records: u64) -> [Row; 3] {
    let reader = &log.reader;
    assert!(reader.index().is_some(), "the scan log's writer kept its index");
    let seqs = common::lookup_targets(records);
    let mut cases = [
        Timed {
            name: "get(seq)".into(),
            units: 1.0,
            unit: Unit::Records,
            timed: Box::new(|n| {
                let start = Instant::now();
                for i in 0..n as usize {
                    let entry = reader.get(seqs[i % seqs.len()]).expect("every seq is in the log");
                    black_box(entry.offset);
                }
                start.elapsed()
            }),
        },
        Timed {
            name: "index entry + log byte, dependent".into(),
            units: 1.0,
            unit: Unit::Records,
            timed: Box::new(|n| {
                let start = Instant::now();
                for i in 0..n as usize {
                    black_box(common::lookup_floor(reader, black_box(seqs[i % seqs.len()])));
                }
                start.elapsed()
            }),
        },
        // The same loads, but each lookup's address waits for the previous lookup's byte (a
        // line starts with `{`, never 0), so the misses cannot overlap: the latency floor.
        Timed {
            name: "index entry + log byte, chained".into(),
            units: 1.0,
            unit: Unit::Records,
            timed: Box::new(|n| {
                let start = Instant::now();
                let mut i = 0;
                for _ in 0..n {
                    let byte = common::lookup_floor(reader, seqs[i]);
                    i = (i + 1 + usize::from(byte == 0)) % seqs.len();
                }
                start.elapsed()
            }),
        },
    ];
    let [rate, floor, chained] = common::round_robin(&mut cases, RUN, ROUNDS)[..] else {
        unreachable!("three cases")
    };
    let case = format!("get(seq), {records} records, random lookups");
    [
        Row {
            case: case.clone(),
            value: rate,
            versus: "redb lookup (issue's reference figure, not run here)".into(),
            limit: REDB_LOOKUPS_PER_S,
            unit: Unit::Records,
            target: Some(Target::Ratio(3.0)),
            ratio: None,
        },
        Row {
            case: case.clone(),
            value: rate,
            versus: "memory floor: index entry, then its log byte, lookups overlapping".into(),
            limit: floor,
            unit: Unit::Records,
            target: None,
            ratio: None,
        },
        Row {
            case,
            value: rate,
            versus: "memory floor, each lookup waiting for the previous one".into(),
            limit: chained,
            unit: Unit::Records,
            target: None,
            ratio: None,
        },
    ]
}

/// `ndlog cat --data` against `jq -c .data` on a 100 MiB log, both as processes writing to
/// /dev/null. `None` (with a note) when jq is not installed.
fn cat_data_row() -> Option<Row> {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("cat --data: jq is not installed; row skipped");
        return None;
    }
    let log = common::make_scan_log(100);
    let run = |program: &str, args: &[&OsStr]| {
        let started = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(status.success(), "{program} failed: {status}");
        started.elapsed()
    };
    let path = log.path.as_os_str();
    let mut cases = [
        Timed {
            name: "ndlog cat --data".into(),
            units: log.bytes as f64,
            unit: Unit::Bytes,
            timed: Box::new(|n| {
                (0..n)
                    .map(|_| {
                        run(
                            env!("CARGO_BIN_EXE_ndlog"),
                            &[OsStr::new("cat"), OsStr::new("--data"), path],
                        )
                    })
                    .sum()
            }),
        },
        Timed {
            name: "jq -c .data".into(),
            units: log.bytes as f64,
            unit: Unit::Bytes,
            timed: Box::new(|n| {
                (0..n).map(|_| run("jq", &[OsStr::new("-c"), OsStr::new(".data"), path])).sum()
            }),
        },
    ];
    let [ours, jq] = common::round_robin(&mut cases, RUN, ROUNDS)[..] else {
        unreachable!("two cases")
    };
    Some(Row {
        case: format!("ndlog cat --data, {} MB", log.bytes / 1_000_000),
        value: ours,
        versus: "jq -c .data".into(),
        limit: jq,
        unit: Unit::Bytes,
        target: Some(Target::Ratio(20.0)),
        ratio: None,
    })
}
