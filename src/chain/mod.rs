//! Tamper-evident logs: a chained log's records each carry a SHA-256 link to the history before
//! them (FORMAT.md, section 10; the bytes are in [`crate::format::chain`]).
//!
//! - [`ChainFile`]: `LOG.chain`, which marks a log as chained, names it, and holds the anchors
//!   compaction leaves where it removed records.
//! - [`Reader::verify_chain`](crate::Reader::verify_chain) → [`ChainReport`]: every link, and
//!   the first seq whose link fails ([`ChainFailure`], [`ChainProblem`]).
//! - [`diverge`] → [`Divergence`]: the fork point of two copies, by binary search.
//! - [`Reader::provenance`](crate::Reader::provenance) → [`Provenance`]: an entity's versions
//!   with their links.
//! - [`Checkpoint`]: `{log id, seq, chain value}`, and the proof that a log still extends one.
//! - [`Lookup`]: a log found by seq, single-file or segmented, which `diverge` and checkpoints
//!   read; [`verify_parts`], [`provenance_parts`]: over a log given as its files (a segmented
//!   log's segments: [`SegmentedReader::verify_chain`](crate::segments::SegmentedReader::verify_chain)).
//!
//! Writers chain under the writer lock (`Options::chain`), across the rolls of a segmented log;
//! compaction and retention record anchors.

mod checkpoint;
mod diverge;
mod lookup;
mod provenance;
mod sidecar;
mod tail;
mod verify;

pub use checkpoint::Checkpoint;
pub use diverge::{Divergence, diverge};
pub use lookup::Lookup;
pub use provenance::{Provenance, Version, provenance_parts};
pub use sidecar::ChainFile;
pub(crate) use tail::last_link;
pub use verify::{ChainFailure, ChainProblem, ChainReport, verify_parts};
