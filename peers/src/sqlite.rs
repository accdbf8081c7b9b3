//! SQLite (bundled) in WAL mode with `synchronous=FULL`: one autocommit insert per record.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// One thread inserts `iters` rows `(seq INTEGER PRIMARY KEY, data BLOB)`, each in its own
/// transaction (autocommit), through one prepared statement. With `synchronous=FULL` every
/// commit `fsync`s the WAL.
///
/// # Panics
/// On any SQLite error: this is a bench.
pub fn durable_inserts(dir: &Path, payload: &[u8], iters: u64) -> Duration {
    let db = Connection::open(dir.join("sqlite.db")).expect("open SQLite");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )
    .expect("set up SQLite");
    let mut insert =
        db.prepare("INSERT INTO events (seq, data) VALUES (?1, ?2)").expect("prepare the insert");
    let start = Instant::now();
    for seq in 0..iters {
        insert.execute((seq as i64, payload)).expect("SQLite insert");
    }
    start.elapsed()
}
