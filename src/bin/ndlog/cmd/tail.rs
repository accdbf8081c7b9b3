//! `ndlog tail`: the last records, and with -f the ones that follow.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit::usage;
use crate::input;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log, or - for a log on standard input (not with --follow).
    pub log: PathBuf,
    /// How many of the last records to print.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub lines: usize,
    /// Keep running and print records as they are appended (survives compaction).
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the payloads.
    #[arg(long)]
    pub data: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.follow && input::is_dash(&args.log) {
        return Err(usage("--follow needs a log file: standard input is read to its end"));
    }
    let log = input::open(&args.log)?;
    let mut out = out::stdout();
    let mut last: Vec<_> = log.records_rev().take(args.lines).collect();
    last.reverse();
    for r in &last {
        out::line(&mut out, if args.data { r.data } else { r.line })?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let after = log.last().map_or(0, |r| r.seq);
    drop(last);
    let Some(reader) = log.single() else {
        return follow_segmented(&args, after, &mut out);
    };
    let mut follow = reader.follow_after(after);
    while let Some(r) = follow.next(None)? {
        out::line(&mut out, if args.data { r.data } else { r.line })?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `tail -f` on a segmented log: across rolls, saying when retention removed records first.
fn follow_segmented(args: &Args, after: u64, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let mut follow = ndlog::segments::SegmentedFollow::after(&args.log, after);
    loop {
        let record = follow.next(None)?;
        let Some(r) = record else { return Ok(ExitCode::SUCCESS) };
        out::line(out, if args.data { r.data } else { r.line })?;
        out.flush()?;
        if let Some((from, to)) = follow.skipped() {
            out::warn(format_args!(
                "{}: seqs {from}..={to} were removed by retention before they were read",
                args.log.display()
            ));
        }
    }
}
