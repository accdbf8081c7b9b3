//! [`Lookup`]: a log read by seq, whichever its kind, for what compares chain values at a seq
//! ([`super::diverge`], [`super::Checkpoint`]).

use std::path::Path;

use crate::read::{Reader, Record};

/// A log whose records can be found by seq: a single file ([`Reader`]) or a segmented log
/// ([`crate::segments::SegmentedReader`], [`crate::Log`]). [`super::diverge`] and
/// [`super::Checkpoint`] read chain values through it, one record at a time.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::segments::{SegmentedReader, Settings};
/// let path = dir.path().join("events");
/// let settings = Settings { segment_records: Some(2), ..Settings::new(2 << 20) };
/// let writer = ndlog::Options::new().segments(settings).chain(true).open(&path)?;
/// for n in 0..5 {
///     writer.append(&n)?;
/// }
/// // The same records as one file: the segments concatenated.
/// let log = SegmentedReader::open(&path)?;
/// let whole: Vec<u8> = log.parts().iter().flat_map(|p| p.reader.bytes().to_vec()).collect();
/// let file = ndlog::Reader::new(whole);
/// let d = ndlog::chain::diverge(&log, &file).unwrap();
/// assert_eq!((d.last_common, d.forked), (Some(5), false));
/// # Ok::<(), ndlog::Error>(())
/// ```
pub trait Lookup {
    /// The record with sequence number `seq` (through the index, and a segmented log's names).
    fn record(&self, seq: u64) -> Option<Record<'_>>;
    /// The first record.
    fn first_record(&self) -> Option<Record<'_>>;
    /// The last record.
    fn last_record(&self) -> Option<Record<'_>>;
    /// The log's path, for messages.
    fn location(&self) -> &Path;
}

impl<D: AsRef<[u8]>> Lookup for Reader<D> {
    fn record(&self, seq: u64) -> Option<Record<'_>> {
        self.get(seq)
    }

    fn first_record(&self) -> Option<Record<'_>> {
        self.records().next()
    }

    fn last_record(&self) -> Option<Record<'_>> {
        self.last()
    }

    fn location(&self) -> &Path {
        self.path()
    }
}
