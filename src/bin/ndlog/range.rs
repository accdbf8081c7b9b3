//! A seq or time range of a log, as `cat` and `export` take it and write it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ndlog::{Entry, Reader, read::Bounds};

use crate::exit::EXIT_DAMAGED;
use crate::out;
use crate::time::parse_time;

/// Seq and time bounds, shared by `cat` and `export`.
#[derive(Debug, clap::Args)]
pub(crate) struct Range {
    /// Start at this seq (inclusive).
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Stop after this seq (inclusive).
    #[arg(long, value_name = "N")]
    pub to_seq: Option<u64>,
    /// Start at the first record with ts ≥ T (unix ms or RFC 3339, e.g. 2025-11-21T08:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Stop before the first record with ts ≥ T (unix ms or RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<u64>,
}

impl Range {
    pub(crate) fn bounds(&self) -> Bounds {
        Bounds {
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            since: self.since,
            until: self.until,
        }
    }
}

/// Writes the records in `bounds` (lines, or payloads with `data`) and says on stderr what
/// damage was skipped; with `strict`, stops at the first corrupt line with exit code 3.
pub(crate) fn write_range<D: AsRef<[u8]>>(
    reader: &Reader<D>,
    log: &Path,
    bounds: Bounds,
    data: bool,
    strict: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let (mut skipped, mut first_skipped) = (0u64, None);
    for entry in reader.entries_in(bounds) {
        match entry {
            Entry::Record(r) => out::line(out, if data { r.data } else { r.line })?,
            Entry::Corrupt { offset, reason, .. } if strict => {
                out.flush()?;
                eprintln!("ndlog: {}: corrupt line at byte {offset}: {reason}", log.display());
                return Ok(ExitCode::from(EXIT_DAMAGED));
            }
            Entry::Corrupt { offset, .. } => {
                skipped += 1;
                first_skipped.get_or_insert(offset);
            }
            Entry::Padding { .. } | Entry::TornTail { .. } => {}
        }
    }
    if let Some(first) = first_skipped {
        eprintln!(
            "ndlog: {}: skipped {skipped} corrupt line(s), the first at byte {first}; \
             `ndlog verify` lists them",
            log.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
