//! redb: one write transaction per record with `Durability::Immediate`, and point lookups.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

/// The table every redb workload uses: seq → payload.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

/// One thread commits `iters` write transactions of one insert each, `Durability::Immediate`
/// (redb's default, set explicitly).
///
/// # Panics
/// On any redb error: this is a bench.
pub fn durable_inserts(dir: &Path, payload: &[u8], iters: u64) -> Duration {
    let db = Database::create(dir.join("redb")).expect("create redb");
    let start = Instant::now();
    for seq in 0..iters {
        let mut tx = db.begin_write().expect("redb begin_write");
        tx.set_durability(Durability::Immediate).expect("redb durability");
        {
            let mut table = tx.open_table(EVENTS).expect("redb open_table");
            table.insert(seq, payload).expect("redb insert");
        }
        tx.commit().expect("redb commit");
    }
    start.elapsed()
}

/// A redb database holding records for point lookups.
pub struct Lookups {
    db: Database,
}

impl Lookups {
    /// Creates a database in `dir` and loads `records` (seq, payload) in transactions of 100,000.
    ///
    /// # Panics
    /// On any redb error: this is a bench.
    pub fn load<'a>(dir: &Path, records: impl IntoIterator<Item = (u64, &'a [u8])>) -> Lookups {
        let db = Database::create(dir.join("redb-lookups")).expect("create redb");
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let tx = db.begin_write().expect("redb begin_write");
            {
                let mut table = tx.open_table(EVENTS).expect("redb open_table");
                for (seq, data) in records.by_ref().take(100_000) {
                    table.insert(seq, data).expect("redb insert");
                }
            }
            tx.commit().expect("redb commit");
        }
        Lookups { db }
    }

    /// Looks up `iters` seqs, cycling through `seqs`, in one read transaction (the payload of
    /// each is read); returns the time they took.
    ///
    /// # Panics
    /// On a redb error or a seq that is not in the table.
    pub fn get(&self, seqs: &[u64], iters: u64) -> Duration {
        let tx = self.db.begin_read().expect("redb begin_read");
        let table = tx.open_table(EVENTS).expect("redb open_table");
        let start = Instant::now();
        for i in 0..iters as usize {
            let value = table.get(seqs[i % seqs.len()]).expect("redb get").expect("a stored seq");
            black_box(value.value().len());
        }
        start.elapsed()
    }
}
