//! Async consumers and appenders (feature `tokio`): a `FollowStream` and `AsyncWriter` tasks
//! in one runtime, current-thread and multi-thread. Nothing of ndlog may block a runtime
//! thread: on a current-thread runtime a single blocked call would stall every task, and the
//! watchdog below would fire.

#[path = "it/util/mod.rs"]
mod util;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use ndlog::consume::FollowStream;
use ndlog::write::AsyncWriter;
use ndlog::{Durability, Options, Reader};
use util::*;

const TASKS: u64 = 4;
const PER_TASK: u64 = 150;

async fn appenders_and_a_consumer(path: std::path::PathBuf) {
    let writer = Options::new().durability(Durability::Group).open(&path).unwrap();
    // Seq 1 is the lock test's record.
    let follow = Reader::open(&path).unwrap().follow_after(1);
    appenders_and_a_stream(writer, follow.into(), 2).await;
}

/// The same on a segmented log rolling every 50 records, followed through `ndlog::Log`.
async fn appenders_and_a_segmented_consumer(path: std::path::PathBuf) {
    let settings = ndlog::segments::Settings {
        segment_records: Some(50),
        ..ndlog::segments::Settings::new(2 << 20)
    };
    let options = Options::new().segments(settings).durability(Durability::Group);
    let writer = options.open(&path).unwrap();
    let follow = ndlog::Log::open(&path).unwrap().follow_after(0);
    appenders_and_a_stream(writer, follow, 1).await;
    assert!(ndlog::segments::list(&ndlog::fs::StdFs, &path).unwrap().len() > 10, "the log rolled");
}

async fn appenders_and_a_stream(writer: ndlog::Writer, follow: ndlog::LogFollow, first: u64) {
    let writer = AsyncWriter::new(writer);
    let mut stream = FollowStream::new(follow);
    // A task that must keep running: a blocked runtime thread would starve it.
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let appenders: Vec<_> = (0..TASKS)
        .map(|t| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    writer.append(&serde_json::json!({"t": t, "i": i})).await.unwrap();
                }
            })
        })
        .collect();
    let mut seqs = Vec::new();
    while seqs.len() < (TASKS * PER_TASK) as usize {
        let next = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
        let record = tokio::time::timeout(Duration::from_secs(20), next)
            .await
            .expect("a record within 20 s")
            .expect("the stream goes on")
            .unwrap();
        seqs.push(record.seq);
    }
    for a in appenders {
        a.await.unwrap();
    }
    let want: Vec<u64> = (first..first + TASKS * PER_TASK).collect();
    assert_eq!(seqs, want, "every record, in order");
    assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) > 0, "the ticker ran");
    // Stopping ends the stream.
    stream.stopper().stop();
    let end = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
    assert!(tokio::time::timeout(Duration::from_secs(5), end).await.unwrap().is_none());
    ticker.abort();
}

/// Another task holds the writer lock and releases it after a (tokio) sleep: an append that
/// blocked the runtime thread while waiting for the lock would keep that task from running
/// until the append's lock timeout, and fail.
async fn lock_holder_releases_while_an_append_waits(path: &std::path::Path) {
    let writer = Options::new().lock_timeout(Duration::from_secs(5)).open(path).unwrap();
    let writer = AsyncWriter::new(writer);
    let lock = ndlog::LogLock::acquire_log(path, Duration::ZERO).unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(lock);
    });
    let started = std::time::Instant::now();
    writer.append_raw(b"0".to_vec()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "the append waited for its timeout");
    releaser.await.unwrap();
}

/// Runs the workloads on `rt` under a watchdog thread that fails the test if it takes too long (a
/// blocked runtime thread).
fn with_watchdog(rt: tokio::runtime::Runtime, dir: &std::path::Path) {
    let path = &dir.join("events.ndjson");
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // The runtime thread is stuck for good: no assertion on it can run.
            eprintln!("the runtime was blocked for 60 s");
            std::process::exit(101);
        }
    });
    rt.block_on(async {
        lock_holder_releases_while_an_append_waits(path).await;
        appenders_and_a_consumer(path.to_path_buf()).await;
        appenders_and_a_segmented_consumer(dir.join("segmented")).await;
    });
    done_tx.send(()).unwrap();
}

#[test]
fn async_appenders_and_a_stream_share_a_current_thread_runtime() {
    let dir = tempdir();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    with_watchdog(rt, dir.path());
}

#[test]
fn async_appenders_and_a_stream_share_a_multi_thread_runtime() {
    let dir = tempdir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    with_watchdog(rt, dir.path());
}

#[test]
fn dropping_the_stream_stops_its_thread() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let follow = Reader::open(&path).unwrap().follow();
        let stop = follow.stopper();
        let stream = FollowStream::with_capacity(follow, 1);
        drop(stream);
        assert!(stop.is_stopped());
    });
}
