//! Compaction of a segmented log: retention deletes whole sealed segments, oldest first, and
//! never rewrites a kept one; key compaction and repair rewrite sealed segments one at a time
//! (temp file, fsync, rename, directory fsync). The active segment is never touched, and
//! writers are never locked out: sealed segments do not change under them.
//!
//! Retention decides from the names and one `pread` per segment, so its cost grows with the
//! segments it removes, not with the bytes kept (before it removes anything, it checks that the
//! segments form one log, as readers do: each is opened and its first and last records read,
//! one at a time, which costs a few microseconds a segment whatever its size):
//! - `keep_last N`: a sealed segment ends just before the next one's name, so its last seq is
//!   known from the names; it goes when that seq is at least N below the log's last seq.
//! - `max_age`: it goes when its last record (read from its end) is older than the age.
//! - `max_bytes`: it goes when the segments after it already hold at least the bytes allowed.
//!
//! A segment goes only when every one of its records is outside the policy, so up to one
//! segment more than the policy asks is kept.
//!
//! On a chained log both leave anchors in `LOG/ndlog.chain` before they change a segment:
//! retention one for the first seq of every segment its removals may leave first, key
//! compaction one for every kept record whose predecessor it drops (records are copied byte
//! for byte, links included, so the kept chain verifies from them).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::Instant;

use crate::chain::ChainFile;
use crate::clock::now_ms;
use crate::error::{Error, IoContext, Result};
use crate::format::chain;
use crate::fs::{LockFile, OpenOptions, Vfs, VfsFile};
use crate::json::entity_of;
use crate::read::last_record::{self, Last};
use crate::read::{Entry, Reader};
use crate::segments::naming;
use crate::segments::{Segment, Settings, list};

use super::anchors::Anchors;
use super::output::Output;
use super::{CompactReport, Compactor, Quarantine};

/// The compaction lock of a segmented log: one compaction at a time.
const COMPACT_LOCK: &str = "ndlog.compact.lock";

impl<V: Vfs> Compactor<V> {
    /// Compacts the segmented log `dir`.
    pub(super) fn run_segmented(&self, dir: &Path, started: Instant) -> Result<CompactReport> {
        let vfs = &self.vfs;
        Settings::load(vfs, dir)?;
        let meta = vfs.metadata(&dir.join(naming::SETTINGS)).at(dir, "stat")?;
        let mode = meta.mode & 0o7777;
        let lock = LockFile::open(vfs, &dir.join(COMPACT_LOCK), mode, None)?;
        let _one_at_a_time = lock.acquire(dir, self.queue_timeout.unwrap_or(self.lock_timeout))?;
        self.remove_segment_leftovers(dir)?;
        // Segments that do not form one log (a stray file among them) are refused as readers
        // refuse them, before anything is removed or rewritten: retention would delete a
        // stray as if it were the log's. (A roll may rename the active segment meanwhile:
        // listed again then.)
        let mut tries = 0;
        let segments = loop {
            let segments = list(vfs, dir)?;
            match crate::segments::check_segments(vfs, &segments) {
                Ok(()) => break segments,
                Err(e) if e.is_not_found() && tries < 20 => tries += 1,
                Err(e) => return Err(e),
            }
        };
        let mut report = CompactReport::default();
        let removable = self.retention_cut(&segments)?;
        let mut removed_any = false;
        let size = |s: &Segment| vfs.metadata(&s.path).map_or(0, |m| m.len);
        report.bytes_before = segments.iter().map(size).sum();
        report.bytes_after = report.bytes_before;
        if removable > 0 {
            // A chained log: the anchors that let each possible first segment verify, durable
            // before the first removal makes one needed.
            super::anchors::store_retention(vfs, dir, &segments, removable, mode)?;
        }
        for segment in &segments[..removable] {
            let bytes = size(segment);
            // Oldest first: a crash leaves a log that starts later, never one with a hole.
            vfs.remove_file(&segment.path).at(&segment.path, "remove segment")?;
            let _ = vfs.remove_file(&crate::names::index_file(&segment.path));
            report.bytes_after -= bytes;
            report.segments_removed += 1;
            removed_any = true;
        }
        let first_kept = segments.get(removable).map_or(u64::MAX, |s| s.name.first_seq);
        if removed_any {
            // What the removed segments spanned, by their names (they are not read: a key
            // compaction or damage may have left some of these seqs without a record).
            report.removed_seqs = Some(segments[0].name.first_seq..=first_kept - 1);
        }
        // Sidecars of segments that are gone (a crash between the two removals).
        for name in vfs.list_dir(dir).at(dir, "list directory")? {
            if let Some(seq) = index_seq(&name)
                && seq < first_kept
                && !segments.iter().any(|s| s.name.first_seq == seq)
            {
                let _ = vfs.remove_file(&dir.join(&name));
            }
        }
        if removed_any {
            vfs.sync_dir(dir).at(dir, "fsync directory")?;
        }
        let kept = &segments[removable..];
        if self.policy.key.is_some() || self.policy.is_repair_only() {
            // Records are counted where they are read: in the segments kept.
            let mut rewrite = CompactReport::default();
            self.rewrite_sealed(dir, kept, mode, &mut rewrite)?;
            report.records_before = rewrite.records_before;
            report.records_after = rewrite.records_after;
            report.dropped = rewrite.dropped;
            report.quarantined_spans = rewrite.quarantined_spans;
            report.quarantined_bytes = rewrite.quarantined_bytes;
            report.quarantine = rewrite.quarantine;
            report.rewritten = rewrite.rewritten;
            report.bytes_after = report.bytes_after + rewrite.bytes_after - rewrite.bytes_before;
        }
        report.rewritten = removed_any || report.rewritten;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// How many of the oldest segments the retention policy removes whole. Never the active
    /// segment.
    fn retention_cut(&self, segments: &[Segment]) -> Result<usize> {
        let policy = &self.policy;
        // Never the last segment either, even sealed (a writer died between sealing it and
        // creating the next): it holds the log's last seq, which the next writer numbers from.
        let sealed = segments.iter().take_while(|s| !s.name.active).count();
        let sealed = sealed.min(segments.len().saturating_sub(1));
        if sealed == 0
            || (policy.keep_last.is_none()
                && policy.max_age.is_none()
                && policy.max_bytes.is_none())
        {
            return Ok(0);
        }
        let vfs = &self.vfs;
        // The oldest segment that holds one of the newest `keep_last` records (0 when the log
        // holds fewer): the segments before it hold none. Records are counted from the newest
        // segment back, not taken from the names: a key compaction or damage leaves seqs
        // without a record.
        let mut first_by_count = 0;
        if let Some(n) = policy.keep_last {
            let mut held = 0;
            for (i, segment) in segments.iter().enumerate().rev() {
                held += records_in(vfs, segment)?;
                if held >= n {
                    first_by_count = i;
                    break;
                }
            }
        }
        let now = now_ms();
        let min_ts = policy.max_age.map(|age| now.saturating_sub(crate::clock::millis(age)));
        // Bytes from each segment to the end of the log, for max_bytes.
        let mut after = vec![0u64; segments.len() + 1];
        if policy.max_bytes.is_some() {
            for i in (0..segments.len()).rev() {
                let segment = &segments[i];
                // A preallocated active segment counts what its records take, not its padding.
                let len = match segment.name.padded {
                    true => records_end(vfs, segment)?,
                    false => vfs.metadata(&segment.path).at(&segment.path, "stat")?.len,
                };
                after[i] = after[i + 1] + len;
            }
        }
        let mut cut = 0;
        while cut < sealed {
            let by_count = policy.keep_last.is_some() && cut < first_by_count;
            let by_bytes = policy.max_bytes.is_some_and(|max| after[cut + 1] >= max);
            let by_age = match min_ts {
                Some(min_ts) => {
                    let last = log_last(vfs, &segments[cut])?;
                    last.is_some_and(|l| l.ts < min_ts)
                }
                None => false,
            };
            if !(by_count || by_bytes || by_age) {
                break;
            }
            cut += 1;
        }
        Ok(cut)
    }

    /// Key compaction or repair of the sealed segments: each one that holds a record the policy
    /// drops, or damage, is rewritten (keeping its last record, which tells readers that no
    /// segment between it and the next is missing). Which record of a key is the newest is
    /// decided over the whole log, the active segment included.
    fn rewrite_sealed(
        &self,
        dir: &Path,
        segments: &[Segment],
        mode: u32,
        report: &mut CompactReport,
    ) -> Result<()> {
        let vfs = &self.vfs;
        let mut maps = Vec::with_capacity(segments.len());
        for s in segments {
            let file = open_segment(vfs, s)?;
            let len = file.metadata().at(&s.path, "fstat")?.len;
            let tail = crate::consume::watermark::find_end(vfs, &s.path, &file, len, false)
                .at(&s.path, "read")?;
            let map = vfs.map(&file, tail.end).at(&s.path, "mmap")?;
            let owner = file.metadata().map(|m| (m.uid, m.gid)).at(&s.path, "fstat")?;
            maps.push((map, owner));
        }
        // A chained log: each rewritten segment's anchors (for every kept record whose
        // predecessor goes) are made durable in `ndlog.chain` before its rename.
        let chain_path = crate::names::segmented_chain_file(dir);
        let chained = ChainFile::read_at(vfs, &chain_path)?.is_some()
            || maps.iter().any(|(map, _)| {
                Reader::new(map.as_ref()).last().is_some_and(|r| chain::link_of(r.line).is_some())
            });
        // The newest seq of each key, over every segment.
        let mut newest: HashMap<Vec<u8>, u64> = HashMap::new();
        let retention =
            self.policy.tombstone_retention.unwrap_or(super::DEFAULT_TOMBSTONE_RETENTION);
        let tombstone_min_ts = now_ms().saturating_sub(crate::clock::millis(retention));
        let mut dead_tombstones = std::collections::HashSet::new();
        if let Some(key) = &self.policy.key {
            for (map, _) in &maps {
                for r in Reader::new(map.as_ref()).records() {
                    if let Some(k) = key.find(r.data) {
                        newest.insert(entity_of(k).into_owned(), r.seq);
                        let tombstone = self
                            .policy
                            .tombstone
                            .as_ref()
                            .is_some_and(|t| super::policy::is_tombstone(t, r.data));
                        if tombstone && (retention.is_zero() || r.ts < tombstone_min_ts) {
                            dead_tombstones.insert(r.seq);
                        }
                    }
                }
            }
            // A sealed segment's last record stays whatever the policy says (it tells readers
            // that no segment is missing after it). When it is an older record of a key, the
            // key's tombstone stays too: without it the entity it deleted would come back.
            for (_, (map, _)) in segments.iter().zip(&maps).filter(|(s, _)| !s.name.active) {
                let reader = Reader::new(map.as_ref());
                let Some(last) = reader.last() else { continue };
                if let Some(k) = key.find(last.data)
                    && let Some(&newest_seq) = newest.get(&*entity_of(k))
                    && newest_seq != last.seq
                {
                    dead_tombstones.remove(&newest_seq);
                }
            }
        }
        let keeps =
            |data: &[u8], seq: u64| match self.policy.key.as_ref().and_then(|k| k.find(data)) {
                Some(k) => {
                    newest.get(&*entity_of(k)) == Some(&seq) && !dead_tombstones.contains(&seq)
                }
                None => true,
            };
        for (s, (map, owner)) in segments.iter().zip(&maps) {
            let reader = Reader::new(map.as_ref());
            if s.name.active {
                // Never rewritten; counted as it stood when mapped.
                let count = reader.records().count() as u64;
                report.records_before += count;
                report.records_after += count;
                continue;
            }
            let last_seq = reader.last().map(|r| r.seq);
            let mut drops = 0u64;
            let mut damaged = false;
            for entry in reader.entries() {
                match entry {
                    Entry::Record(r) if Some(r.seq) != last_seq && !keeps(r.data, r.seq) => {
                        drops += 1
                    }
                    Entry::Corrupt { .. } => damaged = true,
                    _ => {}
                }
            }
            report.records_before += reader.records().count() as u64;
            if drops == 0 && !damaged {
                report.records_after += reader.records().count() as u64;
                continue;
            }
            report.bytes_before += vfs.metadata(&s.path).map_or(0, |m| m.len);
            let mut out = Output::create(vfs.clone(), &s.path, mode, *owner, self.index_stride)?;
            let ino = vfs.metadata(&s.path).map_or(0, |m| m.id.ino);
            let mut quarantine =
                Quarantine::new(&s.path, mode, ino, now_ms()).owned_by(owner.0, owner.1);
            let mut anchors = Anchors::for_segment(chained);
            for entry in reader.entries() {
                match entry {
                    Entry::Record(r) if Some(r.seq) == last_seq || keeps(r.data, r.seq) => {
                        anchors.saw(r.line, true);
                        out.push(r.line, || Some((r.seq, r.ts)))?;
                    }
                    Entry::Record(r) => {
                        anchors.saw(r.line, false);
                        report.dropped += 1
                    }
                    Entry::Corrupt { offset, len, reason } => {
                        let bytes = &map.as_ref()[offset as usize..(offset + len) as usize];
                        quarantine
                            .push(vfs, offset, bytes, &reason.to_string())
                            .at(quarantine.path(), "write")?;
                    }
                    Entry::Padding { .. } | Entry::TornTail { .. } => {}
                }
            }
            if quarantine.commit(vfs).at(quarantine.path(), "write")? {
                vfs.sync_dir(dir).at(dir, "fsync directory")?;
                report.quarantined_spans += quarantine.spans;
                report.quarantined_bytes += quarantine.bytes;
                report.quarantine = Some(quarantine.path().to_path_buf());
            }
            out.sync()?;
            report.records_after += out.records;
            report.bytes_after += out.len;
            anchors.store_at(vfs, &chain_path, mode)?;
            out.install(&s.path)?;
            vfs.sync_dir(dir).at(dir, "fsync directory")?;
            report.rewritten = true;
        }
        Ok(())
    }

    /// Removes temporary files of compactions of this log that died.
    fn remove_segment_leftovers(&self, dir: &Path) -> Result<()> {
        for name in self.vfs.list_dir(dir).at(dir, "list directory")? {
            let bytes = name.as_encoded_bytes();
            if bytes.ends_with(b".tmp") && memchr::memmem::find(bytes, b".compact.").is_some() {
                let leftover = dir.join(&name);
                match self.vfs.remove_file(&leftover) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(Error::io(&leftover, "remove leftover", e));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Where a preallocated segment's last record ends.
fn records_end<V: Vfs>(vfs: &V, segment: &Segment) -> Result<u64> {
    let path = &segment.path;
    let file = vfs.open(path, OpenOptions::read()).map_err(|e| crate::fs::refused(path, e))?;
    let len = file.metadata().at(path, "fstat")?.len;
    let tail = crate::consume::watermark::find_end(vfs, path, &file, len, true);
    Ok(tail.at(path, "read")?.end)
}

/// How many valid records a segment holds: a read of the whole segment.
fn records_in<V: Vfs>(vfs: &V, segment: &Segment) -> Result<u64> {
    let (file, tail) = segment_tail(vfs, segment)?;
    if tail.end == 0 {
        return Ok(0);
    }
    let map = vfs.map(&file, tail.end).at(&segment.path, "mmap")?;
    Ok(Reader::new(map.as_ref()).records().count() as u64)
}

/// The last record of a segment, read from its end; `None` for an empty one.
fn log_last<V: Vfs>(vfs: &V, segment: &Segment) -> Result<Option<Last>> {
    Ok(segment_tail(vfs, segment)?.1.last)
}

/// A segment, opened as listed, and its tail found from its end (past its padding, when
/// preallocated).
fn segment_tail<V: Vfs>(vfs: &V, segment: &Segment) -> Result<(V::File, last_record::Tail)> {
    let path = &segment.path;
    let file = open_segment(vfs, segment)?;
    let len = file.metadata().at(path, "fstat")?.len;
    let padded = naming::is_padded(path);
    let tail = crate::consume::watermark::find_end(vfs, path, &file, len, padded);
    Ok((file, tail.at(path, "read")?))
}

/// Opens a segment as listed for reading. Writers do not wait for a compaction: one may have
/// sealed the active segment since the listing, which renames it (the same file) to its
/// sealed name.
fn open_segment<V: Vfs>(vfs: &V, segment: &Segment) -> Result<V::File> {
    let path = &segment.path;
    match vfs.open(path, OpenOptions::read()) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && segment.name.active => {
            let name = naming::SegmentName { active: false, ..segment.name };
            let sealed = path.with_file_name(name.file_name());
            vfs.open(&sealed, OpenOptions::read()).map_err(|e| crate::fs::refused(&sealed, e))
        }
        opened => opened.map_err(|e| crate::fs::refused(path, e)),
    }
}

/// The seq of a segment's index file name (`<20 digits>.idx`).
fn index_seq(name: &std::ffi::OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(".idx")?;
    let sealed = format!("{digits}{}", naming::SEALED_SUFFIX);
    naming::parse(std::ffi::OsStr::new(&sealed)).map(|n| n.first_seq)
}
