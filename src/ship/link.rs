//! One connection to the server, its stream, and what the stream already holds of this log.
//!
//! A connection is never reconnected: async-nats would, on its own, and then send the publishes
//! queued before the outage after some that were lost in it, so that the stream would store
//! records out of order. Instead the first connection loss ends the session (the shipper drops
//! the client with its runtime) and the next session republishes from the first record not
//! acknowledged. What one connection delivers is a prefix of what was sent on it, so with
//! JetStream's duplicate detection the stream stores each record once and in seq order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamByNameErrorKind;
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::stream::{Config, LastRawMessageErrorKind, StorageType, Stream};
use async_nats::{ConnectErrorKind, Event};
use tokio::sync::watch;

use super::error::{Error, ErrorKind};
use super::msg_id::seq_of;
use super::options::Options;

/// Longer than any shipper runs: the reconnect delay that keeps async-nats from reconnecting.
pub(super) const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Why a session ended without finishing.
#[derive(Debug)]
pub(super) enum Fault {
    /// The server could not be reached, or the connection was lost: retry.
    Outage(String),
    /// Stop with this error.
    Fatal(Error),
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Fault::Fatal(e)
    }
}

impl From<crate::Error> for Fault {
    fn from(e: crate::Error) -> Self {
        Fault::Fatal(e.into())
    }
}

/// A connection and its JetStream context.
pub(super) struct Link {
    pub js: async_nats::jetstream::Context,
    /// Becomes true when the connection is lost.
    pub lost: watch::Receiver<bool>,
}

/// What the stream's last message on the subject says about this log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Last {
    /// The subject holds no message.
    Empty,
    /// The last message is this log's record `seq`.
    Ours(u64),
    /// The last message is not one of this log's.
    Other,
}

/// Connects once, without reconnecting later.
pub(super) async fn connect(options: &Options) -> Result<Link, Fault> {
    let (lost_tx, lost) = watch::channel(false);
    let lost_tx = Arc::new(lost_tx);
    let connected = Arc::new(AtomicBool::new(false));
    let client = async_nats::ConnectOptions::new()
        .name("ndlog ship")
        .connection_timeout(options.connect_timeout)
        .ping_interval(Duration::from_secs(10))
        .request_timeout(Some(options.ack_timeout))
        // The first attempt is the connection; every later one would be a reconnect.
        .reconnect_delay_callback(move |_| {
            if connected.swap(true, Ordering::Relaxed) { NEVER } else { Duration::ZERO }
        })
        .event_callback(move |event| {
            let lost_tx = lost_tx.clone();
            async move {
                if matches!(event, Event::Disconnected | Event::Closed) {
                    lost_tx.send_replace(true);
                }
            }
        })
        .connect(options.server.as_str())
        .await
        .map_err(|e| match e.kind() {
            ConnectErrorKind::Io | ConnectErrorKind::TimedOut | ConnectErrorKind::Dns => {
                Fault::Outage(chain(&e))
            }
            _ => Fault::Fatal(jetstream_error(options, "connecting", &e)),
        })?;
    let js = async_nats::jetstream::context::ContextBuilder::new()
        .timeout(options.ack_timeout)
        .max_ack_inflight(options.window + 16)
        .backpressure_on_inflight(true)
        .build(client);
    Ok(Link { js, lost })
}

fn jetstream_error(options: &Options, what: &str, e: &dyn std::error::Error) -> Error {
    let reason = chain(e);
    ErrorKind::JetStream { server: options.server_shown.clone(), what: what.to_string(), reason }
        .into()
}

/// The stream the subject's messages go to: the one named (which must take the subject), or
/// the one that takes the subject; created when asked and missing. Says whether it created it.
pub(super) async fn stream(link: &Link, options: &Options) -> Result<(Stream, bool), Fault> {
    let name = match &options.stream {
        Some(name) => name.clone(),
        None => match link.js.stream_by_subject(options.subject.as_str()).await {
            Ok(name) => name,
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => {
                if !options.create_stream {
                    return Err(Fault::Fatal(
                        ErrorKind::NoStreamForSubject {
                            server: options.server_shown.clone(),
                            subject: options.subject.clone(),
                        }
                        .into(),
                    ));
                }
                return create(link, options, &options.stream_to_create()).await;
            }
            Err(e) => {
                return Err(request_fault(options, "looking up the stream of the subject", &e));
            }
        },
    };
    let stream = match link.js.get_stream(&name).await {
        Ok(stream) => stream,
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(err)
                if err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                if !options.create_stream {
                    return Err(Fault::Fatal(
                        ErrorKind::NoStream {
                            server: options.server_shown.clone(),
                            stream: name,
                            subject: options.subject.clone(),
                        }
                        .into(),
                    ));
                }
                return create(link, options, &name).await;
            }
            GetStreamErrorKind::Request => {
                return Err(Fault::Outage(format!("getting stream {name:?}: {}", chain(&e))));
            }
            _ => {
                return Err(Fault::Fatal(jetstream_error(
                    options,
                    &format!("getting stream {name:?}"),
                    &e,
                )));
            }
        },
    };
    let subjects = &stream.cached_info().config.subjects;
    if !subjects.iter().any(|pattern| subject_matches(pattern, &options.subject)) {
        return Err(Fault::Fatal(
            ErrorKind::SubjectNotInStream {
                stream: name,
                subject: options.subject.clone(),
                subjects: subjects.clone(),
            }
            .into(),
        ));
    }
    Ok((stream, false))
}

/// Creates the stream `name`: file storage, the subject, the chosen duplicate window.
async fn create(link: &Link, options: &Options, name: &str) -> Result<(Stream, bool), Fault> {
    let config = Config {
        name: name.to_string(),
        subjects: vec![options.subject.clone()],
        storage: StorageType::File,
        duplicate_window: options.duplicate_window,
        ..Config::default()
    };
    match link.js.create_stream(config).await {
        Ok(stream) => Ok((stream, true)),
        Err(e) if matches!(e.kind(), CreateStreamErrorKind::TimedOut) => {
            Err(Fault::Outage(format!("creating stream {name:?}: {}", chain(&e))))
        }
        Err(e) => {
            Err(Fault::Fatal(jetstream_error(options, &format!("creating stream {name:?}"), &e)))
        }
    }
}

/// A failed request: an outage when no answer came, else fatal.
fn request_fault(options: &Options, what: &str, e: &(dyn std::error::Error + 'static)) -> Fault {
    let text = chain(e);
    if text.contains("timed out") || text.contains("no responders") || text.contains("disconnected")
    {
        Fault::Outage(format!("{what}: {text}"))
    } else {
        Fault::Fatal(jetstream_error(options, what, e))
    }
}

/// An error and its causes on one line.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// What the stream's last message on the subject says about the log `id`.
pub(super) async fn last(stream: &Stream, options: &Options, id: &str) -> Result<Last, Fault> {
    match stream.get_last_raw_message_by_subject(&options.subject).await {
        Ok(message) => Ok(message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .and_then(|v| seq_of(id, v.as_str()))
            .map_or(Last::Other, Last::Ours)),
        Err(e) => match e.kind() {
            LastRawMessageErrorKind::NoMessageFound => Ok(Last::Empty),
            LastRawMessageErrorKind::JetStream(err)
                if err.error_code() == ErrorCode::NO_MESSAGE_FOUND =>
            {
                Ok(Last::Empty)
            }
            LastRawMessageErrorKind::JetStream(_) | LastRawMessageErrorKind::InvalidSubject => {
                Err(Fault::Fatal(jetstream_error(options, "reading the stream's last message", &e)))
            }
            _ => Err(Fault::Outage(format!("reading the stream's last message: {}", chain(&e)))),
        },
    }
}

/// Whether the stream subject `pattern` (with `*` for one token, `>` for the rest) takes
/// `subject`.
pub(super) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for p in pattern.split('.') {
        match (p, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn stream_subjects_match_as_nats_does() {
        assert!(subject_matches("events", "events"));
        assert!(subject_matches("events.*", "events.app"));
        assert!(subject_matches("events.>", "events.app.1"));
        assert!(subject_matches(">", "a"));
        assert!(!subject_matches("events.*", "events"));
        assert!(!subject_matches("events.*", "events.app.1"));
        assert!(!subject_matches("events.>", "events"));
        assert!(!subject_matches("events", "events.app"));
        assert!(!subject_matches("other", "events"));
    }
}
