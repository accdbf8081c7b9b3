//! Segmented logs as a user meets them through the real `ndlog` binary: `ndlog create` makes a
//! directory, appends roll it into sealed `<first seq>.ndjson` segments, and every command
//! (append, cat, get, tail [-f], history, verify, stats, index, compact, import, export, lock)
//! takes the directory. Bad input is refused with a clear error, and nothing is changed.
//!
//! What is on disk is checked independently of the library: file names with string code, each
//! segment with `independent_parse` (serde_json and a hand-computed CRC).

use crate::util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::segmented::*;
use util::*;

/// The payload of the `i`th record of [`build`]'s logs: three entities, a counter.
fn payload(i: u64) -> String {
    format!(r#"{{"id":"{}","n":{i}}}"#, ["a", "b", "c"][(i % 3) as usize])
}

/// A segmented log of `records` records, `per_segment` records a segment, appended by
/// `ndlog append` in chunks of 7 with a pause between chunks, so that timestamps vary.
fn build(dir: &Path, records: u64, per_segment: u64) -> std::path::PathBuf {
    let log = create(dir, "log", &["--segment-records", &per_segment.to_string()]);
    let mut seqs = Vec::new();
    for chunk in (1..=records).collect::<Vec<_>>().chunks(7) {
        seqs.extend(append(&log, &chunk.iter().map(|&i| payload(i)).collect::<Vec<_>>()));
        std::thread::sleep(Duration::from_millis(3));
    }
    assert_eq!(seqs, (1..=records).collect::<Vec<_>>(), "seqs as acknowledged");
    log
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Name, size, inode and bytes of every file in `dir` (recursively), to show nothing changed.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let name = e.path().strip_prefix(dir).unwrap().display().to_string();
            if meta.is_dir() {
                todo.push(e.path());
                out.insert(name, (0, meta.ino(), Vec::new()));
            } else {
                out.insert(name, (meta.len(), meta.ino(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

#[test]
fn appends_roll_into_sealed_segments_named_by_first_seq() {
    let dir = tempdir();
    let log = build(dir.path(), 35, 10);
    // Only sealed segments match *.ndjson; name order is seq order; the active one differs.
    let names = file_names(&log);
    assert_eq!(
        sealed_names(&log),
        [
            "00000000000000000001.ndjson",
            "00000000000000000011.ndjson",
            "00000000000000000021.ndjson"
        ]
    );
    assert!(names.contains(&"00000000000000000031.ndjson.active".to_string()), "{names:?}");
    assert!(names.contains(&"ndlog.json".to_string()) && names.contains(&"ndlog.lock".to_string()));
    for name in &names {
        if name.ends_with(".ndjson") || name.ends_with(".ndjson.active") {
            assert!(segment_name(name).is_some(), "{name}: only segments end in .ndjson");
        }
    }
    // Each segment holds exactly the seqs its name and the next name say, with their payloads.
    let segments = segment_files(&log);
    assert_eq!(segments.len(), 4);
    for (i, seg) in segments.iter().enumerate() {
        let want: Vec<u64> = (seg.first_seq..(seg.first_seq + 10).min(36)).collect();
        assert_eq!(seg.lines.iter().map(|l| l.seq).collect::<Vec<_>>(), want, "{seg:?}");
        assert_eq!(seg.active, i == 3);
        for l in &seg.lines {
            assert_eq!(l.data, serde_json::from_str::<Value>(&payload(l.seq)).unwrap());
        }
        // Sealed segments are whole NDJSON: every line parses, nothing is torn.
        let text = std::fs::read_to_string(&seg.path).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == seg.lines.len(), "{seg:?}");
    }

    // `segments --json`: one object per segment, every pinned field, as the files show.
    let text = ok(&["segments", "--json", s(&log)]);
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for (row, seg) in rows.iter().zip(&segments) {
        let name = seg.path.file_name().unwrap().to_str().unwrap();
        assert_eq!(row["file"], name, "{row}");
        assert_eq!(row["first_seq"], seg.lines[0].seq, "{row}");
        assert_eq!(row["last_seq"], seg.lines.last().unwrap().seq, "{row}");
        assert_eq!(row["records"], seg.lines.len(), "{row}");
        assert_eq!(row["bytes"], std::fs::metadata(&seg.path).unwrap().len(), "{row}");
        assert_eq!(row["first_ts"], seg.lines[0].ts, "{row}");
        assert_eq!(row["last_ts"], seg.lines.last().unwrap().ts, "{row}");
        assert_eq!(row["sealed"], !seg.active, "{row}");
    }
    // And for people: a header and one line per segment.
    let human = ok(&["segments", s(&log)]);
    assert_eq!(human.lines().count(), 5, "{human}");
    assert!(human.lines().nth(1).unwrap().starts_with("00000000000000000001.ndjson"), "{human}");

    // A new writer process goes on where the log ends, in the active segment.
    assert_eq!(append(&log, &[payload(36)]), [36]);
    assert_eq!(sealed_names(&log).len(), 3);
    assert_eq!(append(&log, &(37..=41).map(payload).collect::<Vec<_>>()), [37, 38, 39, 40, 41]);
    assert_eq!(sealed_names(&log).last().unwrap(), "00000000000000000031.ndjson");
    let lines = all_lines(&log);
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=41).collect::<Vec<_>>());
}

#[test]
fn cat_and_export_ranges_match_a_filter_over_all_segments() {
    let dir = tempdir();
    let log = build(dir.path(), 60, 10);
    let all = all_lines(&log);
    assert_eq!(all.len(), 60);
    let (mid_ts, late_ts) = (all[26].ts, all[44].ts);
    assert!(all[0].ts < mid_ts && mid_ts < late_ts, "timestamps vary across segments");
    type Keep = Box<dyn Fn(&Line) -> bool>;
    let cases: Vec<(Vec<String>, Keep)> = vec![
        (vec![], Box::new(|_| true)),
        (vec!["--from-seq".into(), "23".into()], Box::new(|l| l.seq >= 23)),
        (vec!["--to-seq".into(), "11".into()], Box::new(|l| l.seq <= 11)),
        (
            vec!["--from-seq".into(), "10".into(), "--to-seq".into(), "31".into()],
            Box::new(|l| (10..=31).contains(&l.seq)),
        ),
        (vec!["--from-seq".into(), "61".into()], Box::new(|_| false)),
        (vec!["--since".into(), mid_ts.to_string()], Box::new(move |l| l.ts >= mid_ts)),
        (vec!["--until".into(), mid_ts.to_string()], Box::new(move |l| l.ts < mid_ts)),
        (
            vec!["--since".into(), mid_ts.to_string(), "--until".into(), late_ts.to_string()],
            Box::new(move |l| l.ts >= mid_ts && l.ts < late_ts),
        ),
        (
            vec!["--from-seq".into(), "5".into(), "--until".into(), late_ts.to_string()],
            Box::new(move |l| l.seq >= 5 && l.ts < late_ts),
        ),
    ];
    for (extra, keep) in cases {
        let want: Vec<String> =
            all.iter().filter(|l| keep(l)).map(|l| l.data.to_string()).collect();
        for cmd in ["cat", "export"] {
            let mut args = vec![cmd, "--data", s(&log)];
            args.extend(extra.iter().map(String::as_str));
            let got: Vec<String> = ok(&args).lines().map(str::to_owned).collect();
            assert_eq!(got, want, "{cmd} {extra:?}");
        }
    }
    // Whole lines by default, each exactly as stored in its segment.
    let stored: String =
        segment_files(&log).iter().map(|s| std::fs::read_to_string(&s.path).unwrap()).collect();
    assert_eq!(ok(&["cat", s(&log)]), stored);
    // export -o writes a file with the same lines.
    let out = dir.path().join("export.ndjson");
    ok(&["export", s(&log), "--from-seq", "12", "-o", s(&out)]);
    let exported = std::fs::read_to_string(&out).unwrap();
    assert_eq!(seqs_of(&exported), (12..=60).collect::<Vec<_>>());
    assert_eq!(exported, ok(&["cat", s(&log), "--from-seq", "12"]));
}

/// A segmented log written by hand with known timestamps: seqs 1..=10 and 11..=20 sealed,
/// 21..=25 active, seq `n` at ts `n * 10`, the line of every seq in `damaged` corrupted.
fn timed_log(dir: &Path, damaged: &[u64]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = create(dir, "timed", &["--segment-records", "10"]);
    for name in file_names(&log).iter().filter(|n| segment_name(n).is_some()) {
        std::fs::remove_file(log.join(name)).unwrap();
    }
    for (first, last, active) in [(1u64, 10u64, false), (11, 20, false), (21, 25, true)] {
        let mut bytes = Vec::new();
        for seq in first..=last {
            let start = bytes.len();
            ndlog::format::encode(
                &mut bytes,
                seq,
                seq * 10,
                format!(r#"{{"n":{seq}}}"#).as_bytes(),
            );
            if damaged.contains(&seq) {
                // A flipped digit in the payload: the CRC no longer matches.
                let at = start + bytes[start..].iter().position(|&b| b == b'n').unwrap() + 3;
                bytes[at] ^= 0x01;
            }
        }
        let name = match active {
            true => ndlog::segments::SegmentName::active(first, false),
            false => ndlog::segments::SegmentName::sealed(first),
        };
        std::fs::write(log.join(name.file_name()), bytes).unwrap();
    }
    log
}

/// `cat --since/--until` skips a segment by its records' timestamps only when no record its
/// damage (or the seqs missing after it) held could be in the range: a damaged record at a
/// segment's edge is reported, and `--strict` fails on it, as on a single-file log; damage and
/// gaps outside the range are not.
#[test]
fn time_ranges_see_damage_at_a_segment_s_edge() {
    let dir = tempdir();
    let cat = |log: &Path, extra: &[&str]| {
        let mut args = vec!["cat", "--data", s(log)];
        args.extend(extra);
        run(&args, b"")
    };
    let data = |seqs: std::ops::RangeInclusive<u64>| -> String {
        seqs.map(|n| format!("{{\"n\":{n}}}\n")).collect()
    };
    // A damaged record at a segment's edge that may be in the range (`bound`): `--strict`
    // fails naming its segment; without it the rest is printed and the damage said.
    let edge = |log: &Path, bound: [&str; 2], want: String| {
        let out = cat(log, &["--strict", bound[0], bound[1]]);
        assert_eq!(out.status.code(), Some(3), "{bound:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("00000000000000000011.ndjson"), "{}", stderr(&out));
        let out = cat(log, &bound);
        assert_eq!(out.status.code(), Some(0), "{bound:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), want, "{bound:?}");
        assert!(stderr(&out).contains("skipped 1 corrupt line"), "{}", stderr(&out));
    };
    // Out of the range: `--strict` passes.
    let clean = |log: &Path, bound: [&str; 2], want: String| {
        let out = cat(log, &["--strict", bound[0], bound[1]]);
        assert_eq!((out.status.code(), stdout(&out)), (Some(0), want), "{}", stderr(&out));
    };
    // The last record of a sealed segment is damaged: it may be seq 20 at ts 200. Before it,
    // the damage and the missing seq 20 are out of range.
    let log = timed_log(&dir.path().join("a"), &[20]);
    edge(&log, ["--since", "200"], data(21..=25));
    clean(&log, ["--until", "150"], data(1..=14));
    // The first record of a sealed segment is damaged: it may be seq 11 at ts 110. After it,
    // out of range.
    let log = timed_log(&dir.path().join("b"), &[11]);
    edge(&log, ["--until", "120"], data(1..=10));
    clean(&log, ["--since", "210"], data(21..=25));
}

/// `tail -n` says the damage between the records it prints for each segment it is in.
#[test]
fn tail_says_the_damage_of_each_segment() {
    let dir = tempdir();
    let log = timed_log(dir.path(), &[15, 23]);
    let out = run(&["tail", "-n", "15", "--data", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want: String =
        (9..=25).filter(|n| ![15, 23].contains(n)).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    assert_eq!(stdout(&out), want);
    let err = stderr(&out);
    for file in ["00000000000000000011.ndjson", "00000000000000000021.ndjson.active"] {
        assert!(err.contains(&format!("{file}: skipped 1 corrupt line(s)")), "{file}: {err}");
    }
}

#[test]
fn get_and_tail_read_across_segments() {
    let dir = tempdir();
    let log = build(dir.path(), 45, 10);
    let all = all_lines(&log);
    // A seq in a sealed segment (first, middle, last of one), and in the active one.
    for seq in [1u64, 10, 11, 17, 40, 41, 45] {
        let got = ok(&["get", "--data", s(&log), &seq.to_string()]);
        assert_eq!(got.trim_end(), payload(seq), "get {seq}");
        let line = ok(&["get", s(&log), &seq.to_string()]);
        assert_eq!(seqs_of(&line), [seq]);
    }
    assert_eq!(all[16].data.to_string(), ok(&["get", "--data", s(&log), "17"]).trim_end());
    // A missing seq: exit 4, saying what the log holds.
    for seq in ["0", "46", "1000000"] {
        let out = run(&["get", s(&log), seq], b"");
        assert_eq!(out.status.code(), Some(4), "get {seq}: {}", stderr(&out));
        assert!(stderr(&out).contains("1..=45"), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
    // tail -n: the last records, across a segment boundary, in order.
    assert_eq!(seqs_of(&ok(&["tail", "-n", "3", s(&log)])), [43, 44, 45]);
    assert_eq!(seqs_of(&ok(&["tail", "-n", "17", s(&log)])), (29..=45).collect::<Vec<_>>());
    assert_eq!(seqs_of(&ok(&["tail", "-n", "1000", s(&log)])), (1..=45).collect::<Vec<_>>());
    let data = ok(&["tail", "-n", "2", "--data", s(&log)]);
    assert_eq!(data, format!("{}\n{}\n", payload(44), payload(45)));
}

/// Lines of a child's stdout, through a channel, so that a test waits for them with a timeout.
fn line_channel(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn tail_follow_crosses_rolls_with_no_gap_and_no_repeat() {
    let dir = tempdir();
    let log = build(dir.path(), 8, 5);
    let mut follower = ndlog()
        .args(["tail", "-f", "-n", "3", s(&log)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_channel(follower.stdout.take().unwrap());
    let mut got = Vec::new();
    let expect_up_to = |want: u64, got: &mut Vec<u64>| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.last() != Some(&want) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("tail -f stopped at {:?}, waiting for seq {want}", got.last())
            });
            got.extend(seqs_of(&line));
        }
    };
    expect_up_to(8, &mut got);
    // Another process appends across four rolls, in several batches and processes.
    for chunk in (9..=31).collect::<Vec<u64>>().chunks(6) {
        append(&log, &chunk.iter().map(|&i| payload(i)).collect::<Vec<_>>());
    }
    expect_up_to(31, &mut got);
    assert!(sealed_names(&log).len() >= 5, "{:?}", file_names(&log));
    // One group batch bigger than what is left of the segment.
    let input: String = (32..=44).map(|i| payload(i) + "\n").collect();
    ok_with(&["append", "--durability", "group", s(&log)], input.as_bytes());
    expect_up_to(44, &mut got);
    follower.kill().unwrap();
    let out = follower.wait_with_output().unwrap();
    assert_eq!(got, (6..=44).collect::<Vec<_>>(), "the last 3, then every record once");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning: nothing was removed");
}

#[test]
fn tail_follow_goes_past_a_sealed_segments_damaged_last_record_and_says_so() {
    let dir = tempdir();
    let log = build(dir.path(), 25, 10);
    // Seq 20, the last record of the second segment: a byte of its ts flipped.
    let second = &segment_files(&log)[1].path;
    let mut bytes = std::fs::read(second).unwrap();
    let at = bytes.windows(10).position(|w| w == b"\"seq\":20,\"").unwrap();
    bytes[at + 14] ^= 0x01;
    std::fs::write(second, &bytes).unwrap();
    let mut follower = ndlog()
        .args(["tail", "-f", "--after-seq", "15", s(&log)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_channel(follower.stdout.take().unwrap());
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.last() != Some(&25) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left);
        got.extend(seqs_of(&line.unwrap_or_else(|_| panic!("stopped at {:?}", got.last()))));
    }
    follower.kill().unwrap();
    let out = follower.wait_with_output().unwrap();
    assert_eq!(got, (16..=19).chain(21..=25).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("seqs 20..=20 are not in the log"), "{err}");
}

#[test]
fn history_and_history_at_span_segments() {
    let dir = tempdir();
    let log = build(dir.path(), 50, 10);
    let all = all_lines(&log);
    for entity in ["a", "b", "c"] {
        let want: Vec<u64> = all.iter().filter(|l| l.data["id"] == entity).map(|l| l.seq).collect();
        let got = ok(&["history", s(&log), "--key", "/id", "--entity", entity]);
        assert_eq!(seqs_of(&got), want, "history of {entity}");
        // --at: the newest version with ts at or before the time, whichever segment holds it.
        for at in [all[0].ts, all[13].ts, all[29].ts, all[49].ts, all[49].ts + 60_000] {
            let want = all.iter().rfind(|l| l.data["id"] == entity && l.ts <= at);
            let out = run(
                &["history", s(&log), "--key", "/id", "--entity", entity, "--at", &at.to_string()],
                b"",
            );
            match want {
                Some(l) => {
                    assert!(out.status.success(), "{}", stderr(&out));
                    assert_eq!(seqs_of(&stdout(&out)), [l.seq], "{entity} at {at}");
                }
                None => {
                    assert_eq!(out.status.code(), Some(4), "{entity} at {at}: {}", stdout(&out));
                    assert!(stderr(&out).contains("did not exist yet"), "{}", stderr(&out));
                }
            }
        }
    }
    let out = run(&["history", s(&log), "--key", "/id", "--entity", "zzz"], b"");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn stats_counts_every_segment() {
    let dir = tempdir();
    let log = build(dir.path(), 33, 10);
    let v: Value = serde_json::from_str(&ok(&["stats", "--json", s(&log)])).unwrap();
    let all = all_lines(&log);
    let bytes: u64 =
        segment_files(&log).iter().map(|s| std::fs::metadata(&s.path).unwrap().len()).sum();
    assert_eq!(v["records"], 33, "{v}");
    assert_eq!(v["first_seq"], 1, "{v}");
    assert_eq!(v["last_seq"], 33, "{v}");
    assert_eq!(v["first_ts"], all[0].ts, "{v}");
    assert_eq!(v["last_ts"], all[32].ts, "{v}");
    assert_eq!(v["segments"], 4, "{v}");
    assert_eq!(v["bytes"], bytes, "{v}");
    assert_eq!(v["corrupt_lines"], 0, "{v}");
    let text = ok(&["stats", s(&log)]);
    assert!(text.contains("segments:       4") && text.contains("records:        33"), "{text}");
}

#[test]
fn verify_names_the_damaged_segment_and_the_offset() {
    let dir = tempdir();
    let log = build(dir.path(), 40, 10);
    let out = run(&["verify", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(": ok"), "{}", stdout(&out));
    assert!(stdout(&out).contains("valid records:  40 (seq 1..=40)"), "{}", stdout(&out));

    // One byte flipped inside the 4th record of the second sealed segment.
    let seg = &segment_files(&log)[1];
    let line = &seg.lines[3];
    let mut bytes = std::fs::read(&seg.path).unwrap();
    bytes[line.offset + 20] ^= 0x01;
    std::fs::write(&seg.path, &bytes).unwrap();
    let out = run(&["verify", s(&log)], b"");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("DAMAGED"), "{text}");
    let name = seg.path.display().to_string();
    let report = text.split(&format!("{name}: DAMAGED")).nth(1).unwrap_or_else(|| {
        panic!("the report names the damaged segment {name}:\n{text}");
    });
    assert!(report.contains(&format!("byte {}:", line.offset)), "offset {}:\n{text}", line.offset);
    assert!(text.contains("valid records:  39"), "{text}");
    // --json says the same per segment.
    let v: Value =
        serde_json::from_str(&stdout(&run(&["verify", "--json", s(&log)], b""))).unwrap();
    assert_eq!(v["ok"], false);
    let bad: Vec<&Value> =
        v["segments"].as_array().unwrap().iter().filter(|s| s["ok"] == false).collect();
    assert_eq!(bad.len(), 1, "{v}");
    assert_eq!(bad[0]["log"], name.as_str());
    assert_eq!(bad[0]["problems"][0]["offset"], line.offset);
    // Readers skip the damaged line and read on into the next segments.
    let seqs = seqs_of(&ok(&["cat", s(&log)]));
    assert_eq!(seqs, (1..=40).filter(|&q| q != line.seq).collect::<Vec<_>>());
}

#[test]
fn verify_reports_a_removed_middle_segment_as_a_gap() {
    let dir = tempdir();
    let log = build(dir.path(), 40, 10);
    let segments = segment_files(&log);
    std::fs::remove_file(&segments[1].path).unwrap();
    let out = run(&["verify", s(&log)], b"");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", stderr(&out));
    // It names the segment after which seqs are missing, and which seqs.
    assert!(text.contains(&segments[0].path.display().to_string()), "{text}");
    assert!(text.contains("11..=20"), "{text}");
    let v: Value =
        serde_json::from_str(&stdout(&run(&["verify", "--json", s(&log)], b""))).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["gaps"][0]["first_seq"], 11, "{v}");
    assert_eq!(v["gaps"][0]["last_seq"], 20, "{v}");
    // Other readers read what is there and say what is missing on stderr.
    let out = run(&["cat", s(&log)], b"");
    assert!(out.status.success());
    assert_eq!(seqs_of(&stdout(&out)), (1..=10).chain(21..=40).collect::<Vec<_>>());
    assert!(stderr(&out).contains("11..=20"), "{}", stderr(&out));
}

#[test]
fn a_stray_recordless_file_inside_a_segments_range_is_the_file_named() {
    let dir = tempdir();
    let log = build(dir.path(), 30, 10);
    let before = snapshot(&log);
    // Named as if it started at seq 5, inside the first segment (1..=10): empty, or no record.
    let stray = log.join("00000000000000000005.ndjson");
    for content in [&b""[..], b"junk\n"] {
        std::fs::write(&stray, content).unwrap();
        // (`get 3` reads the first segment alone, and finds it; 7 is the stray's by name.)
        for cmd in [&["cat", s(&log)][..], &["verify", s(&log)], &["get", s(&log), "7"]] {
            let out = run(cmd, b"");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
            assert!(err.contains("00000000000000000005.ndjson"), "{cmd:?}: {err}");
            assert!(
                !err.contains("00000000000000000001.ndjson"),
                "{cmd:?} blames the first: {err}"
            );
            assert!(err.contains("move it out of the log directory"), "{cmd:?}: {err}");
        }
    }
    std::fs::remove_file(&stray).unwrap();
    assert_eq!(snapshot(&log), before, "nothing changed");
    // An empty sealed file after the active segment is the stray, for readers as for writers.
    let active = segment_files(&log).into_iter().find(|s| s.active).unwrap();
    // Inside its seqs, or past them (where it claimed the gap it made), empty or junk.
    let inside = format!("{:020}.ndjson", active.first_seq + 2);
    for (name, content) in [(&inside, &b""[..]), (&"00000000000000000040.ndjson".into(), b"x\n")] {
        let stray = log.join(name);
        std::fs::write(&stray, content).unwrap();
        let compact = ["compact", "--keep-last", "3", s(&log)];
        let cmds = [&["cat", s(&log)][..], &["verify", s(&log)], &["get", s(&log), "29"], &compact];
        for cmd in cmds {
            let out = run(cmd, b"");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{name} {cmd:?}: {err}");
            assert!(err.contains(&stray.display().to_string()), "{name} {cmd:?}: {err}");
            assert!(err.contains("move it out of the log directory"), "{name} {cmd:?}: {err}");
        }
        std::fs::remove_file(&stray).unwrap();
        let mut now = snapshot(&log);
        now.remove("ndlog.compact.lock");
        assert!(now == before, "{name}: compaction changed the log: {:?}", now.keys());
    }
    // A stray holding a record below its own name is the one named, and `get` serves nothing
    // from it.
    let first = std::fs::read_to_string(&segment_files(&log)[0].path).unwrap();
    let stray = log.join("00000000000000000005.ndjson");
    std::fs::write(&stray, first.lines().nth(2).unwrap().to_string() + "\n").unwrap();
    for cmd in [&["cat", s(&log)][..], &["verify", s(&log)], &["get", s(&log), "7"]] {
        let out = run(cmd, b"");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(err.contains("00000000000000000005.ndjson: not an ndlog log: it holds seq 3"));
    }
    // Named where it holds nothing below its name, inside the first segment: both are named.
    std::fs::write(&stray, first.lines().nth(7).unwrap().to_string() + "\n").unwrap();
    let out = run(&["get", s(&log), "8"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("00000000000000000005.ndjson starts inside this segment"));
    let out = run(&["compact", "--keep-last", "3", s(&log)], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    std::fs::remove_file(&stray).unwrap();
    let mut now = snapshot(&log);
    now.remove("ndlog.compact.lock");
    assert!(now == before, "compaction changed the log: {:?}", now.keys());
}

#[test]
fn index_builds_checks_and_rebuilds_each_segment() {
    let dir = tempdir();
    let log = build(dir.path(), 35, 10);
    ok(&["index", s(&log)]);
    let idx: Vec<String> = file_names(&log).into_iter().filter(|n| n.ends_with(".idx")).collect();
    assert_eq!(
        idx,
        [
            "00000000000000000001.idx",
            "00000000000000000011.idx",
            "00000000000000000021.idx",
            "00000000000000000031.idx"
        ]
    );
    let out = run(&["index", "--check", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).matches("index agrees").count(), 4, "{}", stdout(&out));

    // A missing index: --check exits 4 naming the segment; `index` builds it again.
    std::fs::remove_file(log.join(&idx[1])).unwrap();
    let out = run(&["index", "--check", s(&log)], b"");
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let missing = stdout(&out);
    let line = missing.lines().find(|l| l.contains("missing")).unwrap();
    assert!(line.contains("00000000000000000011.ndjson"), "{missing}");
    ok(&["index", s(&log)]);
    assert!(log.join(&idx[1]).exists());
    assert_eq!(run(&["index", "--check", s(&log)], b"").status.code(), Some(0));

    // A damaged index: --check exits 3; --rebuild fixes it; lookups stay right meanwhile.
    let path = log.join(&idx[2]);
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 3;
    bad[at] ^= 0x55;
    std::fs::write(&path, &bad).unwrap();
    let out = run(&["index", "--check", s(&log)], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("00000000000000000021.ndjson")).unwrap();
    assert!(!line.contains("index agrees"), "{text}");
    for seq in [21, 25, 30] {
        assert_eq!(ok(&["get", "--data", s(&log), &seq.to_string()]).trim_end(), payload(seq));
    }
    let text = ok(&["index", "--rebuild", s(&log)]);
    assert!(text.contains("rebuilt"), "{text}");
    assert_eq!(run(&["index", "--check", s(&log)], b"").status.code(), Some(0));
    assert_eq!(std::fs::read(&path).unwrap(), good, "rebuilt as it was written");
}

#[test]
fn keep_last_counts_records_not_the_seqs_a_key_compaction_left_empty() {
    let dir = tempdir();
    let log = build(dir.path(), 60, 10);
    // Each sealed segment keeps only its last record: 10, 20, 30, 40, 50, and 51..=60. The
    // report counts records, not the seqs the segments' names span (it said 60 -> 15).
    let out = ok(&["compact", s(&log), "--key", "/id"]);
    assert!(out.contains("60 -> 15 records (45 dropped by the policy"), "{out}");
    let kept: Vec<u64> = [10, 20, 30, 40].into_iter().chain(50..=60).collect();
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), kept);
    // Again: nothing to drop, and the count is the 15 records there are (it said 60).
    let out = ok(&["compact", s(&log), "--key", "/id"]);
    assert!(out.contains("nothing to remove (15 records)"), "{out}");
    // The log holds 15 records: keeping the last 15 removes none (the segments' names span
    // 60 seqs, and removed the four oldest segments, records 10..=40 with them).
    let out = ok(&["compact", s(&log), "--keep-last", "15"]);
    assert!(out.contains("nothing to remove"), "{out}");
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), kept);
    // The last 12 are 40, 50 and 51..=60: the segments of 10, 20 and 30 go. The report names
    // the seqs they spanned, not a record count taken from their names (it said 30 records
    // of the 3 they held).
    let out = ok(&["compact", s(&log), "--keep-last", "12"]);
    assert!(out.contains("removed 3 sealed segment(s) spanning seqs 1..=30,"), "{out}");
    assert!(!out.contains("30 records"), "{out}");
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), kept[3..]);
    // Retention and a key compaction in one run: the bytes are said once, for both (the
    // removal's line claimed the rewrite's savings too).
    let both_dir = dir.path().join("both");
    std::fs::create_dir(&both_dir).unwrap();
    let both = build(&both_dir, 40, 10);
    let out = ok(&["compact", s(&both), "--key", "/id", "--keep-last", "20"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("removed 2 sealed segment(s) spanning seqs 1..=20"), "{out}");
    assert!(lines[1].contains("(the segments kept; bytes of the whole log): 20 -> "), "{out}");
}

#[test]
fn max_age_past_u64_milliseconds_removes_no_segment() {
    // 2^64 ms + 384 ms, cut to u64: 384ms, and every sealed segment older than that went.
    let dir = tempdir();
    let log = build(dir.path(), 30, 10);
    std::thread::sleep(Duration::from_millis(500));
    let out = ok(&["compact", s(&log), "--max-age", "18446744073709552s"]);
    assert!(out.contains("nothing to remove"), "{out}");
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (1..=30).collect::<Vec<_>>());
}

#[test]
fn index_rebuilds_an_active_segments_index_that_disagrees_before_its_end() {
    // `ndlog index` (no --rebuild) caught the active segment's index up at its end only, and
    // said every segment was indexed while --check found it disagreeing (exit 3).
    let dir = tempdir();
    let log = build(dir.path(), 60, 1000);
    let idx = log.join("00000000000000000001.idx");
    let good = std::fs::read(&idx).unwrap();
    assert!(good.len() >= 64 + 24 * 10, "{} bytes", good.len());
    let mut bad = good.clone();
    bad[64 + 24 * 3 + 2] ^= 0x55;
    std::fs::write(&idx, &bad).unwrap();
    assert_eq!(run(&["index", "--check", s(&log)], b"").status.code(), Some(3));
    let text = ok(&["index", s(&log)]);
    assert!(text.contains("1 segment index(es)"), "{text}");
    assert_eq!(run(&["index", "--check", s(&log)], b"").status.code(), Some(0));
    assert_eq!(std::fs::read(&idx).unwrap(), good, "rebuilt as it was written");
}

#[test]
fn index_rebuild_rebuilds_the_active_segments_index_too() {
    // --rebuild rebuilt the sealed segments' indexes only, and said every segment was indexed
    // while --check still found the active segment's index disagreeing (exit 3).
    let dir = tempdir();
    let log = build(dir.path(), 25, 10);
    let idx = log.join("00000000000000000021.idx");
    let good = std::fs::read(&idx).unwrap();
    // The first entry of two (a writer catching the index up checks only the last).
    let mut bad = good.clone();
    bad[64 + 2] ^= 0x55;
    std::fs::write(&idx, &bad).unwrap();
    assert_eq!(run(&["index", "--check", s(&log)], b"").status.code(), Some(3));
    let text = ok(&["index", "--rebuild", s(&log)]);
    let out = run(&["index", "--check", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(text.contains("3 segment index(es) rebuilt"), "{text}");
    assert_eq!(std::fs::read(&idx).unwrap(), good, "rebuilt as it was written");
}

#[test]
fn retention_removes_whole_segments_and_never_rewrites_a_kept_one() {
    let dir = tempdir();
    let log = build(dir.path(), 60, 10);
    let before = snapshot(&log);
    // keep-last 25 of 60: seqs 36..=60 must stay; the segment 31..=40 holds some of them.
    let out = ok(&["compact", s(&log), "--keep-last", "25"]);
    assert!(out.contains("removed 3 sealed segment(s)"), "{out}");
    assert_eq!(sealed_names(&log), ["00000000000000000031.ndjson", "00000000000000000041.ndjson"]);
    let after = snapshot(&log);
    for (name, (len, ino, bytes)) in &after {
        let Some((first, _)) = segment_name(name) else { continue };
        assert!(first >= 31, "{name}");
        let (len0, ino0, bytes0) = &before[name];
        assert_eq!((len, ino), (len0, ino0), "{name}: a kept segment is the same file");
        assert!(bytes == bytes0, "{name}: a kept segment's bytes never change");
    }
    for gone in ["00000000000000000001", "00000000000000000011", "00000000000000000021"] {
        assert!(!after.keys().any(|n| n.starts_with(gone)), "{gone}: its index goes too");
    }
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (31..=60).collect::<Vec<_>>());
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0), "retention is not a gap");
    let out = run(&["get", s(&log), "5"], b"");
    assert_eq!(out.status.code(), Some(4));
    // Again with nothing more to remove: nothing changes.
    let again = ok(&["compact", s(&log), "--keep-last", "25"]);
    assert!(again.contains("nothing to remove"), "{again}");
    assert_eq!(snapshot(&log), after);
    // Appends go on from the last seq.
    assert_eq!(append(&log, &[payload(61)]), [61]);
}

#[test]
fn retention_after_a_writer_died_between_seal_and_next_segment() {
    // A writer killed between sealing the active segment (rename) and creating the next one
    // leaves only sealed segments. Retention must still keep the last one: it holds the log's
    // last seq, from which the next writer numbers.
    let dir = tempdir();
    let log = build(dir.path(), 25, 10);
    let active = log.join("00000000000000000021.ndjson.active");
    std::fs::rename(&active, log.join("00000000000000000021.ndjson")).unwrap();
    let out = run(&["compact", s(&log), "--keep-last", "1"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sealed_names(&log), ["00000000000000000021.ndjson"]);
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (21..=25).collect::<Vec<_>>());
    assert_eq!(append(&log, &[payload(26)]), [26], "the next writer numbers on");
    assert!(file_names(&log).contains(&"00000000000000000026.ndjson.active".to_string()));
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
}

#[test]
fn key_compaction_rewrites_sealed_segments_and_leaves_the_active_one() {
    let dir = tempdir();
    let log = build(dir.path(), 45, 10);
    let active = log.join("00000000000000000041.ndjson.active");
    let active_before =
        (std::fs::metadata(&active).unwrap().ino(), std::fs::read(&active).unwrap());
    let all = all_lines(&log);
    let out = ok(&["compact", s(&log), "--key", "/id"]);
    assert!(out.contains("rewritten"), "{out}");
    // Kept: the newest record of each key over the whole log, each sealed segment's last
    // record (it tells readers no segment is missing), and the active segment whole.
    let newest: BTreeMap<String, u64> =
        all.iter().map(|l| (l.data["id"].as_str().unwrap().to_string(), l.seq)).collect();
    let want: Vec<u64> = all
        .iter()
        .filter(|l| {
            l.seq > 40 || l.seq % 10 == 0 || newest[l.data["id"].as_str().unwrap()] == l.seq
        })
        .map(|l| l.seq)
        .collect();
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), want);
    assert_eq!(all_lines(&log).iter().map(|l| l.seq).collect::<Vec<_>>(), want, "on disk");
    assert_eq!(
        sealed_names(&log),
        [
            "00000000000000000001.ndjson",
            "00000000000000000011.ndjson",
            "00000000000000000021.ndjson",
            "00000000000000000031.ndjson"
        ]
    );
    let active_after = (std::fs::metadata(&active).unwrap().ino(), std::fs::read(&active).unwrap());
    assert_eq!(active_after, active_before, "the active segment is not touched");
    assert!(!file_names(&log).iter().any(|n| n.ends_with(".tmp")), "{:?}", file_names(&log));
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
    for seq in &want {
        let got = ok(&["get", "--data", s(&log), &seq.to_string()]);
        assert_eq!(got.trim_end(), payload(*seq));
    }
    assert_eq!(append(&log, &[payload(46)]), [46]);
}

#[test]
fn import_and_export_move_records_in_and_out_of_a_segmented_log() {
    let dir = tempdir();
    let log = build(dir.path(), 12, 5);
    // Plain NDJSON: new records with new seqs, after those already there.
    let input = dir.path().join("plain.ndjson");
    let plain: String = (13..=40).map(|i| payload(i) + "\n").collect();
    std::fs::write(&input, &plain).unwrap();
    ok(&["import", s(&log), s(&input)]);
    let lines = all_lines(&log);
    assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>());
    for l in &lines {
        assert_eq!(l.data, serde_json::from_str::<Value>(&payload(l.seq)).unwrap());
    }
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
    // The log rolled: every sealed segment's name is its first record's seq.
    for seg in segment_files(&log) {
        assert_eq!(seg.lines[0].seq, seg.first_seq, "{}", seg.path.display());
    }
    // Appends after the import roll by the settings again.
    append(&log, &(41..=52).map(payload).collect::<Vec<_>>());
    let last = segment_files(&log).pop().unwrap();
    assert!(last.active && last.lines.len() <= 5, "{last:?}");

    // Export as payloads, import into a fresh segmented log: the same payloads.
    let exported = dir.path().join("payloads.ndjson");
    ok(&["export", s(&log), "--data", "-o", s(&exported)]);
    let copy = create(dir.path(), "copy", &["--segment-records", "7"]);
    ok(&["import", s(&copy), s(&exported)]);
    assert_eq!(ok(&["cat", "--data", s(&copy)]), ok(&["cat", "--data", s(&log)]));
    // Export whole records, import them verbatim: seq and ts kept, byte for byte.
    let records = dir.path().join("records.ndjson");
    ok(&["export", s(&log), "-o", s(&records)]);
    let verbatim = create(dir.path(), "verbatim", &["--segment-records", "9"]);
    let text = ok(&["import", s(&verbatim), s(&records)]);
    assert!(text.contains("verbatim"), "{text}");
    assert_eq!(ok(&["cat", s(&verbatim)]), std::fs::read_to_string(&records).unwrap());
}

#[test]
fn lock_holds_the_writer_lock_of_a_segmented_log() {
    let dir = tempdir();
    let log = build(dir.path(), 3, 10);
    let out = run(&["lock", s(&log), "--", "true"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["lock", s(&log), "--", "sh", "-c", "exit 7"], b"");
    assert_eq!(out.status.code(), Some(7), "the command's exit status");
    // While `ndlog lock` holds it, an append waits and gives up with exit 5.
    let mut holder = ndlog()
        .args(["lock", s(&log), "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ndlog::LogLock::acquire_log(&log, Duration::ZERO) {
            Err(e) if matches!(e.kind(), ndlog::ErrorKind::LockTimeout { .. }) => break,
            Ok(held) => drop(held),
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "ndlog lock never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = run(&["append", "--lock-timeout", "200ms", s(&log)], b"{}\n");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert_eq!(append(&log, &[payload(4)]), [4]);
}

#[test]
fn create_refuses_an_existing_path_and_changes_nothing() {
    let dir = tempdir();
    let log = build(dir.path(), 12, 5);
    let file = write_log(dir.path(), "single.ndjson", 3);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "hello\n").unwrap();
    for path in [&log, &file, &empty, &plain] {
        let before = snapshot(dir.path());
        let out = run(&["create", s(path), "--segment-bytes", "4MiB"], b"");
        assert!(!out.status.success(), "{}", path.display());
        assert!(stderr(&out).contains(s(path)), "names the path: {}", stderr(&out));
        assert!(stderr(&out).contains("already"), "{}", stderr(&out));
        assert_eq!(snapshot(dir.path()), before, "{}: nothing changed", path.display());
    }
    // The log still reads, rolls and appends as it was created.
    assert_eq!(append(&log, &[payload(13)]), [13]);
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
}

#[test]
fn create_refuses_nonsense_settings_naming_the_flag() {
    let dir = tempdir();
    let log = dir.path().join("log");
    for (args, flag) in [
        (&["--segment-bytes", "0"][..], "--segment-bytes"),
        (&["--segment-bytes", "1000"], "--segment-bytes"),
        (&["--segment-bytes", "1MiB"], "--segment-bytes"),
        (&["--segment-bytes", "2MiB", "--segment-records", "0"], "--segment-records"),
        (&["--segment-bytes", "2MiB", "--segment-age", "0s"], "--segment-age"),
    ] {
        let mut all = vec!["create", s(&log)];
        all.extend(args);
        let out = run(&all, b"");
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
        assert!(!log.exists(), "{args:?}: nothing created");
    }
    let out = run(&["create", s(&log)], b"");
    assert_eq!(out.status.code(), Some(2), "--segment-bytes is required");
    assert!(stderr(&out).contains("--segment-bytes"), "{}", stderr(&out));
    assert!(!log.exists());
}

#[test]
fn a_directory_that_is_not_a_segmented_log_is_refused_and_left_alone() {
    let dir = tempdir();
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("data.ndjson"), "{\"a\":1}\n").unwrap();
    for d in [&plain, &other] {
        let before = snapshot(dir.path());
        let p = s(d);
        let commands: Vec<(Vec<&str>, &[u8])> = vec![
            (vec!["append", p], b"{}\n"),
            (vec!["cat", p], b""),
            (vec!["get", p, "1"], b""),
            (vec!["tail", p], b""),
            (vec!["verify", p], b""),
            (vec!["stats", p], b""),
            (vec!["segments", p], b""),
            (vec!["index", p], b""),
            (vec!["history", p, "--key", "/id", "--entity", "a"], b""),
            (vec!["export", p], b""),
            (vec!["compact", p, "--keep-last", "1"], b""),
            (vec!["lock", p, "--", "true"], b""),
            (vec!["import", p, "-"], b"{}\n"),
        ];
        for (args, input) in commands {
            let out = run(&args, input);
            assert!(!out.status.success(), "{args:?} succeeded");
            let err = stderr(&out);
            assert!(err.contains(p), "{args:?}: names the directory: {err}");
            assert!(err.contains("ndlog.json") || err.contains("not a"), "{args:?}: {err}");
            assert_eq!(snapshot(dir.path()), before, "{args:?}: nothing created or changed");
        }
    }
}

#[test]
fn a_stray_file_after_the_active_segment_refuses_an_append_and_changes_nothing() {
    // An empty file named like a later sealed segment (left by a copy gone wrong): writers must
    // refuse the log without first sealing the active segment, as they used to (a write on a
    // refused input, and one a retry cannot undo).
    let dir = tempdir();
    let log = build(dir.path(), 5, 100);
    let sealed = log.join("00000000000000000050.ndjson");
    // Named like an active segment, it made the writer seal the real one and append seq 50.
    let active = log.join("00000000000000000050.ndjson.active");
    for (stray, contents) in [(&sealed, &b""[..]), (&sealed, b"not a record\n"), (&active, b"")] {
        std::fs::write(stray, contents).unwrap();
        let before = snapshot(&log);
        for args in [vec!["append", s(&log)], vec!["import", s(&log), "-"]] {
            let out = run(&args, b"{}\n");
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("00000000000000000050.ndjson"), "{args:?} names the file: {err}");
            assert!(err.contains("move it out"), "{args:?} says what to do: {err}");
            assert_eq!(snapshot(&log), before, "{args:?}: nothing renamed, created or written");
        }
        std::fs::remove_file(stray).unwrap();
    }
    // The active segment renamed by hand: the next record was numbered against the new name's
    // neighbours and written into a segment whose name no longer says where it starts.
    let real = log.join("00000000000000000001.ndjson.active");
    let renamed = log.join("00000000000000000003.ndjson.active");
    std::fs::rename(&real, &renamed).unwrap();
    let before = snapshot(&log);
    let out = run(&["append", s(&log)], b"{}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("00000000000000000003.ndjson.active") && err.contains("seq 1"), "{err}");
    assert!(err.contains("give it back the name 00000000000000000001.ndjson.active"), "{err}");
    assert_eq!(snapshot(&log), before, "nothing written");
    std::fs::rename(&renamed, &real).unwrap();
    // Moved out, the log takes appends where it left off.
    assert_eq!(append(&log, &[payload(6)]), [6]);
}

#[test]
fn the_segments_table_keeps_its_columns_for_a_preallocated_segment() {
    // A preallocated segment's name (`N.ndjson.preallocated`, 40 bytes) ran into the first_seq
    // column, which the table had sized for 36.
    let dir = tempdir();
    let log = create(dir.path(), "log", &["--segment-bytes", "2MiB", "--segment-records", "3"]);
    let pre = create(dir.path(), "pre", &["--segment-bytes", "2MiB", "--preallocate"]);
    for log in [&log, &pre] {
        append(log, &(1..=5).map(payload).collect::<Vec<_>>());
        let table = ok(&["segments", s(log)]);
        let ends = |line: &str| -> Vec<usize> {
            let mut ends = Vec::new();
            for (i, c) in line.char_indices() {
                if c != ' ' && line[i + 1..].starts_with(' ') {
                    ends.push(i + 1);
                }
            }
            ends
        };
        let header = ends(table.lines().next().unwrap());
        for line in table.lines().skip(1) {
            // Right-aligned numbers end where their headers end.
            assert_eq!(ends(line)[1..5], header[1..5], "{table}");
        }
    }
}

#[test]
fn an_imported_log_whose_seqs_skip_takes_appends_and_an_empty_stray_is_the_one_named() {
    // Records imported as they are may start a segment above the seq its name says (a roll
    // names the next segment after the last record): that is a log ndlog made, not a renamed
    // segment, and writers take it.
    let dir = tempdir();
    let source = dir.path().join("source.ndjson");
    let mut bytes = Vec::new();
    for seq in [1, 2, 3, 10, 11] {
        ndlog::format::encode(&mut bytes, seq, 1_763_712_000_000 + seq, b"{}");
    }
    std::fs::write(&source, &bytes).unwrap();
    let log = create(dir.path(), "log", &["--segment-bytes", "2MiB", "--segment-records", "3"]);
    let out = run(&["import", s(&log), s(&source)], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(append(&log, &[payload(12)]), [12]);
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
    // An empty active segment before a sealed one is the stray, and is the file named.
    let stray = log.join("00000000000000000002.ndjson.active");
    std::fs::write(&stray, b"").unwrap();
    let out = run(&["append", s(&log)], b"{}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("00000000000000000002.ndjson.active: not an ndlog log"), "{err}");
}

#[test]
fn two_creates_at_once_one_wins_the_other_names_the_path() {
    let dir = tempdir();
    for round in 0..8 {
        let log = dir.path().join(format!("log{round}"));
        let children: Vec<_> = (0..2)
            .map(|_| {
                ndlog()
                    .args(["create", s(&log), "--segment-bytes", "2MiB", "--segment-records", "4"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let wins: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(wins.len(), 1, "round {round}: exactly one create succeeds");
        let loser = outs.iter().find(|o| !o.status.success()).unwrap();
        assert!(stderr(loser).contains(s(&log)), "round {round}: {}", stderr(loser));
        // What the winner made is a whole log.
        assert_eq!(append(&log, &(1..=9).map(payload).collect::<Vec<_>>()).len(), 9);
        assert_eq!(sealed_names(&log).len(), 2, "round {round}");
        assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
    }
}

#[test]
fn a_single_file_log_still_works_beside_segmented_ones() {
    let dir = tempdir();
    let file = dir.path().join("single.ndjson");
    assert_eq!(append(&file, &(1..=30).map(payload).collect::<Vec<_>>()).len(), 30);
    assert!(file.is_file());
    assert_eq!(seqs_of(&ok(&["cat", s(&file), "--from-seq", "28"])), [28, 29, 30]);
    assert_eq!(ok(&["get", "--data", s(&file), "7"]).trim_end(), payload(7));
    assert_eq!(run(&["verify", s(&file)], b"").status.code(), Some(0));
    let out = run(&["segments", s(&file)], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("single-file"), "{}", stderr(&out));
}

#[test]
fn repair_says_each_damaged_segment_has_its_own_quarantine_file() {
    let dir = tempdir();
    let log = build(dir.path(), 30, 10);
    for (segment, seq) in [("00000000000000000001.ndjson", 5), ("00000000000000000011.ndjson", 15)]
    {
        let path = log.join(segment);
        let text = std::fs::read_to_string(&path).unwrap();
        let line = format!("{{\"seq\":{seq},");
        let at = text.find(&line).unwrap() + line.len() + 2;
        let mut bytes = text.into_bytes();
        bytes[at] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    }
    let out = ok(&["compact", s(&log)]);
    let first = log.join("00000000000000000001.quarantine");
    let last = log.join("00000000000000000011.quarantine");
    assert!(first.is_file() && last.is_file());
    // It said both spans went to the last file.
    assert!(out.contains("moved 2 damaged span(s)"), "{out}");
    assert!(out.contains("quarantine file of each damaged segment"), "{out}");
    assert!(out.contains(&format!("last written is {}", last.display())), "{out}");
}

#[test]
fn a_torn_write_in_the_active_segment_is_neutralised_by_the_next_append() {
    // A writer killed mid-write leaves part of a line at the end of the active segment. The
    // next append neutralises it as on a single-file log: the log is strict NDJSON again, and
    // `verify` passes. The same once the segment is sealed.
    let dir = tempdir();
    let log = build(dir.path(), 7, 5);
    let active = log.join("00000000000000000006.ndjson.active");
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(br#"{"seq":8,"ts":1763683200123,"da"#);
    std::fs::write(&active, bytes).unwrap();
    assert_eq!(append(&log, &[payload(8)]), [8]);
    let text = std::fs::read_to_string(&active).unwrap();
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not strict NDJSON: {line:?}");
    }
    let out = run(&["verify", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The debris went to a quarantine file that no glob over *.ndjson picks up.
    assert!(sealed_names(&log).iter().all(|n| segment_name(n).is_some()));
    let quarantine = std::fs::read_to_string(log.join("00000000000000000006.quarantine")).unwrap();
    let span: Value = serde_json::from_str(quarantine.lines().next().unwrap()).unwrap();
    assert_eq!(span["len"], 31, "the debris is kept: {quarantine}");
    // Rolled and sealed, the segment is still clean.
    append(&log, &(9..=12).map(payload).collect::<Vec<_>>());
    assert!(sealed_names(&log).contains(&"00000000000000000006.ndjson".to_string()));
    let out = run(&["verify", s(&log)], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (1..=12).collect::<Vec<_>>());
}

#[test]
fn retention_by_bytes_and_by_age_removes_whole_segments() {
    let dir = tempdir();
    let log = build(dir.path(), 40, 10);
    let sizes: Vec<u64> =
        segment_files(&log).iter().map(|s| std::fs::metadata(&s.path).unwrap().len()).collect();
    // --max-bytes: the newest segments that fit; an older one goes once those after it
    // already hold the bytes allowed.
    let allowed = sizes[2] + sizes[3] + 1;
    let out = ok(&["compact", s(&log), "--max-bytes", &allowed.to_string()]);
    assert!(out.contains("removed 1 sealed segment(s)"), "{out}");
    assert_eq!(segment_files(&log)[0].first_seq, 11);
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (11..=40).collect::<Vec<_>>());
    // --max-age: every sealed segment whose last record is older goes; the active one stays
    // however old it is.
    std::thread::sleep(Duration::from_millis(300));
    let out = ok(&["compact", s(&log), "--max-age", "200ms"]);
    assert!(out.contains("removed 2 sealed segment(s)"), "{out}");
    assert_eq!(sealed_names(&log), Vec::<String>::new());
    assert_eq!(seqs_of(&ok(&["cat", s(&log)])), (31..=40).collect::<Vec<_>>());
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
    assert_eq!(append(&log, &[payload(41)]), [41]);
}

#[test]
fn segments_roll_by_age() {
    let dir = tempdir();
    // An age a loaded machine's process start cannot exceed between the first two appends.
    let log = create(dir.path(), "log", &["--segment-age", "1500ms"]);
    append(&log, &(1..=3).map(payload).collect::<Vec<_>>());
    assert_eq!(sealed_names(&log), Vec::<String>::new(), "young: no roll");
    std::thread::sleep(Duration::from_millis(1600));
    append(&log, &[payload(4)]);
    assert_eq!(sealed_names(&log), ["00000000000000000001.ndjson"], "rolled by age");
    assert!(file_names(&log).contains(&"00000000000000000004.ndjson.active".to_string()));
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("ndlog.json")).unwrap()).unwrap();
    assert_eq!(settings["segment_age_ms"], 1500, "{settings}");
}

#[test]
fn a_segment_that_does_not_parse_is_named_and_nothing_is_rewritten() {
    let dir = tempdir();
    let log = build(dir.path(), 30, 10);
    let bad = log.join("00000000000000000011.ndjson");
    std::fs::write(&bad, "not json\nat all\n").unwrap();
    let before = snapshot(&log);
    let out = run(&["verify", s(&log)], b"");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains(&format!("{}: DAMAGED", bad.display())), "{text}");
    assert!(text.contains("byte 0:") && text.contains("byte 9:"), "{text}");
    assert!(text.contains("11..=20"), "the records it should hold are missing: {text}");
    let totals = text.split(&format!("{}: DAMAGED", bad.display())).next().unwrap();
    assert!(
        !totals.contains("... and"),
        "the totals list no problems, so none are 'more':\n{text}"
    );
    // Readers read around it and name it.
    let out = run(&["cat", s(&log)], b"");
    assert!(out.status.success());
    assert_eq!(seqs_of(&stdout(&out)), (1..=10).chain(21..=30).collect::<Vec<_>>());
    assert!(stderr(&out).contains(s(&bad)), "{}", stderr(&out));
    // A writer refuses it, naming it; retention that keeps it and key compaction leave it.
    let out = run(&["append", s(&log)], b"{}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(s(&bad)), "{}", stderr(&out));
    ok(&["compact", s(&log), "--keep-last", "25"]);
    ok(&["segments", s(&log)]);
    let after = snapshot(&log);
    for (name, file) in &before {
        assert_eq!(after.get(name), Some(file), "{name} changed");
    }
    // Key compaction rewrites the healthy segments by its policy, never the unreadable one.
    ok(&["compact", s(&log), "--key", "/id"]);
    let name = "00000000000000000011.ndjson";
    assert_eq!(snapshot(&log).get(name), before.get(name), "{name} changed");
}

#[test]
fn preallocated_segments_take_appends_from_several_processes() {
    // A writer that opened the log before another process appended must append after that
    // record, not over it: in a preallocated segment records are written in place.
    let dir = tempdir();
    let log = create(dir.path(), "log", &["--segment-records", "4", "--preallocate"]);
    assert_eq!(append(&log, &[payload(1)]), [1]);
    let mut early = ndlog()
        .args(["append", s(&log)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let acks = line_channel(early.stdout.take().unwrap());
    let mut input = early.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // it has opened the log
    let mut want = vec![(1, payload(1))];
    for i in 2..=10u64 {
        // The other process, then the early writer, turn by turn, across rolls.
        let seq = append(&log, &[payload(i * 100)])[0];
        want.push((seq, payload(i * 100)));
        use std::io::Write;
        writeln!(input, "{}", payload(i)).unwrap();
        let seq: u64 = acks.recv_timeout(Duration::from_secs(20)).unwrap().parse().unwrap();
        want.push((seq, payload(i)));
    }
    drop(input);
    assert!(early.wait().unwrap().success());
    want.sort();
    let got: Vec<(u64, String)> =
        all_lines(&log).into_iter().map(|l| (l.seq, l.data.to_string())).collect();
    assert_eq!(got, want, "every acknowledged record, once, with the seq it was given");
    assert_eq!(run(&["verify", s(&log)], b"").status.code(), Some(0));
}

#[test]
fn tail_follow_on_preallocated_segments_sees_each_append() {
    let dir = tempdir();
    let log = create(dir.path(), "log", &["--segment-records", "5", "--preallocate"]);
    append(&log, &(1..=3).map(payload).collect::<Vec<_>>());
    let mut follower =
        ndlog().args(["tail", "-f", "-n", "0", s(&log)]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = line_channel(follower.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    // One record at a time: each must show before the next is written (no waiting for a
    // block of them), in the active segment and across rolls.
    for i in 4..=13u64 {
        assert_eq!(append(&log, &[payload(i)]), [i]);
        let line = lines.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| {
            panic!("tail -f did not print seq {i} within 5 s of its append");
        });
        assert_eq!(seqs_of(&line), [i]);
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
}

/// Segment sizes that no writer could honour are bad usage at `create` (exit 2, nothing
/// created); a writer whose record limit does not fit the log's segments is told to lower
/// `--max-record-size`, naming the log and its settings file, and a settings file of a version
/// no ndlog writes is not blamed on a newer ndlog.
#[test]
fn segment_sizes_that_cannot_work_are_refused_naming_what_to_change() {
    let dir = util::tempdir();
    for (name, extra) in [
        ("small", &["--segment-bytes", "1MiB"][..]),
        ("huge", &["--segment-bytes", "2TiB"]),
        ("records", &["--segment-bytes", "4MiB", "--segment-records", "0"]),
        ("age", &["--segment-bytes", "4MiB", "--segment-age", "1ns"]),
    ] {
        let log = dir.path().join(name);
        let mut args = vec!["create", log.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = util::run(&args, b"");
        let err = util::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--segment-"), "{args:?}: {err}");
        assert!(!log.exists(), "{args:?} created the log");
    }
    let log = dir.path().join("seg");
    let l = log.to_str().unwrap();
    assert!(util::run(&["create", l, "--segment-bytes", "2MiB"], b"").status.success());
    let out = util::run(&["append", l, "--max-record-size", "16MiB"], b"{}\n");
    let err = util::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--max-record-size") && err.contains("ndlog.json"), "{err}");
    assert!(!err.contains("--segment-bytes"), "{err}");
    assert!(util::run(&["append", l, "--max-record-size", "1MiB"], b"{}\n").status.success());

    let settings = log.join("ndlog.json");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, text.replace("\"version\": 1", "\"version\": 0")).unwrap();
    let out = util::run(&["append", l], b"{}\n");
    let err = util::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ndlog.json") && err.contains("version 0"), "{err}");
    assert!(!err.contains("newer"), "{err}");
}

#[test]
fn create_with_a_preallocated_segment_larger_than_the_room_says_what_to_do() {
    let dir = tempdir();
    let log = dir.path().join("log");
    // A small disk: no file may grow past 8 MiB (RLIMIT_FSIZE, with SIGXFSZ ignored so that a
    // write past it fails with EFBIG as one past a full disk fails with ENOSPC).
    let small_disk = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .args(["-c", r#"trap "" XFSZ; ulimit -f 8192 && exec "$0" "$@""#])
            .arg(env!("CARGO_BIN_EXE_ndlog"))
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let (code, out, err) =
        small_disk(&["create", s(&log), "--segment-bytes", "64MiB", "--preallocate"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("its first segment does not fit"), "{err}");
    assert!(err.contains("67108864 bytes"), "says how much room the segment takes: {err}");
    assert!(err.contains("--segment-bytes smaller") && err.contains("--preallocate"), "{err}");
    // No segment's worth of padding is left to fill the disk; the log stays a log.
    let temps = || names_where(&log, |n| n.ends_with(".tmp"));
    assert_eq!(temps(), Vec::<String>::new());
    let (code, _, err) = small_disk(&["append", s(&log)]);
    assert_eq!(code, Some(1), "a writer finds no room either: {err}");
    assert_eq!(temps(), Vec::<String>::new());
    // With room, a writer makes the segment and appends.
    let out = run(&["append", s(&log)], b"{\"a\":1}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    // It fits once smaller.
    let other = dir.path().join("other");
    let (code, _, err) =
        small_disk(&["create", s(&other), "--segment-bytes", "2MiB", "--preallocate"]);
    assert_eq!(code, Some(0), "{err}");
}

/// The segmented log `dir/log` of `n` segments, one record each: the `i`th record's payload
/// is the number `i`.
fn one_record_segments(dir: &Path, n: u64) -> std::path::PathBuf {
    let log = dir.join("log");
    let settings = ndlog::segments::Settings {
        segment_records: Some(1),
        ..ndlog::segments::Settings::new(2 << 20)
    };
    let opts = ndlog::Options::new().durability(ndlog::Durability::Never).segments(settings);
    let writer = opts.open(&log).unwrap();
    for i in 1..=n {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    log
}

/// Retention on a log of many segments holds one of them open at a time while it checks them:
/// checking them all mapped at once ran out of file descriptors (`ulimit -n`) where the
/// compaction meant to bring their number down.
#[test]
fn retention_checks_many_segments_within_a_small_file_limit() {
    let dir = tempdir();
    let log = one_record_segments(dir.path(), 300);
    let script = format!(
        "ulimit -n 64 && exec {} compact --keep-last 250 {}",
        env!("CARGO_BIN_EXE_ndlog"),
        s(&log)
    );
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sealed_names(&log).len(), 249, "{}", String::from_utf8_lossy(&out.stdout));
}

/// Readers of a log of more segments than `ulimit -n` allows open files: a sealed segment is
/// read through its map alone, its file closed once mapped.
#[test]
fn readers_of_many_segments_fit_a_small_file_limit() {
    let dir = tempdir();
    let log = one_record_segments(dir.path(), 300);
    let limited = |args: &str| {
        let script = format!("ulimit -n 64 && exec {} {args}", env!("CARGO_BIN_EXE_ndlog"));
        let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let l = s(&log);
    let want: String = (1..=300).map(|i| format!("{i}\n")).collect();
    assert_eq!(limited(&format!("cat --data {l}")), want);
    assert_eq!(
        limited(&format!("export --data {l} --from-seq 150")),
        want[want.find("150").unwrap()..]
    );
    assert_eq!(limited(&format!("get --data {l} 7")), "7\n");
    assert_eq!(limited(&format!("tail -n 2 --data {l}")), "299\n300\n");
    assert!(limited(&format!("verify {l}")).contains("300"), "verify counts every record");
    let log = ndlog::segments::SegmentedReader::open(&log).unwrap();
    assert_eq!(log.parts().len(), 300);
    assert_eq!(log.records().count(), 300);
}

/// A segmented log whose settings file is lost or damaged: every command refused it, and the
/// message pointed to `ndlog create`, which refuses the directory ("remove it"), which would
/// delete the log. Failed on d50e891: no word that the segments are intact, nor how to give the
/// log its settings back. Following the advice makes it readable again.
#[test]
fn a_lost_settings_file_is_said_with_how_to_write_it_back() {
    let dir = tempdir();
    let log = create(dir.path(), "events", &["--segment-records", "3"]);
    let l = log.to_str().unwrap();
    let payloads: Vec<String> = (1..=7).map(|i| format!("{{\"n\":{i}}}")).collect();
    append(&log, &payloads);
    let settings = log.join("ndlog.json");
    for damage in [None, Some(&b""[..]), Some(b"{\"format\":")] {
        match damage {
            None => std::fs::remove_file(&settings).unwrap(),
            Some(bytes) => std::fs::write(&settings, bytes).unwrap(),
        }
        let out = run(&["cat", l], b"");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("ndlog.json as `ndlog create` does"), "{err}");
        assert!(err.contains("do not remove it") || err.contains("not affected"), "{err}");
        let example = err.split("e.g. ").nth(1).unwrap().split(" (segment_bytes").next().unwrap();
        std::fs::write(&settings, example).unwrap();
        assert_eq!(ok(&["cat", l, "--data"]).lines().count(), 7);
    }
}

/// A preallocated segment larger than the free space is refused before a byte of it is
/// written, saying how large it is and how much is free: `create --segment-bytes 1TiB
/// --preallocate` wrote padding until the disk was full (6.2 GB in 20 s).
#[test]
fn a_preallocated_segment_that_cannot_fit_is_refused_before_it_is_written() {
    let dir = tempdir();
    let st = rustix::fs::statvfs(dir.path()).unwrap();
    let free = st.f_bavail * st.f_frsize;
    if free >= 1 << 40 {
        // A tebibyte is free here: the largest segment would fit, and be written.
        eprintln!("skipped: {free} bytes free, at least the largest segment");
        return;
    }
    let log = dir.path().join("big");
    let started = Instant::now();
    let out =
        run(&["create", "--segment-bytes", "1TiB", "--preallocate", log.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(
        stderr(&out).contains("a preallocated segment takes 1099511627776 bytes")
            && stderr(&out).contains("free"),
        "{}",
        stderr(&out)
    );
    let names: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp") && !n.contains(".ndjson")), "{names:?}");
}

/// A segment that is a symlink to a device is refused naming the segment, and where the link
/// led: the error named only `/dev/zero`, which left the user to find which file of the log
/// pointed there.
#[test]
fn a_segment_that_is_a_symlink_to_a_device_is_named_in_the_error() {
    let dir = tempdir();
    let log = dir.path().join("seg");
    let out = run(&["create", "--segment-bytes", "2MiB", log.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["append", log.to_str().unwrap()], b"{\"a\":1}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let link = log.join("00000000000000000005.ndjson");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    for command in ["verify", "cat", "segments", "tail"] {
        let out = run(&[command, log.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains(&format!("{}:", link.display()))
                && said.contains("(it is a symlink to /dev/zero)"),
            "{command}: {said}"
        );
    }
    // A single-file log that is such a symlink, to the writer and the compactor too.
    let single = dir.path().join("zero.ndjson");
    std::os::unix::fs::symlink("/dev/zero", &single).unwrap();
    for command in [&["append"][..], &["compact"], &["cat"]] {
        let out = run(&[command, &[single.to_str().unwrap()]].concat(), b"{\"a\":1}\n");
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains(&format!("{}:", single.display()))
                && said.contains("(it is a symlink to /dev/zero)"),
            "{command:?}: {said}"
        );
    }
}

/// A spare segment someone else left with another mode gives the segment it becomes the log's
/// mode, not its own (a world-writable spare made a world-writable active segment).
#[test]
fn a_spare_taken_at_a_roll_gets_the_logs_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let log = dir.path().join("seg");
    let out =
        run(&["create", "--segment-bytes", "2MiB", "--preallocate", log.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spare = log.join("ndlog.spare");
    std::fs::write(&spare, vec![b'\n'; 2 << 20]).unwrap();
    std::fs::set_permissions(&spare, std::fs::Permissions::from_mode(0o666)).unwrap();
    let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(900_000));
    let out = run(&["append", log.to_str().unwrap()], line.repeat(3).as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let modes: Vec<(String, u32)> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".ndjson"))
        .map(|e| {
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            (e.file_name().to_string_lossy().into_owned(), mode)
        })
        .collect();
    assert!(modes.len() >= 2, "no roll: {modes:?}");
    assert!(modes.iter().all(|(_, mode)| *mode == 0o600), "{modes:?}");
}
