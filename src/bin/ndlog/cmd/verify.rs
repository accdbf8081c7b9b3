//! `ndlog verify`: check every line and report damage; with `--chain`, every hash link too.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ndlog::chain::{ChainFile, Checkpoint};
use ndlog::consume::Watermark;
use ndlog::{Mapped, Reader, Summary};
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
    /// Also check the hash chain of a chained log: every record's link, from seq 1 or the
    /// anchor a compaction or retention left (LOG.chain, LOG/ndlog.chain), across every
    /// segment of a segmented log. Exits 3 naming the first seq whose link fails, with the
    /// file (the segment) and the byte offset.
    #[arg(long)]
    pub chain: bool,
    /// With --chain: also prove that the log still extends this checkpoint (the output of
    /// `ndlog checkpoint`), catching a rewritten history, not only an edited line.
    #[arg(long, value_name = "FILE", requires = "chain")]
    pub checkpoint: Option<PathBuf>,
}

/// What `--chain` and `--checkpoint` found.
struct ChainOutcome {
    report: ndlog::chain::ChainReport,
    /// Why the checkpoint does not hold, when one was given and it does not.
    checkpoint: Option<Result<(), String>>,
}

impl ChainOutcome {
    fn ok(&self) -> bool {
        self.report.is_intact() && !matches!(self.checkpoint, Some(Err(_)))
    }
}

fn check_chain(args: &Args, log: &Log) -> anyhow::Result<ChainOutcome> {
    let checkpoint = match &args.checkpoint {
        Some(path) => {
            let text = read_checkpoint(path)?;
            let cp = Checkpoint::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a checkpoint: {e}", path.display()))?;
            Some(cp)
        }
        None => None,
    };
    let file = if input::is_dash(&args.log) {
        None
    } else {
        ChainFile::load(&ndlog::fs::StdFs, &args.log)?
    };
    if let Some(note) = log.chain_file_note(file.as_ref(), &args.log) {
        out::warn(format_args!("{note}"));
    }
    let report = match &log.parts[..] {
        [part] if !log.segmented => part.reader.verify_chain(file.as_ref()),
        // One chain through every segment; a failure names the segment file.
        parts => ndlog::chain::verify_parts(parts.iter().map(|p| &p.reader), file.as_ref()),
    };
    let checkpoint = checkpoint.map(|cp| cp.check(log, file.as_ref()));
    Ok(ChainOutcome { report, checkpoint })
}

/// A checkpoint is three short lines and whatever signatures follow a blank line: a file
/// longer than this is not one.
const CHECKPOINT_MAX: u64 = 1 << 20;

/// The text of the checkpoint file at `path`: a regular file of at most [`CHECKPOINT_MAX`]
/// bytes (a FIFO or a device is refused without blocking, a huge file without reading it).
fn read_checkpoint(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let what = || format!("{}: reading the checkpoint", path.display());
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(nonblocking)
        .open(path)
        .with_context(what)?;
    if !file.metadata().with_context(what)?.is_file() {
        anyhow::bail!(
            "{}: not a regular file; --checkpoint takes the file `ndlog checkpoint` wrote",
            path.display()
        );
    }
    let mut text = String::new();
    file.take(CHECKPOINT_MAX + 1).read_to_string(&mut text).with_context(what)?;
    if text.len() as u64 > CHECKPOINT_MAX {
        anyhow::bail!(
            "{}: longer than a checkpoint can be ({CHECKPOINT_MAX} bytes); --checkpoint takes \
             the file `ndlog checkpoint` wrote",
            path.display()
        );
    }
    Ok(text)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A full check: CRC, frame, and that every payload is one valid JSON value.
    let mut log = input::open_any(&args.log)?;
    if log.segmented {
        return segmented(&args, log);
    }
    let part = log.parts.pop().expect("a single-file log has one file");
    let name = log.name.clone();
    let reader = part.reader.validate_json(true);
    let summary = reader.verify();
    // A file ndlog never wrote that holds no line at all (no newline: nothing but a "torn
    // tail") is not a log, as every other command says; one whose lines are all damaged is
    // reported below, damage and all.
    if summary.is_clean() && !input::is_log(&reader) {
        anyhow::bail!("{}", input::not_a_log(&name));
    }
    let lost = lost_records(&args.log, &args.log, &reader, &summary);
    log.parts.push(input::Part { reader, ..part });
    let chain = if args.chain { Some(check_chain(&args, &log)?) } else { None };
    let reader = &log.parts[0].reader;
    let mut out = out::stdout();
    if args.json {
        let mut report = report_json(&name, &summary);
        if let Some(mark) = lost {
            report["ok"] = json!(false);
            report["lost_acknowledged"] = json!({"through_seq": mark.seq, "end": mark.end});
        }
        if let Some(chain) = &chain {
            report["chain"] = chain_json(chain);
            // `ok` is the verdict, the exit status's: a broken chain is not ok.
            if !chain.ok() {
                report["ok"] = json!(false);
            }
        }
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write_report(&mut out, &name, &summary, lost, chain.as_ref())?;
        if let Some(chain) = &chain {
            write_chain(&mut out, chain)?;
        }
    }
    out.flush()?;
    if !input::is_log(reader) {
        out::warn(format_args!("{}", input::not_a_log(&name)));
    }
    warn_chain(&name, chain.as_ref());
    let ok = summary.is_clean() && lost.is_none() && chain.as_ref().is_none_or(ChainOutcome::ok);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGED) })
}

/// The durable watermark, when it says that the torn tail held records a sync covered: not an
/// interrupted write but acknowledged records lost to damage (a byte of a last line flipped
/// to or from a newline, a zeroed block), whose seqs writers never give again.
/// `path` is the log, `file` the file `reader` reads (the log, or its active segment).
fn lost_records(
    path: &Path,
    file: &Path,
    reader: &Reader<Mapped>,
    s: &Summary,
) -> Option<Watermark> {
    s.torn_tail?;
    let mark = Watermark::read(path).ok()??;
    let last = reader.last().map(|r| (r.seq, r.offset + r.line.len() as u64 + 1));
    let len = std::fs::metadata(file).ok()?.len();
    mark.covers_lost_records(reader.file_id(), last, len).then_some(mark)
}

fn write_chain(out: &mut impl Write, c: &ChainOutcome) -> std::io::Result<()> {
    let r = &c.report;
    match (&r.failure, r.first, r.last) {
        (Some(f), _, _) => writeln!(out, "  chain:          BROKEN at {f}")?,
        (None, Some(first), Some((last, value))) => writeln!(
            out,
            "  chain:          ok, {} records (seq {first}..={last}), chain value {value}",
            r.records
        )?,
        (None, _, _) => writeln!(out, "  chain:          ok, no records")?,
    }
    match &c.checkpoint {
        Some(Ok(())) if r.failure.is_some() => writeln!(
            out,
            "  checkpoint:     its link is in the log, but the chain is broken (above): the log \
             does not vouch for it"
        )?,
        Some(Ok(())) => writeln!(out, "  checkpoint:     the log extends it")?,
        Some(Err(why)) => writeln!(out, "  checkpoint:     NOT EXTENDED: {why}")?,
        None => {}
    }
    Ok(())
}

fn chain_json(c: &ChainOutcome) -> serde_json::Value {
    let r = &c.report;
    json!({
        "ok": c.ok(),
        "records": r.records,
        "last_seq": r.last.map(|l| l.0),
        "last_chain": r.last.map(|l| l.1.to_hex()),
        "failure": r.failure.as_ref().map(|f| json!({
            "seq": f.seq, "offset": f.offset, "reason": f.problem.to_string(),
            "file": f.file.as_ref().map(|p| p.display().to_string()),
        })),
        "checkpoint": c.checkpoint.as_ref().map(|res| match res {
            Ok(()) if r.failure.is_some() => json!({
                "ok": false,
                "reason": "its link is in the log, but the chain is broken: the log does not vouch for it",
            }),
            Ok(()) => json!({"ok": true}),
            Err(why) => json!({"ok": false, "reason": why}),
        }),
    })
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
    // A torn tail of the active segment the watermark (`LOG/ndlog.watermark`) covers, as
    // for a single file.
    let active = log.parts.iter().zip(&each).enumerate().rfind(|(_, (p, _))| p.active);
    let lost = active
        .and_then(|(i, (p, s))| Some((i, lost_records(&args.log, p.reader.path(), &p.reader, s)?)));
    let chain = if args.chain { Some(check_chain(args, &log)?) } else { None };
    let clean = all.is_clean() && log.gaps.is_empty() && lost.is_none();
    let ok = clean && chain.as_ref().is_none_or(ChainOutcome::ok);
    let mut out = out::stdout();
    if args.json {
        let mut v = report_json(&log.name, &all);
        v["ok"] = json!(ok);
        if let Some((_, mark)) = lost {
            v["lost_acknowledged"] = json!({"through_seq": mark.seq, "end": mark.end});
        }
        if let Some(chain) = &chain {
            v["chain"] = chain_json(chain);
        }
        v["segments"] = log.parts.iter().zip(&each).map(|(p, s)| report_json(&p.name, s)).collect();
        v["gaps"] = log
            .gaps
            .iter()
            .map(|g| json!({"after": g.after.display().to_string(), "first_seq": g.seqs.0, "last_seq": g.seqs.1}))
            .collect();
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let verdict = verdict(clean, chain.as_ref());
        writeln!(out, "{}: {verdict} ({} segments)", log.name, log.parts.len())?;
        // The totals; each damaged segment's report below lists its own problems.
        write_totals(&mut out, &all)?;
        for (i, (p, s)) in log.parts.iter().zip(&each).enumerate() {
            let lost = lost.filter(|(at, _)| *at == i).map(|(_, mark)| mark);
            if !s.is_clean() || lost.is_some() {
                write_report(&mut out, &p.name, s, lost, None)?;
            }
        }
        for gap in &log.gaps {
            writeln!(out, "  {gap}")?;
        }
        if let Some(chain) = &chain {
            write_chain(&mut out, chain)?;
        }
    }
    out.flush()?;
    warn_chain(&log.name, chain.as_ref());
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DAMAGED) })
}

/// Says on stderr where the chain broke and why the checkpoint does not hold.
fn warn_chain(name: &str, chain: Option<&ChainOutcome>) {
    if let Some(f) = chain.and_then(|c| c.report.failure.as_ref()) {
        out::warn(format_args!("{name}: chain broken at {f}"));
    }
    if let Some(Some(Err(why))) = chain.map(|c| &c.checkpoint) {
        out::warn(format_args!("{name}: does not extend the checkpoint: {why}"));
    }
}

/// The report's first word: `DAMAGED` (lines), else `CHAIN BROKEN` when a link does not match
/// (an edit that made its line's CRC again) or `NOT EXTENDED` when the log does not extend the
/// checkpoint given, else `ok`.
fn verdict(lines_clean: bool, chain: Option<&ChainOutcome>) -> &'static str {
    match chain {
        _ if !lines_clean => "DAMAGED",
        Some(c) if c.report.failure.is_some() => "CHAIN BROKEN",
        Some(c) if !c.ok() => "NOT EXTENDED",
        _ => "ok",
    }
}

fn write_report(
    out: &mut impl Write,
    log: &str,
    s: &Summary,
    lost: Option<Watermark>,
    chain: Option<&ChainOutcome>,
) -> std::io::Result<()> {
    let verdict = verdict(s.is_clean() && lost.is_none(), chain);
    writeln!(out, "{log}: {verdict}")?;
    write_totals(out, s)?;
    if let (Some(mark), Some((offset, _))) = (lost, s.torn_tail) {
        writeln!(
            out,
            "  byte {offset}: the torn tail is not an interrupted write: the durable watermark \
             says records through seq {} ended at byte {}, synced, so acknowledged records \
             there were lost to damage since (their seqs are never given again)",
            mark.seq, mark.end
        )?;
    }
    write_problems(out, s)
}

/// The counts of a report.
fn write_totals(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
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
    Ok(())
}

/// The problems of a report, each at its byte offset.
fn write_problems(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
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
