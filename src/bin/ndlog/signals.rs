//! SIGINT and SIGTERM as a clean stop for the commands that run until stopped (`tail -f`,
//! `ship`, `compact --every`): a thread waits for either signal and runs the command's stop.

use anyhow::Context;

/// Runs `stop` on a thread of its own when SIGINT or SIGTERM arrives.
pub(crate) fn on_stop_signal(stop: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing the SIGINT/SIGTERM handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stop();
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
