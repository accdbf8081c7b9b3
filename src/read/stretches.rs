//! Work over a mapped log cut into stretches of whole lines, on several threads: where the
//! stretches start, how many threads, and the runner that hands the stretches out and returns
//! the results in file order. A line is read the same wherever a scan starts, as long as it
//! starts at a line start (`format::resync`), so each stretch can be read alone. Used by
//! [`Reader::verify`](super::Reader::verify) (`read::split`), the chain's verification
//! (`chain::parallel`) and key compaction's plan (`compact::policy`).

use std::sync::atomic::{AtomicUsize, Ordering};

use memchr::memchr;

/// Threads split work uses at most (the calling one included): two cores is what this was
/// measured on, and past four the page cache's bandwidth is the bound on most machines.
const MAX_THREADS: usize = 4;
/// Stretches per thread: more than one, so that a thread slowed by other work on its core
/// leaves its share to the others.
const CHUNKS_PER_THREAD: u64 = 4;
/// The smallest stretch the automatic split makes.
const MIN_CHUNK_BYTES: u64 = 1 << 20;

/// Threads for work split into stretches: `requested`, or the available parallelism, at most
/// [`MAX_THREADS`].
pub(crate) fn threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
    })
}

/// The stretch length of an automatic split of `total` bytes on `threads` threads: four
/// stretches a thread, each at least 1 MiB.
pub(crate) fn step(total: u64, threads: usize) -> u64 {
    (total / (threads as u64 * CHUNKS_PER_THREAD).max(1)).max(MIN_CHUNK_BYTES)
}

/// Where stretches of whole lines of `data` start when it is cut about every `step` bytes:
/// 0, then each multiple of `step` moved on to the next line start inside `data`.
pub(crate) fn line_starts(data: &[u8], step: u64) -> Vec<usize> {
    let step = step.max(1);
    let cuts = (1..).map(|i: u64| i.saturating_mul(step)).take_while(|&c| c < data.len() as u64);
    let mut starts = vec![0];
    for cut in cuts {
        if let Some(start) = usize::try_from(cut).ok().and_then(|cut| line_start_at(data, cut))
            && starts.last() != Some(&start)
        {
            starts.push(start);
        }
    }
    starts
}

/// Runs `work(i)` for every `i` in `0..count` on up to `threads` threads, the calling one
/// included, each thread taking the next `i` not taken; the calling thread runs `own` first.
/// Returns what `own` returned, and what `work` did in the order of `i`. A panic in any of
/// them reaches the caller.
pub(crate) fn in_parallel<T: Send, U>(
    count: usize,
    threads: usize,
    own: impl FnOnce() -> U,
    work: impl Fn(usize) -> T + Sync,
) -> (U, Vec<T>) {
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break done;
            }
            done.push((i, work(i)));
        }
    };
    // (`own` is work for the calling thread: with it, `count` items keep up to `count + 1` busy.)
    let helpers = threads.saturating_sub(1).min(count);
    let (own, mut all) = if helpers == 0 {
        (own(), take())
    } else {
        std::thread::scope(|s| {
            let others: Vec<_> = (0..helpers).map(|_| s.spawn(take)).collect();
            let own = own();
            let mut all = take();
            for other in others {
                match other.join() {
                    Ok(done) => all.extend(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            (own, all)
        })
    };
    all.sort_unstable_by_key(|&(i, _)| i);
    (own, all.into_iter().map(|(_, t)| t).collect())
}

/// The first line start at or after `cut` that is inside `data` and not its start: `cut` if
/// a newline precedes it, else just after the next newline.
pub(crate) fn line_start_at(data: &[u8], cut: usize) -> Option<usize> {
    if cut == 0 || cut >= data.len() {
        return None;
    }
    if data[cut - 1] == b'\n' {
        return Some(cut);
    }
    let start = cut + memchr(b'\n', &data[cut..])? + 1;
    (start < data.len()).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_moves_on_to_the_next_line_start_inside_the_data() {
        let data = b"ab\ncd\n\nef";
        assert_eq!(line_start_at(data, 0), None);
        assert_eq!(line_start_at(data, 1), Some(3));
        assert_eq!(line_start_at(data, 3), Some(3));
        assert_eq!(line_start_at(data, 4), Some(6));
        assert_eq!(line_start_at(data, 6), Some(6));
        assert_eq!(line_start_at(data, 7), Some(7));
        assert_eq!(line_start_at(data, 8), None);
        assert_eq!(line_start_at(data, 9), None);
    }
}
