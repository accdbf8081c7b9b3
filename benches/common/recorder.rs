//! A recorder of the samples criterion takes, so a bench can print its own summary table.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::median::median;

/// Samples taken by `iter_custom`: (iterations, time) in call order, by benchmark id.
static SAMPLES: Mutex<BTreeMap<String, Vec<(u64, Duration)>>> = Mutex::new(BTreeMap::new());

/// Samples per benchmark: the `sample_size` every bench configures.
pub(crate) const SAMPLE_SIZE: usize = 10;

/// Records one call of an `iter_custom` routine.
pub(crate) fn record(id: &str, iters: u64, took: Duration) -> Duration {
    let mut samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    samples.entry(id.to_string()).or_default().push((iters, took));
    took
}

/// The median rate (units per second) over the last [`SAMPLE_SIZE`] recorded calls of `id`:
/// criterion's measurement samples, which follow its warm-up calls. `None` if it did not run.
pub(crate) fn recorded_rate(id: &str, units_per_iter: f64) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let all = samples.get(id)?;
    let last = &all[all.len().saturating_sub(SAMPLE_SIZE)..];
    let rates: Vec<f64> = last
        .iter()
        .map(|&(iters, took)| iters as f64 * units_per_iter / took.as_secs_f64())
        .collect();
    Some(median(rates))
}
