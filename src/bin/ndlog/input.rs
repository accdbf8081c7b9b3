//! The log a reading command names: a file, or `-` for standard input. Either way it must be an
//! ndlog log: a plain NDJSON file is refused with a pointer to `ndlog import` rather than read
//! as a log whose every line is damaged.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use ndlog::read::Entry;
use ndlog::segments::{Gap, SegmentedReader};
use ndlog::{Mapped, Reader, Record, Summary};

use crate::exit::usage;
use crate::out;

/// A log opened for reading: one file, or the segments of a segmented log.
pub(crate) struct Log {
    /// Its files in seq order: the log's one file, or one per segment.
    pub parts: Vec<Part>,
    /// What to call it in messages: the path, or `stdin`.
    pub name: String,
    /// Whether it is a segmented log (a directory).
    pub segmented: bool,
    /// Seqs missing between two segments.
    pub gaps: Vec<Gap>,
}

/// One file of a log.
pub(crate) struct Part {
    /// Its records.
    pub reader: Reader<Mapped>,
    /// What to call it in messages.
    pub name: String,
    /// The seq its name says it starts at (a segment); 0 for a single-file log.
    pub first_seq: u64,
    /// Whether it is a segmented log's active segment (the one still written).
    pub active: bool,
}

impl Log {
    /// A note for a chain check of a log without its chain file (`chain_file`, where one would
    /// be): when its first record carries no chain link, that it looks unchained; when it does
    /// and is not seq 1, that the chain file, which alone says what preceded it, is missing.
    /// Its chain fails at that record all the same (exit 3: a chained log stripped of its links
    /// and its chain file looks the same), but the note says what the user most likely has.
    pub(crate) fn chain_file_note(
        &self,
        chain_file: Option<&ndlog::chain::ChainFile>,
        path: &Path,
    ) -> Option<String> {
        if chain_file.is_some() {
            return None;
        }
        let first = self.parts.iter().find_map(|p| p.reader.records().next())?;
        if ndlog::format::chain::link_of(first.line).is_some() {
            // A chained log without its chain file: fine from seq 1 (the start is known), not
            // from a later record, whose predecessor only an anchor of that file names.
            return (first.seq > 1 && !is_dash(path)).then(|| {
                format!(
                    "{}: no {}: the chain file holds the anchors that say what preceded its first \
                     record (seq {}); restore it from a backup to verify the chain",
                    self.name,
                    ndlog::chain::ChainFile::path_of(path).display(),
                    first.seq
                )
            });
        }
        let no_file = match is_dash(path) {
            true => String::new(),
            false => format!("no {}, and ", ndlog::chain::ChainFile::path_of(path).display()),
        };
        Some(format!(
            "{}: not a chained log ({no_file}seq {} carries no chain link), or one stripped of \
             its links; chains are kept by logs made with `ndlog create --chain`",
            self.name, first.seq
        ))
    }

    /// Every valid record, newest first.
    pub(crate) fn records_rev(&self) -> impl Iterator<Item = Record<'_>> {
        self.parts.iter().rev().flat_map(|p| p.reader.records_rev())
    }

    /// The file that holds `seq`, if any: by the segments' names (binary search).
    pub(crate) fn part_of(&self, seq: u64) -> Option<&Part> {
        let i = self.parts.partition_point(|p| p.first_seq <= seq);
        i.checked_sub(1).map(|i| &self.parts[i])
    }

    /// The record with `seq`.
    pub(crate) fn get(&self, seq: u64) -> Option<Record<'_>> {
        self.part_of(seq)?.reader.get(seq)
    }

    /// The newest record.
    pub(crate) fn last(&self) -> Option<Record<'_>> {
        self.parts.iter().rev().find_map(|p| p.reader.last())
    }

    /// The oldest record.
    pub(crate) fn first(&self) -> Option<Record<'_>> {
        self.parts.iter().find_map(|p| p.reader.records().next())
    }

    /// What `verify` reports of every file together (problems keep their file's offsets), and
    /// each file's own report.
    pub(crate) fn verify(&self) -> (Summary, Vec<Summary>) {
        let each: Vec<Summary> = self.parts.iter().map(|p| p.reader.verify()).collect();
        let mut all = Summary::default();
        for s in &each {
            all.bytes += s.bytes;
            all.records += s.records;
            all.first = all.first.or(s.first);
            all.last = s.last.or(all.last);
            all.corrupt_lines += s.corrupt_lines;
            all.corrupt_bytes += s.corrupt_bytes;
            all.out_of_order += s.out_of_order;
            all.padding_bytes += s.padding_bytes;
            all.torn_tail = s.torn_tail.or(all.torn_tail);
            let room = Summary::MAX_LISTED.saturating_sub(all.problems.len());
            all.problems.extend(s.problems.iter().take(room).copied());
        }
        (all, each)
    }

    /// Says on stderr which seqs are missing between segments (damage or a lost file).
    pub(crate) fn warn_gaps(&self) {
        for gap in &self.gaps {
            out::warn(format_args!("{gap}"));
        }
    }

    /// The log's only file, for what a segmented log does not have (a byte-addressed index).
    pub(crate) fn single(self) -> Option<Reader<Mapped>> {
        match self.segmented {
            true => None,
            false => self.parts.into_iter().next().map(|p| p.reader),
        }
    }
}

impl Part {
    fn whole(reader: Reader<Mapped>, name: String) -> Self {
        Part { reader, name, first_seq: 0, active: false }
    }
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

/// What is at `path` when it is not a regular file (a directory, a symlink, which ndlog does
/// not follow, a FIFO...); `None` for a regular file or nothing at all.
pub(crate) fn not_a_regular_file(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = std::fs::symlink_metadata(path).ok()?.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_symlink() {
        Some("a symlink")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else {
        Some("a special file")
    }
}

/// The directory `path` is (or would be) in: `.` for a bare file name.
pub(crate) fn dir_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whether nothing is at `path` yet, in a directory that exists, and `path` names a file (no
/// trailing `/`): a log a writer would create there, which a command with nothing to write
/// leaves uncreated. (Anything else is opened, for the writer's own message.)
pub(crate) fn not_created_yet(path: &Path) -> bool {
    !path.as_os_str().as_encoded_bytes().ends_with(b"/")
        && std::fs::symlink_metadata(path).is_err()
        && dir_of(path).is_dir()
}

/// Opens the log at `path`, or the log on standard input for `-`, for reading.
///
/// # Errors
/// As [`open_any`]; and "not an ndlog log" for a non-empty file without a single valid ndlog
/// record.
pub(crate) fn open(path: &Path) -> anyhow::Result<Log> {
    let log = open_any(path)?;
    if let [part] = &log.parts[..]
        && !log.segmented
    {
        ensure_log(&part.reader, &log.name)?;
    }
    log.warn_gaps();
    Ok(log)
}

/// Opens the segmented log at `dir`.
fn open_segmented(dir: &Path) -> anyhow::Result<Log> {
    let log = SegmentedReader::open(dir)?;
    let gaps = log.gaps();
    let parts = log
        .into_parts()
        .into_iter()
        .map(|p| Part {
            name: p.path().display().to_string(),
            first_seq: p.name.first_seq,
            active: p.name.active,
            reader: p.reader,
        })
        .collect();
    Ok(Log { parts, name: dir.display().to_string(), segmented: true, gaps })
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
        // A directory redirected in (`ndlog cat - < LOG`, for a segmented LOG): read, it fails
        // with a bare "Is a directory" said of the copy. (A closed standard input reads as
        // empty, as before.)
        let stdin = rustix::fs::fstat(std::io::stdin()).map(|s| s.st_mode);
        if stdin.is_ok_and(|mode| {
            rustix::fs::FileType::from_raw_mode(mode) == rustix::fs::FileType::Directory
        }) {
            bail!(
                "stdin: standard input is a directory, not a log; a segmented log is named as \
                 LOG, not redirected"
            );
        }
        let dir = std::env::temp_dir();
        let mut spool = crate::spool::create(&dir, ".ndlog-stdin-")
            .context("creating a temporary file for standard input")?;
        remove_on_stop_signal(spool.path())?;
        let copying = || {
            format!(
                "stdin: copying standard input to a temporary file in {} (it is read as a \
                 file); give the log as a file, or set TMPDIR to a file system with room",
                dir.display()
            )
        };
        copy_with_room(&mut std::io::stdin().lock(), &mut spool, &dir).with_context(copying)?;
        spool.flush().with_context(copying)?;
        // The map keeps the bytes after the name is gone.
        let reader = Reader::open(spool.path())?;
        drop(spool);
        (reader, "stdin".to_string())
    } else if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return open_segmented(path);
    } else {
        (Reader::open(path)?, path.display().to_string())
    };
    let part = Part::whole(reader, name.clone());
    Ok(Log { parts: vec![part], name, segmented: false, gaps: Vec::new() })
}

/// Copies `from` to `to`, a file in `dir`, stopping before the copy fills the file system
/// ([`crate::spool::Room`]).
fn copy_with_room(
    from: &mut impl std::io::Read,
    to: &mut impl Write,
    dir: &Path,
) -> std::io::Result<u64> {
    let mut room = crate::spool::Room::new(dir);
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        room.check(copied, n as u64)?;
        to.write_all(&buf[..n])?;
        copied += n as u64;
    }
}

/// Removes the copy of standard input at `spool` when SIGINT, SIGTERM or SIGHUP ends the
/// command, then exits as the signal would have (128 + its number): a copy interrupted (^C on
/// an endless input) was left behind in `$TMPDIR`, as large as it had grown.
fn remove_on_stop_signal(spool: &Path) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the SIGINT/SIGTERM handlers")?;
    let spool = spool.to_path_buf();
    std::thread::Builder::new()
        .name("spool-cleanup".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = std::fs::remove_file(&spool);
                std::process::exit(128 + signal);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// Whether the bytes are a log: empty, holding at least one valid ndlog record, or, in a file
/// ndlog wrote (its lock file says so), nothing but padding and a torn tail: the first append
/// cut short by a crash, or cleared by the next writer.
pub(crate) fn is_log<D: AsRef<[u8]>>(reader: &Reader<D>) -> bool {
    // Not `bytes().is_empty()`: a reader maps a file only up to its last record.
    reader.last().is_some()
        || reader.entries().next().is_none()
        || (reader.entries().all(|e| matches!(e, Entry::Padding { .. } | Entry::TornTail { .. }))
            && ndlog::LogLock::marks(reader.path()))
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

/// The hash chain's commands (`diverge`, `checkpoint`, `verify --checkpoint`) read chain values
/// by seq from a log of either kind.
impl ndlog::chain::Lookup for Log {
    fn record(&self, seq: u64) -> Option<Record<'_>> {
        self.get(seq)
    }

    fn first_record(&self) -> Option<Record<'_>> {
        self.first()
    }

    fn last_record(&self) -> Option<Record<'_>> {
        self.last()
    }

    fn location(&self) -> &Path {
        Path::new(&self.name)
    }
}
