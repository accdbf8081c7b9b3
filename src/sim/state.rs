//! The simulated file system's state: inodes with a visible and a durable image, names as
//! processes see them and as they are on disk, pending directory operations, locks, and the
//! operation counter that fault injection keys on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::fs::{FileId, FileKind, Metadata};

use super::Fault;

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) rng: u64,
    pub(super) inodes: HashMap<u64, Inode>,
    pub(super) next_ino: u64,
    /// Names as processes see them.
    pub(super) names: BTreeMap<PathBuf, u64>,
    /// Names as they are on disk.
    pub(super) durable_names: BTreeMap<PathBuf, u64>,
    /// Directories made with `create_dir`, as processes see them, as they are on disk, and
    /// every one ever made (a name in a made directory that did not survive a crash is gone).
    /// Other directories exist while a name is in them.
    pub(super) dirs: BTreeSet<PathBuf>,
    pub(super) durable_dirs: BTreeSet<PathBuf>,
    pub(super) made_dirs: BTreeSet<PathBuf>,
    /// Directory operations since their directory was last fsynced, oldest first.
    pub(super) pending_dir: Vec<DirOp>,
    /// Lock holders, by inode.
    pub(super) locks: HashMap<u64, u64>,
    pub(super) next_handle: u64,
    /// Operations so far.
    pub(super) ops: u64,
    pub(super) fail_at: Option<(u64, Fault, bool)>,
    pub(super) halt_after: Option<u64>,
    /// The next `sync_dir` fails with EIO, once.
    pub(super) fail_next_dir_sync: bool,
    /// Writes tagged in order, across files, for `Pending::index`.
    pub(super) write_seq: u64,
    /// Successful `fsync`/`fdatasync` calls, by inode.
    pub(super) file_syncs: HashMap<u64, u64>,
    /// What runs after the next unlock of an inode (see `SimFs::after_next_unlock`).
    pub(super) after_unlock: Vec<(u64, Hook)>,
    /// The machine's boot: each crash starts a new one, unless `keep_boot` (a control test's
    /// broken boot id) says otherwise.
    pub(super) boot: u64,
    pub(super) keep_boot: bool,
}

/// A step another process takes between two of a writer's operations.
pub(super) struct Hook(pub(super) Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct Inode {
    pub(super) data: Vec<u8>,
    pub(super) durable: Vec<u8>,
    pub(super) pending: Vec<Write>,
    pub(super) mode: u32,
    /// Owner and group (0 unless `set_owner` changed them).
    pub(super) owner: (u32, u32),
}

#[derive(Clone, Debug)]
pub(super) struct Write {
    pub(super) seq: u64,
    pub(super) offset: u64,
    pub(super) bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub(super) enum DirOp {
    Link(PathBuf, u64),
    Rename(PathBuf, PathBuf),
    Unlink(PathBuf),
    Mkdir(PathBuf),
}

impl DirOp {
    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        let parent = |p: &Path| crate::names::parent_dir(p).to_path_buf();
        match self {
            DirOp::Link(p, _) | DirOp::Unlink(p) | DirOp::Mkdir(p) => vec![parent(p)],
            DirOp::Rename(a, b) => vec![parent(a), parent(b)],
        }
    }

    pub(super) fn apply(&self, names: &mut BTreeMap<PathBuf, u64>, dirs: &mut BTreeSet<PathBuf>) {
        match self {
            DirOp::Mkdir(p) => {
                dirs.insert(p.clone());
            }
            DirOp::Link(p, ino) => {
                names.insert(p.clone(), *ino);
            }
            DirOp::Rename(a, b) => {
                if let Some(ino) = names.remove(a) {
                    names.insert(b.clone(), ino);
                }
            }
            DirOp::Unlink(p) => {
                names.remove(p);
            }
        }
    }
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn next_random(rng: &mut u64) -> u64 {
    // splitmix64
    *rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl State {
    /// Counts an operation and applies the configured faults. `write` marks operations that
    /// write data (for short writes).
    pub(super) fn step(&mut self, write: bool) -> io::Result<Option<Fault>> {
        self.ops += 1;
        if self.halt_after.is_some_and(|h| self.ops > h) {
            return Err(io::Error::other("simulated crash: the machine stopped"));
        }
        match self.fail_at {
            Some((n, fault, persistent)) if self.ops == n || (persistent && self.ops > n) => {
                match fault {
                    Fault::ShortWrite if write => Ok(Some(Fault::ShortWrite)),
                    Fault::NoSpace if write => Err(io::Error::from_raw_os_error(28)),
                    _ => Err(io::Error::from_raw_os_error(5)),
                }
            }
            _ => Ok(None),
        }
    }

    pub(super) fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or_else(|| io::Error::other("stale simulated file"))
    }

    pub(super) fn write(
        &mut self,
        ino: u64,
        offset: Option<u64>,
        buf: &[u8],
        short: bool,
    ) -> io::Result<usize> {
        let n = if short { buf.len() / 2 } else { buf.len() };
        let seq = self.write_seq;
        self.write_seq += 1;
        let inode = self.inode(ino)?;
        let at = offset.unwrap_or(inode.data.len() as u64);
        let end = at as usize + n;
        if inode.data.len() < end {
            inode.data.resize(end, 0);
        }
        inode.data[at as usize..end].copy_from_slice(&buf[..n]);
        if n > 0 {
            inode.pending.push(Write { seq, offset: at, bytes: buf[..n].to_vec() });
        }
        Ok(n)
    }
}

pub(super) fn dir_exists(st: &State, dir: &Path) -> bool {
    dir == Path::new(".")
        || dir == Path::new("/")
        || st.dirs.contains(dir)
        || st.names.keys().any(|p| crate::names::parent_dir(p) == dir)
}

pub(super) fn meta(ino: u64, inode: &Inode) -> Metadata {
    Metadata {
        id: FileId { dev: 1, ino },
        len: inode.data.len() as u64,
        kind: FileKind::File,
        mode: inode.mode,
        uid: inode.owner.0,
        gid: inode.owner.1,
    }
}
