//! `ndlog verify`: check every line and report damage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::Summary;
use serde_json::json;

use crate::exit::EXIT_DAMAGED;
use crate::input::{self, Log};
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A full check: CRC, frame, and that every payload is one valid JSON value.
    let mut log = input::open_any(&args.log)?;
    if log.segmented {
        return segmented(&args, log);
    }
    let part = log.parts.pop().expect("a single-file log has one file");
    let (reader, name) = (part.reader.validate_json(true), log.name);
    let summary = reader.verify();
    let mut out = out::stdout();
    if args.json {
        serde_json::to_writer(&mut out, &report_json(&name, &summary))?;
        writeln!(out)?;
    } else {
        write_report(&mut out, &name, &summary)?;
    }
    out.flush()?;
    if !input::is_log(&reader) {
        out::warn(format_args!("{}", input::not_a_log(&name)));
    }
    Ok(if summary.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGED) })
}

/// A segmented log: each segment checked, then the seqs between them. The report covers the
/// whole log, and each damaged segment is reported on its own with its offsets.
fn segmented(args: &Args, log: Log) -> anyhow::Result<ExitCode> {
    let Log { parts, name, gaps, .. } = log;
    let parts: Vec<_> = parts
        .into_iter()
        .map(|mut p| {
            p.reader = p.reader.validate_json(true);
            p
        })
        .collect();
    let log = Log { parts, name, gaps, segmented: true };
    let (all, each) = log.verify();
    let clean = all.is_clean() && log.gaps.is_empty();
    let mut out = out::stdout();
    if args.json {
        let mut v = report_json(&log.name, &all);
        v["ok"] = json!(clean);
        v["segments"] = log.parts.iter().zip(&each).map(|(p, s)| report_json(&p.name, s)).collect();
        v["gaps"] = log
            .gaps
            .iter()
            .map(|g| json!({"after": g.after.display().to_string(), "first_seq": g.seqs.0, "last_seq": g.seqs.1}))
            .collect();
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let verdict = if clean { "ok" } else { "DAMAGED" };
        writeln!(out, "{}: {verdict} ({} segments)", log.name, log.parts.len())?;
        let total = Summary { problems: Vec::new(), ..all };
        let mut body = Vec::new();
        write_report(&mut body, &log.name, &total)?;
        // The totals, without the verdict line the function writes first.
        let body = String::from_utf8_lossy(&body);
        for line in body.lines().skip(1).filter(|l| !l.contains("damaged lines are skipped")) {
            writeln!(out, "{line}")?;
        }
        for (p, s) in log.parts.iter().zip(&each).filter(|(_, s)| !s.is_clean()) {
            write_report(&mut out, &p.name, s)?;
        }
        for gap in &log.gaps {
            writeln!(out, "  {gap}")?;
        }
    }
    out.flush()?;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGED) })
}

fn write_report(out: &mut impl Write, log: &str, s: &Summary) -> std::io::Result<()> {
    let verdict = if s.is_clean() { "ok" } else { "DAMAGED" };
    writeln!(out, "{log}: {verdict}")?;
    writeln!(out, "  bytes:          {}", s.bytes)?;
    match (s.first, s.last) {
        (Some((first, _)), Some((last, _))) => {
            writeln!(out, "  valid records:  {} (seq {first}..={last})", s.records)?
        }
        _ => writeln!(out, "  valid records:  0")?,
    }
    writeln!(out, "  corrupt lines:  {} ({} bytes)", s.corrupt_lines, s.corrupt_bytes)?;
    if s.out_of_order > 0 {
        writeln!(out, "  out of order:   {}", s.out_of_order)?;
    }
    match s.torn_tail {
        Some((offset, len)) => writeln!(
            out,
            "  torn tail:      {len} bytes at byte {offset} (an interrupted write; not an error)"
        )?,
        None => writeln!(out, "  torn tail:      none")?,
    }
    if s.padding_bytes > 0 {
        writeln!(out, "  padding:        {} blank bytes", s.padding_bytes)?;
    }
    for p in &s.problems {
        writeln!(out, "  byte {}: {} bytes: {}", p.offset, p.len, p.reason)?;
    }
    let unlisted = (s.corrupt_lines + s.out_of_order).saturating_sub(s.problems.len() as u64);
    if unlisted > 0 {
        writeln!(out, "  ... and {unlisted} more")?;
    }
    if !s.is_clean() {
        writeln!(
            out,
            "  damaged lines are skipped by every reader; the records around them are intact"
        )?;
    }
    Ok(())
}

fn report_json(log: &str, s: &Summary) -> serde_json::Value {
    json!({
        "log": log,
        "ok": s.is_clean(),
        "bytes": s.bytes,
        "records": s.records,
        "first_seq": s.first.map(|f| f.0),
        "last_seq": s.last.map(|l| l.0),
        "first_ts": s.first.map(|f| f.1),
        "last_ts": s.last.map(|l| l.1),
        "corrupt_lines": s.corrupt_lines,
        "corrupt_bytes": s.corrupt_bytes,
        "out_of_order": s.out_of_order,
        "padding_bytes": s.padding_bytes,
        "torn_tail": s.torn_tail.map(|(offset, len)| json!({"offset": offset, "len": len})),
        "problems": s.problems.iter().map(|p| json!({
            "offset": p.offset, "len": p.len, "reason": p.reason.to_string(),
        })).collect::<Vec<_>>(),
    })
}
