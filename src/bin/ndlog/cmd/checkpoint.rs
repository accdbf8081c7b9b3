//! `ndlog checkpoint`: print a chained log's checkpoint, `{log id, seq, chain value}`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use ndlog::Entry;
use ndlog::chain::{ChainFile, Checkpoint};
use serde_json::json;

use crate::exit::EXIT_DAMAGED;
use crate::input;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The chained log (a file, or a segmented log's directory).
    pub log: PathBuf,
    /// Print one JSON object ({"log_id","seq","chain"} with the value in hex) instead of the
    /// three-line text (origin, seq, base64 value) that `verify --checkpoint` reads.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "checkpoint")?;
    let log = input::open(&args.log)?;
    let Some(file) = ChainFile::load(&ndlog::fs::StdFs, &args.log)? else {
        bail!("{}: not a chained log (no {})", log.name, ChainFile::path_of(&args.log).display());
    };
    let Some(cp) = Checkpoint::of(&log, &file) else {
        bail!("{}: no chained record to checkpoint yet", log.name);
    };
    if refuse_damage_after(&log, &args.log, cp.seq)? {
        return Ok(ExitCode::from(EXIT_DAMAGED));
    }
    let mut out = out::stdout();
    if args.json {
        let value = json!({"log_id": cp.log_id, "seq": cp.seq, "chain": cp.chain.to_hex()});
        serde_json::to_writer(&mut out, &value)?;
        writeln!(out)?;
    } else {
        write!(out, "{cp}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What follows the checkpointed record `seq` (the log's last valid one), through every later
/// file: nothing, padding, an append a crash cut short (never acknowledged: left out of the
/// checkpoint, with a note), or damaged lines that held acknowledged records, which a
/// checkpoint must not silently leave out: said on stderr, and true. Bytes held acknowledged
/// records when a sealed segment holds them (synced whole before its seal), or when the durable
/// watermark reaches past `seq` (writers make the same distinction: they leave such bytes in
/// place and give the next record a seq above the mark's, FORMAT.md section 4).
fn refuse_damage_after(log: &input::Log, path: &Path, seq: u64) -> anyhow::Result<bool> {
    let found = log.parts.iter().enumerate().find_map(|(i, p)| Some((i, p.reader.get(seq)?.end())));
    let Some((start, end)) = found else { return Ok(false) };
    let durable = match ndlog::consume::Watermark::read(path)? {
        // A single file's mark counts for that very file only.
        Some(m) if log.segmented || m.file == log.parts[start].reader.file_id() => m.seq,
        _ => 0,
    };
    for (i, part) in log.parts.iter().enumerate().skip(start) {
        let from = if i == start { end } else { 0 };
        let sealed = log.segmented && !part.active;
        for entry in part.reader.entries_from(from) {
            match entry {
                // Cut short too: a file truncated after the sync, or a sealed segment.
                Entry::Corrupt { offset, .. } | Entry::TornTail { offset, .. }
                    if sealed || durable > seq =>
                {
                    out::warn(format_args!(
                        "{}: a damaged or cut-short line at byte {offset}, after seq {seq}, the \
                         last valid record, held a record a sync covered: a checkpoint of seq \
                         {seq} would leave it out. `ndlog verify --chain {}` shows the damage: \
                         that record is lost, and the chain cannot be verified across it",
                        part.name,
                        path.display(),
                    ));
                    return Ok(true);
                }
                Entry::Corrupt { offset, len, .. } | Entry::TornTail { offset, len } => {
                    out::warn(format_args!(
                        "{}: {len} bytes at byte {offset} after seq {seq} (an append a crash cut \
                         short, never acknowledged) are not part of the checkpoint",
                        part.name
                    ))
                }
                Entry::Record(_) | Entry::Padding { .. } => {}
            }
        }
    }
    Ok(false)
}
