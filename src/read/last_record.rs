//! Finding a log's last record from the end of the file, without a full scan.
//!
//! Writers call this under the lock when the file changed since their last append (another
//! process appended, a compaction replaced it, or this is the first append), and readers call it
//! to learn how much of a file they may map: up to the end of the last record, never the bytes
//! after it that a writer may still overwrite (FORMAT.md, section 4). The log is append-only,
//! so when the file only grew, the bytes below the old end are unchanged and only the new bytes
//! are read: usually one small `pread`.

use memchr::memrchr;

use crate::format::{Marks, resync};
use crate::fs::VfsFile;

/// First read: usually all it takes.
const FIRST_WINDOW: u64 = 4096;

/// Seq and ts of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Last {
    pub(crate) seq: u64,
    pub(crate) ts: u64,
}

/// What a writer must know about the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// File length.
    pub(crate) len: u64,
    /// The last record: the last line, ended by its newline, that holds a valid record.
    pub(crate) last: Option<Last>,
    /// Where that record's line ends (just past its newline); 0 when there is none. What lies
    /// between `end` and `len` is blank padding or crash debris: under the writer lock no
    /// write is in progress, and no acknowledged record is there (an acknowledged record was
    /// written whole, newline included, and synced).
    pub(crate) end: u64,
    /// Bytes after `end` hold something other than newlines (a torn or damaged last line, or
    /// records of an unfinished write): the writer neutralises them before it appends, and
    /// never glues a record onto them.
    pub(crate) torn: bool,
    /// Among those bytes are whole records of a write that did not finish (records with the
    /// continuation mark that no record without it follows: FORMAT.md, section 3): the highest
    /// seq among them. Left in place and followed by a record, they would read as part of the
    /// log.
    pub(crate) unfinished: Option<u64>,
    /// Where the newline padding at the end of the file starts, in whole blocks (a preallocated
    /// segment: FORMAT.md, "Preallocated segments"): what lies between `end` and `content` is the only crash
    /// debris there can be, and what lies after it is padding. `len` for a file without padding.
    pub(crate) content: u64,
}

impl Tail {
    /// The tail of an empty file.
    pub(crate) const EMPTY: Tail =
        Tail { len: 0, last: None, end: 0, torn: false, unfinished: None, content: 0 };
}

/// Padding is looked for in blocks of this size.
const PAD_BLOCK: u64 = 4096;

/// Where the newline padding at the end of a preallocated file of `len` bytes starts, to a block: the start
/// of the first block from which every block to the end holds only newlines (found by a binary
/// search, so a preallocated segment costs a few reads however large). `len` when the last
/// block holds anything else; never below `floor`. Records and debris are never followed by a
/// whole block of newlines and then more of them (a writer writes at the end of its last
/// record), so the blocks are ordered: content first, padding after.
pub(crate) fn padding_start<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    floor: u64,
    scratch: &mut Vec<u8>,
) -> std::io::Result<u64> {
    let mut all_newlines = |at: u64| -> std::io::Result<bool> {
        let n = PAD_BLOCK.min(len - at);
        scratch.clear();
        scratch.resize(n as usize, 0);
        crate::fs::read_exact_at(file, scratch, at)?;
        Ok(scratch.iter().all(|&b| b == b'\n'))
    };
    if len < floor + 2 * PAD_BLOCK || !all_newlines(len - PAD_BLOCK)? {
        return Ok(len);
    }
    // Whole blocks from the floor (none starts below it); the bytes after the last one are in
    // the final block, which holds only newlines.
    let blocks = (len - floor) / PAD_BLOCK;
    let block_at = |i: u64| floor + i * PAD_BLOCK;
    if !all_newlines(block_at(blocks - 1))? {
        return Ok(len);
    }
    // The first padding block is in (lo, hi]: block lo holds content, block hi is padding.
    let (mut lo, mut hi) = (None::<u64>, blocks - 1);
    while hi > lo.map_or(0, |l| l + 1) {
        let from = lo.map_or(0, |l| l + 1);
        let mid = from + (hi - from) / 2;
        if all_newlines(block_at(mid))? {
            hi = mid;
        } else {
            lo = Some(mid);
        }
    }
    Ok(block_at(hi))
}

/// Finds the tail of a file of `len` bytes. `known`, the tail of a shorter version of the same
/// file that was not torn, lets only the bytes above it be read. Reads backwards in windows
/// (4 KiB, then 1 MiB), so memory stays bounded by one window plus the longest line that can
/// be a record, whatever the file holds.
pub(crate) fn discover<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    known: Option<Tail>,
    scratch: &mut Vec<u8>,
) -> std::io::Result<Tail> {
    discover_covered(file, len, known, scratch, false, &mut |_, _| false)
}

/// [`discover`] (for a preallocated segment, `padded`: its newline padding is found first, [`padding_start`], and only the bytes before it are read), told by `covered` whether a sync covered a record (the last of a write of
/// several, ending at the offset given) and so its write, whose records then need not be read
/// back to find a hole a power loss left (the durable watermark says so cheaply: see
/// [`crate::consume::watermark::discover_synced`]). Without it the last write of several records
/// is read back whole.
pub(crate) fn discover_covered<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    known: Option<Tail>,
    scratch: &mut Vec<u8>,
    padded: bool,
    covered: &mut dyn FnMut(Last, u64) -> bool,
) -> std::io::Result<Tail> {
    shrinking(file, len, |len| {
        discover_in(file, len, known, scratch, FIRST_WINDOW, WINDOW, padded, covered)
    })
}

/// Runs `find` over the first `len` bytes of `file`, and again over its new size if it shrank
/// meanwhile: sealing a preallocated segment trims its padding while others may be reading it.
fn shrinking<F: VfsFile + ?Sized>(
    file: &F,
    mut len: u64,
    mut find: impl FnMut(u64) -> std::io::Result<Tail>,
) -> std::io::Result<Tail> {
    loop {
        match find(len) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                let now = file.metadata()?.len;
                if now >= len {
                    return Err(e);
                }
                len = now;
            }
            found => return found,
        }
    }
}

/// The longest line that can hold a record.
const MAX_LINE: usize =
    crate::write::Options::MAX_RECORD_SIZE_LIMIT + crate::format::MAX_FRAME_OVERHEAD;
/// Later reads.
const WINDOW: u64 = 1 << 20;

#[allow(clippy::too_many_arguments)]
fn discover_in<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    known: Option<Tail>,
    scratch: &mut Vec<u8>,
    first_window: u64,
    window: u64,
    padded: bool,
    covered: &mut dyn FnMut(Last, u64) -> bool,
) -> std::io::Result<Tail> {
    let known = known.filter(|k| k.end <= len && (k.torn || k.content <= len));
    // Bytes past what this process saw end in a finished write were written since it saw them,
    // with no power loss between (it lives): no hole there.
    let no_holes = known.is_some_and(|k| !k.torn);
    let known = known.unwrap_or(Tail::EMPTY);
    // In a preallocated file only what lies below the last record's end is known: `content`
    // was rounded up to a block, and appends since are written in place below it. Nor is more
    // after a look that ended in debris or an unfinished write (a writer may have moved it
    // away since, or the write finished): the bytes below the last record never change.
    let floor = if padded || known.torn { known.end } else { known.content };
    let content = if padded { padding_start(file, len, floor, scratch)? } else { len };
    // The line being assembled, right to left: where its newline is, its bytes read so far
    // (pieces in reverse file order), and whether it grew too long to be a record.
    let mut line_end: Option<u64> = None;
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut piece_bytes = 0usize;
    let mut too_long = false;
    // What the lines seen so far say: debris, an unfinished write, a last record to confirm.
    let mut scan = Scan { no_holes, ..Scan::default() };
    let found = |(last, end, debris, unfinished): Found| Tail {
        len,
        last: Some(last),
        end,
        torn: debris,
        unfinished,
        content,
    };
    let mut hi = content;
    let mut size = first_window;
    while hi > floor {
        let lo = hi.saturating_sub(size).max(floor);
        size = window;
        scratch.clear();
        scratch.resize((hi - lo) as usize, 0);
        crate::fs::read_exact_at(file, scratch, lo)?;
        let mut right = scratch.len();
        while let Some(nl) = memrchr(b'\n', &scratch[..right]) {
            let part = &scratch[nl + 1..right];
            match line_end {
                // Bytes after the last newline: a torn line, never a record.
                None => scan.debris |= !part.is_empty(),
                Some(end) => {
                    let record = record_in(part, &pieces, piece_bytes, too_long);
                    let blank = part.is_empty() && piece_bytes == 0 && !too_long;
                    if let Some(last) = scan.line(record, blank, end + 1, covered) {
                        return Ok(found(last));
                    }
                }
            }
            line_end = Some(lo + nl as u64);
            pieces.clear();
            piece_bytes = 0;
            too_long = false;
            right = nl;
        }
        // `scratch[..right]` starts the line being assembled (or belongs to the torn line).
        let part = &scratch[..right];
        if line_end.is_none() {
            scan.debris |= !part.is_empty();
        } else if !too_long {
            if piece_bytes + part.len() > MAX_LINE {
                too_long = true;
                pieces.clear();
                piece_bytes = 0;
            } else if !part.is_empty() {
                pieces.push(part.to_vec());
                piece_bytes += part.len();
            }
        }
        hi = lo;
    }
    // At the floor, a line start: the line being assembled is whole.
    if let Some(end) = line_end {
        let record = record_in(&[], &pieces, piece_bytes, too_long);
        let blank = piece_bytes == 0 && !too_long;
        if let Some(last) = scan.line(record, blank, end + 1, covered) {
            return Ok(found(last));
        }
    }
    if let Some(last) = scan.at_start() {
        return Ok(found(last));
    }
    let Scan { debris, unfinished, .. } = scan;
    Ok(Tail { len, last: known.last, end: known.end, torn: debris, unfinished, content })
}

/// A last record found: the record, where its line ends, whether anything but newlines follows
/// it, and the highest seq of an unfinished write after it.
type Found = (Last, u64, bool, Option<u64>);

/// A whole record line as the backward scan sees it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    last: Last,
    marks: Marks,
    /// Damaged bytes come before the record in its line (found by resynchronising).
    after_damage: bool,
}

/// The backward scan's reading of the lines it has passed, right to left. The last record is
/// the last one not marked to continue whose write is whole (FORMAT.md, section 3): records
/// marked to continue after it are a write a crash cut short. A last record marked as continued
/// needs the record before it in its write right before its line, and so on back to the
/// write's first record, unless a sync is known to have covered it (`covered`: a sync leaves no
/// hole); a compaction may have removed the records before it in its write, so a whole record
/// of another write there does too. Damage or a blank line there is a hole a power loss left
/// (a later page of the write persisted, an earlier one not): the write is unfinished.
#[derive(Debug, Default)]
struct Scan {
    /// Anything but newlines lies after the lines being confirmed (or the last line seen).
    debris: bool,
    /// The highest seq of a record of an unfinished write seen.
    unfinished: Option<u64>,
    /// A last record whose write is being confirmed: the record, where its line ends, and what
    /// `debris` was after it.
    confirming: Option<(Last, u64, bool)>,
    /// The lines are above what this process saw end in a finished write: no hole there.
    no_holes: bool,
}

impl Scan {
    /// Takes in the line before those seen (`record` when it holds one, `blank` when it is
    /// empty), which ends at `end`; returns the last record once it is certain. `covered`
    /// says whether a sync covered a record and its write.
    fn line(
        &mut self,
        record: Option<Seen>,
        blank: bool,
        end: u64,
        covered: &mut dyn FnMut(Last, u64) -> bool,
    ) -> Option<Found> {
        if let Some((last, last_end, debris)) = self.confirming {
            let middle = |r: &Seen| r.marks.continues && r.marks.continued;
            match record {
                // The record before in the write, itself continued: its own predecessor next.
                Some(r) if middle(&r) && !r.after_damage => return None,
                // The write's first record, or another write's last (a compaction removed the
                // records between): the write is whole.
                Some(r) if !middle(&r) => return Some((last, last_end, debris, self.unfinished)),
                // A hole: damage, a blank line, a middle record after damage.
                _ => {
                    self.confirming = None;
                    self.debris = true;
                    self.unfinished = Some(self.unfinished.map_or(last.seq, |s| s.max(last.seq)));
                }
            }
        }
        match record {
            // A record marked to continue that a sync covered was acknowledged (or about to
            // be): what followed it in its write was lost to damage since, and it is the last.
            Some(r) if r.marks.continues && covered(r.last, end) => {
                return Some((r.last, end, self.debris, self.unfinished));
            }
            Some(r) if r.marks.continues || (r.marks.continued && r.after_damage) => {
                self.unfinished.get_or_insert(r.last.seq);
                self.debris = true;
            }
            Some(r) if r.marks.continued && !self.no_holes && !covered(r.last, end) => {
                self.confirming = Some((r.last, end, self.debris));
            }
            Some(r) => return Some((r.last, end, self.debris, self.unfinished)),
            None => self.debris |= !blank,
        }
        None
    }

    /// The start of the file, or the floor (the end of a write that finished), is before the
    /// lines seen: a write being confirmed is whole.
    fn at_start(&self) -> Option<Found> {
        let (last, end, debris) = self.confirming?;
        Some((last, end, debris, self.unfinished))
    }
}

/// The record a whole line holds, if any: `head` followed by `pieces` (in reverse order).
fn record_in(head: &[u8], pieces: &[Vec<u8>], piece_bytes: usize, too_long: bool) -> Option<Seen> {
    if too_long || head.len() + piece_bytes > MAX_LINE || head.len() + piece_bytes == 0 {
        return None;
    }
    let joined;
    let line = if pieces.is_empty() {
        head
    } else {
        let mut all = Vec::with_capacity(head.len() + piece_bytes);
        all.extend_from_slice(head);
        pieces.iter().rev().for_each(|p| all.extend_from_slice(p));
        joined = all;
        &joined[..]
    };
    let parsed = resync::parse(line, false);
    parsed.frame.map(|f| Seen {
        last: Last { seq: f.seq, ts: f.ts },
        marks: f.marks,
        after_damage: parsed.skip > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode;
    use crate::read::Reader;

    /// A `Vec<u8>` as a file, for reads.
    #[derive(Debug)]
    struct Bytes(Vec<u8>);

    impl VfsFile for Bytes {
        fn append(&self, _: &[u8]) -> std::io::Result<usize> {
            unreachable!()
        }
        fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
            unreachable!()
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let src = self.0.get(offset as usize..).unwrap_or(&[]);
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
            Ok(n)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn metadata(&self) -> std::io::Result<crate::fs::Metadata> {
            unreachable!()
        }
        fn set_len(&self, _: u64) -> std::io::Result<()> {
            unreachable!()
        }
        fn try_lock(&self) -> std::io::Result<bool> {
            Ok(true)
        }
        fn unlock(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn tail_of(bytes: &[u8]) -> Tail {
        let file = Bytes(bytes.to_vec());
        discover(&file, bytes.len() as u64, None, &mut Vec::new()).unwrap()
    }

    /// The last record as the reader sees it, and where its line ends.
    fn reader_last(bytes: &[u8]) -> (Option<Last>, u64) {
        Reader::new(bytes).last().map_or((None, 0), |r| {
            (Some(Last { seq: r.seq, ts: r.ts }), r.offset + r.line.len() as u64 + 1)
        })
    }

    #[test]
    fn agrees_with_the_reader_on_every_prefix() {
        let mut log = Vec::new();
        for seq in 1..=40 {
            let pad = "x".repeat((seq as usize * 37) % 300);
            encode(&mut log, seq, seq * 10, format!(r#"{{"p":"{pad}"}}"#).as_bytes());
        }
        log.extend_from_slice(b"\0\0\0garbage\n\n\n");
        for cut in 0..=log.len() {
            let t = tail_of(&log[..cut]);
            let (last, end) = reader_last(&log[..cut]);
            assert_eq!(t.len, cut as u64);
            assert_eq!((t.last, t.end), (last, end), "cut {cut}");
            let debris = log[end as usize..cut].iter().any(|&b| b != b'\n');
            assert_eq!(t.torn, debris, "cut {cut}");
        }
    }

    #[test]
    fn tiny_windows_agree_with_large_ones() {
        // Lines spanning many windows, blank lines, debris: every prefix, windows of 1 to 7.
        let mut log = Vec::new();
        for seq in 1..=6 {
            encode(
                &mut log,
                seq,
                seq * 10,
                format!(r#"{{"p":"{}"}}"#, "y".repeat(seq as usize * 5)).as_bytes(),
            );
            log.extend_from_slice(b"\n");
        }
        log.extend_from_slice(b"junk\n\n{\"seq\":9");
        let file = Bytes(log.clone());
        for cut in 0..=log.len() {
            let want = tail_of(&log[..cut]);
            for w in 1..=7 {
                let got = discover_in(
                    &file,
                    cut as u64,
                    None,
                    &mut Vec::new(),
                    w,
                    w,
                    false,
                    &mut |_, _| false,
                )
                .unwrap();
                assert_eq!(got, want, "cut {cut} window {w}");
            }
        }
    }

    #[test]
    fn a_whole_record_without_its_newline_is_debris() {
        let mut log = Vec::new();
        encode(&mut log, 1, 10, b"1");
        let end = log.len() as u64;
        encode(&mut log, 2, 20, b"2");
        log.pop();
        let t = tail_of(&log);
        assert_eq!(
            t,
            Tail {
                len: log.len() as u64,
                last: Some(Last { seq: 1, ts: 10 }),
                end,
                torn: true,
                unfinished: None,
                content: log.len() as u64,
            }
        );
    }

    /// A log of writes of one to four records, each but a write's last with the mark, then
    /// some damage: where each write ends.
    fn writes() -> (Vec<u8>, Vec<u64>) {
        let (mut log, mut ends) = (Vec::new(), Vec::new());
        let mut seq = 1;
        for write in 0..12u64 {
            for i in 0..=write % 4 {
                let data =
                    format!(r#"{{"w":{write},"p":"{}"}}"#, "x".repeat((seq * 29 % 90) as usize));
                let marks = crate::format::Marks::of(i as usize, 0, (write % 4) as usize);
                crate::format::encode_marked(&mut log, seq, write, data.as_bytes(), marks);
                seq += 1;
            }
            ends.push(log.len() as u64);
        }
        (log, ends)
    }

    #[test]
    fn a_write_cut_anywhere_leaves_the_last_write_that_finished() {
        let (log, ends) = writes();
        let seq_at = |end: u64| Reader::new(&log[..end as usize]).last().map(|r| (r.seq, r.ts));
        for cut in 0..=log.len() {
            let t = tail_of(&log[..cut]);
            let end = ends.iter().rev().copied().find(|&e| e <= cut as u64).unwrap_or(0);
            assert_eq!(t.end, end, "cut {cut}");
            assert_eq!(t.last.map(|l| (l.seq, l.ts)), seq_at(end), "cut {cut}");
            assert_eq!(t.torn, end < cut as u64, "cut {cut}");
            // Whole records past the end are an unfinished write's, named by the highest seq.
            let after = Reader::new(&log[end as usize..cut]).records().last().map(|r| r.seq);
            assert_eq!(t.unfinished, after, "cut {cut}");
        }
    }

    /// The lines (start, newline) of the last write of [`writes`] (four records).
    fn last_write_lines(log: &[u8], ends: &[u64]) -> Vec<(usize, usize)> {
        let mut at = ends[ends.len() - 2] as usize;
        let mut out = Vec::new();
        while at < log.len() {
            let nl = at + log[at..].iter().position(|&b| b == b'\n').unwrap();
            out.push((at, nl));
            at = nl + 1;
        }
        out
    }

    #[test]
    fn a_write_with_a_hole_is_unfinished_unless_a_sync_covered_it() {
        let (log, ends) = writes();
        let lines = last_write_lines(&log, &ends);
        assert_eq!(lines.len(), 4);
        let start = lines[0].0 as u64;
        let before = Reader::new(&log[..start as usize]).last().map(|r| r.seq);
        let highest = Reader::new(&log[..]).last().map(|r| (r.seq, r.ts));
        // Each record but the last lost to a hole: zeroed, or left as the newlines a
        // preallocated segment held there.
        for &(at, nl) in &lines[..3] {
            for hole in [b'\0', b'\n'] {
                let mut bad = log.clone();
                bad[at..nl].fill(hole);
                let t = tail_of(&bad);
                assert_eq!((t.end, t.last.map(|l| l.seq), t.torn), (start, before, true), "{at}");
                assert_eq!(t.unfinished, highest.map(|h| h.0));
                // A sync that covered the write: its last record stands, the hole is damage.
                let file = Bytes(bad.clone());
                let len = bad.len() as u64;
                let mut synced = |_: Last, end: u64| end <= len;
                let t = discover_covered(&file, len, None, &mut Vec::new(), false, &mut synced);
                let t = t.unwrap();
                assert_eq!((t.end, t.last.map(|l| (l.seq, l.ts))), (len, highest), "{at}");
            }
        }
        // The last record itself lost: the three before it are marked to continue. A sync
        // that covered them makes the third the last; without one they are unfinished.
        let (at, nl) = lines[3];
        let mut bad = log.clone();
        bad[at..nl].fill(b'\0');
        let t = tail_of(&bad);
        assert_eq!((t.end, t.last.map(|l| l.seq)), (start, before));
        let file = Bytes(bad.clone());
        let mut synced = |_: Last, _: u64| true;
        let t =
            discover_covered(&file, bad.len() as u64, None, &mut Vec::new(), false, &mut synced);
        assert_eq!(t.unwrap().end, at as u64);
    }

    #[test]
    fn a_compaction_that_thinned_the_last_write_leaves_its_last_record() {
        let (log, ends) = writes();
        // The last write (four records), with some of its records removed as a compaction
        // removes them: its last record stays the file's last.
        let last_write = ends[ends.len() - 2] as usize..log.len();
        let lines: Vec<&[u8]> = log[last_write.clone()].split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        let highest = Reader::new(&log[..]).last().map(|r| r.seq);
        for removed in [1..3, 0..3, 0..1] {
            let mut thin = log[..last_write.start].to_vec();
            for (k, line) in lines.iter().enumerate() {
                if !removed.contains(&k) {
                    thin.extend_from_slice(line);
                }
            }
            let t = tail_of(&thin);
            assert_eq!((t.end, t.last.map(|l| l.seq), t.torn), (thin.len() as u64, highest, false));
        }
    }

    #[test]
    fn a_look_from_any_earlier_look_finds_what_a_fresh_one_finds() {
        // Earlier looks end anywhere: in a finished write, in a torn line, in an unfinished
        // write; the log only grew since (bytes below the last record never change).
        let (log, _) = writes();
        for a in (0..=log.len()).step_by(7) {
            let known = tail_of(&log[..a]);
            for b in (a..=log.len()).step_by(29).chain([log.len()]) {
                let file = Bytes(log[..b].to_vec());
                let t = discover(&file, b as u64, Some(known), &mut Vec::new()).unwrap();
                assert_eq!(t, tail_of(&log[..b]), "known at {a}, now {b}");
            }
        }
    }

    #[test]
    fn an_unfinished_write_above_the_floor_leaves_the_known_end() {
        let (log, ends) = writes();
        // Known up to the end of the second write; the third (three records) cut after one.
        let known = tail_of(&log[..ends[1] as usize]);
        let third = Reader::new(&log[ends[1] as usize..]);
        let first_of_third = third.records().next().unwrap();
        let cut = (ends[1] + first_of_third.line.len() as u64 + 1) as usize;
        let file = Bytes(log[..cut].to_vec());
        let t = discover(&file, cut as u64, Some(known), &mut Vec::new()).unwrap();
        assert_eq!((t.end, t.last, t.torn), (known.end, known.last, true));
        assert_eq!(t.unfinished, Some(first_of_third.seq));
    }

    #[test]
    fn reads_only_above_the_floor() {
        let mut log = Vec::new();
        encode(&mut log, 1, 10, b"1");
        log.extend_from_slice(b"\n\n");
        let known = tail_of(&log);
        let below = Some(Last { seq: 1, ts: 10 });
        assert_eq!((known.last, known.end, known.torn), (below, log.len() as u64 - 2, false));
        log.extend_from_slice(b"torn");
        let file = Bytes(log.clone());
        let t = discover(&file, log.len() as u64, Some(known), &mut Vec::new()).unwrap();
        let len = log.len() as u64;
        let unfinished = None;
        assert_eq!(
            t,
            Tail { len, last: below, end: known.end, torn: true, unfinished, content: len }
        );
        log.extend_from_slice(b"\n");
        encode(&mut log, 2, 20, b"2");
        let file = Bytes(log.clone());
        let t = discover(&file, log.len() as u64, Some(known), &mut Vec::new()).unwrap();
        assert_eq!(t.last, Some(Last { seq: 2, ts: 20 }));
        assert_eq!(t.end, log.len() as u64);
        assert!(!t.torn);
    }

    #[test]
    fn finds_a_record_behind_a_long_corrupt_run() {
        let mut log = Vec::new();
        encode(&mut log, 7, 70, b"7");
        let end = log.len() as u64;
        for _ in 0..2000 {
            log.extend_from_slice(b"corrupt line\n");
        }
        let t = tail_of(&log);
        assert_eq!((t.last, t.end, t.torn), (Some(Last { seq: 7, ts: 70 }), end, true));
    }

    #[test]
    fn a_preallocated_file_is_read_only_up_to_its_padding() {
        // Records, then debris of a torn in-place write, then padding to 64 KiB.
        let mut file = Vec::new();
        for seq in 1..=50 {
            encode(&mut file, seq, seq * 10, format!(r#"{{"n":{seq}}}"#).as_bytes());
        }
        let end = file.len() as u64;
        file.extend_from_slice(br#"{"seq":51,"ts":510,"da"#);
        let debris_end = file.len() as u64;
        file.resize(64 << 10, b'\n');
        let file = Bytes(file);
        let len = 64 << 10;
        let content = padding_start(&file, len, 0, &mut Vec::new()).unwrap();
        assert!(content >= debris_end && content < debris_end + PAD_BLOCK, "{content}");
        let t =
            discover_covered(&file, len, None, &mut Vec::new(), true, &mut |_, _| false).unwrap();
        assert_eq!((t.last.map(|l| l.seq), t.end, t.torn, t.len), (Some(50), end, true, len));
        assert_eq!(t.content, content);
        // All padding: nothing but padding from the start.
        let empty = Bytes(vec![b'\n'; 64 << 10]);
        assert_eq!(padding_start(&empty, 64 << 10, 0, &mut Vec::new()).unwrap(), 0);
        // Content in the last block: no padding to skip.
        let mut full = vec![b'\n'; 64 << 10];
        full[(64 << 10) - 10] = b'x';
        assert_eq!(padding_start(&Bytes(full), 64 << 10, 0, &mut Vec::new()).unwrap(), 64 << 10);
        // A file that ends in padding but is not preallocated is scanned whole by `discover`.
        let t = discover(&file, len, None, &mut Vec::new()).unwrap();
        assert_eq!((t.end, t.content), (end, len));
    }
}
