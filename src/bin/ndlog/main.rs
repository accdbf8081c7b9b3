//! `ndlog`: the command-line front end. Each subcommand lives in `cmd/` and only calls the
//! library.

mod cli;
mod cmd;
mod exit;
mod input;
mod lines;
mod out;
mod range;
mod signals;
mod spool;
mod time;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};
#[cfg(feature = "ship")]
use cmd::ship;
use cmd::{
    append, cat, checkpoint, compact, create, demo, diverge, docs, export, get, history, import,
    index, lock, provenance, segments, stats, tail, verify,
};

fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        // Help, version (exit 0) or bad usage (exit 2). Help that cannot be written is an
        // error, unless the pipe was closed.
        Err(err) => {
            return match err.print() {
                Err(e) if err.exit_code() == 0 && e.kind() != std::io::ErrorKind::BrokenPipe => {
                    out::warn(format_args!("writing to standard output: {e}"));
                    ExitCode::from(exit::EXIT_ERROR)
                }
                _ => ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(exit::EXIT_USAGE)),
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err, matches.subcommand_name()),
    }
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoWriter(args) => demo::run_writer(args),
        Command::Create(args) => create::run(args),
        Command::Segments(args) => segments::run(args),
        Command::Append(args) => append::run(args),
        Command::Cat(args) => cat::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Tail(args) => tail::run(args),
        #[cfg(feature = "ship")]
        Command::Ship(args) => ship::run(args),
        Command::Lock(args) => lock::run(args),
        Command::Get(args) => get::run(args),
        Command::Index(args) => index::run(args),
        Command::History(args) => history::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Export(args) => export::run(args),
        Command::Diverge(args) => diverge::run(args),
        Command::Provenance(args) => provenance::run(args),
        Command::Checkpoint(args) => checkpoint::run(args),
        Command::Import(args) => import::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}
