//! fjall: one insert per record, made durable with `persist(PersistMode::SyncData)`.

use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, KeyspaceCreateOptions, PersistMode};

/// One thread inserts `iters` records (an 8-byte big-endian key, `payload` as the value) into
/// one keyspace, each followed by `persist(PersistMode::SyncData)` of the database (an
/// `fdatasync` of its journal).
///
/// # Panics
/// On any I/O error: this is a bench.
pub fn durable_inserts(dir: &Path, payload: &[u8], iters: u64) -> Duration {
    let db = Database::builder(dir.join("fjall")).open().expect("open fjall");
    let events = db.keyspace("events", KeyspaceCreateOptions::default).expect("fjall keyspace");
    let start = Instant::now();
    for seq in 0..iters {
        events.insert(seq.to_be_bytes(), payload).expect("fjall insert");
        db.persist(PersistMode::SyncData).expect("fjall persist");
    }
    start.elapsed()
}
