//! The derived states a writer handle was opened with, fed from one place: [`Derived::catch_up`]
//! before seqs are assigned (other writers may have appended), [`Derived::wrote`] for every
//! record this handle encodes, [`Derived::written`] once the batch is in the file, and
//! [`Derived::reset`] when a failed write leaves the end of the file unknown. The hash chain is
//! the one derived state that also shapes the bytes written: [`Derived::encode`].

use std::io;

use crate::fs::Vfs;

use super::chain::ChainWriter;
use super::dedup::DedupState;
use super::derive::{Derive, LogAt, Written};
use super::index::IndexWriter;
use super::versions::Versions;

/// The derived states of one writer handle.
#[derive(Debug)]
pub(crate) struct Derived<V: Vfs> {
    pub(crate) dedup: Option<DedupState>,
    pub(crate) index: Option<IndexWriter<V::File>>,
    pub(crate) versions: Option<Versions<V::File>>,
    /// The hash chain of a chained log: it also encodes the records (see [`Derived::encode`]).
    pub(crate) chain: Option<ChainWriter>,
}

impl<V: Vfs> Derived<V> {
    fn each(&mut self) -> impl Iterator<Item = &mut dyn Derive<V>> {
        let dedup = self.dedup.iter_mut().map(|d| d as &mut dyn Derive<V>);
        let versions = self.versions.iter_mut().map(|v| v as &mut dyn Derive<V>);
        let chain = self.chain.iter_mut().map(|c| c as &mut dyn Derive<V>);
        dedup
            .chain(self.index.iter_mut().map(|i| i as &mut dyn Derive<V>))
            .chain(versions)
            .chain(chain)
    }

    /// Appends the next record line of `lines` for `data` to `out`: with its chain link when
    /// the log is chained, else as [`crate::format::encode_marked`] does; with `marks`, where
    /// the record stands in its write.
    pub(crate) fn encode(
        &mut self,
        out: &mut Vec<u8>,
        lines: &mut crate::format::Consecutive,
        ts: u64,
        data: &[u8],
        marks: crate::format::Marks,
    ) {
        match &mut self.chain {
            Some(chain) => {
                chain.encode(out, lines.seq(), ts, data, marks);
                lines.skip();
            }
            None => lines.encode(out, data, marks),
        }
    }

    /// See [`Derive::opened`].
    pub(crate) fn opened(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.each().try_for_each(|part| part.opened(log))
    }

    /// See [`Derive::catch_up`].
    pub(crate) fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.each().try_for_each(|part| part.catch_up(log))
    }

    /// See [`Derive::wrote`]. Called for every record written: each part directly, in the order
    /// of [`Derived::each`], without its chain of `dyn` iterators.
    pub(crate) fn wrote(&mut self, record: &Written<'_>) {
        let Derived { dedup, index, versions, chain } = self;
        if let Some(d) = dedup {
            Derive::<V>::wrote(d, record);
        }
        if let Some(i) = index {
            Derive::<V>::wrote(i, record);
        }
        if let Some(v) = versions {
            Derive::<V>::wrote(v, record);
        }
        if let Some(c) = chain {
            Derive::<V>::wrote(c, record);
        }
    }

    /// See [`Derive::written`].
    pub(crate) fn written(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.each().try_for_each(|part| part.written(log))
    }

    /// See [`Derive::reset`].
    pub(crate) fn reset(&mut self) {
        self.each().for_each(|part| part.reset());
    }
}
