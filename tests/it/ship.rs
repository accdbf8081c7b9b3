//! `ndlog ship` against a real `nats-server -js`: `--once` exits 0 when caught up, whole lines
//! or payloads (`--data`), single-file and segmented logs, bad inputs (clear errors, exit
//! codes, nothing written), an absent server retried with one line per outage, a clean stop on
//! SIGTERM, retention before shipping reported (and `--strict`), retention racing a lagging
//! shipper, records the server lost after acknowledging them, and the library embedded in an
//! async service.

use crate::util;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use util::nats::{Nats, Stored, assert_exactly_once, free_port, log_lines, read_stream};

/// `ndlog ship LOG --to URL --subject SUBJECT --cursor CURSOR EXTRA...`, run to its end.
fn ship(log: &Path, url: &str, subject: &str, cursor: &Path, extra: &[&str]) -> Output {
    util::ndlog()
        .arg("ship")
        .arg(log)
        .args(["--to", url, "--subject", subject, "--cursor"])
        .arg(cursor)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn spawn_ship(
    log: &Path,
    url: &str,
    subject: &str,
    cursor: &Path,
    stderr: &Path,
    extra: &[&str],
) -> Child {
    util::ndlog()
        .arg("ship")
        .arg(log)
        .args(["--to", url, "--subject", subject, "--cursor"])
        .arg(cursor)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
}

/// The seq in a cursor file (0 when it does not exist yet).
fn cursor_at(cursor: &Path) -> u64 {
    std::fs::read_to_string(cursor).map_or(0, |s| s.trim().parse().unwrap_or(0))
}

/// Waits until the cursor reaches `seq`.
fn wait_for_cursor(cursor: &Path, seq: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while cursor_at(cursor) < seq {
        assert!(
            Instant::now() < deadline,
            "the cursor stayed at {} (want {seq})",
            cursor_at(cursor)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Appends `n` records to `log` one by one (so that a segmented log rolls by its record
/// count), then syncs.
fn fill(log: &Path, n: u64) {
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(log).unwrap();
    for i in 1..=n {
        writer.append_raw(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    writer.sync().unwrap();
}

fn records_only(log: &Path, keep: impl Fn(u64) -> bool) -> Vec<(u64, Vec<u8>)> {
    log_lines(log).into_iter().filter(|(seq, _)| keep(*seq)).collect()
}

/// The default log id: host name and canonical path.
fn default_id(log: &Path) -> String {
    let host = rustix::system::uname();
    format!(
        "{}:{}",
        host.nodename().to_string_lossy(),
        std::fs::canonicalize(log).unwrap().display()
    )
}

#[test]
fn once_ships_every_record_and_exits_0_when_caught_up() {
    let Some(nats) = Nats::start("once") else { return };
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 200);
    let cursor = dir.path().join("events.cursor");
    let url = nats.url();

    // No --stream: the stream is named after the subject.
    let out = ship(&log, &url, "ev.once", &cursor, &["--once", "--create-stream"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert!(
        util::stdout(&out).contains("shipped 200 record(s) to stream ev_once"),
        "{}",
        util::stdout(&out)
    );
    assert!(util::stderr(&out).contains("created stream \"ev_once\""), "{}", util::stderr(&out));
    assert_eq!(cursor_at(&cursor), 200);
    let id = default_id(&log);
    assert_exactly_once(&read_stream(&url, "ev_once"), &log_lines(&log), &id);

    // Caught up already: nothing to do, exit 0 at once.
    let out = ship(&log, &url, "ev.once", &cursor, &["--once"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert!(util::stdout(&out).contains("shipped 0 record(s)"), "{}", util::stdout(&out));

    // More records: only those go out; the stream still holds each record once.
    let more: String = (0..50).map(|i| format!("{{\"more\":{i}}}\n")).collect();
    assert!(
        util::run(&["append", log.to_str().unwrap(), "--durability", "group"], more.as_bytes())
            .status
            .success()
    );
    let out = ship(&log, &url, "ev.once", &cursor, &["--once"]);
    assert!(util::stdout(&out).contains("shipped 50 record(s)"), "{}", util::stdout(&out));
    assert_exactly_once(&read_stream(&url, "ev_once"), &log_lines(&log), &id);

    // A lost cursor: the stream says how far this log went, nothing is published twice.
    std::fs::remove_file(&cursor).unwrap();
    let out = ship(&log, &url, "ev.once", &cursor, &["--once"]);
    assert!(util::stdout(&out).contains("shipped 0 record(s)"), "{}", util::stdout(&out));
    assert_eq!(cursor_at(&cursor), 250);

    // --data: payloads only, into a stream named by --stream.
    let data_cursor = dir.path().join("data.cursor");
    let out = ship(
        &log,
        &url,
        "ev.data",
        &data_cursor,
        &["--once", "--data", "--create-stream", "--stream", "DATA", "--id", "events"],
    );
    assert!(out.status.success(), "{}", util::stderr(&out));
    let payloads: Vec<(u64, Vec<u8>)> =
        ndlog::Log::open(&log).unwrap().records().map(|r| (r.seq, r.data.to_vec())).collect();
    assert_exactly_once(&read_stream(&url, "DATA"), &payloads, "events");
}

#[test]
fn a_segmented_log_ships_across_its_segments() {
    let Some(nats) = Nats::start("segmented") else { return };
    let dir = util::tempdir();
    let log = dir.path().join("events");
    let l = log.to_str().unwrap();
    let out = util::run(&["create", l, "--segment-bytes", "2MiB", "--segment-records", "50"], b"");
    assert!(out.status.success(), "{}", util::stderr(&out));
    fill(&log, 420);
    assert!(std::fs::read_dir(&log).unwrap().count() > 8, "the log rolled");
    let cursor = dir.path().join("c");
    let out =
        ship(&log, &nats.url(), "seg", &cursor, &["--once", "--create-stream", "--id", "seg"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(cursor_at(&cursor), 420);
    assert_exactly_once(&read_stream(&nats.url(), "seg"), &log_lines(&log), "seg");
}

/// Flips a byte in the middle of the line of `seq` in `file`: its CRC no longer matches.
fn damage(file: &Path, seq: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let start = text.find(&format!("{{\"seq\":{seq},")).expect("the line is in the file");
    let end = start + text[start..].find('\n').unwrap();
    bytes[(start + end) / 2] ^= 0x01;
    std::fs::write(file, bytes).unwrap();
}

/// Damaged lines, and seqs missing between two segments, are said on stderr (a record they
/// held is not shipped), and every other record is shipped exactly once.
#[test]
fn damage_in_the_log_is_said_and_the_rest_is_shipped() {
    let Some(nats) = Nats::start("damage") else { return };
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 100);
    damage(&log, 57);
    let cursor = dir.path().join("events.cursor");
    let out = ship(&log, &nats.url(), "dmg.file", &cursor, &["--once", "--create-stream"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let err = util::stderr(&out);
    assert!(err.contains("events.ndjson: skipped 1 damaged line(s), the first at byte"), "{err}");
    assert!(util::stdout(&out).contains("shipped 99 record(s)"), "{}", util::stdout(&out));
    assert_eq!(cursor_at(&cursor), 100);
    assert_exactly_once(&read_stream(&nats.url(), "dmg_file"), &log_lines(&log), &default_id(&log));

    // A segmented log whose first sealed segment's last record is damaged: seq 50 is missing.
    let log = dir.path().join("seg");
    let l = log.to_str().unwrap();
    let out = util::run(&["create", l, "--segment-bytes", "2MiB", "--segment-records", "50"], b"");
    assert!(out.status.success(), "{}", util::stderr(&out));
    fill(&log, 120);
    damage(&log.join("00000000000000000001.ndjson"), 50);
    let cursor = dir.path().join("seg.cursor");
    let extra = ["--once", "--create-stream", "--id", "seg"];
    let out = ship(&log, &nats.url(), "dmg.seg", &cursor, &extra);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let err = util::stderr(&out);
    assert!(err.contains("seqs 50..=50 are not in the log"), "{err}");
    assert!(err.contains("00000000000000000001.ndjson: skipped 1 damaged line(s)"), "{err}");
    assert!(util::stdout(&out).contains("shipped 119 record(s)"), "{}", util::stdout(&out));
    assert_eq!(cursor_at(&cursor), 120);
    assert_exactly_once(&read_stream(&nats.url(), "dmg_seg"), &log_lines(&log), "seg");
}

#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let Some(nats) = Nats::start("bad inputs") else { return };
    let url = nats.url();
    let dir = util::tempdir();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = util::write_log(&logs, "events.ndjson", 10);
    let before = std::fs::read(&log).unwrap();
    let listing = |d: &Path| {
        let mut names: Vec<_> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let files_before = listing(&logs);
    let cursor = dir.path().join("c");
    // A stream that takes another subject.
    let out = ship(
        &log,
        &url,
        "other",
        &dir.path().join("o"),
        &["--once", "--create-stream", "--stream", "OTHER"],
    );
    assert!(out.status.success(), "{}", util::stderr(&out));
    let other_len = read_stream(&url, "OTHER").len();

    let check = |out: Output, code: i32, says: &[&str]| {
        let err = util::stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        for s in says {
            assert!(err.contains(s), "stderr lacks {s:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    check(
        ship(&log, "127.0.0.1:4222", "ev", &cursor, &["--once"]),
        2,
        &["--to", "nats://HOST:PORT"],
    );
    check(ship(&log, "nats://h:notaport", "ev", &cursor, &["--once"]), 2, &["--to"]);
    check(ship(&log, "http://127.0.0.1:1", "ev", &cursor, &["--once"]), 2, &["--to", "scheme"]);
    check(ship(&log, &url, "ev..x", &cursor, &["--once"]), 2, &["--subject"]);
    check(ship(&log, &url, "ev.>", &cursor, &["--once"]), 2, &["--subject", "wildcard"]);
    check(ship(&log, &url, "ev", &cursor, &["--once", "--stream", "a.b"]), 2, &["--stream"]);
    check(ship(&log, &url, "ev", &cursor, &["--once", "--window", "0"]), 2, &["--window"]);
    check(ship(Path::new("-"), &url, "ev", &cursor, &["--once"]), 2, &["standard input"]);
    // Durations that cannot work are refused before anything is read, created or published.
    let zero = ["--once", "--create-stream", "--stream", "ZERO"];
    check(
        ship(&log, &url, "ev", &cursor, &[&zero[..], &["--commit-interval", "0"]].concat()),
        2,
        &["--commit-interval", "greater than zero"],
    );
    for window in ["0", "293y", "1000y"] {
        let out =
            ship(&log, &url, "ev", &cursor, &[&zero[..], &["--duplicate-window", window]].concat());
        check(out, 2, &["--duplicate-window", "at most 292 years"]);
    }
    // The longest window accepted is one the server takes.
    let long = ["--once", "--create-stream", "--stream", "LONG", "--duplicate-window", "292y"];
    let out = ship(&log, &url, "long", &dir.path().join("l"), &long);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(read_stream(&url, "LONG").len(), 10);
    let waits = [("0", "greater than zero"), ("1000000y", "at most 1h"), ("61m", "at most 1h")];
    for option in ["--ack-timeout", "--connect-timeout"] {
        for (value, said) in waits {
            let started = Instant::now();
            let out = ship(&log, &url, "ev", &cursor, &[&zero[..], &[option, value]].concat());
            check(out, 2, &[option, said]);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(3), "{option} {value}: {took:?}");
        }
    }

    // Unreachable: --once gives up at the first connection, quickly, with exit 8.
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let started = Instant::now();
    check(
        ship(&log, &dead, "ev", &cursor, &["--once"]),
        8,
        &[&format!("--to {dead}"), "unreachable"],
    );
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
    // A port that accepts connections and never speaks NATS: bounded by --connect-timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("nats://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = ship(&log, &silent_url, "ev", &cursor, &["--once", "--connect-timeout", "500ms"]);
    check(out, 8, &[&format!("--to {silent_url}"), "unreachable", "timed out"]);
    assert!(started.elapsed() < Duration::from_secs(3), "gave up after {:?}", started.elapsed());
    drop(silent);

    // A password or token in --to is never shown: not when the URL is malformed, not in the
    // notice of an outage nor when giving up, not in a JetStream error.
    for (userinfo, secret) in [("u:s3cret", "s3cret"), ("t0ken", "t0ken")] {
        let masked = userinfo.replace(secret, "***");
        let out = ship(&log, &format!("nats://{userinfo}@h:x"), "ev", &cursor, &["--once"]);
        assert!(!util::stderr(&out).contains(secret), "{}", util::stderr(&out));
        check(out, 2, &["--to", &format!("nats://{masked}@h:x")]);
        let port = free_port();
        let dead = format!("nats://{userinfo}@127.0.0.1:{port}");
        let out = ship(&log, &dead, "ev", &cursor, &["--max-outage", "300ms"]);
        let err = util::stderr(&out);
        assert!(!err.contains(secret), "{err}");
        let shown = format!("nats://{masked}@127.0.0.1:{port}");
        check(
            out,
            8,
            &[&format!("{shown}: NATS server unreachable ("), &format!("--to {shown}: ")],
        );
        let live = url.replace("nats://", &format!("nats://{userinfo}@"));
        let out = ship(&log, &live, "ev.none", &cursor, &["--once"]);
        assert!(!util::stderr(&out).contains(secret), "{}", util::stderr(&out));
        check(out, 4, &[&format!("no stream on {} takes", live.replace(secret, "***"))]);
    }

    // No stream: named, or for the subject; a stream that does not take the subject.
    check(
        ship(&log, &url, "ev.none", &cursor, &["--once"]),
        4,
        &["no stream", "\"ev.none\"", "--create-stream"],
    );
    check(
        ship(&log, &url, "ev", &cursor, &["--once", "--stream", "MISSING"]),
        4,
        &["\"MISSING\" does not exist", "--create-stream"],
    );
    check(
        ship(&log, &url, "ev", &cursor, &["--once", "--stream", "OTHER"]),
        4,
        &["\"OTHER\" does not take subject \"ev\"", "\"other\""],
    );

    // A cursor file that is not one; a log that is not there, or not a log.
    let bad_cursor = dir.path().join("bad.cursor");
    std::fs::write(&bad_cursor, "not a seq\n").unwrap();
    check(
        ship(&log, &url, "other", &bad_cursor, &["--once"]),
        1,
        &["--cursor", "bad.cursor", "not a cursor file"],
    );
    check(
        ship(&logs.join("missing.ndjson"), &url, "other", &cursor, &["--once"]),
        1,
        &["missing.ndjson"],
    );
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    check(ship(&csv, &url, "other", &cursor, &["--once"]), 1, &["data.csv", "not an ndlog log"]);

    assert_eq!(std::fs::read(&log).unwrap(), before, "the log changed");
    assert_eq!(listing(&logs), files_before, "files appeared beside the log");
    assert_eq!(std::fs::read_to_string(&bad_cursor).unwrap(), "not a seq\n");
    assert_eq!(read_stream(&url, "OTHER").len(), other_len, "something was published");
    assert!(!stream_exists(&url, "ZERO"), "a stream was created");
    assert!(!cursor.exists(), "a cursor was written");
}

/// Whether the server holds the stream `name`.
fn stream_exists(url: &str, name: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        js.get_stream(name).await.is_ok()
    })
}

#[test]
fn an_absent_server_is_retried_with_one_line_and_sigterm_stops_cleanly() {
    let Some(mut nats) = Nats::stopped("absent server") else { return };
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 100);
    let (cursor, stderr) = (dir.path().join("c"), dir.path().join("stderr"));
    let child =
        spawn_ship(&log, &nats.url(), "ev", &cursor, &stderr, &["--create-stream", "--id", "ev"]);
    // Several attempts fail while the server is away: one line says so.
    std::thread::sleep(Duration::from_millis(1500));
    nats.restart();
    wait_for_cursor(&cursor, 100, Duration::from_secs(15));
    let more: String = (0..20).map(|i| format!("{{\"more\":{i}}}\n")).collect();
    assert!(
        util::run(&["append", log.to_str().unwrap(), "--durability", "group"], more.as_bytes())
            .status
            .success()
    );
    wait_for_cursor(&cursor, 120, Duration::from_secs(10));

    sigterm(&child);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "stopping took {:?}", started.elapsed());
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("unreachable").count(), 1, "one line per outage: {err}");
    assert!(err.contains(&format!("{}: NATS server unreachable", nats.url())), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cursor at seq 120"));
    assert_eq!(cursor_at(&cursor), 120);
    assert_exactly_once(&read_stream(&nats.url(), "ev"), &log_lines(&log), "ev");
}

/// The stderr lines that report records removed before they were shipped, parsed: (from, to,
/// first seq still present) each.
fn lost_reports(stderr: &str) -> Vec<(u64, u64, u64)> {
    let parse = |line: &str| {
        let seqs = line.split("(seqs ").nth(1)?.split(')').next()?;
        let (from, to) = seqs.split_once("..=")?;
        let first = line.split("the first seq still present is ").nth(1)?.trim();
        Some((from.parse().ok()?, to.parse().ok()?, first.parse().ok()?))
    };
    stderr
        .lines()
        .filter(|l| l.contains("removed by retention before they were shipped"))
        .map(|l| parse(l).unwrap_or_else(|| panic!("unparsed report: {l}")))
        .collect()
}

fn retention_before_shipping(segmented: bool) {
    let Some(nats) = Nats::start("retention") else { return };
    let url = nats.url();
    let dir = util::tempdir();
    let log: PathBuf = if segmented {
        let log = dir.path().join("events");
        let l = log.to_str().unwrap();
        assert!(
            util::run(&["create", l, "--segment-bytes", "2MiB", "--segment-records", "100"], b"")
                .status
                .success()
        );
        fill(&log, 1000);
        log
    } else {
        util::write_log(dir.path(), "events.ndjson", 1000)
    };
    // A shipper that stopped at seq 150, and retention that ran since.
    let (cursor, strict_cursor) = (dir.path().join("c"), dir.path().join("strict"));
    std::fs::write(&cursor, "150\n").unwrap();
    std::fs::write(&strict_cursor, "150\n").unwrap();
    let out = util::run(&["compact", log.to_str().unwrap(), "--keep-last", "500"], b"");
    assert!(out.status.success(), "{}", util::stderr(&out));
    let first = log_lines(&log)[0].0;
    assert!(first > 151, "retention removed records not shipped yet (first is {first})");

    let out = ship(&log, &url, "ret", &cursor, &["--once", "--create-stream", "--id", "r"]);
    let err = util::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(lost_reports(&err), [(151, first - 1, first)], "{err}");
    assert!(err.contains(&format!("{} record(s)", first - 151)), "{err}");
    assert_exactly_once(&read_stream(&url, "ret"), &records_only(&log, |s| s >= first), "r");

    // --strict: exit 7, the cursor stays before the gap, nothing after it is published.
    let out = ship(
        &log,
        &url,
        "strict",
        &strict_cursor,
        &["--once", "--create-stream", "--strict", "--id", "s"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", util::stderr(&out));
    assert!(util::stderr(&out).contains("exit 7"), "{}", util::stderr(&out));
    assert_eq!(cursor_at(&strict_cursor), 150);
    assert!(read_stream(&url, "strict").is_empty());
}

#[test]
fn retention_before_shipping_is_reported_for_a_file() {
    retention_before_shipping(false);
}

#[test]
fn retention_before_shipping_is_reported_for_a_segmented_log() {
    retention_before_shipping(true);
}

/// Checks that every seq `1..=n` is in the stream `stream` (ids `ID:SEQ`) or in the range
/// reported lost on `stderr`, never both, and that the stream holds them in order.
fn assert_shipped_or_reported(
    nats: &Nats,
    stream: &str,
    id: &str,
    n: u64,
    err: &str,
) -> Vec<(u64, u64, u64)> {
    let stored = read_stream(&nats.url(), stream);
    let prefix = format!("{id}:");
    let seqs: Vec<u64> = stored
        .iter()
        .map(|m: &Stored| {
            m.msg_id.as_deref().unwrap().strip_prefix(&prefix).unwrap().parse().unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, once each");
    let lost = lost_reports(err);
    for seq in 1..=n {
        let reported = lost.iter().any(|&(from, to, _)| (from..=to).contains(&seq));
        assert_ne!(seqs.binary_search(&seq).is_ok(), reported, "seq {seq}: {err}");
    }
    lost
}

#[test]
fn retention_while_the_server_is_away_is_reported_when_the_shipper_resumes() {
    let Some(mut nats) = Nats::start("retention while away") else { return };
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 3000);
    let (cursor, stderr) = (dir.path().join("c"), dir.path().join("stderr"));
    let child = spawn_ship(
        &log,
        &nats.url(),
        "away",
        &cursor,
        &stderr,
        &["--create-stream", "--id", "away"],
    );
    wait_for_cursor(&cursor, 3000, Duration::from_secs(10));
    // The shipper cannot ship while the server is away; meanwhile the log grows and retention
    // removes records it has not shipped.
    nats.kill();
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&log).unwrap();
    for i in 0..3000 {
        writer.append_raw(format!("{{\"later\":{i}}}").as_bytes()).unwrap();
    }
    writer.sync().unwrap();
    let out = util::run(&["compact", log.to_str().unwrap(), "--keep-last", "1000"], b"");
    assert!(out.status.success(), "{}", util::stderr(&out));
    nats.restart();
    wait_for_cursor(&cursor, 6000, Duration::from_secs(15));
    sigterm(&child);
    assert!(child.wait_with_output().unwrap().status.success());
    let err = std::fs::read_to_string(&stderr).unwrap();
    let lost = assert_shipped_or_reported(&nats, "away", "away", 6000, &err);
    assert_eq!(lost, [(3001, 5000, 5001)], "{err}");
    assert!(err.contains("2000 record(s)"), "{err}");
}

#[test]
fn retention_racing_a_lagging_shipper_is_never_silent() {
    let Some(nats) = Nats::start("retention race") else { return };
    let dir = util::tempdir();
    const N: u64 = 6000;
    let log = dir.path().join("events");
    let l = log.to_str().unwrap();
    assert!(
        util::run(&["create", l, "--segment-bytes", "2MiB", "--segment-records", "200"], b"")
            .status
            .success()
    );
    fill(&log, N);
    let (cursor, stderr) = (dir.path().join("c"), dir.path().join("stderr"));
    // One record in flight at a time: the shipper lags behind the retention below, which
    // deletes sealed segments while it reads.
    let args = ["--create-stream", "--id", "race", "--window", "1", "--commit-interval", "10ms"];
    let child = spawn_ship(&log, &nats.url(), "race", &cursor, &stderr, &args);
    wait_for_cursor(&cursor, 100, Duration::from_secs(10));
    let out = util::run(&["compact", l, "--keep-last", "1000"], b"");
    assert!(out.status.success(), "{}", util::stderr(&out));
    wait_for_cursor(&cursor, N, Duration::from_secs(30));
    sigterm(&child);
    assert!(child.wait_with_output().unwrap().status.success());
    let err = std::fs::read_to_string(&stderr).unwrap();
    let lost = assert_shipped_or_reported(&nats, "race", "race", N, &err);
    assert!(!lost.is_empty(), "retention ran while the shipper was behind: {err}");
    println!("retention race: lost {lost:?}");
}

#[test]
fn records_the_server_lost_after_acknowledging_them_are_published_again() {
    let Some(mut nats) = Nats::start("rewind") else { return };
    let url = nats.url();
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 100);
    let cursor = dir.path().join("c");
    // A short duplicate window, so that records published again are stored again.
    let args = [
        "--once",
        "--create-stream",
        "--stream",
        "RW",
        "--duplicate-window",
        "500ms",
        "--id",
        "rw",
    ];
    let out = ship(&log, &url, "rw", &cursor, &args);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(cursor_at(&cursor), 100);
    // The stream loses its last ten messages after acknowledging them, as a nats-server killed
    // before its writes reached its file does (the duplicate window has passed by the time
    // the shipper runs again).
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        let stream = js.get_stream("RW").await.unwrap();
        for seq in 91..=100 {
            assert!(stream.delete_message(seq).await.unwrap());
        }
    });
    // (nats-server 2.9 answers a last-message request for the subject only after a restart
    // has rebuilt its index of the subject from the stored messages.)
    nats.kill();
    std::thread::sleep(Duration::from_millis(600));
    nats.restart();

    let out = ship(&log, &url, "rw", &cursor, &args);
    let err = util::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "holds this log's records only up to seq 90, but JetStream acknowledged up to seq 100"
        ),
        "{err}"
    );
    assert!(err.contains("publishing seqs 91..=100 again"), "{err}");
    assert!(util::stdout(&out).contains("shipped 10 record(s)"), "{}", util::stdout(&out));
    assert_exactly_once(&read_stream(&url, "RW"), &log_lines(&log), "rw");
}

#[test]
fn a_service_embeds_the_shipper_and_stops_it() {
    let Some(nats) = Nats::start("library") else { return };
    let dir = util::tempdir();
    let log = util::write_log(dir.path(), "events.ndjson", 300);
    let options = ndlog::ship::Options::new(&nats.url(), "lib.events")
        .unwrap()
        .stream("LIB")
        .unwrap()
        .create_stream(true)
        .id("lib")
        .unwrap()
        .payload(ndlog::ship::Payload::Data)
        .window(16)
        // Any timeout is taken, even one the clock cannot add (the stop awaits PubAcks
        // within it).
        .ack_timeout(Duration::MAX)
        .unwrap();
    let shipper = ndlog::ship::Shipper::new(&log, options);
    let stop = shipper.stopper();
    let cursor_path = dir.path().join("lib.cursor");
    // An async service: the shipper runs on the blocking pool, a task stops it.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (summary, notices) = runtime.block_on(async {
        let cursor_path = cursor_path.clone();
        let watcher = tokio::spawn(async move {
            while cursor_at(&cursor_path) < 300 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.stop();
        });
        let cursor_path = dir.path().join("lib.cursor");
        let ran = tokio::task::spawn_blocking(move || {
            let mut cursor = ndlog::Cursor::load(&cursor_path).unwrap();
            let mut notices = Vec::new();
            let summary = shipper.run(&mut cursor, |n| notices.push(n.to_string())).unwrap();
            (summary, notices)
        });
        let ran = tokio::time::timeout(Duration::from_secs(20), ran).await.unwrap().unwrap();
        watcher.await.unwrap();
        ran
    });
    assert_eq!(summary.outcome, ndlog::ship::Outcome::Stopped);
    assert_eq!(
        (summary.shipped, summary.cursor, summary.stream.as_deref()),
        (300, Some(300), Some("LIB"))
    );
    assert_eq!(notices.len(), 1, "{notices:?}");
    let payloads: Vec<(u64, Vec<u8>)> =
        ndlog::Log::open(&log).unwrap().records().map(|r| (r.seq, r.data.to_vec())).collect();
    assert_exactly_once(&read_stream(&nats.url(), "LIB"), &payloads, "lib");
}

/// A log removed and written again at the same path, shipped with the old cursor: refused with
/// exit 9 (its records 1..=20 would have been skipped, and their message ids were the old
/// log's), saying to use another --id; nothing is published. As told, the new log ships whole.
#[test]
fn a_log_created_again_is_refused_rather_than_skipped() {
    let Some(nats) = Nats::start("recreated") else { return };
    let dir = util::tempdir();
    let log = dir.path().join("events.ndjson");
    fill(&log, 20);
    let cursor = dir.path().join("events.cursor");
    let url = nats.url();
    let out = ship(&log, &url, "ev.again", &cursor, &["--once", "--create-stream"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(cursor_at(&cursor), 20);
    let old = log_lines(&log);

    std::fs::remove_file(&log).unwrap();
    let writer = ndlog::Writer::open(&log).unwrap();
    for i in 1..=30 {
        writer.append_raw(format!("{{\"again\":{i}}}").as_bytes()).unwrap();
    }
    drop(writer);
    let out = ship(&log, &url, "ev.again", &cursor, &["--once"]);
    let err = util::stderr(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    for said in ["committed against another log", "events.cursor.record", "another --id"] {
        assert!(err.contains(said), "{said:?} not in: {err}");
    }
    assert_eq!(cursor_at(&cursor), 20, "the cursor is left as it was");
    assert_exactly_once(&read_stream(&url, "ev_again"), &old, &default_id(&log));

    std::fs::remove_file(&cursor).unwrap();
    std::fs::remove_file(dir.path().join("events.cursor.record")).unwrap();
    let out = ship(&log, &url, "ev.again", &cursor, &["--once", "--id", "events-2"]);
    assert!(util::stdout(&out).contains("shipped 30 record(s)"), "{}", util::stderr(&out));
}
