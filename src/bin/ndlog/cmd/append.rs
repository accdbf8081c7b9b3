//! `ndlog append`: stdin lines in, acknowledged seqs out.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use ndlog::{Dedup, DedupWindow, Durability, JsonPointer, Options};

use crate::out;
use crate::time::parse_duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (created with mode 0600 when missing).
    pub log: PathBuf,
    /// always: fdatasync each record before printing its seq. group: append the lines already
    /// read as one batch under one fdatasync. never: print once written to the OS.
    #[arg(long, default_value = "always", value_parser = ["always", "group", "never"])]
    pub durability: String,
    /// Give up when the writer lock is not acquired within this time (e.g. 500ms, 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Largest payload in bytes.
    #[arg(long, default_value_t = Options::DEFAULT_MAX_RECORD_SIZE)]
    pub max_record_size: usize,
    /// Idempotent appends: a line whose value at this JSON pointer (e.g. /request_id) repeats
    /// one within the window is not appended again; the original record's seq is printed.
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer)]
    pub dedup_key: Option<JsonPointer>,
    /// The dedup window: a number of records (e.g. 100000) or a duration (e.g. 1h).
    #[arg(long, value_name = "N|DUR", default_value = "100000", value_parser = parse_window, requires = "dedup_key")]
    pub dedup_window: DedupWindow,
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
    let durability: Durability = args.durability.parse()?;
    let mut options = Options::new()
        .durability(durability)
        .lock_timeout(args.lock_timeout)
        .max_record_size(args.max_record_size);
    if let Some(key) = args.dedup_key {
        options = options.dedup(Dedup::new(key, args.dedup_window));
    }
    let writer = options.open(&args.log)?;
    let mut input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut out = out::stdout();
    // Lines of the batch being gathered: their bytes back to back, and where each ends.
    let mut batch = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).context("reading stdin")?;
        if n > 0 {
            line_no += 1;
            let value = line.trim_ascii();
            if !value.is_empty() {
                if let Err(err) = writer.check_payload(value) {
                    flush(&writer, &mut batch, &mut ends, &mut out)?;
                    bail!(
                        "stdin line {line_no}: {err}; it was not appended, the lines before it were"
                    );
                }
                batch.extend_from_slice(value);
                ends.push(batch.len());
            }
        }
        // Group and never gather what is already buffered; always acknowledges line by line.
        let more_buffered = !input.buffer().is_empty() && ends.len() < MAX_BATCH;
        if n == 0 || durability == Durability::Always || !more_buffered {
            flush(&writer, &mut batch, &mut ends, &mut out)?;
        }
        if n == 0 {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Appends the gathered lines as one batch and prints their seqs.
fn flush(
    writer: &ndlog::Writer,
    batch: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    out: &mut out::Out,
) -> anyhow::Result<()> {
    if ends.is_empty() {
        return Ok(());
    }
    let payloads: Vec<&[u8]> = ends
        .iter()
        .scan(0, |start, &end| Some(&batch[std::mem::replace(start, end)..end]))
        .collect();
    let ack = writer.append_raw_batch(&payloads)?;
    let mut num = itoa::Buffer::new();
    // A repeat (with --dedup-key) prints the original record's seq.
    for a in ack.acks() {
        out::line(out, num.format(a.seq).as_bytes())?;
    }
    out.flush()?;
    batch.clear();
    ends.clear();
    Ok(())
}
