//! The reader side: a thread that follows the log and hands the publisher each record as a
//! ready message, in seq order, with the gaps retention left and a mark when it has caught up.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage as Publish;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::msg_id::msg_id;
use super::options::Payload;
use crate::Log;
use crate::consume::Stopper;

/// How long the reader waits for a record before it says it has caught up.
const POLL: Duration = Duration::from_millis(100);

/// What the reader hands the publisher.
pub(super) enum Item {
    /// A record, as the message to publish.
    Record {
        /// Its seq.
        seq: u64,
        /// The message: payload and `Nats-Msg-Id`.
        message: Publish,
        /// The message's size as JetStream counts it (headers and payload).
        size: usize,
    },
    /// Retention removed the records `from..=to` before they were read.
    Gap {
        /// The first seq removed.
        from: u64,
        /// The last seq removed.
        to: u64,
    },
    /// Damaged lines the reader went past: records in them, if any, are not shipped.
    Damaged(crate::consume::Skipped),
    /// Seqs `from..=to` are not in the log (damage at a segment's end, or a segment file
    /// removed by hand): they are not shipped.
    Missing {
        /// The first seq missing.
        from: u64,
        /// The last seq missing.
        to: u64,
    },
    /// The log holds no newer record for now (with `once`, the reader ends after it).
    CaughtUp,
    /// The log could not be read; the reader ends.
    Failed(crate::Error),
}

/// What the reader needs: where to start and how to make messages.
pub(super) struct Source<'a> {
    pub log: &'a Path,
    pub after: u64,
    pub id: &'a str,
    pub payload: Payload,
    pub once: bool,
}

impl Source<'_> {
    /// Follows the log from after `after`, sending each item, until `stop` is stopped, the
    /// receiver is gone, the log fails, or (with `once`) it has caught up.
    pub(super) fn run(&self, tx: &mpsc::Sender<Item>, stop: &Stopper) {
        let mut follow = match Log::open(self.log) {
            Ok(log) => log.follow_after(self.after).stop_with(stop.clone()),
            Err(e) => {
                let _ = tx.blocking_send(Item::Failed(e));
                return;
            }
        };
        let header = header_len(self.id);
        let mut idle = false;
        let wait = if self.once { Duration::ZERO } else { POLL };
        while !stop.is_stopped() {
            let record = match follow.next_within(Some(wait)) {
                Ok(Some(r)) => {
                    let data = match self.payload {
                        Payload::Line => r.line,
                        Payload::Data => r.data,
                    };
                    let message = Publish::build()
                        .payload(Bytes::copy_from_slice(data))
                        .message_id(msg_id(self.id, r.seq));
                    Some(Item::Record { seq: r.seq, message, size: header + data.len() })
                }
                Ok(None) => None,
                Err(e) => {
                    let _ = tx.blocking_send(Item::Failed(e));
                    return;
                }
            };
            // A gap, damage or seqs missing are found before the record after them is
            // returned.
            let gap = follow.skipped().map(|(from, to)| Item::Gap { from, to });
            let damaged = std::iter::from_fn(|| follow.take_skipped().map(Item::Damaged));
            let damage = gap.into_iter().chain(damaged.collect::<Vec<_>>());
            let missing = follow.take_missing().map(|(from, to)| Item::Missing { from, to });
            for item in damage.chain(missing) {
                if tx.blocking_send(item).is_err() {
                    return;
                }
            }
            match record {
                Some(item) => {
                    idle = false;
                    if tx.blocking_send(item).is_err() {
                        return;
                    }
                }
                None => {
                    if !idle {
                        idle = true;
                        if tx.blocking_send(Item::CaughtUp).is_err() {
                            return;
                        }
                    }
                    if self.once {
                        return;
                    }
                }
            }
        }
    }
}

/// The bytes of the headers block of a message with id `id` and up to 20 digits of seq, as
/// NATS frames it (`NATS/1.0\r\nNats-Msg-Id: ...\r\n\r\n`): an upper bound for size checks.
fn header_len(id: &str) -> usize {
    "NATS/1.0\r\n".len() + "Nats-Msg-Id: ".len() + id.len() + 1 + 20 + "\r\n\r\n".len()
}
