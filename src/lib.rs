//! # ndlog
//!
//! An append-only NDJSON event log that many processes write at once and many readers scan.
//! Every line is a plain JSON object with a fixed-width CRC trailer:
//!
//! ```text
//! {"seq":42,"ts":1763683200123,"data":{"user":"u1"},"crc":"8163e145"}
//! ```
//!
//! - [`Writer`] appends under an exclusive `flock` on a sidecar lock file, one `write` per record
//!   on an `O_APPEND` descriptor, and syncs as its [`Durability`] says before acknowledging.
//! - [`Reader`] maps the file (or reads any byte buffer), verifies every line's CRC, skips a torn
//!   tail and resynchronises past corrupt lines, without a heap allocation per record.
//! - [`Follow`] waits for new records, across compactions, and by default returns only those a
//!   sync made durable; a [`Cursor`] lets a consumer resume where it stopped ([`consume`]).
//!
//! The on-disk format is specified in `FORMAT.md`; the guarantees are listed in `README.md`.
//!
//! The everyday types live at the root. The plumbing sits behind documented modules, each
//! opening with an overview of its types: [`format`](mod@format) (the bytes of a line), [`json`] (the
//! payload validator and JSON pointers), [`fs`] (the file-system seam, the memory map, the
//! lock), [`index`] (the sidecar index), [`chain`] (tamper-evident hash chains), [`read`],
//! [`consume`] (followers, cursors, the durable watermark), [`write`](mod@write), [`compact`],
//! [`sim`] (a
//! crash-simulating file system for testing ndlog and what is built on it), and with the
//! `ship` feature (a default one) `ship`, which publishes a log to NATS JetStream exactly once.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("events.ndjson");
//! let writer = ndlog::Writer::open(&path)?;
//! writer.append(&serde_json::json!({"user": "u1", "action": "login"}))?;
//! let reader = ndlog::Reader::open(&path)?;
//! let record = reader.records().next().unwrap();
//! assert_eq!((record.seq, record.data), (1, &br#"{"action":"login","user":"u1"}"#[..]));
//! # Ok::<(), ndlog::Error>(())
//! ```

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod chain;
mod clock;
pub mod compact;
pub mod consume;
mod error;
pub mod format;
pub mod fs;
pub mod index;
pub mod json;
mod names;
pub mod read;
pub mod segments;
#[cfg(feature = "ship")]
pub mod ship;
pub mod sim;
pub mod write;

pub use compact::{CompactReport, Compactor, DamagedTail, Policy, Progress};
pub use consume::{Cursor, Follow};
pub use error::{Error, ErrorKind, Result};
pub use fs::LogLock;
pub use json::JsonPointer;
pub use read::{Entry, History, Mapped, Reader, Record, Summary};
pub use segments::{Log, LogFollow};
pub use write::{
    Ack, AutoCompact, BatchAck, Dedup, DedupWindow, Durability, Expect, ImportAck, Options,
    Transaction, Writer,
};
