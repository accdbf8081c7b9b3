//! One module per subcommand, each with its arguments and its `run`.

pub(crate) mod append;
pub(crate) mod cat;
pub(crate) mod compact;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod get;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod index;
pub(crate) mod lock;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

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
