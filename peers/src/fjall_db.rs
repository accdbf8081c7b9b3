//! fjall: one insert per record, made durable with `persist(PersistMode::SyncData)`.

use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// One thread inserts `iters` records (an 8-byte big-endian key, `payload` as the value) into
/// one keyspace, each followed by `persist(PersistMode::SyncData)` of the database (an
/// `fdatasync` of its journal).
///
/// # Panics
/// On any I/O error: this is a bench.
pub fn durable_inserts(dir: &Path, payload: &[u8], iters: u64) -> Duration {
    let mut db = Durable::open(dir);
    let start = Instant::now();
    for _ in 0..iters {
        db.insert(payload);
    }
    start.elapsed()
}

/// A database taking one durable insert at a time, as [`durable_inserts`] makes them, for a
/// bench that interleaves engines insert by insert.
pub struct Durable {
    db: Database,
    events: Keyspace,
    seq: u64,
}

impl Durable {
    /// Opens (creates) the database in `dir`.
    ///
    /// # Panics
    /// On any I/O error: this is a bench.
    pub fn open(dir: &Path) -> Durable {
        let db = Database::builder(dir.join("fjall")).open().expect("open fjall");
        let events = db.keyspace("events", KeyspaceCreateOptions::default).expect("fjall keyspace");
        Durable { db, events, seq: 0 }
    }

    /// Inserts `payload` under the next key and persists it with `SyncData`.
    ///
    /// # Panics
    /// On any I/O error: this is a bench.
    pub fn insert(&mut self, payload: &[u8]) {
        self.events.insert(self.seq.to_be_bytes(), payload).expect("fjall insert");
        self.db.persist(PersistMode::SyncData).expect("fjall persist");
        self.seq += 1;
    }
}
