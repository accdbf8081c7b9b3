//! JSON on bytes, without building a tree: the validator every append runs on its payload, and
//! JSON pointers (RFC 6901) that name a field of a payload for `history`, key compaction and
//! idempotency keys.
//!
//! - [`JsonPointer`]: a parsed pointer; [`JsonPointer::find`] returns the raw bytes it names.
//! - [`value_is`]: whether raw JSON bytes are a given string or number.

mod pointer;
mod validate;

pub use pointer::{JsonPointer, value_is};
pub(crate) use pointer::{entity_of, key_bytes};
pub(crate) use validate::{Invalid, MAX_DEPTH, Problem, validate, validate_payload};
