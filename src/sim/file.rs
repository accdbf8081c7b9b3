//! The simulated file system behind the [`Vfs`] seam: names, opens, renames and directory
//! fsyncs on [`SimFs`], and reads, writes, syncs and locks on [`SimFile`].

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{Create, FileId, FileKind, Metadata, OpenOptions, Vfs, VfsFile};

use super::state::{DirOp, Inode, State, dir_exists, lock, meta};
use super::{Fault, SimFs};

/// An open file of a [`SimFs`].
#[derive(Debug)]
pub struct SimFile {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) ino: u64,
    pub(super) handle: u64,
    pub(super) writable: bool,
    pub(super) append: bool,
}

/// A read-only snapshot of a file's first bytes.
#[derive(Clone, Debug)]
pub struct SimMap(Arc<Vec<u8>>);

impl AsRef<[u8]> for SimMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Vfs for SimFs {
    type File = SimFile;
    type Map = SimMap;

    fn open(&self, path: &Path, how: OpenOptions) -> io::Result<SimFile> {
        let mut st = lock(&self.state);
        st.step(how.create != Create::No)?;
        let existing = st.names.get(path).copied();
        let ino = match (existing, how.create) {
            (Some(_), Create::New) => return Err(io::ErrorKind::AlreadyExists.into()),
            (Some(ino), _) => ino,
            (None, Create::No) => return Err(io::ErrorKind::NotFound.into()),
            (None, _) => {
                if !dir_exists(&st, crate::names::parent_dir(path)) {
                    return Err(io::ErrorKind::NotFound.into());
                }
                let ino = st.next_ino;
                st.next_ino += 1;
                st.inodes.insert(ino, Inode { mode: how.mode & 0o777, ..Inode::default() });
                st.names.insert(path.to_path_buf(), ino);
                st.pending_dir.push(DirOp::Link(path.to_path_buf(), ino));
                ino
            }
        };
        let handle = st.next_handle;
        st.next_handle += 1;
        Ok(SimFile {
            state: self.state.clone(),
            ino,
            handle,
            writable: how.write,
            append: how.append,
        })
    }

    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        let mut st = lock(&self.state);
        st.step(false)?;
        match st.names.get(path) {
            Some(ino) => Ok(meta(*ino, &st.inodes[ino])),
            None if dir_exists(&st, path) => Ok(Metadata {
                id: FileId { dev: 1, ino: 0 },
                len: 0,
                kind: FileKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
            }),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.step(false)?;
        let ino = st.names.remove(from).ok_or(io::ErrorKind::NotFound)?;
        st.names.insert(to.to_path_buf(), ino);
        st.pending_dir.push(DirOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.step(false)?;
        st.names.remove(path).ok_or(io::ErrorKind::NotFound)?;
        st.pending_dir.push(DirOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.step(false)?;
        if std::mem::take(&mut st.fail_next_dir_sync) {
            return Err(io::Error::from_raw_os_error(5));
        }
        let (done, rest): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut st.pending_dir)
            .into_iter()
            .partition(|op| op.dirs().iter().any(|d| d == dir));
        let mut durable = std::mem::take(&mut st.durable_names);
        let mut dirs = std::mem::take(&mut st.durable_dirs);
        for op in &done {
            op.apply(&mut durable, &mut dirs);
        }
        st.durable_names = durable;
        st.durable_dirs = dirs;
        st.pending_dir = rest;
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut st = lock(&self.state);
        st.step(false)?;
        Ok(st
            .names
            .keys()
            .filter(|p| crate::names::parent_dir(p) == dir)
            .filter_map(|p| p.file_name().map(OsString::from))
            .collect())
    }

    /// The new directory's name, like a file's, is durable once its parent is synced.
    fn create_dir(&self, path: &Path, _mode: u32) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.step(true)?;
        if st.names.contains_key(path) || dir_exists(&st, path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        if !dir_exists(&st, crate::names::parent_dir(path)) {
            return Err(io::ErrorKind::NotFound.into());
        }
        st.dirs.insert(path.to_path_buf());
        st.made_dirs.insert(path.to_path_buf());
        st.pending_dir.push(DirOp::Mkdir(path.to_path_buf()));
        Ok(())
    }

    /// The boot this file system is in: it changes at each crash.
    fn boot_id(&self) -> Option<[u8; 16]> {
        let mut id = *b"ndlog-sim-boot\0\0";
        id[..8].copy_from_slice(&lock(&self.state).boot.to_le_bytes());
        Some(id)
    }

    fn map(&self, file: &SimFile, len: u64) -> io::Result<SimMap> {
        let mut st = lock(&self.state);
        st.step(false)?;
        let data = &st.inode(file.ino)?.data;
        Ok(SimMap(Arc::new(data[..(len as usize).min(data.len())].to_vec())))
    }
}

impl SimFile {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable { Ok(()) } else { Err(io::Error::from_raw_os_error(9)) }
    }
}

impl VfsFile for SimFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        self.check_writable()?;
        let mut st = self.state();
        let short = st.step(true)? == Some(Fault::ShortWrite);
        st.write(self.ino, None, buf, short)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.check_writable()?;
        let mut st = self.state();
        let short = st.step(true)? == Some(Fault::ShortWrite);
        // Like Linux: a positioned write to an O_APPEND file goes to the end.
        let offset = (!self.append).then_some(offset);
        st.write(self.ino, offset, buf, short)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut st = self.state();
        st.step(false)?;
        let data = &st.inode(self.ino)?.data;
        let src = data.get(offset as usize..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.state();
        st.step(false)?;
        let inode = st.inode(self.ino)?;
        inode.durable = inode.data.clone();
        inode.pending.clear();
        *st.file_syncs.entry(self.ino).or_default() += 1;
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn metadata(&self) -> io::Result<Metadata> {
        let mut st = self.state();
        st.step(false)?;
        let ino = self.ino;
        Ok(meta(ino, st.inode(ino)?))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut st = self.state();
        st.step(true)?;
        let inode = st.inode(self.ino)?;
        inode.data.resize(len as usize, 0);
        // A truncation is metadata that reaches the disk with the next sync.
        Ok(())
    }

    fn try_lock(&self) -> io::Result<bool> {
        let mut st = self.state();
        st.step(false)?;
        match st.locks.get(&self.ino) {
            Some(&h) if h != self.handle => Ok(false),
            _ => {
                st.locks.insert(self.ino, self.handle);
                Ok(true)
            }
        }
    }

    fn unlock(&self) -> io::Result<()> {
        let mut st = self.state();
        if st.locks.get(&self.ino) == Some(&self.handle) {
            st.locks.remove(&self.ino);
            // Another process's step, waiting for this lock to be free.
            let hook = st.after_unlock.iter().position(|(ino, _)| *ino == self.ino);
            let hook = hook.map(|at| st.after_unlock.remove(at).1);
            drop(st);
            if let Some(hook) = hook {
                (hook.0)();
            }
        }
        Ok(())
    }

    fn set_permissions(&self, mode: u32) -> io::Result<()> {
        let mut st = self.state();
        st.step(false)?;
        st.inode(self.ino)?.mode = mode & 0o777;
        Ok(())
    }

    /// Not an operation that fault injection counts: it only happens where a log's owner
    /// differs from the process's, which the simulation never models by itself.
    fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        self.state().inode(self.ino)?.owner = (uid, gid);
        Ok(())
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        // Closing the last descriptor of a lock holder releases its lock.
        let mut st = self.state();
        if st.locks.get(&self.ino) == Some(&self.handle) {
            st.locks.remove(&self.ino);
        }
    }
}
