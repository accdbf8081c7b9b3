//! Standard output for the subcommands: buffered, and quiet when the reader goes away.

use std::io::{self, BufWriter, StdoutLock, Write};

/// Buffered standard output.
pub(crate) type Out = BufWriter<StdoutLock<'static>>;

/// A buffered handle on standard output.
pub(crate) fn stdout() -> Out {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Whether the error is a closed pipe (`ndlog cat LOG | head`), which is not a failure.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes one line.
pub(crate) fn line(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.write_all(b"\n")
}
