//! The one error type of the crate: which file, which byte offset, and what is wrong.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An ndlog error. [`Error::kind`] tells what went wrong; the `Display` form names the file and,
/// where there is one, the byte offset.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. Callers match on it to handle cases differently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system call failed. The message says why (the `io::Error`'s text), so
    /// [`std::error::Error::source`] does not chain the `io::Error` as well: an error chain
    /// printed whole (`{:#}` with anyhow) says the reason once. Match on this variant, or
    /// convert with `io::Error::from`, to get at its kind.
    #[error("{}: {op} failed: {cause}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The operation, e.g. `open`, `write`, `fdatasync`.
        op: &'static str,
        /// What the operating system reported.
        cause: io::Error,
    },
    /// The writer lock was not acquired within the configured timeout.
    #[error(
        "{}: writer lock not acquired after {waited:?}: another process holds {}; \
         retry, or raise the lock timeout",
        path.display(), lock.display()
    )]
    LockTimeout {
        /// The log.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// How long the call waited.
        waited: Duration,
    },
    /// A line failed verification where the caller asked for strict reading.
    #[error("{}: corrupt line at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The log.
        path: PathBuf,
        /// Byte offset of the line's first byte.
        offset: u64,
        /// What is wrong with it.
        reason: LineError,
    },
    /// The file exists but is not an ndlog log; ndlog never appends to or repairs it.
    #[error("{}: not an ndlog log: {reason}", path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// Why it was not recognised.
        reason: String,
    },
    /// A payload was rejected before anything was written.
    #[error("{}: invalid payload{}: {reason}", path.display(), index_suffix(*index))]
    InvalidPayload {
        /// The log the payload was meant for.
        path: PathBuf,
        /// The payload's position in a batch, when it came in one.
        index: Option<usize>,
        /// What is wrong with it.
        reason: String,
    },
    /// A record would exceed the configured maximum size; nothing was written.
    #[error(
        "{}: record of {size} bytes exceeds the maximum record size of {max} bytes",
        path.display()
    )]
    RecordTooLarge {
        /// The log.
        path: PathBuf,
        /// The payload's size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An earlier `fdatasync` failed; this handle refuses appends until the log is reopened.
    #[error(
        "{}: writer poisoned: an earlier fdatasync failed ({cause}); data not yet synced may be \
         lost, so this handle refuses further appends: reopen the log",
        path.display()
    )]
    Poisoned {
        /// The log.
        path: PathBuf,
        /// The error the failed sync returned.
        cause: String,
    },
    /// A record's payload did not deserialise into the requested type.
    #[error("record {seq} at byte {offset}: payload does not match the requested type: {source}")]
    Deserialize {
        /// The record's seq.
        seq: u64,
        /// The record's byte offset.
        offset: u64,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A consumer's cursor file holds something else than a seq.
    #[error(
        "{}: not a cursor file: {reason}; it should hold the seq of the last record delivered \
         (digits and a newline): fix or remove it (without it the consumer starts at the first record)",
        path.display()
    )]
    BadCursor {
        /// The cursor file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A consumer's cursor was committed against another log than `log`: the record the
    /// cursor remembers (`FILE.record`, see [`crate::Cursor`]) is not `log`'s record of the
    /// same seq, so the log was removed and created again, or replaced, since. Following it
    /// from the cursor would skip records that were never delivered.
    #[error(
        "{}: committed against another log than {}: when committed, record {seq} had ts \
         {committed_ts} and crc {committed_crc:08x}, but the log's record {seq} has ts \
         {found_ts} and crc {found_crc:08x}: the log was created again or replaced since, so \
         remove {} and {} to start at this log's first record (or, if a crash took back records \
         delivered with --uncommitted and gave their seqs to others, remove {} alone to go on \
         after seq {after})",
        path.display(), log.display(), path.display(),
        crate::names::cursor_record(path).display(), crate::names::cursor_record(path).display()
    )]
    CursorOfAnotherLog {
        /// The cursor file.
        path: PathBuf,
        /// The log.
        log: PathBuf,
        /// The seq of the record compared.
        seq: u64,
        /// The cursor's seq.
        after: u64,
        /// Its ts when the cursor was committed.
        committed_ts: u64,
        /// Its CRC when the cursor was committed.
        committed_crc: u32,
        /// The ts of the log's record with that seq now.
        found_ts: u64,
        /// Its CRC.
        found_crc: u32,
    },
    /// A consumer's cursor was committed at a record (`FILE.record`, see [`crate::Cursor`])
    /// past the end of `log`: compaction and retention always keep a log's newest record, so
    /// the log was created again, truncated or restored from an older copy since, or lost its
    /// last records (to damage, or to a crash after they were delivered uncommitted).
    /// Following it from the cursor would skip the records written next.
    #[error(
        "{}: committed at record {seq}, but {} {}: the log was created again, truncated or \
         restored from an older copy since (or lost its last records: to damage, which `ndlog \
         verify` reports, or to a crash after they were delivered uncommitted); remove {} and \
         {} to start at the log's first record, or {} alone to go on after seq {after}",
        path.display(), log.display(),
        last.map_or("holds no record".to_string(), |l| format!("ends at seq {l}")),
        path.display(), crate::names::cursor_record(path).display(),
        crate::names::cursor_record(path).display()
    )]
    CursorPastLog {
        /// The cursor file.
        path: PathBuf,
        /// The log.
        log: PathBuf,
        /// The seq of the record the cursor remembers.
        seq: u64,
        /// The cursor's seq.
        after: u64,
        /// The log's last seq now (`None`: it holds no record).
        last: Option<u64>,
    },
    /// An argument or option value is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A conditional append ([`crate::Writer::append_if`]) found the log or an entity not as
    /// expected under the lock; nothing was written.
    #[error("{}: conflict: {}", path.display(), conflict_text(entity.as_deref(), *expected, *actual))]
    Conflict {
        /// The log.
        path: PathBuf,
        /// The seq the caller expected: the log's last seq, or the entity's newest record's
        /// seq (its version); 0 for an empty log or an entity without a record.
        expected: u64,
        /// What it was when the append was attempted.
        actual: u64,
        /// The entity (its value at the writer's entity key) when the expectation was on an
        /// entity's version; `None` for the log's last seq.
        entity: Option<String>,
    },
}

fn conflict_text(entity: Option<&str>, expected: u64, actual: u64) -> String {
    match entity {
        None => format!("expected the last seq to be {expected}, but it is {actual}"),
        Some(e) => format!(
            "expected entity {e:?} at version {expected}, but its newest record is seq {actual}{}",
            if actual == 0 { " (it has no record)" } else { "" }
        ),
    }
}

fn index_suffix(index: Option<usize>) -> String {
    index.map(|i| format!(" at batch index {i}")).unwrap_or_default()
}

impl Error {
    /// Whether this is an I/O error for a file that is not there (`ENOENT`): a segment that
    /// retention removed or a roll renamed between a listing and an open.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self.kind(), ErrorKind::Io { cause, .. } if cause.kind() == io::ErrorKind::NotFound)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error and returns what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match &*self.0 {
            ErrorKind::Io { path, .. }
            | ErrorKind::LockTimeout { path, .. }
            | ErrorKind::Corrupt { path, .. }
            | ErrorKind::NotALog { path, .. }
            | ErrorKind::InvalidPayload { path, .. }
            | ErrorKind::RecordTooLarge { path, .. }
            | ErrorKind::Poisoned { path, .. }
            | ErrorKind::Conflict { path, .. }
            | ErrorKind::BadCursor { path, .. }
            | ErrorKind::CursorOfAnotherLog { path, .. }
            | ErrorKind::CursorPastLog { path, .. } => Some(path),
            ErrorKind::InvalidArgument(_) | ErrorKind::Deserialize { .. } => None,
        }
    }

    /// The byte offset in the file the error is about, if any.
    pub fn offset(&self) -> Option<u64> {
        match &*self.0 {
            ErrorKind::Corrupt { offset, .. } | ErrorKind::Deserialize { offset, .. } => {
                Some(*offset)
            }
            _ => None,
        }
    }

    /// A copy for a second owner: the threads of one group commit share its leader's error, a
    /// writer keeps its index's last error. An OS error keeps its code; other causes keep
    /// their kind and text.
    pub(crate) fn duplicate(&self) -> Error {
        let copy_io = |e: &io::Error| match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        let kind = match &*self.0 {
            ErrorKind::Io { path, op, cause } => {
                ErrorKind::Io { path: path.clone(), op, cause: copy_io(cause) }
            }
            ErrorKind::LockTimeout { path, lock, waited } => {
                ErrorKind::LockTimeout { path: path.clone(), lock: lock.clone(), waited: *waited }
            }
            ErrorKind::Corrupt { path, offset, reason } => {
                ErrorKind::Corrupt { path: path.clone(), offset: *offset, reason: *reason }
            }
            ErrorKind::NotALog { path, reason } => {
                ErrorKind::NotALog { path: path.clone(), reason: reason.clone() }
            }
            ErrorKind::InvalidPayload { path, index, reason } => ErrorKind::InvalidPayload {
                path: path.clone(),
                index: *index,
                reason: reason.clone(),
            },
            ErrorKind::RecordTooLarge { path, size, max } => {
                ErrorKind::RecordTooLarge { path: path.clone(), size: *size, max: *max }
            }
            ErrorKind::Poisoned { path, cause } => {
                ErrorKind::Poisoned { path: path.clone(), cause: cause.clone() }
            }
            ErrorKind::Deserialize { seq, offset, source } => ErrorKind::Deserialize {
                seq: *seq,
                offset: *offset,
                source: serde::de::Error::custom(source.to_string()),
            },
            ErrorKind::InvalidArgument(message) => ErrorKind::InvalidArgument(message.clone()),
            ErrorKind::BadCursor { path, reason } => {
                ErrorKind::BadCursor { path: path.clone(), reason: reason.clone() }
            }
            ErrorKind::Conflict { path, expected, actual, entity } => ErrorKind::Conflict {
                path: path.clone(),
                expected: *expected,
                actual: *actual,
                entity: entity.clone(),
            },
            ErrorKind::CursorOfAnotherLog {
                path,
                log,
                seq,
                after,
                committed_ts,
                committed_crc,
                found_ts,
                found_crc,
            } => ErrorKind::CursorOfAnotherLog {
                path: path.clone(),
                log: log.clone(),
                seq: *seq,
                after: *after,
                committed_ts: *committed_ts,
                committed_crc: *committed_crc,
                found_ts: *found_ts,
                found_crc: *found_crc,
            },
            ErrorKind::CursorPastLog { path, log, seq, after, last } => ErrorKind::CursorPastLog {
                path: path.clone(),
                log: log.clone(),
                seq: *seq,
                after: *after,
                last: *last,
            },
        };
        kind.into()
    }

    pub(crate) fn io(path: &Path, op: &'static str, cause: io::Error) -> Self {
        ErrorKind::Io { path: path.to_path_buf(), op, cause }.into()
    }

    pub(crate) fn payload(path: &Path, index: Option<usize>, reason: impl Into<String>) -> Self {
        ErrorKind::InvalidPayload { path: path.to_path_buf(), index, reason: reason.into() }.into()
    }

    pub(crate) fn not_a_log(path: &Path, reason: impl Into<String>) -> Self {
        ErrorKind::NotALog { path: path.to_path_buf(), reason: reason.into() }.into()
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        ErrorKind::InvalidArgument(message.into()).into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err.kind() {
            ErrorKind::Io { cause, .. } => cause.kind(),
            ErrorKind::LockTimeout { .. } => io::ErrorKind::TimedOut,
            ErrorKind::Corrupt { .. }
            | ErrorKind::NotALog { .. }
            | ErrorKind::Deserialize { .. }
            | ErrorKind::BadCursor { .. }
            | ErrorKind::CursorOfAnotherLog { .. }
            | ErrorKind::CursorPastLog { .. } => io::ErrorKind::InvalidData,
            ErrorKind::InvalidPayload { .. }
            | ErrorKind::RecordTooLarge { .. }
            | ErrorKind::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            ErrorKind::Poisoned { .. } => io::ErrorKind::Other,
            ErrorKind::Conflict { .. } => io::ErrorKind::AlreadyExists,
        };
        io::Error::new(kind, err)
    }
}

/// Attaches a path and an operation name to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path, op: &'static str) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path, op: &'static str) -> Result<T> {
        self.map_err(|e| Error::io(path, op, e))
    }
}

/// Why a line is not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// Shorter than the smallest possible record.
    TooShort {
        /// The line's length without its newline.
        len: usize,
    },
    /// The line does not end with `,"crc":"xxxxxxxx"}` (eight lowercase hex digits).
    BadTrailer,
    /// The stored CRC does not match the CRC of the line's bytes.
    CrcMismatch {
        /// The CRC written in the trailer.
        stored: u32,
        /// The CRC of the bytes before the trailer.
        computed: u32,
    },
    /// The line does not start with `{"seq":` followed by a number.
    BadSeq,
    /// `,"ts":` and a number do not follow the seq.
    BadTs,
    /// `,"data":` and a non-empty payload do not follow the ts.
    BadData,
    /// The payload is not exactly one JSON value (checked only when the reader validates JSON).
    InvalidJson,
    /// The seq is not greater than the previous record's (only reported by verification).
    OutOfOrder {
        /// The seq of the previous valid record.
        previous: u64,
    },
    /// The ts is below the previous record's (only reported by verification): ts never
    /// decreases in file order.
    TsBackwards {
        /// The ts of the previous valid record.
        previous: u64,
    },
    /// Bytes after a file's last record that a reader did not read: more than it copies of
    /// what follows the last record (a file that is mostly not an ndlog log).
    NotRead,
    /// A line longer than any record can be (the largest record size a writer accepts, and its
    /// frame), passed on in pieces by a reader that does not map the file.
    TooLong,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LineError::TooShort { len } => write!(f, "line of {len} bytes is too short"),
            LineError::BadTrailer => f.write_str("no valid crc trailer"),
            LineError::CrcMismatch { stored, computed } => {
                write!(f, "crc mismatch (stored {stored:08x}, computed {computed:08x})")
            }
            LineError::BadSeq => f.write_str("malformed seq"),
            LineError::BadTs => f.write_str("malformed ts"),
            LineError::BadData => f.write_str("malformed data field"),
            LineError::InvalidJson => f.write_str("data is not one valid JSON value"),
            LineError::OutOfOrder { previous } => {
                write!(f, "seq not greater than the previous record's {previous}")
            }
            LineError::TsBackwards { previous } => {
                write!(f, "ts below the previous record's {previous}")
            }
            LineError::NotRead => f.write_str("not read: too much follows the last record"),
            LineError::TooLong => f.write_str("part of a line longer than any record can be"),
        }
    }
}
