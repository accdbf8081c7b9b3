//! `ndlog completions` and `ndlog man`: shell completions and a man page, generated from the
//! command-line definitions so they never disagree with `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::usage;
use crate::out;

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell, e.g. `ndlog completions bash > /etc/bash_completion.d/ndlog`.
    pub shell: Shell,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// A subcommand's page (ndlog-cat(1), ...) instead of ndlog(1), e.g.
    /// `ndlog man > ndlog.1 && ndlog man cat > ndlog-cat.1`.
    pub command: Option<String>,
}

pub(crate) fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    // The generator panics on a write error: it writes to memory, and that is written out.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ndlog", &mut script);
    print(&script)
}

pub(crate) fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let mut cli = Cli::command();
    cli.build();
    let page = match &args.command {
        None => clap_mangen::Man::new(cli),
        Some(name) => {
            let Some(sub) = cli.find_subcommand(name).filter(|s| !s.is_hide_set()) else {
                return Err(usage(format!("no subcommand {name:?}; `ndlog --help` lists them")));
            };
            let sub = sub.clone().version(env!("CARGO_PKG_VERSION"));
            // The page's source is ndlog, not the subcommand ("get 0.1.0" it said).
            let source = format!("ndlog {}", env!("CARGO_PKG_VERSION"));
            clap_mangen::Man::new(sub).title(format!("ndlog-{name}")).source(source)
        }
    };
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    print(&roff)
}

fn print(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = out::stdout();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
