//! Bad input gets a clear error naming what is wrong, and the log is left byte for byte as it
//! was: nothing is written, nothing is lost, nothing panics.

use crate::util;

use ndlog::{ErrorKind, Options};
use util::*;

fn assert_unchanged(path: &std::path::Path, before: &[u8]) {
    assert_eq!(std::fs::read(path).unwrap(), before, "{} was modified", path.display());
}

#[test]
fn rejected_payloads_write_nothing() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&path).unwrap();
    let writer = Options::new().max_record_size(100).open(&path).unwrap();
    let cases: &[(&[u8], &str)] = &[
        (br#"{"a":"#, "not valid JSON"),
        (b"{\"a\":1} {\"b\":2}", "not exactly one JSON value"),
        (b"1 2", "not exactly one JSON value"),
        (b"", "empty payload"),
        (b"   \t ", "empty payload"),
        (b"{\"a\":\n1}", "raw newline"),
        (b"\"\xff\xfe\"", "not UTF-8"),
        (b"{\"a\":\"tab\there\"}", "not valid JSON"),
        (b"undefined", "not valid JSON"),
        (b"[1,2,]", "not valid JSON"),
    ];
    for (payload, why) in cases {
        let err = writer.append_raw(payload).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidPayload { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(why) && text.contains("events.ndjson"), "{payload:?}: {text}");
        assert_unchanged(&path, &before);
    }
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100));
    let err = writer.append_raw(big.as_bytes()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RecordTooLarge { size: 110, max: 100, .. }), "{err}");
    assert!(err.to_string().contains("maximum record size of 100 bytes"), "{err}");
    let err = writer.append(&serde_json::json!({"pad": "y".repeat(200)})).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RecordTooLarge { .. }));
    assert_unchanged(&path, &before);

    // One bad payload in a batch rejects the whole batch, naming its index.
    let err = writer.append_raw_batch(&[&b"1"[..], b"2", b"{oops", b"4"]).unwrap_err();
    assert!(err.to_string().contains("batch index 2"), "{err}");
    assert_unchanged(&path, &before);
    // Nested deeper than serde_json reads the line: refused at the bracket one level too deep.
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    let writer_deep = Options::new().open(&path).unwrap();
    let wide = writer_deep.append_raw(format!("[{deep},{deep},{deep},{deep}]").as_bytes());
    assert!(wide.is_ok(), "four 40-deep arrays side by side are 41 deep: {wide:?}");
    let before = std::fs::read(&path).unwrap();
    let deep = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let err = writer_deep.append_raw(deep.as_bytes()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ndlog refuses: nested deeper than 126") && text.contains("byte 126"));
    assert_unchanged(&path, &before);
    let out = run(&["append", path.to_str().unwrap()], format!("{deep}\n").as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin line 1") && stderr(&out).contains("126"));
    assert_unchanged(&path, &before);
    // The handle is still good.
    assert_eq!(writer.append_raw(b" {\"ok\":true}\r\n").unwrap().seq, 5);
}

#[test]
fn serialised_payloads_get_the_raw_payloads_checks() {
    use serde_json::value::RawValue;
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&path).unwrap();
    let writer = Options::new().open(&path).unwrap();
    // serde_json writes whole characters only; a RawValue is copied as it was given, and its
    // own parse admits half a surrogate pair and newlines between tokens.
    let raw = |s: &str| RawValue::from_string(s.into()).unwrap();
    for (value, why) in [
        (raw(r#"{"a":"\ud800"}"#), "surrogate"),
        (raw(r#"["x","\udc00\ud800"]"#), "surrogate"),
        (raw("{\"a\":\n1}"), "raw newline"),
    ] {
        for err in [
            writer.append(&value).unwrap_err(),
            writer.append_batch([raw("1"), value.clone()]).unwrap_err(),
        ] {
            assert!(matches!(err.kind(), ErrorKind::InvalidPayload { .. }), "{err}");
            assert!(err.to_string().contains(why), "{value}: {err}");
        }
        assert_unchanged(&path, &before);
    }
    // Too large is said first, as for a raw payload, before anything scans it.
    let small = Options::new().max_record_size(64).open(&path).unwrap();
    let long = raw(&format!("\"\\ud800{}\"", "x".repeat(100)));
    let err = small.append(&long).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RecordTooLarge { .. }), "{err}");
    // serde_json serialises a Value of any depth; one its own reader would refuse is refused.
    let mut deep = serde_json::json!(1);
    for _ in 0..127 {
        deep = serde_json::json!([deep]);
    }
    let err = writer.append(&deep).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 126"), "{err}");
    let err = writer.append(&serde_json::json!({ "a": "[[[[", "deep": deep })).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 126"), "{err}");
    assert_unchanged(&path, &before);
    let wide: Vec<_> = (0..200).map(|i| serde_json::json!([i])).collect();
    assert_eq!(writer.append(&wide).unwrap().seq, 4, "200 arrays side by side are 2 deep");
    let before = std::fs::read(&path).unwrap();
    // Escapes that encode characters are written as given.
    let ok = raw(r#"{"a":"q\"\\\ud83d\ude00\u00e9"}"#);
    assert_eq!(writer.append(&ok).unwrap().seq, 5);
    assert_ne!(std::fs::read(&path).unwrap(), before);
    let reader = ndlog::Reader::open(&path).unwrap();
    assert_eq!(reader.get(5).unwrap().data, ok.get().as_bytes());
}

#[test]
fn a_directory_is_refused() {
    let dir = tempdir();
    let err = Options::new().open(dir.path()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
    let err = ndlog::Reader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_file_ndlog_did_not_write_is_never_appended_to() {
    let dir = tempdir();
    let cases: &[&[u8]] = &[
        b"{\"seq\":1,\"msg\":\"plain ndjson\"}\n{\"seq\":2,\"msg\":\"no crc\"}\n",
        b"just some text\nwith lines\n",
        b"\x7fELF\x02\x01\x01\x00binary",
        b"{\"seq\":1,\"ts\":2,\"data\":3,\"crc\":\"00000000\"}\n",
    ];
    for (i, content) in cases.iter().enumerate() {
        let path = dir.path().join(format!("user-{i}.json"));
        std::fs::write(&path, content).unwrap();
        let err = Options::new().open(&path).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
        assert!(err.to_string().contains(&format!("user-{i}.json")), "{err}");
        assert_unchanged(&path, content);
        // The CLI says so too, with a non-zero exit, and writes nothing.
        let out = run(&["append", path.to_str().unwrap()], b"{\"a\":1}\n");
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("not an ndlog log"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_unchanged(&path, content);
    }
}

#[test]
fn invalid_options_are_rejected_up_front() {
    let dir = tempdir();
    let path = dir.path().join("x.ndjson");
    for opts in [
        Options::new().max_record_size(0),
        Options::new().max_record_size(usize::MAX),
        Options::new().mode(0o70000),
    ] {
        let err = opts.open(&path).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidArgument(_)), "{err}");
    }
    assert!(!path.exists());
    let err = Options::new().create(false).open(&path).unwrap_err();
    assert!(err.to_string().contains("x.ndjson"), "{err}");
    assert!(!path.exists());
}

#[test]
fn cli_append_stops_at_the_first_bad_line() {
    for durability in ["always", "group", "never"] {
        let dir = tempdir();
        let path = dir.path().join("events.ndjson");
        let input = b"{\"a\":1}\n\n[2]\n{\"bad\":\n{\"a\":4}\n";
        let out = run(&["append", path.to_str().unwrap(), "--durability", durability], input);
        assert_eq!(out.status.code(), Some(1), "{durability}");
        assert_eq!(stdout(&out), "1\n2\n", "{durability}: the lines before it were acknowledged");
        let err = stderr(&out);
        assert!(err.contains("stdin line 4") && err.contains("not valid JSON"), "{err}");
        let bytes = std::fs::read(&path).unwrap();
        let lines = independent_parse(&bytes);
        assert_eq!(
            lines.iter().map(|l| l.data.clone()).collect::<Vec<_>>(),
            [serde_json::json!({"a":1}), serde_json::json!([2])]
        );
    }
}

#[test]
fn cli_bad_arguments_and_files_fail_cleanly() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 2);
    let log = log.to_str().unwrap();
    let missing = dir.path().join("missing.ndjson");
    let nodir = dir.path().join("no").join("such").join("events.ndjson");
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, (0..=255u8).cycle().take(10_000).collect::<Vec<_>>()).unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["cat", log, "--since", "yesterday"], 2, "expected unix milliseconds or RFC 3339"),
        (vec!["cat", log, "--from-seq", "-3"], 2, "-3"),
        (vec!["cat", log, "--to-seq", "1e3"], 2, "invalid digit"),
        (vec!["append", log, "--durability", "sometimes"], 2, "sometimes"),
        (vec!["append", log, "--lock-timeout", "soon"], 2, "soon"),
        (vec!["tail", log, "-n", "x"], 2, "invalid digit"),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
        (vec!["cat", missing.to_str().unwrap()], 1, "missing.ndjson"),
        (vec!["verify", missing.to_str().unwrap()], 1, "No such file"),
        (vec!["append", dir.path().to_str().unwrap()], 1, "is a directory"),
        (vec!["verify", garbage.to_str().unwrap()], 3, "DAMAGED"),
        (vec!["lock", missing.to_str().unwrap(), "--", "true"], 1, "missing.ndjson"),
        (vec!["lock", missing.to_str().unwrap(), "--", "true"], 1, "create it first"),
        // A command a signal ended: said, and 128 + the signal, as a shell does.
        (vec!["lock", log, "--", "sh", "-c", "kill -9 $$"], 137, "killed by signal 9"),
        (vec!["lock", log, "--", "sh", "-c", "exit 7"], 7, ""),
        // A command that cannot be run: as a shell says it, not the command's own exit 1.
        (
            vec!["lock", log, "--", "no-such-command-ndlog"],
            127,
            "cannot run \"no-such-command-ndlog\"",
        ),
        (vec!["lock", log, "--", "/"], 126, "cannot run \"/\""),
        (vec!["demo", "--threads", "100000"], 2, "--threads"),
        (vec!["demo", "--writers", "100000"], 2, "--writers"),
        // A log in a directory that does not exist: the directory is named, and what to do.
        (vec!["create", nodir.to_str().unwrap(), "--chain"], 1, "does not exist: create it first"),
        (vec!["append", nodir.to_str().unwrap()], 1, "does not exist: create it first"),
        (vec!["create", nodir.to_str().unwrap(), "--segment-bytes", "4MiB"], 1, "create it first"),
    ];
    for (args, code, says) in cases {
        let out = run(&args, b"");
        let all = stdout(&out) + &stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        assert!(all.contains(says), "{args:?} should say {says:?}: {all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
    // Garbage is no log: readers say so without a panic (and `verify` above reports it as
    // damage), point to `ndlog import`, and print nothing on stdout.
    for cmd in ["cat", "stats", "tail"] {
        let out = run(&[cmd, garbage.to_str().unwrap()], b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        assert!(out.stdout.is_empty(), "{cmd}");
        assert!(err.contains("not an ndlog log") && err.contains("ndlog import"), "{cmd}: {err}");
        assert!(!err.contains("panicked"), "{cmd}: {err}");
    }
}

#[test]
fn a_symlinked_log_path_shares_the_real_logs_lock_and_sidecars() {
    let dir = tempdir();
    let real = write_log(dir.path(), "events.ndjson", 2);
    let link = dir.path().join("current.ndjson");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let held = ndlog::LogLock::acquire_log(&real, std::time::Duration::ZERO).unwrap();
    let opened = Options::new().lock_timeout(std::time::Duration::from_millis(50)).open(&link);
    let err = opened.expect_err("a writer through the symlink must wait for the real log's lock");
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }), "{err}");
    drop(held);
    let writer = Options::new().open(&link).unwrap();
    assert_eq!(writer.append_raw(b"3").unwrap().seq, 3);
    assert!(!dir.path().join("current.ndjson.lock").exists());
    assert!(!dir.path().join("current.ndjson.idx").exists());
    assert_eq!(ndlog::Reader::open(&link).unwrap().records().count(), 3);
}

#[test]
fn the_last_possible_seq_is_an_error_not_a_panic() {
    let dir = tempdir();
    let path = dir.path().join("full.ndjson");
    let mut bytes = Vec::new();
    ndlog::format::encode(&mut bytes, u64::MAX, 1, b"0");
    std::fs::write(&path, &bytes).unwrap();
    let err = Options::new().open(&path).unwrap().append_raw(b"1").unwrap_err();
    assert!(err.to_string().contains("seq space is exhausted"), "{err}");
    // Naming the log, and what to do.
    let said = err.to_string();
    assert!(said.contains(path.to_str().unwrap()) && said.contains("start a new log"), "{said}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_record_takes_the_last_seq() {
    // The seq after the last record used to be counted up past u64::MAX, which panicked in a
    // build with overflow checks (this one) once the record was encoded, before it was written.
    let dir = tempdir();
    let path = dir.path().join("nearly_full.ndjson");
    let mut bytes = Vec::new();
    ndlog::format::encode(&mut bytes, u64::MAX - 2, 1, b"0");
    std::fs::write(&path, &bytes).unwrap();
    let writer = Options::new().open(&path).unwrap();
    let ack = writer.append_raw_batch(&[b"1", b"2"]).unwrap();
    assert_eq!((ack.first_seq, ack.count), (u64::MAX - 1, 2));
    let err = writer.append_raw(b"3").unwrap_err();
    assert!(err.to_string().contains("seq space is exhausted"), "{err}");
    let seqs: Vec<u64> = ndlog::Reader::open(&path).unwrap().records().map(|r| r.seq).collect();
    assert_eq!(seqs, [u64::MAX - 2, u64::MAX - 1, u64::MAX]);
}

/// The names in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    names
}

/// A command refused on a file ndlog did not write creates nothing beside it: no `FILE.lock`,
/// no `FILE.compact.lock`, from the library or the command line.
#[test]
fn nothing_is_created_beside_a_file_ndlog_did_not_write() {
    let dir = tempdir();
    // A whole record but for its newline is a torn write, not a record (FORMAT.md, section 4).
    let mut unterminated = Vec::new();
    ndlog::format::encode(&mut unterminated, 1, 2, b"3");
    unterminated.pop();
    let cases: &[&[u8]] = &[
        b"id,name\n1,alice\n2,bob\n",
        &[0u8; 4096],
        b"{\"seq\":1,\"ts\":2,\"data\":3,\"crc\":\"00000000\"}\n",
        &unterminated,
    ];
    for (i, content) in cases.iter().enumerate() {
        let path = dir.path().join(format!("user-{i}.csv"));
        std::fs::write(&path, content).unwrap();
        let before = listing(dir.path());
        let err = Options::new().open(&path).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
        let err = ndlog::Compactor::new(&path, ndlog::Policy::new()).run().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
        let err = ndlog::LogLock::acquire_log(&path, std::time::Duration::ZERO).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
        let p = path.to_str().unwrap();
        for args in [
            vec!["append", p],
            vec!["index", p],
            vec!["index", p, "--rebuild"],
            vec!["compact", p, "--keep-last", "1"],
            vec!["lock", p, "--", "true"],
        ] {
            let out = run(&args, b"{\"a\":1}\n");
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains("not an ndlog log"), "{args:?}: {}", stderr(&out));
        }
        assert_eq!(listing(dir.path()), before, "{:?}", String::from_utf8_lossy(content));
        assert_unchanged(&path, content);
    }
}

/// FORMAT.md, section 5: a damaged ndlog log (every write so far torn) whose lock file
/// carries the marker is accepted; the same bytes beside no lock file are refused, and beside
/// an unmarked one too.
#[test]
fn the_lock_files_marker_decides_for_a_log_without_a_record() {
    let dir = tempdir();
    let path = dir.path().join("torn.ndjson");
    let torn = br#"{"seq":1,"ts":5,"data":{"cut":"sho"#;
    let lock = dir.path().join("torn.ndjson.lock");
    std::fs::write(&path, torn).unwrap();
    let err = Options::new().open(&path).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
    assert!(!lock.exists());
    std::fs::write(&lock, b"").unwrap();
    let err = Options::new().open(&path).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotALog { .. }), "{err}");
    assert_unchanged(&path, torn);
    std::fs::write(&lock, b"ndlog lock v1\n").unwrap();
    ndlog::LogLock::acquire_log(&path, std::time::Duration::ZERO).unwrap();
    let writer = Options::new().open(&path).unwrap();
    assert_eq!(writer.append_raw(b"1").unwrap().seq, 1);
    let reader = ndlog::Reader::open(&path).unwrap();
    assert_eq!(reader.records().map(|r| r.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(std::fs::read(&path).unwrap().len(), reader.bytes().len(), "no bytes after it");
}

#[test]
fn a_demo_whose_tmpdir_cannot_be_used_says_so_and_what_to_do() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ndlog"))
        .arg("demo")
        .env("TMPDIR", "/nonexistent/ndlog-tmp")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/ndlog-tmp (from TMPDIR)"), "{err}");
    assert!(err.contains("--dir") && !err.contains("panicked"), "{err}");
}

/// Half a UTF-16 surrogate pair in a `\u` escape encodes no character: jq stops reading the
/// log at it and serde_json cannot read it into a string. A writer refuses such a payload,
/// naming the line; a whole pair is a character like any other.
#[test]
fn a_payload_with_half_a_surrogate_pair_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("s.ndjson");
    let log = path.to_str().unwrap();
    let out = run(&["append", log], b"{\"a\":\"\\ud83d\\ude00\"}\n{\"a\":\"\\ud800\"}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stdin line 2") && err.contains("surrogate"), "{err}");
    let data: Vec<String> = ndlog::Reader::open(&path)
        .unwrap()
        .records()
        .map(|r| String::from_utf8_lossy(r.data).into_owned())
        .collect();
    assert_eq!(data, ["{\"a\":\"\\ud83d\\ude00\"}"], "the line before it was appended");
    let jq = std::process::Command::new("jq").args(["-c", ".data.a", log]).output();
    if let Ok(jq) = jq {
        assert!(jq.status.success(), "{}", String::from_utf8_lossy(&jq.stderr));
    }
}
