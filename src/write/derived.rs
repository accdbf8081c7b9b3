//! The derived states a writer handle was opened with, fed from one place: [`Derived::catch_up`]
//! before seqs are assigned (other writers may have appended), [`Derived::wrote`] for every
//! record this handle encodes, [`Derived::written`] once the batch is in the file, and
//! [`Derived::reset`] when a failed write leaves the end of the file unknown.

use std::io;

use crate::fs::Vfs;

use super::dedup::DedupState;
use super::derive::{Derive, LogAt, Written};
use super::index::IndexWriter;
use super::versions::Versions;

/// The derived states of one writer handle.
#[derive(Debug)]
pub(crate) struct Derived<V: Vfs> {
    pub(crate) dedup: Option<DedupState>,
    pub(crate) index: Option<IndexWriter<V::File>>,
    pub(crate) versions: Option<Versions>,
}

impl<V: Vfs> Derived<V> {
    fn each(&mut self) -> impl Iterator<Item = &mut dyn Derive<V>> {
        let dedup = self.dedup.iter_mut().map(|d| d as &mut dyn Derive<V>);
        let versions = self.versions.iter_mut().map(|v| v as &mut dyn Derive<V>);
        dedup.chain(self.index.iter_mut().map(|i| i as &mut dyn Derive<V>)).chain(versions)
    }

    /// See [`Derive::opened`].
    pub(crate) fn opened(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.each().try_for_each(|part| part.opened(log))
    }

    /// See [`Derive::catch_up`].
    pub(crate) fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.each().try_for_each(|part| part.catch_up(log))
    }

    /// See [`Derive::wrote`].
    pub(crate) fn wrote(&mut self, record: &Written<'_>) {
        self.each().for_each(|part| part.wrote(record));
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
