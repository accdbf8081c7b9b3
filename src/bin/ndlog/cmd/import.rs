//! `ndlog import`: plain NDJSON appended as new records, or another ndlog log verbatim.
//!
//! In bounded memory: a first pass streams through the input and checks every line, so that
//! bad input writes nothing; only then is the writer lock taken, and held for the whole of the
//! second pass, which streams the input again and writes it in batches. No other writer can
//! slip a record in between two batches. Not atomic against a crash: a process killed, or a
//! write that fails, leaves the batches written before it.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ndlog::format::PREFIX;
use ndlog::write::{Adjusted, ImportAdjust};
use ndlog::{Durability, Options, Writer};

use crate::cmd::append::parse_record_size;
use crate::exit::usage;
use crate::input;
use crate::lines::{Lines, TooLong};
use crate::out;
use crate::time::{MAX_TS, parse_duration};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log to import into (created when missing).
    pub log: PathBuf,
    /// The input: a file, or - for stdin (copied to a temporary file beside the log first).
    pub input: PathBuf,
    /// auto: an input whose first line is an ndlog record (a legacy log's seq 0 or a damaged
    /// record included) is imported verbatim (seq and ts kept), anything else as plain NDJSON
    /// (one payload per line, new seqs).
    #[arg(long, default_value = "auto", value_parser = ["auto", "ndjson", "ndlog"])]
    pub format: String,
    /// Durability of each batch (always: one fdatasync per batch).
    #[arg(long, default_value = "always", value_parser = ["always", "group", "never"])]
    pub durability: String,
    /// Give up (exit 5) when the writer lock is not acquired within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Largest payload of a plain NDJSON line in bytes (e.g. 1048576, 64KiB; at most 256MiB);
    /// a record imported verbatim may add its frame. A longer line is refused as soon as it
    /// passes this, without reading the rest of it.
    #[arg(long, value_name = "SIZE", default_value = "1048576", value_parser = parse_record_size)]
    pub max_record_size: usize,
    /// Verbatim import of a legacy log: add N to every seq (1 imports a log whose seqs start
    /// at 0). The original seqs are noted in LOG.import-adjusted.
    #[arg(long, value_name = "N", default_value = "0")]
    pub shift_seqs: u64,
    /// Verbatim import of a legacy log: a ts behind the previous record's by at most DUR
    /// (clock skew between its writers, e.g. 5ms) is raised to the previous record's; a ts
    /// further behind is still refused. Each raised record's original ts is noted in
    /// LOG.import-adjusted.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub raise_ts_within: Option<Duration>,
}

impl Args {
    /// The adjustments asked for, as their options: they apply to a verbatim import only.
    fn adjust_options(&self) -> Option<String> {
        let given = [
            (self.shift_seqs != 0).then_some("--shift-seqs"),
            self.raise_ts_within.is_some().then_some("--raise-ts-within"),
        ];
        let given: Vec<&str> = given.into_iter().flatten().collect();
        (!given.is_empty()).then(|| given.join(" and "))
    }

    fn adjust(&self) -> ImportAdjust {
        let adjust = ImportAdjust::new().shift_seqs(self.shift_seqs);
        match self.raise_ts_within {
            Some(skew) => adjust.raise_ts_within(skew),
            None => adjust,
        }
    }
}

/// Most records in one batch (one write and, with `always`, one fdatasync each).
const BATCH: usize = 8192;
/// Most bytes gathered for one batch.
const BATCH_BYTES: usize = 8 << 20;

/// The longest line the import takes: a payload of `--max-record-size`, or, where the input
/// may hold ndlog records (`verbatim` is not `Some(false)`), such a payload and its frame.
fn line_limit(args: &Args, verbatim: Option<bool>) -> usize {
    match verbatim {
        Some(false) => args.max_record_size,
        _ => args.max_record_size + ndlog::format::MAX_FRAME_OVERHEAD,
    }
}

/// What to say about line `n` of the input, which passed [`line_limit`].
fn too_long(name: &str, n: u64, args: &Args, verbatim: Option<bool>) -> anyhow::Error {
    let max = args.max_record_size;
    let limit = line_limit(args, verbatim);
    let option = "(--max-record-size; at most 256MiB)";
    let what = match verbatim {
        Some(false) => format!("longer than the maximum record size of {max} bytes {option}"),
        Some(true) => format!(
            "longer than {limit} bytes, a record of the maximum record size of {max} bytes \
             {option} and its frame"
        ),
        None => format!(
            "longer than {limit} bytes, the maximum record size of {max} bytes {option} and \
             the frame of an ndlog record"
        ),
    };
    anyhow::anyhow!("{name}: line {n}: {what}; nothing was imported")
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "import")?;
    if let Some(options) = args.adjust_options().filter(|_| format_of(&args) == Some(false)) {
        return Err(usage(format!(
            "{options}: for the records of a verbatim import only; --format ndjson imports each \
             line as a payload with a new seq and ts"
        )));
    }
    let options = Options::new()
        .durability(args.durability.parse::<Durability>()?)
        .lock_timeout(args.lock_timeout)
        .max_record_size(args.max_record_size);
    let name = if input::is_dash(&args.input) {
        "stdin".to_string()
    } else {
        args.input.display().to_string()
    };
    // Standard input, or an input that is not a regular file (a named pipe), is spooled to a
    // file beside the log first: nothing is written before all of the input has been checked,
    // which takes two passes.
    let (mut source, copy) = if input::is_dash(&args.input) {
        let (file, copy) = spool(std::io::stdin().lock(), &args, &name)?;
        (file, Some(copy))
    } else {
        let file = File::open(&args.input)
            .with_context(|| format!("{}: open failed", args.input.display()))?;
        let meta = file.metadata().with_context(|| format!("{name}: stat failed"))?;
        if meta.is_dir() {
            bail!(
                "{name}: is a directory; import takes a file of NDJSON or of ndlog records (for \
                 a segmented log: `ndlog export {name} | ndlog import {} -`)",
                args.log.display()
            );
        }
        refuse_self_import(&file, &args)?;
        if meta.is_file() {
            (file, None)
        } else {
            let (file, copy) = spool(file, &args, &name)?;
            (file, Some(copy))
        }
    };

    // First pass: check every line; nothing is written if any is bad. Records imported
    // verbatim must come after the log's last record (a raised ts depends on it too).
    let start = last_record_of(&args.log);
    let checked = check(&mut source, &args, &options, &name, start)?;
    let verbatim = checked.verbatim.unwrap_or(false);
    // What follows the last record a reader of the input reads is left out, as they leave it.
    let (end_line, importable) = match verbatim {
        true => (checked.ending.line, checked.ending.records),
        false => (u64::MAX, checked.records),
    };
    let left_out = checked.records - importable;
    if left_out > 0 {
        eprintln!(
            "ndlog: {name}: leaving out the last {left_out} records: a write that did not finish \
             (cut short, or with a blank line between two of its records where a crash lost \
             part of it); readers of {name} do not read them either"
        );
    }

    // Nothing to import into a log that does not exist: it is not created for nothing (a
    // missing directory is still said, by the writer).
    if importable == 0 && input::not_created_yet(&args.log) {
        drop(copy);
        let mut out = out::stdout();
        writeln!(out, "{}: nothing to import from {name}", args.log.display())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }

    // Where the adjustments will be noted must take them, before anything is created.
    if checked.adjusted > 0 {
        refuse_what_is_not_a_file(&adjusted_path(&args.log))?;
    }

    // Second pass, holding the writer lock throughout.
    let writer = options.clone().exclusive(true).open(&args.log)?;
    // An empty verbatim import is refused as any would be (a chained log takes none), and
    // writes nothing: said before an adjustment is noted.
    if verbatim {
        writer.import_records::<&[u8]>(&[]).map_err(|e| stopped(e, &name, 0))?;
    }
    // A segmented log rolls between batches: keep each batch within a segment.
    let (max_records, max_bytes) = match writer.segment_settings() {
        Some(s) => (
            s.segment_records.map_or(BATCH, |n| BATCH.min(usize::try_from(n).unwrap_or(BATCH))),
            BATCH_BYTES.min(usize::try_from(s.segment_bytes / 2).unwrap_or(BATCH_BYTES)),
        ),
        None => (BATCH, BATCH_BYTES),
    };
    // Another writer appended since the first pass: check again from the log's last record,
    // under the lock, so that no batch is refused (and no adjustment noted) after the first.
    let now = writer.last_known().map(|a| (a.seq, a.ts));
    if verbatim && now != start {
        source.rewind().with_context(|| format!("{name}: seek failed"))?;
        check(&mut (&source).take(checked.bytes), &args, &options, &name, now)?;
    }
    source.rewind().with_context(|| format!("{name}: seek failed"))?;
    let limit = line_limit(&args, Some(verbatim));
    let mut lines = Lines::new(source.take(checked.bytes), limit);
    let bar = progress(importable);
    let mut batch = Batch::default();
    let (mut first, mut last, mut count) = (None, None, 0u64);
    let adjust = args.adjust();
    // The previous record as imported: the log's last, then each imported one.
    let mut previous = writer.last_known().map(|a| (a.seq, a.ts));
    // The adjustments of the batch being gathered; they are noted (and synced) before the
    // batch is written, so an import killed in between never loses an original value.
    let mut adjusted: Vec<(u64, Adjusted)> = Vec::new();
    let mut adjusted_total = 0u64;
    let mut split_noted = false;
    loop {
        let line = lines.next_line().with_context(|| format!("reading {name}"))?;
        let line = line.filter(|(n, _)| *n <= end_line);
        if let Some((n, line)) = line {
            let Ok(line) = line else {
                bail!("{name}: line {n} changed since it was checked; {}", imported(count));
            };
            if verbatim && !adjust.is_none() {
                let (line, changed) = adjust
                    .apply(line, previous)
                    .map_err(|e| anyhow::anyhow!("{name}: line {n}: {e}; {}", imported(count)))?;
                let frame = ndlog::format::decode(&line).map_err(anyhow::Error::msg)?;
                previous = Some((frame.seq, frame.ts));
                adjusted.extend(changed.map(|a| (n, a)));
                batch.push(n, &line);
            } else {
                batch.push(n, line);
            }
            if batch.ends.len() < max_records && batch.bytes.len() < max_bytes {
                continue;
            }
            // Whole records are imported in the writes they came in: a batch ends where one of
            // them ends (its last record carries no continuation mark), unless one write runs
            // on past four batches' worth.
            if verbatim && batch.last_continues() {
                if batch.bytes.len() < 4 * max_bytes {
                    continue;
                }
                if !std::mem::replace(&mut split_noted, true) {
                    eprintln!(
                        "ndlog: {name}: line {n}: a write of more than {} bytes is imported as \
                         several writes: each is all or nothing, not the whole",
                        4 * max_bytes
                    );
                }
            }
        }
        if batch.ends.is_empty() {
            break;
        }
        if !adjusted.is_empty() {
            note_adjusted(&args.log, &name, &adjusted)?;
            adjusted_total += adjusted.len() as u64;
            adjusted.clear();
        }
        let (a, b) = batch.write(&writer, verbatim, &name, count)?;
        first = first.or(a);
        last = b.or(last);
        count += batch.ends.len() as u64;
        batch.clear();
        if let Some(bar) = &bar {
            bar.set_position(count);
        }
    }
    drop(writer);
    drop(copy);
    if adjusted_total > 0 {
        let mut out = out::stdout();
        writeln!(
            out,
            "{}: {adjusted_total} records adjusted; their original seq and ts are in {}",
            args.log.display(),
            adjusted_path(&args.log).display()
        )?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let how = if verbatim { "verbatim (seq and ts kept)" } else { "as new records" };
    let mut out = out::stdout();
    match (first, last) {
        (Some(a), Some(b)) => writeln!(
            out,
            "{}: imported {count} records {how}, seq {a}..={b}, from {name}",
            args.log.display()
        )?,
        _ => writeln!(out, "{}: nothing to import from {name}", args.log.display())?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `--format` says the records are imported verbatim; `None` for `auto`, where the
/// first line decides.
fn format_of(args: &Args) -> Option<bool> {
    match args.format.as_str() {
        "ndlog" => Some(true),
        "ndjson" => Some(false),
        _ => None,
    }
}

/// Copies `from` (standard input, a named pipe) to a temporary file beside the log, for the two
/// passes; returns the copy, open for reading, and its name, removed when dropped. Each line is
/// copied trimmed, a blank line as an empty one (the line numbers stay), and a line past the
/// limit the first pass would apply ends the copy at once: an input that can never be imported
/// (`/dev/zero`) neither fills the disk nor the memory. An error removes the copy.
fn spool(
    from: impl Read,
    args: &Args,
    name: &str,
) -> anyhow::Result<(File, tempfile::NamedTempFile)> {
    let dir = input::dir_of(&args.log);
    let mut temp = crate::spool::create(dir, ".ndlog-import-").with_context(|| {
        format!("{name}: creating a temporary file for it in {}", dir.display())
    })?;
    // Where the room is needed, said once; the temporary file itself is gone with the error.
    let write_failed = |e: std::io::Error| {
        anyhow::Error::new(e).context(format!(
            "{name}: nothing was imported: copying it to a temporary file in {} (it is read \
             twice; an input given as a file is read in place) failed",
            dir.display()
        ))
    };
    let mut verbatim = format_of(args);
    let mut lines = Lines::new(from, line_limit(args, verbatim));
    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.as_file_mut());
    let mut copied = 0;
    let (mut room, mut bytes) = (crate::spool::Room::new(dir), 0u64);
    while let Some((n, line)) = lines.next_line().with_context(|| format!("reading {name}"))? {
        let line = line.map_err(|TooLong { .. }| too_long(name, n, args, verbatim))?;
        // The first line decides the format, and the limit of the lines after it, as in
        // `check`.
        let decides = verbatim.is_none().then(|| is_log_line(line));
        let upcoming = (n - copied) + line.len() as u64;
        room.check(bytes, upcoming).map_err(write_failed)?;
        bytes += upcoming;
        for _ in copied + 1..n {
            out.write_all(b"\n").map_err(write_failed)?;
        }
        out.write_all(line).and_then(|()| out.write_all(b"\n")).map_err(write_failed)?;
        copied = n;
        if decides.is_some() {
            verbatim = decides;
            lines.set_limit(line_limit(args, verbatim));
        }
    }
    out.flush().map_err(write_failed)?;
    drop(out);
    let file = temp.reopen().map_err(write_failed)?;
    Ok((file, temp))
}

/// Seq and ts of the last record of the log at `path` (either kind), if it holds one; `None`
/// too when it cannot be read as a log (the writer says why).
fn last_record_of(path: &Path) -> Option<(u64, u64)> {
    let log = ndlog::Log::open(path).ok()?;
    log.last().map(|r| (r.seq, r.ts))
}

/// Whether the first line makes the input a log (`--format auto`): a record, or a line framed
/// as one whose CRC or seq is wrong (a damaged first record, refused with what to do, rather
/// than every record imported as the payload of a new one).
fn is_log_line(line: &[u8]) -> bool {
    ImportAdjust::is_record(line)
        || (line.starts_with(PREFIX) && ndlog::format::split_trailer(line).is_ok())
}

/// What the first pass found.
struct Checked {
    /// Whether the records are imported verbatim; `None` when there is nothing to import.
    verbatim: Option<bool>,
    /// Non-blank lines.
    records: u64,
    /// Of a verbatim import: the number of the last line a reader of the input reads as a
    /// record, and how many records it reads, up to and with that line ([`Ending`]).
    ending: Ending,
    /// Bytes read: the second pass reads no further, whatever was appended to the input since.
    bytes: u64,
    /// Records an adjustment changes (noted in `LOG.import-adjusted`).
    adjusted: u64,
}

/// Reads the whole input once and checks every line as the writer will: a record in order (after
/// `start`, the log's last record, when known), or a payload the writer accepts.
fn check(
    source: &mut impl Read,
    args: &Args,
    options: &Options,
    name: &str,
    start: Option<(u64, u64)>,
) -> anyhow::Result<Checked> {
    let mut counted = Counted { inner: source, bytes: 0 };
    let mut verbatim = format_of(args);
    let mut lines = Lines::new(&mut counted, line_limit(args, verbatim));
    let (mut previous, mut records): (Option<(u64, u64)>, u64) = (start, 0);
    let mut adjusted_count = 0;
    let mut ending = Ending::default();
    // What the ending was before the last record: a last line without its newline is not one.
    let mut before_last = ending;
    while let Some((n, line)) = lines.next_line().with_context(|| format!("reading {name}"))? {
        let line = match line {
            Ok(line) => line,
            Err(TooLong { .. }) => return Err(too_long(name, n, args, verbatim)),
        };
        let decided = verbatim.is_some();
        let is_record = *verbatim.get_or_insert_with(|| is_log_line(line));
        if !is_record {
            if let Some(adjust) = args.adjust_options().filter(|_| !decided) {
                bail!(
                    "{name}: line {n} is not an ndlog record, so the input is plain NDJSON, \
                     imported with new seqs and timestamps, which {adjust} cannot adjust; \
                     nothing was imported: leave {adjust} out to import it so"
                );
            }
            if let Err(e) = options.check_payload(line) {
                bail!("{name}: line {n}: {e}; nothing was imported");
            }
            if !decided {
                // Plain NDJSON from here on: a line is a payload, as large as a payload may be.
                lines.set_limit(line_limit(args, Some(false)));
            }
        } else {
            let adjusted = match args.adjust().apply(line, previous) {
                Ok((adjusted, changed)) => {
                    adjusted_count += u64::from(changed.is_some());
                    adjusted
                }
                // A damaged line or a torn tail of a log copied as it was: an export has none.
                Err(e) if !ImportAdjust::is_record(line) && line.starts_with(PREFIX) => bail!(
                    "{name}: line {n}: {e}; nothing was imported (a copy of a log may hold damaged \
                     lines and a torn tail; `ndlog export` of it writes its verified records)"
                ),
                Err(e) => bail!("{name}: line {n}: {e}; nothing was imported"),
            };
            let frame = match ndlog::format::decode(&adjusted) {
                Ok(frame) => frame,
                Err(e) => {
                    bail!("{name}: line {n}: not an ndlog record ({e}); nothing was imported")
                }
            };
            if let Some((seq, ts)) = previous
                && (frame.seq <= seq || frame.ts < ts)
            {
                let what = if records == 0 { "the log's last record, " } else { "" };
                bail!(
                    "{name}: line {n}: seq {} ts {} comes after {what}seq {seq} ts {ts}: out of \
                     order; nothing was imported{}",
                    frame.seq,
                    frame.ts,
                    if frame.seq > seq {
                        " (--raise-ts-within allows a ts slightly behind)"
                    } else {
                        ""
                    }
                );
            }
            if frame.ts > MAX_TS {
                bail!(
                    "{name}: line {n}: ts {} is past the year 9999 (the largest ts is {MAX_TS}); \
                     nothing was imported",
                    frame.ts
                );
            }
            previous = Some((frame.seq, frame.ts));
            before_last = ending;
            ending.record(n, frame.marks);
        }
        records += 1;
    }
    // A reader does not read a last line without its newline: a write cut short (or still
    // being made) whatever it holds.
    if verbatim == Some(true) && !lines.ended() {
        ending = Ending { seen: ending.seen, ..before_last };
    }
    drop(lines);
    Ok(Checked {
        verbatim: verbatim.filter(|_| records > 0),
        records,
        ending,
        bytes: counted.bytes,
        adjusted: adjusted_count,
    })
}

/// Where a reader of a log stops, worked out line by line from its start: after its last record
/// that is not marked to continue and whose write is whole (FORMAT.md, section 3). Records after
/// it are a write that did not finish: cut short (marked to continue, and no record ends the
/// write), or with a hole (a blank line between two of its records, where a power loss lost a
/// page of it). The input holds no damaged line (the check refuses one), and no mark of a sync
/// covers any of it, so this is the rule a reader applies to a copy of a log.
#[derive(Clone, Copy, Debug, Default)]
struct Ending {
    /// The last line a reader reads as a record (0: none), and the records up to it.
    line: u64,
    records: u64,
    /// Records seen, and the line of the last one.
    seen: u64,
    previous: u64,
    /// A write under way (its last record read was marked to continue): whether what was read
    /// of it is whole so far.
    open: Option<bool>,
}

impl Ending {
    /// Takes in the record on line `n`, with the marks it carries.
    fn record(&mut self, n: u64, marks: ndlog::format::Marks) {
        // Blank lines right before it (the start of the input is no gap).
        let gap = n > self.previous + 1;
        self.previous = n;
        self.seen += 1;
        // Whether the write is whole up to this record: a record marked as continued needs the
        // one before it in its write right before its line, and so on back to the write's
        // first. A record of another write there is fine too (a compaction may have removed the
        // records between). A record not marked as continued starts its write: whole.
        let whole = !marks.continued || (!gap && self.open.unwrap_or(true));
        if marks.continues {
            // The write's first record starts it afresh; so does a middle one whose first a
            // compaction removed (no write was under way).
            self.open = Some(if marks.continued { whole } else { true });
            return;
        }
        self.open = None;
        if whole {
            (self.line, self.records) = (n, self.seen);
        }
    }
}

/// The lines of one batch: their bytes back to back, where each ends, and their line numbers.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    numbers: Vec<u64>,
}

impl Batch {
    fn push(&mut self, n: u64, line: &[u8]) {
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
        self.numbers.push(n);
    }

    /// Whether the last line is a record with the continuation mark: more records of its
    /// write follow it.
    fn last_continues(&self) -> bool {
        let start = self.ends.len().checked_sub(2).map_or(0, |i| self.ends[i]);
        let line = &self.bytes[start..self.ends.last().copied().unwrap_or(0)];
        ndlog::format::decode(line).is_ok_and(|f| f.marks.continues)
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.numbers.clear();
    }

    /// Writes the batch; returns the first and last seq written. `before` records of the input
    /// were imported before this batch.
    fn write(
        &self,
        writer: &Writer,
        verbatim: bool,
        name: &str,
        before: u64,
    ) -> anyhow::Result<(Option<u64>, Option<u64>)> {
        let lines: Vec<&[u8]> = self
            .ends
            .iter()
            .scan(0, |start, &end| Some(&self.bytes[std::mem::replace(start, end)..end]))
            .collect();
        if !verbatim {
            let ack = writer.append_raw_batch(&lines).map_err(|e| stopped(e, name, before))?;
            return Ok((Some(ack.first_seq), ack.seqs().last()));
        }
        let ack = writer.import_records(&lines).map_err(|e| match e.kind() {
            ndlog::ErrorKind::InvalidPayload { index: Some(i), reason, .. } => {
                anyhow::anyhow!("{name}: line {}: {reason}; {}", self.numbers[*i], imported(before))
            }
            _ => stopped(e, name, before),
        })?;
        Ok((ack.first.map(|a| a.seq), ack.last.map(|a| a.seq)))
    }
}

/// Appends the original seq and ts of each adjusted record to `LOG.import-adjusted`
/// (created 0600), one JSON object a line, for whoever needs the legacy values.
fn note_adjusted(log: &Path, name: &str, adjusted: &[(u64, Adjusted)]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = adjusted_path(log);
    let mut text = String::new();
    for (line, a) in adjusted {
        let note = serde_json::json!({
            "input": name, "line": line, "seq": a.seq, "ts": a.ts,
            "original_seq": a.original_seq, "original_ts": a.original_ts,
        });
        text.push_str(&note.to_string());
        text.push('\n');
    }
    // Never through a symlink planted there, and never blocking on a planted FIFO.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc_flags::NOFOLLOW | libc_flags::NONBLOCK)
        .open(&path)
        .with_context(|| format!("{}: open failed", path.display()))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        bail!("{}: not a regular file; remove it", path.display());
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_data())
        .with_context(|| format!("{}: write failed", path.display()))?;
    Ok(())
}

/// The open flags `note_adjusted` adds, from rustix (no libc dependency of our own).
mod libc_flags {
    pub(super) const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    pub(super) const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;
}

/// Refuses a symlink, a FIFO, a directory or any other file than a regular one at `path`,
/// where the original values of adjusted records go (ndlog neither follows a link nor opens a
/// special file there).
fn refuse_what_is_not_a_file(path: &Path) -> anyhow::Result<()> {
    let Some(what) = input::not_a_regular_file(path) else { return Ok(()) };
    bail!(
        "{}: {what} is at this path, where the original seq and ts of the records an import \
         adjusts are noted; nothing was imported: remove it, or move it away",
        path.display()
    )
}

/// `LOG.import-adjusted`.
fn adjusted_path(log: &Path) -> std::path::PathBuf {
    let mut path = log.as_os_str().to_owned();
    path.push(".import-adjusted");
    path.into()
}

/// A batch that failed as it was written (a full disk, say): some of its records may be in the
/// log, after the `before` records of the input imported by the batches before it.
/// Any other error refused the batch before it was written.
fn stopped(e: ndlog::Error, name: &str, before: u64) -> anyhow::Error {
    if !matches!(e.kind(), ndlog::ErrorKind::Io { .. } | ndlog::ErrorKind::Poisoned { .. }) {
        return anyhow::anyhow!("{e}; {}", imported(before));
    }
    anyhow::Error::new(e).context(format!(
        "{name}: the import stopped after {before} records were imported; records of the batch \
         that failed may be in the log too (`ndlog stats` says where it ends)"
    ))
}

/// What an error in the second pass leaves behind.
fn imported(before: u64) -> &'static str {
    if before == 0 { "nothing was imported" } else { "the lines before it were imported" }
}

/// A reader that counts the bytes it reads.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Importing a log into itself would read back what it writes.
fn refuse_self_import(input: &File, args: &Args) -> anyhow::Result<()> {
    let input =
        input.metadata().with_context(|| format!("{}: stat failed", args.input.display()))?;
    if let Ok(log) = std::fs::metadata(&args.log)
        && (log.dev(), log.ino()) == (input.dev(), input.ino())
    {
        return Err(usage(format!(
            "{} and {} are the same file: a log cannot be imported into itself",
            args.input.display(),
            args.log.display()
        )));
    }
    Ok(())
}

/// A progress bar on a terminal.
fn progress(records: u64) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(records);
        if let Ok(style) =
            ProgressStyle::with_template("importing {pos}/{len} records {wide_bar} {eta}")
        {
            bar.set_style(style);
        }
        bar
    })
}
