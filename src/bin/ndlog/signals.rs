//! SIGINT and SIGTERM as a clean stop for the commands that run until stopped (`tail -f`,
//! `ship`, `compact --every`): a thread waits for either signal and runs the command's stop.

use std::time::{Duration, Instant};

use anyhow::Context;

/// Runs `stop` on a thread of its own when SIGINT or SIGTERM arrives.
///
/// With `force_after`, a command still running that long after the signal (its output blocked
/// on a reader that does not read, say: a clean stop flushes first) exits then, as the signal
/// would have ended it (128 + its number); a second signal ends it at once. Only for commands
/// that a kill at any moment leaves consistent.
pub(crate) fn on_stop_signal(
    stop: impl FnOnce() + Send + 'static,
    force_after: Option<Duration>,
) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing the SIGINT/SIGTERM handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Some(signal) = signals.forever().next() else { return };
            stop();
            let Some(grace) = force_after else { return };
            let until = Instant::now() + grace;
            while Instant::now() < until {
                if signals.pending().next().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::process::exit(128 + signal);
        })
        .context("starting the signal thread")?;
    Ok(())
}
