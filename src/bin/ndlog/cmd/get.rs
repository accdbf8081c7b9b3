//! `ndlog get`: one record by seq, through the index.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit::EXIT_NOT_FOUND;
use crate::input;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// The seq of the record.
    pub seq: u64,
    /// Print only the payload.
    #[arg(long)]
    pub data: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A segmented log: only the segment the names point to is opened, so the cost does not
    // grow with the number of segments beyond listing them. (When the seq is not there, the
    // whole log is opened below, to say what it holds.)
    if std::fs::metadata(&args.log).is_ok_and(|m| m.is_dir())
        && let Some(code) = get_from_segment(&args)?
    {
        return Ok(code);
    }
    let log = input::open(&args.log)?;
    let Some(r) = log.get(args.seq) else {
        let range = match (log.first(), log.last()) {
            // Inside the range: the line that held it is damaged, or a compaction dropped it.
            (Some(first), Some(last)) if first.seq < args.seq && args.seq < last.seq => format!(
                "it holds seqs {}..={} but not this one: a compaction removed it, or its line \
                 is damaged (`ndlog verify` lists damage)",
                first.seq, last.seq
            ),
            (Some(first), Some(last)) => format!("it holds seqs {}..={}", first.seq, last.seq),
            _ => "it holds no record".to_string(),
        };
        out::warn(format_args!("{}: no record with seq {} ({range})", log.name, args.seq));
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    };
    let mut out = out::stdout();
    out::line(&mut out, if args.data { r.data } else { r.line })?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the record from the one segment whose name says it holds `args.seq`; `None` when
/// that segment does not hold it (or vanished under retention or a roll).
fn get_from_segment(args: &Args) -> anyhow::Result<Option<ExitCode>> {
    // Only a segmented log's directory (its settings say so), as every reader checks.
    ndlog::segments::Settings::load(&ndlog::fs::StdFs, &args.log)?;
    let segments = ndlog::segments::list(&ndlog::fs::StdFs, &args.log)?;
    let i = segments.partition_point(|s| s.name.first_seq <= args.seq);
    let Some(segment) = i.checked_sub(1).map(|i| &segments[i]) else { return Ok(None) };
    // Only where the segment before it ends below its name, as a roll leaves it: otherwise the
    // whole log is opened, and what is wrong with it said (a stray file, say).
    if let Some(before) = i.checked_sub(2).map(|i| &segments[i]) {
        let Ok(before) = ndlog::Reader::open(&before.path) else { return Ok(None) };
        if before.last().is_none_or(|r| r.seq >= segment.name.first_seq) {
            return Ok(None);
        }
    }
    let Ok(reader) = ndlog::Reader::open(&segment.path) else { return Ok(None) };
    let Some(r) = reader.get(args.seq) else { return Ok(None) };
    let mut out = out::stdout();
    out::line(&mut out, if args.data { r.data } else { r.line })?;
    out.flush()?;
    Ok(Some(ExitCode::SUCCESS))
}
