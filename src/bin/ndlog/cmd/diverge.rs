//! `ndlog diverge`: where two copies of a chained log part.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;

use crate::exit::EXIT_DAMAGED;
use crate::input;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// One copy of the chained log (a file, or a segmented log's directory).
    pub log_a: PathBuf,
    /// The other copy (either kind: a segmented copy of a single-file log compares too).
    pub log_b: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if input::is_dash(&args.log_a) && input::is_dash(&args.log_b) {
        return Err(crate::exit::usage(
            "both copies are - (standard input), which holds one; give at least one as a file",
        ));
    }
    let a = input::open(&args.log_a)?;
    let b = input::open(&args.log_b)?;
    let (name_a, name_b) = (&a.name, &b.name);
    let d = ndlog::chain::diverge(&a, &b).map_err(|e| anyhow!(e))?;
    let mut out = out::stdout();
    let seqs = |last: Option<u64>| last.map_or("empty".to_string(), |s| format!("last seq {s}"));
    match d.last_common {
        Some(seq) => writeln!(out, "last common seq {seq}")?,
        None => writeln!(out, "last common seq none")?,
    }
    writeln!(out, "  {}: {}", name_a, seqs(d.last_a))?;
    writeln!(out, "  {}: {}", name_b, seqs(d.last_b))?;
    if d.forked {
        writeln!(out, "  FORKED: the copies differ after that seq")?;
    } else {
        writeln!(out, "  one copy is a prefix of the other")?;
    }
    out.flush()?;
    Ok(if d.forked { ExitCode::from(EXIT_DAMAGED) } else { ExitCode::SUCCESS })
}
