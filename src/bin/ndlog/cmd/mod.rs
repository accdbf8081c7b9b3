//! One module per subcommand, each with its arguments and its `run`.

pub mod append;
pub mod cat;
pub mod compact;
pub mod demo;
pub mod export;
pub mod get;
pub mod history;
pub mod import;
pub mod index;
pub mod lock;
pub mod stats;
pub mod tail;
pub mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
