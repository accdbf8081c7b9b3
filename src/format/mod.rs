//! The bytes of a log, as pure functions: no I/O happens here. FORMAT.md is the specification;
//! every constant here mirrors it, and when one changes both change in the same commit.
//!
//! A *line* is the bytes between two newlines. A line is either a record, or damage (a corrupt
//! prefix followed by a record found by resynchronising, or corrupt as a whole), or blank
//! padding; the last bytes of a file after its last newline are a torn tail.
//!
//! - [`encode`], [`decode`], [`Frame`], [`LineError`]: one record line and its fixed-width CRC
//!   trailer; [`encode_marked`], [`Marks`] and [`MARK`]: the marks on the records of a write of
//!   several records, which make it all or nothing.
//! - [`MAX_FRAME_OVERHEAD`]: what the frame adds around a payload.
//! - [`chain`]: the hash link a record of a chained log carries ([`chain::ChainValue`],
//!   [`chain::encode`], [`chain::check`]).
//! - the resynchronisation rule shared by every reader (forward, backward, the writer's tail
//!   discovery), and the rule for what a payload may be, are internal.

pub mod chain;
mod line;
pub(crate) mod payload;
pub(crate) mod resync;

pub use line::{
    CLOSE, CRC_HEX_LEN, CRC_KEY, DATA_KEY, Frame, LineError, MARK, MAX_FRAME_OVERHEAD,
    MIN_LINE_LEN, Marks, PREFIX, TRAILER_LEN, TS_KEY, check_crc, crc_checked, decode, encode,
    encode_marked, hex8, parse_body, split_trailer, unhex8,
};
pub(crate) use line::{Consecutive, decode_any_seq, parse_u64, peek_seq_ts, remark};
