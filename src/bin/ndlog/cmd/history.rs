//! `ndlog history`: the versions of one entity, or its state at a time.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ndlog::JsonPointer;

use crate::exit::EXIT_NOT_FOUND;
use crate::input;
use crate::out;
use crate::time::{format_ts, parse_time};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log (a file, or a segmented log's directory), or - for a log on standard input.
    pub log: PathBuf,
    /// JSON pointer to the field of `data` that names the entity, e.g. /user or /order/id.
    #[arg(long, value_parser = parse_pointer)]
    pub key: JsonPointer,
    /// The entity: a string field's content, or a number's (or other value's) JSON text.
    #[arg(long)]
    pub entity: String,
    /// Print only the entity's state at T: its newest version with ts ≤ T. T is unix
    /// milliseconds, RFC 3339 (2025-11-21T08:00:00Z, 2025-11-21T08:00:00+01:00), a UTC date or
    /// time (2025-11-21, 2025-11-21 08:00), or a time ago (1h, 30m ago, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub at: Option<u64>,
    /// Print only the payloads.
    #[arg(long)]
    pub data: bool,
    /// A record whose data has `true` at this JSON pointer is a tombstone: it deletes the
    /// entity. History prints it as `deleted<TAB>` and the record; --at a time when the
    /// entity was deleted says so and exits 4.
    #[arg(long, value_name = "POINTER", default_value = "/deleted", value_parser = parse_pointer)]
    pub tombstone: JsonPointer,
}

fn parse_pointer(text: &str) -> Result<JsonPointer, String> {
    JsonPointer::parse(text).map_err(|e| e.to_string())
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = input::open(&args.log)?;
    // Damaged lines the search went past, a file at a time: (file, lines, first offset).
    let mut skipped: Vec<(&str, u64, u64)> = Vec::new();
    // Segments after `at` are skipped by their first record's time; the newest segment that
    // knows the entity by then holds its state. Each file is searched backwards from `at`, so
    // the damage it went past lies between the state found (or the file's start) and `at`.
    let mut state_at = |at: u64| {
        let searched = log
            .parts
            .iter()
            .rev()
            .filter(|p| p.reader.records().next().is_some_and(|r| r.ts <= at));
        for p in searched {
            let reader = &p.reader;
            let end = at.checked_add(1).map_or(reader.bytes().len() as u64, |t| reader.seek_ts(t));
            let state = reader.state_at(&args.key, &args.entity, at);
            let (lines, first) = damage_in(reader, state.map_or(0, |r| r.end()), end);
            if lines > 0 {
                skipped.push((&p.name, lines, first));
            }
            if state.is_some() {
                return state;
            }
        }
        None
    };
    let history = |key, entity| log.parts.iter().flat_map(move |p| p.reader.history(key, entity));
    let mut out = out::stdout();
    let mut found = false;
    let tombstone = |data: &[u8]| args.tombstone.find(data) == Some(&b"true"[..]);
    if let Some(at) = args.at {
        let state = state_at(at);
        for &(file, lines, first) in &skipped {
            crate::range::warn_skipped(file, lines, first);
        }
        if let Some(r) = state {
            if tombstone(r.data) {
                out.flush()?;
                out::warn(format_args!(
                    "{}: {:?} at {} was deleted at {} (tombstone seq {}), before {}",
                    log.name,
                    args.entity,
                    args.key,
                    format_ts(r.ts),
                    r.seq,
                    format_ts(at)
                ));
                return Ok(ExitCode::from(EXIT_NOT_FOUND));
            }
            out::line(&mut out, if args.data { r.data } else { r.line })?;
            found = true;
        }
    } else {
        for part in &log.parts {
            let mut versions = part.reader.history(&args.key, &args.entity);
            for r in versions.by_ref() {
                if args.data {
                    out::line(&mut out, r.data)?;
                } else if tombstone(r.data) {
                    out.write_all(b"deleted\t")?;
                    out::line(&mut out, r.line)?;
                } else {
                    out::line(&mut out, r.line)?;
                }
                found = true;
            }
            let stats = versions.stats();
            if let Some(first) = stats.first_corrupt {
                skipped.push((&part.name, stats.corrupt_lines, first));
            }
        }
        out.flush()?;
        for &(file, lines, first) in &skipped {
            crate::range::warn_skipped(file, lines, first);
        }
    }
    out.flush()?;
    if found {
        return Ok(ExitCode::SUCCESS);
    }
    let (entity, key) = (&args.entity, &args.key);
    match (args.at, history(key, entity).next()) {
        (Some(at), Some(first)) => out::warn(format_args!(
            "{}: {entity:?} at {key} did not exist yet at {}: its first record is seq {} at {}",
            log.name,
            format_ts(at),
            first.seq,
            format_ts(first.ts)
        )),
        _ => out::warn(format_args!("{}: no record has {entity:?} at {key}", log.name)),
    }
    Ok(ExitCode::from(EXIT_NOT_FOUND))
}

/// The damaged lines of `reader` between byte `from` and byte `to` (where a record, the torn
/// tail or the end starts): how many, and the first one's offset.
fn damage_in<D: AsRef<[u8]>>(reader: &ndlog::Reader<D>, from: u64, to: u64) -> (u64, u64) {
    let mut records = reader.records_from(from);
    records.by_ref().take_while(|r| r.offset < to).for_each(drop);
    let stats = records.stats();
    (stats.corrupt_lines, stats.first_corrupt.unwrap_or(0))
}
