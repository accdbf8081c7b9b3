//! `ndlog demo`: the main job on an embedded default. Several writer processes ingest generated
//! events into one log (one of them is killed with SIGKILL mid-stream), then the log is
//! verified against every acknowledged seq and scanned; then its records go into a segmented
//! log, retention removes whole segments, and a committed consumer with a cursor reads what is
//! left. The figures are printed.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use ndlog::{Durability, Options, Reader};
use serde::{Deserialize, Serialize};

use crate::out::{self, Out};
use crate::time::format_ts;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Writer processes that run to completion, 1 to 256.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub writers: u32,
    /// Records each of those writers appends.
    #[arg(long, default_value_t = 5000)]
    pub records: u64,
    /// Appending threads per writer process (they share fdatasyncs: group commit), 1 to 1024.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// Directory for the log (default: a new temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Arguments of one demo writer process.
#[derive(Debug, clap::Args)]
pub(crate) struct WriterArgs {
    #[arg(long)]
    pub log: PathBuf,
    #[arg(long)]
    pub id: u32,
    #[arg(long)]
    pub records: u64,
    #[arg(long)]
    pub threads: u32,
}

/// A generated event: about 100 bytes of JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Event<'a> {
    writer: u32,
    n: u64,
    user: &'a str,
    action: &'a str,
    page: &'a str,
}

const ACTIONS: [&str; 4] = ["view", "click", "add_to_cart", "checkout"];

/// Acknowledged seqs the victim reports before it is killed.
const KILL_AFTER_ACKS: usize = 300;

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            let base = std::env::temp_dir();
            temp = tempfile::Builder::new().prefix("ndlog-demo-").tempdir_in(&base).with_context(
                || {
                    format!(
                        "creating the demo's directory in {} (from TMPDIR): set TMPDIR to a \
                         writable directory, or pass --dir",
                        base.display()
                    )
                },
            )?;
            temp.path().to_path_buf()
        }
    };
    let log = dir.join("events.ndjson");
    let mut out = out::stdout();
    writeln!(out, "ndlog demo: log at {}", log.display())?;
    out.flush()?;

    // Ingest: N writers to completion, plus one killed with SIGKILL mid-stream.
    let started = Instant::now();
    let exe = std::env::current_exe().context("locating the ndlog binary")?;
    let spawn = |id: u32, records: u64| {
        Command::new(&exe)
            .args(["demo-writer", "--log"])
            .arg(&log)
            .args(["--id", &id.to_string(), "--records", &records.to_string()])
            .args(["--threads", &args.threads.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .context("spawning a writer process")
    };
    let mut collectors = Vec::new();
    for id in 1..=args.writers {
        let child = spawn(id, args.records)?;
        collectors.push(std::thread::spawn(move || collect_acks(child, None)));
    }
    let victim = spawn(args.writers + 1, u64::MAX / 2)?;
    let victim = std::thread::spawn(move || collect_acks(victim, Some(KILL_AFTER_ACKS)));
    let mut acked = Vec::new();
    for c in collectors {
        acked.extend(c.join().expect("collector thread")?);
    }
    let victim_acks = victim.join().expect("collector thread")?;
    let elapsed = started.elapsed();
    let completed = acked.len();
    acked.extend(&victim_acks);
    writeln!(
        out,
        "ingest:  {} writer processes x {} threads (durability group) appended {completed} records \
         in {:.2} s: {:.0} records/s, each fdatasync'd before it was acknowledged",
        args.writers,
        args.threads,
        elapsed.as_secs_f64(),
        completed as f64 / elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "crash:   writer {} killed with SIGKILL after acknowledging {} records",
        args.writers + 1,
        victim_acks.len()
    )?;

    // A new writer after the crash: it finds the tail and never glues onto torn bytes.
    let writer = Options::new().open(&log)?;
    let last = writer.append(&serde_json::json!({"demo": "done"}))?;
    writeln!(out, "recover: a fresh writer appended seq {} after the crash", last.seq)?;
    drop(writer);

    verify(&mut out, &log, &acked, last.seq)?;
    scan(&mut out, &log)?;
    segments(&mut out, &log, &dir.join("events"))?;
    if args.dir.is_none() {
        writeln!(out, "(temporary directory removed; pass --dir DIR to keep the log)")?;
    }
    if cfg!(debug_assertions) {
        writeln!(
            out,
            "(a debug build; the rates of a release build: `cargo run --release -- demo`)"
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a writer's acknowledged seqs; with `kill_after`, kills it after that many.
fn collect_acks(
    mut child: std::process::Child,
    kill_after: Option<usize>,
) -> anyhow::Result<Vec<u64>> {
    let stdout = child.stdout.take().context("writer stdout")?;
    let mut acks = Vec::new();
    for line in BufReader::new(stdout).lines() {
        acks.push(line?.trim().parse::<u64>().context("writer printed a bad seq")?);
        if kill_after.is_some_and(|k| acks.len() == k) {
            child.kill().context("killing the victim writer")?;
        }
    }
    let status = child.wait()?;
    if kill_after.is_none() && !status.success() {
        bail!("a writer process failed: {status}");
    }
    Ok(acks)
}

fn verify(out: &mut Out, log: &Path, acked: &[u64], final_seq: u64) -> anyhow::Result<()> {
    let reader = Reader::open(log)?.validate_json(true);
    let summary = reader.verify();
    let present: HashSet<u64> = reader.records().map(|r| r.seq).collect();
    let missing = acked.iter().filter(|s| !present.contains(s)).count();
    let unique_acks: HashSet<u64> = acked.iter().copied().collect();
    let unacked = present.len().saturating_sub(unique_acks.len() + 1);
    writeln!(
        out,
        "verify:  {} records, seq 1..={final_seq} strictly increasing: {}; corrupt lines: {}; \
         torn tail: {}",
        summary.records,
        summary.out_of_order == 0 && summary.records as usize == present.len(),
        summary.corrupt_lines,
        summary.torn_tail.map_or("none".to_string(), |(o, l)| format!("{l} bytes at byte {o}")),
    )?;
    writeln!(
        out,
        "         {} acknowledged seqs, {missing} missing, {} acknowledged twice; {unacked} written \
         but unacknowledged (in flight when the writer was killed)",
        acked.len(),
        acked.len() - unique_acks.len()
    )?;
    ensure!(missing == 0, "{missing} acknowledged records are missing");
    ensure!(unique_acks.len() == acked.len(), "a seq was acknowledged twice");
    ensure!(summary.out_of_order == 0, "records out of order");
    ensure!(summary.last.map(|l| l.0) == Some(final_seq), "the last record is not the last append");
    Ok(())
}

fn scan(out: &mut Out, log: &Path) -> anyhow::Result<()> {
    let reader = Reader::open(log)?;
    let bytes = reader.bytes().len() as f64;
    let started = Instant::now();
    let (mut count, mut payload_bytes) = (0u64, 0usize);
    for r in reader.records() {
        count += 1;
        payload_bytes += r.data.len();
    }
    let verified = started.elapsed();
    let started = Instant::now();
    let (mut u7, mut u7_last) = (0u64, None);
    for r in reader.records() {
        let Ok(event) = r.deserialize::<Event>() else {
            continue;
        };
        if event.user == "u7" {
            u7 += 1;
            u7_last = Some((r.seq, r.ts, event.action));
        }
    }
    let parsed = started.elapsed();
    writeln!(
        out,
        "scan:    {count} records ({payload_bytes} payload bytes) CRC-verified in {:.2} ms ({:.0} MB/s); \
         deserialised in {:.2} ms ({:.1} M records/s)",
        ms(verified),
        bytes / verified.as_secs_f64() / 1e6,
        ms(parsed),
        count as f64 / parsed.as_secs_f64() / 1e6
    )?;
    if let Some((seq, ts, action)) = u7_last {
        writeln!(
            out,
            "history: user u7 has {u7} events; the last is seq {seq} at {} ({action})",
            format_ts(ts)
        )?;
    }
    Ok(())
}

/// The log's records (seq and ts kept) into a segmented log, retention by record count, and a
/// committed consumer resuming from a cursor file.
fn segments(out: &mut Out, log: &Path, dir: &Path) -> anyhow::Result<()> {
    let reader = Reader::open(log)?;
    let lines: Vec<&[u8]> = reader.records().map(|r| r.line).collect();
    // About ten segments, of which retention keeps the newest quarter of the records.
    let per_segment = (lines.len() as u64 / 10).max(4);
    let keep_last = (lines.len() as u64 / 4).max(1);
    let settings = ndlog::segments::Settings {
        segment_records: Some(per_segment),
        ..ndlog::segments::Settings::new(64 << 20)
    };
    let writer = Options::new().durability(Durability::Never).segments(settings).open(dir)?;
    // (A batch never straddles a roll: batches of a quarter segment fill each one.)
    for chunk in lines.chunks(per_segment as usize / 4) {
        writer.import_records(chunk)?;
    }
    writer.sync()?;
    let count = |dir: &Path| -> anyhow::Result<usize> {
        Ok(ndlog::segments::list(&ndlog::fs::StdFs, dir)?.len())
    };
    let before = count(dir)?;
    writeln!(
        out,
        "segments: {} records into {before} segments of {per_segment} (sealed ones are immutable \
         *.ndjson files; the one written to is *.ndjson.active)",
        lines.len()
    )?;
    let started = Instant::now();
    let policy = ndlog::Policy::new().keep_last(keep_last);
    let report = ndlog::Compactor::new(dir, policy).run()?;
    writeln!(
        out,
        "retain:  --keep-last {keep_last} removed {} whole segments (seqs {}) in {:.2} ms, \
         without rewriting a byte",
        before - count(dir)?,
        report.removed_seqs.map_or("none".into(), |s| format!("{}..={}", s.start(), s.end())),
        ms(started.elapsed())
    )?;
    // A consumer that delivered up to some seq and was stopped: it resumes after it, and sees
    // only records a sync made durable.
    let log_now = ndlog::Log::open(dir)?;
    let (first, last) = (log_now.first().map_or(0, |r| r.seq), log_now.last().map_or(0, |r| r.seq));
    let cursor_path = dir.with_extension("cursor");
    let mut cursor = ndlog::consume::Cursor::load(&cursor_path)?;
    let resume = last.saturating_sub(100).max(first.saturating_sub(1));
    cursor.commit(resume)?;
    let mut follow = log_now.follow_after(cursor.after_seq().unwrap_or(0));
    let mut read = 0u64;
    while let Some(r) = follow.next_within(Some(Duration::ZERO))? {
        read += 1;
        cursor.commit_at(&r)?;
    }
    ensure!(cursor.after_seq() == Some(last), "the consumer stopped before seq {last}");
    writeln!(
        out,
        "consume: the log holds seqs {first}..={last}; a consumer resuming from its cursor at seq \
         {resume} read the {read} committed records after it and left the cursor at {last}",
    )?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One writer process: `threads` threads append `records` events in total with group commit,
/// printing each seq as soon as it is acknowledged.
pub(crate) fn run_writer(args: WriterArgs) -> anyhow::Result<ExitCode> {
    let writer = Arc::new(Options::new().durability(Durability::Group).open(&args.log)?);
    let threads = u64::from(args.threads.max(1));
    let handles: Vec<std::thread::JoinHandle<anyhow::Result<()>>> = (0..threads)
        .map(|t| {
            let writer = writer.clone();
            let id = args.id;
            let count = args.records / threads + u64::from(t < args.records % threads);
            std::thread::Builder::new().spawn(move || -> anyhow::Result<()> {
                let stdout = std::io::stdout();
                for i in 0..count {
                    let n = i * threads + t;
                    let user = format!("u{}", n % 100);
                    let page = format!("/products/{}", n % 1000);
                    let action = ACTIONS[(n % 4) as usize];
                    let event = Event { writer: id, n, user: &user, action, page: &page };
                    let ack = writer.append(&event)?;
                    let mut out = stdout.lock();
                    writeln!(out, "{}", ack.seq)?;
                    out.flush()?;
                }
                Ok(())
            })
        })
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("starting {threads} appending threads (--threads)"))?;
    for h in handles {
        h.join().expect("writer thread")?;
    }
    Ok(ExitCode::SUCCESS)
}
