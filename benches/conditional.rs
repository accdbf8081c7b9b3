//! What a conditional append costs: `append_if` on an entity's version and a transaction of one
//! read (the entity's version) and one append, beside a plain `append_raw` at the same
//! durability, ~100-byte payloads over 1,000 entities, shared (per-append lock) writers.
//!
//! `cargo bench --bench conditional` (about a minute). Ends with the median ratio of each to
//! the plain append over alternating rounds (Markdown, for BENCHMARKS.md). Temp files go to
//! `target/tmp`, or to `$NDLOG_BENCH_DIR`.

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
    Plain,
    AppendIf,
    Transaction,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Plain => "append_raw",
            Case::AppendIf => "append_raw_if_version",
            Case::Transaction => "transaction_version_and_append",
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
            Case::Plain => self.writer.append_raw(p).expect("append").seq,
            Case::AppendIf => {
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

const CASES: [Case; 3] = [Case::Plain, Case::AppendIf, Case::Transaction];

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
/// moment: per case, the median time per append and the median ratio to the plain append's
/// time in the same round.
fn alternating_ratios(durability: Durability, per_round: usize, rounds: usize) -> Vec<(f64, f64)> {
    let payloads = payloads();
    let mut benches: Vec<Bench> = CASES.iter().map(|&c| Bench::new(c, durability)).collect();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
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
            per_op[k].push(times[k].as_secs_f64() * 1e6 / per_round as f64);
        }
    }
    ratios.into_iter().zip(per_op).map(|(r, t)| (common::median(t), common::median(r))).collect()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_conditional(&mut c);
    c.final_summary();
    println!();
    println!("| durability | case | µs per append (median) | × plain append (median of rounds) |");
    println!("| --- | --- | ---: | ---: |");
    for (durability, label, per_round, rounds) in
        [(Durability::Never, "Never", 20_000, 9), (Durability::Always, "Always", 400, 9)]
    {
        let figures = alternating_ratios(durability, per_round, rounds);
        for (case, (us, ratio)) in CASES.iter().zip(figures) {
            println!("| {label} | {} | {us:.2} | {ratio:.3} |", case.name());
        }
    }
}
