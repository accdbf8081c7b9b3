//! `ndlog index`: bring the sidecar index up to date, check it, or rebuild it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::{Options, Reader};
use serde_json::json;

use crate::exit::EXIT_DAMAGED;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log.
    pub log: PathBuf,
    /// Report whether LOG.idx agrees with the log (reads the whole log; changes nothing).
    /// Exits 3 when an entry disagrees.
    #[arg(long, conflicts_with = "rebuild")]
    pub check: bool,
    /// Rebuild LOG.idx from the whole log and rename it into place.
    #[arg(long)]
    pub rebuild: bool,
    /// Print the --check report as one JSON object.
    #[arg(long, requires = "check")]
    pub json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.check {
        return check(&args);
    }
    // Opening a writer catches the index up (or repairs it) under the writer lock.
    let writer = Options::new().create(false).open(&args.log)?;
    if args.rebuild {
        writer.rebuild_index()?;
    }
    if let Some(err) = writer.index_error() {
        anyhow::bail!("{}: the index could not be updated: {err}", args.log.display());
    }
    drop(writer);
    let check = Reader::open(&args.log)?.check_index()?;
    let verb = if args.rebuild { "rebuilt" } else { "up to date" };
    println!(
        "{}.idx: {verb}: {} entries, one every {} records",
        args.log.display(),
        check.entries,
        check.stride
    );
    Ok(ExitCode::SUCCESS)
}

fn check(args: &Args) -> anyhow::Result<ExitCode> {
    let c = Reader::open(&args.log)?.check_index()?;
    let mut out = out::stdout();
    if args.json {
        let v = json!({
            "log": args.log.display().to_string(),
            "agrees": c.agrees(),
            "current": c.is_current(),
            "problem": c.problem.map(|p| p.to_string()),
            "stride": c.stride,
            "entries": c.entries,
            "matching": c.matching,
            "expected": c.expected,
            "torn_bytes": c.torn_bytes,
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let name = format!("{}.idx", args.log.display());
        match (c.problem, c.agrees(), c.is_current()) {
            (Some(p), _, _) => writeln!(
                out,
                "{name}: unusable: {p}; lookups search the log; `ndlog index --rebuild` fixes it"
            )?,
            (None, true, true) => writeln!(
                out,
                "{name}: agrees with the log: {} entries, one every {} records",
                c.entries, c.stride
            )?,
            (None, true, false) => writeln!(
                out,
                "{name}: agrees with the log but lags it: {} of {} entries; the next append or `ndlog index` catches it up",
                c.entries, c.expected
            )?,
            (None, false, _) => writeln!(
                out,
                "{name}: DISAGREES with the log from entry {} of {} ({} torn bytes); lookups verify every entry and fall back to the log; `ndlog index --rebuild` fixes it",
                c.matching, c.entries, c.torn_bytes
            )?,
        }
    }
    out.flush()?;
    Ok(if c.agrees() || c.problem == Some(ndlog::index::IndexProblem::Missing) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}
