//! A seq or time range of a log, as `cat` and `export` take it and write it.

use std::io::Write;
use std::process::ExitCode;

use ndlog::{Entry, Reader, read::Bounds};

use crate::exit::{EXIT_DAMAGED, usage};
use crate::input::Log;
use crate::out;
use crate::time::{format_ts, parse_time};

/// Seq and time bounds, shared by `cat` and `export`.
#[derive(Debug, clap::Args)]
pub(crate) struct Range {
    /// Start at this seq (inclusive).
    #[arg(long, value_name = "N")]
    pub from_seq: Option<u64>,
    /// Stop after this seq (inclusive); not below --from-seq.
    #[arg(long, value_name = "N")]
    pub to_seq: Option<u64>,
    /// Start at the first record with ts ≥ T. T is unix milliseconds, RFC 3339
    /// (2025-11-21T08:00:00Z, 2025-11-21T08:00:00+01:00), a UTC date or time (2025-11-21,
    /// 2025-11-21 08:00), or a time ago (1h, 30m ago, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Stop before the first record with ts ≥ T (T as for --since); not before --since.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<u64>,
}

impl Range {
    /// The bounds, or a usage error when they contradict each other.
    pub(crate) fn bounds(&self) -> anyhow::Result<Bounds> {
        if let (Some(from), Some(to)) = (self.from_seq, self.to_seq)
            && from > to
        {
            return Err(usage(format!("--from-seq {from} is after --to-seq {to}")));
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(usage(format!(
                "--since {} is after --until {}",
                format_ts(since),
                format_ts(until)
            )));
        }
        Ok(Bounds {
            from_seq: self.from_seq,
            to_seq: self.to_seq,
            since: self.since,
            until: self.until,
        })
    }
}

/// Writes the records in `bounds` (lines, or payloads with `data`) and says on stderr what
/// damage was skipped; with `strict`, stops at the first corrupt line with exit code 3.
pub(crate) fn write_range<D: AsRef<[u8]>>(
    reader: &Reader<D>,
    log: &str,
    bounds: Bounds,
    data: bool,
    strict: bool,
    previous: &mut Option<(u64, u64)>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let (mut skipped, mut first_skipped) = (0u64, None);
    for entry in reader.entries_in(bounds) {
        match entry {
            // A record whose seq does not rise, or whose ts falls, is as damaged as a corrupt
            // line to `verify`.
            Entry::Record(r)
                if strict && previous.is_some_and(|(seq, ts)| r.seq <= seq || r.ts < ts) =>
            {
                out.flush()?;
                let (seq, ts) = previous.unwrap_or_default();
                let what = match r.seq <= seq {
                    true => format!("seq {} after seq {seq}", r.seq),
                    false => format!("ts {} after ts {ts}", r.ts),
                };
                out::warn(format_args!("{log}: record out of order at byte {}: {what}", r.offset));
                return Ok(ExitCode::from(EXIT_DAMAGED));
            }
            Entry::Record(r) => {
                *previous = Some((r.seq, r.ts));
                out::line(out, if data { r.data } else { r.line })?
            }
            Entry::Corrupt { offset, reason, .. } if strict => {
                out.flush()?;
                out::warn(format_args!("{}: corrupt line at byte {offset}: {reason}", log));
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
        warn_skipped(log, skipped, first);
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr that `lines` corrupt lines of `file` were skipped, the first at byte `first`
/// (`cat`, `export`, `tail`, `tail -f`).
pub(crate) fn warn_skipped(file: impl std::fmt::Display, lines: u64, first: u64) {
    out::warn(format_args!(
        "{file}: skipped {lines} corrupt line(s), the first at byte {first}; `ndlog verify` lists \
         them"
    ));
}

/// [`write_range`] over every file of a log, in seq order, skipping the segments that lie
/// wholly outside the bounds: by their names for seqs, by their first and last record for time.
pub(crate) fn write_log_range(
    log: &Log,
    bounds: Bounds,
    data: bool,
    strict: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut previous = None;
    for (i, part) in log.parts.iter().enumerate() {
        if !might_hold(log, i, bounds) {
            continue;
        }
        let code = write_range(&part.reader, &part.name, bounds, data, strict, &mut previous, out)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
        // With --strict, seqs missing between two segments within the range fail it too, as
        // `verify` does (they were warned of when the log was opened).
        let gap = log.gaps.iter().find(|g| g.after == part.reader.path());
        if let Some(gap) = gap.filter(|_| strict)
            && bounds.may_hold(
                Some((gap.seqs.0 - 1, last_of(log, i).map_or(0, |(_, ts)| ts))),
                Some((gap.seqs.1 + 1, first_of(log, i + 1).map_or(u64::MAX, |(_, ts)| ts))),
            )
        {
            out.flush()?;
            let (first, last) = gap.seqs;
            out::warn(format_args!("{}: seqs {first}..={last} are missing", log.name));
            return Ok(ExitCode::from(EXIT_DAMAGED));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the `i`th file of `log` may hold records within `bounds`.
pub(crate) fn might_hold(log: &Log, i: usize, bounds: Bounds) -> bool {
    if !log.segmented {
        return true;
    }
    let part = &log.parts[i];
    let next = log.parts.get(i + 1).map(|p| p.first_seq);
    if bounds.to_seq.is_some_and(|to| to < part.first_seq)
        || bounds.from_seq.zip(next).is_some_and(|(from, next)| from >= next)
    {
        return false;
    }
    // Records are in ts order (ndlog assigns non-decreasing ts): a segment whose records are
    // all before --since, or all at or after --until, holds none of the range. It is skipped
    // when what lies between it and its neighbour on the range's side (damage at its edge,
    // seqs missing between the two) cannot hold a record of the range either.
    if let Some(since) = bounds.since
        && part.reader.last().is_some_and(|r| r.ts < since)
        && !bounds.may_hold(last_of(log, i), first_of(log, i + 1))
    {
        return false;
    }
    if let Some(until) = bounds.until
        && part.reader.records().next().is_some_and(|r| r.ts >= until)
        && !bounds.may_hold(i.checked_sub(1).and_then(|i| last_of(log, i)), first_of(log, i))
    {
        return false;
    }
    true
}

/// Seq and ts of the last record of the `i`th file of `log`, if it holds one.
fn last_of(log: &Log, i: usize) -> Option<(u64, u64)> {
    log.parts.get(i)?.reader.last().map(|r| (r.seq, r.ts))
}

/// Seq and ts of the first record of the `i`th file of `log`, if it holds one.
fn first_of(log: &Log, i: usize) -> Option<(u64, u64)> {
    log.parts.get(i)?.reader.records().next().map(|r| (r.seq, r.ts))
}
