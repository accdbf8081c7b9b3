//! What a writer of a segmented log reads of the segments before its active one: the dedup
//! window and the entity versions reach back across rolls.

use std::io;
use std::ops::ControlFlow;
use std::path::Path;

use crate::fs::Vfs;
use crate::read::{Reader, Record};

use super::list::list_sorted;

/// The sealed segments of `dir` that come before the segment starting at `first_seq`, as
/// seen from a writer: where to look, and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Older<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) first_seq: u64,
}

impl Older<'_> {
    /// Calls `f` with their records, newest first, until it breaks. A segment retention
    /// removes meanwhile is skipped.
    pub(crate) fn rev_records<V: Vfs>(
        &self,
        vfs: &V,
        mut f: impl FnMut(Record<'_>) -> ControlFlow<()>,
    ) -> io::Result<()> {
        let segments = list_sorted(vfs, self.dir).map_err(io::Error::from)?;
        for segment in segments.iter().rev().filter(|s| s.name.first_seq < self.first_seq) {
            let reader = match Reader::open_in(vfs.clone(), &segment.path) {
                Ok(reader) => reader,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            for r in reader.records_rev() {
                if f(r).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The payload of the record `seq`, found by the segment names and that segment's index.
    pub(crate) fn payload<V: Vfs>(&self, vfs: &V, seq: u64) -> io::Result<Option<Vec<u8>>> {
        let segments = list_sorted(vfs, self.dir).map_err(io::Error::from)?;
        let i = segments.partition_point(|s| s.name.first_seq <= seq);
        let Some(segment) = i.checked_sub(1).map(|i| &segments[i]) else { return Ok(None) };
        match Reader::open_in(vfs.clone(), &segment.path) {
            Ok(reader) => Ok(reader.get(seq).map(|r| r.data.to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
