//! What a conditional append costs: `append_if` on an entity's version and a transaction of one
//! read (the entity's version) and one append, beside a plain `append_raw` at the same
//! durability, ~100-byte payloads over 1,000 entities, shared (per-append lock) writers. Two
//! plain appends are the baselines: one by a writer without an entity key (what an append costs
//! without the feature: the ratio to it is the cost of conditional appends, keeping entity
//! versions included), and one by a writer configured exactly as the `append_if` one, with the
//! same entity key and `LOG.versions` (the ratio to it is the cost of the check alone).
//!
//! Then a fresh writer on a large log with many entities (`FRESH_RECORDS` records over
//! `FRESH_ENTITIES` entities, more than the in-memory cache holds): what its open and first
//! `append_if` cost, and what an `append_if` on an entity it has not seen costs against a plain
//! append on a copy of the same log, alternating, `Never` and `Always`. It uses only the public
//! API, so the same file measures a commit from before `LOG.versions` too.
//!
//! `cargo bench --bench conditional` (a few minutes; `-- fresh` runs only the large log's
//! cases, `-- small` only the small logs').
//! Ends with the median ratio of each to both plain appends over alternating rounds (Markdown,
//! for BENCHMARKS.md). Temp files go to `target/tmp`, or to `$NDLOG_BENCH_DIR`.

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    mod files;
    mod median;
    mod payloads;

    pub(crate) use files::{open_writer, temp_dir};
    pub(crate) use median::median;
    pub(crate) use payloads::{line_for, payload};
}

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use ndlog::{Durability, Expect, JsonPointer, Options, Writer};

const ENTITIES: usize = 1_000;

/// ~100-byte payloads naming entity `e0`..`e999` at `/id`, with the entity's name.
fn payloads() -> Vec<(String, Vec<u8>)> {
    let base = common::payload(80);
    (0..ENTITIES)
        .map(|i| {
            let mut p = format!(r#"{{"id":"e{i}","#).into_bytes();
            p.extend_from_slice(&base[1..]);
            (format!("e{i}"), p)
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    /// `append_raw` by a writer without an entity key.
    Plain,
    /// `append_raw` by a writer configured as the `append_if` one (entity key, version table):
    /// it keeps the entity versions at every append, and checks nothing.
    PlainKeyed,
    AppendIf,
    Transaction,
    /// `append_if` by a writer that keeps no `LOG.versions` (its cache alone, as before the
    /// table): what keeping the table costs an append, measured at the same moment.
    AppendIfNoTable,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Plain => "append_raw",
            Case::PlainKeyed => "append_raw_keyed",
            Case::AppendIf => "append_raw_if_version",
            Case::Transaction => "transaction_version_and_append",
            Case::AppendIfNoTable => "append_raw_if_version_without_table",
        }
    }
}

/// A writer for `case` on a fresh log, and the entity versions it starts from.
struct Bench {
    writer: Writer,
    versions: HashMap<usize, u64>,
    next: usize,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new(case: Case, durability: Durability) -> Bench {
        let dir = common::temp_dir();
        let path = dir.path().join("log.ndjson");
        let writer = match case {
            Case::Plain => common::open_writer(&path, durability),
            _ => Options::new()
                .durability(durability)
                .entity_key(JsonPointer::parse("/id").expect("pointer"))
                .version_table(case != Case::AppendIfNoTable)
                .open(&path)
                .expect("open the bench log"),
        };
        Bench { writer, versions: HashMap::new(), next: 0, _dir: dir }
    }

    fn one(&mut self, case: Case, payloads: &[(String, Vec<u8>)]) {
        let i = self.next % ENTITIES;
        self.next += 1;
        let (entity, p) = &payloads[i];
        let seq = match case {
            Case::Plain | Case::PlainKeyed => self.writer.append_raw(p).expect("append").seq,
            Case::AppendIf | Case::AppendIfNoTable => {
                let expect = Expect::Version(self.versions.get(&i).copied().unwrap_or(0));
                self.writer.append_raw_if(expect, p).expect("append_if").seq
            }
            Case::Transaction => {
                let (version, ack) = self
                    .writer
                    .transaction(|tx| {
                        let v = tx.version(entity)?;
                        tx.append_raw(p)?;
                        Ok::<_, ndlog::Error>(v)
                    })
                    .expect("transaction");
                black_box(version);
                ack.first_seq
            }
        };
        self.versions.insert(i, seq);
    }
}

const CASES: [Case; 5] =
    [Case::Plain, Case::PlainKeyed, Case::AppendIf, Case::Transaction, Case::AppendIfNoTable];

/// Where the keyed plain append is in `CASES`: the second baseline.
const KEYED: usize = 1;

fn bench_conditional(c: &mut Criterion) {
    let payloads = payloads();
    eprintln!("records of {} bytes, {ENTITIES} entities", common::line_for(&payloads[0].1).len());
    for (durability, label) in [(Durability::Never, "never"), (Durability::Always, "always")] {
        let mut group = c.benchmark_group(format!("conditional_{label}"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(1));
        for case in CASES {
            group.bench_function(case.name(), |b| {
                let mut bench = Bench::new(case, durability);
                b.iter(|| bench.one(case, &payloads));
            });
        }
        group.finish();
    }
}

/// `rounds` rounds of `per_round` appends of each case, interleaved append by append (in
/// rotating order, each timed on its own), so that every case sees the same disk at the same
/// moment: per case, the median time per append, the median ratio to the plain append's time
/// in the same round, and the median ratio to the keyed plain append's.
fn alternating_ratios(
    durability: Durability,
    per_round: usize,
    rounds: usize,
) -> Vec<(f64, f64, f64)> {
    let payloads = payloads();
    let mut benches: Vec<Bench> = CASES.iter().map(|&c| Bench::new(c, durability)).collect();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    let mut keyed_ratios: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    let mut per_op: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    for _ in 0..rounds {
        let mut times = [Duration::ZERO; CASES.len()];
        for j in 0..per_round {
            for turn in 0..CASES.len() {
                let k = (j + turn) % CASES.len();
                let start = Instant::now();
                benches[k].one(CASES[k], &payloads);
                times[k] += start.elapsed();
            }
        }
        for k in 0..CASES.len() {
            ratios[k].push(times[k].as_secs_f64() / times[0].as_secs_f64());
            keyed_ratios[k].push(times[k].as_secs_f64() / times[KEYED].as_secs_f64());
            per_op[k].push(times[k].as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    let medians = ratios.into_iter().zip(keyed_ratios).zip(per_op);
    medians.map(|((r, kr), t)| (common::median(t), common::median(r), common::median(kr))).collect()
}

/// The large log of the fresh-writer cases.
const FRESH_RECORDS: usize = 1_000_000;
const FRESH_ENTITIES: usize = 150_000;

/// A fresh writer's view of a large log: the log, a copy for the plain appends, and every
/// entity's version.
struct Large {
    log: std::path::PathBuf,
    copy: std::path::PathBuf,
    versions: Vec<u64>,
    payloads: Vec<Vec<u8>>,
    rng: u64,
    _dir: tempfile::TempDir,
}

impl Large {
    fn new() -> Large {
        let dir = common::temp_dir();
        let log = dir.path().join("large.ndjson");
        let base = common::payload(80);
        let payloads: Vec<Vec<u8>> = (0..FRESH_ENTITIES)
            .map(|i| {
                let mut p = format!(r#"{{"id":"e{i}","#).into_bytes();
                p.extend_from_slice(&base[1..]);
                p
            })
            .collect();
        let w = common::open_writer(&log, Durability::Never);
        let mut versions = vec![0; FRESH_ENTITIES];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for start in (0..FRESH_RECORDS).step_by(4096) {
            let batch: Vec<&[u8]> = (start..(start + 4096).min(FRESH_RECORDS))
                .map(|i| payloads[if i < FRESH_ENTITIES { i } else { next(&mut rng) }].as_slice())
                .collect();
            let ack = w.append_raw_batch(&batch).expect("build the large log");
            for (seq, p) in ack.seqs().zip(&batch) {
                versions[entity_of(p)] = seq;
            }
        }
        w.sync().expect("sync");
        let copy = dir.path().join("copy.ndjson");
        std::fs::copy(&log, &copy).expect("copy the large log");
        Large { log, copy, versions, payloads, rng, _dir: dir }
    }

    fn keyed(&self, durability: Durability) -> Writer {
        Options::new()
            .durability(durability)
            .entity_key(JsonPointer::parse("/id").expect("pointer"))
            .open(&self.log)
            .expect("open the large log")
    }

    /// One `append_if` on a random entity through `w`, expecting its version.
    fn append_if(&mut self, w: &Writer) {
        let e = next(&mut self.rng);
        let ack = w.append_raw_if(Expect::Version(self.versions[e]), &self.payloads[e]);
        self.versions[e] = ack.expect("append_if on the large log").seq;
    }
}

/// The entity index in a payload `{"id":"e<i>",...`.
fn entity_of(p: &[u8]) -> usize {
    let digits = p[8..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&p[8..8 + digits]).expect("digits").parse().expect("an entity")
}

/// A pseudo-random entity (xorshift).
fn next(rng: &mut u64) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    (*rng % FRESH_ENTITIES as u64) as usize
}

/// The fresh-writer cases, as Markdown rows.
fn fresh_writer(large: &mut Large, durability: Durability, label: &str, per_round: usize) {
    // Open + the first append_if: where a writer without the table fills its cache from the
    // end of the log. The first open after the log was built (or after a reboot) builds the
    // table; it is reported apart.
    let (mut opens, mut plain_opens) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let start = Instant::now();
        let w = large.keyed(durability);
        large.append_if(&w);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            println!("| {label} | first open after the build + first append_if | {ms:.1} ms | | |");
        } else {
            opens.push(ms);
        }
        // The same for a writer without a key, on the copy: what any open costs.
        let start = Instant::now();
        let w = common::open_writer(&large.copy, durability);
        w.append_raw(&large.payloads[next(&mut large.rng)]).expect("plain append");
        plain_opens.push(start.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "| {label} | open + first append_raw, no key (median of 5) | {:.2} ms | | |",
        common::median(plain_opens[1..].to_vec())
    );
    // Appends by a fresh writer (each on an entity it has not seen), alternating with plain
    // appends by a writer of the copy, rounds capped at 10 s.
    let plain = common::open_writer(&large.copy, durability);
    let keyed = large.keyed(durability);
    let (mut ratios, mut per_op, mut plain_op) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        let (mut t_plain, mut t_if, mut n) = (Duration::ZERO, Duration::ZERO, 0);
        let round = Instant::now();
        while n < per_round && round.elapsed() < Duration::from_secs(10) {
            let p = &large.payloads[next(&mut large.rng)];
            let start = Instant::now();
            plain.append_raw(p).expect("plain append");
            t_plain += start.elapsed();
            let start = Instant::now();
            large.append_if(&keyed);
            t_if += start.elapsed();
            n += 1;
        }
        ratios.push(t_if.as_secs_f64() / t_plain.as_secs_f64());
        per_op.push(t_if.as_secs_f64() * 1e6 / n as f64);
        plain_op.push(t_plain.as_secs_f64() * 1e6 / n as f64);
    }
    println!(
        "| {label} | open + first append_if (median of 5) | {:.2} ms | | |",
        common::median(opens)
    );
    println!(
        "| {label} | append_raw (a copy of the log) | | {:.2} | 1.000 |",
        common::median(plain_op)
    );
    println!(
        "| {label} | append_raw_if on an entity not seen yet | | {:.2} | {:.3} |",
        common::median(per_op),
        common::median(ratios)
    );
}

fn main() {
    let arg = |a: &str| std::env::args().any(|x| x == a);
    if !arg("fresh") {
        small_logs();
    }
    if arg("small") {
        return;
    }
    println!();
    let start = Instant::now();
    let mut large = Large::new();
    let size = std::fs::metadata(&large.log).map(|m| m.len()).unwrap_or(0);
    println!(
        "A fresh writer on a log of {FRESH_RECORDS} records ({} MB) over {FRESH_ENTITIES} \
         entities (built in {:.1} s):",
        size / 1_000_000,
        start.elapsed().as_secs_f64()
    );
    println!();
    println!("| durability | case | time | µs per append (median of rounds) | × plain append |");
    println!("| --- | --- | ---: | ---: | ---: |");
    fresh_writer(&mut large, Durability::Never, "Never", 20_000);
    fresh_writer(&mut large, Durability::Always, "Always", 300);
}

/// The criterion runs and the alternating rounds on small fresh logs.
fn small_logs() {
    let mut c = Criterion::default().configure_from_args();
    bench_conditional(&mut c);
    c.final_summary();
    println!();
    println!(
        "| durability | case | µs per append (median) | × plain append (median of rounds) \
         | × keyed plain append (median of rounds) |"
    );
    println!("| --- | --- | ---: | ---: | ---: |");
    for (durability, label, per_round, rounds) in
        [(Durability::Never, "Never", 20_000, 9), (Durability::Always, "Always", 400, 9)]
    {
        let figures = alternating_ratios(durability, per_round, rounds);
        for (case, (us, ratio, keyed)) in CASES.iter().zip(figures) {
            // (The writer without the table has no keyed baseline of its own here.)
            let keyed = match case {
                Case::AppendIfNoTable => String::new(),
                _ => format!("{keyed:.3}"),
            };
            println!("| {label} | {} | {us:.2} | {ratio:.3} | {keyed} |", case.name());
        }
    }
}
