//! `ndlog tail`: the last records, and with -f the ones that follow; with --cursor, a consumer
//! that resumes where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ndlog::consume::{Batch, Cursor, Follow, Gap, Skipped, Stopper, Watermark};
use ndlog::read::Entry;
use ndlog::segments::SegmentedFollow;

use crate::exit::{EXIT_GAP, usage};
use crate::input;
use crate::out::{self, Out};
use crate::time::parse_duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log, or - for a log on standard input (not with --follow).
    pub log: PathBuf,
    /// How many of the last records to print (not with --cursor or --after-seq, which say
    /// where to start).
    #[arg(short = 'n', long, default_value_t = 10, conflicts_with_all = ["cursor", "after_seq"])]
    pub lines: usize,
    /// Keep running and print records as they are appended (survives compaction). Waits for
    /// a log that does not exist yet. Prints only records a sync made durable, unless
    /// --uncommitted. Stops cleanly (output flushed, cursor committed) on SIGINT or SIGTERM;
    /// with its output blocked (a reader that does not read), it exits 2 s after the signal
    /// (or at a second one), its cursor at its last commit.
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the payloads.
    #[arg(long)]
    pub data: bool,
    /// With -f: a cursor file holding the seq of the last record delivered. Starts after it
    /// (at the first record when FILE does not exist yet) and advances it (temp + rename) only
    /// after the records up to it were written out and flushed: at least once, never a gap,
    /// even if killed. One consumer per cursor file. FILE.record keeps the record committed
    /// at: a log created again at the path since (other records, same seqs) is refused, exit 9.
    #[arg(long, value_name = "FILE", requires = "follow")]
    pub cursor: Option<PathBuf>,
    /// With -f: start after seq N (print records with a greater seq).
    #[arg(long, value_name = "N", requires = "follow", conflicts_with = "cursor")]
    pub after_seq: Option<u64>,
    /// With --cursor: commit after at most N records delivered. A consumer killed redelivers
    /// at most this many records (and at most --commit-interval's worth).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "cursor",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub commit_every: u64,
    /// With --cursor: commit at least this often while records stream in; an idle consumer
    /// commits at once, as soon as it has caught up.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration,
          requires = "cursor")]
    pub commit_interval: Duration,
    /// With -f: print records as soon as they are written, before a sync made them durable.
    /// A power loss can take such a record back and give its seq to another record; with
    /// --cursor, the consumer then stops with exit 9 rather than skip that record (remove
    /// FILE.record to go on).
    #[arg(long, requires = "follow")]
    pub uncommitted: bool,
    /// With -f: when a compaction removed records not delivered yet (retention), exit with
    /// code 7 instead of going on (the cursor stays before them).
    #[arg(long, requires = "follow")]
    pub strict: bool,
}

/// How long `tail -f` may take to stop cleanly after SIGINT or SIGTERM before it exits anyway.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.follow && input::is_dash(&args.log) {
        return Err(usage("--follow needs a log file: standard input is read to its end"));
    }
    if !args.follow {
        let log = input::open(&args.log)?;
        let mut out = out::stdout();
        print_last_of(&mut out, &log, u64::MAX, args.lines, args.data)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Stopper::new();
    // SIGINT and SIGTERM stop it cleanly; one blocked writing to a reader that does not read
    // ends anyway (its cursor stays at its last commit, behind what it wrote).
    let on_signal = stop.clone();
    crate::signals::on_stop_signal(move || on_signal.stop(), Some(STOP_GRACE))?;
    let mut cursor = match &args.cursor {
        Some(file) => Some(load_cursor(file)?),
        None => None,
    };
    if !wait_for_log(&args.log, &stop)? {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(cursor) = cursor.as_mut() {
        // A cursor of another log (this one was created again since) would skip records.
        cursor.check(&ndlog::Log::open(&args.log)?)?;
    }
    let log = input::open(&args.log)?;
    let mut out = out::stdout();
    if log.segmented {
        return follow_segmented(&args, log, cursor.as_mut(), &stop, &mut out);
    }
    // Without a cursor or --after-seq: the last records (below the watermark unless
    // --uncommitted), then what follows.
    let last_printed = if cursor.is_none() && args.after_seq.is_none() {
        let reader = &log.parts.first().context("a single-file log has one file")?.reader;
        // The newest record below the committed end (seqs grow with offsets); none when no
        // watermark describes the file, as for the follower after them.
        let bound = match args.uncommitted {
            true => reader.last().map_or(0, |r| r.seq),
            false => match committed_end(&args.log, reader)? {
                Some(end) => reader.records_rev_before(end).next().map_or(0, |r| r.seq),
                None => 0,
            },
        };
        Some(print_last_of(&mut out, &log, bound, args.lines, args.data)?.unwrap_or(bound))
    } else {
        None
    };
    let reader = log.single().context("a single-file log has one file")?;
    if !args.uncommitted && committed_end(&args.log, &reader)?.is_none() {
        let start = cursor.as_ref().and_then(|c| c.after_seq());
        let start = start.or(last_printed).or(args.after_seq).unwrap_or(0);
        note_no_watermark(&args.log, reader.last().map(|r| r.seq), start);
    }
    let mut follow = if let Some(cursor) = cursor.as_mut() {
        if let Some(after) = cursor.after_seq() {
            note_cursor_ahead(after, reader.last().map(|r| r.seq), cursor.path());
        }
        cursor.follow(reader)?
    } else {
        if let Some(after) = args.after_seq {
            note_after_seq_ahead(&args.log, after, reader.last().map(|r| r.seq));
        }
        reader.follow_after(last_printed.or(args.after_seq).unwrap_or(0))
    };
    follow = follow.stop_with(stop.clone());
    if args.uncommitted {
        follow = follow.uncommitted();
    }
    Consumer::new(&mut out, cursor.as_mut(), &args).run(&mut follow, &args, &stop)
}

/// `tail -f` on a segmented log: across rolls, saying when retention removed records first,
/// and (unless --uncommitted) only records a sync made durable.
fn follow_segmented(
    args: &Args,
    log: input::Log,
    cursor: Option<&mut Cursor>,
    stop: &Stopper,
    out: &mut Out,
) -> anyhow::Result<ExitCode> {
    let after = if let Some(cursor) = &cursor {
        let after = cursor.after_seq();
        if let Some(after) = after {
            note_cursor_ahead(after, log.last().map(|r| r.seq), cursor.path());
        }
        after.unwrap_or(0)
    } else if let Some(seq) = args.after_seq {
        note_after_seq_ahead(&args.log, seq, log.last().map(|r| r.seq));
        seq
    } else {
        // The last records (durable ones unless --uncommitted), then what follows.
        let bound = if args.uncommitted { u64::MAX } else { committed_seq(&args.log, &log)? };
        match print_last_of(out, &log, bound, args.lines, args.data)? {
            Some(seq) => seq,
            None => log.records_rev().find(|r| r.seq <= bound).map_or(0, |r| r.seq),
        }
    };
    if !args.uncommitted && Watermark::read(&args.log)?.is_none() {
        let sealed = committed_seq(&args.log, &log)?;
        note_no_watermark(&args.log, log.last().map(|r| r.seq), after.max(sealed));
    }
    drop(log);
    let mut follow = SegmentedFollow::after(&args.log, after).stop_with(stop.clone());
    if args.uncommitted {
        follow = follow.uncommitted();
    }
    let mut consumer = Consumer::new(out, cursor, args);
    // Each record is copied out, so that a gap before it is reported before it goes out.
    let mut staged = Vec::new();
    let take = |follow: &mut SegmentedFollow, staged: &mut Vec<u8>, timeout| {
        let Some(r) = follow.next_within(timeout)? else { return anyhow::Ok(None) };
        staged.clear();
        staged.extend_from_slice(r.line);
        // Where the payload lies in the line (it is a part of it).
        let start = (r.data.as_ptr() as usize).saturating_sub(r.line.as_ptr() as usize);
        Ok(Some((r.seq, r.ts, start..start + r.data.len())))
    };
    loop {
        // What is there already goes out without a flush per record; the output is flushed
        // and the cursor committed whenever the follower has to wait.
        let mut next = take(&mut follow, &mut staged, Some(Duration::ZERO))?;
        let mut gap = follow.take_gap();
        if next.is_none() && gap.is_none() && !stop.is_stopped() {
            consumer.commit()?;
            next = take(&mut follow, &mut staged, None)?;
            gap = follow.take_gap();
        }
        if let Some(gap) = gap {
            report_gap(gap, &args.log, args.strict);
            if args.strict {
                consumer.commit()?;
                return Ok(ExitCode::from(EXIT_GAP));
            }
        }
        while let Some(skipped) = follow.take_skipped() {
            report_skipped(&skipped);
        }
        if let Some((from, to)) = follow.take_missing() {
            out::warn(format_args!(
                "{}: seqs {from}..={to} are not in the log (a sealed segment's last records are \
                 damaged, or a segment file was removed by something other than retention: \
                 `ndlog verify` says which); going on",
                args.log.display()
            ));
        }
        match next {
            Some((seq, ts, data)) => {
                let data = staged.get(data).unwrap_or_default();
                consumer.deliver(&ndlog::Record { seq, ts, data, line: &staged, offset: 0 })?;
                consumer.commit_if_due(args)?;
            }
            None if stop.is_stopped() => {
                consumer.commit()?;
                return Ok(ExitCode::SUCCESS);
            }
            None => {}
        }
    }
}

/// Delivers records to standard output and commits the cursor behind them.
struct Consumer<'a> {
    out: &'a mut Out,
    cursor: Option<&'a mut Cursor>,
    /// The log's path, looked up again at each commit.
    log: &'a Path,
    data: bool,
    /// Records written since the last commit, since when, and the last one's seq and ts.
    pending: u64,
    since: Option<Instant>,
    last: Option<(u64, u64)>,
    line: Vec<u8>,
    /// The last record's line, for the cursor's commit.
    last_line: Vec<u8>,
}

impl<'a> Consumer<'a> {
    fn new(out: &'a mut Out, cursor: Option<&'a mut Cursor>, args: &'a Args) -> Self {
        let (line, last_line, log, data) = (Vec::new(), Vec::new(), &*args.log, args.data);
        let (pending, since, last) = (0, None, None);
        Consumer { out, cursor, log, data, pending, since, last, line, last_line }
    }

    fn run(
        &mut self,
        follow: &mut Follow,
        args: &Args,
        stop: &Stopper,
    ) -> anyhow::Result<ExitCode> {
        loop {
            // What is there already goes out without a flush per record; the output is
            // flushed and the cursor committed whenever the follower has to wait.
            let batch = follow.next_batch(Some(Duration::ZERO))?;
            let code = if batch.is_empty() && batch.gap().is_none() && !stop.is_stopped() {
                self.commit()?;
                self.take(follow.next_batch(None)?, args, stop)?
            } else {
                self.take(batch, args, stop)?
            };
            if let Some(skipped) = follow.take_skipped() {
                report_skipped(&skipped);
            }
            if let Some(code) = code {
                return Ok(code);
            }
        }
    }

    /// Delivers a batch; the exit code when the consumer is done (stopped, or a gap with
    /// --strict).
    fn take(
        &mut self,
        batch: Batch<'_>,
        args: &Args,
        stop: &Stopper,
    ) -> anyhow::Result<Option<ExitCode>> {
        if let Some(gap) = batch.gap() {
            report_gap(gap, &args.log, args.strict);
            if args.strict {
                self.commit()?;
                return Ok(Some(ExitCode::from(EXIT_GAP)));
            }
        }
        if batch.is_empty() {
            if stop.is_stopped() {
                // Stopped (a signal): hand over what was delivered, then leave.
                self.commit()?;
                return Ok(Some(ExitCode::SUCCESS));
            }
            return Ok(None);
        }
        for r in batch {
            self.deliver(&r)?;
            self.commit_if_due(args)?;
        }
        Ok(None)
    }

    /// Commits when --commit-every records or --commit-interval have passed since the last.
    fn commit_if_due(&mut self, args: &Args) -> anyhow::Result<()> {
        let due = self.since.is_some_and(|t| t.elapsed() >= args.commit_interval);
        if self.pending >= args.commit_every || due {
            self.commit()?;
        }
        Ok(())
    }

    fn deliver(&mut self, r: &ndlog::Record<'_>) -> anyhow::Result<()> {
        // One write per line, so that a consumer killed mid-way leaves whole lines and at
        // most a torn last one, never a line split around a buffer flush.
        self.line.clear();
        self.line.extend_from_slice(if self.data { r.data } else { r.line });
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.pending += 1;
        self.since.get_or_insert_with(Instant::now);
        // The cursor remembers the record it is committed at (its line's CRC tells this log
        // from one created again), so the line is kept until the commit.
        if self.cursor.is_some() {
            self.last_line.clear();
            self.last_line.extend_from_slice(r.line);
        }
        self.last = Some((r.seq, r.ts));
        Ok(())
    }

    /// Flushes standard output, then advances the cursor to the last record written.
    fn commit(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        if let (Some(cursor), Some((seq, ts))) = (self.cursor.as_deref_mut(), self.last)
            && self.pending > 0
        {
            // The follower goes on at the next seq of whatever log is at the path, so a log
            // removed and created again while it ran (or before it started, shorter than the
            // cursor then) is only seen here: checked before the cursor and FILE.record move
            // onto the new log's records, which would leave no trace of the old one.
            cursor.check_log_at(self.log)?;
            let line = &self.last_line[..];
            cursor.commit_at(&ndlog::Record { seq, ts, data: &[], line, offset: 0 })?;
        }
        self.pending = 0;
        self.since = None;
        Ok(())
    }
}

/// Loads the cursor, saying plainly when another consumer holds it.
pub(crate) fn load_cursor(file: &Path) -> anyhow::Result<Cursor> {
    let cursor = Cursor::load(file).map_err(|e| match e.kind() {
        ndlog::ErrorKind::LockTimeout { lock, .. } => anyhow::anyhow!(
            "{}: cursor in use: another consumer holds {}; run one consumer per cursor file",
            file.display(),
            lock.display()
        ),
        // (The error names the file.)
        _ => anyhow::Error::new(e).context("--cursor"),
    })?;
    note_record_unusable(&cursor.record_path());
    Ok(cursor)
}

/// The cursor's `FILE.record` is never read or written through a symlink, nor as anything but
/// a regular file: one that is something else leaves the cursor unable to tell its log from
/// one created again. Said, since nothing else would.
fn note_record_unusable(record: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(record) else { return };
    if !meta.file_type().is_file() {
        out::warn(format_args!(
            "{}: not a regular file, so the cursor cannot remember the record it is at and \
             cannot tell its log from one created again at the same path; remove it",
            record.display()
        ));
    }
}

/// The byte offset below which the log's records are durable, from `LOG.watermark`; `None`
/// when it does not describe the mapped file (no writer synced it yet).
fn committed_end(log: &Path, reader: &ndlog::Reader<ndlog::Mapped>) -> anyhow::Result<Option<u64>> {
    let mark = Watermark::read(log)?;
    Ok(mark.filter(|m| m.file == reader.file_id()).map(|m| m.end.min(reader.bytes().len() as u64)))
}

/// Says once on stderr that the log does not exist yet, and waits until it does; false when
/// stopped first.
fn wait_for_log(log: &Path, stop: &Stopper) -> anyhow::Result<bool> {
    let exists = |p: &Path| match std::fs::metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("{}: stat failed", p.display())),
    };
    if exists(log)? {
        return Ok(true);
    }
    out::warn(format_args!("{}: does not exist yet; waiting for it to be created", log.display()));
    ndlog::consume::wait_until_exists(log, stop)
        .with_context(|| format!("waiting for {}", log.display()))
}

/// Says on stderr that damaged lines were gone past, as `cat` says it.
fn report_skipped(skipped: &Skipped) {
    crate::range::warn_skipped(skipped.file.display(), skipped.lines, skipped.first_offset);
}

/// Says on stderr that records were removed before they were delivered.
fn report_gap(gap: Gap, log: &Path, strict: bool) {
    out::warn(format_args!(
        "{}: {} record(s) after seq {} were removed by retention (compaction) before they were \
         delivered; the first seq still present is {}{}",
        log.display(),
        gap.missing(),
        gap.after_seq,
        gap.first_seq,
        if strict { "; stopping (--strict), exit 7" } else { "; going on" }
    ));
}

/// A cursor past the log's last record (`None`: it holds none, or did not exist yet; the log
/// was recreated, say) would skip every record up to it: say so.
fn note_cursor_ahead(after: u64, last: Option<u64>, file: &Path) {
    let past = match last {
        Some(last) if after > last => format!("the log's last record (seq {last})"),
        None if after > 0 => "every record of the log (it holds none yet)".to_string(),
        _ => return,
    };
    out::warn(format_args!(
        "{}: cursor is at seq {after}, past {past}; records up to seq {after} will not be \
         delivered: remove the cursor file to start over",
        file.display()
    ));
}

/// `--after-seq` past the log's last record waits for records that do not exist yet: said, in
/// case that is not what was meant (a seq of another log, a typo), as for a cursor.
fn note_after_seq_ahead(log: &Path, after: u64, last: Option<u64>) {
    let past = match last {
        Some(last) if after > last => format!("its last record (seq {last})"),
        None if after > 0 => "every record (it holds none yet)".to_string(),
        _ => return,
    };
    out::warn(format_args!(
        "{}: --after-seq {after} is past {past}; waiting for seq {}",
        log.display(),
        after.saturating_add(1)
    ));
}

/// Says on stderr that the records after seq `start`, up to `last`, wait for a durable
/// watermark that no writer has published for this log (a copy of a log, a watermark file
/// removed or damaged): a committed follower would wait for the next sync without a word.
fn note_no_watermark(log: &Path, last: Option<u64>, start: u64) {
    let Some(last) = last.filter(|&last| last > start) else { return };
    out::warn(format_args!(
        "{}: no durable watermark describes it yet (no writer has synced it since it was \
         copied or its watermark file removed or damaged, or the first sync is under way), so \
         records {}..={last} wait until a writer syncs it (the next append does); \
         --uncommitted prints them now",
        log.display(),
        start + 1
    ));
}

/// The highest seq of a segmented log known to be durable: every record of a sealed segment
/// (the roll synced it), and those up to the seq of `LOG/ndlog.watermark` (published after a
/// sync covered it).
fn committed_seq(dir: &Path, log: &input::Log) -> anyhow::Result<u64> {
    let mark = Watermark::read(dir)?.map_or(0, |m| m.seq);
    let sealed = match log.parts.last() {
        Some(active) if active.active => active.first_seq.saturating_sub(1),
        _ => u64::MAX,
    };
    Ok(mark.max(sealed))
}

/// `tail -n`: the last `n` records of `log` whose seq is at most `bound` (`u64::MAX`: all),
/// oldest first, whole lines or payloads, then a flush; returns the seq of the newest printed.
/// A walk from the end only finds where they start and counts them; a forward read prints them
/// from there, so memory does not grow with `n` (a `-n` larger than the log prints all of it,
/// held nowhere but in the map).
fn print_last_of(
    out: &mut impl Write,
    log: &input::Log,
    bound: u64,
    n: usize,
    data: bool,
) -> anyhow::Result<Option<u64>> {
    let newest_first = log
        .parts
        .iter()
        .enumerate()
        .rev()
        .flat_map(|(i, p)| p.reader.records_rev().map(move |r| (i, r.offset, r.seq)))
        .skip_while(|&(_, _, seq)| seq > bound);
    let (mut count, mut start) = (0, None);
    for (i, offset, _) in newest_first.take(n) {
        count += 1;
        start = Some((i, offset));
    }
    let mut newest = None;
    let mut skipped: Vec<Skipped> = Vec::new();
    if let Some((first_part, offset)) = start {
        let mut left = count;
        for (i, part) in log.parts.iter().enumerate().skip(first_part) {
            let from = if i == first_part { offset } else { 0 };
            for entry in part.reader.entries_from(from) {
                if left == 0 {
                    break;
                }
                match entry {
                    Entry::Record(r) => {
                        out::line(out, if data { r.data } else { r.line })?;
                        newest = Some(r.seq);
                        left -= 1;
                    }
                    // Damage between the records printed: said, as `cat` says it, a file at
                    // a time.
                    Entry::Corrupt { offset, .. } => {
                        let file = part.reader.path();
                        match skipped.last_mut() {
                            Some(last) if last.file == file => last.lines += 1,
                            _ => skipped.push(Skipped {
                                file: file.into(),
                                first_offset: offset,
                                lines: 1,
                            }),
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out.flush()?;
    skipped.iter().for_each(report_skipped);
    Ok(newest)
}
