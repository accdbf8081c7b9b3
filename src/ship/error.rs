//! What can stop a shipper: the log or the cursor (an [`crate::Error`]), or the JetStream side.

use std::path::PathBuf;

/// A shipper's error. [`Error::kind`] tells what went wrong; the `Display` form names the server,
/// stream, subject or record concerned and says what to do.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// A `Result` whose error is the shipper's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Callers match on it to handle cases differently (the `ndlog ship` exit
/// codes follow these variants).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the log, or loading or committing the cursor, failed.
    #[error(transparent)]
    Log(#[from] crate::Error),
    /// An option is invalid: a server URL, a subject, a stream name or a log id.
    #[error("{option} {value:?}: {reason}")]
    InvalidOption {
        /// The option, as the command line names it (`--to`, `--subject`, ...).
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached: the first connection failed with
    /// [`Options::fail_fast`](super::Options::fail_fast), or an outage lasted longer than
    /// [`Options::give_up_after`](super::Options::give_up_after).
    #[error("{server}: NATS server unreachable: {reason}")]
    Unreachable {
        /// The server URL, its password or token masked (`nats://user:***@host`).
        server: String,
        /// The last connection error.
        reason: String,
    },
    /// The stream named does not exist, and it was not to be created.
    #[error(
        "stream {stream:?} does not exist on {server}: create it (subjects including \
         {subject:?}), or pass --create-stream"
    )]
    NoStream {
        /// The server URL, its password or token masked (`nats://user:***@host`).
        server: String,
        /// The stream's name.
        stream: String,
        /// The subject to publish to.
        subject: String,
    },
    /// No stream takes the subject, and none was to be created.
    #[error(
        "no stream on {server} takes subject {subject:?}: create one whose subjects include \
         it, or pass --create-stream (with --stream NAME to choose its name)"
    )]
    NoStreamForSubject {
        /// The server URL, its password or token masked (`nats://user:***@host`).
        server: String,
        /// The subject to publish to.
        subject: String,
    },
    /// The stream named exists but does not take the subject.
    #[error(
        "stream {stream:?} does not take subject {subject:?} (its subjects: {subjects:?}): \
         publish to one of them, or add the subject to the stream"
    )]
    SubjectNotInStream {
        /// The stream's name.
        stream: String,
        /// The subject to publish to.
        subject: String,
        /// The stream's subjects.
        subjects: Vec<String>,
    },
    /// JetStream refused a record (other than by a lost connection), or a record is larger
    /// than the stream or the server accepts. Nothing after it was shipped; the cursor stays
    /// before it.
    #[error(
        "{}: record seq {seq} was not shipped to stream {stream:?}: {reason}; the cursor stays \
         before it",
        log.display()
    )]
    Refused {
        /// The log.
        log: PathBuf,
        /// The record's seq.
        seq: u64,
        /// The stream.
        stream: String,
        /// What JetStream (or the size check) said.
        reason: String,
    },
    /// A JetStream request failed for another reason than a lost connection (permissions,
    /// JetStream not enabled on the server, a stream that cannot be created, ...).
    #[error("{server}: {what}: {reason}")]
    JetStream {
        /// The server URL, its password or token masked (`nats://user:***@host`).
        server: String,
        /// The request, e.g. `creating stream "EVENTS"`.
        what: String,
        /// What the server or client said.
        reason: String,
    },
    /// The shipper could not start its runtime or its reader thread.
    #[error("{what}: {cause}")]
    Runtime {
        /// What was being started.
        what: &'static str,
        /// What the operating system reported.
        cause: std::io::Error,
    },
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error and returns what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        ErrorKind::Log(e).into()
    }
}
