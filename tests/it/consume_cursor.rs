//! Consumers with a cursor (`ndlog tail -f --cursor`): killed with SIGKILL at random moments
//! while writer processes append and compactions run, they deliver every record at least once,
//! skip none, and redeliver after each kill no more than the commit bound. And the rest of the
//! consumer's command line: `--after-seq`, a log that does not exist yet, a clean stop on
//! SIGTERM, retention reported (and `--strict`), committed and uncommitted delivery.

use crate::util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use util::*;

/// Records per commit the killed consumers are given: the redelivery bound.
const COMMIT_EVERY: usize = 40;

/// Starts `ndlog tail -f --cursor CURSOR LOG` with its output going to `out`.
fn consumer(log: &Path, cursor: &Path, out: &Path) -> Child {
    let file = std::fs::File::create(out).unwrap();
    ndlog()
        .args(["tail", "-f", "--cursor"])
        .arg(cursor)
        .arg(log)
        .args(["--commit-every", &COMMIT_EVERY.to_string(), "--commit-interval", "200ms"])
        .stdout(file)
        .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
        .spawn()
        .unwrap()
}

/// The seqs and `i`s of the whole lines in a consumer's output (a torn last line is what a
/// kill mid-write leaves: never delivered, it comes again).
fn delivered(out: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read(out).unwrap();
    let whole = match text.iter().rposition(|&b| b == b'\n') {
        Some(i) => &text[..=i],
        None => &[][..],
    };
    whole
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("a whole record line");
            (v["seq"].as_u64().unwrap(), v["data"]["id"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

fn sigkill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn sigterm(child: &Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
}

#[test]
fn a_consumer_killed_again_and_again_delivers_everything_at_least_once() {
    soak(false);
}

/// The same on a segmented log rolling every 150 records, with key compactions of its sealed
/// segments: the consumer crosses rolls and rewritten segments without a gap.
#[test]
fn a_segmented_log_consumer_killed_again_and_again_delivers_everything_at_least_once() {
    soak(true);
}

fn soak(segmented: bool) {
    let dir = tempdir();
    let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
    if segmented {
        let out = ndlog()
            .args(["create", "--segment-bytes", "2MiB", "--segment-records", "150"])
            .arg(&log)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let cursor = dir.path().join("shipper.cursor");
    // Two writer processes, each fed lines at its own pace; every 7th line is a "filler" with a
    // shared key, so that key compactions drop something (never a record with an id).
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut child = ndlog()
                .args(["append", "--durability", if w == 0 { "always" } else { "group" }])
                .arg(&log)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let feeder = std::thread::spawn(move || {
                for i in 0..1500 {
                    let line = if i % 7 == 0 {
                        r#"{"k":"filler"}"#.to_string()
                    } else {
                        format!(r#"{{"k":"w{w}-{i}","id":"w{w}-{i}"}}"#)
                    };
                    writeln!(stdin, "{line}").unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            });
            (child, feeder)
        })
        .collect();
    let compactor = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut runs = 0;
            for _ in 0..12 {
                std::thread::sleep(Duration::from_millis(150));
                let out = ndlog().args(["compact", "--key", "/k"]).arg(&log).output().unwrap();
                runs += u32::from(out.status.success());
            }
            runs
        })
    };
    let mut rng = 0xc0ffee_u64;
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % n
    };
    // Consumers, each killed after a random while; each writes to an output of its own.
    let mut outputs = Vec::new();
    let started = Instant::now();
    for k in 0..24 {
        let out = dir.path().join(format!("out.{k}"));
        let mut child = consumer(&log, &cursor, &out);
        std::thread::sleep(Duration::from_millis(30 + next(170)));
        sigkill(&mut child);
        outputs.push(out);
    }
    for (mut child, feeder) in writers {
        feeder.join().unwrap();
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    let compactions = compactor.join().unwrap();
    // The last consumer runs until it has caught up, and stops cleanly on SIGTERM.
    let last_seq = ndlog::Log::open(&log).unwrap().last().unwrap().seq;
    let out = dir.path().join("out.last");
    let child = consumer(&log, &cursor, &out);
    // Its SIGTERM handler is installed first thing; give it the moment to start.
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(60);
    // Caught up: an idle consumer commits what it delivered at once.
    let committed = || std::fs::read_to_string(&cursor).unwrap_or_default();
    while committed() != format!("{last_seq}\n") {
        assert!(
            Instant::now() < deadline,
            "the last consumer did not catch up to seq {last_seq}: delivered up to {:?}; stderr: {}; watermark {:?}",
            delivered(&out).last(),
            std::fs::read_to_string(out.with_extension("err")).unwrap_or_default(),
            ndlog::consume::Watermark::read(&log),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "SIGTERM stops the consumer cleanly: {status:?}");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), format!("{last_seq}\n"));
    outputs.push(out);

    // Every record with an id in the final log was delivered; each consumer's output is in
    // seq order; a restart redelivers at most one commit's worth.
    let mut seen = BTreeSet::new();
    let mut high = 0u64;
    let mut redelivered_max = 0;
    let mut total = 0;
    for out in &outputs {
        let got = delivered(out);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{} out of order", out.display());
        let again = got.iter().filter(|(seq, _)| *seq <= high).count();
        assert!(again <= COMMIT_EVERY, "{} redelivered {again} records", out.display());
        redelivered_max = redelivered_max.max(again);
        if let (Some(&(first, _)), true) = (got.first(), high > 0) {
            // No gap at a restart: it resumes at or before the record after the last one seen.
            assert!(first <= high + 1 || no_ids_between(&log, high, first), "gap after seq {high}");
        }
        high = high.max(got.last().map_or(0, |r| r.0));
        total += got.len();
        seen.extend(got.into_iter().map(|(_, id)| id));
    }
    let reader = ndlog::Log::open(&log).unwrap();
    let mut ids = 0;
    for r in reader.records() {
        let v: serde_json::Value = serde_json::from_slice(r.data).unwrap();
        if let Some(id) = v["id"].as_str() {
            ids += 1;
            assert!(seen.contains(id), "record {} ({id}) was never delivered", r.seq);
        }
    }
    assert!(ids > 2000, "only {ids} records");
    let _ = writeln!(
        std::io::stderr(),
        "consumer soak ({}): 24 SIGKILLs, {compactions} compactions, {ids} records, {total} deliveries, \
         at most {redelivered_max} redelivered after a kill (bound {COMMIT_EVERY}), {:.1} s",
        if segmented { "segmented" } else { "single file" },
        started.elapsed().as_secs_f64()
    );
}

/// Whether the log holds no record with an id between the two seqs (the seqs a compaction
/// removed held only fillers).
fn no_ids_between(log: &Path, after: u64, before: u64) -> bool {
    ndlog::Log::open(log).unwrap().records().all(|r| {
        r.seq <= after || r.seq >= before || !String::from_utf8_lossy(r.data).contains("\"id\"")
    })
}

/// Reads lines from a child's stdout on a thread, so that a test can wait with a deadline.
fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_line(rx: &std::sync::mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10)).expect("a line within 10 s")
}

#[test]
fn after_seq_starts_after_it_and_a_missing_log_is_waited_for() {
    let dir = tempdir();
    let log = dir.path().join("later.ndjson");
    let mut child = ndlog()
        .args(["tail", "-f", "--after-seq", "2", "--data"])
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    std::thread::sleep(Duration::from_millis(100));
    let writer = ndlog::Writer::open(&log).unwrap();
    for i in 1..=4 {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    assert_eq!(next_line(&rx), "3");
    assert_eq!(next_line(&rx), "4");
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("does not exist yet").count(), 1, "said once: {err}");
}

/// Options for a segmented log rolling every `n` records.
fn segments_of(n: u64) -> ndlog::Options {
    let settings = ndlog::segments::Settings {
        segment_records: Some(n),
        ..ndlog::segments::Settings::new(2 << 20)
    };
    ndlog::Options::new().segments(settings)
}

#[test]
fn committed_followers_wait_for_the_sync_and_uncommitted_ones_do_not() {
    committed_and_uncommitted(false);
}

#[test]
fn committed_followers_of_a_segmented_log_wait_for_the_sync_and_uncommitted_ones_do_not() {
    committed_and_uncommitted(true);
}

fn committed_and_uncommitted(segmented: bool) {
    let dir = tempdir();
    let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
    let options = if segmented { segments_of(100) } else { ndlog::Options::new() };
    let writer = options.durability(ndlog::Durability::Never).open(&log).unwrap();
    writer.append_raw(b"1").unwrap();
    writer.sync().unwrap();
    let spawn = |extra: &[&str]| {
        ndlog()
            .args(["tail", "-f", "--after-seq", "0", "--data"])
            .args(extra)
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut committed, mut eager) = (spawn(&[]), spawn(&["--uncommitted"]));
    let (c, e) = (lines_of(&mut committed), lines_of(&mut eager));
    assert_eq!(next_line(&c), "1");
    assert_eq!(next_line(&e), "1");
    writer.append_raw(b"2").unwrap();
    assert_eq!(next_line(&e), "2", "uncommitted: as soon as written");
    assert!(c.recv_timeout(Duration::from_millis(300)).is_err(), "committed: not before the sync");
    writer.sync().unwrap();
    assert_eq!(next_line(&c), "2", "committed: once synced");
    for mut child in [committed, eager] {
        sigkill(&mut child);
    }
}

/// `tail -f -n N` prints the last N records a sync made durable, then what follows: on a log no
/// sync has covered yet, none (it printed the last N as written, the single-file path only).
#[test]
fn tail_follow_n_prints_only_synced_records_on_either_kind_of_log() {
    for segmented in [false, true] {
        let dir = tempdir();
        let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
        let options = if segmented { segments_of(100) } else { ndlog::Options::new() };
        let writer = options.durability(ndlog::Durability::Never).open(&log).unwrap();
        for n in 1..=5 {
            writer.append_raw(format!("{n}").as_bytes()).unwrap();
        }
        let mut child = ndlog()
            .args(["tail", "-f", "-n", "2", "--data"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = lines_of(&mut child);
        let early = lines.recv_timeout(Duration::from_millis(400));
        assert!(early.is_err(), "segmented {segmented}: printed {early:?} before any sync");
        // Once synced, they are durable, and come out.
        writer.sync().unwrap();
        let got: Vec<String> = (0..5).map(|_| next_line(&lines)).collect();
        assert_eq!(got, ["1", "2", "3", "4", "5"], "segmented {segmented}");
        sigkill(&mut child);
    }
}

#[test]
fn retention_that_removed_undelivered_records_is_reported_and_strict_exits_7() {
    let dir = tempdir();
    retention_reported(write_log(dir.path(), "events.ndjson", 10));
}

/// The same on a segmented log of two records per segment: retention removes whole segments.
#[test]
fn retention_of_segments_not_delivered_yet_is_reported_and_strict_exits_7() {
    let dir = tempdir();
    let log = dir.path().join("events");
    let writer = segments_of(2).open(&log).unwrap();
    for n in 1..=10 {
        writer.append_raw(format!(r#"{{"n":{n}}}"#).as_bytes()).unwrap();
    }
    drop(writer);
    retention_reported(log);
}

fn retention_reported(log: std::path::PathBuf) {
    let dir = log.parent().unwrap();
    let cursor = dir.join("c");
    std::fs::write(&cursor, "3\n").unwrap();
    let out = ndlog().args(["compact", "--keep-last", "4"]).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // --strict: says so, exits 7, and leaves the cursor before the gap.
    let out = ndlog()
        .args(["tail", "-f", "--strict", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("3 record(s) after seq 3") && err.contains("first seq still present is 7"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "3\n");
    // Without it: says so once and goes on from the first record present.
    let mut child = ndlog()
        .args(["tail", "-f", "--data", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    for want in 7..=10 {
        assert_eq!(next_line(&rx), format!(r#"{{"n":{want}}}"#));
    }
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stderr(&out).matches("removed by retention").count(), 1, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "10\n");
}

#[test]
fn a_bad_or_busy_cursor_is_refused_with_what_to_do() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let cursor = dir.path().join("c");
    std::fs::write(&cursor, "not a seq\n").unwrap();
    let out = ndlog().args(["tail", "-f", "--cursor"]).arg(&cursor).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("not a cursor file") && err.contains(cursor.to_str().unwrap()), "{err}");
    assert_eq!(err.matches(cursor.to_str().unwrap()).count(), 1, "named once: {err}");
    // -n says where to start, as the cursor does: the two together are a usage error.
    let out = ndlog().args(["tail", "-f", "-n", "2", "--cursor"]).arg(&cursor).arg(&log).output();
    assert_eq!(out.unwrap().status.code(), Some(2));
    let out = ndlog().args(["tail", "-f", "-n", "2", "--after-seq", "1"]).arg(&log).output();
    assert_eq!(out.unwrap().status.code(), Some(2));
    // A directory or a FIFO is no cursor file either (it is not a log, which it never was).
    let (fifo, subdir) = (dir.path().join("fifo"), dir.path().join("sub"));
    std::fs::create_dir(&subdir).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for bad in [&fifo, &subdir] {
        let out = ndlog().args(["tail", "-f", "--cursor"]).arg(bad).arg(&log).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("not a cursor file") && err.contains(bad.to_str().unwrap()), "{err}");
        assert!(!err.contains("not an ndlog log"), "{err}");
    }
    std::fs::remove_file(&cursor).unwrap();
    let mut first = ndlog()
        .args(["tail", "-f", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut first);
    next_line(&rx);
    let out = ndlog().args(["tail", "-f", "--cursor"]).arg(&cursor).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cursor in use"), "{}", stderr(&out));
    sigkill(&mut first);
    // Without -f, --cursor is a usage error.
    let out = ndlog().args(["tail", "--cursor"]).arg(&cursor).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `tail` and `tail -f` say on stderr which damaged lines they went past, as `cat` does: a
/// consumer was left with a seq missing that nothing reported.
#[test]
fn tail_says_which_damaged_lines_it_went_past() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.windows(8).position(|w| w == b"\"seq\":7,").unwrap();
    let data = at + bytes[at..].windows(7).position(|w| w == b"\"data\":").unwrap() + 7;
    bytes[data + 1] = b'X';
    std::fs::write(&log, &bytes).unwrap();
    let out = ndlog().args(["tail", "-n", "5", "--data"]).arg(&log).output().unwrap();
    assert_eq!(stdout(&out), "{\"n\":5}\n{\"n\":6}\n{\"n\":8}\n{\"n\":9}\n{\"n\":10}\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("skipped 1 corrupt line(s), the first at byte {}", at - 1)),
        "{err}"
    );
    let out = ndlog().args(["tail", "-n", "3"]).arg(&log).output().unwrap();
    assert_eq!(stderr(&out), "", "the damage is not among the last 3");
    let cursor = dir.path().join("c");
    std::fs::write(&cursor, "4\n").unwrap();
    let mut child = ndlog()
        .args(["tail", "-f", "--data", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let got: Vec<String> = (0..5).map(|_| next_line(&lines)).collect();
    assert_eq!(got, ["{\"n\":5}", "{\"n\":6}", "{\"n\":8}", "{\"n\":9}", "{\"n\":10}"]);
    sigterm(&child);
    child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("skipped 1 corrupt line(s)"), "{err}");
}

/// A cursor past every record of a log that holds none yet (created again, say) is said, as one
/// past its last record is: the records up to it would be skipped without a word.
#[test]
fn a_cursor_ahead_of_an_empty_log_is_said() {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    ndlog::Writer::open(&log).unwrap();
    let cursor = dir.path().join("c");
    std::fs::write(&cursor, "5\n").unwrap();
    let mut child = ndlog()
        .args(["tail", "-f", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child);
    child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("cursor is at seq 5, past every record of the log"), "{err}");
}

/// `tail -f --after-seq N` past the last record says so (as for a cursor), for a file and a
/// segmented log; a start within the log says nothing. It waited without a word.
#[test]
fn after_seq_past_the_last_record_is_said() {
    let dir = tempdir();
    let file = write_log(dir.path(), "events.ndjson", 3);
    let segmented = dir.path().join("seg");
    let seg = segmented.to_str().unwrap();
    assert!(run(&["create", seg, "--segment-bytes", "2MiB"], b"").status.success());
    assert!(run(&["append", seg], b"{}\n{}\n{}\n").status.success());
    let stderr_of = |log: &Path, after: &str| {
        let mut child = ndlog()
            .args(["tail", "-f", "--after-seq", after])
            .arg(log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        sigterm(&child);
        child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        err
    };
    for log in [&file, &segmented] {
        let err = stderr_of(log, "10");
        let said = "--after-seq 10 is past its last record (seq 3); waiting for seq 11";
        assert!(err.contains(said), "{}: {err}", log.display());
        let err = stderr_of(log, "2");
        assert!(!err.contains("--after-seq"), "{}: {err}", log.display());
    }
}

/// A consumer whose reader stops reading (its pipe full) cannot flush: SIGTERM still ends it,
/// its cursor at its last commit (behind what it wrote, so nothing is skipped on restart).
/// Failed on d50e891: it stayed blocked writing, whatever signal came but SIGKILL.
#[test]
fn sigterm_ends_a_consumer_blocked_on_a_reader_that_does_not_read() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 20_000);
    let cursor = dir.path().join("c");
    let mut child = ndlog()
        .args(["tail", "-f", "--cursor"])
        .arg(&cursor)
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // More than a pipe holds: it blocks writing once the pipe is full, its stdout unread.
    std::thread::sleep(Duration::from_millis(500));
    let stdout = child.stdout.take().unwrap();
    sigterm(&child);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdout);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), None);
    assert_eq!(status.code(), Some(128 + 15));
    // (None when its first flush did not fit in the pipe.)
    let committed = std::fs::read_to_string(&cursor).map_or(0, |s| s.trim().parse().unwrap());
    assert!(committed < 20_000, "only what was flushed: {committed}");
}

/// A new cursor file is private (0600, as a log is by default), whatever the umask; one whose
/// owner changed its mode keeps it through commits. It was 0644 whatever the umask.
#[test]
fn a_cursor_file_is_private_and_keeps_the_mode_given_to_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let path = dir.path().join("c");
    let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let mut cursor = ndlog::consume::Cursor::load(&path).unwrap();
    cursor.commit(1).unwrap();
    assert_eq!(mode(), 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    cursor.commit(2).unwrap();
    assert_eq!((mode(), std::fs::read_to_string(&path).unwrap()), (0o640, "2\n".to_string()));
}

/// Waits for `child` to exit, at most 30 s (then kills it and fails).
fn exit_code_within(child: &mut Child, what: &str) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            sigkill(child);
            panic!("{what}: still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a consumer until its cursor file says `seq` (it commits once caught up), then stops
/// it with SIGTERM; returns the seqs it delivered.
fn consume_to(log: &Path, cursor: &Path, out: &Path, seq: u64) -> Vec<u64> {
    let mut child = consumer(log, cursor, out);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(cursor).ok().as_deref() != Some(&format!("{seq}\n")) {
        assert!(Instant::now() < deadline, "the consumer never committed seq {seq}");
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    assert_eq!(exit_code_within(&mut child, "a consumer after SIGTERM"), Some(0));
    delivered(out).into_iter().map(|(seq, _)| seq).collect()
}

/// Appends records `{"id":"g<generation>-<i>"}` for i in `from..from + n` to `log` (a
/// segmented log rolling every 4 records when `segmented`), creating it when missing.
fn write_ids(log: &Path, segmented: bool, generation: u32, from: u32, n: u32) {
    let writer = if segmented { segments_of(4).open(log) } else { ndlog::Writer::open(log) };
    let writer = writer.unwrap();
    for i in from..from + n {
        writer.append(&serde_json::json!({"id": format!("g{generation}-{i}")})).unwrap();
    }
}

/// Removes the log, as a user would before creating it again.
fn remove_log(log: &Path, segmented: bool) {
    match segmented {
        true => std::fs::remove_dir_all(log).unwrap(),
        false => std::fs::remove_file(log).unwrap(),
    }
}

#[test]
fn a_cursor_used_with_a_log_created_again_is_refused_with_exit_9() {
    recreated_log_refused(false);
}

#[test]
fn a_cursor_used_with_a_segmented_log_created_again_is_refused_with_exit_9() {
    recreated_log_refused(true);
}

/// A cursor committed at seq 7 of a log, then used with a log removed and written again at
/// the same path (12 other records): a bare seq would skip the new log's records 1..=7. The
/// consumer refuses it (exit 9, saying what to remove), delivers nothing and leaves the
/// cursor; a retention compaction of the same log did not trip it; with the cursor removed
/// as told, the new log is delivered whole.
fn recreated_log_refused(segmented: bool) {
    let dir = tempdir();
    let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
    let write =
        |generation: u32, from: u32, n: u32| write_ids(&log, segmented, generation, from, n);
    write(1, 1, 5);
    let (cursor, out) = (dir.path().join("c.cursor"), dir.path().join("out"));
    assert_eq!(consume_to(&log, &cursor, &out, 5), (1..=5).collect::<Vec<_>>());
    let record = dir.path().join("c.cursor.record");
    let remembered = std::fs::read_to_string(&record).expect("FILE.record written at commit");
    assert!(remembered.starts_with(r#"{"seq":5,"ts":"#), "{remembered}");

    // The same log, appended to and compacted by retention (record 5, the one remembered,
    // kept in a new file or segment list): the consumer goes on.
    write(1, 6, 6);
    let compact = ndlog().args(["compact", "--keep-last", "7"]).arg(&log).output().unwrap();
    assert_eq!(compact.status.code(), Some(0), "{}", stderr(&compact));
    assert_eq!(consume_to(&log, &cursor, &out, 11), (6..=11).collect::<Vec<_>>());

    // Removed and written again, with other records.
    remove_log(&log, segmented);
    write(2, 1, 12);
    let mut child = consumer(&log, &cursor, &out);
    let code = exit_code_within(&mut child, "a consumer of another log");
    let err = std::fs::read_to_string(out.with_extension("err")).unwrap();
    assert_eq!(code, Some(9), "{err}");
    for said in ["committed against another log", "c.cursor", "c.cursor.record", "record 11"] {
        assert!(err.contains(said), "{said:?} not in: {err}");
    }
    assert!(delivered(&out).is_empty(), "nothing delivered");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "11\n", "the cursor is left as it was");

    // The usual case: created again and shorter than the cursor (or with no record yet): the
    // consumer would wait for seq 12 and skip records 1..=11 as they came.
    for n in [3, 0] {
        remove_log(&log, segmented);
        write(3, 1, n);
        let mut child = consumer(&log, &cursor, &out);
        let code = exit_code_within(&mut child, "a consumer of a shorter log");
        let err = std::fs::read_to_string(out.with_extension("err")).unwrap();
        assert_eq!(code, Some(9), "{err}");
        let ends = if n == 0 { "holds no record".to_string() } else { format!("ends at seq {n}") };
        for said in ["committed at record 11", &ends[..], "c.cursor.record alone", "after seq 11"] {
            assert!(err.contains(said), "{said:?} not in: {err}");
        }
        assert!(delivered(&out).is_empty(), "nothing delivered");
    }
    remove_log(&log, segmented);
    write(2, 1, 12);

    // As told: without the cursor (and what it remembers), the new log from its start.
    std::fs::remove_file(&cursor).unwrap();
    std::fs::remove_file(&record).unwrap();
    let got = consume_to(&log, &cursor, &out, 12);
    assert_eq!(got, (1..=12).collect::<Vec<_>>());
    assert!(delivered(&out).iter().all(|(_, id)| id.starts_with("g2-")));
}

/// `FILE.record` is a hint: torn, damaged, edited, a symlink, or naming a record past the
/// cursor, it is ignored (no false alarm) and written again at the next check; a cursor
/// without one (written by an earlier ndlog) takes one up at its first check. A record the
/// log no longer holds (a key compaction removed it) cannot be compared: the check passes.
#[test]
fn what_a_cursor_remembers_is_a_hint_that_never_raises_a_false_alarm() {
    let dir = tempdir();
    let (log, other) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    let fill = |path: &Path, tag: &str| {
        let w = ndlog::Writer::open(path).unwrap();
        for i in 1..=6 {
            w.append(&serde_json::json!({"id": i % 3, "tag": tag})).unwrap();
        }
    };
    fill(&log, "a");
    fill(&other, "b");
    let cursor_file = dir.path().join("c");
    let record_file = dir.path().join("c.record");
    let open = |p: &Path| ndlog::Log::open(p).unwrap();
    let is_other_log = |r: ndlog::Result<()>| {
        matches!(r.map_err(|e| e.into_kind()), Err(ndlog::ErrorKind::CursorOfAnotherLog { .. }))
    };
    // A cursor without FILE.record (an earlier ndlog wrote it): taken up at the first check.
    std::fs::write(&cursor_file, "4\n").unwrap();
    let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
    cursor.check(&open(&log)).unwrap();
    let taken_up = std::fs::read_to_string(&record_file).unwrap();
    assert!(taken_up.starts_with(r#"{"seq":4,"#), "{taken_up}");
    assert!(is_other_log(cursor.check(&open(&other))));
    drop(cursor);

    // Whatever else FILE.record holds, the check passes, even against another log, and
    // FILE.record then names the record at the cursor again.
    let mut flipped = taken_up.clone().into_bytes();
    flipped[20] ^= 1;
    let symlink_target = dir.path().join("elsewhere");
    std::fs::write(&symlink_target, &taken_up).unwrap();
    let cases: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("torn", Some(taken_up.as_bytes()[..taken_up.len() / 2].to_vec())),
        ("a flipped bit", Some(flipped)),
        ("empty", Some(Vec::new())),
        ("not JSON", Some(b"\x00\xff garbage".to_vec())),
        ("edited by hand", Some(taken_up.replace(r#""seq":4"#, r#""seq":3"#).into_bytes())),
        ("a symlink", None),
    ];
    for (what, bytes) in cases {
        let _ = std::fs::remove_file(&record_file);
        match bytes {
            Some(bytes) => std::fs::write(&record_file, bytes).unwrap(),
            None => std::os::unix::fs::symlink(&symlink_target, &record_file).unwrap(),
        }
        let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
        cursor.check(&open(&other)).unwrap_or_else(|e| panic!("{what}: {e}"));
        if what == "a symlink" {
            // Neither followed nor replaced.
            assert_eq!(std::fs::read_to_string(&symlink_target).unwrap(), taken_up);
            assert!(std::fs::symlink_metadata(&record_file).unwrap().file_type().is_symlink());
        } else {
            let now = std::fs::read_to_string(&record_file).unwrap();
            assert!(now.starts_with(r#"{"seq":4,"#) && now != taken_up, "{what}: {now}");
        }
    }

    // FILE.record past the cursor (the cursor moved back by hand): ignored, then replaced.
    std::fs::remove_file(&record_file).unwrap();
    std::fs::write(&record_file, &taken_up).unwrap();
    std::fs::write(&cursor_file, "2\n").unwrap();
    let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
    cursor.check(&open(&other)).unwrap();
    let replaced = std::fs::read_to_string(&record_file).unwrap();
    assert!(replaced.starts_with(r#"{"seq":2,"#), "{replaced}");
    drop(cursor);

    // A record a key compaction removed cannot be compared: the check passes (only the
    // newest record of each id is kept, and record 2 was not).
    std::fs::remove_file(&record_file).unwrap();
    std::fs::write(&cursor_file, "2\n").unwrap();
    let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
    cursor.check(&open(&log)).unwrap();
    let compact = ndlog().args(["compact", "--key", "/id"]).arg(&log).output().unwrap();
    assert_eq!(compact.status.code(), Some(0), "{}", stderr(&compact));
    assert!(open(&log).get(2).is_none() && open(&log).get(5).is_some());
    cursor.check(&open(&log)).unwrap();
    assert!(is_other_log(cursor.check(&open(&other))), "the other log's record 2 differs");
    // A commit at a record kept: compared from then on.
    let compacted = open(&log);
    cursor.commit_at(&compacted.get(5).unwrap()).unwrap();
    cursor.check(&open(&log)).unwrap();
    assert!(is_other_log(cursor.check(&open(&other))), "the other log's record 5 differs");
    // The same, looking up only the records compared.
    cursor.check_log_at(&log).unwrap();
    assert!(is_other_log(cursor.check_log_at(&other)), "the other log's record 5 differs");
    cursor.check_log_at(dir.path().join("missing.ndjson")).unwrap();
}

/// A log whose last record, one the cursor was committed at, was lost to damage ends before
/// it: refused until the next append takes a seq past it (the writer's floor), or at once if
/// the user removes `FILE.record`, as the message says; and a log restored from an older copy
/// is refused the same way.
#[test]
fn a_log_that_ends_before_the_cursors_record_is_refused_until_it_goes_on() {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    let w = ndlog::Writer::open(&log).unwrap();
    for i in 1..=5 {
        w.append(&serde_json::json!({"i": i})).unwrap();
    }
    let older_copy = std::fs::read(&log).unwrap();
    w.append(&serde_json::json!({"i": 6})).unwrap();
    drop(w);
    let cursor_file = dir.path().join("c");
    let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
    let last = ndlog::Log::open(&log).unwrap();
    cursor.commit_at(&last.get(6).unwrap()).unwrap();
    drop(last);
    // Both checks: of the log opened whole, and of the records looked up before a commit.
    let past = |cursor: &mut ndlog::Cursor| {
        let whole = cursor.check(&ndlog::Log::open(&log).unwrap()).map_err(|e| e.into_kind());
        let looked_up = cursor.check_log_at(&log).map_err(|e| e.into_kind());
        [whole, looked_up]
            .into_iter()
            .all(|r| matches!(r, Err(ndlog::ErrorKind::CursorPastLog { seq: 6, after: 6, .. })))
    };

    // Record 6 damaged in place (a bit flipped in its payload).
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.len() - 25;
    bytes[at] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    assert!(past(&mut cursor));
    // The next append takes seq 7 (the watermark covered 6): the log goes on past the cursor.
    let w = ndlog::Writer::open(&log).unwrap();
    assert_eq!(w.append(&serde_json::json!({"i": 7})).unwrap().seq, 7);
    drop(w);
    cursor.check(&ndlog::Log::open(&log).unwrap()).unwrap();

    // Restored from an older copy (records 1..=5): refused; FILE.record removed: goes on.
    std::fs::write(&log, &older_copy).unwrap();
    assert!(past(&mut cursor));
    drop(cursor);
    std::fs::remove_file(dir.path().join("c.record")).unwrap();
    let mut cursor = ndlog::Cursor::load(&cursor_file).unwrap();
    cursor.check(&ndlog::Log::open(&log).unwrap()).unwrap();
}

#[test]
fn a_log_created_again_while_the_consumer_runs_is_refused_at_its_next_commit() {
    recreated_under_a_consumer(false, false);
}

#[test]
fn a_segmented_log_created_again_while_the_consumer_runs_is_refused_at_its_next_commit() {
    recreated_under_a_consumer(true, false);
}

#[test]
fn a_log_created_again_and_still_shorter_than_the_cursor_is_refused_at_start() {
    recreated_under_a_consumer(false, true);
}

/// A consumer at seq 5 of a log, and the log removed and written again (8 other records),
/// either while the consumer runs, or before it starts again, while the new log is still
/// shorter than the cursor (its record 5 cannot be compared yet). The follower goes on after
/// seq 5 of whatever log is at the path, so a check at start of record 5 alone lets it deliver
/// the new log's records 6..=8, skip 1..=5, and overwrite FILE.record with the new log's
/// record 8: the evidence gone, no later start could tell. The consumer must stop instead,
/// exit 9, with its cursor and FILE.record left at the old log's record 5: at its next commit
/// when the log was created again under it (the records since the last commit were written
/// out: a consumer is at least once), at start when the new log ends before record 5.
fn recreated_under_a_consumer(segmented: bool, restarted: bool) {
    let dir = tempdir();
    let log = dir.path().join(if segmented { "events" } else { "events.ndjson" });
    let write =
        |generation: u32, from: u32, n: u32| write_ids(&log, segmented, generation, from, n);
    let remove = || remove_log(&log, segmented);
    write(1, 1, 5);
    let (cursor, out) = (dir.path().join("c.cursor"), dir.path().join("out"));
    let record = dir.path().join("c.cursor.record");
    let mut child = if restarted {
        assert_eq!(consume_to(&log, &cursor, &out, 5), (1..=5).collect::<Vec<_>>());
        remove();
        write(2, 1, 2);
        let child = consumer(&log, &cursor, &out);
        std::thread::sleep(Duration::from_millis(500));
        write(2, 3, 6);
        child
    } else {
        let child = consumer(&log, &cursor, &out);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(&cursor).ok().as_deref() != Some("5\n") {
            assert!(Instant::now() < deadline, "the consumer never committed seq 5");
            std::thread::sleep(Duration::from_millis(20));
        }
        remove();
        write(2, 1, 8);
        child
    };
    let code = exit_code_within(&mut child, "a consumer of a log created again");
    let err = std::fs::read_to_string(out.with_extension("err")).unwrap();
    assert_eq!(code, Some(9), "{err}");
    // Restarted, it finds the log ending at seq 2, unless it was slower to start than the
    // writer was to reach seq 8 (then record 5 differs).
    let ends_before = restarted && err.contains("ends at seq 2");
    assert!(ends_before || err.contains("committed against another log"), "{err}");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "5\n", "the cursor stays");
    let remembered = std::fs::read_to_string(&record).unwrap();
    assert!(remembered.starts_with(r#"{"seq":5,"#), "FILE.record still names record 5");
    // What the follower read of the new log since the last commit was written out before
    // the commit found it (records after the cursor: the cursor does not move past them).
    let new: Vec<u64> =
        delivered(&out).into_iter().filter(|(_, id)| id.starts_with("g2-")).map(|r| r.0).collect();
    assert!(new.iter().all(|&seq| seq > 5), "{new:?}");
}

/// A segmented log just rolled (its new active segment holds no record yet) still ends at the
/// sealed segment's last record: no false alarm from the check before a commit, which reads
/// the newest segments only.
#[test]
fn a_segmented_log_whose_active_segment_is_empty_is_no_false_alarm() {
    let dir = tempdir();
    let log = dir.path().join("events");
    let w = segments_of(2).open(&log).unwrap();
    for i in 1..=4 {
        w.append(&serde_json::json!({"i": i})).unwrap();
    }
    drop(w);
    // The roll the next append would make, stopped before it writes: sealed, new active empty.
    let active = log.join(format!("{:020}.ndjson.active", 3));
    assert!(active.exists(), "{:?}", std::fs::read_dir(&log).unwrap().collect::<Vec<_>>());
    std::fs::rename(&active, log.join(format!("{:020}.ndjson", 3))).unwrap();
    std::fs::write(log.join(format!("{:020}.ndjson.active", 5)), b"").unwrap();
    // The cursor remembers record 2, is at 4, and retention removed record 2's segment: the
    // record cannot be compared, and the log's last seq, 4, is past it.
    let mut cursor = ndlog::Cursor::load(dir.path().join("c")).unwrap();
    let opened = ndlog::Log::open(&log).unwrap();
    assert_eq!(opened.last().map(|r| r.seq), Some(4));
    cursor.commit_at(&opened.get(2).unwrap()).unwrap();
    cursor.commit(4).unwrap();
    drop(opened);
    std::fs::remove_file(log.join(format!("{:020}.ndjson", 1))).unwrap();
    cursor.check_log_at(&log).unwrap();
    let opened = ndlog::Log::open(&log).unwrap();
    cursor.check(&opened).unwrap();
    // And another log of the same shape, with other records, is refused.
    let other = dir.path().join("other");
    let w = segments_of(2).open(&other).unwrap();
    for i in 1..=4 {
        w.append(&serde_json::json!({"other": i})).unwrap();
    }
    drop(w);
    let refused = cursor.check_log_at(&other).map_err(|e| e.into_kind());
    assert!(matches!(refused, Err(ndlog::ErrorKind::CursorOfAnotherLog { seq: 4, .. })));
}

/// `FILE.record` removed while the consumer runs is written again at its next commit (it is
/// not kept open: writing a deleted file would leave the next start nothing to compare).
#[test]
fn what_a_cursor_remembers_is_written_again_when_removed_under_it() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let record = dir.path().join("c.record");
    let mut cursor = ndlog::Cursor::load(dir.path().join("c")).unwrap();
    let opened = ndlog::Log::open(&log).unwrap();
    cursor.commit_at(&opened.get(2).unwrap()).unwrap();
    std::fs::remove_file(&record).unwrap();
    cursor.commit_at(&opened.get(3).unwrap()).unwrap();
    let now = std::fs::read_to_string(&record).expect("written again");
    assert!(now.starts_with(r#"{"seq":3,"#), "{now}");
}

/// A `FILE.record` that is a directory or a symlink is never used, which leaves the cursor
/// unable to tell its log from one created again: the consumer says so on stderr and goes on.
#[test]
fn a_cursor_record_that_is_not_a_file_is_said() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let (cursor, out) = (dir.path().join("c"), dir.path().join("out"));
    let record = dir.path().join("c.record");
    for make in [
        |p: &Path| std::fs::create_dir(p).unwrap(),
        |p: &Path| std::os::unix::fs::symlink("/etc/hostname", p).unwrap(),
    ] {
        make(&record);
        let mut child = consumer(&log, &cursor, &out);
        let deadline = Instant::now() + Duration::from_secs(30);
        let said = loop {
            let err = std::fs::read_to_string(out.with_extension("err")).unwrap_or_default();
            if err.contains("not a regular file") || Instant::now() > deadline {
                break err;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        sigterm(&child);
        assert_eq!(exit_code_within(&mut child, "a consumer after SIGTERM"), Some(0));
        assert!(
            said.contains("c.record: not a regular file") && said.contains("remove it"),
            "{said}"
        );
        assert_eq!(delivered(&out).len(), 3, "it goes on");
        let _ = std::fs::remove_dir(&record).or_else(|_| std::fs::remove_file(&record));
        std::fs::remove_file(&cursor).unwrap();
    }
}
