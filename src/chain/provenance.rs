//! An entity's provenance: its versions, each with whether its chain link holds, and whether
//! the chain holds from the start of the log up to the newest version.

use crate::json::JsonPointer;
use crate::read::{Reader, Record};

use super::ChainFile;
use std::path::Path;

use super::verify::{ChainFailure, Walk};

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
        provenance_of(&[(self, None)], chain_file, key, entity)
    }
}

/// [`Reader::provenance`] over a log given as its files in seq order (a segmented log's
/// segments, each named in a failure by its [`Reader::path`]): the versions come from every
/// file, and the chain runs on from one file into the next.
///
/// # Example
/// ```
/// use ndlog::format::chain::{self, ChainValue};
/// let (mut first, mut second) = (Vec::new(), Vec::new());
/// let v = chain::encode(&mut first, 1, 10, br#"{"id":"a","n":1}"#, &ChainValue::GENESIS);
/// chain::encode(&mut second, 2, 11, br#"{"id":"a","n":2}"#, &v);
/// let (a, b) = (ndlog::Reader::new(&first), ndlog::Reader::new(&second));
/// let key = ndlog::JsonPointer::parse("/id")?;
/// let p = ndlog::chain::provenance_parts(&[&a, &b], None, &key, "a");
/// assert_eq!(p.versions.len(), 2);
/// assert!(p.failure.is_none());
/// # Ok::<(), ndlog::Error>(())
/// ```
pub fn provenance_parts<'a, D: AsRef<[u8]>>(
    parts: &[&'a Reader<D>],
    chain_file: Option<&ChainFile>,
    key: &JsonPointer,
    entity: &str,
) -> Provenance<'a> {
    let parts: Vec<_> = parts.iter().map(|&r| (r, Some(r.path()))).collect();
    provenance_of(&parts, chain_file, key, entity)
}

/// [`Reader::provenance`] over files in seq order, each named in a failure as given.
fn provenance_of<'a, D: AsRef<[u8]>>(
    parts: &[(&'a Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
    key: &JsonPointer,
    entity: &str,
) -> Provenance<'a> {
    let seqs: Vec<u64> =
        parts.iter().flat_map(|(reader, _)| reader.history(key, entity).map(|r| r.seq)).collect();
    let mut versions = Vec::with_capacity(seqs.len());
    let Some(&newest) = seqs.last() else {
        return Provenance { versions, failure: None };
    };
    let mut wanted = seqs.iter().peekable();
    let mut walk = Walk::new(chain_file, newest);
    for (reader, file) in parts {
        walk.part(*reader, *file, |step| {
            while wanted.next_if(|&&s| s < step.record.seq).is_some() {}
            if wanted.next_if_eq(&&step.record.seq).is_some() {
                versions.push(Version { record: step.record, link_holds: step.holds });
            }
        });
    }
    Provenance { versions, failure: walk.finish() }
}
