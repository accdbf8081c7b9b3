//! A real `nats-server` with JetStream for the `ship` tests, on a free local port with a
//! temporary store, and an independent reader of what a stream holds (async-nats).
//!
//! When `nats-server` is not installed the tests are skipped with a printed reason, except
//! under CI (`CI=true`), where a missing server fails them: `.ci/run` installs it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// A running `nats-server -js`, killed when dropped.
pub(crate) struct Nats {
    bin: PathBuf,
    pub port: u16,
    pub store: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// The `nats-server` binary: `$NATS_SERVER`, else on `PATH`, else `/usr/sbin/nats-server`.
fn find_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

impl Nats {
    /// Starts a server, or returns `None` (having said why) when there is none to start
    /// outside CI. Panics under CI when `nats-server` is missing.
    pub(crate) fn start(test: &str) -> Option<Nats> {
        let Some(bin) = find_server() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: nats-server is not installed, and CI=true: .ci/run must install it"
                );
            }
            eprintln!("SKIPPED {test}: nats-server is not installed (apt-get install nats-server)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("ndlog-nats-").tempdir().unwrap();
        let store = dir.path().join("store");
        let port = free_port();
        let mut nats = Nats { bin, port, store, child: None, _dir: dir };
        nats.restart();
        Some(nats)
    }

    /// As [`Nats::start`], but not started yet: [`Nats::restart`] starts it.
    pub(crate) fn stopped(test: &str) -> Option<Nats> {
        let mut nats = Nats::start(test)?;
        nats.kill();
        Some(nats)
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again (same port, same store) and waits until it accepts clients.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !greets(self.port) {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILLs the server.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a NATS server on `port` takes clients: it sends its `INFO` line first.
///
/// A connect that succeeds does not show it. While nats-server 2.9 starts, a connect to its
/// port has been seen to succeed and then be reset before any byte, and a client connecting
/// right after was refused (the `ship` tests failed about 1 run in 10 that way). A connect
/// to itself (possible on a port from the ephemeral range) is refused too.
fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    if stream.local_addr().ok() == stream.peer_addr().ok() {
        return false;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut stream, &mut first).is_ok() && first == *b"INFO "
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on now, and never handed out before in this process. A test that
/// kills its server and starts it again on the same port leaves that port free meanwhile; a
/// test starting then must not take it, or its client would reach the other test's server.
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// One message of a stream: its stream sequence, `Nats-Msg-Id` and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub stream_seq: u64,
    pub msg_id: Option<String>,
    pub payload: Vec<u8>,
}

/// Every message of `stream` on the server at `url`, in stream order, read back with
/// async-nats (one message get per sequence; deleted ones skipped).
pub(crate) fn read_stream(url: &str, stream: &str) -> Vec<Stored> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut handle = js.get_stream(stream).await.unwrap();
        let state = handle.info().await.unwrap().state.clone();
        let (first, last) = (state.first_sequence, state.last_sequence);
        if state.messages == 0 {
            return Vec::new();
        }
        let handle = &handle;
        // Messages deleted from the middle (the rewind test deletes some) are skipped.
        let messages: Vec<Option<Stored>> = futures_util::stream::iter(first..=last)
            .map(|seq| async move {
                let m = handle.get_raw_message(seq).await.ok()?;
                Some(Stored {
                    stream_seq: m.sequence,
                    msg_id: m
                        .headers
                        .get(async_nats::header::NATS_MESSAGE_ID)
                        .map(|v| v.as_str().to_string()),
                    payload: m.payload.to_vec(),
                })
            })
            .buffered(64)
            .collect()
            .await;
        let messages: Vec<Stored> = messages.into_iter().flatten().collect();
        assert_eq!(messages.len() as u64, state.messages, "every message read back");
        messages
    })
}

/// The log's records as (seq, line) in seq order, read through the library.
pub(crate) fn log_lines(log: &Path) -> Vec<(u64, Vec<u8>)> {
    let log = ndlog::Log::open(log).unwrap();
    log.records().map(|r| (r.seq, r.line.to_vec())).collect()
}

/// Checks that `stored` holds each of `records` exactly once, in seq order, each with the
/// message id `ID:SEQ` and the record's line, and nothing else.
pub(crate) fn assert_exactly_once(stored: &[Stored], records: &[(u64, Vec<u8>)], id_prefix: &str) {
    let ids: Vec<u64> = stored
        .iter()
        .map(|m| {
            let id = m.msg_id.as_deref().expect("every message has a Nats-Msg-Id");
            let seq = id.strip_prefix(id_prefix).and_then(|s| s.strip_prefix(':'));
            seq.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("message id {id:?}"))
        })
        .collect();
    let mut dups = ids.clone();
    dups.sort_unstable();
    dups.dedup();
    assert_eq!(dups.len(), ids.len(), "some record is in the stream twice");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "the stream holds records out of seq order");
    let want: Vec<u64> = records.iter().map(|(seq, _)| *seq).collect();
    if ids != want {
        let missing: Vec<_> =
            want.iter().filter(|s| ids.binary_search(s).is_err()).take(20).collect();
        let extra: Vec<_> =
            ids.iter().filter(|s| want.binary_search(s).is_err()).take(20).collect();
        panic!(
            "the stream holds {} records, the log {}; missing (first 20): {missing:?}, not in \
             the log: {extra:?}",
            ids.len(),
            want.len()
        );
    }
    for (m, (seq, line)) in stored.iter().zip(records) {
        assert_eq!(&m.payload, line, "payload of seq {seq}");
    }
}
