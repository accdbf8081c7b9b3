//! The line format, as pure functions on bytes: encode a record into a caller's buffer, decode and
//! verify one line. No I/O happens here. Every constant mirrors FORMAT.md; change both together.
//!
//! A record is one line:
//!
//! ```text
//! {"seq":42,"ts":1763683200123,"data":<payload JSON>,"crc":"9f3a1c0e"}\n
//! ```
//!
//! The CRC-32 covers every byte before `,"crc":`; the trailer has a fixed width, so verifying a
//! line costs one CRC pass and a fixed-size comparison, with no JSON parsing and no allocation.
//!
//! The records of a write of several records carry marks, spaces around the payload (FORMAT.md,
//! section 1): one after it on every record but the write's last (more follow), one before it
//! on every record but its first (more came before). A write cut short ends in records marked
//! to continue, and a write with a hole ends in a record marked as continued after damage:
//! readers and writers take both for an unfinished write, never for records.

pub use crate::error::LineError;

/// Bytes every record starts with.
pub const PREFIX: &[u8] = b"{\"seq\":";
/// Separates the seq digits from the ts digits.
pub const TS_KEY: &[u8] = b",\"ts\":";
/// Separates the ts digits from the payload.
pub const DATA_KEY: &[u8] = b",\"data\":";
/// The mark byte: after the payload of every record of a write but its last (more records of
/// the same write follow), before the payload of every record of a write but its first. JSON
/// whitespace, so every JSON reader reads the line as it would without it.
pub const MARK: u8 = b' ';

/// Where a record stands in the write that wrote it, as its marks say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Records of the same write came before it (a space before the payload).
    pub continued: bool,
    /// Records of the same write follow it (a space after the payload).
    pub continues: bool,
}

impl Marks {
    /// A record written alone (or by ndlog before marks): no mark.
    pub const NONE: Marks = Marks { continued: false, continues: false };

    /// The marks of the `i`-th record of a write whose first record is the `first`-th and
    /// whose last is the `last`-th.
    pub fn of(i: usize, first: usize, last: usize) -> Marks {
        Marks { continued: i != first, continues: i != last }
    }
}
/// Starts the fixed-width trailer.
pub const CRC_KEY: &[u8] = b",\"crc\":\"";
/// Number of hex digits of the CRC.
pub const CRC_HEX_LEN: usize = 8;
/// Ends the trailer (before the newline).
pub const CLOSE: &[u8] = b"\"}";
/// Length of `,"crc":"xxxxxxxx"}` — the trailer without the newline.
pub const TRAILER_LEN: usize = CRC_KEY.len() + CRC_HEX_LEN + CLOSE.len();
/// Shortest possible record line without its newline: one-digit seq and ts, one-byte payload.
pub const MIN_LINE_LEN: usize =
    PREFIX.len() + 1 + TS_KEY.len() + 1 + DATA_KEY.len() + 1 + TRAILER_LEN;
/// Bytes the frame adds around a payload, with the widest seq and ts (20 digits each), a chain
/// write's marks ([`MARK`]), a chain link ([`super::chain::LINK_LEN`]: only chained
/// logs have one) and `\n`.
pub const MAX_FRAME_OVERHEAD: usize = PREFIX.len()
    + 20
    + TS_KEY.len()
    + 20
    + DATA_KEY.len()
    + 2
    + super::chain::LINK_LEN
    + TRAILER_LEN
    + 1;

/// A record decoded from one line, borrowing the line's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's timestamp, unix milliseconds.
    pub ts: u64,
    /// The payload: one compact JSON value (without the marks around it).
    pub data: &'a [u8],
    /// Where the record stands in its write. A record marked to continue is part of the log
    /// only when its write's last record follows it (FORMAT.md, section 3).
    pub marks: Marks,
}

/// Appends the record line for `(seq, ts, data)`, newline included, to `out`.
///
/// `data` must already be one compact JSON value without a raw newline; the writer checks that
/// before calling this. Returns the number of bytes appended.
pub fn encode(out: &mut Vec<u8>, seq: u64, ts: u64, data: &[u8]) -> usize {
    encode_with(out, seq, ts, data, Marks::NONE, |_, _| {})
}

/// [`encode`], with `marks`: the line of a record of a write of several records (FORMAT.md,
/// section 1). Readers take a log that ends in records marked to continue for a write that has
/// not finished.
///
/// # Example
/// ```
/// use ndlog::format::{Marks, encode_marked};
/// let mut log = Vec::new();
/// encode_marked(&mut log, 1, 10, b"1", Marks::of(0, 0, 1));
/// encode_marked(&mut log, 2, 10, b"2", Marks::of(1, 0, 1));
/// assert!(log.starts_with(br#"{"seq":1,"ts":10,"data":1 ,"crc":"#));
/// let second = log.split(|&b| b == b'\n').nth(1).unwrap();
/// assert!(second.starts_with(br#"{"seq":2,"ts":10,"data": 2,"crc":"#));
/// let first = ndlog::format::decode(&log[..log.iter().position(|&b| b == b'\n').unwrap()]);
/// assert_eq!(first.unwrap().data, b"1");
/// assert!(first.unwrap().marks.continues && !first.unwrap().marks.continued);
/// ```
pub fn encode_marked(out: &mut Vec<u8>, seq: u64, ts: u64, data: &[u8], marks: Marks) -> usize {
    encode_with(out, seq, ts, data, marks, |_, _| {})
}

/// [`encode_marked`], with `member` appending what goes between the payload (and its mark)
/// and the CRC trailer (the chain link of a chained log: `format::chain`); it gets the line so
/// far and where it starts.
#[inline]
pub(crate) fn encode_with(
    out: &mut Vec<u8>,
    seq: u64,
    ts: u64,
    data: &[u8],
    marks: Marks,
    member: impl FnOnce(&mut Vec<u8>, usize),
) -> usize {
    let start = out.len();
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(num.format(seq).as_bytes());
    out.extend_from_slice(TS_KEY);
    out.extend_from_slice(num.format(ts).as_bytes());
    out.extend_from_slice(DATA_KEY);
    if marks.continued {
        out.push(MARK);
    }
    out.extend_from_slice(data);
    if marks.continues {
        out.push(MARK);
    }
    member(out, start);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(CRC_KEY);
    out.extend_from_slice(&hex8(crc));
    out.extend_from_slice(CLOSE);
    out.push(b'\n');
    out.len() - start
}

/// Encodes the lines of records with consecutive seqs and one ts, as [`encode`] does each,
/// without formatting the ts again for every record or the seq from scratch: the bytes up to the
/// payload are kept between records, with the seq's digits counted up in place, and each line
/// goes into `out` in three copies (those bytes, the payload, the CRC trailer).
pub(crate) struct Consecutive {
    /// `{"seq":N,"ts":N,"data":` for the next record.
    front: [u8; FRONT_MAX],
    front_len: usize,
    /// Where the seq's digits end in `front`.
    seq_end: usize,
    seq: u64,
    ts: u64,
    /// A CRC-32 with nothing hashed yet: cloned for each line, so that the CPU's features are
    /// looked up once a batch, not once a line.
    crc: crc32fast::Hasher,
}

/// The longest line start: `{"seq":`, `,"ts":`, `,"data":` and two 20-digit numbers.
const FRONT_MAX: usize = PREFIX.len() + 20 + TS_KEY.len() + 20 + DATA_KEY.len();

impl Consecutive {
    /// Lines from seq `first` on, all with `ts`.
    pub(crate) fn new(first: u64, ts: u64) -> Self {
        let mut lines = Consecutive {
            front: [0; FRONT_MAX],
            front_len: 0,
            seq_end: 0,
            seq: first,
            ts,
            crc: crc32fast::Hasher::new(),
        };
        lines.format();
        lines
    }

    /// Writes the line start for `self.seq` and `self.ts` into `front`.
    fn format(&mut self) {
        let (mut seq, mut ts) = (itoa::Buffer::new(), itoa::Buffer::new());
        let seq = seq.format(self.seq).as_bytes();
        self.seq_end = PREFIX.len() + seq.len();
        let parts = [PREFIX, seq, TS_KEY, ts.format(self.ts).as_bytes(), DATA_KEY];
        self.front_len = parts.iter().fold(0, |at, part| {
            self.front[at..at + part.len()].copy_from_slice(part);
            at + part.len()
        });
    }

    /// The seq of the next line.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Appends the next record's line for `data` to `out`, as [`encode_marked`] would.
    #[inline]
    pub(crate) fn encode(&mut self, out: &mut Vec<u8>, data: &[u8], marks: Marks) {
        out.reserve(FRONT_MAX + data.len() + 2 + TRAILER_LEN + 1);
        let start = out.len();
        // The whole array, cut back to the line start: a copy of a fixed size is a few moves,
        // one of a varying size a call.
        out.extend_from_slice(&self.front);
        out.truncate(start + self.front_len);
        if marks.continued {
            out.push(MARK);
        }
        out.extend_from_slice(data);
        if marks.continues {
            out.push(MARK);
        }
        let mut crc = self.crc.clone();
        crc.update(&out[start..]);
        out.extend_from_slice(&trailer(crc.finalize()));
        self.skip();
    }

    /// Moves on to the next seq without encoding a line.
    #[inline]
    pub(crate) fn skip(&mut self) {
        let Some(next) = self.seq.checked_add(1) else { return };
        self.seq = next;
        // Counts the digits up in place: each 9 from the last one on becomes a 0 and carries;
        // a seq of nothing but 9s takes a digit more, and the line start is written again.
        for at in (PREFIX.len()..self.seq_end).rev() {
            let digit = &mut self.front[at];
            if *digit != b'9' {
                *digit += 1;
                return;
            }
            *digit = b'0';
        }
        self.format();
    }
}

/// `,"crc":"xxxxxxxx"}` and the newline, for `crc`.
#[inline]
fn trailer(crc: u32) -> [u8; TRAILER_LEN + 1] {
    let mut out = [0; TRAILER_LEN + 1];
    out[..CRC_KEY.len()].copy_from_slice(CRC_KEY);
    out[CRC_KEY.len()..CRC_KEY.len() + CRC_HEX_LEN].copy_from_slice(&hex8(crc));
    out[TRAILER_LEN - CLOSE.len()..TRAILER_LEN].copy_from_slice(CLOSE);
    out[TRAILER_LEN] = b'\n';
    out
}

/// Decodes and verifies one line (without its `\n`).
///
/// # Errors
/// A [`LineError`] saying what is wrong with the line.
pub fn decode(line: &[u8]) -> Result<Frame<'_>, LineError> {
    let (body, stored) = split_trailer(line)?;
    check_crc(stored, crc32fast::hash(body))?;
    parse_body(body)
}

/// Splits a line into the CRC-covered body and the CRC stored in its trailer.
///
/// # Errors
/// [`LineError::TooShort`] or [`LineError::BadTrailer`].
pub fn split_trailer(line: &[u8]) -> Result<(&[u8], u32), LineError> {
    if line.len() < MIN_LINE_LEN {
        return Err(LineError::TooShort { len: line.len() });
    }
    let (body, trailer) = line.split_at(line.len() - TRAILER_LEN);
    let (key, rest) = trailer.split_at(CRC_KEY.len());
    let (hex, close) = rest.split_at(CRC_HEX_LEN);
    if key != CRC_KEY || close != CLOSE {
        return Err(LineError::BadTrailer);
    }
    let crc = unhex8(hex).ok_or(LineError::BadTrailer)?;
    Ok((body, crc))
}

/// Compares a stored CRC with the computed one.
///
/// A fuzz build with the `fuzz-no-crc` feature accepts any CRC, so that the fuzzer can reach the
/// frame and JSON checks behind it.
///
/// # Errors
/// [`LineError::CrcMismatch`].
#[inline]
pub fn check_crc(stored: u32, computed: u32) -> Result<(), LineError> {
    if cfg!(all(fuzzing, feature = "fuzz-no-crc")) || stored == computed {
        Ok(())
    } else {
        Err(LineError::CrcMismatch { stored, computed })
    }
}

/// The seq and ts at the start of a line, without verifying it (for lines already verified).
pub(crate) fn peek_seq_ts(line: &[u8]) -> Option<(u64, u64)> {
    let (seq, rest) = parse_u64(line.strip_prefix(PREFIX)?)?;
    let (ts, _) = parse_u64(rest.strip_prefix(TS_KEY)?)?;
    Some((seq, ts))
}

/// Whether this build compares CRCs (false only in a fuzz build with `fuzz-no-crc`).
#[doc(hidden)]
pub const fn crc_checked() -> bool {
    !cfg!(all(fuzzing, feature = "fuzz-no-crc"))
}

/// Parses the CRC-covered part of a line: `{"seq":N,"ts":N,"data":<payload>`, and in a chained
/// record the link after the payload, which is not part of the returned `data`.
///
/// # Errors
/// [`LineError::BadSeq`], [`LineError::BadTs`] or [`LineError::BadData`].
pub fn parse_body(body: &[u8]) -> Result<Frame<'_>, LineError> {
    let frame = parse_body_any_seq(body)?;
    if frame.seq == 0 {
        return Err(LineError::BadSeq);
    }
    Ok(frame)
}

/// [`decode`], except that a seq of 0 (a legacy log's first record, which ndlog never writes)
/// is accepted: for importing such logs with their seqs shifted.
pub(crate) fn decode_any_seq(line: &[u8]) -> Result<Frame<'_>, LineError> {
    let (body, stored) = split_trailer(line)?;
    check_crc(stored, crc32fast::hash(body))?;
    parse_body_any_seq(body)
}

fn parse_body_any_seq(body: &[u8]) -> Result<Frame<'_>, LineError> {
    let rest = body.strip_prefix(PREFIX).ok_or(LineError::BadSeq)?;
    let (seq, rest) = parse_u64(rest).ok_or(LineError::BadSeq)?;
    // A number that runs on into something other than the next key (`1.5`, `1e3`) is that
    // field's fault; one followed by a comma, or by nothing, lacks the next field.
    let fault = |rest: &[u8], field, next| match rest.first() {
        None | Some(b',') => next,
        Some(_) => field,
    };
    let rest = rest
        .strip_prefix(TS_KEY)
        .ok_or_else(|| fault(rest, LineError::BadSeq, LineError::BadTs))?;
    let (ts, rest) = parse_u64(rest).ok_or(LineError::BadTs)?;
    let data = rest
        .strip_prefix(DATA_KEY)
        .ok_or_else(|| fault(rest, LineError::BadTs, LineError::BadData))?;
    // A chained record's link sits between the payload and the trailer (FORMAT.md, section 10),
    // and a write's marks right around the payload (writers trim payloads, so a space there is
    // always a mark).
    let (data, _) = super::chain::split_link(data);
    let (data, continues) = match data.split_last() {
        Some((&MARK, payload)) => (payload, true),
        _ => (data, false),
    };
    let (data, continued) = match data.split_first() {
        Some((&MARK, payload)) => (payload, true),
        _ => (data, false),
    };
    if data.is_empty() {
        return Err(LineError::BadData);
    }
    Ok(Frame { seq, ts, data, marks: Marks { continued, continues } })
}

/// Appends `line` (a valid record line, without its newline) to `out` with the marks `marks`
/// makes of the ones it has, its CRC computed again where that changed them (seq, ts, payload
/// and any chain link stay as they are), and its newline. For records written again in another
/// write than their own (a verbatim import), whose marks must fit that write.
pub(crate) fn remark(
    line: &[u8],
    marks: impl FnOnce(Marks) -> Marks,
    out: &mut Vec<u8>,
) -> Result<(), LineError> {
    let frame = decode_any_seq(line)?;
    let marks = marks(frame.marks);
    if frame.marks == marks {
        out.extend_from_slice(line);
        out.push(b'\n');
        return Ok(());
    }
    let (covered, _) = split_trailer(line)?;
    // The payload is a sub-slice of the line, the marks the bytes around it.
    let payload_start = frame.data.as_ptr() as usize - line.as_ptr() as usize;
    let payload_end = payload_start + frame.data.len();
    let start = out.len();
    out.extend_from_slice(&covered[..payload_start - usize::from(frame.marks.continued)]);
    if marks.continued {
        out.push(MARK);
    }
    out.extend_from_slice(frame.data);
    if marks.continues {
        out.push(MARK);
    }
    out.extend_from_slice(&covered[payload_end + usize::from(frame.marks.continues)..]);
    out.extend_from_slice(&trailer(crc32fast::hash(&out[start..])));
    Ok(())
}

/// Parses a canonical decimal u64 (no sign, no leading zero unless it is `0`) at the start of
/// `bytes`, returning it and the rest. Nineteen digits cannot overflow a u64; only a twentieth
/// is checked.
#[inline]
pub(crate) fn parse_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = if i < 19 {
            value * 10 + u64::from(digit)
        } else if i == 19 {
            value.checked_mul(10)?.checked_add(u64::from(digit))?
        } else {
            return None;
        };
        i += 1;
    }
    if i == 0 || (i > 1 && bytes[0] == b'0') {
        return None;
    }
    Some((value, &bytes[i..]))
}

/// The lowercase hex digits, by value.
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The CRC as eight lowercase hex digits.
#[inline]
pub fn hex8(value: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX_DIGITS[((value >> (28 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Maps an ASCII byte to its lowercase-hex value, or to 0x80 when it is not a lowercase hex digit.
pub(crate) const UNHEX: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX_DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes eight lowercase hex digits without a branch per digit: table lookups, and one check of
/// the accumulated invalid bits at the end.
#[inline]
pub fn unhex8(hex: &[u8]) -> Option<u32> {
    let hex: &[u8; 8] = hex.try_into().ok()?;
    let mut value = 0u32;
    let mut invalid = 0u8;
    for &b in hex {
        let nibble = UNHEX[b as usize];
        invalid |= nibble;
        value = (value << 4) | u32::from(nibble & 0x0f);
    }
    (invalid & 0x80 == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode(&mut out, seq, ts, data);
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn encodes_the_documented_layout() {
        let l = line(42, 1763683200123, br#"{"a":1}"#);
        let text = std::str::from_utf8(&l).unwrap();
        let body = r#"{"seq":42,"ts":1763683200123,"data":{"a":1}"#;
        let crc = crc32fast::hash(body.as_bytes());
        assert_eq!(text, format!("{body},\"crc\":\"{crc:08x}\"}}\n"));
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["seq"], 42);
        assert_eq!(v["data"]["a"], 1);
    }

    #[test]
    fn the_example_in_format_md_is_exact() {
        let doc = include_str!("../../FORMAT.md");
        let example = r#"{"seq":42,"ts":1763683200123,"data":{"user":"u1"},"crc":"8163e145"}"#;
        assert!(doc.contains(example));
        assert_eq!(line(42, 1763683200123, br#"{"user":"u1"}"#), format!("{example}\n").as_bytes());
    }

    #[test]
    fn the_marks_example_in_format_md_is_exact() {
        let doc = include_str!("../../FORMAT.md");
        let mut lines = Vec::new();
        for (i, n) in (1..=3u64).enumerate() {
            let data = format!(r#"{{"n":{n}}}"#);
            encode_marked(&mut lines, 6 + n, 1763683200123, data.as_bytes(), Marks::of(i, 0, 2));
        }
        let text = std::str::from_utf8(&lines).unwrap();
        assert!(doc.contains(text), "FORMAT.md, section 1, should show:\n{text}");
    }

    #[test]
    fn decodes_what_it_encodes() {
        for (seq, ts, data) in [
            (1u64, 0u64, &b"0"[..]),
            (u64::MAX, u64::MAX, br#""x""#),
            (7, 1_700_000_000_000, br#"{"k":[1,2,{"crc":"00000000"}]}"#),
        ] {
            let l = line(seq, ts, data);
            let f = decode(&l[..l.len() - 1]).unwrap();
            assert_eq!(f, Frame { seq, ts, data, marks: Marks::NONE });
            for marks in [Marks::of(0, 0, 2), Marks::of(1, 0, 2), Marks::of(2, 0, 2)] {
                let mut marked = Vec::new();
                encode_marked(&mut marked, seq, ts, data, marks);
                let f = decode(&marked[..marked.len() - 1]).unwrap();
                assert_eq!(f, Frame { seq, ts, data, marks });
            }
        }
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let l = line(12345, 1763683200123, br#"{"user":"u1","n":3}"#);
        let body = &l[..l.len() - 1];
        for i in 0..body.len() {
            for bit in 0..8 {
                let mut bad = body.to_vec();
                bad[i] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "flip of bit {bit} at byte {i} went unnoticed");
            }
        }
    }

    #[test]
    fn the_marks_are_whitespace_every_json_reader_passes_over() {
        let mut l = Vec::new();
        encode_marked(&mut l, 42, 1763683200123, br#"{"user":"u1"}"#, Marks::of(1, 0, 2));
        let text = std::str::from_utf8(&l).unwrap();
        assert!(text.contains(r#""data": {"user":"u1"} ,"crc":""#), "{text}");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["data"]["user"], "u1");
        // Every flip of the marked line is caught, the mark's own byte too.
        let body = &l[..l.len() - 1];
        for i in 0..body.len() {
            let mut bad = body.to_vec();
            bad[i] ^= 1;
            assert!(decode(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn remarking_sets_the_marks_and_keeps_everything_else() {
        let all = [Marks::of(0, 0, 0), Marks::of(0, 0, 2), Marks::of(1, 0, 2), Marks::of(2, 0, 2)];
        for data in [&b"1"[..], br#"{"a":[1,"x"]}"#] {
            for chained in [false, true] {
                let line = |marks| {
                    let mut out = Vec::new();
                    let g = super::super::chain::ChainValue::GENESIS;
                    match chained {
                        true => {
                            _ = super::super::chain::encode_marked(&mut out, 9, 99, data, marks, &g)
                        }
                        false => _ = encode_marked(&mut out, 9, 99, data, marks),
                    }
                    out
                };
                for from in all {
                    for to in all {
                        let (given, want) = (line(from), line(to));
                        let mut out = Vec::new();
                        remark(&given[..given.len() - 1], |_| to, &mut out).unwrap();
                        if chained && from != to {
                            // The link covers the marks: set anew, it is the other line's link
                            // no more, but the line is a valid record with the marks given.
                            let f = decode(&out[..out.len() - 1]).unwrap();
                            assert_eq!((f.seq, f.ts, f.data, f.marks), (9, 99, data, to));
                        } else {
                            assert_eq!(out, want);
                        }
                    }
                }
            }
        }
        assert!(remark(b"not a record", |m| m, &mut Vec::new()).is_err());
    }

    #[test]
    fn rejects_malformed_frames() {
        let ok = line(5, 6, b"true");
        let body = &ok[..ok.len() - 1];
        assert_eq!(decode(&body[..10]), Err(LineError::TooShort { len: 10 }));
        let mut upper = body.to_vec();
        let n = upper.len();
        upper[n - 3] = b'F';
        assert_eq!(decode(&upper), Err(LineError::BadTrailer));
        let mut no_close = body.to_vec();
        no_close[n - 1] = b']';
        assert_eq!(decode(&no_close), Err(LineError::BadTrailer));
        let forge = |b: &[u8]| {
            let crc = crc32fast::hash(b);
            let mut v = b.to_vec();
            v.extend_from_slice(CRC_KEY);
            v.extend_from_slice(&hex8(crc));
            v.extend_from_slice(CLOSE);
            v
        };
        assert_eq!(decode(&forge(br#"{"seq":0,"ts":1,"data":1"#)), Err(LineError::BadSeq));
        assert_eq!(decode(&forge(br#"{"seq":01,"ts":1,"data":1"#)), Err(LineError::BadSeq));
        assert_eq!(decode(&forge(br#"{"seq":1,"ts":x,"data":1"#)), Err(LineError::BadTs));
        assert_eq!(decode(&forge(br#"{"seq":1,"ts":1,"dat":11"#)), Err(LineError::BadData));
        // A number running on is its own field's fault (seq 1.5 was called a malformed ts).
        assert_eq!(decode(&forge(br#"{"seq":1.5,"ts":1,"data":1"#)), Err(LineError::BadSeq));
        assert_eq!(decode(&forge(br#"{"seq":1e3,"ts":1,"data":1"#)), Err(LineError::BadSeq));
        assert_eq!(decode(&forge(br#"{"seq":1,"ts":1.5,"data":1"#)), Err(LineError::BadTs));
        assert_eq!(decode(&forge(br#"{"seq":1,"tz":1,"data":1"#)), Err(LineError::BadTs));
        // Nothing after the ts: the data field is what is missing.
        assert_eq!(decode(&forge(br#"{"seq":2,"ts":1234567890"#)), Err(LineError::BadData));
        let overflow = br#"{"seq":18446744073709551616,"ts":1,"data":1"#;
        assert_eq!(decode(&forge(overflow)), Err(LineError::BadSeq));
    }

    #[test]
    fn consecutive_lines_are_the_lines_encode_makes() {
        let starts = [1u64, 7, 9, 95, 999_990, 9_999_999_999, u64::MAX / 10 - 3, u64::MAX - 40];
        for first in starts {
            for ts in [0u64, 9, 1_763_683_200_123, u64::MAX] {
                let mut lines = Consecutive::new(first, ts);
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                for i in 0..40u64 {
                    let seq = first.saturating_add(i);
                    assert_eq!(lines.seq(), seq);
                    let data = format!(r#"{{"n":{i}}}"#);
                    if i % 7 == 3 {
                        lines.skip();
                        continue;
                    }
                    let marks = Marks::of(i as usize % 3, 1, 2);
                    lines.encode(&mut ours, data.as_bytes(), marks);
                    encode_marked(&mut theirs, seq, ts, data.as_bytes(), marks);
                    if seq == u64::MAX {
                        break;
                    }
                }
                assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
            }
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_non_lowercase() {
        for v in [0u32, 1, 0x9f3a1c0e, u32::MAX, 0x0b12aa07] {
            assert_eq!(unhex8(&hex8(v)), Some(v));
        }
        assert_eq!(unhex8(b"9F3A1C0E"), None);
        assert_eq!(unhex8(b"9f3a1c0g"), None);
        assert_eq!(unhex8(b"9f3a1c0"), None);
    }
}
