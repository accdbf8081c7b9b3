//! `ndlog append`: stdin lines in, acknowledged seqs out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use ndlog::{Dedup, DedupWindow, Durability, Expect, JsonPointer, Options};

use crate::input;
use crate::lines::{Lines, TooLong};
use crate::out;
use crate::time::{parse_duration, parse_size};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (created with mode 0600 when missing, by the first line there is to write).
    pub log: PathBuf,
    /// always: fdatasync each record before printing its seq. group: append the lines already
    /// read as one batch under one fdatasync. never: print once written to the OS.
    #[arg(long, default_value = "always", value_parser = ["always", "group", "never"])]
    pub durability: String,
    /// Give up (exit 5) when the writer lock is not acquired within this time (e.g. 500ms,
    /// 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Largest payload in bytes (e.g. 1048576, 64KiB; at most 256MiB). A longer line is
    /// refused as soon as it passes this, without reading the rest of it.
    #[arg(long, value_name = "SIZE", default_value = "1048576", value_parser = parse_record_size)]
    pub max_record_size: usize,
    /// Idempotent appends: a line whose value at this JSON pointer (e.g. /request_id) repeats
    /// one within the window is not appended again; the original record's seq is printed.
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer)]
    pub dedup_key: Option<JsonPointer>,
    /// The dedup window: a number of records (e.g. 100000) or a duration (e.g. 1h).
    #[arg(long, value_name = "N|DUR", default_value = "100000", value_parser = parse_window, requires = "dedup_key")]
    pub dedup_window: DedupWindow,
    /// Write the lines only if the log's last seq is N when they are written (0: the log is
    /// empty); otherwise exit 6 naming the actual last seq. All lines are written as one batch,
    /// or none; with no lines, the check alone.
    #[arg(long, value_name = "N", conflicts_with = "expect_version")]
    pub expect_last_seq: Option<u64>,
    /// JSON pointer to the field that names a line's entity (e.g. /id), for --expect-version.
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer, requires = "expect_version")]
    pub key: Option<JsonPointer>,
    /// Write the lines only if each line's entity (its value at --key) has its newest record
    /// at seq N when they are written (0: it has no record yet); otherwise exit 6 naming the
    /// entity and its actual version. All lines are written as one batch, or none; each is
    /// checked against the log as it was before the batch (two lines of one entity are both
    /// written).
    #[arg(long, value_name = "N", requires = "key")]
    pub expect_version: Option<u64>,
}

/// A record size: at least one byte, at most [`Options::MAX_RECORD_SIZE_LIMIT`].
pub(crate) fn parse_record_size(text: &str) -> Result<usize, String> {
    let max = Options::MAX_RECORD_SIZE_LIMIT;
    match usize::try_from(parse_size(text)?) {
        Ok(bytes) if bytes <= max => Ok(bytes),
        _ => Err(format!("{text:?}: at most {max} bytes (256MiB)")),
    }
}

fn parse_pointer(text: &str) -> Result<JsonPointer, String> {
    JsonPointer::parse(text).map_err(|e| e.to_string())
}

fn parse_window(text: &str) -> Result<DedupWindow, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("the window must hold at least one record".into()),
        Ok(n) => Ok(DedupWindow::Records(n)),
        Err(_) => match parse_duration(text)? {
            std::time::Duration::ZERO => Err(format!("{text:?}: must be greater than zero")),
            d => Ok(DedupWindow::Age(d)),
        },
    }
}

/// Largest number of lines appended as one batch.
const MAX_BATCH: usize = 4096;

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "append")?;
    let durability: Durability = args.durability.parse()?;
    let mut options = Options::new()
        .durability(durability)
        .lock_timeout(args.lock_timeout)
        .max_record_size(args.max_record_size);
    if let Some(key) = args.dedup_key {
        options = options.dedup(Dedup::new(key, args.dedup_window));
    }
    let expect = match (args.expect_last_seq, args.expect_version) {
        (Some(n), _) => Some(Expect::LastSeq(n)),
        (None, Some(n)) => Some(Expect::Version(n)),
        (None, None) => None,
    };
    if let Some(key) = &args.key {
        options = options.entity_key(key.clone());
    }
    let mut log = Target::new(options, args.log, args.key)?;
    // A line is read only up to the maximum record size: past it, it is refused unread.
    let mut lines = Lines::new(std::io::stdin().lock(), args.max_record_size);
    let mut out = out::stdout();
    // Lines of the batch being gathered: their bytes back to back, and where each ends.
    let mut batch = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    // And the stdin line each came from, to name a line the writer refuses.
    let mut line_nos: Vec<u64> = Vec::new();
    loop {
        let Some((line_no, line)) = lines.next_line().context("reading stdin")? else {
            flush(&mut log, expect, &mut batch, (&mut ends, &mut line_nos), &mut out)?;
            return Ok(ExitCode::SUCCESS);
        };
        let checked = match line {
            Ok(value) => log.check(value).map(|()| value),
            Err(TooLong { limit }) => Err(format!(
                "longer than the maximum record size of {limit} bytes (--max-record-size)"
            )),
        };
        let value = match checked {
            Ok(value) => value,
            Err(why) if expect.is_some() => {
                bail!("stdin line {line_no}: {why}; nothing was appended");
            }
            Err(why) => {
                flush(&mut log, None, &mut batch, (&mut ends, &mut line_nos), &mut out)?;
                bail!("stdin line {line_no}: {why}; it was not appended, the lines before it were");
            }
        };
        batch.extend_from_slice(value);
        ends.push(batch.len());
        line_nos.push(line_no);
        if expect.is_some() {
            // A conditional append is one batch: all lines or none.
            continue;
        }
        // Group and never gather what is already buffered; always acknowledges line by line.
        let more_buffered = lines.buffered() && ends.len() < MAX_BATCH;
        if durability == Durability::Always || !more_buffered {
            flush(&mut log, None, &mut batch, (&mut ends, &mut line_nos), &mut out)?;
        }
    }
}

/// The log appended to. One that does not exist yet is created by the first line there is to
/// write, so that input refused whole (empty, or bad from its first line) leaves no file behind.
struct Target {
    options: Options,
    path: PathBuf,
    /// The entity key (--key), for expectations decided before the log exists.
    key: Option<JsonPointer>,
    writer: Option<ndlog::Writer>,
}

impl Target {
    fn new(options: Options, path: PathBuf, key: Option<JsonPointer>) -> anyhow::Result<Target> {
        let writer = match input::not_created_yet(&path) {
            true => None,
            false => Some(options.open(&path)?),
        };
        Ok(Target { options, path, key, writer })
    }

    /// An expectation on a log that does not exist yet, decided before anything creates it:
    /// its last seq is 0 and no entity has a record, so a batch that cannot be written leaves
    /// no file behind. (One that can is checked again under the lock once the log is made.)
    fn check_before_creating(
        &self,
        expect: Expect,
        payloads: &[&[u8]],
        line_nos: &[u64],
    ) -> anyhow::Result<()> {
        if self.writer.is_some() || exists(&self.path) {
            return Ok(());
        }
        let path = self.path.clone();
        let conflict = |expected, entity| -> anyhow::Result<()> {
            let kind = ndlog::ErrorKind::Conflict { path, expected, actual: 0, entity };
            Err(ndlog::Error::from(kind).into())
        };
        match (expect, &self.key) {
            (Expect::LastSeq(0), _) => Ok(()),
            (Expect::LastSeq(n), _) => conflict(n, None),
            (Expect::Version(n), Some(key)) => {
                for (payload, line) in payloads.iter().zip(line_nos) {
                    let Some(entity) = key.find(payload) else {
                        bail!(
                            "stdin line {line}: no value at the entity key {key}; nothing was \
                             appended"
                        );
                    };
                    if n != 0 {
                        // A string entity is named by its text, as the writer names it.
                        let text = match serde_json::from_slice::<String>(entity) {
                            Ok(text) => text,
                            Err(_) => String::from_utf8_lossy(entity).into(),
                        };
                        return conflict(n, Some(text));
                    }
                }
                Ok(())
            }
            // (Anything else is checked under the lock once the log is made.)
            _ => Ok(()),
        }
    }

    /// The writer, the log created if need be.
    fn writer(&mut self) -> anyhow::Result<&ndlog::Writer> {
        if self.writer.is_none() {
            self.writer = Some(self.options.open(&self.path)?);
        }
        Ok(self.writer.as_ref().expect("opened above"))
    }

    /// Checks a payload as the writer will, before the log exists too.
    fn check(&self, value: &[u8]) -> Result<(), String> {
        match &self.writer {
            Some(writer) => writer.check_payload(value).map_err(|e| e.to_string()),
            None => self
                .options
                .check_payload(value)
                .map_err(|why| format!("{}: invalid payload: {why}", self.path.display())),
        }
    }

    /// An expectation with nothing to write: checked under the writer lock when the log
    /// exists (now: another process may have created it meanwhile); a log that does not has no
    /// record, so its last seq is 0 and no entity has a version.
    fn check_only(&mut self, expect: Expect) -> anyhow::Result<()> {
        if self.writer.is_none() && !exists(&self.path) {
            return self.check_before_creating(expect, &[], &[]);
        }
        let none: &[&[u8]] = &[];
        self.writer()?.append_raw_batch_if(expect, none)?;
        Ok(())
    }
}

/// Whether anything is at `path` (a log, a segmented log's directory, or something the writer
/// will refuse with its own message).
fn exists(path: &std::path::Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Appends the gathered lines as one batch and prints their seqs. With `expect` and no lines,
/// checks the expectation alone.
fn flush(
    log: &mut Target,
    expect: Option<Expect>,
    batch: &mut Vec<u8>,
    (ends, line_nos): (&mut Vec<usize>, &mut Vec<u64>),
    out: &mut out::Out,
) -> anyhow::Result<()> {
    if ends.is_empty() {
        return match expect {
            Some(expect) => log.check_only(expect),
            None => Ok(()),
        };
    }
    let payloads: Vec<&[u8]> = ends
        .iter()
        .scan(0, |start, &end| Some(&batch[std::mem::replace(start, end)..end]))
        .collect();
    if let Some(expect) = expect {
        log.check_before_creating(expect, &payloads, line_nos)?;
    }
    let writer = log.writer()?;
    let ack = match expect {
        Some(expect) => writer.append_raw_batch_if(expect, &payloads),
        None => writer.append_raw_batch(&payloads),
    };
    let ack = match ack {
        Ok(ack) => ack,
        // A payload the writer refused is named by its stdin line, not its place in the batch.
        Err(e) => match e.kind() {
            ndlog::ErrorKind::InvalidPayload { index, reason, .. } => {
                let line = line_nos[index.unwrap_or(0)];
                let (first, last) = (line_nos[0], line_nos[line_nos.len() - 1]);
                match expect {
                    Some(_) => bail!("stdin line {line}: {reason}; nothing was appended"),
                    None => bail!(
                        "stdin line {line}: {reason}; it and the lines gathered with it \
                         ({first} to {last}) were not appended, the lines before them were"
                    ),
                }
            }
            _ => return Err(e.into()),
        },
    };
    let mut num = itoa::Buffer::new();
    // A repeat (with --dedup-key) prints the original record's seq.
    for a in ack.acks() {
        out::line(out, num.format(a.seq).as_bytes())?;
    }
    out.flush()?;
    batch.clear();
    ends.clear();
    line_nos.clear();
    Ok(())
}
