//! `ndlog index`: bring the sidecar index up to date, check it, or rebuild it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ndlog::index::IndexProblem;
use ndlog::{Mapped, Options, Reader};
use serde_json::json;

use crate::exit::{EXIT_DAMAGED, EXIT_NOT_FOUND};
use crate::input;
use crate::out;
use crate::time::parse_duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log.
    pub log: PathBuf,
    /// Report whether LOG.idx agrees with the log (reads the whole log; changes nothing).
    /// Exits 3 when an entry disagrees, 4 when there is no index.
    #[arg(long, conflicts_with = "rebuild")]
    pub check: bool,
    /// Rebuild LOG.idx from the whole log and rename it into place.
    #[arg(long)]
    pub rebuild: bool,
    /// Print the --check report as one JSON object.
    #[arg(long, requires = "check")]
    pub json: bool,
    /// Give up (exit 5) when the writer lock is not acquired within this time (e.g. 500ms, 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration, conflicts_with = "check")]
    pub lock_timeout: Duration,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "index")?;
    // A plain NDJSON file gets a pointer to `ndlog import`, whether checked or indexed.
    let log = input::open(&args.log)?;
    if log.segmented {
        return segmented(&args, log);
    }
    let reader = log.single().expect("a single-file log has one file");
    if args.check {
        return check(&args, &reader);
    }
    // What the writer below will repair without a word, said as what was done.
    let mut rebuilt_because = match reader.index_problem() {
        Some(IndexProblem::Missing) => Some("it was missing".to_string()),
        Some(problem) => Some(problem.to_string()),
        None => None,
    };
    drop(reader);
    // Opening a writer catches the index up (or repairs it) under the writer lock. That looks
    // only at the index's end; the check after it reads the whole log, and an index that
    // disagrees before its end (a damaged entry) is rebuilt rather than called up to date.
    let mut rebuild = args.rebuild;
    let check = loop {
        let writer =
            Options::new().create(false).lock_timeout(args.lock_timeout).open(&args.log)?;
        if rebuild {
            writer.rebuild_index()?;
        }
        if let Some(err) = writer.index_error() {
            // A file it may not append to (read-only) is replaced whole by a rebuild, as
            // --rebuild replaces it. (Not what someone planted there: that is said.)
            let denied = matches!(err.kind(), ndlog::ErrorKind::Io { cause, .. }
                if cause.kind() == std::io::ErrorKind::PermissionDenied);
            if rebuild || !denied {
                anyhow::bail!("{}: the index could not be updated: {err}", args.log.display());
            }
            (rebuild, rebuilt_because) = (true, Some(format!("it could not be updated: {err}")));
            continue;
        }
        drop(writer);
        let check = Reader::open(&args.log)?.check_index()?;
        if rebuild || check.agrees() {
            break check;
        }
        let why = format!("it disagreed with the log from entry {}", check.matching);
        (rebuild, rebuilt_because) = (true, Some(why));
    };
    let verb = match (args.rebuild, rebuilt_because) {
        (true, _) => "rebuilt".to_string(),
        (false, Some(why)) => format!("rebuilt ({why})"),
        (false, None) => "up to date".to_string(),
    };
    let mut out = out::stdout();
    writeln!(
        out,
        "{}.idx: {verb}: {} entries, one every {} records",
        args.log.display(),
        check.entries,
        check.stride
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A segmented log: each segment has its own index, `LOG/<first seq>.idx`.
fn segmented(args: &Args, log: input::Log) -> anyhow::Result<ExitCode> {
    let mut out = out::stdout();
    if args.check {
        let mut code = ExitCode::SUCCESS;
        for part in &log.parts {
            let c = part.reader.check_index()?;
            let (verdict, bad) = match (c.problem, c.agrees(), c.is_current()) {
                (Some(IndexProblem::Missing), ..) => ("missing".to_string(), EXIT_NOT_FOUND),
                (Some(p), ..) => (format!("unusable: {p}"), EXIT_DAMAGED),
                (None, true, true) => ("agrees".to_string(), 0),
                (None, true, false) => ("agrees, lags the segment".to_string(), 0),
                (None, false, _) => (format!("DISAGREES from entry {}", c.matching), EXIT_DAMAGED),
            };
            if args.json {
                let v = json!({
                    "segment": part.name, "agrees": c.agrees(), "current": c.is_current(),
                    "problem": c.problem.map(|p| p.to_string()), "entries": c.entries,
                    "expected": c.expected,
                });
                serde_json::to_writer(&mut out, &v)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}: index {verdict}: {} entries", part.name, c.entries)?;
            }
            if bad == EXIT_DAMAGED || (bad != 0 && code == ExitCode::SUCCESS) {
                code = ExitCode::from(bad);
            }
        }
        out.flush()?;
        return Ok(code);
    }
    drop(log);
    let writer = Options::new().create(false).lock_timeout(args.lock_timeout).open(&args.log)?;
    // The active segment's index is the writer's own: the sealed ones are rebuilt below.
    let active = match args.rebuild {
        true => writer.rebuild_index().map(|()| 1)?,
        false => 0,
    };
    let mut built = active + writer.index_segments(args.rebuild)?;
    if !args.rebuild {
        // The writer caught the active segment's index up at its end only; one that disagrees
        // before it (a damaged entry) is rebuilt, as the sealed ones are.
        let log = input::open(&args.log)?;
        if let Some(part) = log.parts.last().filter(|p| p.active)
            && !part.reader.check_index()?.agrees()
        {
            writer.rebuild_index()?;
            built += 1;
        }
    }
    if let Some(err) = writer.index_error() {
        anyhow::bail!("{}: the index could not be updated: {err}", args.log.display());
    }
    let verb = if args.rebuild { "rebuilt" } else { "built where missing or stale" };
    writeln!(
        out,
        "{}: {built} segment index(es) {verb}; every segment is indexed",
        args.log.display()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn check(args: &Args, reader: &Reader<Mapped>) -> anyhow::Result<ExitCode> {
    let c = reader.check_index()?;
    let missing = c.problem == Some(IndexProblem::Missing);
    let mut out = out::stdout();
    let idx = format!("{}.idx", args.log.display());
    if missing && !args.json {
        match input::not_a_regular_file(Path::new(&idx)) {
            // `ndlog index` would fail on it, and a rebuild cannot replace a directory.
            Some(what) => out::warn(format_args!(
                "{idx}: no index: {what} is at its path; lookups search the log; remove it, \
                 then `ndlog index {}` builds one",
                args.log.display()
            )),
            None => out::warn(format_args!(
                "{idx}: missing: there is no index to check; lookups search the log; \
                 `ndlog index {}` builds it",
                args.log.display()
            )),
        }
    } else if args.json {
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
        let name = idx;
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
    Ok(if missing {
        ExitCode::from(EXIT_NOT_FOUND)
    } else if c.agrees() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DAMAGED)
    })
}
