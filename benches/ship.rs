//! Shipping to NATS JetStream (issue 18): records/s that `ndlog::ship` publishes to a local
//! `nats-server -js` with every PubAck awaited (a bounded window in flight), beside a raw
//! async-nats JetStream publish loop of the same messages (same payloads, same `Nats-Msg-Id`
//! headers, same window, same kind of runtime) in the same run, runs alternating.
//!
//! `cargo bench --bench ship` (about a minute). `$NDLOG_BENCH_SHIP_RECORDS` records per run
//! (default 100,000) of 100-byte payloads, `$NDLOG_BENCH_SHIP_RUNS` runs of each (default 5).
//! Each run publishes into a fresh stream (file storage), so no message is a duplicate.
//!
//! Not criterion: one run is seconds of steady state against a server process; the table
//! gives each run and the medians.

use std::future::IntoFuture;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;

const PAYLOAD: usize = 100;

type AckFuture = <async_nats::jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The server, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

fn start(bin: &Path, store: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (Server(child), format!("nats://127.0.0.1:{port}"))
}

/// A payload of exactly `PAYLOAD` bytes, one JSON object.
fn payload(i: usize) -> String {
    let head = format!("{{\"i\":{i},\"pad\":\"");
    let pad = PAYLOAD - head.len() - 2;
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Creates the stream `name` taking `subject`, file storage.
fn create_stream(url: &str, name: &str, subject: &str) {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await
        .unwrap();
    });
}

fn delete_stream(url: &str, name: &str) {
    runtime().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        js.delete_stream(name).await.unwrap();
    });
}

/// `ndlog::ship` of the whole log, `--once --data`: connect, find the stream, publish,
/// every PubAck, the cursor's commits.
fn ship(url: &str, log: &Path, subject: &str, stream: &str, cursor: &Path) -> Duration {
    let options = ndlog::ship::Options::new(url, subject)
        .unwrap()
        .stream(stream)
        .unwrap()
        .id("bench")
        .unwrap()
        .payload(ndlog::ship::Payload::Data)
        .once(true);
    let started = Instant::now();
    let mut cursor = ndlog::Cursor::load(cursor).unwrap();
    let summary = ndlog::ship::Shipper::new(log, options).run(&mut cursor, |_| {}).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(summary.duplicates, 0);
    elapsed
}

/// The raw loop: the same messages, already in memory, published with async-nats on the same
/// kind of runtime with the same window of PubAcks in flight.
fn raw(url: &str, subject: &str, messages: &[(String, Bytes)], window: usize) -> Duration {
    runtime().block_on(async {
        let started = Instant::now();
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        let subject = async_nats::Subject::from(subject);
        let mut acks: FuturesOrdered<AckFuture> = FuturesOrdered::new();
        for (id, payload) in messages {
            if acks.len() >= window {
                let ack = acks.next().await.unwrap().unwrap();
                assert!(!ack.duplicate);
            }
            let message = PublishMessage::build().payload(payload.clone()).message_id(id);
            let ack = js.send_publish(subject.clone(), message).await.unwrap();
            acks.push_back(ack.into_future());
        }
        while let Some(ack) = acks.next().await {
            assert!(!ack.unwrap().duplicate);
        }
        started.elapsed()
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(bin) = nats_server() else {
        println!("ship bench skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let records = env_or("NDLOG_BENCH_SHIP_RECORDS", 100_000);
    let runs = env_or("NDLOG_BENCH_SHIP_RUNS", 5);
    let window = ndlog::ship::DEFAULT_WINDOW;
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = start(&bin, &dir.path().join("store"));

    let log = dir.path().join("bench.ndjson");
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&log).unwrap();
    let payloads: Vec<String> = (0..records).map(payload).collect();
    for chunk in payloads.chunks(1024) {
        let refs: Vec<&[u8]> = chunk.iter().map(|p| p.as_bytes()).collect();
        writer.append_raw_batch(&refs).unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    let messages: Vec<(String, Bytes)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("bench:{}", i + 1), Bytes::copy_from_slice(p.as_bytes())))
        .collect();

    println!(
        "ship: {records} records of {PAYLOAD}-byte payloads to a local nats-server -js (file \
         storage), window {window}, every PubAck awaited; {runs} runs each, alternating"
    );
    println!("{:>4}  {:>14}  {:>14}  {:>6}", "run", "ndlog ship/s", "raw loop/s", "ratio");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which goes first, so that neither always meets a warmer server.
        let mut rates = [0.0; 2];
        for which in [run % 2, 1 - run % 2] {
            let (subject, stream) = (format!("bench.{run}.{which}"), format!("B{run}_{which}"));
            create_stream(&url, &stream, &subject);
            let elapsed = if which == 0 {
                ship(&url, &log, &subject, &stream, &dir.path().join(format!("c{run}")))
            } else {
                raw(&url, &subject, &messages, window)
            };
            rates[which] = records as f64 / elapsed.as_secs_f64();
            delete_stream(&url, &stream);
        }
        println!("{run:>4}  {:>14.0}  {:>14.0}  {:>6.2}", rates[0], rates[1], rates[0] / rates[1]);
        ours.push(rates[0]);
        theirs.push(rates[1]);
    }
    let (ship_median, raw_median) = (median(ours.clone()), median(theirs.clone()));
    let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
    println!(
        "median: ndlog ship {ship_median:.0} records/s, raw loop {raw_median:.0} records/s, \
         ratio of medians {:.2} (median of run ratios {:.2}); targets: >= 0.8x the raw loop, \
         >= 50,000 records/s",
        ship_median / raw_median,
        median(ratios)
    );
}
