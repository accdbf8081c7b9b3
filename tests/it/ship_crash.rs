//! `ndlog ship` SIGKILLed at random moments while writer processes append, restarted each
//! time, and `nats-server` itself SIGKILLed and restarted once: the stream ends up holding
//! every record of the log exactly once, in seq order (read back with async-nats).

use crate::util;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use util::nats::{Nats, assert_exactly_once, log_lines, read_stream};

/// Shipper runs, each SIGKILLed after a random moment.
const KILLS: usize = 12;
/// Writer processes, and the records each appends over the run.
const WRITERS: usize = 3;
const RECORDS_EACH: usize = 1200;
/// Records appended at once just before the server is killed.
const BURST: usize = 3000;

/// A small deterministic generator, seeded from the clock (the seed is printed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A writer process, `ndlog append LOG`, fed by a thread at a steady pace.
fn spawn_writer(log: &Path, w: usize) -> (Child, std::thread::JoinHandle<()>) {
    let mut child = util::ndlog()
        .args(["append"])
        .arg(log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..RECORDS_EACH {
            // A payload of about 100 bytes.
            let line =
                format!("{{\"writer\":{w},\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(60 + (i % 17)));
            stdin.write_all(line.as_bytes()).unwrap();
            // Bursts: the shipper meets a backlog, with a full window in flight when killed.
            if i % 100 == 99 {
                stdin.flush().unwrap();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    (child, feeder)
}

/// `ndlog ship` following the log, its stderr appended to `stderr`.
fn spawn_shipper(log: &Path, nats: &Nats, cursor: &Path, stderr: &Path, once: bool) -> Child {
    let err = File::options().create(true).append(true).open(stderr).unwrap();
    let mut cmd = util::ndlog();
    cmd.arg("ship")
        .arg(log)
        .args(["--to", &nats.url(), "--subject", "crash.events", "--stream", "CRASH"])
        .args(["--create-stream", "--id", "crash-log", "--cursor"])
        .arg(cursor)
        .args(["--commit-interval", "100ms", "--window", "64"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    if once {
        cmd.args(["--once", "--max-outage", "20s"]);
    }
    cmd.spawn().unwrap()
}

/// Appends `BURST` records at once from this process.
fn burst(log: &Path) {
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(log).unwrap();
    let payloads: Vec<String> =
        (0..BURST).map(|i| format!("{{\"burst\":{i},\"pad\":\"{}\"}}", "y".repeat(70))).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    writer.append_raw_batch(&refs).unwrap();
    writer.sync().unwrap();
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn soak(test: &str, segmented: bool) {
    let Some(mut nats) = Nats::start(test) else { return };
    let started = Instant::now();
    let seed =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("{test}: seed {seed}");
    let mut rng = Rng(seed);
    let dir = util::tempdir();
    let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
    if segmented {
        // Rolls every 100 records: the shipper crosses dozens of segments.
        let out = util::run(
            &[
                "create",
                log.to_str().unwrap(),
                "--segment-bytes",
                "2MiB",
                "--segment-records",
                "100",
            ],
            b"",
        );
        assert!(out.status.success(), "{}", util::stderr(&out));
    }
    let (cursor, stderr) = (dir.path().join("ship.cursor"), dir.path().join("ship.stderr"));
    // The first records exist before the first shipper starts.
    let mut writers: Vec<_> = (0..WRITERS).map(|w| spawn_writer(&log, w)).collect();
    while !log.exists() {
        sleep_ms(5);
    }

    for round in 0..KILLS {
        let mut shipper = spawn_shipper(&log, &nats, &cursor, &stderr, false);
        sleep_ms(100 + rng.below(400));
        if round == KILLS / 2 {
            // A backlog, so that the shipper has a full window in flight, and then the server
            // dies under it (SIGKILL: acknowledged messages still in its memory may be lost)
            // and comes back on the same store.
            burst(&log);
            sleep_ms(10 + rng.below(60));
            nats.kill();
            sleep_ms(300 + rng.below(300));
            nats.restart();
            sleep_ms(300 + rng.below(500));
        }
        assert!(
            shipper.try_wait().unwrap().is_none(),
            "round {round}: ship exited early: {}",
            std::fs::read_to_string(&stderr).unwrap()
        );
        shipper.kill().unwrap();
        shipper.wait().unwrap();
    }

    for (mut child, feeder) in writers.drain(..) {
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    // A last shipper catches up and exits.
    let status = spawn_shipper(&log, &nats, &cursor, &stderr, true).wait().unwrap();
    let report = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "the final ship --once failed: {report}");
    assert!(!report.contains("panicked"), "{report}");
    assert!(report.contains("unreachable"), "the server's death was not reported: {report}");

    let records = log_lines(&log);
    assert_eq!(records.len(), WRITERS * RECORDS_EACH + BURST);
    let stored = read_stream(&nats.url(), "CRASH");
    assert_exactly_once(&stored, &records, "crash-log");
    let committed: u64 = std::fs::read_to_string(&cursor).unwrap().trim().parse().unwrap();
    assert_eq!(committed, records.last().unwrap().0, "the cursor ends at the last record");
    println!(
        "{test}: {} records, {KILLS} shipper kills and a server kill, stream exact; {} outage \
         line(s), {} rewind(s); {:.1}s",
        records.len(),
        report.matches("unreachable").count(),
        report.matches("lost acknowledged").count(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_file_log_shipped_through_kills_of_ship_and_server_is_in_the_stream_exactly_once() {
    soak("ship_crash file", false);
}

#[test]
fn a_segmented_log_shipped_through_kills_of_ship_and_server_is_in_the_stream_exactly_once() {
    soak("ship_crash segmented", true);
}
