//! Entity versions for conditional appends: the seq of each entity's newest record (its
//! version), kept in step with the log like the dedup window, so that checking a version does
//! not scan the log.
//!
//! Two layers. In memory, a bounded cache: the newest `capacity` entities, oldest evicted
//! first, each exact (the cache follows every record appended, this writer's and, under the
//! writer lock, what other processes appended). On disk, the persistent table `LOG.versions`
//! (`table`, FORMAT.md section 12), shared by every process appending with the same key: it
//! answers every miss of the cache without reading the log, and it is what lets a fresh
//! process check a version without first reading the log back.
//!
//! Without a usable table (no boot id, a directory the writer cannot create it in, an I/O
//! error: it is derived data, and never fails an append) the cache works alone, as before the
//! table: filled from the end of the log, it remembers the highest seq it evicted (the floor),
//! a miss below a floor of 0 means "no record", and a miss above a non-zero floor reads the log
//! backwards from the floor.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use crate::fs::{FileId, Vfs};
use crate::json::{JsonPointer, entity_of};
use crate::read::{Entry, Reader, chunks};
use crate::segments::older::Older;

use super::derive::{Derive, LogAt, Written};

mod layout;
mod records;
mod slots;
mod store;
mod table;

use table::{Found, VersionTable};

/// Default for [`crate::Options::entity_cache`]: entities whose version a writer keeps.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// The most notes of a version check (one a payload, 40 bytes each) a writer keeps room for
/// between appends: a larger batch's are let go after it.
const KEEP_CHECKED: usize = 1024;

/// Where the version check found the entity of one payload of the batch: its range in the
/// payload, and the payload's address and length. The batch's payloads stay borrowed (unchanged)
/// from the check to the write, within one hold of the lock, and the notes are dropped when the
/// next hold begins: a record of this hold whose payload has the same address and length is
/// that payload.
#[derive(Clone, Copy, Debug)]
struct Checked {
    addr: usize,
    len: usize,
    entity: (usize, usize),
}

impl Checked {
    /// The entity, if `data` is the payload it was found in.
    fn entity_in<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        let same = data.as_ptr().addr() == self.addr && data.len() == self.len;
        same.then(|| &data[self.entity.0..self.entity.1])
    }
}

/// What the cache knows of one entity.
#[derive(Debug)]
struct Known {
    /// The seq of its newest record, and where that record ends.
    seq: u64,
    end: u64,
    /// The entity again (an update then needs one hash and no allocation).
    entity: Arc<[u8]>,
    /// Where the table holds the entity's hash, as of the table's epoch `place.0` (0: not
    /// known): an update then writes the slot without probing for it.
    place: (u64, u64),
}

/// A writer's entity versions: the cache, and the table behind it.
#[derive(Debug)]
pub(crate) struct Versions<F> {
    pub(crate) key: JsonPointer,
    capacity: usize,
    /// Entity → what the cache knows of it.
    newest: HashMap<Arc<[u8]>, Known, foldhash::fast::RandomState>,
    /// (seq, entity) in seq order; an entry whose seq is no longer the entity's newest is stale
    /// and skipped. Kept only once the cache has reached its capacity (`ordered`): until an
    /// entity must be evicted, nothing needs the order, and an append does not pay for it.
    order: VecDeque<(u64, Arc<[u8]>)>,
    ordered: bool,
    /// The highest seq evicted, and the end of its record: an entity missing from the cache has
    /// its newest record at or below it, in the log's bytes before `floor_end`.
    floor: u64,
    floor_end: u64,
    /// The file the cache was read from, and how far.
    file: Option<FileId>,
    upto: u64,
    buf: Vec<u8>,
    /// `LOG.versions`, unless the writer keeps none.
    table: Option<VersionTable<F>>,
    /// The table answers the cache's misses until the lock is released.
    backed: bool,
    /// The cache was started empty, the table to answer its misses: it has no floor.
    unfilled: bool,
    /// The entities this hold's version check found, by payload index (`None`: not a slice of
    /// the payload, a string with escapes), so that `wrote` does not look for them again.
    /// Emptied when a hold begins (`catch_up`) and ends.
    checked: Vec<Option<Checked>>,
}

impl<F: crate::fs::VfsFile> Versions<F> {
    /// Versions of the entities at `key`, `capacity` of them in memory, behind the table at
    /// `table` (if any).
    pub(crate) fn new(key: JsonPointer, capacity: usize, table: Option<PathBuf>) -> Self {
        Versions {
            table: table.map(|path| VersionTable::new(path, key.clone())),
            backed: false,
            unfilled: false,
            key,
            capacity: capacity.max(1),
            newest: HashMap::default(),
            order: VecDeque::new(),
            ordered: false,
            floor: 0,
            floor_end: 0,
            file: None,
            upto: 0,
            buf: Vec::new(),
            checked: Vec::new(),
        }
    }

    /// The entity a payload names, if it has a value at the key.
    pub(crate) fn entity<'a>(&self, data: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.key.find(data).map(entity_of)
    }

    /// The entity payload `i` of this hold's batch names, for the version check; noted, so
    /// that [`Derive::wrote`] takes it from there instead of looking for it again.
    pub(crate) fn checked_entity<'a>(&mut self, i: usize, data: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        let entity = self.entity(data)?;
        let addr = data.as_ptr().addr();
        let checked = match &entity {
            // (A slice of the payload: where in it.)
            Cow::Borrowed(e) => e
                .as_ptr()
                .addr()
                .checked_sub(addr)
                .filter(|start| start + e.len() <= data.len())
                .map(|start| Checked { addr, len: data.len(), entity: (start, start + e.len()) }),
            Cow::Owned(_) => None,
        };
        if self.checked.len() <= i {
            self.checked.resize(i + 1, None);
        }
        self.checked[i] = checked;
        Some(entity)
    }

    /// Drops the notes of the last version check.
    fn forget_checked(&mut self) {
        self.checked.clear();
        self.checked.shrink_to(KEEP_CHECKED);
    }

    /// How many times the table was rebuilt from the whole log by this handle.
    #[cfg(test)]
    pub(crate) fn rebuilds(&self) -> u64 {
        self.table.as_ref().map_or(0, VersionTable::rebuilds)
    }

    /// The version of `entity` (0: no record) in the log, after this hold's catch-up: from the
    /// cache, else from the table, else (no usable table) the cache's floor. Reads the log only
    /// to check a hit in the table (one record), when the table cannot tell, or, without a
    /// table, on a miss above the floor.
    pub(crate) fn version_of<V: Vfs<File = F>>(
        &self,
        vfs: &V,
        file: &F,
        entity: &[u8],
        older: Option<Older<'_>>,
    ) -> io::Result<u64> {
        if let Some(known) = self.newest.get(entity) {
            return Ok(known.seq);
        }
        if self.backed
            && let Some(table) = &self.table
        {
            return match table.lookup(vfs, file, older, entity)? {
                Found::Absent => Ok(0),
                Found::At(seq) => Ok(seq),
                Found::Unknown => self.read_back(vfs, file, entity, (u64::MAX, self.upto), older),
            };
        }
        if self.floor == 0 {
            return Ok(0);
        }
        self.read_back(vfs, file, entity, (self.floor, self.floor_end), older)
    }

    /// The newest record of `entity` at or below the seq `below.0`, read backwards from byte
    /// `below.1` of this file and then, in a segmented log, through the segments before it.
    fn read_back<V: Vfs<File = F>>(
        &self,
        vfs: &V,
        file: &F,
        entity: &[u8],
        below: (u64, u64),
        older: Option<Older<'_>>,
    ) -> io::Result<u64> {
        let (floor, floor_end) = below;
        let is_it = |r: &crate::read::Record<'_>| {
            r.seq <= floor && self.key.find(r.data).is_some_and(|raw| *entity_of(raw) == *entity)
        };
        let map = vfs.map(file, floor_end)?;
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
    fn take_in<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        log: &F,
        id: FileId,
        len: u64,
        older: Option<Older<'_>>,
    ) -> io::Result<()> {
        if self.file != Some(id) || self.upto > len {
            self.newest.clear();
            self.order.clear();
            self.ordered = false;
            self.floor = 0;
            self.floor_end = 0;
            self.unfilled = self.backed;
            if self.backed {
                // The table answers for everything before: nothing to read.
                self.file = Some(id);
                self.upto = len;
                return Ok(());
            }
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
            // A full cache evicts at the next new entity: it keeps the order from the start.
            self.ordered = full;
            for (seq, end, entity) in found.into_iter().rev() {
                let known = Known { seq, end, entity: entity.clone(), place: (0, 0) };
                self.newest.insert(entity.clone(), known);
                if full {
                    self.order.push_back((seq, entity));
                }
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
                let _ = self.note(seq, end, &entity);
            }
            self.upto = upto;
        }
        Ok(())
    }

    /// The entity's newest record is now `seq`, ending at `end`; returns where the table held
    /// its hash, if known.
    fn note(&mut self, seq: u64, end: u64, entity: &[u8]) -> (u64, u64) {
        // One hash for an entity the cache knows (the common case), and no allocation.
        let place = if let Some(known) = self.newest.get_mut(entity) {
            (known.seq, known.end) = (seq, end);
            if self.ordered {
                self.order.push_back((seq, known.entity.clone()));
            }
            known.place
        } else {
            let shared: Arc<[u8]> = Arc::from(entity);
            let known = Known { seq, end, entity: shared.clone(), place: (0, 0) };
            self.newest.insert(shared.clone(), known);
            if self.ordered {
                self.order.push_back((seq, shared));
            }
            (0, 0)
        };
        self.bound();
        place
    }

    /// Evicts past the capacity, and drops stale entries of the order.
    fn bound(&mut self) {
        if self.newest.len() > self.capacity && !self.ordered {
            // The first eviction: the order of what the cache holds, sorted once (a moment, at
            // the first new entity past the capacity, instead of a little at every append).
            let mut order: Vec<(u64, Arc<[u8]>)> =
                self.newest.values().map(|k| (k.seq, k.entity.clone())).collect();
            order.sort_unstable_by_key(|(seq, _)| *seq);
            self.order = order.into();
            self.ordered = true;
        }
        while self.newest.len() > self.capacity {
            self.evict_oldest();
        }
        if self.order.len() > 2 * self.newest.len() + 64 {
            // Drop the stale entries, keeping seq order.
            let newest = &self.newest;
            self.order.retain(|(seq, e)| newest.get(e).is_some_and(|k| k.seq == *seq));
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((seq, entity)) = self.order.pop_front() {
            if let Some(known) = self.newest.get(&entity)
                && known.seq == seq
            {
                let end = known.end;
                self.newest.remove(&entity);
                (self.floor, self.floor_end) = (seq, end);
                return;
            }
        }
    }
}

impl<V: Vfs> Derive<V> for Versions<V::File> {
    /// Checks the table (rebuilding it once if it cannot be trusted) while the open holds the
    /// lock.
    fn opened(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        if let Some(table) = &mut self.table {
            table.catch_up(log);
            table.reset();
        }
        Ok(())
    }

    fn catch_up(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.forget_checked();
        self.backed = self.table.as_mut().is_some_and(|t| t.catch_up(log));
        if !self.backed && self.unfilled {
            // No table to answer the misses of a cache that has no floor: fill it from the log.
            self.file = None;
        }
        self.take_in(log.vfs, log.file, log.id, log.len, log.older)
    }

    fn wrote(&mut self, r: &Written<'_>) {
        let checked = self.checked.get(r.index).copied().flatten();
        let entity = match checked.and_then(|c| c.entity_in(r.data)) {
            Some(entity) => Some(Cow::Borrowed(entity)),
            None => self.entity(r.data),
        };
        if let Some(entity) = entity {
            let place = self.note(r.seq, r.end, &entity);
            if let Some(table) = &mut self.table {
                let found = table.wrote(&entity, r.seq, r.at, place);
                if found != place
                    && let Some(known) = self.newest.get_mut(&*entity)
                {
                    known.place = found;
                }
            }
        }
        self.upto = r.end;
    }

    fn written(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        self.forget_checked();
        if let Some(table) = &mut self.table {
            table.written(log);
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.forget_checked();
        self.file = None;
        self.backed = false;
        if let Some(table) = &mut self.table {
            table.reset();
        }
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

    /// Every entity hashes alike: each lookup the table cannot settle is read from the log,
    /// and the answers are still right.
    #[test]
    fn versions_stay_right_when_every_hash_collides() {
        use crate::fs::{Create, OpenOptions, VfsFile};
        use crate::sim::SimFs;
        let fs = SimFs::new(5);
        let path = std::path::Path::new("/log.ndjson");
        let file = fs.open(path, OpenOptions::append(Create::IfMissing, 0o600)).unwrap();
        let mut bytes = Vec::new();
        for (seq, e) in ["a", "b", "a", "c"].iter().enumerate() {
            let seq = seq as u64 + 1;
            crate::format::encode(&mut bytes, seq, seq, format!(r#"{{"id":"{e}"}}"#).as_bytes());
        }
        crate::fs::append_all(&file, &bytes).unwrap();
        let mut v = Versions::<crate::sim::SimFile>::new(
            JsonPointer::parse("/id").unwrap(),
            100,
            Some("/log.ndjson.versions".into()),
        );
        v.table = v.table.map(|t| t.with_hash(|_| 7));
        let meta = file.metadata().unwrap();
        let log = LogAt {
            vfs: &fs,
            file: &file,
            id: meta.id,
            len: meta.len,
            mode: 0o600,
            last_seq: 4,
            now: 0,
            older: None,
        };
        Derive::catch_up(&mut v, &log).unwrap();
        assert!(v.backed && v.newest.is_empty(), "the table answers, the cache starts empty");
        let version =
            |v: &Versions<_>, e: &str| v.version_of(&fs, &file, e.as_bytes(), None).unwrap();
        assert_eq!(
            ["a", "b", "c", "d"].map(|e| version(&v, e)),
            [3, 2, 4, 0],
            "c's record holds the one slot; the others are read back from the log"
        );
        assert_eq!(v.rebuilds(), 1);
    }

    #[test]
    fn eviction_raises_the_floor_in_seq_order() {
        let mut v =
            Versions::<crate::sim::SimFile>::new(JsonPointer::parse("/id").unwrap(), 2, None);
        v.note(1, 10, b"a");
        v.note(2, 20, b"b");
        v.note(3, 30, b"a");
        assert_eq!((v.floor, v.newest.len()), (0, 2));
        v.note(4, 40, b"c");
        // b (seq 2) is the oldest newest record: evicted, and the floor says so.
        assert_eq!((v.floor, v.floor_end), (2, 20));
        assert!(v.newest.contains_key(&b"a"[..]) && v.newest.contains_key(&b"c"[..]));
        // From then on the order follows every append: c is rewritten, b comes back, and a
        // (seq 3) goes.
        v.note(5, 50, b"c");
        v.note(6, 60, b"b");
        assert_eq!((v.floor, v.floor_end), (3, 30));
        assert!(v.newest.contains_key(&b"b"[..]) && v.newest.contains_key(&b"c"[..]));
    }
}
