//! `ndlog stats`: what a log holds, at a glance.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::input;
use crate::out;
use crate::time::format_ts;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = input::open(&args.log)?;
    let (s, _) = log.verify();
    let name = &log.name;
    let index_entries: usize =
        log.parts.iter().map(|p| p.reader.index().map_or(0, |i| i.len())).sum();
    let index = match &log.parts[..] {
        [part] if !log.segmented => match (part.reader.index(), part.reader.index_problem()) {
            (Some(i), _) => format!("{} entries, one every {} records", i.len(), i.stride()),
            (None, Some(problem)) => format!("not used: {problem}"),
            (None, None) => "not used".to_string(),
        },
        parts => {
            let used = parts.iter().filter(|p| p.reader.index().is_some()).count();
            format!("{used} of {} segments indexed, {index_entries} entries", parts.len())
        }
    };
    let damage = s.corrupt_bytes + s.padding_bytes + s.torn_tail.map_or(0, |t| t.1);
    let record_bytes = s.bytes.saturating_sub(damage);
    let mean = record_bytes.checked_div(s.records).unwrap_or(0);
    let mut out = out::stdout();
    if args.json {
        let v = json!({
            "log": name,
            "bytes": s.bytes,
            "records": s.records,
            "record_bytes": record_bytes,
            "mean_record_bytes": mean,
            "first_seq": s.first.map(|f| f.0),
            "last_seq": s.last.map(|l| l.0),
            "first_ts": s.first.map(|f| f.1),
            "last_ts": s.last.map(|l| l.1),
            "corrupt_lines": s.corrupt_lines,
            "torn_tail_bytes": s.torn_tail.map_or(0, |t| t.1),
            "index_entries": index_entries,
            "index": index,
            "segments": log.segmented.then_some(log.parts.len()),
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "log:            {name}")?;
        if log.segmented {
            writeln!(out, "segments:       {}", log.parts.len())?;
        }
        writeln!(out, "bytes:          {}", s.bytes)?;
        writeln!(out, "records:        {} (mean {mean} bytes)", s.records)?;
        if let (Some(first), Some(last)) = (s.first, s.last) {
            writeln!(out, "seq:            {} ..= {}", first.0, last.0)?;
            writeln!(out, "time:           {} .. {}", format_ts(first.1), format_ts(last.1))?;
            // ts never decreases in a log ndlog wrote; a hand-edited one may break that.
            let span = std::time::Duration::from_millis(last.1.abs_diff(first.1));
            writeln!(out, "span:           {}", humantime::format_duration(span))?;
        }
        writeln!(out, "corrupt lines:  {}", s.corrupt_lines)?;
        writeln!(out, "torn tail:      {} bytes", s.torn_tail.map_or(0, |t| t.1))?;
        writeln!(out, "index:          {index}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
