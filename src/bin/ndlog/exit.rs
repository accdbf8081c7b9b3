//! The exit codes of every subcommand, their text for `--help`, and how an error becomes one.

use std::process::ExitCode;

use crate::out;
use crate::time::format_duration;

/// An error: I/O, a bad input line, not an ndlog log; the message on stderr says which.
pub(crate) const EXIT_ERROR: u8 = 1;
/// Bad command-line usage: an unknown option, a bad value, options that contradict each other.
/// Checked before any file is touched.
pub(crate) const EXIT_USAGE: u8 = 2;
/// The log holds corrupt lines or records out of order (`verify`, `cat --strict`), or its
/// index disagrees with it (`index --check`), or a chain link fails (`verify --chain`,
/// `provenance`), or a damaged line follows the record `checkpoint` would certify, or two
/// copies fork (`diverge`).
pub(crate) const EXIT_DAMAGED: u8 = 3;
/// The record or entity asked for is not in the log (`get`, `history`), or there is no index
/// to check (`index --check`), or no stream takes the subject (`ship`).
pub(crate) const EXIT_NOT_FOUND: u8 = 4;
/// The writer lock (or, for `compact`, the compaction lock) was not acquired within
/// `--lock-timeout`.
pub(crate) const EXIT_LOCK_TIMEOUT: u8 = 5;

/// A conditional append (`append --expect-last-seq`, `--expect-version`) found the log or an
/// entity not as expected; nothing was written.
pub(crate) const EXIT_CONFLICT: u8 = 6;

/// `tail -f --strict`: a compaction removed records the consumer had not delivered yet.
pub(crate) const EXIT_GAP: u8 = 7;

/// `ship`: the NATS server could not be reached (the first connection with `--once`, or an
/// outage longer than `--max-outage`).
#[cfg_attr(not(feature = "ship"), allow(dead_code))]
pub(crate) const EXIT_UNREACHABLE: u8 = 8;

/// `tail -f --cursor`, `ship`: the cursor was committed against another log than the one at
/// the path (it was removed and created again, or replaced, since), or at a record past its
/// end; nothing was delivered, or (found at a commit) the cursor stays before what was since
/// the last commit.
pub(crate) const EXIT_OTHER_LOG: u8 = 9;

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error (I/O, bad input line, not an ndlog log); stderr says which
  2  bad command-line usage (nothing was read or written)
  3  the log holds corrupt lines or out-of-order records (verify, cat --strict), or its
     index disagrees with it (index --check), or a chain link fails (verify --chain,
     provenance), the log does not extend a checkpoint (verify --checkpoint), a damaged line
     follows the last record (checkpoint), or two copies fork (diverge)
  4  no such record or entity (get, history), or no index to check (index --check), or
     no stream takes the subject (ship; --create-stream creates one)
  5  the lock was not acquired within --lock-timeout (append, compact, import, index, lock)
  6  conflict: append --expect-last-seq or --expect-version did not hold; nothing was written
  7  tail -f --strict, ship --strict: retention removed records not delivered yet (the
     cursor stays before them)
  8  ship: the NATS server was unreachable (the first connection with --once, or an outage
     longer than --max-outage)
  9  tail -f --cursor, ship: the cursor was committed against another log than the one at
     the path (removed and created again, or replaced, since), or at a record past its end
     (created again, truncated, restored); nothing was delivered, or (found at a commit) the
     cursor stays before what was since the last commit

A closed output pipe (ndlog cat LOG | head) ends the command quietly with 0.";

/// A usage error found after parsing (options that contradict each other, `-` where a file is
/// needed): exit 2, reported like clap's own.
#[derive(Debug)]
pub(crate) struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error saying `message`.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// Says what went wrong on stderr and picks the exit code. Never panics, even when stderr
/// cannot be written.
pub(crate) fn report(err: &anyhow::Error, subcommand: Option<&str>) -> ExitCode {
    if out::is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    if let Some(Usage(message)) = err.downcast_ref::<Usage>() {
        let mut cli = <crate::cli::Cli as clap::CommandFactory>::command();
        cli.build();
        let raw = clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message);
        let formatted = match subcommand.and_then(|name| cli.find_subcommand_mut(name)) {
            Some(sub) => raw.format(sub),
            None => raw.format(&mut cli),
        };
        let _ = formatted.print();
        return ExitCode::from(EXIT_USAGE);
    }
    let (message, code) = describe(err);
    out::warn(format_args!("{message}"));
    ExitCode::from(code)
}

/// What to say about an error that is not a usage error, and its exit code: a lock timeout is
/// said in people's units and names the option that sets it.
pub(crate) fn describe(err: &anyhow::Error) -> (String, u8) {
    let conflict = err.chain().any(|cause| {
        cause
            .downcast_ref::<ndlog::Error>()
            .is_some_and(|e| matches!(e.kind(), ndlog::ErrorKind::Conflict { .. }))
    });
    if conflict {
        return (format!("{err:#}; nothing was appended"), EXIT_CONFLICT);
    }
    let other_log = err.chain().any(|cause| {
        cause.downcast_ref::<ndlog::Error>().is_some_and(|e| {
            matches!(
                e.kind(),
                ndlog::ErrorKind::CursorOfAnotherLog { .. }
                    | ndlog::ErrorKind::CursorPastLog { .. }
            )
        })
    });
    if other_log {
        return (format!("{err:#}"), EXIT_OTHER_LOG);
    }
    let Some((path, lock, waited)) = lock_timeout_of(err) else {
        return (format!("{err:#}"), EXIT_ERROR);
    };
    let (which, holder) = if lock.to_string_lossy().ends_with(".compact.lock") {
        ("compaction", "another compaction")
    } else {
        ("writer", "another process")
    };
    let message = format!(
        "{}: {which} lock not acquired after {}: {holder} holds {}; retry, or wait longer with \
         --lock-timeout",
        path.display(),
        format_duration(waited),
        lock.display()
    );
    (message, EXIT_LOCK_TIMEOUT)
}

/// The log, lock file and wait of a lock timeout anywhere in the error's chain.
fn lock_timeout_of(
    err: &anyhow::Error,
) -> Option<(&std::path::Path, &std::path::Path, std::time::Duration)> {
    err.chain().find_map(|cause| match cause.downcast_ref::<ndlog::Error>()?.kind() {
        ndlog::ErrorKind::LockTimeout { path, lock, waited } => Some((&**path, &**lock, *waited)),
        _ => None,
    })
}
