//! `ndlog cat`: valid records in order, optionally a seq or time range.

use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::{Entry, Reader};

use crate::cli::EXIT_DAMAGED;
use crate::out;
use crate::time::parse_time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log.
    pub log: PathBuf,
    /// Print only the payloads (`data`), one per line, instead of whole records.
    #[arg(long)]
    pub data: bool,
    /// Start at this seq (inclusive).
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Stop after this seq (inclusive).
    #[arg(long, value_name = "N")]
    pub to_seq: Option<u64>,
    /// Start at the first record with ts ≥ T (unix ms or RFC 3339, e.g. 2025-11-21T08:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Stop before the first record with ts ≥ T (unix ms or RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<u64>,
    /// Fail (exit 3) at the first corrupt line instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reader = Reader::open(&args.log)?;
    // Seqs increase and timestamps never decrease, so both bounds are binary searches.
    let from_seq = args.from_seq.map_or(0, |s| reader.seek_seq(s));
    let from_ts = args.since.map_or(0, |t| reader.seek_ts(t));
    let mut out = out::stdout();
    let (mut skipped, mut first_skipped) = (0u64, None);
    for entry in reader.entries_from(from_seq.max(from_ts)) {
        match entry {
            Entry::Record(r) => {
                if args.to_seq.is_some_and(|s| r.seq > s) || args.until.is_some_and(|t| r.ts >= t) {
                    break;
                }
                out::line(&mut out, if args.data { r.data } else { r.line })?;
            }
            Entry::Corrupt { offset, reason, .. } if args.strict => {
                std::io::Write::flush(&mut out)?;
                eprintln!("ndlog: {}: corrupt line at byte {offset}: {reason}", args.log.display());
                return Ok(ExitCode::from(EXIT_DAMAGED));
            }
            Entry::Corrupt { offset, .. } => {
                skipped += 1;
                first_skipped.get_or_insert(offset);
            }
            Entry::Padding { .. } | Entry::TornTail { .. } => {}
        }
    }
    std::io::Write::flush(&mut out)?;
    if let Some(first) = first_skipped {
        eprintln!(
            "ndlog: {}: skipped {skipped} corrupt line(s), the first at byte {first}; \
             `ndlog verify` lists them",
            args.log.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
