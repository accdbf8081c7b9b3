//! `ndlog create`: create an empty log, optionally chained (tamper-evident).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use crate::input;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log to create; it must not exist.
    pub log: PathBuf,
    /// Make the log tamper-evident: every record carries a SHA-256 link to the history before
    /// it (`verify --chain`, `diverge`, `provenance`, `checkpoint`). A chained log stays chained.
    #[arg(long)]
    pub chain: bool,
    /// Permission bits of the log and its sidecar files, in octal.
    #[arg(long, value_name = "OCTAL", default_value = "600", value_parser = parse_mode)]
    pub mode: u32,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!("{text:?} is not an octal permission mode such as 600 or 0640")),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    input::require_file(&args.log, "create")?;
    match std::fs::symlink_metadata(&args.log) {
        Ok(_) => bail!("{}: already exists; create makes a new log", args.log.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("{}: stat: {e}", args.log.display()),
    }
    ndlog::Options::new().mode(args.mode).chain(args.chain).open(&args.log)?;
    Ok(ExitCode::SUCCESS)
}
