//! Hash chains (issue 15): what chaining costs. Chained against unchained appends of 100-byte
//! payloads (`Always` on one thread, `Group` with 16 threads, `Never` in batches of 64; and
//! `Always` on a segmented log rolling every 256 records, where the chain runs across rolls), and
//! `Reader::verify_chain` over a page-cached chained log (split across the cores) beside the
//! same walk on one thread (`chain::verify_in_order`) and `Reader::verify` over an unchained
//! log of the same size (`$NDLOG_BENCH_SCAN_MB` MiB, default 256), with the SHA-256 floors
//! that bound the chained scan. Criterion first; then every scan again, round-robin (one short
//! run of each per round, medians), then every append case round-robin and `Always` chained
//! and unchained alternating append by append, because a shared disk's sync rate drifts between
//! one criterion case and the next. Ends with Markdown tables of the ratios.
//!
//! `cargo bench --bench chain` (about 2 minutes); temp files go to `target/tmp`, or to
//! `$NDLOG_BENCH_DIR`. `NDLOG_BENCH_PAIRED=0` skips the appends' interleaved re-measurement
//! (the scans' round-robin, ~20 s, still runs after criterion's scans).

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    #[allow(dead_code, reason = "the raw loop's pair is the report's and append's")]
    mod alternating;
    mod files;
    mod median;
    #[allow(dead_code, reason = "no raw loop here needs ndlog's line")]
    mod payloads;
    #[allow(
        dead_code,
        reason = "only the alternating pair's raw loop, which this bench does not run"
    )]
    mod raw;
    mod recorder;
    #[allow(dead_code, reason = "no case here reads the log through its path")]
    mod scan_log;
    #[allow(
        dead_code,
        reason = "the scan log needs the memchr scan; the other scans are scan.rs's"
    )]
    mod scans;
    mod table;
    mod timer;

    pub(crate) use alternating::{Paired, alternating, ndlog_step};
    pub(crate) use files::temp_dir;
    pub(crate) use median::median;
    pub(crate) use payloads::payload;
    pub(crate) use recorder::{SAMPLE_SIZE, record, recorded_rate};
    pub(crate) use scan_log::{ScanLog, make_scan_log, make_scan_log_with, scan_log_mib};
    pub(crate) use scans::{memchr_lines, time_scan};
    pub(crate) use table::{Row, Target, Unit, fmt_rate, fmt_ratio, print_table};
    pub(crate) use timer::{Timed, round_robin};
}

use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{Row, ScanLog, Target, Timed, Unit};
use criterion::{Criterion, SamplingMode, Throughput};
use ndlog::format::chain::{self, ChainValue};
use ndlog::segments::Settings;
use ndlog::{Durability, Options, Reader, Writer};

/// How an append case appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Durability::Always`, `append_raw`, one thread.
    Always,
    /// `Durability::Group`, `append_raw`, 16 threads sharing one handle.
    Group16,
    /// `Durability::Never`, `append_raw_batch` of 64, one thread.
    Batch64,
}

/// One append case: a mode, on a chained or an unchained log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Append {
    mode: Mode,
    chain: bool,
}

const MODES: [Mode; 3] = [Mode::Always, Mode::Group16, Mode::Batch64];

impl Append {
    fn name(self) -> String {
        let mode = match self.mode {
            Mode::Always => "always_1t",
            Mode::Group16 => "group_16t",
            Mode::Batch64 => "never_batch64",
        };
        format!("{}_{mode}", if self.chain { "chained" } else { "plain" })
    }

    fn records_per_iter(self) -> u64 {
        match self.mode {
            Mode::Always => 1,
            Mode::Group16 => 16,
            Mode::Batch64 => 64,
        }
    }

    fn durability(self) -> Durability {
        match self.mode {
            Mode::Always => Durability::Always,
            Mode::Group16 => Durability::Group,
            Mode::Batch64 => Durability::Never,
        }
    }

    /// Runs `iters` iterations on a fresh log in a fresh directory; opening the log and
    /// spawning threads are not timed.
    fn run(self, payload: &[u8], iters: u64) -> Duration {
        let dir = common::temp_dir();
        let writer = open(&dir.path().join("bench.ndjson"), self.durability(), self.chain);
        match self.mode {
            Mode::Always => threads(&writer, 1, payload, iters),
            Mode::Group16 => threads(&writer, 16, payload, iters),
            Mode::Batch64 => {
                let payloads = vec![payload; 64];
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(writer.append_raw_batch(&payloads).expect("append_raw_batch"));
                }
                start.elapsed()
            }
        }
    }

    fn timed(self, payload: &[u8]) -> Timed<'_> {
        Timed {
            name: self.name(),
            units: self.records_per_iter() as f64,
            unit: Unit::Records,
            timed: Box::new(move |n| self.run(payload, n)),
        }
    }
}

fn open(path: &Path, durability: Durability, chain: bool) -> Writer {
    let writer = Options::new().durability(durability).chain(chain).open(path);
    writer.expect("open the bench log")
}

/// Records a segment of the segmented cases: a run of a few hundred `Always` appends crosses
/// rolls, each of which seals (fdatasync, rename) and creates a segment (directory fsync).
const SEGMENT_RECORDS: u64 = 256;

/// A segmented log at `dir` (created), `Always`, chained or not.
fn open_segmented(dir: &Path, chain: bool) -> Writer {
    let settings = Settings { segment_records: Some(SEGMENT_RECORDS), ..Settings::new(64 << 20) };
    let options = Options::new().durability(Durability::Always).chain(chain).segments(settings);
    options.open(dir).expect("open the segmented bench log")
}

/// The segmented cases, by criterion id: `Always` on one thread, unchained and chained.
const SEGMENTED_CASES: [(&str, bool); 2] =
    [("plain_segmented_always_1t", false), ("chained_segmented_always_1t", true)];

/// `iters` `Always` appends on a fresh segmented log; opening it is not timed.
fn segmented_run(chain: bool, payload: &[u8], iters: u64) -> Duration {
    let dir = common::temp_dir();
    let writer = open_segmented(&dir.path().join("bench"), chain);
    threads(&writer, 1, payload, iters)
}

/// `n` threads sharing `writer` append `iters` payloads each.
fn threads(writer: &Writer, n: usize, payload: &[u8], iters: u64) -> Duration {
    let append = || {
        for _ in 0..iters {
            black_box(writer.append_raw(payload).expect("append_raw"));
        }
    };
    if n == 1 {
        let start = Instant::now();
        append();
        return start.elapsed();
    }
    let go = Barrier::new(n + 1);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                go.wait();
                append();
            });
        }
        go.wait();
        // The scope joins every thread before it returns.
        Instant::now()
    })
    .elapsed()
}

/// Every append case, each mode unchained then chained.
fn append_cases() -> Vec<Append> {
    MODES.iter().flat_map(|&mode| [false, true].map(|chain| Append { mode, chain })).collect()
}

/// The scan cases, by criterion id: each reads the whole log once per iteration.
const PLAIN_VERIFY: &str = "plain_verify";
const CHAINED_PLAIN_VERIFY: &str = "chained_log_plain_verify";
const CHAINED_VERIFY: &str = "chained_verify_chain";
const CHAINED_VERIFY_1T: &str = "chained_verify_chain_1_thread";
const SHA_FLOOR: &str = "floor_records_plus_sha256";
const SHA_ONLY: &str = "floor_sha256_only";
const SHA_FLOOR_2T: &str = "floor_records_plus_sha256_2_threads";
const MEMCHR: &str = "limit_memchr_newlines";

const SCAN_CASES: [&str; 8] = [
    PLAIN_VERIFY,
    CHAINED_PLAIN_VERIFY,
    CHAINED_VERIFY,
    CHAINED_VERIFY_1T,
    SHA_FLOOR,
    SHA_ONLY,
    SHA_FLOOR_2T,
    MEMCHR,
];

/// The two logs the scans read, of the same size, and the chained log's record bodies.
struct Logs {
    plain: ScanLog,
    chained: ScanLog,
    /// (start, end) of each chained record's body (`{` through the last payload byte).
    bodies: Vec<(usize, usize)>,
}

impl Logs {
    fn make(mib: u64) -> Logs {
        let plain = common::make_scan_log(mib);
        let chained = common::make_scan_log_with(mib, true);
        let base = chained.reader.bytes().as_ptr() as usize;
        let bodies = chained
            .reader
            .records()
            .map(|r| {
                let start = r.line.as_ptr() as usize - base;
                (start, start + body(r.line).len())
            })
            .collect();
        assert!(chained.reader.verify_chain(None).is_intact(), "the chained scan log verifies");
        Logs { plain, chained, bodies }
    }

    /// The log a case reads, for its size in bytes.
    fn log(&self, case: &str) -> &ScanLog {
        if matches!(case, PLAIN_VERIFY | MEMCHR) { &self.plain } else { &self.chained }
    }

    fn run(&self, case: &str) -> u64 {
        match case {
            PLAIN_VERIFY => self.plain.reader.verify().records,
            CHAINED_PLAIN_VERIFY => self.chained.reader.verify().records,
            CHAINED_VERIFY => self.chained.reader.verify_chain(None).records,
            CHAINED_VERIFY_1T => {
                ndlog::chain::verify_in_order(&[(&self.chained.reader, None)], None).records
            }
            SHA_FLOOR => records_plus_sha256(&self.chained.reader),
            SHA_ONLY => sha256_only(self.chained.reader.bytes(), &self.bodies),
            SHA_FLOOR_2T => records_plus_sha256_2_threads(self.chained.reader.bytes()),
            MEMCHR => common::memchr_lines(&self.plain.reader),
            _ => unreachable!("unknown scan case {case}"),
        }
    }
}

/// A record's body: its line before the chain link and the CRC trailer. The floors take the
/// link's place on trust (the log verified when it was made), so they decode no hex.
fn body(line: &[u8]) -> &[u8] {
    &line[..line.len() - ndlog::format::TRAILER_LEN - chain::LINK_LEN]
}

/// The floor of a chained scan: the CRC-verified record iteration plus one SHA-256 per record
/// (`chain::next`), with no hex decoding, comparison or bookkeeping.
fn records_plus_sha256<D: AsRef<[u8]>>(reader: &Reader<D>) -> u64 {
    let mut value = ChainValue::GENESIS;
    for r in reader.records() {
        value = chain::next(&value, body(r.line));
    }
    u64::from(value.0[0])
}

/// [`records_plus_sha256`] on two threads, each over half of the log (split at a newline): a
/// record's link can be checked from the value its predecessor's line stores, so verification,
/// unlike writing, need not be sequential.
fn records_plus_sha256_2_threads(bytes: &[u8]) -> u64 {
    let middle = memchr::memchr(b'\n', &bytes[bytes.len() / 2..])
        .map_or(bytes.len(), |i| bytes.len() / 2 + i + 1);
    let (a, b) = bytes.split_at(middle);
    std::thread::scope(|s| {
        let other = s.spawn(|| records_plus_sha256(&Reader::new(b)));
        records_plus_sha256(&Reader::new(a)) ^ other.join().expect("the scan thread")
    })
}

/// SHA-256 alone: the chain recomputed from the bodies' known positions, no parsing.
fn sha256_only(bytes: &[u8], bodies: &[(usize, usize)]) -> u64 {
    let mut value = ChainValue::GENESIS;
    for &(start, end) in bodies {
        value = chain::next(&value, &bytes[start..end]);
    }
    u64::from(value.0[0])
}

fn bench_appends(c: &mut Criterion, payload: &[u8]) {
    let mut group = c.benchmark_group("chain_append");
    group
        .sample_size(common::SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for case in append_cases() {
        let id = case.name();
        group.throughput(Throughput::Elements(case.records_per_iter()));
        group.bench_function(&id, |b| {
            b.iter_custom(|iters| common::record(&id, iters, case.run(payload, iters)))
        });
    }
    group.finish();
}

fn bench_segmented_appends(c: &mut Criterion, payload: &[u8]) {
    let mut group = c.benchmark_group("chain_segmented_append");
    group
        .sample_size(common::SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (id, chain) in SEGMENTED_CASES {
        group.throughput(Throughput::Elements(1));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| common::record(id, iters, segmented_run(chain, payload, iters)))
        });
    }
    group.finish();
}

/// The segmented pair's row, from whichever measurement `rate` reads.
fn segmented_row(rate: &dyn Fn(&str) -> Option<f64>, how: &str) -> Option<Row> {
    let [(plain, _), (chained, _)] = SEGMENTED_CASES;
    Some(Row {
        case: format!("{chained}{how}"),
        value: rate(chained)?,
        versus: format!("{plain}{how}"),
        limit: rate(plain)?,
        unit: Unit::Records,
        target: Some(Target::Ratio(0.97)),
        ratio: None,
    })
}

fn bench_scans(c: &mut Criterion, logs: &Logs) {
    let mut group = c.benchmark_group("chain_scan");
    group
        .sample_size(common::SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for case in SCAN_CASES {
        group.throughput(Throughput::Bytes(logs.log(case).bytes));
        group.bench_function(case, |b| {
            b.iter_custom(|iters| {
                common::record(case, iters, common::time_scan(iters, || logs.run(case)))
            })
        });
    }
    group.finish();
}

/// The ratio tables, from whichever measurement `rate` reads.
fn append_rows(rate: &dyn Fn(Append) -> Option<f64>) -> Vec<Row> {
    MODES
        .iter()
        .filter_map(|&mode| {
            let (plain, chained) = (Append { mode, chain: false }, Append { mode, chain: true });
            Some(Row {
                case: chained.name(),
                value: rate(chained)?,
                versus: plain.name(),
                limit: rate(plain)?,
                unit: Unit::Records,
                // "≤ 3 % slower": the chained rate at least 0.97 of the unchained one.
                target: (mode == Mode::Always).then_some(Target::Ratio(0.97)),
                ratio: None,
            })
        })
        .collect()
}

fn scan_rows(rate: &dyn Fn(&str) -> Option<f64>) -> Vec<Row> {
    let mut rows = Vec::new();
    let pairs = [
        (CHAINED_VERIFY, PLAIN_VERIFY, "Reader::verify, unchained log", true),
        (CHAINED_VERIFY, CHAINED_VERIFY_1T, "verify_chain's walk on 1 thread", false),
        (CHAINED_VERIFY, SHA_FLOOR_2T, "records() + SHA-256, 2 threads", false),
        (CHAINED_VERIFY, CHAINED_PLAIN_VERIFY, "Reader::verify, the chained log", false),
        (CHAINED_VERIFY_1T, SHA_FLOOR, "records() + SHA-256 per record", false),
        (CHAINED_VERIFY_1T, SHA_ONLY, "SHA-256 alone", false),
        (PLAIN_VERIFY, MEMCHR, "memchr newline count", false),
    ];
    for (case, versus, label, target) in pairs {
        if let (Some(value), Some(limit)) = (rate(case), rate(versus)) {
            rows.push(Row {
                case: case.to_string(),
                value,
                versus: label.to_string(),
                limit,
                unit: Unit::Bytes,
                target: target.then_some(Target::AtLeast(1e9)),
                ratio: None,
            });
        }
    }
    rows
}

/// ndlog `Always`, unchained and chained (two segmented logs with `segmented`), alternating
/// append by append (`common::alternating`), `rounds` rounds of about `run`: the median rates
/// (records/s) of the unchained and the chained log, and the median of the rounds' ratios.
fn alternating_rates(
    payload: &[u8],
    run: Duration,
    rounds: usize,
    segmented: bool,
) -> (f64, f64, f64) {
    let label =
        if segmented { "Always segmented unchained, chained" } else { "Always unchained, chained" };
    let rounds = common::alternating(run, rounds, label, |dir| {
        let (plain, chained) = match segmented {
            false => (
                open(&dir.join("plain.ndjson"), Durability::Always, false),
                open(&dir.join("chained.ndjson"), Durability::Always, true),
            ),
            true => (
                open_segmented(&dir.join("plain"), false),
                open_segmented(&dir.join("chained"), true),
            ),
        };
        vec![common::ndlog_step(plain, payload), common::ndlog_step(chained, payload)]
    });
    let paired = common::Paired::new(&rounds, 1, &[0]);
    (paired.versus, paired.of, paired.ratio)
}

/// The unchained and the chained case of `mode` in short runs back to back (in alternating
/// order), `pairs` times, each run about `run` long, so that each pair sees the same disk:
/// the median rates (records/s) of each, and the median of the pairs' own ratios.
fn paired_rates(payload: &[u8], mode: Mode, run: Duration, pairs: usize) -> (f64, f64, f64) {
    let cases = [false, true].map(|chain| Append { mode, chain });
    let mut n = 1u64;
    while cases[0].run(payload, n) * 4 < run && n < 1 << 30 {
        n *= 4;
    }
    let took = cases[0].run(payload, n).as_secs_f64().max(1e-9);
    let n = ((n as f64 * run.as_secs_f64() / took) as u64).max(1);
    let rate = |case: Append| n as f64 * case.records_per_iter() as f64;
    let (mut plain, mut chained, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..pairs {
        let mut rates = [0.0; 2];
        for i in [pair % 2, 1 - pair % 2] {
            rates[i] = rate(cases[i]) / cases[i].run(payload, n).as_secs_f64();
        }
        plain.push(rates[0]);
        chained.push(rates[1]);
        ratios.push(rates[1] / rates[0]);
    }
    eprintln!(
        "  {mode:?}: {pairs} pairs, chained / unchained from {:.3}× to {:.3}×",
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max)
    );
    (common::median(plain), common::median(chained), common::median(ratios))
}

/// Rounds of the interleaved re-measurement, and the length of each run.
const ROUNDS: usize = 5;
const RUN: Duration = Duration::from_millis(300);
const ALTERNATING_RUN: Duration = Duration::from_millis(1500);
const PAIRS: usize = 15;
const PAIR_RUN: Duration = Duration::from_millis(100);

fn summary(logs: &Logs) {
    let quick = std::env::args().any(|a| a == "--test" || a == "--list")
        || std::env::var("NDLOG_BENCH_PAIRED").is_ok_and(|v| v == "0");
    let appends =
        append_rows(&|case| common::recorded_rate(&case.name(), case.records_per_iter() as f64));
    let scans = scan_rows(&|case| common::recorded_rate(case, logs.log(case).bytes as f64));
    let mib = logs.plain.bytes as f64 / f64::from(1 << 20);
    let scan_title = |how: &str| {
        format!(
            "chained scan, {mib:.0} MiB page-cached logs ({} unchained records, {} chained): {how}",
            logs.plain.records, logs.chained.records
        )
    };
    let mut appends = appends;
    appends.extend(segmented_row(&|case| common::recorded_rate(case, 1.0), ""));
    if !appends.is_empty() {
        common::print_table("chained appends, 100 B payloads: criterion, medians of 10", &appends);
    }
    if !scans.is_empty() {
        common::print_table(&scan_title("criterion, medians of 10"), &scans);
    }
    let listing = std::env::args().any(|a| a == "--test" || a == "--list");
    if !scans.is_empty() && !listing {
        interleaved_scans(logs, &scan_title);
    }
    if quick || appends.is_empty() {
        return;
    }

    let payload = common::payload(100);
    eprintln!("chain: every case again, round-robin");
    let cases = append_cases();
    let mut timed: Vec<Timed> = cases.iter().map(|&case| case.timed(&payload)).collect();
    let rates = common::round_robin(&mut timed, RUN, ROUNDS);
    drop(timed);
    let append_rate = |case: Append| Some(rates[cases.iter().position(|&c| c == case)?]);

    eprintln!("chain: Always, unchained and chained alternating append by append");
    let (plain, chained, ratio) = alternating_rates(&payload, ALTERNATING_RUN, ROUNDS, false);
    eprintln!(
        "chain: Always on segmented logs (a roll every {SEGMENT_RECORDS} records), unchained and \
         chained alternating append by append"
    );
    let seg = alternating_rates(&payload, ALTERNATING_RUN, ROUNDS, true);
    let mut rows = vec![Row {
        case: "chained_always_1t, alternating append by append".into(),
        value: chained,
        versus: "plain_always_1t, alternating (ratio: the median of the rounds' ratios)".into(),
        limit: plain,
        unit: Unit::Records,
        target: Some(Target::Ratio(0.97)),
        ratio: Some(ratio),
    }];
    rows.push(Row {
        case: "chained_segmented_always_1t, alternating append by append".into(),
        value: seg.1,
        versus: "plain_segmented_always_1t, alternating (ratio: the median of the rounds' ratios)"
            .into(),
        limit: seg.0,
        unit: Unit::Records,
        target: Some(Target::Ratio(0.97)),
        ratio: Some(seg.2),
    });
    rows.extend(append_rows(&append_rate));
    common::print_table(
        &format!("chained appends, 100 B payloads: interleaved, medians of {ROUNDS} rounds"),
        &rows,
    );
    eprintln!("chain: Group and Never, unchained and chained in pairs of short runs");
    let group = paired_rates(&payload, Mode::Group16, PAIR_RUN, PAIRS);
    let batch = paired_rates(&payload, Mode::Batch64, PAIR_RUN, PAIRS);
    println!("\n## chained appends, 100 B payloads: the pairs' own ratios, medians\n");
    println!("| case | unchained | chained | chained / unchained | target |");
    println!("| --- | ---: | ---: | ---: | --- |");
    let paired = [
        ("Always, 1 thread, alternating append by append", (plain, chained, ratio), true),
        (
            &*format!("Always, segmented (a roll every {SEGMENT_RECORDS} records), alternating"),
            seg,
            true,
        ),
        (&*format!("Group, 16 threads, {PAIRS} pairs of runs"), group, false),
        (&*format!("Never, batches of 64, {PAIRS} pairs of runs"), batch, false),
    ];
    for (case, (plain, chained, ratio), target) in paired {
        let verdict = if ratio >= 0.97 { "met" } else { "MISSED" };
        println!(
            "| {case} | {} | {} | {}× | {} |",
            common::fmt_rate(plain, Unit::Records),
            common::fmt_rate(chained, Unit::Records),
            common::fmt_ratio(ratio),
            if target { format!("≥ 0.97×: {verdict}") } else { String::new() }
        );
    }
}

/// Every scan case again, round-robin (one short run of each per round, so that a change in
/// the machine's load affects every case alike): the table of the medians.
fn interleaved_scans(logs: &Logs, scan_title: &dyn Fn(&str) -> String) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("chain: every scan again, round-robin ({threads} cores available)");
    let mut timed = SCAN_CASES.map(|case| Timed {
        name: case.to_string(),
        units: logs.log(case).bytes as f64,
        unit: Unit::Bytes,
        timed: Box::new(move |n| common::time_scan(n, || logs.run(case))),
    });
    let rates = common::round_robin(&mut timed, RUN, ROUNDS);
    let scan_rate = |case: &str| Some(rates[SCAN_CASES.iter().position(|&c| c == case)?]);
    common::print_table(
        &scan_title(&format!("interleaved, medians of {ROUNDS} rounds")),
        &scan_rows(&scan_rate),
    );
    let per_record = |case: &str| {
        let log = logs.log(case);
        scan_rate(case).map(|r| log.bytes as f64 / log.records as f64 / r * 1e9)
    };
    if let (Some(sha), Some(one), Some(split)) =
        (per_record(SHA_ONLY), per_record(CHAINED_VERIFY_1T), per_record(CHAINED_VERIFY))
    {
        println!(
            "per chained record ({:.0} bytes a line): SHA-256 {sha:.0} ns, verify_chain on 1 \
             thread {one:.0} ns, split across the cores {split:.0} ns (wall time)",
            logs.chained.bytes as f64 / logs.chained.records as f64
        );
    }
}

fn main() {
    let mut c = Criterion::default().without_plots().configure_from_args();
    let payload = common::payload(100);
    bench_appends(&mut c, &payload);
    bench_segmented_appends(&mut c, &payload);
    let logs = Logs::make(common::scan_log_mib());
    bench_scans(&mut c, &logs);
    c.final_summary();
    summary(&logs);
}
