//! Helpers for segmented logs (a directory of segments), checked independently of the library:
//! file names are read with plain string code and every segment with [`independent_parse`].

use std::path::{Path, PathBuf};

use super::{Line, independent_parse, run, stderr, stdout};

/// Creates the segmented log `dir/name` with `ndlog create` and `args` (e.g.
/// `["--segment-records", "10"]`; `--segment-bytes 2MiB` unless `args` gives one).
pub(crate) fn create(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut all = vec!["create", path.to_str().unwrap()];
    if !args.contains(&"--segment-bytes") {
        all.extend(["--segment-bytes", "2MiB"]);
    }
    all.extend(args);
    let out = run(&all, b"");
    assert!(out.status.success(), "{all:?}: {}", stderr(&out));
    path
}

/// Runs `ndlog args...`, asserts that it succeeded, and returns its stdout.
pub(crate) fn ok(args: &[&str]) -> String {
    ok_with(args, b"")
}

/// [`ok`] with `stdin` as the command's input.
pub(crate) fn ok_with(args: &[&str], stdin: &[u8]) -> String {
    let out = run(args, stdin);
    assert!(out.status.success(), "ndlog {args:?}: {}\n{}", out.status, stderr(&out));
    stdout(&out)
}

/// Appends `payloads` with `ndlog append` (durability always: one record a batch, so that
/// rolls by record count fall at exact multiples) and returns the printed seqs.
pub(crate) fn append(log: &Path, payloads: &[String]) -> Vec<u64> {
    let input = payloads.iter().map(|p| format!("{p}\n")).collect::<String>();
    let text = ok_with(&["append", log.to_str().unwrap()], input.as_bytes());
    text.lines().map(|l| l.parse().unwrap()).collect()
}

/// A segment file's name, read back: (first seq, active). `None` for any other file.
pub(crate) fn segment_name(name: &str) -> Option<(u64, bool)> {
    let (digits, active) = match name.strip_suffix(".ndjson.active") {
        Some(d) => (d, true),
        // The active segment of a log created with --preallocate.
        None => match name.strip_suffix(".ndjson.preallocated") {
            Some(d) => (d, true),
            None => (name.strip_suffix(".ndjson")?, false),
        },
    };
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (digits.parse().unwrap(), active))
}

/// Every file name in the log directory, sorted.
pub(crate) fn file_names(log: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(log)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The names that match the glob `*.ndjson`, sorted as a shell sorts them.
pub(crate) fn sealed_names(log: &Path) -> Vec<String> {
    file_names(log).into_iter().filter(|n| n.ends_with(".ndjson")).collect()
}

/// One segment file as found on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub path: PathBuf,
    pub first_seq: u64,
    pub active: bool,
    pub lines: Vec<Line>,
}

/// The segment files of the log directory in name order (sealed ones, then the active one),
/// each parsed independently.
pub(crate) fn segment_files(log: &Path) -> Vec<SegmentFile> {
    file_names(log)
        .into_iter()
        .filter_map(|name| {
            let (first_seq, active) = segment_name(&name)?;
            let path = log.join(&name);
            let lines = independent_parse(&std::fs::read(&path).unwrap());
            Some(SegmentFile { path, first_seq, active, lines })
        })
        .collect()
}

/// Every valid record of the log, segment after segment.
pub(crate) fn all_lines(log: &Path) -> Vec<Line> {
    segment_files(log).into_iter().flat_map(|s| s.lines).collect()
}

/// The seq of each line of `ndlog cat` (or tail) output.
pub(crate) fn seqs_of(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect()
}
