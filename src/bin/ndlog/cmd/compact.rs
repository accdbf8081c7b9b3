//! `ndlog compact`: rewrite a log by a retention or key policy, moving damage to quarantine.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ndlog::{CompactReport, Compactor, JsonPointer, Policy};

use crate::exit::{describe, usage};
use crate::input;
use crate::out;
use crate::time::{parse_duration, parse_size};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log. On a segmented log (a directory), --max-age, --keep-last and --max-bytes
    /// delete whole sealed segments whose every record is outside the policy, never rewriting a
    /// kept one: up to one segment more than the policy asks is kept, and the active segment
    /// always is. --key and repair rewrite sealed segments (each keeps its last record); the
    /// active segment is repaired once it is sealed. Rules given together all apply: a record
    /// is kept only when every one keeps it (the newest record of the log always is).
    pub log: PathBuf,
    /// Drop records older than this (e.g. 7d, 12h); must be greater than zero.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub max_age: Option<Duration>,
    /// Keep only the newest N records (N ≥ 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_last: Option<u64>,
    /// Drop the oldest records until the records take at most this much (e.g. 500MB, 2GiB;
    /// units in any case).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,
    /// Keep only the newest record per value of this JSON pointer into data (e.g. /id): per
    /// entity as `append --key` and `history --entity` name it (the string "1" and the number 1
    /// are one).
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer)]
    pub key: Option<JsonPointer>,
    /// With --key: a record whose data has `true` at this pointer (e.g. /deleted) is a
    /// tombstone: every older record of its key is dropped, and the tombstone itself once it
    /// is older than --tombstone-retention.
    #[arg(long, value_name = "POINTER", value_parser = parse_pointer, requires = "key")]
    pub tombstone: Option<JsonPointer>,
    /// How long a tombstone is kept after its ts (e.g. 7d, 0 to drop it at once), as Kafka's
    /// delete.retention.ms: meanwhile the entity's version stays the tombstone's seq, and
    /// readers following the log see the deletion.
    #[arg(long, value_name = "DUR", default_value = "1d", value_parser = parse_duration, requires = "tombstone")]
    pub tombstone_retention: Duration,
    /// Run forever as a maintenance process, compacting every DUR (e.g. 10m). SIGINT or
    /// SIGTERM stops it after the round under way, with exit 0.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub every: Option<Duration>,
    /// How long to wait for another compaction or for the writer lock (exit 5 past it).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

fn parse_pointer(text: &str) -> Result<JsonPointer, String> {
    JsonPointer::parse(text).map_err(|e| e.to_string())
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("{text:?}: must be greater than zero")),
        d => Ok(d),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut policy = Policy::new();
    if let Some(age) = args.max_age {
        policy = policy.max_age(age);
    }
    if let Some(n) = args.keep_last {
        policy = policy.keep_last(n);
    }
    if let Some(bytes) = args.max_bytes {
        policy = policy.max_bytes(bytes);
    }
    if let Some(key) = args.key.clone() {
        policy = policy.key(key);
    }
    if let Some(t) = args.tombstone.clone() {
        policy = policy.tombstone(t).tombstone_retention(args.tombstone_retention);
    }
    policy.validate().map_err(|e| usage(e.to_string()))?;
    input::require_file(&args.log, "compact")?;
    let mut out = out::stdout();
    let Some(every) = args.every else {
        let report = compact_once(&args, &policy)?;
        print_report(&mut out, &args, &report)?;
        return Ok(ExitCode::SUCCESS);
    };
    // SIGINT and SIGTERM stop the loop between rounds (a round under way finishes: it is
    // crash-safe, but a clean stop leaves no temporary file behind) with exit 0.
    let (stop, stopped) = std::sync::mpsc::channel();
    crate::signals::on_stop_signal(
        move || {
            let _ = stop.send(());
        },
        None,
    )?;
    // The last trouble said, so that one that lasts is said once, not every round.
    let mut said: Option<String> = None;
    let mut first = true;
    loop {
        match compact_once(&args, &policy) {
            // Standard output going away ends the loop: a report could never be read again.
            Ok(report) => {
                said = None;
                print_report(&mut out, &args, &report)?;
            }
            // A path that is not a log at the first round is a mistake, not passing trouble.
            Err(err) if first && is_not_a_log(&err) => return Err(err),
            // A maintenance loop outlives passing trouble (a lock held too long, a full disk):
            // it says so and tries again next round.
            Err(err) => {
                let text = describe(&err).0;
                if said.as_ref() != Some(&text) {
                    out::warn(format_args!("{text} (trying again every {every:?})"));
                    said = Some(text);
                }
            }
        }
        first = false;
        match stopped.recv_timeout(every) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Whether the error says that the path holds something that is not an ndlog log.
fn is_not_a_log(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ndlog::Error>()
        .is_some_and(|e| matches!(e.kind(), ndlog::ErrorKind::NotALog { .. }))
}

fn compact_once(args: &Args, policy: &Policy) -> anyhow::Result<CompactReport> {
    let mut compactor = Compactor::new(&args.log, policy.clone()).lock_timeout(args.lock_timeout);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner} compacting {bytes}/{total_bytes} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    if let Some(bar) = bar.clone() {
        compactor = compactor.on_progress(move |p| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        });
    }
    let report = compactor.run();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

fn print_report(out: &mut impl Write, args: &Args, r: &CompactReport) -> std::io::Result<()> {
    let log = args.log.display();
    // Retention alone reads no record of a segmented log: it counts none. A key compaction
    // or a repair (no policy) reads every segment.
    let retention_only = args.key.is_none()
        && (args.max_age.is_some() || args.keep_last.is_some() || args.max_bytes.is_some());
    let counted = !std::fs::metadata(&args.log).is_ok_and(|m| m.is_dir()) || !retention_only;
    if let Some(d) = &r.damaged_tail {
        writeln!(
            out,
            "{log}: not rewritten: it ends in damaged records a sync covered (from byte {}, seqs \
             up to {}): they held acknowledged records, and removing them now would let their \
             seqs be given again. `ndlog verify` reports them; once a record is appended after \
             them, compaction removes them",
            d.offset, d.seq
        )?;
        return out.flush();
    }
    if !r.rewritten {
        match counted {
            true => writeln!(
                out,
                "{log}: nothing to remove ({} records); not rewritten",
                r.records_before
            )?,
            false => writeln!(out, "{log}: nothing to remove; not rewritten")?,
        }
        return out.flush();
    }
    if let Some(seqs) = &r.removed_seqs {
        let (n, first, last) = (r.segments_removed, seqs.start(), seqs.end());
        if counted {
            // The line below gives the bytes, the removal's and the rewrite's together.
            writeln!(out, "{log}: removed {n} sealed segment(s) spanning seqs {first}..={last}")?;
        } else {
            writeln!(
                out,
                "{log}: removed {n} sealed segment(s) spanning seqs {first}..={last}, {} -> {} \
                 bytes; took {:.2} s",
                r.bytes_before,
                r.bytes_after,
                r.elapsed.as_secs_f64()
            )?;
            return out.flush();
        }
    }
    writeln!(
        out,
        "{log}: rewritten{}: {} -> {} records ({} dropped by the policy, {} appended meanwhile and kept), \
         {} -> {} bytes; writer lock held {:.1} ms; took {:.2} s",
        if r.removed_seqs.is_some() { " (the segments kept; bytes of the whole log)" } else { "" },
        r.records_before,
        r.records_after,
        r.dropped,
        r.appended_during,
        r.bytes_before,
        r.bytes_after,
        r.writer_lock_held.as_secs_f64() * 1e3,
        r.elapsed.as_secs_f64()
    )?;
    if let Some(q) = &r.quarantine {
        // A segmented log: each damaged segment's spans go to its own quarantine file, and the
        // report names the last one written.
        let to = match std::fs::metadata(&args.log).is_ok_and(|m| m.is_dir()) {
            true => format!(
                "the quarantine file of each damaged segment ({log}/<first seq>.quarantine; the \
                 last written is {}), with their original offsets",
                q.display()
            ),
            false => format!("{} (with their original offsets)", q.display()),
        };
        writeln!(
            out,
            "{log}: moved {} damaged span(s), {} bytes, to {to}",
            r.quarantined_spans, r.quarantined_bytes,
        )?;
    }
    out.flush()
}
