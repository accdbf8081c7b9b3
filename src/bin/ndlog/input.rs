//! The log a reading command names: a file, or `-` for standard input. Either way it must be an
//! ndlog log: a plain NDJSON file is refused with a pointer to `ndlog import` rather than read
//! as a log whose every line is damaged.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use ndlog::{Mapped, Reader};

use crate::exit::usage;

/// A log opened for reading.
pub(crate) struct Log {
    /// The log's records.
    pub reader: Reader<Mapped>,
    /// What to call it in messages: the path, or `stdin`.
    pub name: String,
}

/// Whether `path` is `-`: standard input (or standard output, for `export -o`).
pub(crate) fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Refuses `-` where a command needs a log file (it writes to it, or keeps sidecar files beside
/// it): a usage error, before anything is touched.
pub(crate) fn require_file(path: &Path, command: &str) -> anyhow::Result<()> {
    if is_dash(path) {
        return Err(usage(format!(
            "`ndlog {command}` needs a log file, not - (standard input); name a file \
             (./- for a file called -)"
        )));
    }
    Ok(())
}

/// Opens the log at `path`, or the log on standard input for `-`, for reading.
///
/// # Errors
/// As [`open_any`]; and "not an ndlog log" for a non-empty file without a single valid ndlog
/// record.
pub(crate) fn open(path: &Path) -> anyhow::Result<Log> {
    let log = open_any(path)?;
    ensure_log(&log.reader, &log.name)?;
    Ok(log)
}

/// Opens the file at `path`, or standard input for `-`, as a log, whatever it holds: for
/// `verify`, which reports a file without a valid line as damage.
///
/// Standard input is copied to a temporary file first (in `$TMPDIR`), mapped, and the file
/// removed at once: memory stays bounded however large the input, and nothing is left behind.
///
/// # Errors
/// The library's errors opening the file; an error reading standard input or writing its copy.
pub(crate) fn open_any(path: &Path) -> anyhow::Result<Log> {
    let (reader, name) = if is_dash(path) {
        let mut spool = tempfile::Builder::new()
            .prefix(".ndlog-stdin-")
            .tempfile()
            .context("creating a temporary file for standard input")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut spool)
            .context("copying standard input to a temporary file")?;
        spool.flush().context("copying standard input to a temporary file")?;
        // The map keeps the bytes after the name is gone.
        let reader = Reader::open(spool.path())?;
        drop(spool);
        (reader, "stdin".to_string())
    } else {
        (Reader::open(path)?, path.display().to_string())
    };
    Ok(Log { reader, name })
}

/// Whether the bytes are a log: empty, or holding at least one valid ndlog record.
pub(crate) fn is_log<D: AsRef<[u8]>>(reader: &Reader<D>) -> bool {
    // Not `bytes().is_empty()`: a reader maps a file only up to its last record.
    reader.last().is_some() || reader.entries().next().is_none()
}

/// What to tell a user whose file is not a log.
pub(crate) fn not_a_log(name: &str) -> String {
    format!(
        "{name}: not an ndlog log: no line is an ndlog record (seq, ts, data and a CRC \
         trailer); to bring plain NDJSON into a log, use `ndlog import LOG {}`; for a log \
         whose every line is damaged, `ndlog verify` shows where",
        if name == "stdin" { "-" } else { name }
    )
}

/// Fails with "not an ndlog log" for a non-empty file without a single valid ndlog record.
fn ensure_log<D: AsRef<[u8]>>(reader: &Reader<D>, name: &str) -> anyhow::Result<()> {
    if !is_log(reader) {
        bail!("{}", not_a_log(name));
    }
    Ok(())
}
