//! Durable appends of several engines measured append by append, alternating, so that all of
//! them see the same disk at the same moment: a gap smaller than the disk's drift between two
//! cases of a round-robin round can then be judged.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use ndlog::Durability;

use super::files::{open_writer, temp_dir};
use super::median::median;
use super::payloads::line_for;
use super::raw::{create_for_append, write_once};
use super::table::{Unit, fmt_rate};

/// One durable append of one engine, for [`alternating`].
pub(crate) type Step = Box<dyn FnMut()>;

/// An ndlog writer's append of `payload`, as a [`Step`].
pub(crate) fn ndlog_step(writer: ndlog::Writer, payload: &[u8]) -> Step {
    let payload = payload.to_vec();
    Box::new(move || {
        black_box(writer.append_raw(&payload).expect("append_raw"));
    })
}

/// The raw limit's append of `payload`'s line to a new file at `path`, as a [`Step`]: one
/// `write` on an `O_APPEND` descriptor, then `fdatasync`.
pub(crate) fn raw_append_step(path: &Path, payload: &[u8]) -> Step {
    let file = create_for_append(path);
    let line = line_for(payload);
    Box::new(move || {
        write_once(&file, &line);
        file.sync_data().expect("fdatasync");
    })
}

/// The engines `open` opens in a fresh directory, taken in turn (one append each, in a new
/// shuffled order each pass: a fixed rotation would put each one after the same neighbour,
/// whose background work it would then always meet) and each timed. One untimed append each
/// first (it may create a file); then a calibration and `rounds` rounds of about `run`, all on
/// the same engines. Each round's rates (records/s), in `open`'s order.
pub(crate) fn alternating(
    run: Duration,
    rounds: usize,
    label: &str,
    open: impl FnOnce(&Path) -> Vec<Step>,
) -> Vec<Vec<f64>> {
    let dir = temp_dir();
    let mut steps = open(dir.path());
    steps.iter_mut().for_each(|step| step());
    let mut round = |passes: u64, seed: u64| {
        let mut took = vec![Duration::ZERO; steps.len()];
        let mut order: Vec<usize> = (0..steps.len()).collect();
        // (xorshift, seeded by the round: each round its own orders.)
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        for _ in 0..passes {
            for k in (1..order.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(k, (x % (k as u64 + 1)) as usize);
            }
            for &turn in &order {
                let start = Instant::now();
                steps[turn]();
                took[turn] += start.elapsed();
            }
        }
        took.iter().map(|t| passes as f64 / t.as_secs_f64()).collect::<Vec<_>>()
    };
    let calibration = round(16, 0);
    let per_pass: f64 = calibration.iter().map(|rate| 1.0 / rate).sum();
    let passes = ((run.as_secs_f64() / per_pass) as u64).max(32);
    (1..=rounds)
        .map(|r| {
            let got = round(passes, r as u64);
            let shown: Vec<String> =
                got.iter().map(|&rate| fmt_rate(rate, Unit::Records)).collect();
            eprintln!("  round {r}: {label}: {}, alternating", shown.join(", "));
            got
        })
        .collect()
}

/// What alternating rounds say of engine `of` against `versus` (each round's best of those,
/// which favours the peers when they are close): the median rate of each, and the median of
/// the rounds' ratios, each taken at one moment of the disk (the ratio of the medians would
/// mix rounds).
pub(crate) struct Paired {
    pub of: f64,
    pub versus: f64,
    pub ratio: f64,
}

impl Paired {
    pub(crate) fn new(rounds: &[Vec<f64>], of: usize, versus: &[usize]) -> Paired {
        debug_assert!(!versus.is_empty(), "a pair has something to compare with");
        let best = |round: &Vec<f64>| versus.iter().map(|&j| round[j]).fold(0.0, f64::max);
        Paired {
            of: median(rounds.iter().map(|r| r[of]).collect()),
            versus: median(rounds.iter().map(best).collect()),
            ratio: median(rounds.iter().map(|r| r[of] / best(r)).collect()),
        }
    }
}

/// ndlog `Always` (0) and the raw `O_APPEND` write + `fdatasync` loop (1), alternating, in
/// `runs` rounds of about `run`.
pub(crate) fn alternating_rates(payload: &[u8], run: Duration, runs: usize) -> Paired {
    let label = "ndlog Always, raw append+fdatasync";
    let rounds = alternating(run, runs, label, |dir| {
        let writer = open_writer(&dir.join("ndlog.ndjson"), Durability::Always);
        vec![ndlog_step(writer, payload), raw_append_step(&dir.join("raw.ndjson"), payload)]
    });
    Paired::new(&rounds, 0, &[1])
}

/// A table's "compared with" for an alternating pair: the peer's median rate, and how the
/// ratio was taken.
pub(crate) fn alternating_versus(peer: &str, paired: &Paired) -> String {
    format!(
        "{peer} {}, alternating (ratio: the median of the rounds' ratios)",
        fmt_rate(paired.versus, Unit::Records)
    )
}
