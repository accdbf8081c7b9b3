//! `ndlog import`: plain NDJSON appended as new records, or another ndlog log verbatim.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ndlog::{Durability, Options};

use crate::time::parse_duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log to import into (created when missing).
    pub log: PathBuf,
    /// The input: a file, or - for stdin.
    pub input: PathBuf,
    /// auto: an input whose first line is an ndlog record is imported verbatim (seq and ts
    /// kept), anything else as plain NDJSON (one payload per line, new seqs).
    #[arg(long, default_value = "auto", value_parser = ["auto", "ndjson", "ndlog"])]
    pub format: String,
    /// Durability of each batch (always: one fdatasync per batch).
    #[arg(long, default_value = "always", value_parser = ["always", "group", "never"])]
    pub durability: String,
    /// Give up when the writer lock is not acquired within this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

/// Records per batch (one write and, with `always`, one fdatasync each).
const BATCH: usize = 8192;

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Standard input is spooled to a file first: nothing is written before all of the input
    // has been checked, which takes two passes.
    let spooled;
    let input = if args.input.as_os_str() == "-" {
        let mut tmp = tempfile::NamedTempFile::new().context("spooling stdin")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut tmp).context("reading stdin")?;
        tmp.flush()?;
        spooled = tmp;
        spooled.path().to_path_buf()
    } else {
        args.input.clone()
    };
    // The input may be any NDJSON file, not only an ndlog log: read its bytes as they are.
    let source =
        std::fs::read(&input).with_context(|| format!("reading {}", args.input.display()))?;
    let bytes = &source[..];
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .collect();
    let verbatim = match args.format.as_str() {
        "ndlog" => true,
        "ndjson" => false,
        _ => lines.first().is_some_and(|(_, line)| ndlog::format::decode(line).is_ok()),
    };
    let options = Options::new()
        .durability(args.durability.parse::<Durability>()?)
        .lock_timeout(args.lock_timeout);
    let name = args.input.display();
    // First pass: check every line; nothing is written if any is bad.
    let mut previous: Option<(u64, u64)> = None;
    for &(n, line) in &lines {
        if verbatim {
            let frame = match ndlog::format::decode(line) {
                Ok(frame) => frame,
                Err(e) => {
                    bail!("{name}: line {n}: not an ndlog record ({e}); nothing was imported")
                }
            };
            if let Some((seq, ts)) = previous
                && (frame.seq <= seq || frame.ts < ts)
            {
                bail!(
                    "{name}: line {n}: seq {} ts {} comes after seq {seq} ts {ts}: out of order; \
                     nothing was imported",
                    frame.seq,
                    frame.ts
                );
            }
            previous = Some((frame.seq, frame.ts));
        } else if let Err(e) = options.check_payload(line) {
            bail!("{name}: line {n}: {e}; nothing was imported");
        }
    }
    let writer = options.open(&args.log)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(lines.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("importing {pos}/{len} records {wide_bar} {eta}")
        {
            bar.set_style(style);
        }
        bar
    });
    let (mut first, mut last, mut count) = (None, None, 0u64);
    for chunk in lines.chunks(BATCH) {
        let records: Vec<&[u8]> = chunk.iter().map(|(_, line)| *line).collect();
        if verbatim {
            let ack = writer.import_records(&records).map_err(|e| match e.kind() {
                ndlog::ErrorKind::InvalidPayload { index: Some(i), reason, .. } => anyhow::anyhow!(
                    "{name}: line {}: {reason}; {}",
                    chunk[*i].0,
                    if count == 0 {
                        "nothing was imported"
                    } else {
                        "the lines before it were imported"
                    }
                ),
                _ => e.into(),
            })?;
            first = first.or(ack.first.map(|a| a.seq));
            last = ack.last.map(|a| a.seq).or(last);
        } else {
            let ack = writer.append_raw_batch(&records)?;
            first = first.or(Some(ack.first_seq));
            last = ack.seqs().last().or(last);
        }
        count += chunk.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(count);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let how = if verbatim { "verbatim (seq and ts kept)" } else { "as new records" };
    match (first, last) {
        (Some(a), Some(b)) => println!(
            "{}: imported {count} records {how}, seq {a}..={b}, from {name}",
            args.log.display()
        ),
        _ => println!("{}: nothing to import from {name}", args.log.display()),
    }
    Ok(ExitCode::SUCCESS)
}
