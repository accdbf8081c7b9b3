//! `ndlog cat`: valid records in order, optionally a seq or time range.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::input;
use crate::out;
use crate::range::{Range, write_log_range};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// Print only the payloads (`data`), one per line, instead of whole records.
    #[arg(long)]
    pub data: bool,
    #[command(flatten)]
    pub range: Range,
    /// Fail (exit 3) at the first corrupt line instead of skipping it, at a record out of
    /// order (a seq that does not rise or a ts that falls), or at seqs missing between two
    /// segments: what `verify` reports as damage.
    #[arg(long)]
    pub strict: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bounds = args.range.bounds()?;
    let log = input::open(&args.log)?;
    let mut out = out::stdout();
    let code = write_log_range(&log, bounds, args.data, args.strict, &mut out)?;
    out.flush()?;
    Ok(code)
}
