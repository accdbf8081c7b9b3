//! `ndlog provenance`: an entity's versions, each with whether its chain link holds, and whether
//! the chain holds up to the newest version.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::JsonPointer;
use ndlog::chain::ChainFile;

use crate::exit::{EXIT_DAMAGED, EXIT_NOT_FOUND};
use crate::input;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The chained log (a file, or a segmented log's directory).
    pub log: PathBuf,
    /// JSON pointer to the field of `data` that names the entity, e.g. /user or /order/id.
    #[arg(long, value_parser = parse_pointer)]
    pub key: JsonPointer,
    /// The entity: a string field's content, or a number's (or other value's) JSON text.
    #[arg(long)]
    pub entity: String,
}

fn parse_pointer(text: &str) -> Result<JsonPointer, String> {
    JsonPointer::parse(text).map_err(|e| e.to_string())
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "provenance")?;
    let log = input::open(&args.log)?;
    let file = ChainFile::load(&ndlog::fs::StdFs, &args.log)?;
    if let Some(note) = log.chain_file_note(file.as_ref(), &args.log) {
        out::warn(format_args!("{note}"));
    }
    let name = log.name.clone();
    // The versions of a segmented log come from every segment, the walk runs through them all.
    let readers: Vec<_> = log.parts.iter().map(|p| &p.reader).collect();
    let p = match &readers[..] {
        [reader] if !log.segmented => reader.provenance(file.as_ref(), &args.key, &args.entity),
        _ => ndlog::chain::provenance_parts(&readers, file.as_ref(), &args.key, &args.entity),
    };
    let mut out = out::stdout();
    for v in &p.versions {
        out.write_all(if v.link_holds { b"ok\t" } else { b"BROKEN\t" })?;
        out::line(&mut out, v.record.line)?;
    }
    let Some(newest) = p.versions.last() else {
        out.flush()?;
        out::warn(format_args!("{}: no record has {:?} at {}", name, args.entity, args.key));
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    };
    let code = match &p.failure {
        None => {
            writeln!(out, "chain ok through seq {}", newest.record.seq)?;
            ExitCode::SUCCESS
        }
        Some(f) => {
            let (name, newest) = (&name, newest.record.seq);
            writeln!(out, "chain BROKEN at {f} ({name}); the newest version is seq {newest}")?;
            ExitCode::from(EXIT_DAMAGED)
        }
    };
    out.flush()?;
    Ok(code)
}
