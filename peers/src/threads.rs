//! Several threads running one workload at once, timed from a common start.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work` on `threads` threads at once (each calls it once) and returns the time from
/// the moment all are ready until the last has finished. One thread runs on the caller's.
pub fn timed_threads(threads: usize, work: impl Fn() + Sync) -> Duration {
    if threads <= 1 {
        let start = Instant::now();
        work();
        return start.elapsed();
    }
    let go = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                go.wait();
                work();
            });
        }
        go.wait();
        // The scope joins every thread before it returns.
        Instant::now()
    })
    .elapsed()
}
