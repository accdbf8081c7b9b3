//! `ndlog get`: one record by seq, through the index.

use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::Reader;

use crate::exit::EXIT_NOT_FOUND;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log.
    pub log: PathBuf,
    /// The seq of the record.
    pub seq: u64,
    /// Print only the payload.
    #[arg(long)]
    pub data: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reader = Reader::open(&args.log)?;
    let Some(r) = reader.get(args.seq) else {
        let range = match (reader.records().next(), reader.last()) {
            (Some(first), Some(last)) => format!("it holds seqs {}..={}", first.seq, last.seq),
            _ => "it holds no record".to_string(),
        };
        eprintln!("ndlog: {}: no record with seq {} ({range})", args.log.display(), args.seq);
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    };
    let mut out = out::stdout();
    out::line(&mut out, if args.data { r.data } else { r.line })?;
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::SUCCESS)
}
