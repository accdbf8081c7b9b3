//! How a shipper connects, where it publishes and how it paces itself; each value checked
//! where it is given.

use std::time::Duration;

use super::error::{ErrorKind, Result};

/// PubAcks awaited at once by default: enough to keep a local server busy (see
/// BENCHMARKS.md, "Shipping to NATS JetStream"), small enough that a republish after an outage
/// is short.
pub const DEFAULT_WINDOW: usize = 512;

/// The duplicate window of a stream the shipper creates (`--create-stream`): JetStream's own
/// default. A record is republished only after an outage or a restart, within seconds of its
/// first publish (and a restarted shipper first asks the stream which of its records it holds),
/// so two minutes is ample; the server keeps every message id of the window in memory, about
/// six million ids at 50,000 records/s.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The longest duplicate window JetStream takes: a stream's configuration holds it as an int64
/// of nanoseconds (about 292 years); a longer one would reach the server negative.
pub const MAX_DUPLICATE_WINDOW: Duration = Duration::from_nanos(i64::MAX.unsigned_abs());

/// What each message carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Payload {
    /// The record's whole line, without its newline (seq, ts, data and CRC).
    #[default]
    Line,
    /// The record's payload only (`--data`).
    Data,
}

/// Where and how to ship: the server, the subject, and the shipper's pacing.
///
/// # Example
/// ```
/// use std::time::Duration;
/// let options = ndlog::ship::Options::new("nats://127.0.0.1:4222", "events.app")?
///     .stream("EVENTS")?
///     .create_stream(true)
///     .payload(ndlog::ship::Payload::Data)
///     .once(true);
/// assert_eq!(options.subject(), "events.app");
/// assert!(ndlog::ship::Options::new("http://x", "events").is_err());
/// assert!(ndlog::ship::Options::new("nats://127.0.0.1:4222", "events.*").is_err());
/// # Ok::<(), ndlog::ship::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(super) server: String,
    /// The server URL as messages show it: its password or token masked.
    pub(super) server_shown: String,
    pub(super) subject: String,
    pub(super) stream: Option<String>,
    pub(super) create_stream: bool,
    pub(super) duplicate_window: Duration,
    pub(super) payload: Payload,
    pub(super) id: Option<String>,
    pub(super) window: usize,
    pub(super) commit_interval: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) ack_timeout: Duration,
    pub(super) once: bool,
    pub(super) strict: bool,
    pub(super) fail_fast: bool,
    pub(super) give_up_after: Option<Duration>,
}

impl Options {
    /// Ships to the NATS server at `server` (`nats://HOST:PORT`, or `tls://`; user and password
    /// may come in the URL), publishing on `subject` (no wildcards).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--to` or `--subject` when one is malformed.
    pub fn new(server: &str, subject: &str) -> Result<Self> {
        check_server(server)?;
        check_subject(subject)?;
        Ok(Options {
            server: server.to_string(),
            server_shown: redacted(server),
            subject: subject.to_string(),
            stream: None,
            create_stream: false,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            payload: Payload::Line,
            id: None,
            window: DEFAULT_WINDOW,
            commit_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(5),
            once: false,
            strict: false,
            fail_fast: false,
            give_up_after: None,
        })
    }

    /// Publishes into the stream `name`, which must take the subject. Without it, the stream
    /// is the one whose subjects take the subject.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--stream` when `name` is not a valid stream name.
    pub fn stream(mut self, name: &str) -> Result<Self> {
        check_stream_name(name)?;
        self.stream = Some(name.to_string());
        Ok(self)
    }

    /// Creates the stream when it does not exist: file storage, the subject as its only
    /// subject, [`DEFAULT_DUPLICATE_WINDOW`]. Its name is [`Options::stream`]'s, or else the
    /// subject with every character other than a letter, digit, `-` or `_` replaced by `_`
    /// (`events.app` → `events_app`).
    #[must_use]
    pub fn create_stream(mut self, create: bool) -> Self {
        self.create_stream = create;
        self
    }

    /// The duplicate window of a stream [`Options::create_stream`] creates (default
    /// [`DEFAULT_DUPLICATE_WINDOW`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--duplicate-window` when `window` is zero (JetStream
    /// would take it as its default, two minutes) or longer than [`MAX_DUPLICATE_WINDOW`].
    pub fn duplicate_window(mut self, window: Duration) -> Result<Self> {
        if window.is_zero() || window > MAX_DUPLICATE_WINDOW {
            return Err(invalid(
                "--duplicate-window",
                &format!("{window:?}"),
                "a duplicate window is greater than zero and at most 292 years (JetStream keeps \
                 it in int64 nanoseconds); the default is 2m",
            ));
        }
        self.duplicate_window = window;
        Ok(self)
    }

    /// What each message carries: the whole line (default) or the payload.
    #[must_use]
    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self
    }

    /// What identifies this log in every message id (`Nats-Msg-Id: ID:SEQ`). Default: the
    /// host name and the log's canonical path, `HOST:/PATH`. Two logs shipped to one stream
    /// need different ids; a log removed and created again (its seqs start over) needs a new
    /// one.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--id` when it is empty, longer than 1024 bytes or
    /// holds a control character.
    pub fn id(mut self, id: &str) -> Result<Self> {
        check_id(id)?;
        self.id = Some(id.to_string());
        Ok(self)
    }

    /// How many records may await their PubAck at once (default [`DEFAULT_WINDOW`], at
    /// least 1).
    #[must_use]
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Commits the cursor at least this often while records are acknowledged (default 1 s);
    /// also at once when the shipper has caught up, and when it stops.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--commit-interval` when `interval` is zero.
    pub fn commit_interval(mut self, interval: Duration) -> Result<Self> {
        check_nonzero("--commit-interval", interval, "1s")?;
        self.commit_interval = interval;
        Ok(self)
    }

    /// How long one connection attempt may take (default 5 s).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--connect-timeout` when `timeout` is zero: no
    /// connection would ever be made.
    pub fn connect_timeout(mut self, timeout: Duration) -> Result<Self> {
        check_nonzero("--connect-timeout", timeout, "5s")?;
        self.connect_timeout = timeout;
        Ok(self)
    }

    /// How long a PubAck, or a JetStream request, may take before the connection counts as
    /// lost (default 5 s).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidOption`] naming `--ack-timeout` when `timeout` is zero: every
    /// request would time out, and the server would look unreachable.
    pub fn ack_timeout(mut self, timeout: Duration) -> Result<Self> {
        check_nonzero("--ack-timeout", timeout, "5s")?;
        self.ack_timeout = timeout;
        Ok(self)
    }

    /// Stops once caught up: when every record the log holds (every one a sync made durable)
    /// is acknowledged. Otherwise the shipper follows the log until stopped.
    #[must_use]
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// Stops with [`Outcome::Gap`](super::Outcome::Gap) when retention removed records before
    /// they were shipped, instead of reporting them and going on.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Fails with [`ErrorKind::Unreachable`] when the very first connection fails, instead
    /// of retrying.
    #[must_use]
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Fails with [`ErrorKind::Unreachable`] once an outage has lasted this long; `None`
    /// (the default) retries forever.
    #[must_use]
    pub fn give_up_after(mut self, limit: Option<Duration>) -> Self {
        self.give_up_after = limit;
        self
    }

    /// The server URL, as given (a password or token in it included; errors and notices show
    /// it masked).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The subject messages are published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The name of the stream to create when none takes the subject and no name was given.
    pub(super) fn stream_to_create(&self) -> String {
        match &self.stream {
            Some(name) => name.clone(),
            None => self
                .subject
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect(),
        }
    }
}

fn invalid(option: &'static str, value: &str, reason: impl Into<String>) -> super::Error {
    ErrorKind::InvalidOption { option, value: value.to_string(), reason: reason.into() }.into()
}

/// Checks a server URL: `nats://HOST:PORT` or `tls://HOST:PORT` (the port defaults to 4222).
///
/// # Errors
/// [`ErrorKind::InvalidOption`] naming `--to`; the URL it shows has its password or token
/// masked.
///
/// # Example
/// ```
/// assert!(ndlog::ship::check_server("nats://127.0.0.1:4222").is_ok());
/// assert!(ndlog::ship::check_server("nats://127.0.0.1:99999").is_err());
/// ```
pub fn check_server(url: &str) -> Result<()> {
    const HINT: &str = "give the server as nats://HOST:PORT (or tls://HOST:PORT)";
    let shown = redacted(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("--to", &shown, format!("not a URL: {HINT}")));
    };
    if !matches!(scheme, "nats" | "tls") {
        return Err(invalid(
            "--to",
            &shown,
            format!("scheme {scheme:?} is not nats or tls: {HINT}"),
        ));
    }
    let parsed = url
        .parse::<async_nats::ServerAddr>()
        .map_err(|e| invalid("--to", &shown, format!("{e}: {HINT}")))?;
    let host = parsed.host();
    if host.is_empty() || rest.starts_with(':') || rest.starts_with('/') {
        return Err(invalid("--to", &shown, format!("no host: {HINT}")));
    }
    if rest.trim_end_matches('/').contains('/') || rest.contains('?') {
        return Err(invalid("--to", &shown, format!("a server URL has no path or query: {HINT}")));
    }
    Ok(())
}

/// `url` with the password or token in it masked, for messages: `nats://user:***@host:4222`,
/// `nats://***@host:4222` (a token, or a user alone). Everything before the last `@` is user
/// information (a password holding `/` or `@` stays masked); a URL without one is unchanged.
pub(super) fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}{user}:***@{host}"),
        None => format!("{scheme}***@{host}"),
    }
}

/// Checks a subject to publish on: dot-separated tokens, none empty, no wildcard (`*`, `>`),
/// no whitespace or control character.
///
/// # Errors
/// [`ErrorKind::InvalidOption`] naming `--subject`.
///
/// # Example
/// ```
/// assert!(ndlog::ship::check_subject("events.app-1").is_ok());
/// assert!(ndlog::ship::check_subject("events..app").is_err());
/// assert!(ndlog::ship::check_subject("events.>").is_err());
/// ```
pub fn check_subject(subject: &str) -> Result<()> {
    let bad = |reason: &str| Err(invalid("--subject", subject, reason));
    if subject.is_empty() {
        return bad("a subject cannot be empty");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("a subject holds no whitespace or control character");
    }
    if subject.split('.').any(str::is_empty) {
        return bad("a subject is tokens separated by single dots, none of them empty");
    }
    if subject.split('.').any(|t| t == "*" || t == ">") || subject.contains(['*', '>']) {
        return bad("records are published on one subject: no wildcard (* or >)");
    }
    Ok(())
}

/// Checks a stream name: JetStream takes letters, digits, `-` and `_` (and no `.`, `*`, `>`,
/// `/`, `\` or whitespace).
fn check_stream_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(invalid("--stream", name, "a stream name is 1 to 255 characters"));
    }
    if name
        .chars()
        .any(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "--stream",
            name,
            "a stream name holds no '.', '*', '>', '/', '\\', whitespace or control character",
        ));
    }
    Ok(())
}

/// Checks that a duration option is not zero; `example` is one that works.
fn check_nonzero(option: &'static str, d: Duration, example: &str) -> Result<()> {
    if d.is_zero() {
        let reason = format!("give a duration greater than zero, e.g. {example}");
        return Err(invalid(option, &format!("{d:?}"), reason));
    }
    Ok(())
}

/// Checks a log id for message ids.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 1024 {
        return Err(invalid("--id", id, "an id is 1 to 1024 bytes"));
    }
    if id.chars().any(char::is_control) {
        return Err(invalid("--id", id, "an id holds no control character (it goes in a header)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        for ok in ["nats://127.0.0.1:4222", "nats://localhost", "tls://h:1", "nats://u:p@h:4222"] {
            assert!(check_server(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1:4222",
            "http://h:1",
            "nats://",
            "nats://:4222",
            "nats://h:x",
            "nats://h:1/p",
            "nats://h:70000",
        ] {
            assert!(check_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_tokens_are_masked() {
        for (url, shown) in [
            ("nats://u:s3cret@h:4222", "nats://u:***@h:4222"),
            ("tls://t0ken@h", "tls://***@h"),
            ("nats://u:s3/cr@et@h:1", "nats://u:***@h:1"),
            ("u:s3cret@h:4222", "u:***@h:4222"),
            ("nats://h:4222", "nats://h:4222"),
        ] {
            assert_eq!(redacted(url), shown);
            assert_eq!(
                Options::new(url, "a").map_or_else(|_| shown.into(), |o| o.server_shown),
                shown
            );
        }
        for url in ["nats://u:s3cret@h:x", "u:s3cret@h:4222", "http://u:s3cret@h"] {
            let e = check_server(url).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && e.contains("--to") && e.contains(":***@"), "{e}");
        }
    }

    #[test]
    fn subjects_and_names() {
        assert!(check_subject("a.b.c").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a*b"] {
            assert!(check_subject(bad).is_err(), "{bad:?}");
        }
        assert!(check_stream_name("EVENTS_1-a").is_ok());
        assert!(check_stream_name("a.b").is_err());
        assert!(check_id("host:/var/log/x").is_ok());
        assert!(check_id("a\nb").is_err());
        let o = Options::new("nats://h:1", "events.app-1").unwrap();
        assert_eq!(o.stream_to_create(), "events_app-1");
    }

    /// The option an invalid value is refused for.
    fn refused_option(result: Result<Options>) -> &'static str {
        match result.map(|_| ()).unwrap_err().into_kind() {
            ErrorKind::InvalidOption { option, .. } => option,
            other => panic!("not an invalid option: {other}"),
        }
    }

    #[test]
    fn a_zero_commit_interval_is_refused() {
        let o = || Options::new("nats://h:1", "events").unwrap();
        assert_eq!(refused_option(o().commit_interval(Duration::ZERO)), "--commit-interval");
        let o = o().commit_interval(Duration::from_millis(1)).unwrap();
        assert_eq!(o.commit_interval, Duration::from_millis(1));
    }

    #[test]
    fn duplicate_windows_jetstream_cannot_take_are_refused() {
        let o = || Options::new("nats://h:1", "events").unwrap();
        for bad in [Duration::ZERO, MAX_DUPLICATE_WINDOW + Duration::from_nanos(1), Duration::MAX] {
            assert_eq!(refused_option(o().duplicate_window(bad)), "--duplicate-window", "{bad:?}");
        }
        for ok in [Duration::from_nanos(1), Duration::from_millis(500), MAX_DUPLICATE_WINDOW] {
            assert_eq!(o().duplicate_window(ok).unwrap().duplicate_window, ok);
        }
        assert_eq!(MAX_DUPLICATE_WINDOW.as_nanos(), i64::MAX as u128);
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let o = || Options::new("nats://h:1", "events").unwrap();
        assert_eq!(refused_option(o().ack_timeout(Duration::ZERO)), "--ack-timeout");
        assert_eq!(refused_option(o().connect_timeout(Duration::ZERO)), "--connect-timeout");
        let o = o().ack_timeout(Duration::from_millis(1)).unwrap();
        let o = o.connect_timeout(Duration::from_millis(2)).unwrap();
        assert_eq!(
            (o.ack_timeout, o.connect_timeout),
            (Duration::from_millis(1), Duration::from_millis(2))
        );
    }
}
