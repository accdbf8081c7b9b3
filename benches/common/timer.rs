//! The round-robin timer of the report and of the append bench's re-measurement: [`Timed`] cases,
//! each run once per round.

use std::time::Duration;

use super::median::median;
use super::table::{Unit, fmt_rate};

/// A case of the report: `timed(n)` runs n iterations of `units` units each and returns their
/// time.
pub(crate) struct Timed<'a> {
    pub name: String,
    pub units: f64,
    pub unit: Unit,
    pub timed: Box<dyn FnMut(u64) -> Duration + 'a>,
}

/// Measures every case `rounds` times, round-robin (one run of each case per round, so that a
/// change in the machine's load during the report affects every case alike), each run lasting
/// about `run` after a calibration. Returns each case's median rate, in case order.
pub(crate) fn round_robin(cases: &mut [Timed<'_>], run: Duration, rounds: usize) -> Vec<f64> {
    let sizes: Vec<u64> = cases
        .iter_mut()
        .map(|case| {
            let mut n = 1u64;
            loop {
                let took = (case.timed)(n);
                if took * 4 >= run || n >= 1 << 40 {
                    let scaled = n as f64 * run.as_secs_f64() / took.as_secs_f64().max(1e-9);
                    break (scaled as u64).max(1);
                }
                n *= 4;
            }
        })
        .collect();
    let mut rates = vec![Vec::new(); cases.len()];
    for round in 1..=rounds {
        for ((case, &n), rates) in cases.iter_mut().zip(&sizes).zip(&mut rates) {
            let rate = n as f64 * case.units / (case.timed)(n).as_secs_f64();
            eprintln!("  round {round}: {:<36} {}", case.name, fmt_rate(rate, case.unit));
            rates.push(rate);
        }
    }
    rates.into_iter().map(median).collect()
}
