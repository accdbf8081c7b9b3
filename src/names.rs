//! Names of the files ndlog keeps beside a log.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `LOG` + `suffix`, in the log's directory: `events.ndjson` → `events.ndjson.lock`. A segment
/// of a segmented log is named by its first seq alone, so that the sidecar keeps its name when
/// the active segment is sealed: `LOG/00000000000000000001.ndjson.active` →
/// `LOG/00000000000000000001.idx`.
pub(crate) fn sidecar(log: &Path, suffix: &str) -> PathBuf {
    if let Some(segment) = log.file_name().and_then(crate::segments::naming::parse) {
        let name = format!("{:020}{suffix}", segment.first_seq);
        return log.with_file_name(name);
    }
    let mut name = OsString::from(log.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// What a consumer's cursor file `FILE` keeps beside it of the record it was committed at:
/// `FILE.record` (`consume::Cursor`).
pub(crate) fn cursor_record(cursor: &Path) -> PathBuf {
    let mut name = OsString::from(cursor.as_os_str());
    name.push(".record");
    PathBuf::from(name)
}

/// The lock file of a segmented log: `LOG/ndlog.lock`.
pub(crate) fn segmented_lock_file(dir: &Path) -> PathBuf {
    dir.join("ndlog.lock")
}

/// The durable watermark of a segmented log: `LOG/ndlog.watermark`.
pub(crate) fn segmented_watermark(dir: &Path) -> PathBuf {
    dir.join("ndlog.watermark")
}

/// A segmented log's entity-version table: `LOG/ndlog.versions` (seqs are global across its
/// segments, so one table serves them all).
pub(crate) fn segmented_versions(dir: &Path) -> PathBuf {
    dir.join("ndlog.versions")
}

/// The entity-version table: `LOG.versions`.
pub(crate) fn versions_file(log: &Path) -> PathBuf {
    sidecar(log, ".versions")
}

/// The lock file: `LOG.lock`.
pub(crate) fn lock_file(log: &Path) -> PathBuf {
    sidecar(log, ".lock")
}

/// The index: `LOG.idx`.
pub(crate) fn index_file(log: &Path) -> PathBuf {
    sidecar(log, ".idx")
}

/// The compaction lock: `LOG.compact.lock`, held for the whole of a compaction.
pub(crate) fn compact_lock(log: &Path) -> PathBuf {
    sidecar(log, ".compact.lock")
}

/// The prefix of a compaction's temporary files: `LOG.compact.`; they end in `.tmp`.
pub(crate) fn compact_temp_prefix(log: &Path) -> OsString {
    let mut name = log.file_name().map(OsString::from).unwrap_or_default();
    name.push(".compact.");
    name
}

/// The directory holding `path`, for directory fsyncs (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A chained log's chain file: `LOG.chain` (its id and anchors).
pub(crate) fn chain_file(log: &Path) -> PathBuf {
    sidecar(log, ".chain")
}

/// A chained segmented log's chain file: `LOG/ndlog.chain` (its id and anchors).
pub(crate) fn segmented_chain_file(dir: &Path) -> PathBuf {
    dir.join(crate::segments::naming::CHAIN)
}
