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
//!
//! Writers chain under the writer lock (`Options::chain`); compaction records anchors.

mod checkpoint;
mod diverge;
mod provenance;
mod sidecar;
mod verify;

pub use checkpoint::Checkpoint;
pub use diverge::{Divergence, diverge};
pub use provenance::{Provenance, Version};
pub use sidecar::ChainFile;
pub use verify::{ChainFailure, ChainProblem, ChainReport};
