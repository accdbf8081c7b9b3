//! Entity versions for conditional appends: the seq of each entity's newest record (its
//! version), kept in step with the log like the dedup window, so that checking a version does
//! not scan the log.
//!
//! The cache is bounded: it holds the newest `capacity` entities, oldest evicted first, and
//! remembers the highest seq it evicted (the floor). Every entity whose newest record lies above
//! the floor is in the cache, so a miss with a floor of 0 means "no record" at once; only a miss
//! above a non-zero floor reads the log, and then only backwards from the floor. Across
//! processes it is caught up under the writer lock from the bytes other writers appended, and
//! read back from the end of the file after a replacement (compaction) or a failed write.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::fs::{FileId, Vfs};
use crate::json::{JsonPointer, key_bytes};
use crate::read::{Entry, Reader, chunks};
use crate::segments::older::Older;

use super::derive::{Derive, LogAt, Written};

/// Default for [`crate::Options::entity_cache`]: entities whose version a writer keeps.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// The identity of an entity given its raw JSON value: a string's content (escapes decoded),
/// anything else's JSON text, as [`crate::json::value_is`] and `history --entity` compare.
pub(crate) fn entity_of(raw: &[u8]) -> Cow<'_, [u8]> {
    match key_bytes(raw) {
        Cow::Borrowed(b) if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' => {
            Cow::Borrowed(&b[1..b.len() - 1])
        }
        Cow::Owned(mut b) if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' => {
            b.pop();
            b.remove(0);
            Cow::Owned(b)
        }
        other => other,
    }
}

/// What the cache knows of one entity: the seq of its newest record, the end offset of that
/// record, and the entity again (an update then needs one hash and no allocation).
type Slot = (u64, u64, Arc<[u8]>);

/// A writer's cache of entity versions.
#[derive(Debug)]
pub(crate) struct Versions {
    pub(crate) key: JsonPointer,
    capacity: usize,
    /// Entity → what the cache knows of it.
    newest: HashMap<Arc<[u8]>, Slot, foldhash::fast::RandomState>,
    /// (seq, entity) in seq order; an entry whose seq is no longer the entity's newest is stale
    /// and skipped.
    order: VecDeque<(u64, Arc<[u8]>)>,
    /// The highest seq evicted, and the end of its record: an entity missing from the cache has
    /// its newest record at or below it, in the log's bytes before `floor_end`.
    floor: u64,
    floor_end: u64,
    /// The file the cache was read from, and how far.
    file: Option<FileId>,
    upto: u64,
    buf: Vec<u8>,
}

impl Versions {
    pub(crate) fn new(key: JsonPointer, capacity: usize) -> Self {
        Versions {
            key,
            capacity: capacity.max(1),
            newest: HashMap::default(),
            order: VecDeque::new(),
            floor: 0,
            floor_end: 0,
            file: None,
            upto: 0,
            buf: Vec::new(),
        }
    }

    /// The entity a payload names, if it has a value at the key.
    pub(crate) fn entity<'a>(&self, data: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.key.find(data).map(entity_of)
    }

    /// The version of `entity` (0: no record) in the first `len` bytes of `file`, after a
    /// catch-up to `len`. Reads the log only on a miss above the floor.
    pub(crate) fn version_of<V: Vfs>(
        &self,
        vfs: &V,
        file: &V::File,
        entity: &[u8],
        older: Option<Older<'_>>,
    ) -> io::Result<u64> {
        if let Some(&(seq, ..)) = self.newest.get(entity) {
            return Ok(seq);
        }
        if self.floor == 0 {
            return Ok(0);
        }
        // Evicted, or never seen: read back from the floor (whole records only), in this file
        // and then, in a segmented log, in the segments before it.
        let is_it = |r: &crate::read::Record<'_>| {
            r.seq <= self.floor
                && self.key.find(r.data).is_some_and(|raw| *entity_of(raw) == *entity)
        };
        let map = vfs.map(file, self.floor_end)?;
        let reader = Reader::new(map.as_ref());
        if let Some(r) = reader.records_rev().find(is_it) {
            return Ok(r.seq);
        }
        let mut found = 0;
        if let Some(older) = older {
            older.rev_records(vfs, |r| match is_it(&r) {
                true => {
                    found = r.seq;
                    ControlFlow::Break(())
                }
                false => ControlFlow::Continue(()),
            })?;
        }
        Ok(found)
    }

    /// Takes in what the cache has not seen of the first `len` bytes of the log: after a
    /// replacement or at first, the newest entities from the end of the file; otherwise the
    /// bytes appended since.
    fn take_in<V: Vfs>(
        &mut self,
        vfs: &V,
        log: &V::File,
        id: FileId,
        len: u64,
        older: Option<Older<'_>>,
    ) -> io::Result<()> {
        if self.file != Some(id) || self.upto > len {
            self.newest.clear();
            self.order.clear();
            self.floor = 0;
            self.floor_end = 0;
            let map = vfs.map(log, len)?;
            let bytes = map.as_ref();
            let end = memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
            let mut found: Vec<(u64, u64, Arc<[u8]>)> = Vec::new();
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            let mut full = false;
            for r in Reader::new(&bytes[..end]).records_rev() {
                let Some(entity) = self.entity(r.data) else { continue };
                if seen.contains(&*entity) {
                    continue;
                }
                if seen.len() == self.capacity {
                    (self.floor, self.floor_end) = (r.seq, r.end());
                    full = true;
                    break;
                }
                found.push((r.seq, r.end(), Arc::from(&*entity)));
                seen.insert(entity.into_owned());
            }
            // A segmented log: the newest entities go on in the segments before this one.
            // (Their records end at 0 of this file: a floor among them is looked up there.)
            if let Some(older) = older.filter(|_| !full) {
                let mut floor = None;
                older.rev_records(vfs, |r| {
                    let Some(entity) = self.entity(r.data) else {
                        return ControlFlow::Continue(());
                    };
                    if seen.contains(&*entity) {
                        return ControlFlow::Continue(());
                    }
                    if seen.len() == self.capacity {
                        floor = Some(r.seq);
                        return ControlFlow::Break(());
                    }
                    found.push((r.seq, 0, Arc::from(&*entity)));
                    seen.insert(entity.into_owned());
                    ControlFlow::Continue(())
                })?;
                if let Some(floor) = floor {
                    (self.floor, self.floor_end) = (floor, 0);
                }
            }
            for (seq, end, entity) in found.into_iter().rev() {
                self.newest.insert(entity.clone(), (seq, end, entity.clone()));
                self.order.push_back((seq, entity));
            }
            self.file = Some(id);
            self.upto = end as u64;
            return Ok(());
        }
        if self.upto < len {
            let mut buf = std::mem::take(&mut self.buf);
            let mut found = Vec::new();
            let key = &self.key;
            let upto = chunks::for_each_entry(log, self.upto, len, &mut buf, |base, _, entry| {
                if let Entry::Record(r) = entry
                    && let Some(raw) = key.find(r.data)
                {
                    found.push((r.seq, base + r.end(), entity_of(raw).into_owned()));
                }
                Ok(())
            })?;
            self.buf = buf;
            for (seq, end, entity) in found {
                self.note(seq, end, &entity);
            }
            self.upto = upto;
        }
        Ok(())
    }

    /// The entity's newest record is now `seq`, ending at `end`.
    fn note(&mut self, seq: u64, end: u64, entity: &[u8]) {
        // One hash for an entity the cache knows (the common case), and no allocation.
        if let Some(slot) = self.newest.get_mut(entity) {
            (slot.0, slot.1) = (seq, end);
            self.order.push_back((seq, slot.2.clone()));
        } else {
            let shared: Arc<[u8]> = Arc::from(entity);
            self.newest.insert(shared.clone(), (seq, end, shared.clone()));
            self.order.push_back((seq, shared));
        }
        while self.newest.len() > self.capacity {
            self.evict_oldest();
        }
        if self.order.len() > 2 * self.newest.len() + 64 {
            // Drop the stale entries, keeping seq order.
            let newest = &self.newest;
            self.order.retain(|(seq, e)| newest.get(e).is_some_and(|&(s, ..)| s == *seq));
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((seq, entity)) = self.order.pop_front() {
            if let Some(&(s, end, _)) = self.newest.get(&entity)
                && s == seq
            {
                self.newest.remove(&entity);
                (self.floor, self.floor_end) = (seq, end);
                return;
            }
        }
    }
}

impl<V: Vfs> Derive<V> for Versions {
    fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.take_in(log.vfs, log.file, log.id, log.len, log.older)
    }

    fn wrote(&mut self, r: &Written<'_>) {
        if let Some(raw) = self.key.find(r.data) {
            let entity = entity_of(raw);
            self.note(r.seq, r.end, &entity);
        }
        self.upto = r.end;
    }

    fn reset(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_identity_matches_value_is() {
        assert_eq!(&*entity_of(br#""u1""#), b"u1");
        assert_eq!(&*entity_of(br#""\u0075\u0031""#), b"u1");
        assert_eq!(&*entity_of(b"42"), b"42");
    }

    #[test]
    fn eviction_raises_the_floor_in_seq_order() {
        let mut v = Versions::new(JsonPointer::parse("/id").unwrap(), 2);
        v.note(1, 10, b"a");
        v.note(2, 20, b"b");
        v.note(3, 30, b"a");
        assert_eq!((v.floor, v.newest.len()), (0, 2));
        v.note(4, 40, b"c");
        // b (seq 2) is the oldest newest record: evicted, and the floor says so.
        assert_eq!((v.floor, v.floor_end), (2, 20));
        assert!(v.newest.contains_key(&b"a"[..]) && v.newest.contains_key(&b"c"[..]));
    }
}
