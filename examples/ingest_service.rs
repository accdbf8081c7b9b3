//! An ingestion service loop: producer threads hand events to one shared writer with group
//! commit, client retries are absorbed by an idempotency key, and the writer compacts the log by
//! itself when it grows past a size. Prints its throughput once a second.
//!
//! `cargo run --release --example ingest_service [LOG] [SECONDS]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndlog::{AutoCompact, Dedup, DedupWindow, Durability, JsonPointer, Options, Policy};

#[derive(serde::Serialize)]
struct Event<'a> {
    request_id: String,
    user: &'a str,
    action: &'a str,
    amount_cents: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let log = args.next().map_or_else(|| dir.path().join("events.ndjson"), Into::into);
    let seconds: u64 = args.next().map_or(Ok(3), |s| s.parse())?;

    let writer = Arc::new(
        Options::new()
            // Concurrent appends share fdatasyncs; each still returns only once durable.
            .durability(Durability::Group)
            // A retried request (same request_id) is acknowledged with its original seq.
            .dedup(Dedup::new(JsonPointer::parse("/request_id")?, DedupWindow::Records(100_000)))
            // Keep the newest million records once the log passes 256 MiB.
            .auto_compact(AutoCompact::new(Policy::new().keep_last(1_000_000)).size_over(256 << 20))
            .open(&log)?,
    );
    let (appended, retried) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let producers: Vec<_> = (0..8)
        .map(|p| {
            let (writer, appended, retried) = (writer.clone(), appended.clone(), retried.clone());
            std::thread::spawn(move || -> ndlog::Result<()> {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    // Every tenth request is a client retry of the one before.
                    let id = if n.is_multiple_of(10) { n - 1 } else { n };
                    let event = Event {
                        request_id: format!("p{p}-{id}"),
                        user: ["ana", "bo", "chen", "dee"][(id % 4) as usize],
                        action: "purchase",
                        amount_cents: id * 7 % 10_000,
                    };
                    let ack = writer.append(&event)?;
                    let counter = if ack.duplicate { &retried } else { &appended };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    let started = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let n = appended.load(Ordering::Relaxed);
        println!(
            "{:>4.1} s: {n} events durable ({:.0}/s), {} retries absorbed",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64(),
            retried.load(Ordering::Relaxed)
        );
    }
    for p in producers {
        p.join().expect("producer thread")?;
    }
    let summary = ndlog::Reader::open(&log)?.verify();
    println!("{}: {} records, clean: {}", log.display(), summary.records, summary.is_clean());
    Ok(())
}
