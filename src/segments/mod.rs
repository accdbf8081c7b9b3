//! Segmented logs: a log as a directory of sealed, immutable NDJSON segments plus one active
//! segment, so that retention deletes whole files, shippers and offline engines see files that
//! never change, and the active segment can be preallocated.
//!
//! - [`SegmentName`], [`naming::parse`]: segment files are named by their first seq.
//! - [`Settings`]: how every writer rolls, kept in the log directory.
//!
//! - [`create`]: a new segmented log; [`list`]: its segments in seq order.
//! - [`SegmentedReader`]: every segment mapped, read as one log; [`SegmentedFollow`]: `tail -f`
//!   across rolls and retention.
//! - [`Log`], [`LogFollow`]: a log of either kind, decided by what is at the path.
//! - A chained segmented log ([`create_chained`], `Options::chain` with `Options::segments`):
//!   one hash chain through every segment, `SegmentedReader::verify_chain` and
//!   `SegmentedReader::provenance`, anchors in `LOG/ndlog.chain`.

pub(crate) mod active;
mod any;
pub(crate) mod chain;
mod follow;
mod list;
pub(crate) use list::list_sorted;
pub mod naming;
pub(crate) mod older;
mod reader;
pub(crate) use reader::check_segments;
mod settings;

pub use active::{create, create_chained};
pub use any::{Log, LogFollow};
pub use follow::SegmentedFollow;
pub use list::{Segment, list};
pub use naming::SegmentName;
pub use reader::{Gap, Part, SegmentedReader};
pub use settings::{MAX_SEGMENT_BYTES, Settings};
