//! The index checked against the log it describes: a reader trusts `LOG.idx` only as far as
//! its entries point at the records they name, and `index --check` compares it entry by entry
//! with what a rebuild would write.

use crate::fs::FileId;
use crate::index::{
    ENTRY_LEN, HEADER_LEN, Header, Index, IndexCheck, IndexEntry, IndexProblem, Selector,
};

use super::Reader;

/// Entries checked against the log, evenly spaced, when an index is attached to a reader.
const SAMPLES: usize = 8;
/// Torn or stale entries at the end that are skipped before the index is given up on.
const MAX_BAD_TAIL: usize = 64;

/// Checks the entries against `log`: drops a torn or stale tail (a crash between a log
/// write and an index write, or a partly written entry), then samples entries across the
/// index. Returns the problem that makes the index unusable, if any.
pub(crate) fn validate<D: AsRef<[u8]>>(
    index: &mut Index,
    log: &Reader<D>,
) -> Result<(), IndexProblem> {
    let mut count = index.total();
    let mut dropped = 0;
    while count > 0
        && !entry_matches(
            log,
            &index.entry(count - 1),
            count.checked_sub(2).map(|i| index.entry(i)),
        )
    {
        count -= 1;
        dropped += 1;
        if dropped > MAX_BAD_TAIL {
            return Err(IndexProblem::Disagrees { entry: count });
        }
    }
    index.keep(count);
    for k in 0..SAMPLES.min(count) {
        let i = k * (count - 1) / (SAMPLES - 1).max(1);
        let previous = i.checked_sub(1).map(|p| index.entry(p));
        if !entry_matches(log, &index.entry(i), previous) {
            return Err(IndexProblem::Disagrees { entry: i });
        }
    }
    Ok(())
}

/// Whether `e` points at a record of the log with its seq and ts, in order after `previous`.
pub(crate) fn entry_matches<D: AsRef<[u8]>>(
    log: &Reader<D>,
    e: &IndexEntry,
    previous: Option<IndexEntry>,
) -> bool {
    if let Some(p) = previous
        && (e.seq <= p.seq || e.ts < p.ts || e.offset <= p.offset)
    {
        return false;
    }
    usize::try_from(e.offset)
        .ok()
        .and_then(|at| log.line_at(at))
        .is_some_and(|r| r.seq == e.seq && r.ts == e.ts)
}

/// Compares index bytes with the entries a rebuild from `log` would produce.
pub(crate) fn check<D: AsRef<[u8]>>(
    log: &Reader<D>,
    index: &[u8],
    log_id: Option<FileId>,
) -> IndexCheck {
    let header = match Header::decode(index) {
        Ok(h) if log_id.is_some_and(|id| id != h.log_id) => {
            return IndexCheck {
                problem: Some(IndexProblem::OtherLog),
                stride: h.stride,
                ..Default::default()
            };
        }
        Ok(h) => h,
        Err(problem) => return IndexCheck { problem: Some(problem), ..Default::default() },
    };
    let body = &index[HEADER_LEN..];
    let entries = (body.len() / ENTRY_LEN) as u64;
    let mut check = IndexCheck {
        stride: header.stride,
        entries,
        torn_bytes: (body.len() % ENTRY_LEN) as u64,
        ..Default::default()
    };
    let mut selector = Selector::new(header.stride, None);
    let mut agreeing = true;
    for r in log.records() {
        let Some(want) = selector.select(r.seq, r.ts, r.offset) else { continue };
        let i = check.expected as usize;
        check.expected += 1;
        if agreeing && (i as u64) < entries {
            let got = IndexEntry::decode(&body[i * ENTRY_LEN..(i + 1) * ENTRY_LEN]);
            agreeing = got == want;
            check.matching += u64::from(agreeing);
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode;
    use crate::fs::FileId;
    use crate::index::{ENTRY_LEN, HEADER_LEN, Header, Selector};

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            encode(&mut out, seq, seq / 3, b"{}");
        }
        out
    }

    fn build(bytes: &[u8], stride: u32) -> Vec<u8> {
        let header = Header { stride, log_id: FileId { dev: 1, ino: 2 } };
        let mut out = header.encode().to_vec();
        let mut sel = Selector::new(stride, None);
        for r in Reader::new(bytes).records() {
            if let Some(e) = sel.select(r.seq, r.ts, r.offset) {
                e.encode_into(&mut out);
            }
        }
        out
    }

    #[test]
    fn selector_picks_every_stride_th_record_and_resumes_identically() {
        let bytes = log(100);
        let full = build(&bytes, 16);
        let idx = Index::parse(Box::new(full.clone())).unwrap();
        let seqs: Vec<u64> = (0..idx.len()).map(|i| idx.entry(i).seq).collect();
        assert_eq!(seqs, [1, 17, 33, 49, 65, 81, 97]);
        // Resuming from the entry for 49 yields the same later entries.
        let last = idx.entry(3);
        let mut sel = Selector::new(16, Some(last));
        let resumed: Vec<u64> = Reader::new(&bytes[..])
            .records_from(last.offset)
            .filter_map(|r| sel.select(r.seq, r.ts, r.offset))
            .map(|e| e.seq)
            .collect();
        assert_eq!(resumed, [65, 81, 97]);
    }

    #[test]
    fn validation_drops_a_torn_tail_and_rejects_disagreement() {
        let bytes = log(100);
        let reader = Reader::new(&bytes[..]);
        let mut full = build(&bytes, 4);
        let mut idx = Index::parse(Box::new(full.clone())).unwrap();
        assert_eq!(validate(&mut idx, &reader), Ok(()));
        let all = idx.len();
        // A partial entry is not counted; a zeroed last entry is dropped.
        full.extend_from_slice(&[0; 10]);
        let n = full.len();
        full[n - 10 - ENTRY_LEN..n - 10].fill(0);
        let mut idx = Index::parse(Box::new(full.clone())).unwrap();
        assert_eq!(validate(&mut idx, &reader), Ok(()));
        assert_eq!(idx.len(), all - 1);
        // An entry in the middle pointing elsewhere is caught by sampling (entries 0, 14, 28,
        // 42, ... of 100 are sampled); lookups check every entry they use in any case.
        let mut bad = build(&bytes, 1);
        let at = HEADER_LEN + 42 * ENTRY_LEN + 16;
        bad[at] = bad[at].wrapping_add(1);
        let mut idx = Index::parse(Box::new(bad)).unwrap();
        assert_eq!(validate(&mut idx, &reader), Err(IndexProblem::Disagrees { entry: 42 }));
    }
}
