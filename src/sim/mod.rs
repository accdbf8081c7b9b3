//! `SimFs`: an in-memory file system that models what POSIX promises about persistence, and
//! how little: for crash-recovery testing of ndlog, and of applications built on it.
//!
//! Every file keeps two images: what processes see, and what is durable. A write changes the
//! first and joins the file's list of *pending* writes; `fsync`/`fdatasync` makes the file's
//! current image durable. Creating, renaming and removing a name is pending until its
//! directory is fsynced. A [`SimFs::crash`] builds the file system a machine could find after
//! power loss: every pending write is kept, dropped, kept in part (a prefix, or some 512-byte
//! sectors), or replaced by zeros or garbage, each independently (so writes between two syncs
//! persist in any order and appends are not atomic), and a prefix of the pending directory
//! operations survives. Locks and open files vanish.
//!
//! It can also fail operations: the Nth call (counting every call, reads included) returns EIO,
//! ENOSPC or a short write, once or from then on ([`SimFs::fail_at`]); or every call after the
//! Nth fails as if the machine had stopped there ([`SimFs::halt_after`]).
//!
//! Everything is deterministic from the seed given to [`SimFs::new`].
//!
//! # Example
//! ```
//! use ndlog::sim::{Fate, SimFs};
//! let fs = SimFs::new(7);
//! let writer = ndlog::Options::new().open_in(fs.clone(), "/log.ndjson")?;
//! writer.append_raw(b"1")?; // durable: Always syncs before acknowledging
//! let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open_in(fs.clone(), "/log.ndjson")?;
//! writer.append_raw(b"2")?; // not synced
//! // The machine loses power: the unsynced record is lost, the acknowledged one is not.
//! let after = fs.crash(|_| Fate::Dropped, usize::MAX);
//! let reader = ndlog::Reader::open_in(after, "/log.ndjson")?;
//! assert_eq!(reader.records().map(|r| r.seq).collect::<Vec<_>>(), [1]);
//! # Ok::<(), ndlog::Error>(())
//! ```

mod file;
mod ledger;
mod state;

pub use file::{SimFile, SimMap};
pub use ledger::{Ledger, Violation};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use state::{Inode, State, Write, lock, next_random};

/// Sector size for [`Fate::Sectors`].
pub const SECTOR: u64 = 512;

/// The simulated file system. Cheap to clone: clones share one state.
#[derive(Clone, Debug)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

/// What happens to one pending write at a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It reached the disk whole.
    Kept,
    /// It never reached the disk.
    Dropped,
    /// Only its first `n` bytes reached the disk.
    Prefix(usize),
    /// Only the 512-byte sectors (counted from the start of the file) whose bit is set in the
    /// mask reached the disk; bit `i` stands for the `i`-th sector the write touches, modulo 64.
    Sectors(u64),
    /// The file grew but the data did not arrive: zeros.
    Zeroed,
    /// The sectors hold garbage.
    Garbage,
}

/// A pending write, as [`SimFs::pending_writes`] lists it and a crash's fate function sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Position in the list of pending writes (all files, oldest first).
    pub index: usize,
    /// The file's current name, if it has one.
    pub path: Option<PathBuf>,
    /// Where the write starts.
    pub offset: u64,
    /// How many bytes it wrote.
    pub len: usize,
}

/// What a failing operation returns; see [`SimFs::fail_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// EIO.
    Io,
    /// ENOSPC.
    NoSpace,
    /// A write writes half its bytes and reports that; other operations fail with EIO.
    ShortWrite,
}

impl SimFs {
    /// An empty file system; `seed` drives garbage bytes and random crashes.
    pub fn new(seed: u64) -> Self {
        let state = State { rng: seed, next_ino: 1, next_handle: 1, ..State::default() };
        SimFs { state: Arc::new(Mutex::new(state)) }
    }

    /// Operations performed so far (every call counts, reads and locks included).
    pub fn ops(&self) -> u64 {
        lock(&self.state).ops
    }

    /// How many `fsync`/`fdatasync` calls on the file now at `path` succeeded (0 when there is
    /// no file there): how many syncs a workload cost, or whether it synced at all.
    pub fn syncs(&self, path: impl AsRef<Path>) -> u64 {
        let st = lock(&self.state);
        let ino = st.names.get(path.as_ref());
        ino.and_then(|ino| st.file_syncs.get(ino)).copied().unwrap_or(0)
    }

    /// Makes operation number `n` (1-based, counted from the start) fail with `fault`; with
    /// `persistent`, every later operation fails too.
    pub fn fail_at(&self, n: u64, fault: Fault, persistent: bool) {
        lock(&self.state).fail_at = Some((n, fault, persistent));
    }

    /// Makes every operation after the `n`-th fail, as if the machine stopped there; combine
    /// with [`SimFs::crash`] to see what survives.
    pub fn halt_after(&self, n: u64) {
        lock(&self.state).halt_after = Some(n);
    }

    /// Makes the next directory fsync ([`crate::fs::Vfs::sync_dir`]) fail with EIO, once, leaving its
    /// directory operations pending: a process killed, or an fsync failing, right before its
    /// directory was made durable, while other handles go on.
    pub fn fail_next_dir_sync(&self) {
        lock(&self.state).fail_next_dir_sync = true;
    }

    /// Runs `step` once, right after the lock on the file now at `path` is next released
    /// ([`crate::fs::VfsFile::unlock`]), before that unlock returns: what another process may do
    /// between a writer's release of the writer lock and its next operation (its `fdatasync`,
    /// say). `step` runs without the file system's lock, so it may use this file system through
    /// handles of its own, and take the lock just released.
    ///
    /// # Example
    /// ```
    /// use ndlog::sim::SimFs;
    /// let fs = SimFs::new(1);
    /// let a = ndlog::Options::new().open_in(fs.clone(), "/l.ndjson")?;
    /// let b = ndlog::Options::new().open_in(fs.clone(), "/l.ndjson")?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// // Between A's write (under the writer lock, `LOG.lock`) and A's sync, B appends.
    /// fs.after_next_unlock("/l.ndjson.lock", move || tx.send(b.append_raw(b"2").unwrap().seq).unwrap());
    /// assert_eq!(a.append_raw(b"1")?.seq, 1);
    /// assert_eq!(rx.recv().unwrap(), 2);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    ///
    /// # Panics
    /// When nothing is at `path`.
    pub fn after_next_unlock(&self, path: impl AsRef<Path>, step: impl FnOnce() + Send + 'static) {
        let mut st = lock(&self.state);
        let ino = *st.names.get(path.as_ref()).expect("after_next_unlock: no file at the path");
        st.after_unlock.push((ino, state::Hook(Box::new(step))));
    }

    /// Makes every later [`SimFs::crash`] keep the boot id ([`crate::fs::Vfs::boot_id`]) of
    /// the machine that crashed, as a system whose boot id never changes would: for a control
    /// test showing what ndlog's boot check on `LOG.versions` (FORMAT.md, section 12) rules
    /// out. Off by default: a crash is a new boot.
    pub fn crashes_keep_boot_id(&self, keep: bool) {
        lock(&self.state).keep_boot = keep;
    }

    /// Removes the faults set by [`SimFs::fail_at`], [`SimFs::halt_after`] and
    /// [`SimFs::fail_next_dir_sync`].
    pub fn heal(&self) {
        let mut st = lock(&self.state);
        st.fail_at = None;
        st.halt_after = None;
        st.fail_next_dir_sync = false;
    }

    /// The writes not yet made durable, oldest first.
    pub fn pending_writes(&self) -> Vec<Pending> {
        let st = lock(&self.state);
        let mut out: Vec<(u64, Pending)> = Vec::new();
        for (ino, inode) in &st.inodes {
            let path = st.names.iter().find(|(_, i)| *i == ino).map(|(p, _)| p.clone());
            for w in &inode.pending {
                let p =
                    Pending { index: 0, path: path.clone(), offset: w.offset, len: w.bytes.len() };
                out.push((w.seq, p));
            }
        }
        out.sort_by_key(|(seq, _)| *seq);
        out.into_iter().enumerate().map(|(i, (_, p))| Pending { index: i, ..p }).collect()
    }

    /// Directory operations not yet made durable.
    pub fn pending_dir_ops(&self) -> usize {
        lock(&self.state).pending_dir.len()
    }

    /// The bytes processes see in the file at `path`.
    pub fn contents(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let st = lock(&self.state);
        let ino = st.names.get(path.as_ref())?;
        st.inodes.get(ino).map(|i| i.data.clone())
    }

    /// Replaces the file at `path` (creating it) with `bytes`, durably: test setup.
    pub fn put(&self, path: impl AsRef<Path>, bytes: &[u8]) {
        let mut st = lock(&self.state);
        let path = path.as_ref().to_path_buf();
        let ino = st.next_ino;
        st.next_ino += 1;
        let inode = Inode {
            data: bytes.to_vec(),
            durable: bytes.to_vec(),
            pending: Vec::new(),
            mode: 0o600,
            owner: (0, 0),
        };
        st.inodes.insert(ino, inode);
        st.names.insert(path.clone(), ino);
        st.durable_names.insert(path, ino);
    }

    /// Time passes: the kernel writes every dirty page and directory entry back, as if each
    /// file and directory had been synced (no operation counted). For a test whose damage
    /// comes long after the writes, when nothing is pending any more.
    pub fn write_back(&self) {
        let mut st = lock(&self.state);
        for inode in st.inodes.values_mut() {
            inode.durable = inode.data.clone();
            inode.pending.clear();
        }
        let mut durable = std::mem::take(&mut st.durable_names);
        let mut dirs = std::mem::take(&mut st.durable_dirs);
        for op in std::mem::take(&mut st.pending_dir) {
            op.apply(&mut durable, &mut dirs);
        }
        st.durable_names = durable;
        st.durable_dirs = dirs;
    }

    /// Media damage: the byte at `at` of the file at `path` is XORed with `mask`, in what
    /// processes read and in what a crash keeps (the same file: it keeps its inode). Returns
    /// whether there was such a byte.
    pub fn damage(&self, path: impl AsRef<Path>, at: u64, mask: u8) -> bool {
        let mut st = lock(&self.state);
        let Some(&ino) = st.names.get(path.as_ref()) else { return false };
        let Some(inode) = st.inodes.get_mut(&ino) else { return false };
        let at = at as usize;
        if at >= inode.data.len() {
            return false;
        }
        inode.data[at] ^= mask;
        if let Some(b) = inode.durable.get_mut(at) {
            *b ^= mask;
        }
        true
    }

    /// The file system after a power loss now: `fate` decides what each pending write left on
    /// disk, and the first `dir_ops` pending directory operations survive (in order). Open
    /// files, locks and faults do not carry over; this file system is unchanged. The machine
    /// comes back in a new boot ([`crate::fs::Vfs::boot_id`]).
    pub fn crash(&self, fate: impl Fn(&Pending) -> Fate, dir_ops: usize) -> SimFs {
        let pending = self.pending_writes();
        let st = lock(&self.state);
        let mut names = st.durable_names.clone();
        let mut dirs = st.durable_dirs.clone();
        for op in st.pending_dir.iter().take(dir_ops) {
            op.apply(&mut names, &mut dirs);
        }
        // A name in a directory that did not survive is gone with it.
        names.retain(|p, _| {
            let parent = crate::names::parent_dir(p);
            !st.made_dirs.contains(parent) || dirs.contains(parent)
        });
        let mut rng = st.rng ^ 0x5eed;
        // Pending writes in the global order, to look their fates up.
        let mut fates: HashMap<u64, Fate> = HashMap::new();
        let mut order: Vec<u64> =
            st.inodes.values().flat_map(|i| i.pending.iter().map(|w| w.seq)).collect();
        order.sort_unstable();
        for (seq, p) in order.iter().zip(&pending) {
            fates.insert(*seq, fate(p));
        }
        let mut inodes = HashMap::new();
        for ino in names.values() {
            let Some(inode) = st.inodes.get(ino) else { continue };
            let mut data = inode.durable.clone();
            for w in &inode.pending {
                apply(&mut data, w, fates.get(&w.seq).copied().unwrap_or(Fate::Kept), &mut rng);
            }
            let (mode, owner) = (inode.mode, inode.owner);
            inodes.insert(
                *ino,
                Inode { durable: data.clone(), data, pending: Vec::new(), mode, owner },
            );
        }
        let state = State {
            rng,
            inodes,
            next_ino: st.next_ino,
            names: names.clone(),
            durable_names: names,
            dirs: dirs.clone(),
            durable_dirs: dirs,
            made_dirs: st.made_dirs.clone(),
            next_handle: 1,
            boot: if st.keep_boot { st.boot } else { st.boot + 1 },
            keep_boot: st.keep_boot,
            ..State::default()
        };
        SimFs { state: Arc::new(Mutex::new(state)) }
    }

    /// A crash whose fates are drawn from `seed`: each pending write is kept, dropped, torn,
    /// zeroed or garbled with equal odds, and a random prefix of directory operations survives.
    pub fn crash_random(&self, seed: u64) -> SimFs {
        let mut rng = seed;
        let n = self.pending_writes().len();
        let fates: Vec<Fate> = (0..n)
            .map(|_| match next_random(&mut rng) % 6 {
                0 => Fate::Kept,
                1 => Fate::Dropped,
                2 => Fate::Prefix((next_random(&mut rng) % 4096) as usize),
                3 => Fate::Sectors(next_random(&mut rng)),
                4 => Fate::Zeroed,
                _ => Fate::Garbage,
            })
            .collect();
        let dir_ops = (next_random(&mut rng) % (self.pending_dir_ops() as u64 + 1)) as usize;
        self.crash(|p| fates[p.index], dir_ops)
    }
}

/// Lays one pending write onto a crash image as its fate says.
fn apply(data: &mut Vec<u8>, w: &Write, fate: Fate, rng: &mut u64) {
    let at = w.offset as usize;
    let put = |data: &mut Vec<u8>, from: usize, bytes: &[u8]| {
        let end = at + from + bytes.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[at + from..end].copy_from_slice(bytes);
    };
    match fate {
        Fate::Kept => put(data, 0, &w.bytes),
        Fate::Dropped => {}
        Fate::Prefix(n) => put(data, 0, &w.bytes[..n.min(w.bytes.len())]),
        Fate::Zeroed => put(data, 0, &vec![0u8; w.bytes.len()]),
        Fate::Garbage => {
            let junk: Vec<u8> = (0..w.bytes.len()).map(|_| next_random(rng) as u8).collect();
            put(data, 0, &junk);
        }
        Fate::Sectors(mask) => {
            let first = w.offset / SECTOR;
            let mut i = 0usize;
            while i < w.bytes.len() {
                let abs = w.offset + i as u64;
                let sector = abs / SECTOR;
                let end = (((sector + 1) * SECTOR - w.offset) as usize).min(w.bytes.len());
                if mask >> ((sector - first) % 64) & 1 == 1 {
                    put(data, i, &w.bytes[i..end]);
                }
                i = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Create, OpenOptions, Vfs, VfsFile};

    fn fs_with(bytes: &[u8]) -> (SimFs, SimFile) {
        let fs = SimFs::new(1);
        fs.put("/f", b"");
        let f = fs.open(Path::new("/f"), OpenOptions::append(Create::No, 0)).unwrap();
        f.append(bytes).unwrap();
        (fs, f)
    }

    #[test]
    fn synced_data_survives_and_unsynced_data_has_every_fate() {
        let (fs, f) = fs_with(b"durable|");
        f.sync_data().unwrap();
        f.append(&[b'x'; 1200]).unwrap();
        let image = |fate| fs.crash(move |_| fate, usize::MAX).contents("/f").unwrap();
        assert_eq!(image(Fate::Kept).len(), 1208);
        assert_eq!(image(Fate::Dropped), b"durable|");
        assert_eq!(&image(Fate::Prefix(3))[8..], b"xxx");
        assert!(image(Fate::Zeroed)[8..].iter().all(|&b| b == 0));
        let sectors = image(Fate::Sectors(0b010));
        // The write covers bytes 8..1208: sector 0 is 8..512, sector 1 is 512..1024.
        assert!(
            sectors[8..512].iter().all(|&b| b == 0)
                && sectors[512..1024].iter().all(|&b| b == b'x')
        );
        assert_eq!(sectors.len(), 1024);
        assert_eq!(&image(Fate::Garbage)[..8], b"durable|");
    }

    #[test]
    fn names_are_durable_only_after_a_directory_sync() {
        let fs = SimFs::new(2);
        let f = fs.open(Path::new("/d/a"), OpenOptions::append(Create::IfMissing, 0o600));
        assert!(f.is_err(), "no such directory");
        fs.put("/d/keep", b"");
        let f = fs.open(Path::new("/d/a"), OpenOptions::append(Create::New, 0o600)).unwrap();
        f.append(b"hello").unwrap();
        f.sync_data().unwrap();
        assert_eq!(fs.crash(|_| Fate::Kept, 0).contents("/d/a"), None);
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.rename(Path::new("/d/a"), Path::new("/d/b")).unwrap();
        let lost = fs.crash(|_| Fate::Kept, 0);
        assert_eq!(lost.contents("/d/a").as_deref(), Some(&b"hello"[..]));
        let kept = fs.crash(|_| Fate::Kept, 1);
        assert_eq!(kept.contents("/d/b").as_deref(), Some(&b"hello"[..]));
        assert_eq!(kept.contents("/d/a"), None);
    }

    #[test]
    fn faults_fire_at_the_nth_operation() {
        let (fs, f) = fs_with(b"");
        let next = fs.ops() + 1;
        fs.fail_at(next, Fault::ShortWrite, false);
        assert_eq!(f.append(b"12345678").unwrap(), 4);
        assert_eq!(f.append(b"ab").unwrap(), 2);
        fs.fail_at(fs.ops() + 1, Fault::NoSpace, true);
        assert_eq!(f.append(b"c").unwrap_err().raw_os_error(), Some(28));
        assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(5));
        fs.heal();
        fs.halt_after(fs.ops());
        assert!(f.read_at(&mut [0; 4], 0).is_err());
    }

    #[test]
    fn locks_exclude_other_handles_and_die_with_the_file() {
        let (fs, a) = fs_with(b"");
        let b = fs.open(Path::new("/f"), OpenOptions::read()).unwrap();
        assert!(a.try_lock().unwrap());
        assert!(!b.try_lock().unwrap());
        drop(a);
        assert!(b.try_lock().unwrap());
    }

    #[test]
    fn crashes_are_deterministic_from_the_seed() {
        let (fs, f) = fs_with(&[7u8; 3000]);
        f.append(&[8u8; 3000]).unwrap();
        let a = fs.crash_random(42).contents("/f");
        let b = fs.crash_random(42).contents("/f");
        assert_eq!(a, b);
    }
}
