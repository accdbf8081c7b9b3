//! Segmented logs: a log as a directory of sealed, immutable NDJSON segments plus one active
//! segment, so that retention deletes whole files, shippers and offline engines see files that
//! never change, and the active segment can be preallocated.
//!
//! - [`SegmentName`], [`naming::parse`]: segment files are named by their first seq.
//! - [`Settings`]: how every writer rolls, kept in the log directory.
//!
//! This subsystem is being built (issue 12): the names and the settings exist; writers, readers
//! and compaction do not accept a directory yet.

mod list;
pub mod naming;
mod settings;

pub use list::{Segment, list};
pub use naming::SegmentName;
pub use settings::{MAX_SEGMENT_BYTES, Settings};
