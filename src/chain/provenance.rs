//! An entity's provenance: its versions, each with whether its chain link holds, and whether
//! the chain holds from the start of the log up to the newest version.

use crate::json::JsonPointer;
use crate::read::{Reader, Record};

use super::ChainFile;
use super::verify::{ChainFailure, walk};

/// One version of an entity and whether its link holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version<'a> {
    /// The record.
    pub record: Record<'a>,
    /// Whether its chain value is the hash of its predecessor's and its own body.
    pub link_holds: bool,
}

/// What [`Reader::provenance`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance<'a> {
    /// The entity's versions, oldest first.
    pub versions: Vec<Version<'a>>,
    /// The first place the chain fails from the log's start up to the newest version.
    pub failure: Option<ChainFailure>,
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// The versions of one entity (as [`Reader::history`]), each with whether its chain link
    /// holds, and the first failure of the chain from the log's start through the newest
    /// version: a version whose own link holds is trustworthy only if everything before it
    /// holds too.
    ///
    /// # Example
    /// ```
    /// use ndlog::format::chain::{self, ChainValue};
    /// let mut log = Vec::new();
    /// let v = chain::encode(&mut log, 1, 10, br#"{"id":"a","n":1}"#, &ChainValue::GENESIS);
    /// chain::encode(&mut log, 2, 11, br#"{"id":"a","n":2}"#, &v);
    /// let reader = ndlog::Reader::new(&log);
    /// let key = ndlog::JsonPointer::parse("/id")?;
    /// let p = reader.provenance(None, &key, "a");
    /// assert_eq!(p.versions.len(), 2);
    /// assert!(p.versions.iter().all(|v| v.link_holds) && p.failure.is_none());
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn provenance<'a>(
        &'a self,
        chain_file: Option<&ChainFile>,
        key: &JsonPointer,
        entity: &str,
    ) -> Provenance<'a> {
        let seqs: Vec<u64> = self.history(key, entity).map(|r| r.seq).collect();
        let mut versions = Vec::with_capacity(seqs.len());
        let mut failure = None;
        if let Some(&newest) = seqs.last() {
            let mut wanted = seqs.iter().peekable();
            walk(
                self,
                chain_file,
                newest,
                |step| {
                    while wanted.next_if(|&&s| s < step.record.seq).is_some() {}
                    if wanted.next_if_eq(&&step.record.seq).is_some() {
                        versions.push(Version { record: step.record, link_holds: step.holds });
                    }
                },
                &mut failure,
            );
        }
        Provenance { versions, failure }
    }
}
