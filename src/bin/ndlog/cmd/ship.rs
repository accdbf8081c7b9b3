//! `ndlog ship`: publishes a log's records to NATS JetStream, exactly once, resuming from a
//! cursor. The loop itself is the library's (`ndlog::ship`); this file maps options, signals,
//! notices and exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ndlog::ship::{ErrorKind, Notice, Options, Outcome, Payload, Shipper, Stop};

use crate::cmd::tail::load_cursor;
use crate::exit::{EXIT_ERROR, EXIT_GAP, EXIT_NOT_FOUND, EXIT_UNREACHABLE, usage};
use crate::input;
use crate::out;
use crate::time::{format_duration, parse_duration};

/// How long `--once` retries an outage after its first connection, by default.
const ONCE_MAX_OUTAGE: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log: a file, or a segmented log's directory.
    pub log: PathBuf,
    /// The NATS server: nats://HOST:PORT (or tls://HOST:PORT; user:password@ or token@ may
    /// precede HOST, and messages show it masked: user:***@).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The subject every record is published on (no wildcards). A stream must take it (see
    /// --stream, --create-stream).
    #[arg(long, value_name = "SUBJECT", value_parser = subject)]
    pub subject: String,
    /// The cursor file: the seq of the last record JetStream acknowledged. Ship starts after it
    /// (at the first record when FILE does not exist yet) and advances it (temp + rename) only
    /// past records acknowledged in order. One shipper per cursor file.
    #[arg(long, value_name = "FILE")]
    pub cursor: PathBuf,
    /// The stream to publish into; it must take the subject. Default: the stream whose subjects
    /// take the subject.
    #[arg(long, value_name = "NAME")]
    pub stream: Option<String>,
    /// Create the stream when it does not exist: file storage, the subject as its subject, a
    /// duplicate window of --duplicate-window. Its name is --stream, or else the subject with
    /// every character but letters, digits, - and _ replaced by _ (events.app: events_app).
    #[arg(long)]
    pub create_stream: bool,
    /// With --create-stream: the new stream's duplicate window, in which JetStream drops a
    /// message whose Nats-Msg-Id it already stored. Greater than zero and at most 292y
    /// (JetStream keeps it in int64 nanoseconds).
    #[arg(long, value_name = "DUR", default_value = "2m", value_parser = parse_duration,
          requires = "create_stream")]
    pub duplicate_window: Duration,
    /// Exit 0 once caught up: every record the log holds (every one a sync made durable) is
    /// acknowledged. Without it, ship follows the log until SIGINT or SIGTERM (a clean stop:
    /// PubAcks in flight awaited, cursor committed, exit 0).
    #[arg(long)]
    pub once: bool,
    /// Publish only each record's payload (default: its whole line, without the newline).
    #[arg(long)]
    pub data: bool,
    /// What identifies this log in message ids (Nats-Msg-Id: ID:SEQ). Default: the host name
    /// and the log's canonical path, HOST:/PATH. Give a log created again at the same path
    /// (seqs starting over) a new one.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// How many records may await their PubAck at once.
    #[arg(long, value_name = "N", default_value_t = ndlog::ship::DEFAULT_WINDOW,
          value_parser = window)]
    pub window: usize,
    /// Commit the cursor at least this often while records are acknowledged (and at once when
    /// caught up, and on exit). Greater than zero.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub commit_interval: Duration,
    /// How long one connection attempt may take. Greater than zero, at most 1h.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// How long a PubAck (or a JetStream request) may take before the connection counts as
    /// lost and the records from the first unacknowledged one are published again. Greater
    /// than zero, at most 1h.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// Give up (exit 8) once the server has been unreachable this long. Default: retry forever
    /// when following; with --once, exit 8 at once when the first connection fails, and after
    /// 30s of a later outage.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub max_outage: Option<Duration>,
    /// When retention removed records before they were shipped, exit 7 (the cursor stays
    /// before them) instead of reporting them and going on.
    #[arg(long)]
    pub strict: bool,
}

fn window(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=65536) => Ok(n),
        _ => Err("a window is a number of records from 1 to 65536".to_string()),
    }
}

fn subject(text: &str) -> Result<String, String> {
    ndlog::ship::check_subject(text).map(|()| text.to_string()).map_err(|e| reason_of(&e))
}

/// The reason of an invalid option, without the option and value clap prints itself.
fn reason_of(e: &ndlog::ship::Error) -> String {
    match e.kind() {
        ErrorKind::InvalidOption { reason, .. } => reason.clone(),
        _ => e.to_string(),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if input::is_dash(&args.log) {
        return Err(usage("ship needs a log file or directory: standard input cannot be followed"));
    }
    let options = options(&args)?;
    // The log first (a file that is not a log is refused): an error naming it beats one
    // about the server.
    drop(input::open(&args.log)?);
    let mut cursor = load_cursor(&args.cursor)?;
    let stop = Stop::new();
    // SIGINT and SIGTERM stop it cleanly.
    let on_signal = stop.clone();
    crate::signals::on_stop_signal(move || on_signal.stop(), None)?;
    let shipper = Shipper::new(&args.log, options).stop_with(stop);
    let result = shipper.run(&mut cursor, |notice| match notice {
        Notice::Lost { .. } if args.strict => {
            out::warn(format_args!("{notice}; stopping (--strict), exit 7"))
        }
        _ => out::warn(format_args!("{notice}")),
    });
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => return Ok(report(e, &args)),
    };
    let to = match summary.stream.as_deref() {
        Some(stream) => format!("to stream {stream} ({} already there)", summary.duplicates),
        None => "(the server was never reached)".to_string(),
    };
    let cursor = summary.cursor.map_or_else(|| "none".to_string(), |s| format!("seq {s}"));
    let mut stdout = out::stdout();
    writeln!(stdout, "shipped {} record(s) {to}; cursor at {cursor}", summary.shipped)?;
    stdout.flush()?;
    Ok(match summary.outcome {
        Outcome::Gap { .. } => ExitCode::from(EXIT_GAP),
        _ => ExitCode::SUCCESS,
    })
}

/// The library's options from the command line's.
fn options(args: &Args) -> anyhow::Result<Options> {
    // --to is checked here, not by clap, whose message would show a password in it.
    let mut options = Options::new(&args.to, &args.subject)
        .map_err(|e| usage(e.to_string()))?
        .create_stream(args.create_stream)
        .payload(if args.data { Payload::Data } else { Payload::Line })
        .window(args.window)
        .once(args.once)
        .strict(args.strict);
    // The library takes any wait; a command that waits an hour for one answer without a word
    // looks hung (--max-outage bounds an outage as a whole).
    for (option, wait, what) in [
        ("--connect-timeout", args.connect_timeout, "one connection attempt"),
        ("--ack-timeout", args.ack_timeout, "one request"),
    ] {
        if wait > Duration::from_secs(3600) {
            return Err(usage(format!(
                "{option} {}: the wait for {what} is at most 1h; --max-outage bounds how long \
                 the server may be unreachable in all",
                humantime::format_duration(wait)
            )));
        }
    }
    options = options
        .commit_interval(args.commit_interval)
        .and_then(|o| o.duplicate_window(args.duplicate_window))
        .and_then(|o| o.connect_timeout(args.connect_timeout))
        .and_then(|o| o.ack_timeout(args.ack_timeout))
        .map_err(|e| usage(e.to_string()))?;
    if let Some(name) = &args.stream {
        options = options.stream(name).map_err(|e| usage(e.to_string()))?;
    }
    if let Some(id) = &args.id {
        options = options.id(id).map_err(|e| usage(e.to_string()))?;
    }
    options = match (args.once, args.max_outage) {
        (_, Some(limit)) => options.give_up_after(Some(limit)),
        (true, None) => options.fail_fast(true).give_up_after(Some(ONCE_MAX_OUTAGE)),
        (false, None) => options,
    };
    Ok(options)
}

/// Says what stopped the shipper and picks the exit code.
fn report(e: ndlog::ship::Error, args: &Args) -> ExitCode {
    let code = match e.kind() {
        ErrorKind::NoStream { .. }
        | ErrorKind::NoStreamForSubject { .. }
        | ErrorKind::SubjectNotInStream { .. } => EXIT_NOT_FOUND,
        ErrorKind::Unreachable { .. } => EXIT_UNREACHABLE,
        _ => EXIT_ERROR,
    };
    match e.kind() {
        ErrorKind::Unreachable { .. } => {
            let waited = match (args.once, args.max_outage) {
                (_, Some(limit)) => format!("for {}", format_duration(limit)),
                (true, None) => "at the first connection (--once)".to_string(),
                (false, None) => "for too long".to_string(),
            };
            out::warn(format_args!(
                "--to {e}; gave up {waited}: is nats-server running there with -js? (--max-outage \
                 sets how long to retry)"
            ));
        }
        ErrorKind::Log(_) => {
            let ErrorKind::Log(inner) = e.into_kind() else { unreachable!() };
            let other_log = matches!(
                inner.kind(),
                ndlog::ErrorKind::CursorOfAnotherLog { .. }
                    | ndlog::ErrorKind::CursorPastLog { .. }
            );
            let (message, code) = crate::exit::describe(&anyhow::Error::new(inner));
            out::warn(format_args!("{message}"));
            if other_log {
                out::warn(format_args!(
                    "and ship the new log with another --id: its records' message ids would \
                     otherwise repeat the old log's, and JetStream drops repeats within the \
                     stream's duplicate window"
                ));
            }
            return ExitCode::from(code);
        }
        _ => out::warn(format_args!("{e}")),
    }
    ExitCode::from(code)
}
