//! `LOG.chain` (`LOG/ndlog.chain` for a segmented log): what marks a log as chained before it
//! holds a record, the id its checkpoints name, and the anchors compaction and retention leave
//! where they removed records. Replaced whole with [`crate::fs::atomic_write_in`], so every
//! reader sees one version of it, never a mix.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::format::chain::ChainValue;
use crate::fs::{OpenOptions, Vfs, VfsFile, atomic_write_in};
use crate::names;

/// What the file says it is.
const FORMAT: &str = "ndlog chain";
/// The version this build writes and reads.
const VERSION: u32 = 1;
/// The hash this build chains with.
const HASH: &str = "sha-256";
/// A chain file holds an id and anchors; one larger than this is not ndlog's.
const MAX_BYTES: u64 = 256 << 20;

/// A chained log's chain file: `LOG.chain` beside a single-file log, `LOG/ndlog.chain` in a
/// segmented log's directory.
///
/// An *anchor* `(seq, value)` says that the record before `seq` had the chain value `value`:
/// compaction records one for the first record it keeps and for every kept record whose
/// predecessor it removed, and retention one for the first record of each segment that may
/// become the log's first, so that the kept records still verify (FORMAT.md, section 10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFile {
    /// The log's id: 32 hex digits chosen when the log was made chained, named by checkpoints.
    pub log_id: String,
    /// The anchors, by the seq of the record they precede.
    pub anchors: BTreeMap<u64, ChainValue>,
}

/// The file's JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Json {
    format: String,
    version: u32,
    hash: String,
    log_id: String,
    anchors: Vec<AnchorJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorJson {
    seq: u64,
    prev: String,
}

impl ChainFile {
    /// A chain file with a new random id and no anchors.
    pub fn new() -> Self {
        // Each `RandomState` is seeded from the operating system's randomness (and differs
        // from the last); two of them make 128 bits that no other log shares.
        let mut id = String::with_capacity(32);
        for _ in 0..2 {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            hasher.write_u128(now.map_or(0, |d| d.as_nanos()));
            hasher.write_u32(std::process::id());
            id.push_str(&format!("{:016x}", hasher.finish()));
        }
        ChainFile { log_id: id, anchors: BTreeMap::new() }
    }

    /// Where the chain file of the log at `log` lives on the real file system: `LOG.chain`, or
    /// `LOG/ndlog.chain` when `log` is a directory (a segmented log).
    pub fn path_of(log: &Path) -> PathBuf {
        match log.is_dir() {
            true => names::segmented_chain_file(log),
            false => names::chain_file(log),
        }
    }

    /// Where the chain file of the log at `log` lives on `vfs` (see [`ChainFile::path_of`]).
    pub fn path_in<V: Vfs>(vfs: &V, log: &Path) -> PathBuf {
        match vfs.metadata(log) {
            Ok(meta) if meta.kind == crate::fs::FileKind::Dir => names::segmented_chain_file(log),
            _ => names::chain_file(log),
        }
    }

    /// Reads the chain file of the log at `log` (a file, or a segmented log's directory);
    /// `None` when there is none (the log is not chained, or was copied without it).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] naming the file when it cannot be read;
    /// [`crate::ErrorKind::NotALog`] naming it when it is damaged, too large or from a newer
    /// ndlog.
    pub fn load<V: Vfs>(vfs: &V, log: &Path) -> Result<Option<ChainFile>> {
        Self::read_at(vfs, &Self::path_in(vfs, log))
    }

    /// Reads the chain file at `path` itself; `None` when there is none.
    pub(crate) fn read_at<V: Vfs>(vfs: &V, path: &Path) -> Result<Option<ChainFile>> {
        let file = match vfs.open(path, OpenOptions::read().no_follow()) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(crate::fs::refused(path, e)),
        };
        let meta = file.metadata().at(path, "fstat")?;
        if meta.kind != crate::fs::FileKind::File {
            return Err(Error::not_a_log(path, "not a regular file"));
        }
        if meta.len > MAX_BYTES {
            return Err(Error::not_a_log(path, format!("chain file of {} bytes", meta.len)));
        }
        let mut bytes = vec![0u8; meta.len as usize];
        crate::fs::read_exact_at(&file, &mut bytes, 0).at(path, "read")?;
        Self::from_json(&bytes).map(Some).map_err(|why| {
            let why = format!(
                "{why}; this is a chained log's chain file (its id and the anchors compaction \
                 left): restore it from a copy, or move it aside to read the log as unchained"
            );
            Error::not_a_log(path, why)
        })
    }

    /// Replaces the chain file of the log at `log` (a file, or a segmented log's directory)
    /// with this one, atomically and durably, with permission bits `mode`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Io`] naming the file and the step that failed.
    pub fn store<V: Vfs>(&self, vfs: &V, log: &Path, mode: u32) -> Result<()> {
        self.write_at(vfs, &Self::path_in(vfs, log), mode)
    }

    /// Replaces the chain file at `path` itself, atomically and durably.
    pub(crate) fn write_at<V: Vfs>(&self, vfs: &V, path: &Path, mode: u32) -> Result<()> {
        atomic_write_in(vfs, path, &self.to_json(), mode)
    }

    /// The chain value before the record `seq`, when an anchor records it (or `seq` is 1: the
    /// chain starts at [`ChainValue::GENESIS`]).
    pub fn anchor(&self, seq: u64) -> Option<ChainValue> {
        match self.anchors.get(&seq) {
            Some(v) => Some(*v),
            None if seq == 1 => Some(ChainValue::GENESIS),
            None => None,
        }
    }

    fn to_json(&self) -> Vec<u8> {
        let json = Json {
            format: FORMAT.to_string(),
            version: VERSION,
            hash: HASH.to_string(),
            log_id: self.log_id.clone(),
            anchors: self
                .anchors
                .iter()
                .map(|(&seq, v)| AnchorJson { seq, prev: v.to_hex() })
                .collect(),
        };
        let mut out = serde_json::to_vec(&json).unwrap_or_default();
        out.push(b'\n');
        out
    }

    fn from_json(bytes: &[u8]) -> std::result::Result<ChainFile, String> {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| format!("not a chain file: {e}"))?;
        if json.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", json.format));
        }
        if json.version != VERSION || json.hash != HASH {
            return Err(format!(
                "chain file version {} with hash {:?}: this ndlog reads version {VERSION} with {HASH}",
                json.version, json.hash
            ));
        }
        let mut anchors = BTreeMap::new();
        for a in json.anchors {
            let v = ChainValue::from_hex(a.prev.as_bytes()).ok_or_else(|| {
                format!("anchor of seq {}: {:?} is not 64 hex digits", a.seq, a.prev)
            })?;
            anchors.insert(a.seq, v);
        }
        Ok(ChainFile { log_id: json.log_id, anchors })
    }
}

impl Default for ChainFile {
    fn default() -> Self {
        Self::new()
    }
}
