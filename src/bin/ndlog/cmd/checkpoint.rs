//! `ndlog checkpoint`: print a chained log's checkpoint, `{log id, seq, chain value}`.

use std::io::Write;
use std::path::PathBuf;
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
    if let Some(part) = log.parts.last() {
        // What follows the checkpointed record (the last valid one) in the log's last file:
        // nothing, padding, a torn tail (an append a crash cut short, never acknowledged), or
        // damaged lines, which may be acknowledged records a checkpoint must not silently
        // leave out.
        let from = part.reader.last().map_or(0, |r| r.end());
        for entry in part.reader.entries_from(from) {
            match entry {
                Entry::Corrupt { offset, .. } => {
                    out::warn(format_args!(
                        "{}: a damaged line at byte {offset}, after seq {seq}, the last valid \
                         record: a checkpoint of seq {seq} would leave it out. `ndlog verify \
                         {}` shows the damage; a compaction moves it to a quarantine file",
                        part.name,
                        args.log.display(),
                        seq = cp.seq,
                    ));
                    return Ok(ExitCode::from(EXIT_DAMAGED));
                }
                Entry::TornTail { offset, len } => out::warn(format_args!(
                    "{}: a torn tail of {len} bytes at byte {offset} (an append cut short, \
                     never acknowledged) is not part of the checkpoint",
                    part.name
                )),
                Entry::Record(_) | Entry::Padding { .. } => {}
            }
        }
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
