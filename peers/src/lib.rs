//! ndlog's peers, driven the way the peers bench (`cargo bench -p ndlog-peers`) measures them:
//! each workload is a function of an iteration count that returns the time the iterations took,
//! on a fresh store in a directory the caller owns, with opening and loading left out of the time.
//!
//! - [`okay_wal`]: okaywal entries, one chunk each, committed (fsync) one by one.
//! - [`fjall_db`]: fjall inserts, each followed by `persist(PersistMode::SyncData)`.
//! - [`sqlite`]: SQLite in WAL mode with `synchronous=FULL`, one autocommit insert per record.
//! - [`redb_db`]: redb write transactions with `Durability::Immediate`, and point lookups.
//! - [`limits`]: the machine's limits the issue names that `benches/common` does not have: the
//!   tuned mmap + crc32fast scan, and a copy + fsync + rename.
//! - [`threads`]: runs a workload on several threads at once and times them together.
//!
//! This crate is a workspace member but not a default one: `cargo build` and `cargo test` at
//! the workspace root never build it, or okaywal, fjall, redb and SQLite.

pub mod fjall_db;
pub mod limits;
pub mod okay_wal;
pub mod redb_db;
pub mod sqlite;
pub mod threads;
