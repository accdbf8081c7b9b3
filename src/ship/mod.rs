//! Shipping a log to NATS JetStream (feature `ship`): every record after a cursor, published
//! in seq order, one message per record, stored **exactly once** in the stream across crashes
//! and restarts of either side.
//!
//! - [`Shipper`] runs the loop: a reader thread follows the log ([`crate::Log::follow_after`],
//!   a single file or a segmented directory) and a publisher keeps a bounded window of PubAcks
//!   in flight ([`Options::window`]); the [`Cursor`](crate::consume::Cursor) advances (atomically) only past records
//!   JetStream acknowledged, in order. [`Stop`] ends it from another thread or a signal handler.
//! - [`Options`]: the server, the subject, the stream, and the pacing. [`Notice`]s report what
//!   a person should hear about (an outage, records retention removed before they were
//!   shipped); [`Error`] what stops the shipper.
//!
//! **Message ids.** Each message carries `Nats-Msg-Id: ID:SEQ`, where ID names the log (by
//! default `HOST:/canonical/path`, [`Options::id`]) and SEQ is the record's seq; JetStream
//! drops a message whose id it stored within the stream's duplicate window.
//!
//! **Why the stream holds each record once, in order.**
//! - Records are published in seq order on one connection, and what a connection delivers is a
//!   prefix of what was sent on it. The shipper never lets the client reconnect on its own
//!   (async-nats would, and would then send the publishes queued before the outage after some
//!   lost in it: out of order); a lost connection ends the session, and the next one publishes
//!   again from the first record not acknowledged. Repeats of stored records are dropped by
//!   the duplicate window, so the first copy of each record the stream stores comes in order.
//! - Each session first reads the stream's last message on the subject: when it is one of
//!   this log's records, the session starts after it (a shipper killed after a PubAck and before
//!   its cursor commit does not depend on the duplicate window), and when it is *older* than
//!   what was acknowledged (a server killed before its write reached its disk) it publishes the
//!   lost records again, with a [`Notice::Rewind`].
//! - A record JetStream refuses (other than through an outage) stops the shipper with
//!   [`ErrorKind::Refused`]; records larger than the stream's `max_msg_size` are refused before
//!   they are sent, so nothing after a refused record reaches the stream.
//!
//! Records are read as [`crate::Log::follow_after`] returns them: only records a sync made
//! durable (the durable watermark), so a power loss on the shipper's machine cannot take back
//! a record already shipped and give its seq to another.
//!
//! ```no_run
//! use ndlog::ship::{Options, Shipper};
//! let options = Options::new("nats://127.0.0.1:4222", "events.app")?.create_stream(true).once(true);
//! let mut cursor = ndlog::Cursor::load("events.ship-cursor")?;
//! let shipper = Shipper::new("events.ndjson", options);
//! let summary = shipper.run(&mut cursor, |notice| eprintln!("{notice}"))?;
//! println!("{} records shipped, cursor at {:?}", summary.shipped, summary.cursor);
//! # Ok::<(), ndlog::ship::Error>(())
//! ```

mod error;
mod link;
mod msg_id;
mod options;
mod run;
mod session;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, ErrorKind, Result};
pub use options::{
    DEFAULT_DUPLICATE_WINDOW, DEFAULT_WINDOW, MAX_DUPLICATE_WINDOW, Options, Payload, check_server,
    check_subject,
};
pub use run::Shipper;

/// How a shipper ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Caught up ([`Options::once`]): every record the log held is in the stream.
    CaughtUp,
    /// Stopped through [`Stop::stop`]; the records acknowledged so far are committed.
    Stopped,
    /// [`Options::strict`]: retention removed the records `from..=to` before they were
    /// shipped; the cursor stays before them.
    Gap {
        /// The first seq removed.
        from: u64,
        /// The last seq removed.
        to: u64,
    },
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How it ended.
    pub outcome: Outcome,
    /// Records JetStream acknowledged during the run (republished ones included).
    pub shipped: u64,
    /// How many of those the stream already held (dropped as duplicates).
    pub duplicates: u64,
    /// The cursor at the end: the last record shipped.
    pub cursor: Option<u64>,
    /// The stream, once found.
    pub stream: Option<String>,
}

/// Something a person running a shipper should hear about; the shipper goes on (see each).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The server could not be reached or the connection was lost: retrying with backoff
    /// until it is back (once per outage).
    Outage {
        /// The server URL, its password or token masked (`nats://user:***@host`).
        server: String,
        /// What failed.
        reason: String,
    },
    /// Retention removed the records `from..=to` before they were shipped.
    Lost {
        /// The log.
        log: PathBuf,
        /// The first seq removed.
        from: u64,
        /// The last seq removed.
        to: u64,
    },
    /// Damaged lines in the log: a record they held, if any, is not shipped; the shipper goes
    /// on past them (`ndlog verify` lists them).
    Damaged(crate::consume::Skipped),
    /// The seqs `from..=to` are not in a segmented log: a sealed segment's last records are
    /// damaged, or a segment file was removed by something other than retention. They are not
    /// shipped; the shipper goes on.
    Missing {
        /// The log.
        log: PathBuf,
        /// The first seq missing.
        from: u64,
        /// The last seq missing.
        to: u64,
    },
    /// The stream's last record of this log is older than one JetStream acknowledged: the
    /// server lost acknowledged messages (killed before its write reached its disk, or they
    /// were deleted); they are published again.
    Rewind {
        /// The stream.
        stream: String,
        /// This log's last record in the stream.
        stream_last: u64,
        /// The last record acknowledged.
        acked: u64,
    },
    /// The stream holds a record of this log's id past the log's last record: the log was
    /// created again at the same path, or another log ships under the same id. Records up to
    /// `stream_last` are taken as shipped.
    StreamAhead {
        /// The log.
        log: PathBuf,
        /// The stream.
        stream: String,
        /// The newest seq of this log's id in the stream.
        stream_last: u64,
        /// The log's last record.
        log_last: u64,
    },
    /// The stream did not exist and was created.
    Created {
        /// The stream.
        stream: String,
        /// Its subject.
        subject: String,
        /// Its duplicate window.
        duplicate_window: Duration,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Outage { server, reason } => write!(
                f,
                "{server}: NATS server unreachable ({reason}); retrying with backoff until it \
                 is back, nothing is skipped"
            ),
            Notice::Lost { log, from, to } => write!(
                f,
                "{}: {} record(s) (seqs {from}..={to}) were removed by retention before they \
                 were shipped; the first seq still present is {}",
                log.display(),
                to - from + 1,
                to + 1
            ),
            Notice::Damaged(skipped) => write!(
                f,
                "{}: skipped {} damaged line(s), the first at byte {}; a record they held is not \
                 shipped (`ndlog verify` lists them)",
                skipped.file.display(),
                skipped.lines,
                skipped.first_offset
            ),
            Notice::Missing { log, from, to } => write!(
                f,
                "{}: seqs {from}..={to} are not in the log (a sealed segment's last records are \
                 damaged, or a segment file was removed by something other than retention: \
                 `ndlog verify` says which); they are not shipped",
                log.display()
            ),
            Notice::Rewind { stream, stream_last, acked } => {
                match stream_last {
                    0 => write!(f, "stream {stream:?} holds none of this log's records")?,
                    _ => write!(
                        f,
                        "stream {stream:?} holds this log's records only up to seq {stream_last}"
                    )?,
                }
                write!(
                    f,
                    ", but JetStream acknowledged up to seq {acked}: the server lost \
                     acknowledged messages (killed before they reached its disk?); publishing \
                     seqs {}..={acked} again",
                    stream_last + 1
                )
            }
            Notice::StreamAhead { log, stream, stream_last, log_last } => write!(
                f,
                "{}: stream {stream:?} holds seq {stream_last} of this log's id, past the log's \
                 last record (seq {log_last}); records up to seq {stream_last} will not be \
                 shipped: was the log created again? Ship it with another --id",
                log.display()
            ),
            Notice::Created { stream, subject, duplicate_window } => write!(
                f,
                "created stream {stream:?} (subject {subject:?}, file storage, duplicate window \
                 {}s)",
                duplicate_window.as_secs()
            ),
        }
    }
}

/// Stops a [`Shipper`] from another thread (or a signal handler's thread): it stops reading,
/// waits a moment for the PubAcks in flight, commits the cursor and returns
/// [`Outcome::Stopped`].
///
/// # Example
/// ```
/// let stop = ndlog::ship::Stop::new();
/// let clone = stop.clone();
/// clone.stop();
/// assert!(stop.is_stopped());
/// ```
#[derive(Clone, Debug)]
pub struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    /// A stopper that has not stopped anything yet.
    pub fn new() -> Self {
        Stop(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Stops every shipper using this stopper.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}
