//! One session: connect, find the stream, learn what it already holds of this log, then
//! publish the records after that in seq order with a bounded window of PubAcks in flight,
//! advancing the cursor only past records acknowledged in order.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{mpsc, watch};

use super::error::ErrorKind;
use super::link::{self, Fault, Last, Link, chain};
use super::options::Options;
use super::source::{Item, Source};
use super::{Notice, Outcome};
use crate::consume::{Cursor, Stopper};

/// Records the reader may have ready beyond the window.
const READ_AHEAD: usize = 1024;

/// What a shipper knows across sessions.
pub(super) struct Progress<'c> {
    pub log: PathBuf,
    pub id: Arc<str>,
    pub cursor: &'c mut Cursor,
    /// The highest seq acknowledged in order (or found in the stream): every record up to it
    /// is in the stream, or was lost to retention before it was read.
    pub acked: u64,
    committed_at: Instant,
    /// Records acknowledged, and how many of them the stream already held.
    pub shipped: u64,
    pub duplicates: u64,
    /// The highest stream sequence a PubAck of this process named: a stream whose last
    /// sequence is below it lost acknowledged messages.
    acked_stream_seq: u64,
    /// The last seq of a gap already reported.
    reported_to: u64,
    /// Damage and missing seqs already reported.
    said: Said,
    /// The stream, once found.
    pub stream: Option<String>,
    /// Whether a connection ever succeeded, and whether this session made progress (a PubAck,
    /// or caught up with nothing in flight): an outage after it is a new one.
    pub connected: bool,
    pub healthy: bool,
    created_notice: bool,
    /// The reader thread of the session, and what stops it.
    pub reader: Option<(std::thread::JoinHandle<()>, Stopper)>,
}

impl<'c> Progress<'c> {
    pub(super) fn new(log: PathBuf, id: Arc<str>, cursor: &'c mut Cursor) -> Self {
        let acked = cursor.after_seq().unwrap_or(0);
        Progress {
            log,
            id,
            cursor,
            acked,
            committed_at: Instant::now(),
            shipped: 0,
            duplicates: 0,
            acked_stream_seq: 0,
            reported_to: 0,
            said: Said::default(),
            stream: None,
            connected: false,
            healthy: false,
            created_notice: false,
            reader: None,
        }
    }

    /// Commits the cursor at `acked` when it is behind.
    pub(super) fn commit(&mut self) -> crate::Result<()> {
        if self.acked > self.cursor.after_seq().unwrap_or(0) {
            // The log is checked to be still the one shipped before the cursor moves (the
            // reader goes on at the next seq of whatever log is at the path), then the cursor
            // remembers the record it is now at (FILE.record), so that a restart tells a log
            // created again from this one. A log that cannot be read at this moment (a
            // retention racing the lookup) only leaves an older record remembered. Only the
            // records compared are read (one segment, not the whole log's).
            self.cursor.check_log_at(&self.log)?;
            self.cursor.commit(self.acked)?;
            self.cursor.remember_log_at(&self.log);
        }
        self.committed_at = Instant::now();
        Ok(())
    }

    /// Record `seq` is in the stream, as `ack` says (acknowledgements come in seq order).
    fn take_ack(&mut self, seq: u64, ack: &PublishAck) {
        self.acked = self.acked.max(seq);
        self.acked_stream_seq = self.acked_stream_seq.max(ack.sequence);
        self.shipped += 1;
        self.duplicates += u64::from(ack.duplicate);
    }

    fn commit_if_due(&mut self, interval: Duration) -> crate::Result<()> {
        if self.committed_at.elapsed() >= interval {
            self.commit()?;
        }
        Ok(())
    }

    /// Stops the session's reader thread and waits for it.
    pub(super) fn stop_reader(&mut self) {
        if let Some((thread, stop)) = self.reader.take() {
            stop.stop();
            let _ = thread.join();
        }
    }
}

/// The damage and missing seqs a run reported, so that a session that reads past them again
/// (after an outage, from the last acknowledged record) does not report them again.
#[derive(Default)]
struct Said {
    /// The file and first offset of each stretch of damage reported, the latest
    /// [`Said::DAMAGE_KEPT`] of them.
    damage: VecDeque<(PathBuf, u64)>,
    /// The last missing seq reported: seqs only grow, so a stretch ending at or below it was.
    missing_to: u64,
}

impl Said {
    /// Memory stays bounded whatever a log holds; a session reads back at most its window, far
    /// fewer stretches than this.
    const DAMAGE_KEPT: usize = 1024;

    /// Whether `skipped` is new (it is then noted).
    fn damage(&mut self, skipped: &crate::consume::Skipped) -> bool {
        let at = |(file, offset): &(PathBuf, u64)| {
            *offset == skipped.first_offset && *file == skipped.file
        };
        if self.damage.iter().any(at) {
            return false;
        }
        if self.damage.len() == Self::DAMAGE_KEPT {
            self.damage.pop_front();
        }
        self.damage.push_back((skipped.file.clone(), skipped.first_offset));
        true
    }

    /// Whether missing seqs up to `to` are new (they are then noted).
    fn missing(&mut self, to: u64) -> bool {
        let new = to > self.missing_to;
        self.missing_to = self.missing_to.max(to);
        new
    }
}

type AckFuture = <PublishAckFuture as IntoFuture>::IntoFuture;

/// The records published and not acknowledged yet, oldest first.
struct Window {
    acks: FuturesOrdered<AckFuture>,
    seqs: VecDeque<u64>,
}

impl Window {
    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The next PubAck, in publish order, with its record's seq.
    async fn next(&mut self) -> Option<(u64, Result<PublishAck, PublishError>)> {
        let ack = self.acks.next().await?;
        Some((self.seqs.pop_front()?, ack))
    }
}

/// One session, from connecting to the end: the outcome when the shipper is done (caught up
/// with `once`, stopped, or a gap with `strict`), or the fault that ended it.
pub(super) async fn run(
    options: &Options,
    progress: &mut Progress<'_>,
    stop: &mut watch::Receiver<bool>,
    notices: &mut dyn FnMut(&Notice),
) -> Result<Outcome, Fault> {
    // Setting up waits on the server (bounded by the timeouts); a stop cuts it short.
    let setup = tokio::select! {
        biased;
        Ok(_) = stop.wait_for(|s| *s) => return Ok(Outcome::Stopped),
        setup = setup(options, progress, notices) => setup?,
    };
    let (link, name, max_size, start) = setup;
    let (tx, mut rx) = mpsc::channel(options.window + READ_AHEAD);
    start_reader(options, progress, start, tx)?;
    let publisher = Publisher { options, link: &link, stream: &name, max_size };
    publisher.publish(progress, &mut rx, stop, notices).await
}

/// Connects, finds (or creates) the stream, and decides where to start: after the cursor, or
/// after this log's last record in the stream when that differs.
async fn setup(
    options: &Options,
    progress: &mut Progress<'_>,
    notices: &mut dyn FnMut(&Notice),
) -> Result<(Link, String, Option<usize>, u64), Fault> {
    let link = link::connect(options).await?;
    progress.connected = true;
    let (stream, created) = link::stream(&link, options).await?;
    let config = &stream.cached_info().config;
    let name = config.name.clone();
    if created && !progress.created_notice {
        progress.created_notice = true;
        notices(&Notice::Created {
            stream: name.clone(),
            subject: options.subject.clone(),
            duplicate_window: config.duplicate_window,
        });
    }
    let max_size = usize::try_from(config.max_message_size).ok();
    let stream_last_seq = stream.cached_info().state.last_sequence;
    progress.stream = Some(name.clone());
    let start = match link::last(&stream, options, &progress.id).await? {
        Last::Ours(last) if last > progress.acked => {
            // Acknowledged before a crash that left the cursor behind: on from there.
            let log_last = crate::Log::open(&progress.log)?.last().map_or(0, |r| r.seq);
            if last > log_last {
                notices(&Notice::StreamAhead {
                    log: progress.log.clone(),
                    stream: name.clone(),
                    stream_last: last,
                    log_last,
                });
            }
            progress.acked = last;
            progress.commit()?;
            last
        }
        Last::Ours(last) if last < progress.acked => {
            notices(&Notice::Rewind {
                stream: name.clone(),
                stream_last: last,
                acked: progress.acked,
            });
            last
        }
        // None of this log's records is left, but the stream acknowledged some, at stream
        // sequences it no longer reaches: it lost them all.
        Last::Empty if progress.acked > 0 && progress.acked_stream_seq > stream_last_seq => {
            notices(&Notice::Rewind {
                stream: name.clone(),
                stream_last: 0,
                acked: progress.acked,
            });
            0
        }
        _ => progress.acked,
    };
    Ok((link, name, max_size, start))
}

/// Starts the session's reader thread, following the log after `start`.
fn start_reader(
    options: &Options,
    progress: &mut Progress<'_>,
    start: u64,
    tx: mpsc::Sender<Item>,
) -> Result<(), Fault> {
    let stop = Stopper::new();
    let (log, id, payload, once) =
        (progress.log.clone(), progress.id.clone(), options.payload, options.once);
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("ndlog-ship-reader".into())
        .spawn(move || {
            let source = Source { log: &log, after: start, id: &id, payload, once };
            source.run(&tx, &thread_stop);
        })
        .map_err(|cause| ErrorKind::Runtime { what: "starting the reader thread", cause })
        .map_err(|e| Fault::Fatal(e.into()))?;
    progress.reader = Some((thread, stop));
    Ok(())
}

/// The publishing loop of a session.
struct Publisher<'a> {
    options: &'a Options,
    link: &'a Link,
    stream: &'a str,
    max_size: Option<usize>,
}

impl Publisher<'_> {
    async fn publish(
        &self,
        progress: &mut Progress<'_>,
        rx: &mut mpsc::Receiver<Item>,
        stop: &mut watch::Receiver<bool>,
        notices: &mut dyn FnMut(&Notice),
    ) -> Result<Outcome, Fault> {
        let subject = async_nats::Subject::from(self.options.subject.as_str());
        let mut window = Window { acks: FuturesOrdered::new(), seqs: VecDeque::new() };
        let mut lost = self.link.lost.clone();
        let mut tick = tokio::time::interval(self.options.commit_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut caught_up = false;
        let mut reading = true;
        let mut gap = None;
        loop {
            if window.is_empty() && (caught_up || gap.is_some()) {
                progress.healthy = true;
                progress.commit()?;
                if let Some((from, to)) = gap {
                    return Ok(Outcome::Gap { from, to });
                }
                if self.options.once && !reading {
                    return Ok(Outcome::CaughtUp);
                }
            }
            tokio::select! {
                biased;
                Ok(_) = stop.wait_for(|s| *s) => {
                    self.drain(&mut window, progress).await;
                    progress.commit()?;
                    return Ok(Outcome::Stopped);
                }
                Ok(_) = lost.wait_for(|l| *l) => {
                    return Err(Fault::Outage("the connection was lost".into()));
                }
                Some((seq, ack)) = window.next(), if !window.is_empty() => {
                    self.acknowledged(progress, seq, ack)?;
                    progress.commit_if_due(self.options.commit_interval)?;
                }
                item = rx.recv(), if reading && window.len() < self.options.window => match item {
                    Some(Item::Record { seq, message, size }) => {
                        caught_up = false;
                        if let Some(max) = self.max_size.filter(|&max| size > max) {
                            return Err(self.refused(progress, seq, format!(
                                "the message would be {size} bytes and the stream takes at most \
                                 {max} (its max_msg_size): raise the stream's limit"
                            )));
                        }
                        let ack = self.link.js.send_publish(subject.clone(), message).await
                            .map_err(|e| self.publish_fault(progress, seq, &e))?;
                        window.acks.push_back(ack.into_future());
                        window.seqs.push_back(seq);
                    }
                    Some(Item::Gap { from, to }) => {
                        if to > progress.reported_to {
                            progress.reported_to = to;
                            notices(&Notice::Lost { log: progress.log.clone(), from, to });
                        }
                        if self.options.strict {
                            // Nothing after the gap is published; what came before is
                            // acknowledged, then the shipper stops.
                            reading = false;
                            gap = Some((from, to));
                        }
                    }
                    Some(Item::Damaged(skipped)) => {
                        if progress.said.damage(&skipped) {
                            notices(&Notice::Damaged(skipped));
                        }
                    }
                    Some(Item::Missing { from, to }) => {
                        if progress.said.missing(to) {
                            notices(&Notice::Missing { log: progress.log.clone(), from, to });
                        }
                    }
                    Some(Item::CaughtUp) => caught_up = true,
                    Some(Item::Failed(e)) => return Err(e.into()),
                    // The reader ends by itself only with `once`, after it caught up.
                    None => {
                        reading = false;
                        if !(self.options.once && caught_up) {
                            return Err(Fault::Outage("the log reader ended".into()));
                        }
                    }
                },
                _ = tick.tick() => progress.commit_if_due(self.options.commit_interval)?,
            }
        }
    }

    /// Takes a PubAck (or its failure) for record `seq`.
    fn acknowledged(
        &self,
        progress: &mut Progress<'_>,
        seq: u64,
        ack: Result<PublishAck, PublishError>,
    ) -> Result<(), Fault> {
        let ack = ack.map_err(|e| self.publish_fault(progress, seq, &e))?;
        progress.take_ack(seq, &ack);
        progress.healthy = true;
        Ok(())
    }

    /// Waits a while for the PubAcks in flight (a clean stop), taking those that come.
    async fn drain(&self, window: &mut Window, progress: &mut Progress<'_>) {
        // A timeout past what the clock can add (Duration::MAX) waits as long as it can.
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(self.options.ack_timeout).unwrap_or(now + link::NEVER);
        while let Ok(Some((seq, Ok(ack)))) = tokio::time::timeout_at(deadline, window.next()).await
        {
            progress.take_ack(seq, &ack);
        }
    }

    /// What a failed publish of record `seq` means: an outage when the connection or the
    /// server did not answer, else the record was refused.
    fn publish_fault(&self, progress: &Progress<'_>, seq: u64, e: &PublishError) -> Fault {
        let unavailable = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
            .is_some_and(|js| js.code() == 503);
        match e.kind() {
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                Fault::Outage(format!("no PubAck for record seq {seq}: {}", chain(e)))
            }
            PublishErrorKind::StreamNotFound => Fault::Outage(format!(
                "no JetStream stream answered for record seq {seq} (no responders)"
            )),
            _ if unavailable => Fault::Outage(format!("record seq {seq}: {}", chain(e))),
            _ => self.refused(progress, seq, chain(e)),
        }
    }

    fn refused(&self, progress: &Progress<'_>, seq: u64, reason: String) -> Fault {
        Fault::Fatal(
            ErrorKind::Refused {
                log: progress.log.clone(),
                seq,
                stream: self.stream.to_string(),
                reason,
            }
            .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::Skipped;

    fn skipped(file: &str, first_offset: u64) -> Skipped {
        Skipped { file: file.into(), first_offset, lines: 1 }
    }

    #[test]
    fn damage_and_missing_seqs_are_reported_once_a_run() {
        let mut said = Said::default();
        assert!(said.damage(&skipped("a", 10)));
        assert!(said.damage(&skipped("a", 99)));
        assert!(said.damage(&skipped("b", 10)), "another segment's damage at the same offset");
        // A later session goes past the same damage again.
        assert!(!said.damage(&skipped("a", 10)));
        assert!(!said.damage(&skipped("b", 10)));
        assert!(said.missing(50));
        assert!(!said.missing(50));
        assert!(!said.missing(40));
        assert!(said.missing(51));
        // Bounded: the oldest stretch is forgotten first.
        for i in 0..Said::DAMAGE_KEPT as u64 {
            said.damage(&skipped("c", i));
        }
        assert_eq!(said.damage.len(), Said::DAMAGE_KEPT);
        assert!(said.damage(&skipped("a", 10)), "forgotten, so reported again");
    }
}
