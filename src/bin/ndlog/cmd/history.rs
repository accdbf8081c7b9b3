//! `ndlog history`: the versions of one entity, or its state at a time.

use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::{JsonPointer, Reader};

use crate::exit::EXIT_NOT_FOUND;
use crate::out;
use crate::time::parse_time;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log.
    pub log: PathBuf,
    /// JSON pointer to the field of `data` that names the entity, e.g. /user or /order/id.
    #[arg(long, value_parser = parse_pointer)]
    pub key: JsonPointer,
    /// The entity: a string field's content, or a number's (or other value's) JSON text.
    #[arg(long)]
    pub entity: String,
    /// Print only the entity's state at T: its newest version with ts ≤ T (unix ms or RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub at: Option<u64>,
    /// Print only the payloads.
    #[arg(long)]
    pub data: bool,
}

fn parse_pointer(text: &str) -> Result<JsonPointer, String> {
    JsonPointer::parse(text).map_err(|e| e.to_string())
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reader = Reader::open(&args.log)?;
    let mut out = out::stdout();
    let mut found = false;
    if let Some(at) = args.at {
        if let Some(r) = reader.state_at(&args.key, &args.entity, at) {
            out::line(&mut out, if args.data { r.data } else { r.line })?;
            found = true;
        }
    } else {
        for r in reader.history(&args.key, &args.entity) {
            out::line(&mut out, if args.data { r.data } else { r.line })?;
            found = true;
        }
    }
    std::io::Write::flush(&mut out)?;
    if !found {
        eprintln!("ndlog: {}: no record has {:?} at {}", args.log.display(), args.entity, args.key);
        return Ok(ExitCode::from(EXIT_NOT_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}
