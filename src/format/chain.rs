//! The hash link of a chained record, as pure functions on bytes: no I/O happens here.
//! FORMAT.md, section 10, is the specification; the constants mirror it.
//!
//! A chained record carries one more member, between its payload and the CRC trailer:
//!
//! ```text
//! {"seq":42,"ts":1763683200123,"data":{"user":"u1"},"chain":"<64 hex digits>","crc":"xxxxxxxx"}
//! ```
//!
//! The *chain value* of record `k` is `SHA-256(chain value of record k-1 ‖ body of record k)`,
//! where the body is every byte of the line from `{` through the last byte of the payload (what
//! the CRC covers in an unchained line), and the chain value before a log's first record is 32
//! zero bytes ([`ChainValue::GENESIS`]). The member holds the record's own chain value, so an
//! edited record fails its own link (and every later one), and the newest record's value
//! commits to the whole history: it is what a checkpoint states. The CRC covers the member too.
//!
//! A JSON value cannot end with `,"chain":"…"` (a string ends with `"`, but the `"` after the
//! `,` would have ended it), so a line whose payload is one JSON value is recognised as chained
//! by its last 75 bytes before the trailer, without knowing anything about the log.

use std::fmt;

use sha2::{Digest, Sha256};

use super::line::{HEX_DIGITS, UNHEX, split_trailer};
use crate::error::LineError;

/// Starts the chain member: `,"chain":"`.
pub const LINK_KEY: &[u8] = b",\"chain\":\"";
/// Number of hex digits of a chain value (SHA-256: 32 bytes).
pub const LINK_HEX_LEN: usize = 64;
/// Length of the whole member, `,"chain":"` + 64 hex digits + `"`: 75 bytes.
pub const LINK_LEN: usize = LINK_KEY.len() + LINK_HEX_LEN + 1;

/// A chain value: the SHA-256 that a chained record carries, committing to it and to every
/// record before it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainValue(pub [u8; 32]);

impl ChainValue {
    /// The chain value before a log's first record: 32 zero bytes.
    pub const GENESIS: ChainValue = ChainValue([0; 32]);

    /// The value as 64 lowercase hex digits, as the line holds it.
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; LINK_HEX_LEN];
        write_hex(&self.0, &mut out);
        // Hex digits are ASCII.
        out.iter().map(|&b| b as char).collect()
    }

    /// Parses 64 lowercase hex digits (the form a line holds); `None` for anything else.
    ///
    /// # Example
    /// ```
    /// use ndlog::format::chain::ChainValue;
    /// let hex = "00".repeat(32);
    /// assert_eq!(ChainValue::from_hex(hex.as_bytes()), Some(ChainValue::GENESIS));
    /// assert_eq!(ChainValue::from_hex(b"00"), None);
    /// ```
    pub fn from_hex(hex: &[u8]) -> Option<ChainValue> {
        if hex.len() != LINK_HEX_LEN {
            return None;
        }
        // The CRC trailer's table, and one check of the invalid bits at the end: in a hash,
        // digit or letter is a coin toss that a branch per digit loses half the time.
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let (hi, lo) = (UNHEX[usize::from(pair[0])], UNHEX[usize::from(pair[1])]);
            invalid |= hi | lo;
            out[i] = (hi << 4) | (lo & 0x0f);
        }
        (invalid & 0x80 == 0).then_some(ChainValue(out))
    }
}

impl fmt::Display for ChainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainValue({})", self.to_hex())
    }
}

fn write_hex(bytes: &[u8; 32], out: &mut [u8; LINK_HEX_LEN]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX_DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = HEX_DIGITS[usize::from(b & 0xf)];
    }
}

/// The chain value of a record whose body (from `{` through the last payload byte) is `body`,
/// after a record whose chain value is `prev`.
pub fn next(prev: &ChainValue, body: &[u8]) -> ChainValue {
    let mut hasher = Sha256::new();
    hasher.update(prev.0);
    hasher.update(body);
    ChainValue(hasher.finalize().into())
}

/// Appends the chained record line for `(seq, ts, data)` after a record whose chain value is
/// `prev`, newline included, to `out`; returns the new record's chain value.
///
/// `data` must already be one compact JSON value without a raw newline, as for
/// [`crate::format::encode`].
///
/// # Example
/// ```
/// use ndlog::format::chain::{self, ChainValue};
/// let mut log = Vec::new();
/// let first = chain::encode(&mut log, 1, 1_700_000_000_000, br#"{"user":"u1"}"#, &ChainValue::GENESIS);
/// let line = &log[..log.len() - 1];
/// assert_eq!(chain::check(&ChainValue::GENESIS, line), Ok(first));
/// // Readers return the payload alone.
/// assert_eq!(ndlog::format::decode(line).unwrap().data, br#"{"user":"u1"}"#);
/// ```
pub fn encode(out: &mut Vec<u8>, seq: u64, ts: u64, data: &[u8], prev: &ChainValue) -> ChainValue {
    encode_marked(out, seq, ts, data, super::Marks::NONE, prev)
}

/// [`encode`], with a write's `marks` (see [`crate::format::encode_marked`]); the marks are
/// part of the body the link covers.
pub fn encode_marked(
    out: &mut Vec<u8>,
    seq: u64,
    ts: u64,
    data: &[u8],
    marks: super::Marks,
    prev: &ChainValue,
) -> ChainValue {
    let mut value = ChainValue::GENESIS;
    super::line::encode_with(out, seq, ts, data, marks, |out, start| {
        value = next(prev, &out[start..]);
        out.extend_from_slice(LINK_KEY);
        let mut hex = [0u8; LINK_HEX_LEN];
        write_hex(&value.0, &mut hex);
        out.extend_from_slice(&hex);
        out.push(b'"');
    });
    value
}

/// Splits the CRC-covered part of a line into the record's body and its chain value, when it
/// ends with a chain member; otherwise returns it whole with `None`.
#[inline]
pub fn split_link(covered: &[u8]) -> (&[u8], Option<ChainValue>) {
    let n = covered.len();
    if n <= LINK_LEN || covered[n - 1] != b'"' {
        return (covered, None);
    }
    let at = n - LINK_LEN;
    if &covered[at..at + LINK_KEY.len()] != LINK_KEY {
        return (covered, None);
    }
    match ChainValue::from_hex(&covered[at + LINK_KEY.len()..n - 1]) {
        Some(value) => (&covered[..at], Some(value)),
        None => (covered, None),
    }
}

/// The chain value a record line (without its newline) carries, if it carries one. The line's
/// CRC is not checked here.
pub fn link_of(line: &[u8]) -> Option<ChainValue> {
    let (covered, _) = split_trailer(line).ok()?;
    split_link(covered).1
}

/// Why a record's link does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The line is not a valid record (its CRC or frame is wrong).
    #[error("not a valid record: {0}")]
    Line(LineError),
    /// The record carries no chain member.
    #[error("the record carries no chain link")]
    Missing,
    /// The stored chain value is not the hash of the previous value and this record's body: the
    /// record (or one before it) was changed after it was written.
    #[error("chain link does not match: stored {stored}, computed {computed}")]
    Mismatch {
        /// The value in the line.
        stored: ChainValue,
        /// The value its predecessor and its body give.
        computed: ChainValue,
    },
}

/// Checks one record line (without its newline): its CRC, its frame, and that its chain value
/// is the hash of `prev` and its body. Returns its chain value.
///
/// # Errors
/// The [`LinkError`] saying what does not hold.
pub fn check(prev: &ChainValue, line: &[u8]) -> Result<ChainValue, LinkError> {
    super::line::decode(line).map_err(LinkError::Line)?;
    let (covered, _) = split_trailer(line).map_err(LinkError::Line)?;
    check_covered(prev, covered)
}

/// [`check`] for the CRC-covered part of a line already known to be a valid record.
pub(crate) fn check_covered(prev: &ChainValue, covered: &[u8]) -> Result<ChainValue, LinkError> {
    let (body, stored) = split_link(covered);
    let stored = stored.ok_or(LinkError::Missing)?;
    let computed = next(prev, body);
    if computed == stored { Ok(stored) } else { Err(LinkError::Mismatch { stored, computed }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::line::{CRC_KEY, hex8};

    #[test]
    fn an_encoded_chain_checks_and_readers_see_the_payload_alone() {
        let mut log = Vec::new();
        let mut prev = ChainValue::GENESIS;
        let mut values = Vec::new();
        for seq in 1..=3u64 {
            prev = encode(&mut log, seq, 10 + seq, br#"{"a":[1,"x"]}"#, &prev);
            values.push(prev);
        }
        let mut prev = ChainValue::GENESIS;
        for (line, value) in log.split(|&b| b == b'\n').zip(&values) {
            assert_eq!(check(&prev, line), Ok(*value));
            assert_eq!(link_of(line), Some(*value));
            assert_eq!(crate::format::decode(line).unwrap().data, br#"{"a":[1,"x"]}"#);
            let json: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(json["chain"], value.to_hex());
            prev = *value;
        }
    }

    #[test]
    fn an_edit_with_a_refitted_crc_fails_the_link() {
        let mut line = Vec::new();
        encode(&mut line, 1, 5, br#"{"a":1}"#, &ChainValue::GENESIS);
        line.pop();
        let at = line.windows(5).position(|w| w == br#""a":1"#).unwrap() + 4;
        line[at] = b'2';
        let crc_at = line.len() - crate::format::TRAILER_LEN;
        let crc = crc32fast::hash(&line[..crc_at]);
        line[crc_at + CRC_KEY.len()..crc_at + CRC_KEY.len() + 8].copy_from_slice(&hex8(crc));
        assert_eq!(crate::format::decode(&line).unwrap().data, br#"{"a":2}"#);
        assert!(matches!(check(&ChainValue::GENESIS, &line), Err(LinkError::Mismatch { .. })));
    }

    #[test]
    fn a_json_string_ending_like_a_link_is_not_one() {
        let payload = format!(r#""x\",\"chain\":\"{}\"""#, "0".repeat(64));
        let mut log = Vec::new();
        crate::format::encode(&mut log, 1, 1, payload.as_bytes());
        log.pop();
        assert_eq!(link_of(&log), None);
        assert_eq!(crate::format::decode(&log).unwrap().data, payload.as_bytes());
    }

    #[test]
    fn the_worked_example_of_format_md_is_what_encode_writes() {
        let mut log = Vec::new();
        let v = encode(&mut log, 1, 1763683200123, br#"{"user":"u1"}"#, &ChainValue::GENESIS);
        encode(&mut log, 2, 1763683200124, br#"{"user":"u2"}"#, &v);
        let expected = r#"{"seq":1,"ts":1763683200123,"data":{"user":"u1"},"chain":"18c7245151484024257bfb848536957caf83b1f3efe1e0ff4e634ef450bb6efd","crc":"c10bbab1"}\n{"seq":2,"ts":1763683200124,"data":{"user":"u2"},"chain":"bcb3c7c2244d122375f5f19bca89fb6c355f4dcec22c9d16ea4d1da86c4628ab","crc":"1d08d02f"}\n"#;
        assert_eq!(String::from_utf8(log).unwrap(), expected.replace("\\n", "\n"));
        assert!(include_str!("../../FORMAT.md").contains(expected.split("\\n").next().unwrap()));
    }

    #[test]
    fn hex_round_trips() {
        let v = next(&ChainValue::GENESIS, b"abc");
        assert_eq!(ChainValue::from_hex(v.to_hex().as_bytes()), Some(v));
        assert_eq!(ChainValue::from_hex(v.to_hex().to_uppercase().as_bytes()), None);
    }
}
