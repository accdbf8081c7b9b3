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
//! - [`Follow`] waits for new records, across compactions.
//!
//! The on-disk format is specified in `FORMAT.md`; the guarantees are listed in `README.md`.
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
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, clippy::missing_errors_doc, clippy::missing_panics_doc)]

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod auto_compact;
mod chunks;
mod compact;
mod dedup;
mod error;
mod follow;
mod format;
mod group;
mod history;
mod index;
mod index_file;
mod json;
mod lock;
mod mapped;
mod mmap;
mod options;
mod paths;
mod pointer;
mod policy;
mod quarantine;
mod range;
mod reader;
mod seek;
mod segment;
pub mod sim;
mod tail;
mod typed;
mod vfs;
mod writer;

pub use auto_compact::AutoCompact;
pub use compact::{CompactReport, Compactor, Progress};
pub use dedup::{Dedup, DedupWindow};
pub use error::{Error, ErrorKind, Result};
pub use follow::Follow;
pub use format::Frame;
pub use format::{
    LineError, MAX_FRAME_OVERHEAD, crc_checked, decode as decode_line, encode as encode_record,
};
pub use history::History;
pub use index::{Index, IndexCheck, IndexEntry, IndexProblem};
pub use lock::LogLock;
pub use mapped::{Mapped, Refresh};
pub use mmap::Map;
pub use options::{Durability, Options};
pub use pointer::{JsonPointer, value_is};
pub use policy::Policy;
pub use range::{Bounds, EntriesIn};
pub use reader::{
    Entries, Entry, Problem, Reader, Record, Records, RecordsRev, ScanStats, Summary, TryRecords,
};
pub use typed::{IterAs, Typed};
pub use vfs::{Create, FileId, FileKind, Metadata, OpenOptions, StdFile, StdFs, Vfs, VfsFile};
pub use writer::{Ack, BatchAck, ImportAck, Writer};
