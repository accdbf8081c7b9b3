//! Walking a chained log's links in file order: [`Reader::verify_chain`], and the per-record walk
//! that provenance shares.

use std::fmt;

use crate::error::LineError;
use crate::format::chain::{self, ChainValue, LinkError};
use crate::read::{Entry, Reader, Record};

use super::ChainFile;

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
    /// What does not hold.
    pub problem: ChainProblem,
}

impl fmt::Display for ChainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {} at byte {}: {}", self.seq, self.offset, self.problem)
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
        "records missing: seq {previous} is followed by seq {found}, and no anchor in LOG.chain covers the gap"
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
    #[error("the first record is seq {found}, and no anchor in LOG.chain says what preceded it")]
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
    pub fn verify_chain(&self, chain_file: Option<&ChainFile>) -> ChainReport {
        let mut report = ChainReport::default();
        walk(
            self,
            chain_file,
            u64::MAX,
            |step| {
                report.records += 1;
                report.first.get_or_insert(step.record.seq);
                report.last = step.stored.map(|v| (step.record.seq, v));
            },
            &mut report.failure,
        );
        report
    }
}

/// Walks the records up to seq `until` (inclusive), calling `each` for every valid record with
/// whether its link holds, and noting the first failure in `failure`.
pub(crate) fn walk<'a, D: AsRef<[u8]>>(
    reader: &'a Reader<D>,
    chain_file: Option<&ChainFile>,
    until: u64,
    mut each: impl FnMut(Step<'a>),
    failure: &mut Option<ChainFailure>,
) {
    let anchor = |seq: u64| match chain_file {
        Some(f) => f.anchor(seq),
        None => (seq == 1).then_some(ChainValue::GENESIS),
    };
    // The first seq a log may start at without an anchor of its own: the largest anchored seq
    // below it, or 1 (so that an edited first seq is named as the seq it replaced).
    let expected_first = |seq: u64| match chain_file {
        Some(f) => f.anchors.range(..=seq).next_back().map_or(1, |(&s, _)| s),
        None => 1,
    };
    let mut fail = |f: ChainFailure| {
        if failure.is_none() {
            *failure = Some(f);
        }
    };
    // The previous record's seq and stored chain value.
    let mut prev: Option<(u64, Option<ChainValue>)> = None;
    // Damage seen since the previous record.
    let mut damage: Option<(u64, LineError)> = None;
    for entry in reader.entries() {
        let r = match entry {
            Entry::Record(r) => r,
            Entry::Corrupt { offset, reason, .. } => {
                damage.get_or_insert((offset, reason));
                continue;
            }
            Entry::Padding { .. } | Entry::TornTail { .. } => continue,
        };
        if r.seq > until {
            break;
        }
        let expected = match prev {
            Some((p, _)) => p.saturating_add(1),
            None => expected_first(r.seq),
        };
        let at_damage = |seq| damage.map(|(offset, reason)| (seq, offset, reason));
        // Where the chain continues from, or why it cannot.
        let from = match prev {
            Some((p, _)) if r.seq <= p => {
                Err(ChainProblem::OutOfOrder { previous: p, found: r.seq })
            }
            Some((p, stored)) if r.seq == p + 1 => Ok(stored),
            Some((p, _)) => {
                anchor(r.seq).map(Some).ok_or(ChainProblem::Gap { previous: p, found: r.seq })
            }
            None => anchor(r.seq).map(Some).ok_or(ChainProblem::NoAnchor { found: r.seq }),
        };
        // The stored value, once decoded (64 hex digits a record: decoded once, not per use).
        let mut decoded = None;
        let holds = match from {
            // A predecessor without a link was reported at its own seq.
            Ok(None) => false,
            Ok(Some(prev_value)) => match chain::check_covered(&prev_value, covered(r.line)) {
                Ok(stored) => {
                    decoded = Some(stored);
                    true
                }
                Err(e) => {
                    fail(ChainFailure {
                        seq: r.seq,
                        offset: r.offset,
                        problem: ChainProblem::Link(e),
                    });
                    false
                }
            },
            Err(problem) => {
                // Damage where the record should be explains a missing record best.
                match at_damage(expected) {
                    Some((seq, offset, reason)) => {
                        fail(ChainFailure { seq, offset, problem: ChainProblem::Damaged(reason) })
                    }
                    None => fail(ChainFailure { seq: expected, offset: r.offset, problem }),
                }
                false
            }
        };
        // Damage between two records whose link holds held no record (crash debris a writer
        // terminated): plain verification reports it; the chain is intact across it.
        damage = None;
        let stored = decoded.or_else(|| chain::link_of(r.line));
        prev = Some((r.seq, stored));
        each(Step { record: r, holds, stored });
    }
    if let (Some((offset, reason)), Some((p, _))) = (damage, prev) {
        // Damage after the last record: a record may have stood there.
        fail(ChainFailure { seq: p + 1, offset, problem: ChainProblem::Damaged(reason) });
    }
}

/// The CRC-covered part of a valid record line.
fn covered(line: &[u8]) -> &[u8] {
    &line[..line.len() - crate::format::TRAILER_LEN]
}
