//! `ndlog lock`: run a command while holding the log's writer lock.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::bail;
use ndlog::LogLock;

use crate::input;
use crate::out;
use crate::time::parse_duration;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log.
    pub log: PathBuf,
    /// Give up (exit 5) when the lock is not acquired within this time (e.g. 500ms, 10s).
    #[arg(long, visible_alias = "timeout", default_value = "10s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "lock")?;
    // The library locks any path, existing or not; the command is about a log that exists.
    if let Err(e) = std::fs::metadata(&args.log) {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "; lock holds an existing log: create it first (`ndlog create`, or an append)"
            }
            _ => "",
        };
        bail!("{}: {e}{hint}", args.log.display());
    }
    let held = LogLock::acquire_log(&args.log, args.lock_timeout)?;
    // The lock file descriptor is close-on-exec: the command does not inherit the lock, so
    // the lock ends when this process ends, however it ends.
    let status = match Command::new(&args.command[0]).args(&args.command[1..]).status() {
        Ok(status) => status,
        // As a shell says of a command it cannot run: 127 when there is none by that name,
        // 126 when it cannot be executed, so that the command's own exit 1 is not mistaken
        // for it.
        Err(e) => {
            drop(held);
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            out::warn(format_args!("cannot run {:?}: {e}", args.command[0]));
            return Ok(ExitCode::from(code));
        }
    };
    drop(held);
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        // As a shell reports a command a signal ended: 128 + the signal.
        out::warn(format_args!("{:?} was killed by signal {signal}", args.command[0]));
        return Ok(ExitCode::from(128u8.saturating_add(u8::try_from(signal).unwrap_or(127))));
    }
    let code = status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1));
    Ok(ExitCode::from(code))
}
