//! The names of a segmented log's files. Segments are named by their first seq, zero-padded to
//! 20 digits (every u64 fits), so that sorting the directory by name sorts it by seq:
//!
//! ```text
//! LOG/00000000000000000001.ndjson          a sealed segment: never written again
//! LOG/00000000000000004097.ndjson.active   the active segment, sealed by renaming it
//! LOG/00000000000000004097.ndjson.preallocated
//!                                          the active segment of a log created with
//!                                          `--preallocate`: newline padding after its records
//! LOG/ndlog.json                           the settings every writer rolls by
//! LOG/ndlog.chain                          a chained log's id and anchors
//! ```
//!
//! Only sealed segments match `*.ndjson`: a glob over them (DuckDB, Spark, a copy to cold
//! storage) sees complete files that never change. The active segment keeps its inode when it
//! is sealed, so a reader or writer holding it open follows the rename.

use std::ffi::OsStr;

/// What a sealed segment's name ends with.
pub const SEALED_SUFFIX: &str = ".ndjson";
/// What the active segment's name ends with.
pub const ACTIVE_SUFFIX: &str = ".ndjson.active";
/// What a preallocated active segment's name ends with: its file is padded with newlines
/// after its records, which readers find by the name.
pub const PREALLOCATED_SUFFIX: &str = ".ndjson.preallocated";
/// The settings file.
pub const SETTINGS: &str = "ndlog.json";
/// A chained log's chain file: its id and the anchors retention and compaction leave.
pub const CHAIN: &str = "ndlog.chain";
/// Digits of a segment's first seq in its name.
const DIGITS: usize = 20;

/// A segment file's name, as [`parse`] reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    /// The seq of the segment's first record.
    pub first_seq: u64,
    /// Whether it is the active segment (not yet sealed).
    pub active: bool,
    /// Whether it is an active segment preallocated at its full size, padded with newlines.
    pub padded: bool,
}

impl SegmentName {
    /// A sealed segment's name.
    pub fn sealed(first_seq: u64) -> Self {
        SegmentName { first_seq, active: false, padded: false }
    }

    /// An active segment's name; `padded` for a preallocated one.
    pub fn active(first_seq: u64, padded: bool) -> Self {
        SegmentName { first_seq, active: true, padded }
    }

    /// The file name: `00000000000000000042.ndjson`, `….ndjson.active` or
    /// `….ndjson.preallocated`.
    pub fn file_name(self) -> String {
        let suffix = match (self.active, self.padded) {
            (false, _) => SEALED_SUFFIX,
            (true, false) => ACTIVE_SUFFIX,
            (true, true) => PREALLOCATED_SUFFIX,
        };
        format!("{:0width$}{suffix}", self.first_seq, width = DIGITS)
    }
}

/// Whether the file at `path` is a preallocated active segment (by its name).
pub(crate) fn is_padded(path: &std::path::Path) -> bool {
    path.file_name().and_then(parse).is_some_and(|n| n.padded)
}

/// Reads a segment file's name; `None` for any other file (settings, locks, indexes, temps).
pub fn parse(name: &OsStr) -> Option<SegmentName> {
    let name = name.to_str()?;
    let (digits, active, padded) = if let Some(digits) = name.strip_suffix(ACTIVE_SUFFIX) {
        (digits, true, false)
    } else if let Some(digits) = name.strip_suffix(PREALLOCATED_SUFFIX) {
        (digits, true, true)
    } else {
        (name.strip_suffix(SEALED_SUFFIX)?, false, false)
    };
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let first_seq = digits.parse().ok().filter(|&seq| seq >= 1)?;
    Some(SegmentName { first_seq, active, padded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_seq() {
        let mut names = Vec::new();
        for (seq, active) in [(1, false), (99, false), (100, false), (u64::MAX, true)] {
            let n = if active { SegmentName::active(seq, false) } else { SegmentName::sealed(seq) };
            let text = n.file_name();
            assert_eq!(text.len(), 20 + if active { 14 } else { 7 });
            assert_eq!(parse(OsStr::new(&text)), Some(n));
            names.push(text);
        }
        let padded = SegmentName::active(7, true);
        assert_eq!(parse(OsStr::new(&padded.file_name())), Some(padded));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names, "name order is seq order");
    }

    #[test]
    fn other_files_are_not_segments() {
        for name in [
            "ndlog.json",
            "lock",
            "00000000000000000001.idx",
            "0000000000000000001.ndjson",
            "000000000000000000001.ndjson",
            "00000000000000000000.ndjson",
            "0000000000000000000a.ndjson",
            "99999999999999999999.ndjson",
            "00000000000000000001.ndjson.tmp",
            "+0000000000000000001.ndjson",
        ] {
            assert_eq!(parse(OsStr::new(name)), None, "{name}");
        }
    }
}
