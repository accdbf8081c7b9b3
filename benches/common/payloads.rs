//! The payloads the append workloads write, and the line ndlog makes of one.

/// A compact JSON object of exactly `size` bytes (at least 48).
pub(crate) fn payload(size: usize) -> Vec<u8> {
    let head: &[u8] = br#"{"user":"u7","action":"click","item":1234567,"pad":""#;
    let tail: &[u8] = br#""}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head);
    out.resize(head.len() + pad, b'x');
    out.extend_from_slice(tail);
    out
}

/// The line ndlog writes for `payload` (seq and ts of a typical size), for the raw loops, so
/// they write the same number of bytes per record as ndlog does.
pub(crate) fn line_for(payload: &[u8]) -> Vec<u8> {
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, 1_000_000, 1_763_683_200_123, payload);
    line
}
