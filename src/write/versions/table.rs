//! The persistent entity → version table, `LOG.versions` (FORMAT.md, section 12): derived data
//! beside the log, like `LOG.idx`, that answers "what is this entity's version" without reading
//! the log, for every process that appends with the same entity key.
//!
//! It is never synced. Within one boot the page cache is the same for every process, so the
//! table holds exactly what the last writer wrote: writers update it under the writer lock,
//! slots first and the header after (at once, or after [`HEADER_EVERY`] records), and a header
//! that covers less than the slots (a writer killed in between, or not yet due to rewrite it)
//! makes the next catch-up read those records again (a slot keeps the highest seq, so reading a
//! record twice changes nothing). After a power loss its pages may be any mix of old
//! and new, undetectably: a table written in another boot (or for another log or key, or whose
//! header is damaged or describes more than the log holds) is rebuilt from the log, once.
//!
//! A slot holds the newest record among the entities sharing a 64-bit hash, so a miss is
//! "no record" at once, and a hit is checked against the record itself (a hash shared by two
//! entities, or a record that retention or a compaction removed, leaves the answer to the log).

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use crate::fs::{FileId, Vfs, VfsFile};
use crate::json::JsonPointer;
use crate::read::{Entry, chunks};
use crate::segments::older::Older;

use super::super::derive::LogAt;
use super::layout::{Covered, HEADER_LEN, Header, MIN_CAPACITY, Slot, slot_offset, stable_hash};
use super::records::{Held, open_segment, record_of, seq_ending_at};
use super::slots::{build, insert, probe, write_table};
use super::store::TableFile;
use crate::json::entity_of;

/// A writer rewrites the header after at most this many records of its own (or at once when
/// it put in a new entity or records other writers appended): between two, the slots are ahead
/// of the header, which other writers' catch-ups read from the log again (at most this many
/// records), as after a writer killed between its slots and its header.
const HEADER_EVERY: u32 = 64;

/// What the table says of an entity's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No record: version 0.
    Absent,
    /// Its newest record has this seq.
    At(u64),
    /// The table cannot tell (a hash shared with another entity, a record no longer in the
    /// log, a table not caught up in this hold): read the log.
    Unknown,
}

/// One writer handle's view of `LOG.versions`.
#[derive(Debug)]
pub(crate) struct VersionTable<F> {
    path: PathBuf,
    key: JsonPointer,
    /// The stable hash of the key's text, in the header: a table is for one key.
    key_hash: u64,
    /// How an entity is hashed: [`stable_hash`] (a unit test forces collisions).
    hash: fn(&[u8]) -> u64,
    file: Option<TableFile<F>>,
    /// The header as this handle last read or wrote it, and its bytes: while the file holds
    /// the same bytes, nobody changed the table since.
    known: Option<(Header, [u8; HEADER_LEN])>,
    /// A segmented log's directory, as identified once.
    dir_id: Option<FileId>,
    /// Records this handle encoded in this hold, put in once they are in the file, each with
    /// the slot its hash is in, where known: (epoch, slot).
    pending: Vec<(Slot, Option<(u64, u64)>)>,
    /// Bumped whenever slots may have moved (this handle grew or rebuilt the table, or found a
    /// header it did not write): a slot position learnt in an earlier epoch is probed again.
    epoch: u64,
    /// How far the slots reflect the log beyond the header this handle last wrote (its own
    /// records since), while the file holds that header; and how many records that is.
    applied: Option<Covered>,
    unheaded: u32,
    /// This hold's catch-up succeeded: the table reflects every record of the log up to where
    /// the writer found its end, and lookups may use it.
    caught: bool,
    /// The active segment at the catch-up (0: a single-file log).
    segment: u64,
    /// A lookup found a slot whose record is gone: rebuild at the next catch-up.
    stale: Cell<bool>,
    buf: Vec<u8>,
    /// Whole-log reads (rebuilds) this handle made.
    rebuilds: u64,
    /// No boot id, or the file could not be opened: this handle goes on without a table.
    unavailable: bool,
}

impl<F: VfsFile> VersionTable<F> {
    /// The table at `path` for entities at `key`.
    pub(crate) fn new(path: PathBuf, key: JsonPointer) -> Self {
        VersionTable {
            path,
            key_hash: stable_hash(key.to_string().as_bytes()),
            key,
            hash: stable_hash,
            file: None,
            known: None,
            dir_id: None,
            pending: Vec::new(),
            epoch: 1,
            applied: None,
            unheaded: 0,
            caught: false,
            segment: 0,
            stale: Cell::new(false),
            buf: Vec::new(),
            rebuilds: 0,
            unavailable: false,
        }
    }

    /// The same table, hashing entities with `hash` (tests force collisions so).
    #[cfg(test)]
    pub(crate) fn with_hash(mut self, hash: fn(&[u8]) -> u64) -> Self {
        self.hash = hash;
        self
    }

    /// How many times this handle read the whole log to rebuild the table.
    #[cfg(test)]
    pub(crate) fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    /// Under the writer lock, before seqs are assigned: makes the table reflect every record
    /// of the first `log.len` bytes of the log (reading only the records it does not cover:
    /// what writers without this key appended since), rebuilding it from the whole log when it
    /// cannot be trusted. Returns whether lookups may use it until the lock is released; on an
    /// error it is not used, and the log answers.
    pub(crate) fn catch_up<V: Vfs<File = F>>(&mut self, log: &LogAt<'_, V>) -> bool {
        self.caught = false;
        self.pending.clear();
        self.segment = log.older.map_or(0, |o| o.first_seq);
        match self.bring_up_to_date(log) {
            Ok(()) => self.caught = true,
            Err(_) => self.forget(),
        }
        self.caught
    }

    /// Forgets the file and what this handle knew of it: the next catch-up opens and checks it
    /// again.
    fn forget(&mut self) {
        self.file = None;
        self.known = None;
        self.applied = None;
        self.caught = false;
        self.epoch += 1;
    }

    /// A record this handle encoded; it goes into the table once the write succeeded. `place`
    /// is where the caller last learnt the entity's slot to be, as (epoch, slot); returns where
    /// it is now, if known ((0, 0) if not): a slot found once is written without probing while
    /// nothing can have moved it.
    pub(crate) fn wrote(
        &mut self,
        entity: &[u8],
        seq: u64,
        offset: u64,
        place: (u64, u64),
    ) -> (u64, u64) {
        if !self.caught {
            return place;
        }
        let hash = (self.hash)(entity);
        let place = match place.0 == self.epoch {
            true => place,
            false => self.locate(hash).map_or((0, 0), |i| (self.epoch, i)),
        };
        self.pending.push((Slot { hash, seq, offset }, (place.0 != 0).then_some(place)));
        place
    }

    /// The slot holding `hash`, if the table has one.
    fn locate(&self, hash: u64) -> Option<u64> {
        let ((header, _), file) = (self.known.as_ref()?, self.file.as_ref()?);
        probe(file, header, hash).ok().flatten().map(|(i, _)| i)
    }

    /// The write is in the file, which now ends at `log.len` after the record `log.last_seq`:
    /// the records go in (slots first), then the header says the table covers them.
    pub(crate) fn written<V: Vfs<File = F>>(&mut self, log: &LogAt<'_, V>) {
        let mut pending = std::mem::take(&mut self.pending);
        if !self.caught || pending.is_empty() {
            return;
        }
        let covered = Covered { segment: self.segment, end: log.len, seq: log.last_seq };
        let result = self.put_in(log.vfs, pending.drain(..), covered, false);
        self.pending = pending;
        if result.is_err() {
            self.forget();
        }
    }

    /// A write failed: nothing of it goes into the table.
    pub(crate) fn reset(&mut self) {
        self.pending.clear();
        self.caught = false;
    }

    /// What the table says of `entity` (under the lock, after this hold's catch-up). A hit is
    /// checked against its record in the log (`log`, the file the writer appends to; `older`,
    /// a segmented log's other segments).
    pub(crate) fn lookup<V: Vfs<File = F>>(
        &self,
        vfs: &V,
        log: &F,
        older: Option<Older<'_>>,
        entity: &[u8],
    ) -> io::Result<Found> {
        let (Some((header, _)), Some(file), true) = (&self.known, &self.file, self.caught) else {
            return Ok(Found::Unknown);
        };
        let Ok(slot) = probe(file, header, (self.hash)(entity)) else {
            // Unreadable, or full (see `insert`): rebuilt at the next catch-up.
            self.distrust(file);
            return Ok(Found::Unknown);
        };
        let Some((_, slot)) = slot else { return Ok(Found::Absent) };
        let held = record_of(vfs, log, older, slot)?;
        Ok(match held {
            Held::Record(data) => match self.key.find(&data).map(entity_of) {
                Some(its) if *its == *entity => Found::At(slot.seq),
                // Another entity with the same hash has the newer record: the log must tell.
                Some(its) if (self.hash)(&its) == slot.hash => Found::Unknown,
                // A record the slot cannot have come from: the table no longer describes the log.
                _ => {
                    self.distrust(file);
                    Found::Unknown
                }
            },
            Held::Removed => Found::Absent,
            Held::Gone => {
                self.distrust(file);
                Found::Unknown
            }
        })
    }

    /// The table no longer describes the log (a compaction removed a record a slot names):
    /// the header is made invalid, so that the next catch-up, by any process, rebuilds it.
    /// The slots stay as they are meanwhile: every answer from them is checked.
    fn distrust(&self, file: &TableFile<F>) {
        self.stale.set(true);
        let _ = file.write(0, &[0u8; HEADER_LEN]);
    }

    /// Whether header `h` is of this log (`id`), this boot and this key, and no lookup found
    /// the table stale since.
    fn describes(&self, h: &Header, id: FileId, boot: [u8; 16]) -> bool {
        !self.stale.get() && h.log_id == id && h.boot == boot && h.key == self.key_hash
    }

    fn bring_up_to_date<V: Vfs<File = F>>(&mut self, log: &LogAt<'_, V>) -> io::Result<()> {
        if self.unavailable {
            return Err(io::Error::other("no version table for this handle"));
        }
        let Some(boot) = log.vfs.boot_id() else {
            self.unavailable = true;
            return Err(io::Error::other("no boot id: an unsynced table cannot be trusted"));
        };
        let id = self.identity(log)?;
        if self.file.is_none() {
            // A handle that cannot open the table (a read-only directory, a symlink or a FIFO
            // planted there) goes on without it, and does not try again at every append.
            let file = TableFile::open(log.vfs, &self.path, log.mode);
            self.unavailable = file.is_err();
            self.file = Some(file?);
            self.known = None;
        }
        let mut bytes = [0u8; HEADER_LEN];
        let file = self.file.as_ref().ok_or_else(|| io::Error::other("table not open"))?;
        let read = match file.read(0, &mut bytes) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
            Err(e) => return Err(e),
        };
        // The bytes this handle last read or wrote: nobody changed the table since, and what
        // was checked then holds (the common case, which costs no system call).
        let known = self.known.filter(|(_, known)| read && *known == bytes);
        let seen = known.is_some();
        // The table as this handle left it, covering the log to its end (this handle's own
        // appends, one after another): the header is trusted as below, already mapped, and no
        // record is to be read. (The common case, cut short: it runs before every append.)
        if let Some((h, _)) = known
            && self.describes(&h, id, boot)
            && self.applied.unwrap_or(h.covered)
                == (Covered { segment: self.segment, end: log.len, seq: log.last_seq })
            && self.position_holds(log, &h.covered, true)?
        {
            return Ok(());
        }
        let header = match known {
            Some((header, _)) => Some(header),
            None if read => Header::decode(&bytes),
            None => None,
        };
        if !seen {
            // Another writer wrote the table since (it may have grown or rebuilt it, and it
            // read this handle's records past its last header from the log).
            self.epoch += 1;
            self.applied = None;
        }
        // A header this handle trusted before for this log, rewritten since by writers holding
        // the lock in this boot, needs no record read back to be trusted again.
        let vouched = seen || self.known.is_some_and(|(k, _)| k.log_id == id && k.boot == boot);
        let file = self.file.as_ref().ok_or_else(|| io::Error::other("table not open"))?;
        let file_len = if seen { u64::MAX } else { file.len()? };
        let mut trusted = None;
        if let Some(h) = header
            && self.describes(&h, id, boot)
            && file_len >= h.table_len()
            && self.position_holds(log, &h.covered, vouched)?
        {
            trusted = Some(h);
        }
        let Some(header) = trusted else {
            // One attempt per handle: a rebuild reads the whole log, and one that cannot be
            // written (a full disk) must not be retried at every append.
            let rebuilt = self.rebuild(log, id, boot);
            self.unavailable = rebuilt.is_err();
            return rebuilt;
        };
        self.known = Some((header, bytes));
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("table not open"))?;
        file.map_to(log.vfs, header.table_len())?;
        // What writers without the key (or killed before their header) appended since.
        let from = self.applied.unwrap_or(header.covered);
        let mut found = Vec::new();
        let covered = self.read_records(log, from, |slot| found.push(slot))?;
        if covered != from {
            self.put_in(log.vfs, found.into_iter().map(|slot| (slot, None)), covered, true)?;
        }
        Ok(())
    }

    /// The log's identity as the header names it: the log file, or a segmented log's
    /// directory.
    fn identity<V: Vfs<File = F>>(&mut self, log: &LogAt<'_, V>) -> io::Result<FileId> {
        let Some(older) = log.older else { return Ok(log.id) };
        if let Some(id) = self.dir_id {
            return Ok(id);
        }
        let id = log.vfs.metadata(older.dir)?.id;
        self.dir_id = Some(id);
        Ok(id)
    }

    /// Whether the header's covered position can be the log's: not past its end, and (unless
    /// this handle wrote or read these very header bytes last, when only the bounds are
    /// checked) the record ending there has the seq the header says.
    fn position_holds<V: Vfs<File = F>>(
        &mut self,
        log: &LogAt<'_, V>,
        covered: &Covered,
        seen: bool,
    ) -> io::Result<bool> {
        if covered.seq > log.last_seq || covered.segment > self.segment {
            return Ok(false);
        }
        if covered.segment < self.segment {
            // In a segment sealed since: the catch-up reads every record from there on.
            return Ok(true);
        }
        if covered.end > log.len {
            return Ok(false);
        }
        if seen {
            return Ok(true);
        }
        if covered.end == 0 {
            // Nothing of this file: a single-file log's table then covers no record, a
            // segmented log's every record of the segments before this one.
            return Ok(covered.seq == 0 || covered.segment > 0);
        }
        Ok(seq_ending_at(log.file, covered.end, &mut self.buf)? == Some(covered.seq))
    }

    /// Rebuilds the table from the whole log, in place: the header is made invalid first, so
    /// that a writer killed meanwhile leaves a table the next one rebuilds again.
    fn rebuild<V: Vfs<File = F>>(
        &mut self,
        log: &LogAt<'_, V>,
        id: FileId,
        boot: [u8; 16],
    ) -> io::Result<()> {
        self.rebuilds += 1;
        self.epoch += 1;
        self.known = None;
        self.applied = None;
        let mut newest: HashMap<u64, Slot> = HashMap::new();
        let covered = self.read_records(log, Covered::default(), |slot| {
            let kept = newest.entry(slot.hash).or_insert(slot);
            if slot.seq > kept.seq {
                *kept = slot;
            }
        })?;
        let capacity = (newest.len() as u64 * 2 + 2).next_power_of_two().max(MIN_CAPACITY);
        let (slots, count) = build(capacity, newest.into_values());
        let header = Header { log_id: id, boot, key: self.key_hash, capacity, count, covered };
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("table not open"))?;
        write_table(file, log.vfs, &header, &slots)?;
        self.stale.set(false);
        self.known = Some((header, header.encode()));
        Ok(())
    }

    /// Puts `slots` into the table (growing it as needed); then writes the header saying it
    /// covers the log up to `covered` (with `now`, or when a new entity went in, or after
    /// [`HEADER_EVERY`] records: otherwise the slots stay ahead of the header).
    fn put_in<V: Vfs<File = F>>(
        &mut self,
        vfs: &V,
        slots: impl Iterator<Item = (Slot, Option<(u64, u64)>)>,
        covered: Covered,
        now: bool,
    ) -> io::Result<()> {
        let (mut header, _) = self.known.ok_or_else(|| io::Error::other("table not trusted"))?;
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("table not open"))?;
        let (count, capacity) = (header.count, header.capacity);
        for (slot, place) in slots {
            self.unheaded += 1;
            match place {
                // The slot holds this hash (see `wrote`), and the record is newer than any it
                // names: no probe.
                Some((epoch, i)) if epoch == self.epoch => {
                    file.write(slot_offset(i), &slot.encode())?;
                }
                _ => {
                    let capacity = header.capacity;
                    insert(file, vfs, &mut header, slot)?;
                    if header.capacity != capacity {
                        self.epoch += 1;
                    }
                }
            }
        }
        let grew = header.capacity != capacity;
        if !now && !grew && header.count == count && self.unheaded < HEADER_EVERY {
            self.applied = Some(covered);
            return Ok(());
        }
        header.covered = covered;
        let bytes = header.encode();
        file.write(0, &bytes)?;
        self.known = Some((header, bytes));
        self.applied = None;
        self.unheaded = 0;
        Ok(())
    }

    /// Calls `each` with the slot of every record (with an entity) after `from`, in log order,
    /// and returns where the last one ends (`from` when there is none). A segmented log is read
    /// on across the segments sealed since `from`; a record read twice is harmless.
    fn read_records<V: Vfs<File = F>>(
        &mut self,
        log: &LogAt<'_, V>,
        from: Covered,
        mut each: impl FnMut(Slot),
    ) -> io::Result<Covered> {
        let (key, hash) = (&self.key, self.hash);
        let mut last = from;
        let mut feed = |segment: u64, file: &F, start: u64, end: u64, buf: &mut Vec<u8>| {
            chunks::for_each_entry(file, start, end, buf, |base, _, entry| {
                if let Entry::Record(r) = entry {
                    if let Some(raw) = key.find(r.data) {
                        let offset = base + r.offset;
                        each(Slot { hash: hash(&entity_of(raw)), seq: r.seq, offset });
                    }
                    last = Covered { segment, end: base + r.end(), seq: r.seq };
                }
                Ok(())
            })
            .map(|_| ())
        };
        let Some(older) = log.older else {
            feed(0, log.file, from.end, log.len, &mut self.buf)?;
            return Ok(last);
        };
        if from.segment == older.first_seq {
            feed(older.first_seq, log.file, from.end, log.len, &mut self.buf)?;
            return Ok(last);
        }
        // The table stopped in a segment sealed since (or at the start): read on from there.
        let segments = crate::segments::list(log.vfs, older.dir).map_err(io::Error::from)?;
        for segment in &segments {
            let first = segment.name.first_seq;
            if first < from.segment || first >= older.first_seq {
                continue;
            }
            let file = match open_segment(log.vfs, &segment.path)? {
                Some(file) => file,
                None => continue,
            };
            let len = file.metadata()?.len;
            let start = match first == from.segment
                && from.end > 0
                && from.end <= len
                && seq_ending_at(&file, from.end, &mut self.buf)? == Some(from.seq)
            {
                true => from.end,
                false => 0,
            };
            feed(first, &file, start, len, &mut self.buf)?;
        }
        feed(older.first_seq, log.file, 0, log.len, &mut self.buf)?;
        if last.segment != older.first_seq {
            // Every record before the active segment, which holds none yet.
            last = Covered { segment: older.first_seq, end: 0, seq: log.last_seq };
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::{Create, OpenOptions, StdFs};
    use crate::sim::{Fate, SimFs};

    const LOG: &str = "/log.ndjson";
    const TABLE: &str = "/log.ndjson.versions";

    fn key() -> JsonPointer {
        JsonPointer::parse("/id").unwrap()
    }

    /// Appends records naming `entities` (one each, in order) to the log at `path`; returns
    /// the last seq.
    fn append<V: Vfs>(vfs: &V, path: &Path, entities: impl IntoIterator<Item = String>) -> u64 {
        let file = vfs.open(path, OpenOptions::append(Create::IfMissing, 0o600)).unwrap();
        let len = file.metadata().unwrap().len;
        let mut buf = Vec::new();
        let mut seq = last_seq(vfs, path, len);
        let mut out = Vec::new();
        for e in entities {
            seq += 1;
            crate::format::encode(&mut out, seq, seq, format!(r#"{{"id":"{e}"}}"#).as_bytes());
        }
        buf.extend_from_slice(&out);
        crate::fs::append_all(&file, &buf).unwrap();
        seq
    }

    fn last_seq<V: Vfs>(vfs: &V, path: &Path, len: u64) -> u64 {
        let file = vfs.open(path, OpenOptions::read()).unwrap();
        let map = vfs.map(&file, len).unwrap();
        crate::read::Reader::new(map.as_ref()).last().map_or(0, |r| r.seq)
    }

    /// A catch-up of `table` on the whole log, as a writer makes it under the lock.
    fn catch_up<V: Vfs>(table: &mut VersionTable<V::File>, vfs: &V, path: &Path) -> bool {
        let file = vfs.open(path, OpenOptions::read()).unwrap();
        let meta = file.metadata().unwrap();
        let last_seq = last_seq(vfs, path, meta.len);
        let log = LogAt {
            vfs,
            file: &file,
            id: meta.id,
            len: meta.len,
            mode: 0o600,
            last_seq,
            now: 0,
            older: None,
        };
        table.catch_up(&log)
    }

    fn lookup<V: Vfs>(table: &VersionTable<V::File>, vfs: &V, path: &Path, e: &str) -> Found {
        let file = vfs.open(path, OpenOptions::read()).unwrap();
        table.lookup(vfs, &file, None, e.as_bytes()).unwrap()
    }

    fn names(range: std::ops::Range<usize>) -> impl Iterator<Item = String> {
        range.map(|i| format!("e{i}"))
    }

    fn capacity<F: VfsFile>(table: &VersionTable<F>) -> u64 {
        table.known.unwrap().0.capacity
    }

    #[test]
    fn lookups_find_every_entity_and_growth_rehashes_without_reading_the_log() {
        let fs = SimFs::new(1);
        let log = Path::new(LOG);
        append(&fs, log, names(0..10));
        let mut table = VersionTable::new(TABLE.into(), key());
        assert!(catch_up(&mut table, &fs, log));
        assert_eq!((table.rebuilds(), capacity(&table)), (1, MIN_CAPACITY));
        // Another writer (without the key) appends 3,000 entities and rewrites ten: the table
        // takes them in, doubling twice, from its own slots.
        append(&fs, log, names(0..3000).chain(names(0..10)));
        assert!(catch_up(&mut table, &fs, log));
        assert_eq!((table.rebuilds(), capacity(&table)), (1, 8192));
        for i in 0..3000 {
            let want = if i < 10 { 3010 + i as u64 + 1 } else { 10 + i as u64 + 1 };
            assert_eq!(lookup(&table, &fs, log, &format!("e{i}")), Found::At(want), "e{i}");
        }
        assert_eq!(lookup(&table, &fs, log, "nobody"), Found::Absent);
        // A new handle (another process, same boot) trusts it: no rebuild.
        let mut fresh = VersionTable::new(TABLE.into(), key());
        assert!(catch_up(&mut fresh, &fs, log));
        assert_eq!(fresh.rebuilds(), 0);
        assert_eq!(lookup(&fresh, &fs, log, "e2999"), Found::At(3010));
    }

    #[test]
    fn the_real_file_system_maps_the_table_and_other_handles_see_its_changes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.ndjson");
        let path = dir.path().join("log.ndjson.versions");
        append(&StdFs, &log, names(0..5));
        let mut a = VersionTable::new(path.clone(), key());
        let mut b = VersionTable::new(path, key());
        assert!(catch_up(&mut a, &StdFs, &log) && catch_up(&mut b, &StdFs, &log));
        assert_eq!((a.rebuilds(), b.rebuilds()), (1, 0));
        assert!(a.file.as_ref().unwrap().mapped());
        // `a` grows the table past what `b` mapped; `b` maps it again and sees every slot.
        append(&StdFs, &log, names(0..2000));
        assert!(catch_up(&mut a, &StdFs, &log));
        assert_eq!(capacity(&a), 4096);
        assert!(catch_up(&mut b, &StdFs, &log));
        assert_eq!(b.rebuilds(), 0);
        assert_eq!(lookup(&b, &StdFs, &log, "e1999"), Found::At(2005));
        assert_eq!(lookup(&b, &StdFs, &log, "e3"), Found::At(9));
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_the_record() {
        let fs = SimFs::new(2);
        let log = Path::new(LOG);
        append(&fs, log, ["a".into(), "b".into(), "a".into(), "c".into()]);
        let mut table = VersionTable::new(TABLE.into(), key()).with_hash(|_| 42);
        assert!(catch_up(&mut table, &fs, log));
        // One slot for all three: the newest record of any of them, seq 4 (c's).
        assert_eq!(lookup(&table, &fs, log, "c"), Found::At(4));
        assert_eq!(lookup(&table, &fs, log, "a"), Found::Unknown);
        assert_eq!(lookup(&table, &fs, log, "never"), Found::Unknown);
        assert!(!table.stale.get(), "a collision is no reason to rebuild");
    }

    #[test]
    fn a_table_that_cannot_be_trusted_is_rebuilt() {
        let fs = SimFs::new(3);
        let log = Path::new(LOG);
        append(&fs, log, names(0..4));
        let rebuilt = |fs: &SimFs| {
            let mut t = VersionTable::new(TABLE.into(), key());
            assert!(catch_up(&mut t, fs, log));
            assert_eq!(lookup(&t, fs, log, "e3"), Found::At(4));
            t.rebuilds()
        };
        assert_eq!(rebuilt(&fs), 1);
        assert_eq!(rebuilt(&fs), 0, "trusted in the same boot");
        // A crash is a new boot: everything is pending (never synced), and even a table whose
        // every write survived is rebuilt.
        let crashed = fs.crash(|_| Fate::Kept, usize::MAX);
        assert_eq!(rebuilt(&crashed), 1);
        // Unless the boot id is broken (the control of the crash tests).
        crashed.crashes_keep_boot_id(true);
        assert_eq!(rebuilt(&crashed.crash(|_| Fate::Kept, usize::MAX)), 0);
        // A damaged header.
        let mut bytes = fs.contents(TABLE).unwrap();
        bytes[60] ^= 1;
        fs.put(TABLE, &bytes);
        assert_eq!(rebuilt(&fs), 1);
        // Another key.
        let mut other = VersionTable::new(TABLE.into(), JsonPointer::parse("/k").unwrap());
        assert!(catch_up(&mut other, &fs, log));
        assert_eq!(other.rebuilds(), 1);
        assert_eq!(rebuilt(&fs), 1);
        // A covered end that is no record's end (the log is not the one it describes).
        let mut bytes = fs.contents(TABLE).unwrap();
        let mut h = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        h.covered.end -= 1;
        bytes[..HEADER_LEN].copy_from_slice(&h.encode());
        fs.put(TABLE, &bytes);
        assert_eq!(rebuilt(&fs), 1);
    }

    #[test]
    fn a_slot_whose_record_is_gone_makes_the_next_catch_up_rebuild() {
        let fs = SimFs::new(4);
        let log = Path::new(LOG);
        append(&fs, log, names(0..3));
        let mut table = VersionTable::new(TABLE.into(), key());
        assert!(catch_up(&mut table, &fs, log));
        // The log loses its records in this boot (what a failed fsync can do to cached pages)
        // and gets others at the same seqs.
        fs.put(LOG, b"");
        append(&fs, log, names(5..8));
        let mut bytes = fs.contents(TABLE).unwrap();
        let mut h = Header::decode(bytes[..HEADER_LEN].try_into().unwrap()).unwrap();
        h.log_id = fs.metadata(log).unwrap().id;
        bytes[..HEADER_LEN].copy_from_slice(&h.encode());
        fs.put(TABLE, &bytes);
        table.forget();
        assert!(catch_up(&mut table, &fs, log));
        assert_eq!(table.rebuilds(), 1, "the header looks right");
        assert_eq!(lookup(&table, &fs, log, "e1"), Found::Unknown);
        assert!(table.stale.get());
        assert!(catch_up(&mut table, &fs, log));
        assert_eq!(table.rebuilds(), 2);
        assert_eq!(lookup(&table, &fs, log, "e1"), Found::Absent);
        assert_eq!(lookup(&table, &fs, log, "e6"), Found::At(2));
    }
}
