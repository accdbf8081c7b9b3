//! Helpers shared by the integration tests: the real `ndlog` binary, temporary logs, and
//! independent checks of what a log holds.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) use tempfile::TempDir;

pub(crate) mod fault_fs;
pub(crate) mod hooked_fs;
#[cfg(feature = "ship")]
pub(crate) mod nats;
pub(crate) mod probe_fs;
pub(crate) mod segmented;

/// The test process's umask, read rather than set: setting it, even for an instant, would
/// change the mode of files other tests of this binary create meanwhile.
pub(crate) fn umask() -> u32 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

/// The names of the entries of `dir` that `keep` keeps (temporary files left behind, ...).
pub(crate) fn names_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect()
}

/// A memory figure of process `pid` from `/proc/PID/status` (`field` such as `"VmHWM:"` or
/// `"RssAnon:"`), in bytes; `None` once the process is gone.
pub(crate) fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = text.lines().find_map(|l| l.strip_prefix(field))?;
    kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kb| kb * 1024)
}

/// A fresh temporary directory.
pub(crate) fn tempdir() -> TempDir {
    tempfile::Builder::new().prefix("ndlog-test-").tempdir().unwrap()
}

/// The `ndlog` binary built for these tests.
pub(crate) fn ndlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ndlog"))
}

/// Spawns `ndlog args...` with its stdin, stdout and stderr piped.
pub(crate) fn spawn_piped(args: &[&str]) -> std::process::Child {
    ndlog()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `ndlog args...` with `stdin` as its input.
pub(crate) fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn_piped(args);
    let mut input = child.stdin.take().unwrap();
    // Fed from another thread while this one drains stdout and stderr: a command that writes
    // more than a pipe holds before it has read all of its input would otherwise wait on us as
    // we wait on it.
    std::thread::scope(|s| {
        s.spawn(move || {
            // The command may exit (on an error) before reading all of its input.
            match input.write_all(stdin) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.unwrap(),
            }
        });
        child.wait_with_output().unwrap()
    })
}

/// Text of a command's stdout.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Text of a command's stderr.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// A log at `dir/name` holding `n` records with payloads `{"n":i}`, written by the library.
pub(crate) fn write_log(dir: &Path, name: &str, n: u64) -> PathBuf {
    let path = dir.join(name);
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&path).unwrap();
    for i in 1..=n {
        writer.append_raw(format!(r#"{{"n":{i}}}"#).as_bytes()).unwrap();
    }
    writer.sync().unwrap();
    path
}

/// A record as an independent parser (serde_json on the line alone) sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub seq: u64,
    pub ts: u64,
    pub data: serde_json::Value,
    pub offset: usize,
}

/// Parses every line of `bytes` with serde_json and checks its CRC by hand, independently of
/// the library: the lines a correct reader must return, in order.
pub(crate) fn independent_parse(bytes: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let start = offset;
        offset += line.len();
        let Some(line) = line.strip_suffix(b"\n") else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let Some(pos) = find(line, br#","crc":""#) else {
            continue;
        };
        let crc = format!("{:08x}", crc32fast::hash(&line[..pos]));
        if v["crc"].as_str() != Some(crc.as_str()) {
            continue;
        }
        out.push(Line {
            seq: v["seq"].as_u64().unwrap(),
            ts: v["ts"].as_u64().unwrap(),
            data: v["data"].clone(),
            offset: start,
        });
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The seqs the library reader returns.
pub(crate) fn seqs(bytes: &[u8]) -> Vec<u64> {
    ndlog::Reader::new(bytes).records().map(|r| r.seq).collect()
}
