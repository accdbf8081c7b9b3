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
    let log = input::open(&args.log)?;
    let Some(r) = log.get(args.seq) else {
        let range = match (log.first(), log.last()) {
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
