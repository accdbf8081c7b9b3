//! `ndlog export`: the log's verified records as plain NDJSON, to stdout or a file.

use std::fs::{File, FileType};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::exit::usage;
use crate::input;
use crate::out;
use crate::range::{Range, write_log_range};
use anyhow::Context;

/// What ndlog keeps beside a log `LOG`, as `LOG` + one of these: an export written over one
/// of them would cut the log from its lock, index, chain or watermark, or lose the damage or
/// the legacy values (`import --shift-seqs`) kept there.
const SIDE_SUFFIXES: &[&str] = &[
    ".lock",
    ".idx",
    ".idx.tmp",
    ".versions",
    ".chain",
    ".watermark",
    ".quarantine",
    ".compact.lock",
    ".import-adjusted",
];

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// Export only the payloads (`data`): the NDJSON that was imported or appended. Without it,
    /// whole records, which `ndlog import` takes back verbatim.
    #[arg(long)]
    pub data: bool,
    #[command(flatten)]
    pub range: Range,
    /// Write to FILE (atomically: a temporary file renamed into place) instead of stdout (-).
    /// A pipe or a character device is written to as it is. The log itself, the files ndlog
    /// keeps beside it and paths inside a segmented log are refused (exit 2).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bounds = args.range.bounds()?;
    let log = input::open(&args.log)?;
    // `-o /dev/stdout` (or any name of the file standard output already writes to, with `>`
    // or `>>`) is standard output: written there as it is, never replaced by a rename.
    let Some(path) = args.output.as_ref().filter(|p| !input::is_dash(p) && !is_stdout(p)) else {
        let mut out = out::stdout();
        let code = write_log_range(&log, bounds, args.data, false, &mut out)?;
        out.flush()?;
        return Ok(code);
    };
    // Through a symbolic link to a file: the file is replaced, never the link. (A link to a
    // pipe or a terminal, /dev/stdout say, is written to below, as they are.)
    let resolved = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => through_links(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => through_links(path)?,
        _ => path.to_path_buf(),
    };
    let path = &resolved;
    refuse_the_log_itself(&args.log, path)?;
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let file = special_output(path, meta.file_type())?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let code = write_log_range(&log, bounds, args.data, false, &mut out)?;
            out.flush().with_context(|| format!("writing the export to {}", path.display()))?;
            return Ok(code);
        }
        _ => {}
    }
    let dir = input::dir_of(path);
    // Said of the directory the user named, not of the temporary file's name in it.
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "-o {}: the directory {} does not exist: create it first",
            path.display(),
            dir.display()
        ),
        Ok(meta) if !meta.is_dir() => {
            anyhow::bail!("-o {}: {} is not a directory", path.display(), dir.display())
        }
        _ => {}
    }
    let tmp = crate::spool::create(dir, ".ndlog-export-")
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    // The mode of the file it replaces, or what the umask leaves of 0666, as for `> FILE`
    // (the temporary file is made 0600).
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.mode() & 0o777,
        Err(_) => 0o666 & !current_umask(),
    };
    let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
    tmp.as_file().set_permissions(perms).with_context(|| format!("chmod {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp);
    let code = write_log_range(&log, bounds, args.data, false, &mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error()).context("writing the export")?;
    tmp.as_file().sync_all().with_context(|| format!("fsync {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("renaming the export to {}", path.display()))?;
    Ok(code)
}

/// Refuses an output that is the log, one of the files ndlog keeps beside it, or a path inside
/// a segmented log's directory: the export is renamed over its path, and would replace them.
fn refuse_the_log_itself(log: &Path, output: &Path) -> anyhow::Result<()> {
    if input::is_dash(log) {
        return Ok(());
    }
    let clash = |what: &str| {
        usage(format!(
            "-o {}: that is {what} of {}, which the export would replace; name a file outside \
             the log",
            output.display(),
            log.display()
        ))
    };
    let Ok(log_meta) = std::fs::metadata(log) else { return Ok(()) };
    if let Ok(out_meta) = std::fs::metadata(output)
        && (out_meta.dev(), out_meta.ino()) == (log_meta.dev(), log_meta.ino())
    {
        return Err(clash("the log itself"));
    }
    // Compared by where they are, whether the output exists or not.
    let (Ok(log_at), Some(out_at)) = (std::fs::canonicalize(log), canonical_parent(output)) else {
        return Ok(());
    };
    if log_meta.is_dir() {
        if out_at.starts_with(&log_at) {
            return Err(clash("a path inside the segmented log"));
        }
        return Ok(());
    }
    let Some(out_name) = output.file_name().map(std::ffi::OsStr::as_encoded_bytes) else {
        return Ok(());
    };
    // The log by the path given (its side files are named after it) and by its real path.
    let given = canonical_parent(log).zip(log.file_name().map(PathBuf::from));
    let real = log_at.parent().zip(log_at.file_name()).map(|(d, n)| (d.to_path_buf(), n.into()));
    for (dir, name) in given.into_iter().chain(real) {
        if out_at != dir {
            continue;
        }
        let name = name.as_os_str().as_encoded_bytes();
        if out_name == name {
            return Err(clash("the log itself"));
        }
        if let Some(suffix) = out_name.strip_prefix(name)
            && (SIDE_SUFFIXES.iter().any(|s| suffix == s.as_bytes())
                || suffix.starts_with(b".compact."))
        {
            return Err(clash("a file ndlog keeps beside the log"));
        }
    }
    Ok(())
}

/// Whether `path` names the file standard output writes to (`/dev/stdout`, `/proc/self/fd/1`,
/// or the very file it was redirected to).
fn is_stdout(path: &Path) -> bool {
    let (Ok(named), Ok(out)) = (std::fs::metadata(path), rustix::fs::fstat(std::io::stdout()))
    else {
        return false;
    };
    named.dev() == out.st_dev && named.ino() == out.st_ino
}

/// `path`, or where the symbolic links it is lead: a link to nothing is refused (as `cp`
/// refuses to write through one).
fn through_links(path: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).with_context(|| {
                format!(
                    "-o {}: a symbolic link to a file that cannot be reached; name the file itself",
                    path.display()
                )
            })
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// The process's umask (read by setting it and setting it back: the CLI is one thread here).
fn current_umask() -> u32 {
    let was = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    rustix::process::umask(was);
    was.bits()
}

/// The directory `path` would be in, resolved: `None` when it does not exist.
fn canonical_parent(path: &Path) -> Option<PathBuf> {
    let dir = input::dir_of(path);
    std::fs::canonicalize(dir).ok()
}

/// An output that exists and is not a regular file: a pipe or a character device
/// (`/dev/stdout`, `/dev/null`) is written to as it is, never replaced; a directory, a block
/// device or a socket is refused.
fn special_output(path: &Path, kind: FileType) -> anyhow::Result<File> {
    if kind.is_fifo() || kind.is_char_device() {
        return File::options()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {} for the export", path.display()));
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(usage(format!(
        "-o {}: {what}; name a file to write the export to (or - for standard output)",
        path.display()
    )))
}
