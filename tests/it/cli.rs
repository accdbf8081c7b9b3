//! The `ndlog` command line as a user meets it: ranges, tail, stats, help, pipes, file modes,
//! and the demo the README's quickstart runs.

use crate::util;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use util::*;

fn lines(args: &[&str]) -> Vec<String> {
    let out = run(args, b"");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn cat_ranges_match_a_filter_over_all_records() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&path).unwrap();
    for i in 0..3000u64 {
        writer.append_raw(format!(r#"{{"i":{i}}}"#).as_bytes()).unwrap();
        if i % 500 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
    }
    let log = path.to_str().unwrap();
    let all = independent_parse(&std::fs::read(&path).unwrap());
    let mid_ts = all[1700].ts;
    let late_ts = all[2600].ts;
    type Keep = Box<dyn Fn(&Line) -> bool>;
    let cases: Vec<(Vec<String>, Keep)> = vec![
        (vec!["--from-seq".into(), "1234".into()], Box::new(|l| l.seq >= 1234)),
        (vec!["--to-seq".into(), "17".into()], Box::new(|l| l.seq <= 17)),
        (
            vec!["--from-seq".into(), "10".into(), "--to-seq".into(), "20".into()],
            Box::new(|l| (10..=20).contains(&l.seq)),
        ),
        (vec!["--since".into(), mid_ts.to_string()], Box::new(move |l| l.ts >= mid_ts)),
        (
            vec!["--since".into(), mid_ts.to_string(), "--until".into(), late_ts.to_string()],
            Box::new(move |l| l.ts >= mid_ts && l.ts < late_ts),
        ),
        (vec!["--since".into(), "2000-01-01T00:00:00Z".into()], Box::new(|_| true)),
        (vec!["--since".into(), "2999-01-01T00:00:00Z".into()], Box::new(|_| false)),
        (vec!["--from-seq".into(), "99999".into()], Box::new(|_| false)),
    ];
    for (extra, keep) in cases {
        let mut args = vec!["cat", "--data", log];
        args.extend(extra.iter().map(String::as_str));
        let got = lines(&args);
        let want: Vec<String> =
            all.iter().filter(|l| keep(l)).map(|l| l.data.to_string()).collect();
        assert_eq!(got, want, "{extra:?}");
    }
    // Whole lines by default: each is the record exactly as stored.
    let got = lines(&["cat", "--from-seq", "3000", log]);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert_eq!(got, [stored.lines().last().unwrap()]);
}

#[test]
fn tail_prints_the_last_records_and_follows() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 50);
    let log = path.to_str().unwrap();
    assert_eq!(
        lines(&["tail", "-n", "3", "--data", log]),
        [r#"{"n":48}"#, r#"{"n":49}"#, r#"{"n":50}"#]
    );
    assert_eq!(lines(&["tail", "-n", "500", log]).len(), 50);
    let mut follower = ndlog()
        .args(["tail", "-f", "-n", "1", "--data", log])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"n\":50}\n");
    let writer = ndlog::Writer::open(&path).unwrap();
    for i in 51..=53 {
        writer.append_raw(format!(r#"{{"n":{i}}}"#).as_bytes()).unwrap();
    }
    for i in 51..=53 {
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{{\"n\":{i}}}\n"));
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn stats_and_verify_describe_the_log() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 25);
    let log = path.to_str().unwrap();
    let out = run(&["stats", "--json", log], b"");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["records"].as_u64(), v["first_seq"].as_u64(), v["last_seq"].as_u64()),
        (Some(25), Some(1), Some(25))
    );
    assert_eq!(v["bytes"].as_u64(), Some(std::fs::metadata(&path).unwrap().len()));
    let text = lines(&["stats", log]).join("\n");
    assert!(text.contains("records:        25"), "{text}");
    let out = run(&["verify", log], b"");
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(": ok") && stdout(&out).contains("valid records:  25 (seq 1..=25)")
    );
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let dir = tempdir();
    let path = write_log(dir.path(), "big.ndjson", 20_000);
    let mut cat = ndlog()
        .args(["cat", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    cat.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(cat.stdout.take()); // like `| head`
    let mut err = String::new();
    cat.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = cat.wait().unwrap();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(err, "", "nothing on stderr");
}

#[test]
fn help_lists_options_and_exit_codes() {
    for cmd in [
        &["--help"][..],
        &["append", "--help"],
        &["cat", "--help"],
        &["verify", "--help"],
        &["tail", "--help"],
        &["stats", "--help"],
        &["demo", "--help"],
    ] {
        let out = run(cmd, b"");
        assert!(out.status.success());
        let text = stdout(&out);
        assert!(
            text.contains("Exit codes:") && text.contains("3  the log holds corrupt lines"),
            "{cmd:?}"
        );
    }
    let text =
        stdout(&run(&["append", "--help"], b"")).split_whitespace().collect::<Vec<_>>().join(" ");
    for option in [
        "--durability",
        "[default: always]",
        "--lock-timeout",
        "[default: 10s]",
        "--max-record-size",
    ] {
        assert!(text.contains(option), "append --help lacks {option}");
    }
}

#[test]
fn new_logs_and_lock_files_are_private() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let out = run(&["append", path.to_str().unwrap()], b"{}\n");
    assert!(out.status.success());
    for file in [path.clone(), dir.path().join("events.ndjson.lock")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let shared = dir.path().join("shared.ndjson");
    ndlog::Options::new().mode(0o640).open(&shared).unwrap();
    assert_eq!(
        std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777,
        0o640 & !util::umask()
    );
}

#[test]
fn the_quickstart_demo_runs_and_checks_itself() {
    let out = run(&["demo", "--writers", "2", "--records", "300", "--threads", "2"], b"");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for expect in [
        "ingest:",
        "crash:",
        "killed with SIGKILL",
        "0 missing, 0 acknowledged twice",
        "strictly increasing: true",
        "scan:",
        "segments:",
        "retain:",
        "left the cursor at",
    ] {
        assert!(text.contains(expect), "demo output lacks {expect:?}:\n{text}");
    }
}

#[test]
fn append_reads_a_large_stdin_while_it_reports() {
    // 30,000 records: the acknowledgements `append` prints fill a pipe long before it has read
    // its input, so the test's runner must drain them while it feeds stdin (it waited forever
    // before, each process blocked on a full pipe).
    let dir = util::tempdir();
    let log = dir.path().join("big.ndjson");
    let input: String = (1..=30_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let out =
        util::run(&["append", log.to_str().unwrap(), "--durability", "never"], input.as_bytes());
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(util::stdout(&out).lines().count(), 30_000, "one acknowledgement a record");
    assert!(out.stdout.len() > 1 << 16, "more than a pipe holds");
    let reader = ndlog::Reader::open(&log).unwrap();
    assert_eq!(reader.records().count(), 30_000);
    assert_eq!(reader.last().unwrap().seq, 30_000);
}

#[test]
fn times_up_to_the_last_ts_that_is_a_date_are_read_back() {
    // 9999-12-31T23:59:59.999Z, the largest ts ndlog takes (import refuses one past it), and
    // the day before: the time library's own timestamps end at 9999-12-30T22:00:00Z, and the
    // times between were refused as not RFC 3339.
    const MAX_TS: u64 = 253_402_300_799_999;
    let dir = tempdir();
    let path = dir.path().join("far.ndjson");
    let mut bytes = Vec::new();
    for (seq, ts) in [(1, 1_000), (2, MAX_TS - 86_400_000), (3, MAX_TS)] {
        ndlog::format::encode(&mut bytes, seq, ts, br#"{"id":"a"}"#);
    }
    std::fs::write(&path, &bytes).unwrap();
    let log = path.to_str().unwrap();
    let cat = |args: &[&str]| {
        let out = run(&[&["cat", log][..], args].concat(), b"");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        seqs(&out.stdout)
    };
    assert_eq!(cat(&["--since", "9999-12-31T23:59:59.999Z"]), [3]);
    assert_eq!(cat(&["--since", "9999-12-31T18:59:59.999-05:00"]), [3]);
    assert_eq!(cat(&["--since", "9999-12-30T23:59:59.999Z"]), [2, 3]);
    assert_eq!(cat(&["--until", "9999-12-31 23:59:59.999"]), [1, 2]);
    assert_eq!(cat(&["--until", "9999-12-31"]), [1, 2]);
    assert_eq!(cat(&["--until", "9999-12-30"]), [1]);
    let at = run(
        &["history", log, "--key", "/id", "--entity", "a", "--at", "9999-12-31T23:59:59Z"],
        b"",
    );
    assert!(at.status.success(), "{}", stderr(&at));
    assert_eq!(seqs(&at.stdout), [2]);
    // What format_ts prints of a ts is read back as that ts.
    let out = run(&["stats", log], b"");
    assert!(stdout(&out).contains("9999-12-31T23:59:59.999Z"), "{}", stdout(&out));
}

#[test]
fn tail_n_past_the_log_does_not_gather_every_record_in_memory() {
    // `tail -n` gathered the last n records before printing them: with an n past the log's
    // size, every record of the log (56 bytes each, beside the map); `tail -f -n` did so until
    // it followed, on a single-file log and on a segmented one. Standard output is left unread,
    // so the command stops once the pipe is full, its records gathered or not.
    const RECORDS: u64 = 1_000_000;
    let dir = tempdir();
    let path = dir.path().join("big.ndjson");
    let mut bytes = Vec::new();
    for seq in 1..=RECORDS {
        ndlog::format::encode(&mut bytes, seq, 1_763_712_000_000 + seq, b"{}");
    }
    std::fs::write(&path, &bytes).unwrap();
    // The same records in sealed segments of 2 MiB (committed: a roll syncs what it seals).
    let segmented = dir.path().join("big");
    let settings = ndlog::segments::Settings::new(2 << 20);
    let writer = ndlog::Options::new()
        .segments(settings)
        .durability(ndlog::Durability::Never)
        .open(&segmented)
        .unwrap();
    let payloads = vec![b"{}"; 10_000];
    for _ in 0..RECORDS / 10_000 {
        writer.append_raw_batch(&payloads).unwrap();
    }
    drop(writer);
    let (file, segmented) = (path.to_str().unwrap(), segmented.to_str().unwrap());
    let n = u64::MAX.to_string();
    let cases: [&[&str]; 4] = [
        &["tail", "-n", &n, file],
        &["tail", "-f", "-n", &n, file, "--uncommitted"],
        &["tail", "-f", "-n", &n, segmented],
        &["tail", "-f", "-n", &n, segmented, "--uncommitted"],
    ];
    for args in cases {
        let mut child =
            ndlog().args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut peak = 0;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(1500) {
            if let Some(bytes) = util::proc_status_bytes(child.id(), "RssAnon:") {
                peak = peak.max(bytes);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Its first lines are the log's first records.
        let mut first = [0u8; 64];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let text = String::from_utf8_lossy(&first);
        assert!(first.starts_with(br#"{"seq":1,"#), "{args:?}: {text}");
        assert!(peak < 24 << 20, "{args:?}: anonymous memory peaked at {} MiB", peak >> 20);
    }
}

/// A record whose ts is the largest there is was left out of the state at that ts: the search
/// for "after ts" saturated at ts itself.
#[test]
fn the_state_at_the_largest_ts_includes_a_record_at_it() {
    let dir = tempdir();
    let path = dir.path().join("far.ndjson");
    let mut bytes = Vec::new();
    ndlog::format::encode(&mut bytes, 1, 1000, br#"{"id":"a","v":1}"#);
    ndlog::format::encode(&mut bytes, 2, u64::MAX, br#"{"id":"a","v":2}"#);
    std::fs::write(&path, &bytes).unwrap();
    let reader = ndlog::Reader::open(&path).unwrap();
    assert_eq!(reader.last_at(u64::MAX).map(|r| r.seq), Some(2));
    assert_eq!(reader.last_at(u64::MAX - 1).map(|r| r.seq), Some(1));
    let log = path.to_str().unwrap();
    let at = u64::MAX.to_string();
    let out = run(&["history", log, "--key", "/id", "--entity", "a", "--at", &at], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seqs(&out.stdout), [2]);
}
