//! Reading a log: [`Reader`] over any bytes (a memory map, a `Vec<u8>`), and what is built on it.
//!
//! - [`Reader`]: verifies every line's CRC, skips a torn tail and resynchronises past damage,
//!   without a heap allocation per record. [`Reader::open`] maps a file and attaches its index
//!   ([`Mapped`]); [`Reader::refresh`] follows appends and compactions.
//! - [`Records`], [`Entries`], [`RecordsRev`], [`TryRecords`]: forward, detailed, backward and
//!   strict iteration; [`Record`] borrows its bytes from the reader.
//! - Lookups by seq and time ([`Reader::get`], [`Reader::seek_seq`], [`Reader::seek_ts`]) use
//!   the index when one is attached and checks it against the log ([`Reader::check_index`]).
//! - [`Bounds`]/[`EntriesIn`] (ranges), [`History`] (one entity's versions), [`Typed`]
//!   (deserialised records); following a log as it grows is [`crate::consume`]'s.
//! - [`Reader::verify`] returns a [`Summary`] of every problem with its byte offset.

pub(crate) mod chunks;
mod history;
pub(crate) mod indexed;
pub(crate) mod last_record;
mod open;
mod range;
mod reader;
mod seek;
mod split;
pub(crate) mod stretches;
mod typed;

pub use history::History;
pub use open::{Mapped, Refresh};
pub use range::{Bounds, EntriesIn};
pub use reader::{
    Entries, Entry, Problem, Reader, Record, Records, RecordsRev, ScanStats, Summary, TryRecords,
};
#[doc(hidden)]
pub use split::VerifySplit;
pub use typed::{IterAs, Typed};
