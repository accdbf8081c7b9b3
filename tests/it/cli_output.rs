//! Hostile output conditions and hostile values never make the `ndlog` binary panic (exit 101):
//! standard output or standard error that cannot be written (full, closed), and a ts no
//! calendar can print.

use crate::util;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::process::{Output, Stdio};

use util::*;

/// A frame for `seq`, `ts`, `data`, as a hand-written or imported file may hold it.
fn record(seq: u64, ts: u64, data: &str) -> Vec<u8> {
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, seq, ts, data.as_bytes());
    line
}

fn dev_full() -> File {
    OpenOptions::new().write(true).open("/dev/full").unwrap()
}

/// Runs `ndlog args...` with stdout on /dev/full.
fn to_full_stdout(args: &[&str]) -> Output {
    ndlog()
        .args(args)
        .stdin(Stdio::null())
        .stdout(dev_full())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_no_panic(args: &[&str], out: &Output) {
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{args:?}: {}", stderr(out));
}

#[test]
fn stats_prints_a_ts_past_the_year_9999_as_a_number() {
    let dir = tempdir();
    let path = dir.path().join("future.ndjson");
    let mut bytes = record(1, 1_763_683_200_123, "1");
    bytes.extend(record(2, u64::MAX, r#"{"user":"u42"}"#));
    std::fs::write(&path, &bytes).unwrap();
    let log = path.to_str().unwrap();
    let out = run(&["stats", log], b"");
    assert_no_panic(&["stats"], &out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2025-11-21T00:00:00.123Z"), "{text}");
    assert!(text.contains(&u64::MAX.to_string()), "{text}");
    let out = run(&["stats", "--json", log], b"");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["last_ts"].as_u64(), Some(u64::MAX));
    // The other places a ts is printed.
    let out = run(&["history", log, "--key", "/user", "--entity", "u42", "--at", "5000"], b"");
    assert_no_panic(&["history"], &out);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn a_full_stdout_is_an_error_and_never_a_panic() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 50);
    let log = path.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["cat", log],
        &["cat", log, "--data", "--from-seq", "3"],
        &["stats", log],
        &["stats", "--json", log],
        &["verify", log],
        &["get", log, "7"],
        &["tail", log],
        &["export", log],
        &["index", log],
        &["index", "--check", log],
        &["index", "--rebuild", log],
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["cat", "--help"],
        // The compaction itself succeeds; its report cannot be written, and the exit code
        // says so rather than 101.
        &["compact", log, "--keep-last", "10"],
    ];
    for args in cases {
        let out = to_full_stdout(args);
        assert_no_panic(args, &out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("No space left on device"),
            "{args:?} should name the error: {}",
            stderr(&out)
        );
    }
    assert_eq!(ndlog::Reader::open(&path).unwrap().records().count(), 10, "compacted");
    let out = ndlog()
        .args(["history", log, "--key", "/n", "--entity", "50"])
        .stdout(dev_full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_no_panic(&["history"], &out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // append acknowledges each record on stdout: an acknowledgement that cannot be written
    // stops it.
    let out = ndlog()
        .args(["append", log])
        .stdin(File::open(write_input(dir.path(), b"{\"a\":1}\n{\"a\":2}\n")).unwrap())
        .stdout(dev_full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_no_panic(&["append"], &out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

fn write_input(dir: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join("input.jsonl");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_full_or_closed_stderr_is_never_a_panic() {
    let dir = tempdir();
    let missing = dir.path().join("missing.ndjson");
    let log = write_log(dir.path(), "events.ndjson", 3);
    let cases: &[(&[&str], i32)] = &[
        (&["cat", missing.to_str().unwrap()], 1),
        (&["get", log.to_str().unwrap(), "99"], 4),
        (&["cat", log.to_str().unwrap(), "--since", "never"], 2),
        (&["frobnicate"], 2),
    ];
    for &(args, code) in cases {
        let out = ndlog().args(args).stdout(Stdio::piped()).stderr(dev_full()).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        // And with standard error closed by the reader before anything is written to it.
        let mut child =
            ndlog().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}");
    }
}

#[test]
fn a_closed_stdout_pipe_ends_any_command_quietly() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 20_000);
    let log = path.to_str().unwrap();
    for args in [
        &["cat", log][..],
        &["export", log, "--data"],
        &["tail", "-n", "20000", log],
        &["stats", log],
        &["index", log],
        &["compact", log],
        &["man"],
    ] {
        let mut child =
            ndlog().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // closed before the first write
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{args:?}: {status}: {err}");
        assert_eq!(err, "", "{args:?}: nothing on stderr");
    }
}
