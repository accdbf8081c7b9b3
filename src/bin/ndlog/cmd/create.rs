//! `ndlog create`: a new log. A single file, or with `--segment-bytes` a segmented log, a
//! directory whose settings every writer rolls by; either tamper-evident with `--chain`.

use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use ndlog::Options;
use ndlog::fs::StdFs;
use ndlog::segments::Settings;

use crate::input;
use crate::out;
use crate::time::{parse_duration, parse_size};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("kind").required(true).multiple(true).args(["chain", "segment_bytes"]))]
pub(crate) struct Args {
    /// The log to create, which must not exist yet: a file, or with --segment-bytes a directory.
    pub log: PathBuf,
    /// Make the log tamper-evident: every record carries a SHA-256 link to the history before
    /// it (`verify --chain`, `diverge`, `provenance`, `checkpoint`). A chained log stays
    /// chained. With --segment-bytes, one chain runs through every segment, and the anchors
    /// retention leaves are kept in LOG/ndlog.chain.
    #[arg(long)]
    pub chain: bool,
    /// Create a segmented log: seal the active segment and start the next once it would pass
    /// this size (e.g. 64MiB, 1GB); at least one record's limit (1 MiB plus the frame).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub segment_bytes: Option<u64>,
    /// Also roll once the active segment holds this many records.
    #[arg(long, value_name = "N", requires = "segment_bytes")]
    pub segment_records: Option<u64>,
    /// Also roll at the first append after the active segment's first record is this old
    /// (e.g. 1h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "segment_bytes")]
    pub segment_age: Option<Duration>,
    /// Create each segment at its full size, padded with newlines, and write records in
    /// place: an fdatasync then persists no change of file size.
    #[arg(long, requires = "segment_bytes")]
    pub preallocate: bool,
    /// Permission bits of the log's files, in octal, at most 777 and with read and write for
    /// the owner; the umask applies to every file, as it does to files `open` creates (a
    /// segmented log's directory gets x where r is given).
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_mode)]
    pub mode: u32,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
        // No set-id or sticky bits; and the owner, whose writers append, reads and writes.
        Ok(mode) if mode <= 0o777 && mode & 0o600 == 0o600 => Ok(mode),
        _ => Err(format!(
            "{text:?}: expected permission bits in octal, at most 777 and with read and write \
             for the owner, such as 600 or 0644"
        )),
    }
}

/// `mode` less the process's umask: what `open` would give a file it creates with `mode`.
/// (Files ndlog creates under a temporary name and renames get their mode set explicitly.)
fn masked(mode: u32) -> u32 {
    let umask = rustix::process::umask(rustix::fs::Mode::empty());
    rustix::process::umask(umask);
    mode & !umask.bits()
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "create")?;
    let mode = masked(args.mode);
    let mut out = out::stdout();
    let Some(segment_bytes) = args.segment_bytes else {
        match std::fs::symlink_metadata(&args.log) {
            Ok(_) => bail!("{}: already exists; create makes a new log", args.log.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("{}: stat: {e}", args.log.display()),
        }
        drop(Options::new().mode(mode).chain(args.chain).open(&args.log)?);
        let kind = if args.chain { "a chained log" } else { "a log" };
        writeln!(out, "{}: created {kind}", args.log.display())?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    };
    let settings = Settings {
        segment_bytes,
        segment_records: args.segment_records,
        segment_age: args.segment_age,
        preallocate: args.preallocate,
    };
    let max_record = Options::DEFAULT_MAX_RECORD_SIZE;
    // Settings from the command line that no writer could honour are bad usage (exit 2).
    if let Err(e) = settings.validate(max_record) {
        return Err(match e.kind() {
            ndlog::ErrorKind::InvalidArgument(message) => crate::exit::usage(message.clone()),
            _ => e.into(),
        });
    }
    match args.chain {
        true => ndlog::segments::create_chained(&StdFs, &args.log, &settings, max_record, mode)?,
        false => ndlog::segments::create(&StdFs, &args.log, &settings, max_record, mode)?,
    }
    // The first segment, so that the log is complete before any writer comes. The directory
    // is a log by now and stays one: a writer may already have found it, and removing it could
    // lose that writer's records.
    if let Err(e) = Options::new().create(false).mode(mode).open(&args.log) {
        let no_room = matches!(e.kind(), ndlog::ErrorKind::Io { cause, .. }
            if matches!(cause.kind(), StorageFull | QuotaExceeded | FileTooLarge));
        if args.preallocate && no_room {
            bail!(
                "{log}: created, but its first segment does not fit: {e}. Make room (a writer \
                 creates the segment when it opens the log), or remove {log} (`rm -r`) and \
                 create it with a --segment-bytes smaller than {segment_bytes} or without \
                 --preallocate",
                log = args.log.display()
            );
        }
        return Err(e.into());
    }
    let kind = if args.chain { "a chained segmented log" } else { "a segmented log" };
    writeln!(out, "{}: created {kind}", args.log.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
