//! Walking a chained log's links in file order: [`Reader::verify_chain`], and the per-record walk
//! that provenance shares.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::LineError;
use crate::format::chain::{self, ChainValue, LinkError};
use crate::read::{Entry, Reader, Record};

use super::ChainFile;
use super::parallel::Split;

/// What [`Reader::verify_chain`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Valid records walked.
    pub records: u64,
    /// The first record's seq.
    pub first: Option<u64>,
    /// The last record's seq and the chain value it carries (what a checkpoint states).
    pub last: Option<(u64, ChainValue)>,
    /// The first place the chain does not hold, if any.
    pub failure: Option<ChainFailure>,
}

impl ChainReport {
    /// Whether every link holds.
    pub fn is_intact(&self) -> bool {
        self.failure.is_none()
    }
}

/// Where a chain stops holding: the first seq whose link fails, and the byte offset of its line
/// (or of the damage that stands where it should be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFailure {
    /// The seq whose link fails: the record's, or the seq expected where a record is missing.
    pub seq: u64,
    /// Byte offset of the line (or of the damaged bytes).
    pub offset: u64,
    /// The file that holds it, when the log is several files (a segmented log's segment).
    pub file: Option<PathBuf>,
    /// What does not hold.
    pub problem: ChainProblem,
}

impl fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {} at byte {}", self.seq, self.offset)?;
        if let Some(file) = &self.file {
            write!(f, " of {}", file.display())?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Why a chain does not hold at a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainProblem {
    /// The record's own link: missing, or not the hash of its predecessor and its body (an edit).
    #[error("{0}")]
    Link(LinkError),
    /// A damaged line stands where the record should be (its CRC or frame is wrong).
    #[error("damaged line ({0}) where the record should be")]
    Damaged(LineError),
    /// Records are missing: the seq after the previous record is not the next one, and no anchor
    /// of a compaction covers the gap.
    #[error(
        "records missing: seq {previous} is followed by seq {found}, and no anchor of the chain file (LOG.chain, or ndlog.chain of a segmented log) covers the gap"
    )]
    Gap {
        /// The previous record's seq.
        previous: u64,
        /// The seq that follows it.
        found: u64,
    },
    /// Not after the previous record (seqs must increase).
    #[error("out of order: seq {found} after seq {previous}")]
    OutOfOrder {
        /// The previous record's seq.
        previous: u64,
        /// The seq found.
        found: u64,
    },
    /// The first record is not seq 1 and no anchor says what came before it.
    #[error(
        "the first record is seq {found}, and no anchor of the chain file (LOG.chain, or ndlog.chain of a segmented log) says what preceded it"
    )]
    NoAnchor {
        /// The first record's seq.
        found: u64,
    },
}

/// One record as the walk saw it: its link holds or not (checked against its predecessor's
/// stored value, so a record after a broken one is judged on its own link).
pub(crate) struct Step<'a> {
    pub(crate) record: Record<'a>,
    pub(crate) holds: bool,
    /// The chain value the record stores, if it carries one.
    pub(crate) stored: Option<ChainValue>,
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// Checks the hash chain of a chained log from its first record to its last: each record's
    /// chain value must be the hash of its predecessor's and its own body (FORMAT.md, section
    /// 10), starting from [`ChainValue::GENESIS`] at seq 1 or from an anchor of `chain_file`
    /// (the log's `LOG.chain`) where a compaction removed records. Reports the first seq whose
    /// link fails, with the byte offset of its line.
    ///
    /// # Example
    /// ```
    /// use ndlog::format::chain::{self, ChainValue};
    /// let mut log = Vec::new();
    /// let v1 = chain::encode(&mut log, 1, 10, br#"{"a":1}"#, &ChainValue::GENESIS);
    /// chain::encode(&mut log, 2, 11, br#"{"a":2}"#, &v1);
    /// let report = ndlog::Reader::new(&log).verify_chain(None);
    /// assert!(report.is_intact());
    /// assert_eq!(report.last.map(|(seq, _)| seq), Some(2));
    /// ```
    ///
    /// A log of several MiB is verified on up to four threads, each over a stretch of whole
    /// lines; the report is the one the walk in file order on one thread gives.
    pub fn verify_chain(&self, chain_file: Option<&ChainFile>) -> ChainReport {
        super::parallel::verify(&[(self, None)], chain_file, &Split::auto())
    }
}

/// Damage seen since the previous record: its offset, the file that holds it, and why.
pub(super) type Damage = (u64, Option<PathBuf>, LineError);

/// The reference: the walk over every part in file order on the calling thread, which the
/// split verification must match report for report. `parts` are the log's files in seq order,
/// each with the name failures give it (`None` for a single-file log).
pub(super) fn verify_serial<D: AsRef<[u8]>>(
    parts: &[(&Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
) -> ChainReport {
    let mut report = ChainReport::default();
    let mut walk = Walk::new(chain_file, u64::MAX);
    for &(reader, file) in parts {
        walk.part(reader, file, |step| report.saw(&step));
    }
    report.failure = walk.finish();
    report
}

/// The walk over a log's records in seq order, fed one file at a time (a single-file log is
/// one, a segmented log one per segment), which remembers where the chain stands between
/// files: the previous record's seq and stored value, and damage seen since it.
pub(crate) struct Walk<'c> {
    chain_file: Option<&'c ChainFile>,
    /// Records after this seq are not walked.
    until: u64,
    /// The previous record's seq and stored chain value.
    pub(super) prev: Option<(u64, Option<ChainValue>)>,
    /// Damage seen since the previous record: its offset, file and why.
    pub(super) damage: Option<Damage>,
    /// The first place the chain fails.
    pub(crate) failure: Option<ChainFailure>,
    /// A record after `until` was reached.
    done: bool,
}

impl<'c> Walk<'c> {
    /// A walk with the anchors of `chain_file`, up to seq `until` (inclusive).
    pub(crate) fn new(chain_file: Option<&'c ChainFile>, until: u64) -> Self {
        Walk { chain_file, until, prev: None, damage: None, failure: None, done: false }
    }

    fn anchor(&self, seq: u64) -> Option<ChainValue> {
        match self.chain_file {
            Some(f) => f.anchor(seq),
            None => (seq == 1).then_some(ChainValue::GENESIS),
        }
    }

    /// The first seq a log may start at without an anchor of its own: the largest anchored seq
    /// below it, or 1 (so that an edited first seq is named as the seq it replaced).
    fn expected_first(&self, seq: u64) -> u64 {
        match self.chain_file {
            Some(f) => f.anchors.range(..=seq).next_back().map_or(1, |(&s, _)| s),
            None => 1,
        }
    }

    pub(super) fn fail(&mut self, f: ChainFailure) {
        if self.failure.is_none() {
            self.failure = Some(f);
        }
    }

    /// Walks the records of the next file, `reader` (named `file` in failures, when it is one
    /// of several), calling `each` for every valid record with whether its link holds.
    pub(crate) fn part<'a, D: AsRef<[u8]>>(
        &mut self,
        reader: &'a Reader<D>,
        file: Option<&Path>,
        mut each: impl FnMut(Step<'a>),
    ) {
        if self.done {
            return;
        }
        for entry in reader.entries() {
            if let Entry::Record(r) = entry
                && r.seq > self.until
            {
                self.done = true;
                break;
            }
            if let Some(step) = self.entry(entry, file) {
                each(step);
            }
        }
    }

    /// Takes the next entry of the walk in file order: a record is judged, damage remembered.
    #[inline]
    pub(super) fn entry<'a>(&mut self, entry: Entry<'a>, file: Option<&Path>) -> Option<Step<'a>> {
        match entry {
            Entry::Record(record) => {
                let (holds, stored) = self.record(record.seq, record.offset, record.line, file);
                Some(Step { record, holds, stored })
            }
            Entry::Corrupt { offset, reason, .. } => {
                self.damaged(offset, reason, file);
                None
            }
            Entry::Padding { .. } | Entry::TornTail { .. } => None,
        }
    }

    /// Damage at `offset` of `file`: remembered when it is the first since the previous record.
    fn damaged(&mut self, offset: u64, reason: LineError, file: Option<&Path>) {
        if self.damage.is_none() {
            self.damage = Some((offset, file.map(Path::to_path_buf), reason));
        }
    }

    /// Judges the valid record `seq` whose line (without its newline) is `line`, at `offset`
    /// of `file`, against where the chain stands; returns whether its link holds and the chain
    /// value it stores, and moves the chain on to it.
    #[inline]
    pub(super) fn record(
        &mut self,
        seq: u64,
        offset: u64,
        line: &[u8],
        file: Option<&Path>,
    ) -> (bool, Option<ChainValue>) {
        let at = |offset: u64| (offset, file.map(Path::to_path_buf));
        let expected = match self.prev {
            Some((p, _)) => p.saturating_add(1),
            None => self.expected_first(seq),
        };
        // Where the chain continues from, or why it cannot.
        let from = match self.prev {
            Some((p, _)) if seq <= p => Err(ChainProblem::OutOfOrder { previous: p, found: seq }),
            Some((p, stored)) if seq == p + 1 => Ok(stored),
            Some((p, _)) => {
                self.anchor(seq).map(Some).ok_or(ChainProblem::Gap { previous: p, found: seq })
            }
            None => self.anchor(seq).map(Some).ok_or(ChainProblem::NoAnchor { found: seq }),
        };
        // The stored value, once decoded (64 hex digits a record: decoded once, not per use).
        let mut decoded = None;
        let holds = match from {
            // A predecessor without a link was reported at its own seq.
            Ok(None) => false,
            Ok(Some(prev_value)) => match chain::check_covered(&prev_value, covered(line)) {
                Ok(stored) => {
                    decoded = Some(stored);
                    true
                }
                Err(e) => {
                    let (offset, file) = at(offset);
                    let problem = ChainProblem::Link(e);
                    self.fail(ChainFailure { seq, offset, file, problem });
                    false
                }
            },
            Err(problem) => {
                // Damage where the record should be explains a missing record best.
                let failure = match self.damage.take() {
                    Some((offset, file, reason)) => ChainFailure {
                        seq: expected,
                        offset,
                        file,
                        problem: ChainProblem::Damaged(reason),
                    },
                    None => {
                        let (offset, file) = at(offset);
                        ChainFailure { seq: expected, offset, file, problem }
                    }
                };
                self.fail(failure);
                false
            }
        };
        // Damage between two records whose link holds held no record (crash debris a
        // writer terminated): plain verification reports it; the chain is intact across it.
        self.damage = None;
        // Equal to `decoded` where that is set: both are the link `split_link` reads.
        let stored = decoded.or_else(|| chain::link_of(line));
        self.prev = Some((seq, stored));
        (holds, stored)
    }

    /// Ends the walk: damage after the last record is where a record may have stood.
    pub(crate) fn finish(mut self) -> Option<ChainFailure> {
        if let (Some((offset, file, reason)), Some((p, _))) = (self.damage.take(), self.prev) {
            let problem = ChainProblem::Damaged(reason);
            self.fail(ChainFailure { seq: p + 1, offset, file, problem });
        }
        self.failure
    }
}

/// Checks the hash chain of a log given as its files in seq order — a segmented log's
/// segments, each named by its [`Reader::path`] in a failure — as [`Reader::verify_chain`] does
/// for one file: the chain runs on from one file into the next (on several threads when the
/// files hold several MiB).
///
/// # Example
/// ```
/// use ndlog::format::chain::{self, ChainValue};
/// let (mut first, mut second) = (Vec::new(), Vec::new());
/// let v1 = chain::encode(&mut first, 1, 10, br#"{"a":1}"#, &ChainValue::GENESIS);
/// chain::encode(&mut second, 2, 11, br#"{"a":2}"#, &v1);
/// let (a, b) = (ndlog::Reader::new(&first), ndlog::Reader::new(&second));
/// let report = ndlog::chain::verify_parts([&a, &b], None);
/// assert!(report.is_intact());
/// assert_eq!(report.last.map(|(seq, _)| seq), Some(2));
/// ```
pub fn verify_parts<'a, D: AsRef<[u8]> + 'a>(
    parts: impl IntoIterator<Item = &'a Reader<D>>,
    chain_file: Option<&ChainFile>,
) -> ChainReport {
    let parts: Vec<_> = parts.into_iter().map(|r| (r, Some(r.path()))).collect();
    super::parallel::verify(&parts, chain_file, &Split::auto())
}

impl ChainReport {
    pub(super) fn saw(&mut self, step: &Step<'_>) {
        self.records += 1;
        self.first.get_or_insert(step.record.seq);
        self.last = step.stored.map(|v| (step.record.seq, v));
    }
}

/// The CRC-covered part of a valid record line.
fn covered(line: &[u8]) -> &[u8] {
    &line[..line.len() - crate::format::TRAILER_LEN]
}
