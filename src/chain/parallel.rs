//! Verifying a chain on several threads: each file of the log cut into stretches of whole
//! lines, each stretch walked on its own thread, the results merged in file order into the
//! report the walk in file order gives ([`super::verify::verify_serial`], the reference).
//!
//! Why a stretch can be walked without the ones before it: a record's link is checked against
//! the chain value its predecessor's line *stores*, not against a value computed through the
//! whole history, so where the walk stands at a line start is only (a) the last valid record
//! before it, its seq and stored value, and (b) the first damage after that record. A line is
//! parsed the same wherever a scan starts, as long as it starts at a line start (the bytes
//! between two newlines decide alone what they hold: `format::resync`), so a stretch yields
//! the same entries as the whole file does over those bytes. Each stretch therefore reports
//!
//! - the first damage before its first record (`lead`),
//! - its first record, which it does not judge: that needs (a) and (b) from before it,
//! - and, walked from that record on, its records, its first failure, and where the chain
//!   stands at its end (last record, damage after it).
//!
//! The merge runs the one judgement left per stretch, its first record's, with the state the
//! stretches before it leave, in file order; a failure of a stretch comes after every failure
//! of the stretches before it, so the first one kept is the serial walk's. No cut can fall
//! inside a line, so there is no ambiguity to fall back from: damage that spans a cut is two
//! damaged lines either way, and the tests compare both walks with cuts at every byte.

use std::path::Path;

use super::ChainFile;
use super::verify::{ChainReport, Damage, Step, Walk, verify_serial};
use crate::read::stretches::{in_parallel, line_start_at, line_starts, step, threads};
use crate::read::{Entry, Reader, Record};

/// Below this many bytes the walk stays on the calling thread: at ~0.7 GB/s a core, 4 MiB is
/// ~6 ms of work, against tens of microseconds to start a thread.
const MIN_BYTES: u64 = 4 << 20;

/// How a chain verification is split across threads. [`Split::auto`] is what
/// [`Reader::verify_chain`] and [`super::verify_parts`] use; tests force the other fields.
#[doc(hidden)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Threads, the calling one included (`None`: the available parallelism, at most four).
    /// With one, the stretches are walked one after the other and merged all the same.
    pub threads: Option<usize>,
    /// Below this many bytes in all, the walk in file order on the calling thread.
    pub min_bytes: u64,
    /// Cut each file about every this many bytes (`None`: the bytes shared evenly by
    /// four stretches a thread, each at least 1 MiB).
    pub chunk_bytes: Option<u64>,
    /// Cut exactly here instead: `(file, byte offset)`, each moved on to the next line start.
    pub cuts: Option<Vec<(usize, u64)>>,
}

impl Split {
    /// The split the library uses: threads when the log holds at least 4 MiB.
    pub fn auto() -> Split {
        Split { threads: None, min_bytes: MIN_BYTES, chunk_bytes: None, cuts: None }
    }
}

/// Verifies the chain of the log whose files in seq order are `parts`, each with the name
/// failures give it (`None` for a single-file log), split as `split` says; the report is the
/// walk's in file order whatever the split.
#[doc(hidden)]
pub fn verify_split<D: AsRef<[u8]>>(
    parts: &[(&Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
    split: &Split,
) -> ChainReport {
    verify(parts, chain_file, split)
}

/// The walk over `parts` in file order, as [`verify_serial`] does it on one thread.
#[doc(hidden)]
pub fn verify_in_order<D: AsRef<[u8]>>(
    parts: &[(&Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
) -> ChainReport {
    verify_serial(parts, chain_file)
}

/// A stretch of whole lines of one file: `part`'s bytes `start..end`.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    part: usize,
    start: usize,
    end: usize,
}

/// What a stretch holds, walked without the stretches before it.
struct Walked<'v, 'c> {
    /// The first damage before its first record.
    lead: Option<Damage>,
    /// Its first record, judged by the merge.
    first: Option<Record<'v>>,
    /// Records after the first.
    rest: u64,
    /// The walk from the first record on: its failures, and where the chain stands at the end.
    walk: Walk<'c>,
}

pub(super) fn verify<D: AsRef<[u8]>>(
    parts: &[(&Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
    split: &Split,
) -> ChainReport {
    let total: u64 = parts.iter().map(|(r, _)| size(r)).sum();
    if total < split.min_bytes {
        return verify_serial(parts, chain_file);
    }
    let threads = threads(split.threads);
    let chunk_bytes = split.chunk_bytes.unwrap_or_else(|| step(total, threads));
    // Readers of the mapped bytes alone, which every thread may share whatever `D` is; the
    // bytes a file has beyond them (copied, not mapped) are walked by the merge.
    let views: Vec<Reader<&[u8]>> =
        parts.iter().map(|(r, _)| Reader::new(r.bytes()).validate_json(r.json)).collect();
    let chunks = plan(&views, split.cuts.as_deref(), chunk_bytes);
    let walked = walk_all(&views, parts, &chunks, chain_file, threads);

    let mut report = ChainReport::default();
    let mut walk = Walk::new(chain_file, u64::MAX);
    for (chunk, done) in chunks.iter().zip(walked) {
        let (reader, file) = parts[chunk.part];
        if walk.damage.is_none() {
            walk.damage = done.lead;
        }
        if let Some(record) = done.first {
            let (holds, stored) = walk.record(record.seq, record.offset, record.line, file);
            report.saw(&Step { record, holds, stored });
            report.records += done.rest;
            if let Some(failure) = done.walk.failure {
                walk.fail(failure);
            }
            walk.prev = done.walk.prev;
            walk.damage = done.walk.damage;
        }
        if chunk.end == views[chunk.part].bytes().len() {
            // What the file holds after its mapped bytes.
            for entry in reader.entries_from(chunk.end as u64) {
                if let Some(step) = walk.entry(entry, file) {
                    report.saw(&step);
                }
            }
        }
    }
    report.last = walk.prev.and_then(|(seq, stored)| stored.map(|v| (seq, v)));
    report.failure = walk.finish();
    report
}

/// Bytes a reader holds: mapped, copied after them, and not read.
fn size<D: AsRef<[u8]>>(reader: &Reader<D>) -> u64 {
    (reader.bytes().len() + reader.beyond.bytes.len()) as u64 + reader.beyond.unread
}

/// The stretches, in file order: each file cut at `cuts` (those naming it) or about every
/// `chunk_bytes`, each cut moved on to the next line start. Every file has at least one.
fn plan(views: &[Reader<&[u8]>], cuts: Option<&[(usize, u64)]>, chunk_bytes: u64) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut starts = Vec::new();
    for (part, view) in views.iter().enumerate() {
        let data = view.bytes();
        starts.clear();
        match cuts {
            Some(cuts) => {
                let at = |cut: u64| usize::try_from(cut).ok().and_then(|c| line_start_at(data, c));
                starts.push(0);
                starts.extend(cuts.iter().filter(|c| c.0 == part).filter_map(|c| at(c.1)));
                starts.sort_unstable();
                starts.dedup();
            }
            None => starts.extend(line_starts(data, chunk_bytes)),
        }
        let ends = starts.iter().skip(1).copied().chain([data.len()]);
        chunks.extend(starts.iter().zip(ends).map(|(&start, end)| Chunk { part, start, end }));
    }
    chunks
}

/// Walks every stretch, on `threads` threads (the calling one included), each taking the
/// next stretch not yet taken; the results in the stretches' order.
fn walk_all<'v, 'c, D: AsRef<[u8]>>(
    views: &'v [Reader<&[u8]>],
    parts: &[(&Reader<D>, Option<&Path>)],
    chunks: &[Chunk],
    chain_file: Option<&'c ChainFile>,
    threads: usize,
) -> Vec<Walked<'v, 'c>> {
    let files: Vec<Option<&Path>> = parts.iter().map(|&(_, file)| file).collect();
    let walk = |i: usize| {
        let chunk = chunks[i];
        walk_chunk(&views[chunk.part], chunk, files[chunk.part], chain_file)
    };
    in_parallel(chunks.len(), threads, || (), walk).1
}

/// Walks one stretch on its own: its lead damage and first record, then the walk from that
/// record on, which starts where the first record leaves the chain (its seq and stored value).
fn walk_chunk<'v, 'c>(
    view: &'v Reader<&[u8]>,
    chunk: Chunk,
    file: Option<&Path>,
    chain_file: Option<&'c ChainFile>,
) -> Walked<'v, 'c> {
    let end = chunk.end as u64;
    let mut entries = view.entries_from(chunk.start as u64);
    let mut lead = None;
    let mut first = None;
    while entries.position() < end {
        match entries.next() {
            Some(Entry::Record(r)) => {
                first = Some(r);
                break;
            }
            Some(Entry::Corrupt { offset, reason, .. }) => {
                lead.get_or_insert_with(|| (offset, file.map(Path::to_path_buf), reason));
            }
            Some(Entry::Padding { .. } | Entry::TornTail { .. }) => {}
            None => break,
        }
    }
    let mut walk = Walk::new(chain_file, u64::MAX);
    let mut rest = 0;
    if let Some(r) = first {
        // What `Walk::record` leaves after judging it, whichever way it is judged.
        walk.prev = Some((r.seq, crate::format::chain::link_of(r.line)));
        while entries.position() < end {
            let Some(entry) = entries.next() else { break };
            if walk.entry(entry, file).is_some() {
                rest += 1;
            }
        }
    }
    Walked { lead, first, rest, walk }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_every_byte_once_in_order() {
        let data = b"ab\ncd\n\nef\ngh\n".to_vec();
        let views = [Reader::new(&data[..]), Reader::new(&data[..4])];
        for step in 1..=14 {
            let chunks = plan(&views, None, step);
            let mut next = (0, 0);
            for c in &chunks {
                if c.part != next.0 {
                    assert_eq!(next.1, views[next.0].bytes().len());
                    next = (c.part, 0);
                }
                assert_eq!(c.start, next.1, "{chunks:?}");
                assert!(c.start < c.end || c.end == views[c.part].bytes().len());
                next.1 = c.end;
            }
            assert_eq!(next, (1, 4));
        }
    }
}
