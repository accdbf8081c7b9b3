//! What a compaction keeps: retention by age, count or size, and newest-per-key with
//! tombstones. A policy is decided in one pass over the log (the plan), then applied record by
//! record while the new log is written.

use std::time::Duration;

use crate::error::{Error, Result};

use crate::format::resync;
use crate::json::{JsonPointer, entity_of};
use crate::read::{Reader, stretches};

use super::newest::Newest;

/// What a compaction keeps. Every rule that is set must keep a record for it to stay; the
/// newest record of the log always stays (it carries the log's seq and ts high-water mark, so
/// seqs are never reused).
///
/// # Example
/// ```
/// use std::time::Duration;
/// let policy = ndlog::Policy::new()
///     .max_age(Duration::from_secs(7 * 86_400))
///     .key(ndlog::JsonPointer::parse("/id")?)
///     .tombstone(ndlog::JsonPointer::parse("/deleted")?);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub(crate) max_age: Option<Duration>,
    pub(crate) keep_last: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) key: Option<JsonPointer>,
    pub(crate) tombstone: Option<JsonPointer>,
    pub(crate) tombstone_retention: Option<Duration>,
}

/// Default for [`Policy::tombstone_retention`]: a day, as Kafka's `delete.retention.ms`.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(86_400);

/// Whether a payload is a tombstone: `true` at the tombstone pointer.
pub(crate) fn is_tombstone(pointer: &JsonPointer, data: &[u8]) -> bool {
    pointer.find(data) == Some(b"true")
}

impl Policy {
    /// A policy that removes nothing but damage (corrupt lines and a torn tail, which go to
    /// the quarantine file).
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops records older than `age` (by their ts, against the clock when compaction starts).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps only the newest `n` records.
    #[must_use]
    pub fn keep_last(mut self, n: u64) -> Self {
        self.keep_last = Some(n);
        self
    }

    /// Drops the oldest records until the records' bytes are at most `bytes`.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Keeps only the newest record for each value of `key` in `data`. Records without the key
    /// are kept. Keys name entities as writers' version checks and `history --entity` do: a
    /// string by its content (escapes decoded), anything else by its JSON text, so the string
    /// `"1"` and the number `1` are one key.
    #[must_use]
    pub fn key(mut self, key: JsonPointer) -> Self {
        self.key = Some(key);
        self
    }

    /// With [`Policy::key`]: a record whose `data` has `true` at `pointer` is a tombstone. It
    /// deletes its key: every older record of the key is dropped, and the tombstone itself once
    /// it is older than the [`Policy::tombstone_retention`].
    #[must_use]
    pub fn tombstone(mut self, pointer: JsonPointer) -> Self {
        self.tombstone = Some(pointer);
        self
    }

    /// How long a compaction keeps a tombstone, by its ts (default
    /// [`DEFAULT_TOMBSTONE_RETENTION`], a day; zero drops it at once). While it is kept, the
    /// entity's version stays the tombstone's seq, so a writer that re-creates the entity
    /// sees it was deleted ([`crate::Expect::Version`] with the tombstone's seq), and readers
    /// that follow the log learn of the deletion before it disappears.
    #[must_use]
    pub fn tombstone_retention(mut self, retention: Duration) -> Self {
        self.tombstone_retention = Some(retention);
        self
    }

    /// Whether the policy removes anything but damage.
    pub fn is_repair_only(&self) -> bool {
        self.max_age.is_none()
            && self.keep_last.is_none()
            && self.max_bytes.is_none()
            && self.key.is_none()
    }

    /// Rejects values that cannot be meant: a zero age, count or size; a tombstone without a key.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] saying which value.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid_argument(what));
        if self.max_age == Some(Duration::ZERO) {
            return bad("max age must be greater than zero".into());
        }
        if self.keep_last == Some(0) {
            return bad("keep-last must be at least 1 (the newest record is always kept)".into());
        }
        if self.max_bytes == Some(0) {
            return bad("max bytes must be greater than zero".into());
        }
        if self.tombstone.is_some() && self.key.is_none() {
            return bad("a tombstone field needs a key (--key) to delete".into());
        }
        Ok(())
    }
}

/// One bit per item.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    fn push(&mut self, i: usize, on: bool) {
        if i / 64 >= self.0.len() {
            self.0.push(0);
        }
        self.set(i, on);
    }

    fn set(&mut self, i: usize, on: bool) {
        let (w, b) = (i / 64, i % 64);
        self.0[w] = (self.0[w] & !(1 << b)) | (u64::from(on) << b);
    }

    /// Appends `other`'s `len` bits to these `at`, a word at a time: as `len` pushes would.
    /// Both must have been filled by pushes: `at` bits here, `len` there.
    fn extend(&mut self, at: usize, other: &Bits, len: usize) {
        debug_assert_eq!(self.0.len(), at.div_ceil(64), "these hold `at` pushed bits");
        debug_assert_eq!(other.0.len(), len.div_ceil(64), "those hold `len` pushed bits");
        let words = &other.0[..len.div_ceil(64)];
        let shift = at % 64;
        self.0.truncate(at.div_ceil(64));
        if shift == 0 {
            self.0.extend_from_slice(words);
        } else {
            for &word in words {
                let last = self.0.len() - 1;
                self.0[last] |= word << shift;
                self.0.push(word >> (64 - shift));
            }
            // (Bits past the last pushed one are never set, so the spare word is empty.)
            self.0.truncate((at + len).div_ceil(64));
        }
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// How many of the bits `range` covers are set (bits never pushed count as clear).
    pub(crate) fn ones_in(&self, range: std::ops::Range<usize>) -> usize {
        let mut ones = 0;
        let mut i = range.start;
        while i < range.end {
            let (w, b) = (i / 64, i % 64);
            let take = (64 - b).min(range.end - i);
            let mask = if take == 64 { u64::MAX } else { ((1u64 << take) - 1) << b };
            ones += (self.0.get(w).copied().unwrap_or(0) & mask).count_ones() as usize;
            i += take;
        }
        ones
    }
}

/// Every [`MARK_EVERY`]th line of a stretch, (line, byte offset): where the write pass may
/// jump past lines the plan drops whole, without looking for their newlines.
const MARK_EVERY: usize = 64;

/// The decisions of one verified pass over the complete lines present when compaction
/// started. The write pass then copies lines by these decisions without verifying again.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Per line: whether it is exactly one valid record (the write pass copies it or skips it
    /// by `alive`; any other line is parsed again there).
    pub clean: Bits,
    /// Per record, in file order: whether key compaction keeps it (all kept without a key).
    alive: Bits,
    /// Records before this one (by position) are dropped by retention.
    first_kept: u64,
    /// Records planned over, and the position of the newest, which is always kept.
    pub records: u64,
    /// Records the policy drops.
    pub dropped: u64,
    /// Corrupt lines seen.
    pub damaged: u64,
    /// Line starts the write pass may jump to, in file order: (line, byte offset). Not a
    /// decision: plans of one log cut differently have different marks.
    marks: Vec<(usize, usize)>,
}

/// What decides a record's part in the plan from the record alone.
struct Rules<'p> {
    policy: &'p Policy,
    /// Records with a ts below this are too old.
    min_ts: u64,
    tombstone_retention: Duration,
    /// A tombstone with a ts at or past this is kept.
    tombstone_min_ts: u64,
}

impl<'p> Rules<'p> {
    fn new(policy: &'p Policy, now_ms: u64) -> Self {
        let min_ts =
            policy.max_age.map_or(0, |age| now_ms.saturating_sub(crate::clock::millis(age)));
        let tombstone_retention = policy.tombstone_retention.unwrap_or(DEFAULT_TOMBSTONE_RETENTION);
        let tombstone_min_ts = now_ms.saturating_sub(crate::clock::millis(tombstone_retention));
        Rules { policy, min_ts, tombstone_retention, tombstone_min_ts }
    }
}

/// The plan of one stretch of whole lines of a log, made alone: its lines and records are
/// counted from the stretch's first.
struct Stretch<'a> {
    clean: Bits,
    alive: Bits,
    lines: usize,
    records: u64,
    damaged: u64,
    too_old: u64,
    /// The newest record of each key in the stretch (finished).
    newest: Newest<'a>,
    /// Every [`MARK_EVERY`]th line: (line, byte offset), counted from the stretch's first.
    marks: Vec<(usize, usize)>,
}

impl<'a> Stretch<'a> {
    fn plan(bytes: &'a [u8], rules: &Rules<'_>) -> Stretch<'a> {
        let policy = rules.policy;
        let (mut clean, mut alive) = (Bits::default(), Bits::default());
        let (mut lines, mut records, mut damaged, mut too_old) = (0usize, 0u64, 0u64, 0u64);
        // For key compaction: the position of the newest record of each key (borrowed from the
        // log's bytes: no allocation per record).
        let mut newest = Newest::new();
        let mut marks = Vec::new();
        let mut pos = 0usize;
        while pos < bytes.len() {
            if lines % MARK_EVERY == 0 {
                marks.push((lines, pos));
            }
            let nl = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            let parsed = resync::parse(&bytes[pos..nl], false);
            clean.push(lines, parsed.skip == 0 && parsed.frame.is_some());
            damaged += u64::from(parsed.reason.is_some());
            if let Some(f) = parsed.frame {
                let at = records as usize;
                records += 1;
                too_old += u64::from(f.ts < rules.min_ts);
                let mut keep = true;
                if let Some(key) = policy.key.as_ref().and_then(|k| k.find(f.data)) {
                    // Only the newest record of a key lives, and not even that if it is a
                    // tombstone past its retention.
                    let tombstone =
                        policy.tombstone.as_ref().is_some_and(|t| is_tombstone(t, f.data));
                    keep = !tombstone
                        || (rules.tombstone_retention > Duration::ZERO
                            && f.ts >= rules.tombstone_min_ts);
                    // (Only records before this one are ever reported superseded.)
                    newest.push(entity_of(key), at, |older| alive.set(older, false));
                }
                alive.push(at, keep);
            }
            lines += 1;
            pos = nl + 1;
        }
        newest.finish(|older| alive.set(older, false));
        Stretch { clean, alive, lines, records, damaged, too_old, newest, marks }
    }
}

impl Plan {
    /// Plans over `bytes`, whole lines of a log: on as many threads as there are cores (at
    /// most four; one below 4 MiB), each planning a stretch of the log, the stretches then
    /// joined in file order.
    pub(crate) fn build(bytes: &[u8], policy: &Policy, now_ms: u64) -> Plan {
        // Below this many bytes one thread plans: starting another costs more than it saves.
        const MIN_SPLIT: usize = 4 << 20;
        let threads = if bytes.len() < MIN_SPLIT { 1 } else { stretches::threads(None) };
        Self::build_split(bytes, policy, now_ms, threads, threads)
    }

    /// [`Plan::build`] on `threads` threads, the log cut into about `pieces` stretches: the
    /// plan is the same however it is shared out. Joining a stretch costs a push for each of
    /// its keys, not for each of its records; until then, each stretch holds a key map of its
    /// own (for a log whose every key recurs in every stretch, up to `pieces` times the memory
    /// of one map).
    pub(crate) fn build_split(
        bytes: &[u8],
        policy: &Policy,
        now_ms: u64,
        threads: usize,
        pieces: usize,
    ) -> Plan {
        let rules = Rules::new(policy, now_ms);
        let step = (bytes.len() as u64).div_ceil(pieces.max(1) as u64);
        let starts = stretches::line_starts(bytes, step);
        let ((), planned) = stretches::in_parallel(
            starts.len(),
            threads,
            || (),
            |i| {
                let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
                Stretch::plan(&bytes[starts[i]..end], &rules)
            },
        );
        let mut planned = planned.into_iter();
        let Some(first) = planned.next() else { return Plan::default() };
        let mut plan = Plan {
            clean: first.clean,
            alive: first.alive,
            first_kept: 0,
            records: first.records,
            dropped: 0,
            damaged: first.damaged,
            marks: first.marks,
        };
        let (mut lines, mut too_old, mut newest) = (first.lines, first.too_old, first.newest);
        for (stretch, &start) in planned.zip(&starts[1..]) {
            plan.marks.extend(stretch.marks.iter().map(|&(line, at)| (lines + line, start + at)));
            plan.clean.extend(lines, &stretch.clean, stretch.lines);
            plan.alive.extend(plan.records as usize, &stretch.alive, stretch.records as usize);
            // Its keys supersede their older records here.
            newest.extend(stretch.newest, plan.records as usize, |older| {
                plan.alive.set(older, false)
            });
            lines += stretch.lines;
            plan.records += stretch.records;
            plan.damaged += stretch.damaged;
            too_old += stretch.too_old;
        }
        newest.finish(|older| plan.alive.set(older, false));
        // Timestamps never decrease, so too-old records are a prefix; keep-last and max-bytes
        // cut a prefix too.
        plan.first_kept = too_old;
        if let Some(n) = policy.keep_last {
            plan.first_kept = plan.first_kept.max(plan.records.saturating_sub(n));
        }
        if let Some(max) = policy.max_bytes {
            let mut used = 0u64;
            let mut kept = 0u64;
            for r in Reader::new(bytes).records_rev() {
                used += r.line.len() as u64 + 1;
                if used > max {
                    break;
                }
                kept += 1;
            }
            plan.first_kept = plan.first_kept.max(plan.records - kept);
        }
        let kept = (plan.first_kept.min(plan.records)..plan.records)
            .filter(|&i| plan.keeps(i))
            .count() as u64;
        let last_below_cut = plan.records > 0 && plan.records - 1 < plan.first_kept;
        plan.dropped = plan.records - kept - u64::from(last_below_cut);
        plan
    }

    /// Whether the record at position `i` (in file order) stays. The newest always does.
    pub(crate) fn keeps(&self, i: u64) -> bool {
        i + 1 == self.records || (i >= self.first_kept && self.alive.get(i as usize))
    }

    /// Where the write pass at line `line`, whose first record is at position `record`, may
    /// jump: to the next mark, as (line, byte offset), when `line` is a mark and every line
    /// up to the next mark is one clean record that the plan drops. Those lines need nothing
    /// from the write pass but their count (when no chain anchor is collected).
    pub(crate) fn skip(
        &self,
        mark: &mut usize,
        line: usize,
        record: u64,
    ) -> Option<(usize, usize)> {
        while self.marks.get(*mark).is_some_and(|&(l, _)| l < line) {
            *mark += 1;
        }
        let (&(at, _), &(next, offset)) = (self.marks.get(*mark)?, self.marks.get(*mark + 1)?);
        if at != line {
            return None;
        }
        let count = next - line;
        let end = record + count as u64;
        let clean = self.clean.ones_in(line..next) == count;
        // None of the records is the newest, and none at or past the cut is alive.
        let from = record.max(self.first_kept).min(end);
        let dropped = end < self.records && self.alive.ones_in(from as usize..end as usize) == 0;
        (clean && dropped).then_some((next, offset))
    }

    /// The marks: for tests.
    #[cfg(test)]
    fn marks(&self) -> &[(usize, usize)] {
        &self.marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_extend_as_pushes_would() {
        let pattern = |n: usize, salt: usize| (0..n).map(move |i| (i * 7 + salt).is_multiple_of(3));
        for at in [0, 1, 63, 64, 65, 130] {
            for len in [0, 1, 63, 64, 65, 200] {
                let (mut pushed, mut head, mut tail) =
                    (Bits::default(), Bits::default(), Bits::default());
                for (i, on) in pattern(at, 0).chain(pattern(len, 1)).enumerate() {
                    pushed.push(i, on);
                }
                pattern(at, 0).enumerate().for_each(|(i, on)| head.push(i, on));
                pattern(len, 1).enumerate().for_each(|(i, on)| tail.push(i, on));
                head.extend(at, &tail, len);
                assert_eq!(head, pushed, "{at} bits, then {len}");
            }
        }
    }

    #[test]
    fn ones_in_counts_the_bits_of_a_range() {
        let mut bits = Bits::default();
        let pattern = |i: usize| (i * 7 + i / 50).is_multiple_of(3) || (130..260).contains(&i);
        for i in 0..300 {
            bits.push(i, pattern(i));
        }
        for start in 0..310 {
            for end in start..310 {
                let want = (start..end).filter(|&i| i < 300 && pattern(i)).count();
                assert_eq!(bits.ones_in(start..end), want, "{start}..{end}");
            }
        }
    }

    /// A jump covers exactly lines that are each one clean record the plan drops, and every
    /// such run from one mark to the next is jumped.
    #[test]
    fn a_jump_covers_only_lines_dropped_whole() {
        let mut bytes = log(3_000, 7);
        // Damage and padding inside the dropped prefix, a kept record in the middle.
        bytes.splice(20_000..20_000, b"\n\ndamaged line\n".iter().copied());
        let policies = [
            Policy::new().keep_last(700),
            Policy::new().key(JsonPointer::parse("/id").unwrap()).keep_last(2_500),
            Policy::new().max_bytes(50_000),
        ];
        for policy in &policies {
            for (threads, pieces) in [(1, 1), (2, 5)] {
                let plan = Plan::build_split(&bytes, policy, 41_000, threads, pieces);
                let (mut mark, mut record, mut jumped) = (0, 0u64, 0);
                let mut at = 0;
                for (line, segment) in bytes[..bytes.len() - 1].split(|&b| b == b'\n').enumerate() {
                    if let Some((next, offset)) = plan.skip(&mut mark, line, record) {
                        let run = &bytes[at..offset];
                        assert_eq!(run.iter().filter(|&&b| b == b'\n').count(), next - line);
                        for i in 0..(next - line) {
                            assert!(plan.clean.get(line + i) && !plan.keeps(record + i as u64));
                        }
                        jumped += next - line;
                    }
                    // (The walk goes on line by line: each mark is met, jumped or not.)
                    record += u64::from(resync::parse(segment, false).frame.is_some());
                    at += segment.len() + 1;
                }
                assert!(jumped >= 64, "{policy:?}: {jumped} lines jumped");
            }
        }
        // Runs that end right after a kept record: the newest (a padding line after it makes
        // the next mark), and the first record past a cut.
        let clean_log = |n: u64| {
            let mut out = Vec::new();
            for seq in 1..=n {
                crate::format::encode(&mut out, seq, 1_000 + seq, br#"{"id":"k"}"#);
            }
            out
        };
        let clean = clean_log(200);
        let mut newest_last = clean_log(128);
        newest_last.push(b'\n');
        for (bytes, policy, kept) in [
            (&newest_last, Policy::new().keep_last(1), 127),
            // Every record too old: the cut is past the newest, which stays all the same.
            (&newest_last, Policy::new().max_age(Duration::from_millis(1)), 127),
            (&clean, Policy::new().keep_last(73), 127),
        ] {
            let plan = Plan::build_split(bytes, &policy, 41_000, 1, 1);
            assert!(plan.keeps(kept) && !plan.keeps(kept - 1), "{policy:?}");
            let mut mark = 0;
            assert_eq!(plan.skip(&mut mark, 0, 0), Some((64, plan.marks()[1].1)));
            assert_eq!(plan.skip(&mut mark, 64, 64), None, "{policy:?}");
        }
    }

    /// A log of `n` records over `keys` keys, with tombstones, records without the key, and
    /// damage: a flipped byte, a line of garbage, an empty line, a torn last line.
    fn log(n: u64, keys: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 1..=n {
            let data = match seq % 11 {
                0 => format!(r#"{{"other":{seq}}}"#),
                5 => format!(r#"{{"id":"k{}","deleted":true}}"#, seq % keys),
                _ => format!(r#"{{"id":"k{}","v":{seq}}}"#, (seq * 7) % keys),
            };
            let start = out.len();
            crate::format::encode(&mut out, seq, 1_000 + seq, data.as_bytes());
            match seq % 997 {
                3 => out[start + 5] ^= 0x20,
                4 => out.extend_from_slice(b"garbage\n"),
                5 => out.push(b'\n'),
                _ => {}
            }
        }
        crate::format::encode(&mut out, n + 1, 2_000 + n, br#"{"id":"k1"}"#);
        out.truncate(out.len() - 4);
        out
    }

    /// What a plan decides (its marks aside, which depend on how it was shared out).
    fn decisions(p: &Plan) -> (&Bits, &Bits, u64, u64, u64, u64) {
        (&p.clean, &p.alive, p.first_kept, p.records, p.dropped, p.damaged)
    }

    /// Each mark names a line start of `bytes` and its line number, in file order, a mark
    /// at least every [`MARK_EVERY`] lines.
    fn marks_are_line_starts(plan: &Plan, bytes: &[u8]) {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1))
            .filter(|&at| at < bytes.len())
            .collect();
        let mut before = None;
        for &(line, at) in plan.marks() {
            assert_eq!(starts.get(line), Some(&at), "mark ({line}, {at})");
            assert!(before.is_none_or(|b| b < line && line - b <= MARK_EVERY), "{before:?} {line}");
            before = Some(line);
        }
        assert_eq!(plan.marks().first().map(|m| m.0), (!starts.is_empty()).then_some(0));
    }

    /// The plan is the same however it is shared out: on one thread or several, in one
    /// stretch or many, whether a stretch's key map stayed direct or was partitioned.
    #[test]
    fn plan_is_the_same_however_shared_out() {
        let policies = [
            Policy::new().key(JsonPointer::parse("/id").unwrap()),
            Policy::new()
                .key(JsonPointer::parse("/id").unwrap())
                .tombstone(JsonPointer::parse("/deleted").unwrap())
                .tombstone_retention(Duration::from_millis(500))
                .max_age(Duration::from_millis(35_000)),
            Policy::new().keep_last(1_500).max_bytes(100_000),
        ];
        // With the clock at 41,000 the records with a ts below 6,000 (seqs below 5,000) are
        // older than the second policy's max age.
        let now = 41_000;
        for policy in &policies {
            for (threads, stretches) in [(1, 1), (2, 2), (3, 5)] {
                let empty = Plan::build_split(b"", policy, now, threads, stretches);
                assert_eq!(decisions(&empty), decisions(&Plan::default()));
                assert!(empty.marks().is_empty());
            }
        }
        for (n, keys) in [(0, 1), (3, 2), (40, 3), (2_000, 13), (60_000, 40_000)] {
            let bytes = log(n, keys);
            for policy in &policies {
                let one = Plan::build_split(&bytes, policy, now, 1, 1);
                marks_are_line_starts(&one, &bytes);
                if n >= 1_000 {
                    assert!(one.damaged >= 1 && one.dropped > 0, "{one:?}");
                }
                // Every line start a cut, on the small logs; a few stretches on the others.
                let many = if n <= 40 { bytes.len().max(1) } else { 64 };
                for (threads, stretches) in [(1, 2), (2, 2), (2, 7), (3, many)] {
                    let split = Plan::build_split(&bytes, policy, now, threads, stretches);
                    let what = format!("{n} records, {threads} threads, {stretches} stretches");
                    assert_eq!(decisions(&split), decisions(&one), "{what}");
                    marks_are_line_starts(&split, &bytes);
                }
            }
        }
        let too_old = Plan::build_split(&log(60_000, 40_000), &policies[1], now, 1, 1);
        assert!(too_old.first_kept > 4_900, "{:?}", too_old.first_kept);
    }
}
