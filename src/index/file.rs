//! Opening `LOG.idx` for reading, without following a symlink planted at its path, and
//! without waiting on a FIFO planted there: anything but a regular file is no usable index.

use std::io;
use std::path::Path;

use crate::fs::{FileKind, OpenOptions, Vfs, VfsFile};
use crate::names;

/// Opens and maps the index of the log at `log` for reading.
pub(crate) fn load<V: Vfs>(vfs: &V, log: &Path) -> io::Result<Option<(V::File, V::Map)>> {
    let path = names::index_file(log);
    let file = match vfs.open(&path, OpenOptions::read().no_follow()) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A FIFO, a device, a directory, or a symlink (not followed): not an index.
        Err(e) if crate::fs::is_not_a_regular_file(&e) => return Ok(None),
        Err(e) if crate::fs::is_symlink_refused(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if meta.kind != FileKind::File {
        return Ok(None);
    }
    let map = vfs.map(&file, meta.len)?;
    Ok(Some((file, map)))
}
