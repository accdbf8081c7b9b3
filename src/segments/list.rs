//! What a segmented log's directory holds: its segments in seq order, checked for the shape
//! every writer keeps (at most one active segment, and it is the last).

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fs::Vfs;

use super::naming::{self, SegmentName};

/// One segment file of a log directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its name: first seq, and whether it is active.
    pub name: SegmentName,
    /// Its path.
    pub path: PathBuf,
}

/// The segments of the log directory `dir`, in seq order.
///
/// # Errors
/// [`crate::ErrorKind::Io`] when the directory cannot be listed; [`crate::ErrorKind::NotALog`]
/// naming the file when two segments claim the same first seq or an active segment is not the
/// last one (no writer leaves a directory so: something else changed it).
pub fn list<V: Vfs>(vfs: &V, dir: &Path) -> Result<Vec<Segment>> {
    let segments = list_sorted(vfs, dir)?;
    for pair in segments.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        // A sealed file after it that holds no record is no segment a roll made (a roll seals
        // only a segment that holds records): that one is the stray.
        if a.name.active && !b.name.active && holds_no_record(vfs, &b.path) {
            return Err(Error::not_a_log(
                &b.path,
                format!(
                    "a sealed segment that holds no record, after the active segment {}: a \
                     stray file; move it out of the log directory",
                    a.path.display()
                ),
            ));
        }
        if a.name.active {
            return Err(Error::not_a_log(
                &a.path,
                format!(
                    "an active segment before the segment {}: only the last segment takes \
                     appends (a writer seals it when it opens the log, if that segment starts \
                     right after its last record, as a roll names it; otherwise one of the two \
                     is not the log's: move it out of the log directory)",
                    b.path.display()
                ),
            ));
        }
    }
    Ok(segments)
}

/// Whether the file at `path` is empty or holds no valid record (read only when a listing
/// already looks wrong).
fn holds_no_record<V: Vfs>(vfs: &V, path: &Path) -> bool {
    crate::read::Reader::open_in(vfs.clone(), path).is_ok_and(|r| r.last().is_none())
}

/// The segments of `dir` in seq order, refusing two with the same first seq; an active segment
/// may be anywhere (a crashed roll leaves one before the next, which a writer seals).
pub(crate) fn list_sorted<V: Vfs>(vfs: &V, dir: &Path) -> Result<Vec<Segment>> {
    let mut segments: Vec<Segment> = vfs
        .list_dir(dir)
        .at(dir, "list directory")?
        .iter()
        .filter_map(|name| naming::parse(name).map(|n| Segment { name: n, path: dir.join(name) }))
        .collect();
    segments.sort_by_key(|s| (s.name.first_seq, s.name.active));
    for pair in segments.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.name.first_seq == b.name.first_seq {
            return Err(Error::not_a_log(
                &b.path,
                format!(
                    "two segments start at seq {}: {} and {}; remove the one that is not a log's",
                    a.name.first_seq,
                    a.path.display(),
                    b.path.display()
                ),
            ));
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimFs;

    fn dir_with(names: &[&str]) -> SimFs {
        let fs = SimFs::new(1);
        fs.put("/log/ndlog.json", b"{}");
        for n in names {
            fs.put(format!("/log/{n}"), b"");
        }
        fs
    }

    #[test]
    fn lists_segments_in_seq_order_and_ignores_other_files() {
        let fs = dir_with(&[
            "00000000000000000100.ndjson.active",
            "00000000000000000001.ndjson",
            "00000000000000000050.ndjson",
            "00000000000000000050.idx",
            "lock",
        ]);
        let got = list(&fs, Path::new("/log")).unwrap();
        let seqs: Vec<(u64, bool)> =
            got.iter().map(|s| (s.name.first_seq, s.name.active)).collect();
        assert_eq!(seqs, [(1, false), (50, false), (100, true)]);
        assert_eq!(got[2].path, Path::new("/log/00000000000000000100.ndjson.active"));
    }

    #[test]
    fn a_directory_no_writer_leaves_is_refused_naming_the_file() {
        let twice =
            dir_with(&["00000000000000000007.ndjson", "00000000000000000007.ndjson.active"]);
        let err = list(&twice, Path::new("/log")).unwrap_err().to_string();
        assert!(err.contains("two segments start at seq 7"), "{err}");
        let early =
            dir_with(&["00000000000000000007.ndjson.active", "00000000000000000009.ndjson"]);
        let err = list(&early, Path::new("/log")).unwrap_err().to_string();
        assert!(err.contains("00000000000000000007.ndjson.active"), "{err}");
    }
}
