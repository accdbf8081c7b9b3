//! `ndlog`: the command-line front end. Each subcommand lives in `cmd/` and only calls the
//! library.

mod cli;
mod cmd;
mod out;
mod time;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) if out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ndlog: {err:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
