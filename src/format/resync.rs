//! One rule for what a line of the file holds, shared by every reader of the format: the
//! forward scan, the backward scan and the writer's tail discovery all call [`parse`], so they
//! cannot disagree about which records a file contains.
//!
//! A line is the bytes between two newlines (or between a newline and the end of the file),
//! without the newline. It is either a record, or a corrupt prefix followed by a record found by
//! resynchronising, or corrupt as a whole.

use crc32fast::Hasher;
use memchr::memmem;

use super::line::{self as format, Frame, LineError, PREFIX};
use super::payload::is_one_json_value;

/// What one line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// Length of the corrupt bytes at the start of the line (0 when it is one record).
    pub skip: usize,
    /// Why those bytes are corrupt (the first check that failed on the whole line).
    pub reason: Option<LineError>,
    /// The record that fills `line[skip..]`, if any.
    pub frame: Option<Frame<'a>>,
}

/// Parses a line. With `json`, a record's payload must also be exactly one JSON value.
///
/// A line that fails verification is resynchronised: damage such as a run of NUL bytes over
/// a newline merges a damaged line with the intact line after it, so every later occurrence of
/// `{"seq":` is tried as the start of a record that runs to the end of the line. The CRCs of
/// the candidate suffixes are built right to left, each from the next with `Hasher::combine`,
/// so an adversarial line full of `{"seq":` costs linear time, not quadratic. The leftmost
/// candidate that verifies wins. A candidate right after `:`, `,`, `[` or JSON whitespace is
/// never taken: that is where an object nested in a payload starts.
pub(crate) fn parse(line: &[u8], json: bool) -> Parsed<'_> {
    let reason = match decode(line, json) {
        Ok(frame) => {
            return Parsed { skip: 0, reason: None, frame: Some(frame) };
        }
        Err(reason) => reason,
    };
    // Every candidate ends where the line ends, so all share the line's trailer.
    let Ok((body, stored)) = format::split_trailer(line) else {
        return Parsed { skip: line.len(), reason: Some(reason), frame: None };
    };
    let mut found = None;
    let mut suffix = Hasher::new();
    let mut suffix_start = body.len();
    for start in memmem::rfind_iter(body, PREFIX) {
        if start == 0 {
            break;
        }
        // `{"seq":` right after one of these bytes is an object nested in a payload (JSON
        // puts a value only after `:`, `,`, `[` or whitespace, and never has a raw `"` inside a
        // string). A payload can hold a whole ndlog line; it must never pass for a record.
        if matches!(body[start - 1], b':' | b',' | b'[' | b' ' | b'\t' | b'\r') {
            continue;
        }
        let mut crc = Hasher::new();
        crc.update(&body[start..suffix_start]);
        crc.combine(&suffix);
        suffix = crc;
        suffix_start = start;
        if format::check_crc(stored, suffix.clone().finalize()).is_err() {
            continue;
        }
        if let Ok(frame) = format::parse_body(&body[start..])
            && (!json || is_one_json_value(frame.data))
        {
            found = Some((start, frame));
        }
    }
    match found {
        Some((skip, frame)) => Parsed { skip, reason: Some(reason), frame: Some(frame) },
        None => Parsed { skip: line.len(), reason: Some(reason), frame: None },
    }
}

/// The record that fills `line` exactly, if it verifies (no resynchronisation).
pub(crate) fn decode(line: &[u8], json: bool) -> Result<Frame<'_>, LineError> {
    let frame = format::decode(line)?;
    if json && !is_one_json_value(frame.data) {
        return Err(LineError::InvalidJson);
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, data: &str) -> Vec<u8> {
        let mut out = Vec::new();
        format::encode(&mut out, seq, 1000 + seq, data.as_bytes());
        out.pop();
        out
    }

    #[test]
    fn a_valid_line_is_one_record() {
        let r = record(3, r#"{"a":1}"#);
        let p = parse(&r, true);
        assert_eq!(p.skip, 0);
        assert_eq!(p.frame.unwrap().seq, 3);
    }

    #[test]
    fn a_damaged_prefix_is_skipped_up_to_the_intact_record() {
        // A NUL run that swallowed the end of record 1 and its newline.
        let mut seg = record(1, r#"{"x":"aaaaaaaa"}"#);
        let n = seg.len();
        seg[n - 10..].fill(0);
        seg.extend_from_slice(&[0; 5]);
        let skip = seg.len();
        seg.extend_from_slice(&record(2, r#"{"y":2}"#));
        let p = parse(&seg, false);
        assert_eq!(p.skip, skip);
        assert_eq!(p.frame.unwrap().seq, 2);
        assert!(p.reason.is_some());
    }

    #[test]
    fn a_prefix_inside_the_payload_does_not_fool_resync() {
        // The payload holds a literal `{"seq":` that would parse as a frame; only its CRC fails.
        let mut seg = b"garbage".to_vec();
        seg.extend_from_slice(&record(4, r#"{"n":{"seq":5,"ts":6,"data":1}}"#));
        let p = parse(&seg, false);
        assert_eq!(p.skip, 7);
        assert_eq!(p.frame.unwrap().seq, 4);
    }

    #[test]
    fn an_ndlog_line_inside_a_payload_is_never_a_record() {
        // A payload that is itself a record (re-ingested logs), torn right after it: its
        // trailer is the inner line's, so the inner line would verify if resync took it.
        let inner = record(3, r#"{"n":2}"#);
        for prefix in [&b":"[..], b",", b"[", b" ", b"\t"] {
            let mut outer = br#"{"seq":8,"ts":9,"data":{"x""#.to_vec();
            outer.extend_from_slice(prefix);
            outer.extend_from_slice(&inner);
            let p = parse(&outer, false);
            assert_eq!((p.skip, p.frame), (outer.len(), None), "after {prefix:?}");
        }
        // The same bytes after damage (a NUL run) are a record.
        let mut damaged = vec![0u8; 5];
        damaged.extend_from_slice(&inner);
        assert_eq!(parse(&damaged, false).frame.map(|f| f.seq), Some(3));
    }

    #[test]
    fn a_line_without_a_record_is_corrupt_as_a_whole() {
        for seg in [&b"hello"[..], b"{\"seq\":1,\"ts\":2", &[0u8; 64]] {
            let p = parse(seg, false);
            assert_eq!((p.skip, p.frame), (seg.len(), None));
        }
    }

    #[test]
    fn json_mode_rejects_framed_garbage() {
        let r = record(1, "{nope");
        assert!(parse(&r, false).frame.is_some());
        let p = parse(&r, true);
        assert_eq!(p.frame, None);
        assert_eq!(p.reason, Some(LineError::InvalidJson));
    }
}
