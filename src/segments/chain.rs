//! The hash chain of a segmented log (FORMAT.md, section 10, "Segmented logs"): one chain runs
//! through the segments in seq order, the first record of a segment linking to the last record
//! of the one before it. `LOG/ndlog.chain` marks the log as chained and holds the anchors
//! retention and key compaction leave.
//!
//! - [`SegmentedReader::verify_chain`], [`SegmentedReader::provenance`]: the walk over every
//!   segment, failures naming the segment file.
//! - [`Lookup`] for [`SegmentedReader`] and [`Log`]: `diverge` and checkpoints across segments,
//!   each probe found by the segment names, then that segment's index.
//! - [`value_before`]: the chain value a segment's first record continues from, for a writer
//!   whose active segment holds no record yet.

use std::path::Path;

use crate::chain::{
    ChainFile, ChainReport, Lookup, Provenance, last_link, provenance_parts, verify_parts,
};
use crate::error::{Error, IoContext, Result};
use crate::format::chain::ChainValue;
use crate::fs::{OpenOptions, Vfs, VfsFile};
use crate::json::JsonPointer;
use crate::names;
use crate::read::Record;
use crate::read::last_record::Last;

use super::any::Log;
use super::list::{Segment, list_sorted};
use super::naming;
use super::reader::SegmentedReader;

impl<V: Vfs> SegmentedReader<V> {
    /// The log's chain file, `LOG/ndlog.chain`: `None` when the log is not chained (or was
    /// copied without it).
    ///
    /// # Errors
    /// As [`ChainFile::load`].
    pub fn chain_file(&self) -> Result<Option<ChainFile>> {
        ChainFile::read_at(self.vfs(), &names::segmented_chain_file(self.dir()))
    }

    /// Checks the hash chain across every segment, as [`crate::Reader::verify_chain`] does for
    /// a file: the first record of each segment must link to the last record of the one before,
    /// and the log's first record to seq 1's [`ChainValue::GENESIS`] or to an anchor of
    /// `chain_file` (retention leaves one for each segment that may become the first). A
    /// failure names the segment file and the byte offset in it; seqs missing between two
    /// segments (a segment deleted from the middle) fail as a gap at the first missing seq.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use ndlog::segments::{SegmentedReader, Settings};
    /// let path = dir.path().join("events");
    /// let settings = Settings { segment_records: Some(2), ..Settings::new(2 << 20) };
    /// let writer = ndlog::Options::new().segments(settings).chain(true).open(&path)?;
    /// for n in 0..5 {
    ///     writer.append(&serde_json::json!({ "n": n }))?;
    /// }
    /// let log = SegmentedReader::open(&path)?;
    /// let report = log.verify_chain(log.chain_file()?.as_ref());
    /// assert!(report.is_intact());
    /// assert_eq!((log.parts().len(), report.records), (3, 5));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn verify_chain(&self, chain_file: Option<&ChainFile>) -> ChainReport {
        verify_parts(self.parts().iter().map(|p| &p.reader), chain_file)
    }

    /// The versions of one entity across every segment, each with whether its chain link
    /// holds, and the first failure of the chain from the log's start through the newest
    /// version (as [`crate::Reader::provenance`]).
    pub fn provenance<'a>(
        &'a self,
        chain_file: Option<&ChainFile>,
        key: &JsonPointer,
        entity: &str,
    ) -> Provenance<'a> {
        let parts: Vec<_> = self.parts().iter().map(|p| &p.reader).collect();
        provenance_parts(&parts, chain_file, key, entity)
    }
}

impl<V: Vfs> Lookup for SegmentedReader<V> {
    fn record(&self, seq: u64) -> Option<Record<'_>> {
        self.get(seq)
    }

    fn first_record(&self) -> Option<Record<'_>> {
        self.first()
    }

    fn last_record(&self) -> Option<Record<'_>> {
        self.last()
    }

    fn location(&self) -> &Path {
        self.dir()
    }
}

impl<V: Vfs> Lookup for Log<V> {
    fn record(&self, seq: u64) -> Option<Record<'_>> {
        self.get(seq)
    }

    fn first_record(&self) -> Option<Record<'_>> {
        match self {
            Log::File(reader) => reader.first_record(),
            Log::Segmented(log) => log.first(),
        }
    }

    fn last_record(&self) -> Option<Record<'_>> {
        match self {
            Log::File(reader) => reader.last(),
            Log::Segmented(log) => log.last(),
        }
    }

    fn location(&self) -> &Path {
        match self {
            Log::File(reader) => reader.path(),
            Log::Segmented(log) => log.dir(),
        }
    }
}

/// The last record of the sealed `segment` and the chain value it carries (`None`: no link).
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the segment (not found, when retention removed it);
/// [`crate::ErrorKind::NotALog`] when it holds no record.
pub(crate) fn sealed_link<V: Vfs>(
    vfs: &V,
    segment: &Segment,
) -> Result<(Last, Option<ChainValue>)> {
    let path = &segment.path;
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let len = file.metadata().at(path, "fstat")?.len;
    let mut scratch = Vec::new();
    let tail = crate::consume::watermark::discover_synced(
        vfs,
        path,
        &file,
        len,
        None,
        &mut scratch,
        naming::is_padded(path),
    );
    let tail = tail.at(path, "read")?;
    let Some(last) = tail.last else {
        return Err(Error::not_a_log(path, "a sealed segment holds no valid record"));
    };
    let link = last_link(&file, tail.end, last.seq).at(path, "read")?;
    Ok((last, link))
}

/// The chain value of the record before `first_seq`, the first seq of the segment a writer
/// appends to, when that segment holds no record yet: the last record of the segment before
/// it, or, when retention removed that segment, the anchor it recorded for `first_seq` in
/// `ndlog.chain` (written before the removal); [`ChainValue::GENESIS`] at seq 1.
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming the file that could not be read; [`crate::ErrorKind::NotALog`]
/// when the segment before ends elsewhere than at `first_seq - 1` or its last record carries no
/// link, or neither that segment nor an anchor gives the value.
pub(crate) fn value_before<V: Vfs>(vfs: &V, dir: &Path, first_seq: u64) -> Result<ChainValue> {
    if first_seq <= 1 {
        return Ok(ChainValue::GENESIS);
    }
    let segments = list_sorted(vfs, dir)?;
    if let Some(previous) = segments.iter().rev().find(|s| s.name.first_seq < first_seq) {
        match sealed_link(vfs, previous) {
            Ok((last, Some(value))) if last.seq + 1 == first_seq => return Ok(value),
            Ok((last, None)) => {
                return Err(Error::not_a_log(
                    &previous.path,
                    format!(
                        "the log is chained, but this segment's last record (seq {}) carries no \
                         chain link: a writer that does not chain appended it, and appending \
                         after it would hide that; `ndlog verify --chain` names it",
                        last.seq
                    ),
                ));
            }
            Ok((last, Some(_))) => {
                return Err(Error::not_a_log(
                    &previous.path,
                    format!(
                        "its last record is seq {}, but the next segment starts at seq \
                         {first_seq}: the chain value before seq {first_seq} is unknown \
                         (`ndlog verify` reports the gap)",
                        last.seq
                    ),
                ));
            }
            // Retention removed it since the listing: its anchor was made durable first.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    let chain_path = names::segmented_chain_file(dir);
    let anchor = ChainFile::read_at(vfs, &chain_path)?.and_then(|f| f.anchor(first_seq));
    anchor.ok_or_else(|| {
        Error::not_a_log(
            &chain_path,
            format!(
                "no segment holds seq {} and no anchor records its chain value: the chain \
                 cannot be continued at seq {first_seq}",
                first_seq - 1
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::chain;
    use crate::segments::Settings;
    use crate::sim::SimFs;

    #[test]
    fn the_worked_example_of_format_md_is_what_the_chain_gives() {
        let mut log = Vec::new();
        let mut value = ChainValue::GENESIS;
        let mut values = Vec::new();
        for (seq, user) in [(1, "u1"), (2, "u2"), (3, "u3")] {
            let data = format!(r#"{{"user":"{user}"}}"#);
            value = chain::encode(&mut log, seq, 1763683200122 + seq, data.as_bytes(), &value);
            values.push(value);
        }
        let format = include_str!("../../FORMAT.md");
        let third = std::str::from_utf8(&log).unwrap().lines().nth(2).unwrap();
        assert!(format.contains(third), "{third}");
        let anchor = format!(r#""anchors":[{{"seq":3,"prev":"{}"}}]}}"#, values[1].to_hex());
        assert!(format.contains(&anchor), "{anchor}");
    }

    #[test]
    fn an_empty_segment_continues_from_the_segment_before_or_retention_anchor() {
        let fs = SimFs::new(1);
        fs.put("/data/.keep", b"");
        let dir = Path::new("/data/log");
        let settings = Settings { segment_records: Some(2), ..Settings::new(2 << 20) };
        let w = crate::Options::new().segments(settings).chain(true).open_in(fs.clone(), dir);
        let w = w.unwrap();
        for n in 0..3 {
            w.append_raw(format!("{n}").as_bytes()).unwrap();
        }
        drop(w);
        let link = |seq| {
            let log = SegmentedReader::open_in(fs.clone(), dir).unwrap();
            chain::link_of(log.get(seq).unwrap().line).unwrap()
        };
        assert_eq!(value_before(&fs, dir, 1).unwrap(), ChainValue::GENESIS);
        assert_eq!(value_before(&fs, dir, 3).unwrap(), link(2));
        // Gone without an anchor: the value is unknown, and the error says so.
        let first = dir.join(crate::segments::SegmentName::sealed(1).file_name());
        let sealed = fs.contents(&first).unwrap();
        fs.remove_file(&first).unwrap();
        let err = value_before(&fs, dir, 3).unwrap_err().to_string();
        assert!(err.contains("no anchor records its chain value"), "{err}");
        let mut file = ChainFile::read_at(&fs, &names::segmented_chain_file(dir)).unwrap().unwrap();
        file.anchors.insert(3, ChainValue([7; 32]));
        file.write_at(&fs, &names::segmented_chain_file(dir), 0o600).unwrap();
        assert_eq!(value_before(&fs, dir, 3).unwrap(), ChainValue([7; 32]));
        // A segment before that does not end just before: refused, naming it.
        fs.put(&first, &sealed[..sealed.iter().position(|&b| b == b'\n').unwrap() + 1]);
        let err = value_before(&fs, dir, 3).unwrap_err().to_string();
        assert!(err.contains("00000000000000000001.ndjson") && err.contains("is seq 1"), "{err}");
    }
}
