//! Every subcommand run on files that are not what a log should be — a FIFO, a directory,
//! `/dev/null`, NULs, a CSV, an empty file, a 64 MiB line without a newline, and FIFOs planted
//! at each sidecar path of a healthy log — must end on its own (no hang), without a panic,
//! with one of the documented exit codes, leave the file byte for byte as it was (unless the
//! command appends to a log), and create nothing beside a file ndlog did not write.
//!
//! Exact exit codes and messages belong to the command line; this file asserts them only
//! where the library decides (a special file is refused naming the path, a FIFO at `LOG.idx`
//! means no usable index).

use crate::util;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use util::*;

/// Longer than any of these commands takes; past it the command is killed and counted as hung.
const HANG: Duration = Duration::from_secs(10);
/// How long `tail -f` runs on a regular file (it follows until killed).
const FOLLOW: Duration = Duration::from_millis(600);
/// The exit codes `ndlog --help` documents (5: a lock timeout).
const DOCUMENTED: [i32; 6] = [0, 1, 2, 3, 4, 5];

/// What a command did.
#[derive(Debug)]
struct Outcome {
    /// `None` when it was still running at its deadline (and was killed).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `ndlog args` with `stdin` (a file, or nothing), killing it after `limit`.
fn run_bounded(args: &[OsString], stdin: Option<&Path>, limit: Duration) -> Outcome {
    let scratch = tempdir();
    let (out, err) = (scratch.path().join("out"), scratch.path().join("err"));
    let stdin = match stdin {
        Some(p) => Stdio::from(File::open(p).unwrap()),
        None => Stdio::null(),
    };
    let mut child = ndlog()
        .args(args)
        .stdin(stdin)
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Outcome { code, stdout: read(&out), stderr: read(&err) }
}

/// What a path holds, to compare before and after a command.
#[derive(Debug, PartialEq)]
enum Snapshot {
    Bytes(Vec<u8>),
    Dir(Vec<OsString>),
    Special(u32),
}

fn snapshot(path: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_file() {
        Snapshot::Bytes(std::fs::read(path).unwrap())
    } else if meta.is_dir() {
        Snapshot::Dir(list(path))
    } else {
        Snapshot::Special(meta.mode() & 0o170000)
    }
}

fn list(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    names
}

/// The entries beside `log` whose names start with `LOG.`: every sidecar ndlog could create.
fn sidecars(log: &Path) -> Vec<OsString> {
    let mut prefix = log.file_name().unwrap().to_os_string();
    prefix.push(".");
    let dir = log.parent().unwrap();
    list(dir)
        .into_iter()
        .filter(|n| n.as_encoded_bytes().starts_with(prefix.as_encoded_bytes()))
        .collect()
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
}

/// How a case's file must come out of a command.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Not a regular file: every command refuses it (non-zero, naming it), nothing is
    /// created beside it.
    Special,
    /// A regular file ndlog did not write: never changed, nothing created beside it.
    Foreign,
    /// A log or a file that may become one (empty): commands that append may change it.
    Log,
}

/// The commands, as arguments after `ndlog`, with `LOG` standing for the case's path, `INPUT`
/// for an importable file, and whether the command may change a log.
const COMMANDS: &[(&[&str], bool)] = &[
    (&["append", "LOG"], true),
    (&["cat", "LOG"], false),
    (&["get", "LOG", "1"], false),
    (&["tail", "LOG"], false),
    (&["tail", "-f", "LOG"], false),
    (&["history", "LOG", "--key", "/n", "--entity", "1"], false),
    (&["verify", "LOG"], false),
    (&["stats", "LOG"], false),
    (&["index", "LOG"], false),
    (&["index", "LOG", "--check"], false),
    (&["index", "LOG", "--rebuild"], false),
    (&["lock", "LOG", "--timeout", "1s", "--", "true"], false),
    (&["import", "LOG", "INPUT"], true),
    (&["export", "LOG"], false),
    (&["compact", "LOG", "--lock-timeout", "1s"], true),
];

/// Commands that only read: they never create a file anywhere.
fn reads_only(args: &[&str]) -> bool {
    matches!(args[0], "cat" | "get" | "tail" | "history" | "verify" | "stats" | "export")
        || args.contains(&"--check")
}

/// Runs every command on `log` and checks what `kind` promises; returns the outcomes by
/// command for case-specific checks.
fn every_command(log: &Path, kind: Kind) -> Vec<(String, Outcome)> {
    let inputs = tempdir();
    let input = inputs.path().join("input.ndjson");
    std::fs::write(&input, b"{\"n\":1}\n{\"n\":2}\n").unwrap();
    let stdin = inputs.path().join("stdin");
    std::fs::write(&stdin, b"{\"n\":7}\n").unwrap();
    let mut outcomes = Vec::new();
    for &(template, appends) in COMMANDS {
        let args: Vec<OsString> = template
            .iter()
            .map(|a| match *a {
                "LOG" => log.as_os_str().to_os_string(),
                "INPUT" => input.as_os_str().to_os_string(),
                a => OsString::from(a),
            })
            .collect();
        let name = template.join(" ");
        let before = snapshot(log);
        let beside = sidecars(log);
        let dir_before = list(log.parent().unwrap());
        let follows = template.contains(&"-f");
        let limit = if follows { FOLLOW } else { HANG };
        let out = run_bounded(&args, Some(&stdin), limit);
        let created: Vec<OsString> =
            sidecars(log).into_iter().filter(|n| !beside.contains(n)).collect();
        // Leave nothing behind, even where the check below fails (beside /dev/null, too).
        for n in &created {
            let _ = std::fs::remove_file(log.parent().unwrap().join(n));
        }
        let all = format!("{name} on {}: {out:?}", log.display());
        assert!(!out.stderr.contains("panicked") && out.code != Some(101), "panic: {all}");
        match out.code {
            None if follows && kind != Kind::Special => {} // following, as asked
            None => panic!("hung (killed after {limit:?}): {all}"),
            Some(code) => assert!(DOCUMENTED.contains(&code), "undocumented exit code: {all}"),
        }
        if kind != Kind::Log || !appends {
            assert!(snapshot(log) == before, "{} was changed: {all}", log.display());
        }
        if kind != Kind::Log {
            assert!(created.is_empty(), "created {created:?} beside it: {all}");
        }
        if reads_only(template) && kind != Kind::Special {
            assert_eq!(list(log.parent().unwrap()), dir_before, "a reader created a file: {all}");
        }
        if kind == Kind::Special {
            let file = log.file_name().unwrap().to_string_lossy().into_owned();
            assert_ne!(out.code, Some(0), "{all}");
            assert!(out.stderr.contains(&file), "the error names the file: {all}");
        }
        outcomes.push((name, out));
    }
    outcomes
}

fn outcome<'a>(outcomes: &'a [(String, Outcome)], name: &str) -> &'a Outcome {
    &outcomes.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn a_fifo_as_the_log() {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    mkfifo(&log);
    every_command(&log, Kind::Special);
}

#[test]
fn a_directory_as_the_log() {
    let dir = tempdir();
    let log = dir.path().join("events.ndjson");
    std::fs::create_dir(&log).unwrap();
    std::fs::write(log.join("inside"), b"x").unwrap();
    every_command(&log, Kind::Special);
}

#[test]
fn dev_null_as_the_log() {
    every_command(Path::new("/dev/null"), Kind::Special);
}

#[test]
fn a_file_of_nuls() {
    let dir = tempdir();
    let log = dir.path().join("zeros.ndjson");
    std::fs::write(&log, vec![0u8; 64 << 10]).unwrap();
    every_command(&log, Kind::Foreign);
}

#[test]
fn a_csv_file() {
    let dir = tempdir();
    let log = dir.path().join("people.csv");
    std::fs::write(&log, b"id,name,email\n1,alice,a@example.com\n2,bob,b@example.com\n").unwrap();
    every_command(&log, Kind::Foreign);
}

#[test]
fn a_64_mib_line_without_a_newline() {
    let dir = tempdir();
    let log = dir.path().join("huge.ndjson");
    let mut line = br#"{"seq":1,"ts":1,"data":""#.to_vec();
    line.resize(64 << 20, b'x');
    std::fs::write(&log, &line).unwrap();
    every_command(&log, Kind::Foreign);
    // The same bytes as input: refused or taken as data, never a hang or a panic.
    let healthy = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&healthy).unwrap();
    for args in [vec!["append", "LOG"], vec!["import", "LOG", "HUGE"]] {
        let args: Vec<OsString> = args
            .iter()
            .map(|a| match *a {
                "LOG" => healthy.as_os_str().to_os_string(),
                "HUGE" => log.as_os_str().to_os_string(),
                a => OsString::from(a),
            })
            .collect();
        let out = run_bounded(&args, Some(&log), HANG);
        let all = format!("{args:?}: {out:?}");
        assert!(out.code.is_some(), "hung: {all}");
        assert!(!out.stderr.contains("panicked") && out.code != Some(101), "{all}");
        let after = std::fs::read(&healthy).unwrap();
        assert!(after.starts_with(&before), "acknowledged records were changed: {all}");
    }
}

#[test]
fn an_empty_file() {
    let dir = tempdir();
    let log = dir.path().join("empty.ndjson");
    std::fs::write(&log, b"").unwrap();
    every_command(&log, Kind::Log);
}

/// A healthy log with a FIFO at `LOG<suffix>`.
fn fifo_beside_a_log(suffix: &str) -> (TempDir, PathBuf, Vec<(String, Outcome)>) {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let mut fifo = log.as_os_str().to_os_string();
    fifo.push(suffix);
    let fifo = PathBuf::from(fifo);
    if fifo.exists() {
        std::fs::remove_file(&fifo).unwrap();
    }
    mkfifo(&fifo);
    let outcomes = every_command(&log, Kind::Log);
    (dir, log, outcomes)
}

#[test]
fn a_fifo_at_the_index_means_no_index() {
    let (_dir, log, outcomes) = fifo_beside_a_log(".idx");
    for name in ["cat LOG", "get LOG 1", "stats LOG", "tail LOG"] {
        let out = outcome(&outcomes, name);
        assert_eq!(out.code, Some(0), "{name} on {}: {out:?}", log.display());
    }
    // `index --check` says what it says of a log without an index.
    let fifo = outcome(&outcomes, "index LOG --check");
    let bare = tempdir();
    let other = write_log(bare.path(), "events.ndjson", 10);
    std::fs::remove_file(bare.path().join("events.ndjson.idx")).unwrap();
    let args = [OsString::from("index"), other.into_os_string(), OsString::from("--check")];
    let missing = run_bounded(&args, None, HANG);
    assert_eq!(fifo.code, missing.code, "{fifo:?} / {missing:?}");
    let get = outcome(&outcomes, "get LOG 1");
    assert!(get.stdout.contains(r#""seq":1"#), "{get:?}");
}

#[test]
fn a_fifo_at_the_lock_file_is_refused_clearly() {
    let (_dir, _log, outcomes) = fifo_beside_a_log(".lock");
    let writers = [
        "append LOG",
        "index LOG",
        "index LOG --rebuild",
        "lock LOG --timeout 1s -- true",
        "import LOG INPUT",
        "compact LOG --lock-timeout 1s",
    ];
    for name in writers {
        let out = outcome(&outcomes, name);
        assert_ne!(out.code, Some(0), "{name}: {out:?}");
        assert!(out.stderr.contains("events.ndjson.lock"), "{name}: {out:?}");
    }
    let out = outcome(&outcomes, "cat LOG");
    assert_eq!(out.code, Some(0), "readers never open the lock: {out:?}");
}

#[test]
fn a_fifo_at_the_compaction_lock_is_refused_clearly() {
    let (_dir, _log, outcomes) = fifo_beside_a_log(".compact.lock");
    let out = outcome(&outcomes, "compact LOG --lock-timeout 1s");
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("events.ndjson.compact.lock"), "{out:?}");
    let out = outcome(&outcomes, "append LOG");
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn a_fifo_at_the_quarantine() {
    let (_dir, _log, outcomes) = fifo_beside_a_log(".quarantine");
    // A healthy log has nothing to quarantine: the FIFO is never opened.
    let out = outcome(&outcomes, "compact LOG --lock-timeout 1s");
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn a_fifo_at_the_watermark_stops_committed_followers_clearly_and_no_writer() {
    let (_dir, log, outcomes) = fifo_beside_a_log(".watermark");
    // Publishing the watermark is no part of an append: it goes on without it.
    for name in ["append LOG", "cat LOG", "tail LOG", "compact LOG --lock-timeout 1s"] {
        let out = outcome(&outcomes, name);
        assert_eq!(out.code, Some(0), "{name} on {}: {out:?}", log.display());
    }
    // A committed follower cannot know what is durable: it says which file is in the way.
    let out = outcome(&outcomes, "tail -f LOG");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("events.ndjson.watermark"), "{out:?}");
}

/// `import LOG FIFO` reads its input from a named pipe: whatever it makes of it (streams it, or
/// refuses it), it ends once the writer has closed the pipe, without a panic, and a log it did
/// not import into is left as it was.
#[test]
fn a_fifo_as_import_input_never_hangs_once_its_writer_is_done() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&log).unwrap();
    let fifo = dir.path().join("input.fifo");
    mkfifo(&fifo);
    let args: Vec<OsString> =
        [OsStr::new("import"), log.as_os_str(), fifo.as_os_str()].map(OsString::from).to_vec();
    // The writer end: opened without blocking once the command has opened the reading end
    // (if it ever does), written, closed.
    let writer_fifo = fifo.clone();
    let writer = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < HANG {
            let end = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&writer_fifo);
            if let Ok(mut end) = end {
                let _ = end.write_all(b"{\"n\":4}\n{\"n\":5}\n");
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = run_bounded(&args, None, HANG);
    writer.join().unwrap();
    assert!(out.code.is_some(), "hung: {out:?}");
    assert!(!out.stderr.contains("panicked") && out.code != Some(101), "{out:?}");
    let after = std::fs::read(&log).unwrap();
    // A named pipe is spooled like standard input, then imported as a whole.
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(util::seqs(&after), [1, 2, 3, 4, 5], "{out:?}");
    assert!(after.starts_with(&before));
}
