//! `ndlog export`: the log's verified records as plain NDJSON, to stdout or a file.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::input;
use crate::out;
use crate::range::{Range, write_log_range};
use anyhow::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// Export only the payloads (`data`): the NDJSON that was imported or appended. Without it,
    /// whole records, which `ndlog import` takes back verbatim.
    #[arg(long)]
    pub data: bool,
    #[command(flatten)]
    pub range: Range,
    /// Write to FILE (atomically: a temporary file renamed into place) instead of stdout (-).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bounds = args.range.bounds()?;
    let log = input::open(&args.log)?;
    let Some(path) = args.output.as_ref().filter(|p| !input::is_dash(p)) else {
        let mut out = out::stdout();
        let code = write_log_range(&log, bounds, args.data, false, &mut out)?;
        out.flush()?;
        return Ok(code);
    };
    let dir =
        path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".ndlog-export-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp);
    let code = write_log_range(&log, bounds, args.data, false, &mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error()).context("writing the export")?;
    tmp.as_file().sync_all().with_context(|| format!("fsync {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("renaming the export to {}", path.display()))?;
    Ok(code)
}
