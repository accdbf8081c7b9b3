//! [`Reader::verify`] on several threads: the mapped bytes cut into stretches of whole lines,
//! each tallied on its own thread, the tallies merged in file order into the summary the scan
//! in file order gives ([`Reader::verify_in_order`], the reference).
//!
//! A line is parsed the same wherever a scan starts, as long as it starts at a line start (the
//! bytes between two newlines decide alone what they hold: `format::resync`; writers and the
//! compactor read stretches of a log the same way, `read::chunks`), so a stretch yields the
//! same entries as the whole file over its bytes. What crosses a cut is the order check of a
//! stretch's first record against the last record before it, which the merge makes, and the
//! list of problems, which the merge puts back in file order and cuts at
//! [`Summary::MAX_LISTED`]. The bytes after the mapped part (copied, or not read) belong to the
//! last stretch, which the calling thread tallies. The cutting and the threads are
//! `read::stretches`'.

use super::reader::{Entries, Problem, Reader, Summary};
use super::stretches::{in_parallel, line_starts, step, threads};
use crate::format::LineError;
use crate::read::Entry;

/// Below this many mapped bytes the scan stays on the calling thread: at ~1 GB/s a core with
/// JSON validation, 8 MiB is ~8 ms of work, against tens of microseconds to start a thread.
const MIN_BYTES: usize = 8 << 20;

/// How [`Reader::verify_split`] cuts the work; [`VerifySplit::auto`] is what
/// [`Reader::verify`] uses, tests force the rest.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySplit {
    /// Threads, the calling one included (`None`: the available parallelism, at most four).
    pub threads: Option<usize>,
    /// Below this many mapped bytes, the scan in file order on the calling thread.
    pub min_bytes: usize,
    /// Cut about every this many bytes (`None`: four stretches a thread, each at least 1 MiB),
    /// each cut moved on to the next line start.
    pub chunk_bytes: Option<usize>,
}

impl VerifySplit {
    /// The split [`Reader::verify`] uses.
    pub fn auto() -> VerifySplit {
        VerifySplit { threads: None, min_bytes: MIN_BYTES, chunk_bytes: None }
    }
}

/// A stretch's first record: seq, ts, offset, length with its newline.
type First = (u64, u64, u64, u64);

/// Tallies `entries` into `summary`, each record's order checked against the one before it
/// (`previous`, for the first: `None` leaves it unjudged); returns the first record.
pub(super) fn tally(
    entries: Entries<'_>,
    summary: &mut Summary,
    mut previous: Option<(u64, u64)>,
) -> Option<First> {
    let mut first = None;
    for entry in entries {
        match entry {
            Entry::Record(r) => {
                summary.records += 1;
                if let Some((seq, ts)) = previous
                    && (r.seq <= seq || r.ts < ts)
                {
                    summary.out_of_order += 1;
                    let reason = out_of_order(seq, ts, r.seq);
                    summary.note_problem(r.offset, r.line.len() as u64 + 1, reason);
                }
                first.get_or_insert((r.seq, r.ts, r.offset, r.line.len() as u64 + 1));
                summary.first.get_or_insert((r.seq, r.ts));
                summary.last = Some((r.seq, r.ts));
                previous = Some((r.seq, r.ts));
            }
            Entry::Corrupt { offset, len, reason } => {
                summary.corrupt_lines += 1;
                summary.corrupt_bytes += len;
                summary.note_problem(offset, len, reason);
            }
            Entry::Padding { len, .. } => summary.padding_bytes += len,
            Entry::TornTail { offset, len } => summary.torn_tail = Some((offset, len)),
        }
    }
    first
}

pub(super) fn verify<D: AsRef<[u8]>>(reader: &Reader<D>, split: &VerifySplit) -> Summary {
    let data = reader.bytes();
    if data.len() < split.min_bytes {
        // (Before asking for the parallelism, which reads files: a small scan allocates nothing.)
        return reader.verify_in_order();
    }
    let threads = threads(split.threads);
    if threads <= 1 {
        return reader.verify_in_order();
    }
    let step = split.chunk_bytes.map_or_else(|| step(data.len() as u64, threads), |b| b as u64);
    let starts = line_starts(data, step);
    let last = starts.len() - 1;
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
    let json = reader.json;
    // The stretches before the last over the mapped bytes alone (which every thread may share,
    // whatever `D` is); the last, with the bytes after the mapped part, on this thread.
    let (own, tallies) = in_parallel(
        last,
        threads,
        || {
            let mut summary = Summary::default();
            let first = tally(reader.entries_from(starts[last] as u64), &mut summary, None);
            (summary, first)
        },
        |i| {
            let view = Reader::new(&data[..ends[i]]).validate_json(json);
            let mut summary = Summary::default();
            let first = tally(view.entries_from(starts[i] as u64), &mut summary, None);
            (summary, first)
        },
    );
    let bytes = (data.len() + reader.beyond.bytes.len()) as u64 + reader.beyond.unread;
    let mut merged = Summary { bytes, ..Summary::default() };
    for (part, first) in tallies.into_iter().chain([own]) {
        if let (Some((seq, ts, offset, len)), Some((last_seq, last_ts))) = (first, merged.last)
            && (seq <= last_seq || ts < last_ts)
        {
            merged.out_of_order += 1;
            let reason = out_of_order(last_seq, last_ts, seq);
            merged.problems.push(Problem { offset, len, reason });
        }
        merged.records += part.records;
        merged.corrupt_lines += part.corrupt_lines;
        merged.corrupt_bytes += part.corrupt_bytes;
        merged.out_of_order += part.out_of_order;
        merged.padding_bytes += part.padding_bytes;
        merged.first = merged.first.or(part.first);
        merged.last = part.last.or(merged.last);
        merged.torn_tail = part.torn_tail.or(merged.torn_tail);
        merged.problems.extend(part.problems);
    }
    // In file order, as the scan in file order lists them (each stretch listed its own first
    // ones; the boundary checks went in after the stretch before).
    merged.problems.sort_by_key(|p| p.offset);
    merged.problems.truncate(Summary::MAX_LISTED);
    merged
}

/// Why a record with seq `seq` after one with `previous_seq` and `previous_ts` is out of
/// order: its seq, or else its ts.
fn out_of_order(previous_seq: u64, previous_ts: u64, seq: u64) -> LineError {
    match seq <= previous_seq {
        true => LineError::OutOfOrder { previous: previous_seq },
        false => LineError::TsBackwards { previous: previous_ts },
    }
}
