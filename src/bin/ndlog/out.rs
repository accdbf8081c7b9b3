//! Output for the subcommands. Every write is fallible, none panics: an error writing standard
//! output ends the command with exit 1, except a closed pipe (`ndlog cat LOG | head`), which
//! ends it quietly with 0. Diagnostics go to standard error as `ndlog: ...` lines.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};

/// Buffered standard output whose errors say that they are about standard output.
pub(crate) struct Out(BufWriter<StdoutLock<'static>>);

/// A buffered handle on standard output. Flush it before returning: a write error that only
/// the drop's flush would meet goes unreported.
pub(crate) fn stdout() -> Out {
    Out(BufWriter::with_capacity(64 * 1024, io::stdout().lock()))
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(on_stdout)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(on_stdout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(on_stdout)
    }
}

/// Names standard output in a write error, keeping its kind (a closed pipe stays `BrokenPipe`).
fn on_stdout(err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("writing to standard output: {err}"))
}

/// Whether the error is a closed pipe (`ndlog cat LOG | head`), which is not a failure.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = match cause.downcast_ref::<ndlog::Error>().map(ndlog::Error::kind) {
            Some(ndlog::ErrorKind::Io { cause, .. }) => Some(cause),
            _ => cause.downcast_ref::<io::Error>(),
        };
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes one line.
pub(crate) fn line(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.write_all(b"\n")
}

/// Writes `ndlog: {message}` as one line on standard error. Best effort: the exit code carries
/// the outcome, so a diagnostic that cannot be written (standard error closed or full) is
/// dropped rather than turned into a failure of its own.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "ndlog: {message}");
}
