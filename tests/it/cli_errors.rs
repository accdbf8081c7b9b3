//! Errors a user can act on: each says what is wrong once, in people's units, names the option
//! or command that helps, and exits with the documented code.

use crate::util;

use std::time::Duration;

use ndlog::sim::{Fault, SimFs};
use ndlog::{ErrorKind, Options};
use util::*;

/// A frame for `seq`, `ts`, `data`.
fn record(seq: u64, ts: u64, data: &str) -> Vec<u8> {
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, seq, ts, data.as_bytes());
    line
}

/// The error and every cause chained behind it, as `{:#}` or a reporter prints them.
fn whole_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[test]
fn an_os_error_is_said_once() {
    let dir = tempdir();
    let missing = dir.path().join("missing.ndjson");
    let err = ndlog::Reader::open(&missing).unwrap_err();
    let text = whole_chain(&err);
    assert_eq!(text.matches("No such file or directory").count(), 1, "{text}");
    assert!(text.contains("missing.ndjson") && text.contains("stat failed"), "{text}");
    assert!(matches!(err.kind(), ErrorKind::Io { .. }));
    assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::NotFound);
    for args in [&["cat"][..], &["verify"], &["stats"], &["compact"]] {
        let mut args = args.to_vec();
        args.push(missing.to_str().unwrap());
        let out = run(&args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.matches("(os error 2)").count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_short_write_is_said_once() {
    // Fail each operation in turn with a short write until an append meets one in its write.
    for n in 1..40 {
        let fs = SimFs::new(3);
        fs.put("/d/.keep", b"");
        let writer = Options::new().open_in(fs.clone(), "/d/log.ndjson").unwrap();
        fs.fail_at(fs.ops() + n, Fault::ShortWrite, false);
        let Err(err) = writer.append_raw(br#"{"n":1}"#) else { continue };
        let text = whole_chain(&err);
        if !matches!(err.kind(), ErrorKind::Io { op: "write", .. }) {
            continue;
        }
        assert!(text.contains("bytes written"), "{text}");
        assert_eq!(text.matches("bytes written").count(), 1, "{text}");
        return;
    }
    panic!("no append met a short write");
}

/// Records at 06:00, 07:30, 08:00 and 09:00 UTC on 2025-11-21, then one now and one an hour
/// and a half ago.
fn timed_log(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("timed.ndjson");
    let day = 1_763_683_200_000; // 2025-11-21T00:00:00Z
    let hour = 3_600_000;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let now = now.as_millis() as u64;
    let mut bytes = Vec::new();
    for (seq, ts) in [
        (1, day + 6 * hour),
        (2, day + 7 * hour + hour / 2),
        (3, day + 8 * hour),
        (4, day + 9 * hour),
        (5, now - 3 * hour / 2),
        (6, now),
    ] {
        bytes.extend(record(seq, ts, &format!(r#"{{"user":"u{}","seq":{seq}}}"#, seq % 2)));
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

fn data_seqs(out: &std::process::Output) -> Vec<u64> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn times_take_offsets_dates_and_times_ago() {
    let dir = tempdir();
    let path = timed_log(dir.path());
    let log = path.to_str().unwrap();
    let cases: &[(&[&str], &[u64])] = &[
        // 08:00+01:00 is 07:00Z.
        (&["--since", "2025-11-21T08:00:00+01:00"], &[2, 3, 4, 5, 6]),
        (
            &["--since", "2025-11-21T08:00:00+01:00", "--until", "2025-11-21T04:00:00-05:00"],
            &[2, 3],
        ),
        (&["--since", "2025-11-21T08:00:00Z", "--until", "2025-11-21T09:00:00Z"], &[3]),
        (&["--since", "2025-11-21 07:30"], &[2, 3, 4, 5, 6]),
        (&["--since", "2025-11-21", "--until", "2025-11-22"], &[1, 2, 3, 4]),
        (&["--until", "2025-11-21"], &[]),
        (&["--since", "1h"], &[6]),
        (&["--since", "2h ago"], &[5, 6]),
        (&["--since", "30m ago"], &[6]),
        (&["--since", "7d", "--until", "1h"], &[5]),
        (&["--since", "1763712000000"], &[3, 4, 5, 6]),
    ];
    for (extra, want) in cases {
        for cmd in ["cat", "export"] {
            let mut args = vec![cmd, log, "--data"];
            args.extend_from_slice(extra);
            assert_eq!(data_seqs(&run(&args, b"")), *want, "{args:?}");
        }
    }
    // history --at takes the same forms.
    for (at, want) in [
        ("2025-11-21T09:15:00+01:00", vec![2]),
        ("2025-11-21T08:00:00Z", vec![2]),
        ("2025-11-22", vec![4]),
        ("1h", vec![4]),
    ] {
        let out =
            run(&["history", log, "--key", "/user", "--entity", "u0", "--at", at, "--data"], b"");
        assert_eq!(data_seqs(&out), want, "--at {at}");
    }
    // --help says which forms are taken.
    let help =
        stdout(&run(&["cat", "--help"], b"")).split_whitespace().collect::<Vec<_>>().join(" ");
    for form in ["2025-11-21T08:00:00+01:00", "2025-11-21", "30m ago", "unix milliseconds"] {
        assert!(help.contains(form), "cat --help lacks {form}: {help}");
    }
    let out = run(&["cat", log, "--since", "the day before"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("30m ago"), "{}", stderr(&out));
}

#[test]
fn size_units_take_any_case() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 20);
    let log = path.to_str().unwrap();
    for size in ["2gib", "2GIB", "2Gib", "1mb", "64kib", "4KB"] {
        let out = run(&["compact", log, "--max-bytes", size], b"");
        assert!(out.status.success(), "--max-bytes {size}: {}", stderr(&out));
    }
    let out = run(&["append", log, "--max-record-size", "1kib"], b"{\"a\":1}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["compact", log, "--max-bytes", "2 parsecs"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown unit"), "{}", stderr(&out));
}

#[test]
fn a_plain_ndjson_file_is_not_a_log_to_any_reader() {
    let dir = tempdir();
    let plain = dir.path().join("plain.jsonl");
    let content: String = (0..1000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(&plain, &content).unwrap();
    let p = plain.to_str().unwrap();
    let readers: &[&[&str]] = &[
        &["cat", p],
        &["cat", p, "--data"],
        &["stats", p],
        &["stats", "--json", p],
        &["get", p, "1"],
        &["tail", p],
        &["history", p, "--key", "/n", "--entity", "1"],
        &["export", p],
        &["index", p],
        &["index", "--check", p],
        &["index", "--rebuild", p],
    ];
    for args in readers {
        let out = run(args, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("not an ndlog log"), "{args:?}: {err}");
        assert!(err.contains("ndlog import"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
    }
    // verify reports it as damage (exit 3) and says why there is no record at all.
    let out = run(&["verify", p], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("DAMAGED"));
    assert!(stderr(&out).contains("not an ndlog log") && stderr(&out).contains("ndlog import"));
    // And from standard input.
    let out = run(&["cat", "-"], content.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an ndlog log"), "{}", stderr(&out));
    // Nothing was written or created beside it.
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), content);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An empty file is an empty log.
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, b"").unwrap();
    assert!(run(&["cat", empty.to_str().unwrap()], b"").status.success());
}

#[test]
fn readers_take_a_log_on_stdin() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 30);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let out = run(&["cat", "-"], &bytes);
    assert_eq!(stdout(&out), text, "{}", stderr(&out));
    let out = run(&["cat", "-", "--data", "--from-seq", "29"], &bytes);
    assert_eq!(stdout(&out), "{\"n\":29}\n{\"n\":30}\n", "{}", stderr(&out));
    let out = run(&["get", "-", "7", "--data"], &bytes);
    assert_eq!(stdout(&out), "{\"n\":7}\n", "{}", stderr(&out));
    let out = run(&["tail", "-n", "2", "-"], &bytes);
    assert_eq!(stdout(&out), format!("{}\n{}\n", lines[28], lines[29]));
    let out = run(&["history", "-", "--key", "/n", "--entity", "3"], &bytes);
    assert_eq!(stdout(&out), format!("{}\n", lines[2]));
    let out = run(&["export", "-", "--data", "--to-seq", "1"], &bytes);
    assert_eq!(stdout(&out), "{\"n\":1}\n");
    let out = run(&["verify", "-"], &bytes);
    assert!(out.status.success() && stdout(&out).contains("stdin: ok"), "{}", stdout(&out));
    let out = run(&["stats", "--json", "-"], &bytes);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"].as_u64(), Some(30));
    // An empty standard input is an empty log.
    let out = run(&["cat", "-"], b"");
    assert!(out.status.success() && out.stdout.is_empty());
    // Where a file is needed, - is bad usage, and nothing is created.
    for args in [
        &["tail", "-f", "-"][..],
        &["append", "-"],
        &["index", "-"],
        &["compact", "-"],
        &["import", "-", "-"],
        &["lock", "-", "--", "true"],
    ] {
        let out = run(args, b"{}\n");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!std::path::Path::new("-").exists());
    }
}

#[test]
fn history_at_before_the_first_record_says_the_entity_did_not_exist_yet() {
    let dir = tempdir();
    let path = timed_log(dir.path());
    let log = path.to_str().unwrap();
    let out = run(
        &["history", log, "--key", "/user", "--entity", "u1", "--at", "2025-11-21T05:00:00Z"],
        b"",
    );
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("did not exist yet at 2025-11-21T05:00:00.000Z"), "{err}");
    assert!(err.contains("first record is seq 1 at 2025-11-21T06:00:00.000Z"), "{err}");
    let out = run(&["history", log, "--key", "/user", "--entity", "u9", "--at", "1h"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("no record has \"u9\" at /user"), "{}", stderr(&out));
}

#[test]
fn contradictory_ranges_are_bad_usage() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 30);
    let log = path.to_str().unwrap();
    let export = dir.path().join("out.ndjson");
    for cmd in [vec!["cat", log], vec!["export", log, "-o", export.to_str().unwrap()]] {
        for (extra, says) in [
            (&["--from-seq", "10", "--to-seq", "5"][..], "--from-seq 10 is after --to-seq 5"),
            (
                &["--since", "2025-11-21T09:00:00Z", "--until", "2025-11-21T08:00:00Z"],
                "--since 2025-11-21T09:00:00.000Z is after --until",
            ),
        ] {
            let mut args = cmd.clone();
            args.extend_from_slice(extra);
            let out = run(&args, b"");
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
            assert!(out.stdout.is_empty());
        }
    }
    assert!(!export.exists());
    // A one-seq range and an empty time window are fine.
    assert_eq!(
        stdout(&run(&["cat", log, "--from-seq", "5", "--to-seq", "5", "--data"], b"")),
        "{\"n\":5}\n"
    );
}

#[test]
fn bad_usage_exits_2_before_any_file_is_touched() {
    let dir = tempdir();
    let log = dir.path().join("new.ndjson");
    let l = log.to_str().unwrap();
    for args in [
        &["append", l, "--max-record-size", "0"][..],
        &["append", l, "--max-record-size", "300MiB"],
        &["append", l, "--max-record-size", "lots"],
        &["import", l, "missing.jsonl", "--max-record-size", "0"],
        &["demo", "--writers", "0"],
        &["man", "frobnicate"],
    ] {
        let out = run(args, b"{}\n");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!log.exists(), "{args:?} created the log");
    }
    // Importing a log into itself.
    let existing = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&existing).unwrap();
    let e = existing.to_str().unwrap();
    let out = run(&["import", e, e, "--format", "ndjson"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(&existing).unwrap(), before);
}

#[test]
fn index_check_without_an_index_says_so_and_exits_4() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 30);
    std::fs::remove_file(dir.path().join("events.ndjson.idx")).unwrap();
    let out = run(&["index", "--check", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("events.ndjson.idx: missing"), "{}", stderr(&out));
    let out = run(&["index", "--check", "--json", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problem"].as_str().map(|p| p.contains("no index")), Some(true), "{v}");
    let help = stdout(&run(&["index", "--help"], b""));
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("4 when there is no index"), "{help}");
    assert!(run(&["index", path.to_str().unwrap()], b"").status.success());
    assert!(run(&["index", "--check", path.to_str().unwrap()], b"").status.success());
}

#[test]
fn a_lock_timeout_exits_5_in_people_s_units_and_names_the_option() {
    let dir = tempdir();
    let path = write_log(dir.path(), "events.ndjson", 5);
    let log = path.to_str().unwrap();
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, b"{\"a\":1}\n").unwrap();
    let before = std::fs::read(&path).unwrap();
    let held = ndlog::LogLock::acquire(&path, Duration::ZERO).unwrap();
    for args in [
        &["append", log, "--lock-timeout", "100ms"][..],
        &["compact", log, "--keep-last", "1", "--lock-timeout", "100ms"],
        &["import", log, input.to_str().unwrap(), "--lock-timeout", "100ms"],
        &["index", "--rebuild", log, "--lock-timeout", "100ms"],
        &["index", log, "--lock-timeout", "100ms"],
        &["lock", log, "--lock-timeout", "100ms", "--", "true"],
        &["lock", log, "--timeout", "100ms", "--", "true"],
    ] {
        let out = run(args, b"{\"b\":2}\n");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(
            err.contains("lock not acquired after 1") && err.contains("--lock-timeout"),
            "{args:?}: {err}"
        );
        // Milliseconds, not Debug's `100.075315ms`.
        let waited = err.split("after ").nth(1).unwrap().split(':').next().unwrap();
        assert!(
            waited.ends_with("ms")
                && waited[..waited.len() - 2].bytes().all(|b| b.is_ascii_digit()),
            "{args:?}: {err}"
        );
    }
    drop(held);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn every_help_documents_the_exit_codes() {
    let commands = [
        "demo",
        "append",
        "cat",
        "verify",
        "stats",
        "tail",
        "get",
        "history",
        "index",
        "compact",
        "import",
        "export",
        "lock",
        "completions",
        "man",
    ];
    let top = stdout(&run(&["--help"], b""));
    for cmd in commands {
        assert!(top.contains(&format!("  {cmd} ")), "--help lacks {cmd}");
    }
    for cmd in commands.iter().copied().chain(["--help"]) {
        let args: Vec<&str> = if cmd == "--help" { vec!["--help"] } else { vec![cmd, "--help"] };
        let text = stdout(&run(&args, b""));
        for code in [
            "2  bad command-line usage",
            "4  no such record",
            "5  the lock was not acquired within --lock-timeout",
        ] {
            assert!(text.contains(code), "{cmd} --help lacks {code:?}");
        }
    }
}

#[test]
fn completions_and_a_man_page_come_from_the_definitions() {
    let out = run(&["completions", "bash"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("ndlog") && script.contains("complete -F"), "{script}");
    for sub in ["append", "cat", "history", "completions", "--lock-timeout"] {
        assert!(script.contains(sub), "bash completions lack {sub}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell], b"");
        assert!(out.status.success() && stdout(&out).contains("ndlog"), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"], b"").status.code(), Some(2));
    let out = run(&["man"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH ndlog 1") && page.contains(".SH NAME"), "{page}");
    assert!(page.contains("append") && page.contains("Exit codes"), "{page}");
    let out = run(&["man", "cat"], b"");
    let page = stdout(&out);
    assert!(page.contains(".TH ndlog-cat 1") && page.contains("\\-\\-since"), "{page}");
    let th = page.lines().find(|l| l.starts_with(".TH")).unwrap_or_default();
    assert!(th.contains(&format!("\"ndlog {}\"", env!("CARGO_PKG_VERSION"))), "{th}");
}

/// `export -o` renames its output into place: onto the log, a file ndlog keeps beside it or a
/// path inside a segmented log it would replace them, so those are refused (exit 2, nothing
/// changed); a pipe (as a character device such as `/dev/null`) is written to, never replaced
/// by a regular file.
#[test]
fn export_never_replaces_the_log_its_side_files_or_a_special_file() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 5);
    let l = log.to_str().unwrap();
    assert!(run(&["index", l], b"").status.success());
    let link = dir.path().join("link.ndjson");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let seg = dir.path().join("seg");
    let s = seg.to_str().unwrap();
    assert!(run(&["create", s, "--segment-bytes", "4MiB"], b"").status.success());
    assert!(run(&["append", s], b"{\"a\":1}\n").status.success());
    let snapshot = |d: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    };
    let (before, seg_before) = (snapshot(dir.path()), snapshot(&seg));
    let relative = format!("{s}/../events.ndjson");
    for (source, output, says) in [
        (l, l.to_string(), "the log itself"),
        (l, format!("{l}.idx"), "beside the log"),
        (l, format!("{l}.lock"), "beside the log"),
        (l, format!("{l}.chain"), "beside the log"),
        // The originals of a legacy import's adjusted records, and an index being rebuilt:
        // replaced on d50e891.
        (l, format!("{l}.import-adjusted"), "beside the log"),
        (l, format!("{l}.idx.tmp"), "beside the log"),
        (l, link.to_str().unwrap().to_string(), "the log itself"),
        (link.to_str().unwrap(), format!("{l}.idx"), "beside the log"),
        (l, relative, "the log itself"),
        (s, s.to_string(), "the log itself"),
        (s, format!("{s}/out.ndjson"), "inside the segmented log"),
        (s, format!("{s}/ndlog.json"), "inside the segmented log"),
        (l, dir.path().to_str().unwrap().to_string(), "a directory"),
    ] {
        let out = run(&["export", source, "--data", "-o", &output], b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{source} -o {output}: {err}");
        assert!(err.contains("-o ") && err.contains(says), "{source} -o {output}: {err}");
    }
    assert_eq!(snapshot(dir.path()), before, "a refused export changed a file");
    assert_eq!(snapshot(&seg), seg_before, "a refused export changed the segmented log");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());

    // A name that only starts like the log's is an ordinary output.
    let copy = format!("{l}.copy");
    assert!(run(&["export", l, "--data", "-o", &copy], b"").status.success());
    assert_eq!(std::fs::read_to_string(&copy).unwrap().lines().count(), 5);

    // A pipe is written to and stays a pipe.
    let fifo = dir.path().join("pipe");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    // Its read end opened first (without waiting for a writer), so that nothing blocks.
    let mut reader = {
        use std::os::unix::fs::OpenOptionsExt as _;
        let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
        std::fs::File::options().read(true).custom_flags(nonblocking).open(&fifo).unwrap()
    };
    let out = run(&["export", l, "--data", "-o", fifo.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut exported = String::new();
    std::io::Read::read_to_string(&mut reader, &mut exported).unwrap();
    assert_eq!(exported.lines().count(), 5, "{exported}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// `export -o` through a symbolic link replaces the file the link names, not the link, and the
/// export takes the mode of the file it replaces, or what the umask leaves of 0666 (as a shell
/// redirection does): it replaced the link with a 0600 file.
#[test]
fn export_writes_through_a_symlink_and_keeps_the_files_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 5);
    let l = log.to_str().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let target = real.join("target.ndjson");
    std::fs::write(&target, "old\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.ndjson");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = run(&["export", l, "--data", "-o", link.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "link kept");
    assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 5);
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the replaced file's mode");
    // A new file: 0666 less the umask (the test runner's, whatever it is).
    let umask = util::umask();
    let fresh = dir.path().join("fresh.ndjson");
    assert!(run(&["export", l, "-o", fresh.to_str().unwrap()], b"").status.success());
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "umask {umask:o}");
    // Standard output by any name (/dev/stdout, with `>>` to a file) is written to as it is:
    // the rename replaced the file it was redirected to, losing what it held.
    let out_txt = dir.path().join("out.txt");
    std::fs::write(&out_txt, "precious\n").unwrap();
    let appended = std::fs::File::options().append(true).open(&out_txt).unwrap();
    let status = ndlog()
        .args(["export", l, "--data", "-o", "/dev/stdout"])
        .stdout(appended)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out_txt).unwrap();
    assert!(text.starts_with("precious\n") && text.lines().count() == 6, "{text}");
    // No set-id bit is carried over to the export.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o6755)).unwrap();
    assert!(run(&["export", l, "-o", target.to_str().unwrap()], b"").status.success());
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    // A link to nothing is refused, and nothing is made.
    let dangling = dir.path().join("dangling.ndjson");
    std::os::unix::fs::symlink(real.join("nothing"), &dangling).unwrap();
    let out = run(&["export", l, "-o", dangling.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("dangling.ndjson"), "{}", stderr(&out));
    assert!(!real.join("nothing").exists());
}

/// `export -o` into a directory that does not exist (or a file as one) names that directory:
/// it said "No such file or directory" of a temporary file's name the user never gave.
#[test]
fn export_into_a_missing_directory_names_it() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 5);
    let l = log.to_str().unwrap();
    let missing = dir.path().join("nowhere").join("out.ndjson");
    let out = run(&["export", l, "--from-seq", "2", "-o", missing.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let want = format!("the directory {} does not exist", dir.path().join("nowhere").display());
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains(".ndlog-export-"), "{err}");
    let under_a_file = log.join("out.ndjson");
    let out = run(&["export", l, "-o", under_a_file.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("{l} is not a directory")), "{}", stderr(&out));
}

/// `ndlog cat -` with `$TMPDIR` at `tmp`, fed 64 KiB of an input that does not end: it copies
/// its standard input there until the returned pipe is closed.
fn reading_stdin(tmp: &std::path::Path) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = ndlog()
        .args(["cat", "-"])
        .env("TMPDIR", tmp)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, &[b'x'; 1 << 16]).unwrap();
    (child, input)
}

/// A reader copying standard input to `$TMPDIR` removes the copy when a signal stops it: ^C
/// on an endless input left a hidden file behind, as large as the copy had grown.
#[test]
fn a_reader_stopped_while_copying_stdin_leaves_no_spool_file() {
    let tmp = tempdir();
    let (mut child, input) = reading_stdin(tmp.path());
    let spooled = || std::fs::read_dir(tmp.path()).unwrap().count();
    let started = std::time::Instant::now();
    while spooled() == 0 && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(spooled(), 1, "the copy of stdin");
    // Its handler is installed just after the file is created.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    drop(input);
    assert!(!status.success());
    assert_eq!(spooled(), 0, "the copy is removed");
}

/// A reader killed by SIGKILL while it copies standard input leaves its copy behind (no handler
/// runs); the next command that makes such a copy in the same directory removes it once it has
/// been left alone for a minute, and never one a live process holds.
#[test]
fn a_spool_file_left_by_a_killed_reader_is_removed_by_the_next_one() {
    let tmp = tempdir();
    let spools = || -> Vec<std::path::PathBuf> {
        let mut names: Vec<_> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names
    };
    // Two readers copying endless inputs, each into its own spool file.
    let mut children = Vec::new();
    for _ in 0..2 {
        let (child, input) = reading_stdin(tmp.path());
        let before = children.len() + 1;
        let started = std::time::Instant::now();
        while spools().len() < before && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let mine = spools()
            .into_iter()
            .find(|p| !children.iter().any(|c: &(_, _, std::path::PathBuf)| &c.2 == p));
        children.push((child, input, mine.unwrap()));
    }
    let held = spools();
    assert_eq!(held.len(), 2, "one copy each: {held:?}");
    let dead = children[0].2.clone();
    // The first is killed; both files look a minute and more untouched.
    let (mut killed, input, _) = children.remove(0);
    let pid = killed.id().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    killed.wait().unwrap();
    drop(input);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    for path in &held {
        std::fs::File::options().append(true).open(path).unwrap().set_modified(old).unwrap();
    }
    // A new reader's copy: the dead one's goes, the live one's stays.
    let out = ndlog().args(["cat", "-"]).env("TMPDIR", tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let left = spools();
    assert_eq!(left.len(), 1, "{left:?}");
    let (mut live, input, _) = children.remove(0);
    live.kill().unwrap();
    live.wait().unwrap();
    drop(input);
    assert!(held.contains(&left[0]) && left[0] != dead, "the dead reader's copy went");
}

/// A directory redirected to a reader's standard input (a segmented log given as `- < LOG`)
/// is said to be one: it was "copying standard input to a temporary file: Is a directory".
#[test]
fn a_directory_on_standard_input_is_named_as_one() {
    let dir = tempdir();
    for args in [&["cat", "-"][..], &["get", "-", "1"], &["stats", "-"]] {
        let out = ndlog()
            .args(args)
            .env("TMPDIR", dir.path())
            .stdin(std::fs::File::open(dir.path()).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("standard input is a directory, not a log"), "{args:?}: {err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no copy is left");
    }
}
