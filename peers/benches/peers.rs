//! ndlog beside its peers and the machine's limits, in one process and one run (issue 17):
//! `cargo bench -p ndlog-peers`, about 3 to 5 minutes on a 2-core VM.
//!
//! Every rate is the median of 3 runs taken round-robin (one run of each case per round, so a
//! change in the machine's load hits every case alike), each run calibrated to about
//! `$NDLOG_PEERS_RUN_MS` ms (default 1000). The rows marked "alternating" instead take
//! one-thread durable appends of several engines in turn, append by append, for 3 rounds, and
//! report the median of the rounds' ratios. Payloads are 100 bytes. All files go to
//! `$NDLOG_BENCH_DIR` (default `target/tmp`), so every case runs on the same file system.
//! `$NDLOG_BENCH_SCAN_MB` (default 256) sizes the scanned log (whose records the lookups use),
//! `$NDLOG_PEERS_COMPACT_MB` (default 256) the compacted ones. `$NDLOG_PEERS_ONLY` runs only the
//! sections it names (comma-separated: `durable`, `not-durable`, `scan`, `chain`,
//! `compaction`, `device`). Prints one Markdown table, and the `device` section's own table of
//! block-device writes and flushes per durable append.

/// The shared bench code of the root crate's benches (`benches/common/`), of which this bench
/// uses a part.
#[path = "../../benches/common"]
#[allow(dead_code, reason = "shared with the root crate's benches; this bench uses a part of it")]
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

    pub(crate) use alternating::{Paired, Step, alternating, ndlog_step, raw_append_step};
    pub(crate) use child::run_child_if_requested;
    pub(crate) use files::temp_dir;
    pub(crate) use lookup::lookup_targets;
    pub(crate) use median::median;
    pub(crate) use payloads::{line_for, payload};
    pub(crate) use scan_log::{make_scan_log, make_scan_log_with, scan_log_mib};
    pub(crate) use scans::{bufreader_serde_json, memchr_lines, scan_serde_json, time_scan};
    pub(crate) use table::{Unit, fmt_rate, fmt_ratio};
    pub(crate) use timer::{Timed, round_robin};
    pub(crate) use workloads::Append;
}

mod compaction;
mod device;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Append, Paired, Timed, Unit, alternating, ndlog_step};
use ndlog::{Durability, Options};
use ndlog_peers::{fjall_db, limits, okay_wal, redb_db, sqlite};

/// Runs per case; the median is reported.
const ROUNDS: usize = 3;

/// What issue 17 asks of a row.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// The ratio to the compared figure must be at least this.
    Ratio(f64),
    /// The figure itself must be at least this.
    AtLeast(f64),
    /// No target: shown for context.
    None,
}

/// One line of the table.
struct Row {
    case: String,
    ndlog: f64,
    versus: String,
    limit: f64,
    unit: Unit,
    target: Target,
}

/// Whether to run a section: all of them, or those `$NDLOG_PEERS_ONLY` names (a comma-separated
/// list of `durable`, `not-durable`, `scan`, `chain`, `compaction`, `device`).
fn section(name: &str) -> bool {
    match std::env::var("NDLOG_PEERS_ONLY") {
        Ok(only) => only.split(',').any(|s| s.trim() == name),
        Err(_) => true,
    }
}

fn run_length() -> Duration {
    let ms = std::env::var("NDLOG_PEERS_RUN_MS").ok().and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(1000))
}

/// A case that appends `per_iter` records an iteration through `run`, on a fresh directory.
fn case<'a>(
    name: &str,
    per_iter: usize,
    run: impl Fn(&std::path::Path, u64) -> Duration + 'a,
) -> Timed<'a> {
    Timed {
        name: name.to_string(),
        units: per_iter as f64,
        unit: Unit::Records,
        timed: Box::new(move |n| {
            let dir = common::temp_dir();
            run(dir.path(), n)
        }),
    }
}

/// The segments of the preallocated cases: 16 MiB, preallocated and written in place.
fn preallocated() -> ndlog::segments::Settings {
    ndlog::segments::Settings { preallocate: true, ..ndlog::segments::Settings::new(16 << 20) }
}

/// ndlog `Always`, one thread, on a segmented log whose segments are preallocated and written
/// in place. The first append (which creates the preallocated segment) is not timed.
fn preallocated_always(dir: &std::path::Path, payload: &[u8], iters: u64) -> Duration {
    let writer = Options::new()
        .durability(Durability::Always)
        .segments(preallocated())
        .open(dir.join("segmented"))
        .expect("open the segmented log");
    writer.append_raw(payload).expect("append_raw");
    let start = Instant::now();
    for _ in 0..iters {
        black_box(writer.append_raw(payload).expect("append_raw"));
    }
    start.elapsed()
}

/// A row of an alternating pair: the ratio shown is the median of the rounds' ratios.
fn paired_row(paired: &Paired, case: &str, versus: String, target: Target) -> Row {
    let versus = format!("{versus}, alternating (ratio: the median of {ROUNDS} rounds' ratios)");
    // (This table derives the ratio from the two rates and does not print the second: the
    // rate at which the ratio is the median one.)
    records_row(case, paired.of, versus, paired.of / paired.ratio, target)
}

/// ndlog `Always`, one thread, on a plain log (0) and on a chained one (1: `Options::chain`,
/// every line carries the SHA-256 link of its predecessor), alternating.
fn chained_alternating(payload: &[u8], run: Duration) -> Vec<Vec<f64>> {
    alternating(run, ROUNDS, "Always plain, chained", |dir| {
        let open = |name: &str, chain: bool| {
            let options = Options::new().durability(Durability::Always).chain(chain);
            ndlog_step(options.open(dir.join(name)).expect("open a log"), payload)
        };
        vec![open("plain.ndjson", false), open("chained.ndjson", true)]
    })
}

/// One thread, alternating: ndlog `Always` on a segmented log with preallocated segments (0,
/// between two rolls) and on a plain log (1), fjall (2) and okaywal (3) (the peers that write
/// in place), ndlog `Group` on a plain log (4), and ndlog `Always` on preallocated segments
/// with an exclusive writer (5: `Options::exclusive`, one process owning the log as fjall and
/// okaywal are each embedded in one process).
fn one_thread_alternating(payload: &[u8], run: Duration) -> Vec<Vec<f64>> {
    let label = "ndlog Always, preallocated; ndlog Always, plain; fjall; okaywal; ndlog Group; \
                 ndlog Always, preallocated, exclusive";
    alternating(run, ROUNDS, label, |dir| {
        let settings = preallocated();
        let always = Options::new().durability(Durability::Always);
        let preallocated = always.clone().segments(settings).open(dir.join("segmented"));
        let preallocated = preallocated.expect("open the segmented log");
        let exclusive = always.clone().exclusive(true).segments(settings);
        let exclusive = exclusive.open(dir.join("exclusive")).expect("open the segmented log");
        // The first append writes and syncs the first segment, 16 MiB of padding; the rounds
        // start 10 s after it (BENCHMARKS.md, "Durable appends alternating with the peers").
        // The calibration and the rounds (about 4 `run`s, ~8 k appends/s of ~165 bytes) stay
        // inside that segment, so no roll is timed, while `$NDLOG_PEERS_RUN_MS` is under
        // ~10,000.
        preallocated.append_raw(payload).expect("append_raw");
        exclusive.append_raw(payload).expect("append_raw");
        std::thread::sleep(Duration::from_secs(10));
        let plain = always.open(dir.join("plain.ndjson")).expect("open the log");
        let group = Options::new().durability(Durability::Group).open(dir.join("group.ndjson"));
        let mut fjall = fjall_db::Durable::open(dir);
        let mut okaywal = okay_wal::Committer::open(dir);
        let (fjall_payload, okaywal_payload) = (payload.to_vec(), payload.to_vec());
        vec![
            ndlog_step(preallocated, payload),
            ndlog_step(plain, payload),
            Box::new(move || fjall.insert(&fjall_payload)),
            Box::new(move || okaywal.commit(&okaywal_payload)),
            ndlog_step(group.expect("open the log"), payload),
            ndlog_step(exclusive, payload),
        ]
    })
}

/// The durable append cases: ndlog's, the peers' and the raw limits.
fn durable_rows(payload: &[u8], run: Duration) -> Vec<Row> {
    let a = |append: Append| append.timed(payload);
    let mut cases = vec![
        a(Append::RawAppendSync),
        case("limit_pwrite_in_place_fdatasync", 1, |_, n| Append::RawOverwriteSync.run(payload, n)),
        a(Append::RawAppendSyncEvery { lines: 64 }),
        a(Append::Always),
        case("ndlog_always_1t_preallocated", 1, |d, n| preallocated_always(d, payload, n)),
        a(Append::Group { threads: 1 }),
        a(Append::Group { threads: 4 }),
        a(Append::Group { threads: 16 }),
        a(Append::Group { threads: 64 }),
        a(Append::Processes { procs: 4 }),
        case("okaywal_1t", 1, |d, n| okay_wal::commits(d, payload, 1, n)),
        case("okaywal_16t", 16, |d, n| okay_wal::commits(d, payload, 16, n)),
        case("fjall_insert_persist_syncdata", 1, |d, n| fjall_db::durable_inserts(d, payload, n)),
        case("sqlite_wal_full", 1, |d, n| sqlite::durable_inserts(d, payload, n)),
        case("redb_immediate", 1, |d, n| redb_db::durable_inserts(d, payload, n)),
    ];
    let r = common::round_robin(&mut cases, run, ROUNDS);
    let [
        raw_sync,
        raw_inplace,
        raw_64_per_sync,
        always,
        always_pre,
        group1,
        group4,
        group16,
        group64,
        procs4,
        okaywal1,
        okaywal16,
        fjall,
        sqlite,
        redb,
    ] = r[..]
    else {
        unreachable!("one rate per durable case")
    };
    let rate = |x| common::fmt_rate(x, Unit::Records);
    let peers =
        [("fjall", fjall), ("okaywal", okaywal1), ("SQLite WAL FULL", sqlite), ("redb", redb)];
    let (best_name, best) =
        peers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).expect("four peers");
    let durable_versus = format!(
        "{best_name} {} (fjall {}; okaywal {}; SQLite WAL FULL {}; redb Immediate {}; raw append+fdatasync {}; overwrite-in-place+fdatasync {})",
        rate(best),
        rate(fjall),
        rate(okaywal1),
        rate(sqlite),
        rate(redb),
        rate(raw_sync),
        rate(raw_inplace),
    );
    let own_1t = format!("ndlog Always, 1 thread {}", rate(always));
    let chained = Paired::new(&chained_alternating(payload, run), 1, &[0]);
    let one_thread = one_thread_alternating(payload, run);
    let (preallocated, not_preallocated) =
        (Paired::new(&one_thread, 0, &[2, 3]), Paired::new(&one_thread, 1, &[2, 3]));
    let group_alone = Paired::new(&one_thread, 4, &[1]);
    let exclusive = Paired::new(&one_thread, 5, &[2, 3]);
    let median_of = |j: usize| common::median(one_thread.iter().map(|r| r[j]).collect());
    let peers_alternating = |p: &Paired| {
        format!(
            "best of fjall and okaywal {} (fjall {}; okaywal {})",
            rate(p.versus),
            rate(median_of(2)),
            rate(median_of(3))
        )
    };
    vec![
        records_row(
            "durable, 1 thread (Always)",
            always,
            durable_versus.clone(),
            best,
            Target::Ratio(1.0),
        ),
        records_row(
            "durable, 1 thread (Always), preallocated segments written in place",
            always_pre,
            durable_versus,
            best,
            Target::Ratio(1.0),
        ),
        paired_row(
            &preallocated,
            "durable, 1 thread (Always), preallocated segments written in place, alternating \
             append by append with fjall, okaywal, ndlog Always on a plain log, ndlog Group and an \
             exclusive writer",
            peers_alternating(&preallocated),
            Target::Ratio(1.0),
        ),
        paired_row(
            &exclusive,
            "durable, 1 thread (Always), preallocated segments written in place, exclusive \
             writer (`Options::exclusive`), alternating append by append in the same six",
            peers_alternating(&exclusive),
            Target::Ratio(1.0),
        ),
        paired_row(
            &not_preallocated,
            "durable, 1 thread (Always), not preallocated, alternating append by append in the \
             same six",
            peers_alternating(&not_preallocated),
            Target::Ratio(1.0),
        ),
        paired_row(
            &chained,
            "durable, 1 thread (Always), chained log, alternating append by append with a plain \
             one (issue 15: ≤ 3 % slower)",
            format!("ndlog Always, 1 thread, plain log {}", rate(chained.versus)),
            Target::Ratio(0.97),
        ),
        records_row(
            "durable, 1 thread (Group)",
            group1,
            own_1t.clone(),
            always,
            Target::Ratio(1.0),
        ),
        paired_row(
            &group_alone,
            "durable, 1 thread (Group), alternating append by append in the same six",
            format!("ndlog Always, 1 thread {}", rate(group_alone.versus)),
            Target::Ratio(1.0),
        ),
        records_row(
            "durable, 4 threads (Group)",
            group4,
            own_1t.clone(),
            always,
            Target::Ratio(3.0),
        ),
        records_row(
            "durable, 16 threads (Group)",
            group16,
            format!("okaywal 16 threads {}", rate(okaywal16)),
            okaywal16,
            Target::Ratio(1.5),
        ),
        records_row(
            "durable, 64 threads (Group)",
            group64,
            format!("{own_1t} (raw 64 lines per fdatasync {})", rate(raw_64_per_sync)),
            always,
            Target::Ratio(25.0),
        ),
        records_row(
            "durable, 4 processes (Always)",
            procs4,
            format!("ndlog Always, 1 process {}", rate(always)),
            always,
            Target::Ratio(3.0),
        ),
    ]
}

/// The not-durable append cases beside the raw `write` loops.
fn not_durable_rows(payload: &[u8], run: Duration) -> Vec<Row> {
    let a = |append: Append| append.timed(payload);
    let mut cases = vec![
        a(Append::RawWrite),
        a(Append::RawWriteBatch { lines: 64 }),
        a(Append::NeverRaw),
        a(Append::NeverBatch { batch: 64 }),
    ];
    let [raw_write, raw_batch, never, never_batch] =
        common::round_robin(&mut cases, run, ROUNDS)[..]
    else {
        unreachable!("one rate per not-durable case")
    };
    let rate = |x| common::fmt_rate(x, Unit::Records);
    vec![
        records_row(
            "not durable, 1 record per call (shared lock)",
            never,
            format!("raw `write` per record {}", rate(raw_write)),
            raw_write,
            Target::Ratio(0.5),
        ),
        records_row(
            "not durable, batches of 64",
            never_batch,
            format!("raw `write` of 64 lines {}", rate(raw_batch)),
            raw_batch,
            Target::AtLeast(5e6),
        ),
    ]
}

fn records_row(case: &str, ndlog: f64, versus: String, limit: f64, target: Target) -> Row {
    Row { case: case.into(), ndlog, versus, limit, unit: Unit::Records, target }
}

/// Delivers every record of the log at `path` through a committed follower, in batches, until
/// it has caught up: what a consumer starting from the beginning of a backlog pays.
fn follow_all(path: &std::path::Path) -> u64 {
    let mut follow = ndlog::Reader::open(path).expect("map the scan log").follow();
    let mut delivered = 0;
    loop {
        let batch = follow.next_batch(Some(Duration::ZERO)).expect("follow the scan log");
        if batch.is_empty() {
            return delivered;
        }
        delivered += batch.map(|r| r.data.len() as u64).sum::<u64>();
    }
}

/// A chained log (issue 15): its verification (every link's SHA-256, split across the cores)
/// beside the verified scan of the same log.
fn chain_rows(run: Duration) -> Vec<Row> {
    let mib = common::scan_log_mib();
    eprintln!("chain: generating a chained {mib} MiB log");
    let log = common::make_scan_log_with(mib, true);
    let reader = &log.reader;
    assert!(reader.verify_chain(None).is_intact(), "the chained log verifies");
    let mut cases = vec![
        scan_case("ndlog verified scan, chained log", log.bytes, || {
            reader.records().map(|r| r.data.len() as u64).sum()
        }),
        scan_case("ndlog verify_chain", log.bytes, || reader.verify_chain(None).records),
    ];
    let [scan, chain] = common::round_robin(&mut cases, run, ROUNDS)[..] else {
        unreachable!("two chain cases")
    };
    vec![Row {
        case: format!("chained log, every link verified (verify_chain), {mib} MiB (issue 15)"),
        ndlog: chain,
        versus: format!(
            "ndlog verified scan (CRC only) of the same log {}",
            common::fmt_rate(scan, Unit::Bytes)
        ),
        limit: scan,
        unit: Unit::Bytes,
        target: Target::AtLeast(1e9),
    }]
}

fn scan_case<'a>(name: &str, bytes: u64, scan: impl Fn() -> u64 + 'a) -> Timed<'a> {
    Timed {
        name: name.to_string(),
        units: bytes as f64,
        unit: Unit::Bytes,
        timed: Box::new(move |n| common::time_scan(n, &scan)),
    }
}

/// The scans of a generated log, and `get(seq)` beside redb's lookups of the same records.
fn read_rows(run: Duration) -> Vec<Row> {
    let mib = common::scan_log_mib();
    eprintln!("scan: generating a {mib} MiB log");
    let log = common::make_scan_log(mib);
    let reader = &log.reader;
    let bytes = reader.bytes();
    assert_eq!(limits::tuned_crc_scan(bytes), log.records, "the tuned scan checks every line");
    let json_reader = ndlog::Reader::open(&log.path).expect("map the scan log").validate_json(true);
    assert_eq!(json_reader.verify().records, log.records, "verify checks every line");
    let json_reader = &json_reader;
    let mut cases = vec![
        scan_case("memchr newline count", log.bytes, || common::memchr_lines(reader)),
        scan_case("mmap + crc32fast per line, tuned", log.bytes, || limits::tuned_crc_scan(bytes)),
        scan_case("ndlog verified scan", log.bytes, || {
            reader.records().map(|r| r.data.len() as u64).sum()
        }),
        scan_case("ndlog verify, CRC and JSON check", log.bytes, || {
            // What `ndlog verify` runs: every line's CRC and its payload's JSON check, the log
            // cut into stretches of whole lines on up to four threads.
            json_reader.verify().records
        }),
        scan_case("ndlog scan + serde_json", log.bytes, || common::scan_serde_json(reader)),
        scan_case("ndlog committed follower, catching up", log.bytes, || follow_all(&log.path)),
        scan_case("BufReader::lines + serde_json", log.bytes, || {
            common::bufreader_serde_json(&log.path)
        }),
    ];
    let [memchr, tuned, verified, verify_json, deser, follow, naive] =
        common::round_robin(&mut cases, run, ROUNDS)[..]
    else {
        unreachable!("one rate per scan case")
    };
    drop(cases);

    eprintln!("lookups: loading the log's {} records into redb", log.records);
    let redb_dir = common::temp_dir();
    let redb = redb_db::Lookups::load(redb_dir.path(), reader.records().map(|r| (r.seq, r.data)));
    let seqs = common::lookup_targets(log.records);
    let mut cases = [
        Timed {
            name: "ndlog get(seq)".into(),
            units: 1.0,
            unit: Unit::Records,
            timed: Box::new(|n| {
                let start = Instant::now();
                for i in 0..n as usize {
                    let r = reader.get(seqs[i % seqs.len()]).expect("every seq is in the log");
                    black_box(r.data.len());
                }
                start.elapsed()
            }),
        },
        Timed {
            name: "redb get".into(),
            units: 1.0,
            unit: Unit::Records,
            timed: Box::new(|n| redb.get(&seqs, n)),
        },
    ];
    let [get, redb_get] = common::round_robin(&mut cases, run, ROUNDS)[..] else {
        unreachable!("two lookup cases")
    };
    let gbs = |x| common::fmt_rate(x, Unit::Bytes);
    let row = |case: String, ndlog, versus: String, limit, unit, target| Row {
        case,
        ndlog,
        versus,
        limit,
        unit,
        target,
    };
    vec![
        row(
            format!("verified scan (CRC of every line), {mib} MiB"),
            verified,
            format!("mmap + crc32fast per line, tuned {} (memchr {})", gbs(tuned), gbs(memchr)),
            tuned,
            Unit::Bytes,
            Target::Ratio(0.9),
        ),
        row(
            format!("`ndlog verify`'s check (CRC and JSON of every line, split), {mib} MiB"),
            verify_json,
            format!("ndlog verified scan (CRC only, one thread) of the same log {}", gbs(verified)),
            verified,
            Unit::Bytes,
            Target::AtLeast(2e9),
        ),
        row(
            format!("committed follower catching up on a {mib} MiB backlog (issue 16)"),
            follow,
            format!("ndlog verified scan of the same log {}", gbs(verified)),
            verified,
            Unit::Bytes,
            Target::Ratio(0.8),
        ),
        row(
            "scan + deserialise (serde_json)".into(),
            deser,
            format!("naive BufReader + serde_json {}", gbs(naive)),
            naive,
            Unit::Bytes,
            Target::None,
        ),
        row(
            format!("get(seq), random, warm ({} records)", log.records),
            get,
            format!(
                "redb point lookups, same records {}",
                common::fmt_rate(redb_get, Unit::Records)
            ),
            redb_get,
            Unit::Records,
            Target::Ratio(2.0),
        ),
    ]
}

fn print_table(rows: &[Row]) {
    println!(
        "| case | ndlog | best peer / limit (same run) | ratio | target from issue 17 | met? |"
    );
    println!("| --- | ---: | --- | ---: | --- | --- |");
    for r in rows {
        let ratio = r.ndlog / r.limit;
        let (target, met) = match r.target {
            Target::Ratio(t) => (format!("≥ {t}×"), ratio >= t),
            Target::AtLeast(t) => (format!("≥ {}", common::fmt_rate(t, r.unit)), r.ndlog >= t),
            Target::None => ("—".into(), true),
        };
        let met = match r.target {
            Target::None => "",
            _ if met => "met",
            _ => "**missed**",
        };
        println!(
            "| {} | {} | {} | {}× | {} | {} |",
            r.case,
            common::fmt_rate(r.ndlog, r.unit),
            r.versus,
            common::fmt_ratio(ratio),
            target,
            met
        );
    }
}

fn main() {
    common::run_child_if_requested();
    let run = run_length();
    let started = Instant::now();
    let payload = &common::payload(100);
    eprintln!("append, 100-byte payloads: {ROUNDS} round-robin rounds of {run:?} per case");
    let mut rows = Vec::new();
    if section("durable") {
        rows.extend(durable_rows(payload, run));
    }
    if section("not-durable") {
        rows.extend(not_durable_rows(payload, run));
    }
    if section("scan") {
        rows.extend(read_rows(run));
    }
    if section("chain") {
        rows.extend(chain_rows(run));
    }
    if section("compaction") {
        rows.extend(compaction::rows(ROUNDS));
    }
    let device = if section("device") { device::table(payload) } else { Vec::new() };
    eprintln!("done in {:.0?}", started.elapsed());
    if !rows.is_empty() {
        println!();
        print_table(&rows);
    }
    if !device.is_empty() {
        println!();
        device.iter().for_each(|line| println!("{line}"));
    }
}
