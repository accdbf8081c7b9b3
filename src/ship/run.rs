//! The shipper's outer loop: sessions one after another, each on a runtime of its own, with
//! backoff between them while the server is away.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{ErrorKind, Result};
use super::link::Fault;
use super::msg_id::default_id;
use super::options::Options;
use super::session::{self, Progress};
use super::{Notice, Outcome, Stop, Summary};
use crate::consume::Cursor;

/// The first wait after a failed session; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts while the server is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Ships a log to JetStream: see the [module docs](super).
///
/// # Example
/// ```no_run
/// use ndlog::ship::{Options, Shipper};
/// let shipper = Shipper::new("events.ndjson", Options::new("nats://127.0.0.1:4222", "events")?);
/// let stop = shipper.stopper(); // stop.stop() from any thread ends run() cleanly
/// let mut cursor = ndlog::Cursor::load("events.ship-cursor")?;
/// shipper.run(&mut cursor, |notice| eprintln!("ship: {notice}"))?;
/// # Ok::<(), ndlog::ship::Error>(())
/// ```
#[derive(Debug)]
pub struct Shipper {
    log: PathBuf,
    options: Options,
    stop: Stop,
}

impl Shipper {
    /// A shipper of the log at `log` (a file or a segmented log's directory).
    pub fn new(log: impl AsRef<Path>, options: Options) -> Self {
        Shipper { log: log.as_ref().to_path_buf(), options, stop: Stop::new() }
    }

    /// Uses `stop` instead of the shipper's own [`Stop`].
    #[must_use]
    pub fn stop_with(mut self, stop: Stop) -> Self {
        self.stop = stop;
        self
    }

    /// A handle that stops this shipper from another thread.
    pub fn stopper(&self) -> Stop {
        self.stop.clone()
    }

    /// Ships every record after `cursor` until caught up ([`Options::once`]), stopped, or (with
    /// [`Options::strict`]) retention removed records before they were shipped; `notices` hears
    /// about outages and lost records as they happen. Blocks the calling thread: it runs its
    /// own small tokio runtime (one per connection), so call it from a thread of its own, or
    /// `spawn_blocking`, in an async program.
    ///
    /// The cursor is committed as records are acknowledged (at most
    /// [`Options::commit_interval`] apart), when caught up, and before returning, errors
    /// included.
    ///
    /// # Errors
    /// [`ErrorKind::Log`] when the log cannot be read or the cursor not committed;
    /// [`ErrorKind::NoStream`], [`ErrorKind::NoStreamForSubject`] or
    /// [`ErrorKind::SubjectNotInStream`] when there is no stream to publish to;
    /// [`ErrorKind::Unreachable`] when the server cannot be reached within the limits chosen
    /// ([`Options::fail_fast`], [`Options::give_up_after`]); [`ErrorKind::Refused`] when
    /// JetStream refuses a record; [`ErrorKind::JetStream`] for other failed requests.
    pub fn run(&self, cursor: &mut Cursor, mut notices: impl FnMut(&Notice)) -> Result<Summary> {
        // A log that cannot be opened is an error now, not an outage later; so is a file
        // that holds no ndlog record (a plain NDJSON or CSV file, say).
        let log = crate::Log::open(&self.log)?;
        if let crate::Log::File(reader) = &log
            && reader.last().is_none()
            && reader.entries().next().is_some()
        {
            let reason = "no line is an ndlog record (seq, ts, data and a CRC trailer)";
            return Err(crate::Error::not_a_log(&self.log, reason).into());
        }
        // A cursor of another log (this one was created again since) would skip records, and
        // their message ids would be JetStream's duplicates of the old log's.
        cursor.check(&log)?;
        drop(log);
        let id: Arc<str> = match &self.options.id {
            Some(id) => id.as_str().into(),
            None => default_id(&self.log)?.into(),
        };
        let mut progress = Progress::new(self.log.clone(), id, cursor);
        let result = self.sessions(&mut progress, &mut notices);
        progress.stop_reader();
        // Whatever happened, what was acknowledged stays acknowledged.
        let committed = progress.commit();
        let outcome = result?;
        committed?;
        Ok(Summary {
            outcome,
            shipped: progress.shipped,
            duplicates: progress.duplicates,
            cursor: progress.cursor.after_seq(),
            stream: progress.stream.clone(),
        })
    }

    /// Runs sessions until one ends the shipper.
    fn sessions(
        &self,
        progress: &mut Progress<'_>,
        notices: &mut dyn FnMut(&Notice),
    ) -> Result<Outcome> {
        let options = &self.options;
        let mut backoff = FIRST_BACKOFF;
        let mut outage: Option<Instant> = None;
        loop {
            if self.stop.is_stopped() {
                return Ok(Outcome::Stopped);
            }
            progress.healthy = false;
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(
                    |cause| ErrorKind::Runtime { what: "starting the tokio runtime", cause },
                )?;
            let mut stop = self.stop.subscribe();
            let result = runtime.block_on(session::run(options, progress, &mut stop, notices));
            // Dropping the runtime drops the client, its connection and its tasks.
            drop(runtime);
            progress.stop_reader();
            let reason = match result {
                Ok(outcome) => return Ok(outcome),
                Err(Fault::Fatal(e)) => return Err(e),
                Err(Fault::Outage(reason)) => reason,
            };
            if progress.healthy {
                outage = None;
                backoff = FIRST_BACKOFF;
            }
            let unreachable = || ErrorKind::Unreachable {
                server: options.server_shown.clone(),
                reason: reason.clone(),
            };
            match outage {
                None if options.fail_fast && !progress.connected => {
                    return Err(unreachable().into());
                }
                None => {
                    notices(&Notice::Outage {
                        server: options.server_shown.clone(),
                        reason: reason.clone(),
                    });
                    outage = Some(Instant::now());
                }
                Some(since) => {
                    if options.give_up_after.is_some_and(|limit| since.elapsed() >= limit) {
                        return Err(unreachable().into());
                    }
                }
            }
            progress.commit()?;
            self.pause(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Waits `d`, or until stopped.
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stop.is_stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}
