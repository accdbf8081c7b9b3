//! Idempotent appends: a payload whose key (a JSON pointer into it) was appended within a
//! window returns the original record's seq and writes nothing.
//!
//! The window is recovered from the log itself under the writer lock, so it holds across
//! processes and restarts: what other processes appended since this handle last looked is read
//! from the file (only the new bytes), and after a replacement (compaction) the window is read
//! back from the end of the new file. In memory it is a bounded hash set of key hashes; a hash
//! hit is verified against the record in the log before an append is called a duplicate.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::time::Duration;

use std::ops::ControlFlow;

use crate::fs::{FileId, Vfs, VfsFile};
use crate::segments::older::Older;

use super::ack::Ack;
use super::derive::{Derive, LogAt, Written};
use crate::json::{JsonPointer, key_bytes};
use crate::read::chunks;
use crate::read::{Entry, Reader};

/// Which appends count as repeats: same key at `key`, within `window`.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::{Dedup, DedupWindow, JsonPointer, Options};
/// let dedup = Dedup::new(JsonPointer::parse("/request_id")?, DedupWindow::Records(100_000));
/// let writer = Options::new().dedup(dedup).open(dir.path().join("events.ndjson"))?;
/// let first = writer.append_raw(br#"{"request_id":"r1","amount":5}"#)?;
/// // A client retries after a timeout: the same request is not appended twice.
/// let retry = writer.append_raw(br#"{"request_id":"r1","amount":5}"#)?;
/// assert_eq!(retry.seq, first.seq);
/// assert!(retry.duplicate);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dedup {
    pub(crate) key: JsonPointer,
    pub(crate) window: DedupWindow,
}

/// How far back a repeated key is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DedupWindow {
    /// Among the last N records of the log.
    Records(u64),
    /// Among records whose ts is within this long before now.
    Age(Duration),
}

impl Dedup {
    /// Appends whose payload has the same value at `key` as a record within `window` are
    /// repeats. Payloads without the key are always appended.
    pub fn new(key: JsonPointer, window: DedupWindow) -> Self {
        Dedup { key, window }
    }
}

/// A record the window knows: where to verify it, and what to answer.
#[derive(Clone, Copy, Debug)]
struct Seen {
    seq: u64,
    ts: u64,
    /// Where it is in the file the window was read from; `None` for a record in an older
    /// segment of a segmented log, found by its seq there.
    offset: Option<u64>,
}

/// A writer's window of recent keys.
#[derive(Debug)]
pub(crate) struct DedupState {
    config: Dedup,
    hasher: RandomState,
    /// Newest record by key hash.
    seen: HashMap<u64, Seen>,
    /// Records in the window, oldest first: (seq, ts, key hash).
    order: VecDeque<(u64, u64, u64)>,
    /// The file the window was read from, and how far.
    file: Option<FileId>,
    upto: u64,
    buf: Vec<u8>,
}

/// The payloads of a batch that are not written because they repeat a key.
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    /// Repeats of a record already in the log: (index in the batch, that record).
    pub(crate) in_log: Vec<(usize, Ack)>,
    /// Repeats of a payload earlier in the batch: (index, that payload's place among the
    /// records written).
    pub(crate) in_batch: Vec<(usize, usize)>,
}

impl DedupState {
    pub(crate) fn new(config: Dedup) -> Self {
        DedupState {
            config,
            hasher: RandomState::new(),
            seen: HashMap::new(),
            order: VecDeque::new(),
            file: None,
            upto: 0,
            buf: Vec::new(),
        }
    }

    fn hash_of(&self, data: &[u8]) -> Option<u64> {
        self.config.key.find(data).map(|raw| self.hasher.hash_one(&*key_bytes(raw)))
    }

    /// Takes in what the handle has not seen of the first `len` bytes of the log (under the
    /// lock): after a replacement or at first, the window from the end of the file; otherwise
    /// only the bytes appended since.
    fn take_in<V: Vfs>(
        &mut self,
        vfs: &V,
        log: &V::File,
        id: FileId,
        len: u64,
        now_ms: u64,
        older: Option<Older<'_>>,
    ) -> io::Result<()> {
        if self.file != Some(id) || self.upto > len {
            self.seen.clear();
            self.order.clear();
            let map = vfs.map(log, len)?;
            let bytes = map.as_ref();
            let end = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
            let reader = Reader::new(&bytes[..end]);
            let mut newest = reader.last().map(|r| r.seq);
            let mut window: Vec<(u64, u64, Option<u64>, Option<u64>)> = Vec::new();
            let mut complete = false;
            for r in reader.records_rev() {
                if !self.within(r.seq, r.ts, newest.unwrap_or(r.seq), now_ms) {
                    complete = true;
                    break;
                }
                window.push((r.seq, r.ts, Some(r.offset), self.hash_of(r.data)));
            }
            // A segmented log: the window reaches back across rolls.
            if let Some(older) = older.filter(|_| !complete) {
                older.rev_records(vfs, |r| {
                    let newest = *newest.get_or_insert(r.seq);
                    if !self.within(r.seq, r.ts, newest, now_ms) {
                        return ControlFlow::Break(());
                    }
                    window.push((r.seq, r.ts, None, self.hash_of(r.data)));
                    ControlFlow::Continue(())
                })?;
            }
            for (seq, ts, offset, hash) in window.into_iter().rev() {
                self.remember(seq, ts, offset, hash);
            }
            self.file = Some(id);
            self.upto = end as u64;
            return Ok(());
        }
        if self.upto < len {
            let mut buf = std::mem::take(&mut self.buf);
            let mut found = Vec::new();
            self.upto = chunks::for_each_entry(log, self.upto, len, &mut buf, |base, _, entry| {
                if let Entry::Record(r) = entry {
                    found.push((r.seq, r.ts, base + r.offset, self.hash_of(r.data)));
                }
                Ok(())
            })?;
            self.buf = buf;
            for (seq, ts, offset, hash) in found {
                self.remember(seq, ts, Some(offset), hash);
            }
        }
        Ok(())
    }

    fn within(&self, seq: u64, ts: u64, newest_seq: u64, now_ms: u64) -> bool {
        match self.config.window {
            DedupWindow::Records(n) => newest_seq.saturating_sub(seq) < n,
            DedupWindow::Age(age) => now_ms.saturating_sub(ts) <= crate::clock::millis(age),
        }
    }

    fn remember(&mut self, seq: u64, ts: u64, offset: Option<u64>, hash: Option<u64>) {
        let Some(hash) = hash else { return };
        self.seen.insert(hash, Seen { seq, ts, offset });
        self.order.push_back((seq, ts, hash));
    }

    /// Records the handle itself just wrote (the window stays current without a read).
    fn note(&mut self, seq: u64, ts: u64, offset: u64, data: &[u8], end: u64) {
        let hash = self.hash_of(data);
        self.remember(seq, ts, Some(offset), hash);
        self.upto = end;
    }

    /// Forgets everything (after a failed write the file's end is unknown).
    fn forget(&mut self) {
        self.file = None;
    }

    /// Drops what fell out of the window.
    fn evict(&mut self, newest_seq: u64, now_ms: u64) {
        while let Some(&(seq, ts, hash)) = self.order.front() {
            if self.within(seq, ts, newest_seq, now_ms) {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&hash).is_some_and(|s| s.seq == seq) {
                self.seen.remove(&hash);
            }
        }
    }

    /// The record in the window with the same key as `data`, verified against the log.
    fn find<V: Vfs>(
        &mut self,
        data: &[u8],
        vfs: &V,
        log: &V::File,
        older: Option<Older<'_>>,
    ) -> io::Result<Option<(u64, u64)>> {
        let Some(key) = self.config.key.find(data) else { return Ok(None) };
        let key = key_bytes(key);
        let Some(&seen) = self.seen.get(&self.hasher.hash_one(&*key)) else { return Ok(None) };
        let Some(offset) = seen.offset else {
            // In an older segment: read it back by its seq.
            let payload = match older {
                Some(older) => older.payload(vfs, seen.seq)?,
                None => None,
            };
            let same = payload
                .is_some_and(|p| self.config.key.find(&p).is_some_and(|k| *key_bytes(k) == *key));
            return Ok(same.then_some((seen.seq, seen.ts)));
        };
        // Verify: read the record back and compare keys (hashes can collide).
        let mut want = 4096usize;
        loop {
            self.buf.resize(want, 0);
            let mut got = 0;
            while got < want {
                match log.read_at(&mut self.buf[got..], offset + got as u64)? {
                    0 => break,
                    n => got += n,
                }
            }
            let bytes = &self.buf[..got];
            if let Some(nl) = memchr::memchr(b'\n', bytes) {
                let same = match crate::format::decode(&bytes[..nl]) {
                    Ok(f) if f.seq == seen.seq => {
                        self.config.key.find(f.data).is_some_and(|k| *key_bytes(k) == *key)
                    }
                    _ => false,
                };
                return Ok(same.then_some((seen.seq, seen.ts)));
            }
            if got < want {
                return Ok(None);
            }
            want *= 4;
        }
    }

    /// Which of the `count` payloads of a batch repeat a key: of a record in the window (with
    /// that record's acknowledgement), or of a payload earlier in the same batch (with the
    /// place, among the records the batch writes, of the one that is written).
    pub(crate) fn repeats<'p, V: Vfs>(
        &mut self,
        count: usize,
        payload: impl Fn(usize) -> &'p [u8],
        vfs: &V,
        log: &V::File,
        older: Option<Older<'_>>,
    ) -> io::Result<Repeats> {
        let mut found = Repeats::default();
        let mut fresh: Vec<(std::borrow::Cow<'_, [u8]>, usize)> = Vec::new();
        for i in 0..count {
            let data = payload(i);
            if let Some((seq, ts)) = self.find(data, vfs, log, older)? {
                found.in_log.push((i, Ack { seq, ts, duplicate: true }));
            } else if count > 1
                && let Some(key) = self.key_of(data)
            {
                // A repeat within the batch is a repeat of the record the batch writes.
                match fresh.iter().find(|(k, _)| *k == key) {
                    Some(&(_, j)) => found.in_batch.push((i, j)),
                    None => fresh.push((key, i - found.in_log.len() - found.in_batch.len())),
                }
            }
        }
        Ok(found)
    }

    /// The key of `data`, for comparing payloads within one batch.
    fn key_of<'a>(&self, data: &'a [u8]) -> Option<std::borrow::Cow<'a, [u8]>> {
        self.config.key.find(data).map(key_bytes)
    }
}

impl<V: Vfs> Derive<V> for DedupState {
    fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.take_in(log.vfs, log.file, log.id, log.len, log.now, log.older)?;
        self.evict(log.last_seq, log.now);
        Ok(())
    }

    fn wrote(&mut self, r: &Written<'_>) {
        self.note(r.seq, r.ts, r.at, r.data, r.end);
    }

    fn reset(&mut self) {
        self.forget();
    }
}
