//! `ndlog segments`: the segments of a segmented log, one per line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::input;
use crate::out;
use crate::time::format_ts;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The segmented log (a directory).
    pub log: PathBuf,
    /// One JSON object per line: file, first_seq, last_seq, records, bytes, first_ts,
    /// last_ts, sealed.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "segments")?;
    let log = input::open(&args.log)?;
    if !log.segmented {
        anyhow::bail!(
            "{}: a single-file log, not a segmented one (`ndlog create LOG --segment-bytes \
             SIZE` makes one)",
            log.name
        );
    }
    let mut out = out::stdout();
    let name = |part: &input::Part| {
        part.reader.path().file_name().map(|n| n.to_string_lossy().into_owned())
    };
    // As wide as the longest name (a preallocated segment's is 40 bytes).
    let w = log.parts.iter().filter_map(|p| name(p).map(|n| n.len())).max().unwrap_or(0).max(36);
    if !args.json {
        writeln!(
            out,
            "{:<w$} {:>12} {:>12} {:>10} {:>12}  {:<24}  sealed",
            "file", "first_seq", "last_seq", "records", "bytes", "last_ts"
        )?;
    }
    for part in &log.parts {
        let reader = &part.reader;
        let first = reader.records().next();
        let last = reader.last();
        let records = reader.records().count();
        let bytes = std::fs::metadata(part.reader.path()).map_or(0, |m| m.len());
        let file = name(part);
        let sealed = !part_is_active(part);
        if args.json {
            let v = json!({
                "file": file,
                "path": part.name,
                "first_seq": first.map_or(part.first_seq, |r| r.seq),
                "last_seq": last.map(|r| r.seq),
                "records": records,
                "bytes": bytes,
                "first_ts": first.map(|r| r.ts),
                "last_ts": last.map(|r| r.ts),
                "sealed": sealed,
            });
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{:<w$} {:>12} {:>12} {:>10} {:>12}  {:<24}  {}",
                file.unwrap_or_default(),
                first.map_or(part.first_seq, |r| r.seq),
                last.map_or("-".to_string(), |r| r.seq.to_string()),
                records,
                bytes,
                last.map_or("-".to_string(), |r| format_ts(r.ts)),
                if sealed { "yes" } else { "no" }
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn part_is_active(part: &input::Part) -> bool {
    let name = part.reader.path().file_name();
    name.and_then(ndlog::segments::naming::parse).is_some_and(|n| n.active)
}
