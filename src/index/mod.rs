//! The sidecar index `LOG.idx`: fixed-width `(seq, ts, offset)` entries, one for every
//! `stride`-th record, that let a reader find a record by seq or time without a scan.
//!
//! It is derived data: every answer found through it is checked against the log, and a wrong or
//! missing entry only costs a slower path, never a wrong answer (FORMAT.md, section 6).
//!
//! - [`IndexEntry`], [`MAGIC`], [`HEADER_LEN`], [`ENTRY_LEN`]: the bytes of the file.
//! - [`Index`]: the parsed view a [`crate::Reader`] uses for lookups, once validated against
//!   the log ([`crate::Reader::index`]).
//! - [`IndexCheck`], [`IndexProblem`]: what `index --check` ([`crate::Reader::check_index`])
//!   reports.
//!
//! Writers keep the file current under the lock; compaction writes a new one beside the new
//! log.

mod file;
mod layout;
mod view;

pub(crate) use file::load;
pub use layout::{
    DEFAULT_STRIDE, ENTRY_LEN, HEADER_LEN, IndexCheck, IndexEntry, IndexProblem, MAGIC, MAX_STRIDE,
    VERSION,
};
pub(crate) use layout::{Header, Selector};
pub use view::Index;
