//! `ndlog`: the command-line front end. Each subcommand lives in `cmd/` and only calls the
//! library.

mod cli;
mod cmd;
mod exit;
mod out;
mod range;
mod time;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use cmd::{
    append, cat, compact, demo, export, get, history, import, index, lock, stats, tail, verify,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ndlog: {err:#}");
            ExitCode::from(exit::EXIT_ERROR)
        }
    }
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoWriter(args) => demo::run_writer(args),
        Command::Append(args) => append::run(args),
        Command::Cat(args) => cat::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Lock(args) => lock::run(args),
        Command::Get(args) => get::run(args),
        Command::Index(args) => index::run(args),
        Command::History(args) => history::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
    }
}
