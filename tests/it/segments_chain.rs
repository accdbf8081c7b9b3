//! Chained segmented logs through the real binary: `create --chain --segment-bytes`, one chain
//! through every segment, `verify --chain` naming the seq, the segment file and the byte offset
//! of an edit (sealed or active segment), a segment replaced wholesale or deleted from the
//! middle, retention and key compaction leaving anchors that keep the chain and old checkpoints
//! verifiable, `diverge` across segments, `provenance`, and writer processes killed at random
//! while they append across rolls.

use crate::util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::JoinHandle;

use ndlog::format::chain::{self, ChainValue};
use serde_json::Value;
use util::segmented::{create, segment_files};
use util::{ndlog, run, stderr, stdout, tempdir};

/// A chained segmented log `dir/name` of five records a segment (plus `args`), holding `n`
/// records `{"id":"e<n % 3>","n":<n>}` appended by `ndlog append`.
fn chained_log(dir: &Path, name: &str, n: u64, args: &[&str]) -> PathBuf {
    let mut all = vec!["--chain", "--segment-records", "5"];
    all.extend(args);
    let log = create(dir, name, &all);
    append(&log, 1..=n);
    log
}

fn append(log: &Path, range: std::ops::RangeInclusive<u64>) {
    let input: String = range.map(|i| format!("{{\"id\":\"e{}\",\"n\":{i}}}\n", i % 3)).collect();
    let out = run(&["append", log.to_str().unwrap()], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
}

fn verify_chain(log: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["verify", log.to_str().unwrap(), "--chain"];
    args.extend(extra);
    run(&args, b"")
}

/// Asserts that `verify --chain` passes.
fn chain_ok(log: &Path, extra: &[&str]) -> String {
    let out = verify_chain(log, extra);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// Asserts that `verify --chain` exits 3 with `expected` in its diagnostic; returns stderr.
fn chain_broken(log: &Path, extra: &[&str], expected: &str) -> String {
    let out = verify_chain(log, extra);
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(expected), "expected {expected:?} in: {}", stderr(&out));
    stderr(&out)
}

/// The segment file holding `seq`, and the byte range of its line (without the newline).
fn locate(log: &Path, seq: u64) -> (PathBuf, usize, usize) {
    for segment in segment_files(log) {
        if let Some(line) = segment.lines.iter().find(|l| l.seq == seq) {
            let bytes = std::fs::read(&segment.path).unwrap();
            let end = line.offset + bytes[line.offset..].iter().position(|&b| b == b'\n').unwrap();
            return (segment.path, line.offset, end);
        }
    }
    panic!("seq {seq} not in {}", log.display());
}

/// Changes one payload byte of the record `seq` and refits its CRC; returns the segment file
/// and the line's offset.
fn edit(log: &Path, seq: u64) -> (PathBuf, usize) {
    let (path, start, end) = locate(log, seq);
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = format!("\"n\":{seq}");
    let found = bytes[start..end].windows(needle.len()).position(|w| w == needle.as_bytes());
    let at = start + found.unwrap() + 4;
    bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
    let crc_at = end - ndlog::format::TRAILER_LEN;
    let crc = ndlog::format::hex8(crc32fast::hash(&bytes[start..crc_at]));
    bytes[crc_at + 8..crc_at + 16].copy_from_slice(&crc);
    std::fs::write(&path, &bytes).unwrap();
    (path, start)
}

/// The sealed segment starting at `first_seq`.
fn sealed(log: &Path, first_seq: u64) -> PathBuf {
    log.join(format!("{first_seq:020}.ndjson"))
}

/// Rewrites the segment file `path` with its records' seqs and ts but `forge`d payloads,
/// chained from `prev`: a forgery consistent in itself. Returns the chain value of its last
/// record.
fn forge(path: &Path, prev: ChainValue, forge: impl Fn(u64, &[u8]) -> Vec<u8>) -> ChainValue {
    let reader = ndlog::Reader::open(path).unwrap();
    let mut out = Vec::new();
    let mut value = prev;
    for r in reader.records() {
        value = chain::encode(&mut out, r.seq, r.ts, &forge(r.seq, r.data), &value);
    }
    drop(reader);
    std::fs::write(path, &out).unwrap();
    let _ = std::fs::remove_file(path.with_file_name(format!(
        "{}.idx",
        path.file_name().unwrap().to_str().unwrap().split('.').next().unwrap()
    )));
    value
}

/// The chain value the record `seq` of the log carries.
fn value_of(log: &Path, seq: u64) -> ChainValue {
    let log = ndlog::segments::SegmentedReader::open(log).unwrap();
    chain::link_of(log.get(seq).unwrap().line).unwrap()
}

#[test]
fn a_chained_segmented_log_verifies_across_rolls_and_stays_plain_ndjson() {
    let dir = tempdir();
    let log = chained_log(dir.path(), "log", 23, &[]);
    let text = chain_ok(&log, &[]);
    assert!(text.contains("chain:          ok, 23 records (seq 1..=23)"), "{text}");
    assert!(log.join("ndlog.chain").is_file());
    // The settings are those of any segmented log: older ndlog versions read the directory.
    let settings: Value =
        serde_json::from_slice(&std::fs::read(log.join("ndlog.json")).unwrap()).unwrap();
    assert!(settings.get("chain").is_none(), "{settings}");
    // Every segment's lines are JSON objects with the payload under data and a link; each
    // segment's first record links to the previous segment's last.
    let segments = segment_files(&log);
    assert_eq!(segments.len(), 5);
    let mut prev = ChainValue::GENESIS;
    for segment in &segments {
        for line in std::fs::read_to_string(&segment.path).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["data"]["n"], v["seq"]);
            prev = chain::check(&prev, line.as_bytes()).unwrap();
        }
    }
    // A writer opened without Options::chain chains too: the log says it is chained.
    let w = ndlog::Options::new().open(&log).unwrap();
    w.append(&serde_json::json!({"id": "lib", "n": 24})).unwrap();
    drop(w);
    assert!(chain_ok(&log, &[]).contains("24 records"));
    // create refuses what exists; Options::chain refuses a segmented log of unchained records.
    let out = run(&["create", log.to_str().unwrap(), "--chain", "--segment-bytes", "2MiB"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plain = create(dir.path(), "plain", &["--segment-records", "5"]);
    append(&plain, 1..=3);
    let err = ndlog::Options::new().chain(true).open(&plain).unwrap_err().to_string();
    assert!(err.contains("not a chained log"), "{err}");
    let out = verify_chain(&plain, &[]);
    assert_eq!(out.status.code(), Some(3), "an unchained log does not verify as chained");
}

#[test]
fn an_edit_with_a_refitted_crc_is_named_with_its_segment_file_and_offset() {
    let dir = tempdir();
    for (seq, active) in [(7, false), (22, true)] {
        let log = chained_log(dir.path(), &format!("log{seq}"), 23, &[]);
        let (path, offset) = edit(&log, seq);
        assert_eq!(path.to_str().unwrap().ends_with(".active"), active, "{}", path.display());
        let plain = run(&["verify", log.to_str().unwrap()], b"");
        assert!(plain.status.success(), "the CRC alone cannot see it: {}", stdout(&plain));
        let expected = format!("chain broken at seq {seq} at byte {offset} of {}", path.display());
        chain_broken(&log, &[], &expected);
        let out = run(&["verify", log.to_str().unwrap(), "--chain", "--json"], b"");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["chain"]["failure"]["seq"], seq);
        assert_eq!(v["chain"]["failure"]["file"], path.display().to_string());
    }
}

#[test]
fn a_sealed_segment_replaced_wholesale_or_deleted_from_the_middle_is_reported() {
    let dir = tempdir();
    let log = chained_log(dir.path(), "log", 23, &[]);
    let checkpoint = dir.path().join("cp");
    std::fs::write(&checkpoint, run(&["checkpoint", log.to_str().unwrap()], b"").stdout).unwrap();
    let copy = |name: &str| {
        let to = dir.path().join(name);
        let status = std::process::Command::new("cp").arg("-r").arg(&log).arg(&to).status();
        assert!(status.unwrap().success());
        to
    };
    let forged = |seq: u64, data: &[u8]| match seq {
        8 => br#"{"id":"forged","n":8}"#.to_vec(),
        _ => data.to_vec(),
    };
    // Replaced by a segment chained from nothing: its first record fails.
    let replaced = copy("replaced");
    forge(&sealed(&replaced, 6), ChainValue::GENESIS, forged);
    let expected = format!("seq 6 at byte 0 of {}", sealed(&replaced, 6).display());
    chain_broken(&replaced, &[], &expected);
    // Replaced by a forger who knew the value before it: the next segment's first record fails.
    let relinked = copy("relinked");
    forge(&sealed(&relinked, 6), value_of(&relinked, 5), forged);
    let expected = format!("seq 11 at byte 0 of {}", sealed(&relinked, 11).display());
    chain_broken(&relinked, &[], &expected);
    // And one who rewrote every segment after it: consistent in itself, caught by the
    // checkpoint taken before.
    let rewritten = copy("rewritten");
    let mut prev = value_of(&rewritten, 5);
    for segment in segment_files(&rewritten).iter().filter(|s| s.first_seq >= 6) {
        prev = forge(&segment.path, prev, forged);
    }
    chain_ok(&rewritten, &[]);
    let cp = checkpoint.to_str().unwrap();
    chain_broken(&rewritten, &["--checkpoint", cp], "seq 23 has chain value");
    chain_ok(&log, &["--checkpoint", cp]);
    // A segment deleted from the middle: the gap is named at its first missing seq, in the
    // file where the chain resumes.
    let holed = copy("holed");
    std::fs::remove_file(sealed(&holed, 11)).unwrap();
    let expected = format!("seq 11 at byte 0 of {}: records missing", sealed(&holed, 16).display());
    chain_broken(&holed, &[], &expected);
}

#[test]
fn retention_and_key_compaction_keep_the_chain_and_old_checkpoints_verifiable() {
    let dir = tempdir();
    let log = chained_log(dir.path(), "log", 10, &[]);
    let s = log.to_str().unwrap();
    let checkpoint = |name: &str| {
        let path = dir.path().join(name);
        let out = run(&["checkpoint", s], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(&path, &out.stdout).unwrap();
        path.to_str().unwrap().to_string()
    };
    // Taken when seq 10 ended the log, at the end of a segment; then one mid-segment.
    let at_10 = checkpoint("cp10");
    append(&log, 11..=13);
    let at_13 = checkpoint("cp13");
    append(&log, 14..=40);
    let at_40 = checkpoint("cp40");
    let out = run(&["compact", s, "--keep-last", "12"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sealed(&log, 11).exists() && sealed(&log, 26).exists(), "whole segments went");
    let text = chain_ok(&log, &["--checkpoint", &at_40]);
    assert!(text.contains("(seq 26..=40)"), "{text}");
    // Seq 10 ended a removed segment: the anchor retention left for seq 11 proves it.
    chain_ok(&log, &["--checkpoint", &at_10]);
    // Seq 13 lay inside a removed segment: the records that would prove it are gone.
    chain_broken(&log, &["--checkpoint", &at_13], "a compaction removed it");
    // Retention by size, after more appends.
    append(&log, 41..=60);
    let out = run(&["compact", s, "--max-bytes", "1200"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sealed(&log, 26).exists());
    chain_ok(&log, &["--checkpoint", &at_40]);
    // A key compaction rewrites sealed segments, each kept record after a dropped one anchored.
    let out = run(&["compact", s, "--key", "/id"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let records = ndlog::segments::SegmentedReader::open(&log).unwrap().records().count();
    assert!(records < 20, "{records} records: the key compaction dropped superseded ones");
    chain_ok(&log, &["--checkpoint", &at_40]);
    // Appends go on; a writer that follows finds the chain.
    append(&log, 61..=67);
    chain_ok(&log, &[]);
    // Without the anchors the log cannot show where it starts or what its gaps held.
    std::fs::remove_file(log.join("ndlog.chain")).unwrap();
    chain_broken(&log, &[], "no anchor");
}

#[test]
fn diverge_binary_searches_across_segments() {
    let dir = tempdir();
    let a = create(dir.path(), "a", &["--chain", "--segment-records", "10"]);
    append(&a, 1..=200);
    let b = dir.path().join("b");
    assert!(std::process::Command::new("cp").arg("-r").arg(&a).arg(&b).status().unwrap().success());
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    append(&a, 201..=201);
    let out = run(&["diverge", sa, sb], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("last common seq 200\n"), "{}", stdout(&out));
    // The whole log as one file (the segments concatenated) is a chained single-file copy.
    let file = dir.path().join("a.ndjson");
    let mut whole = Vec::new();
    for segment in segment_files(&a) {
        whole.extend(std::fs::read(&segment.path).unwrap());
    }
    std::fs::write(&file, &whole).unwrap();
    let out = run(&["diverge", file.to_str().unwrap(), sa], b"");
    assert!(stdout(&out).starts_with("last common seq 201\n"), "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(0));
    // A fork deep inside b, every segment from it on rewritten consistently.
    let mut prev = value_of(&b, 70);
    for segment in segment_files(&b).iter().filter(|s| s.first_seq >= 71) {
        prev = forge(&segment.path, prev, |seq, data| match seq {
            77 => br#"{"forged":true}"#.to_vec(),
            _ => data.to_vec(),
        });
    }
    chain_ok(&b, &[]);
    let out = run(&["diverge", sa, sb], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("last common seq 76\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("FORKED"), "{}", stdout(&out));
    // Found by lookups through the segment names and indexes, not by reading the logs.
    let (ra, rb) = (ndlog::Log::open(&a).unwrap(), ndlog::Log::open(&b).unwrap());
    let d = ndlog::chain::diverge(&ra, &rb).unwrap();
    assert_eq!((d.last_common, d.forked), (Some(76), true));
    assert!(d.probes <= 12, "{} probes", d.probes);
}

#[test]
fn provenance_lists_versions_from_every_segment_with_their_links() {
    let dir = tempdir();
    let log = chained_log(dir.path(), "log", 17, &[]);
    let s = log.to_str().unwrap();
    let out = run(&["provenance", s, "--key", "/id", "--entity", "e1"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 7, "{text}");
    assert!(rows[..6].iter().all(|r| r.starts_with("ok\t")), "{text}");
    assert_eq!(rows[6], "chain ok through seq 16");
    // An edit of seq 4 (e1's second version), in the first segment.
    let (path, offset) = edit(&log, 4);
    let out = run(&["provenance", s, "--key", "/id", "--entity", "e1"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("ok\t") && rows[1].starts_with("BROKEN\t"), "{text}");
    assert!(rows[2..6].iter().all(|r| r.starts_with("ok\t")), "{text}");
    let expected = format!("chain BROKEN at seq 4 at byte {offset} of {}", path.display());
    assert!(rows[6].starts_with(&expected), "{text}");
}

/// A writer process: `ndlog append --durability always` fed lines `{"r":round,"w":w,"i":i}`
/// until it is killed; each seq it printed was acknowledged.
struct Writer {
    child: Child,
    round: u64,
    w: u64,
    acks: JoinHandle<Vec<u64>>,
}

impl Writer {
    fn spawn(log: &Path, round: u64, w: u64) -> Self {
        let mut child = ndlog()
            .args(["append", log.to_str().unwrap(), "--durability", "always"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            for i in 0..1_000_000u64 {
                if writeln!(stdin, r#"{{"r":{round},"w":{w},"i":{i}}}"#).is_err() {
                    break;
                }
            }
        });
        let out = BufReader::new(child.stdout.take().unwrap());
        let acks = std::thread::spawn(move || {
            out.lines().map_while(Result::ok).map(|l| l.parse().unwrap()).collect()
        });
        Writer { child, round, w, acks }
    }

    /// SIGKILLs it; returns each acknowledged seq with its payload.
    fn kill(mut self) -> Vec<(u64, Value)> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let acks = self.acks.join().unwrap();
        let (round, w) = (self.round, self.w);
        let payload = move |i| serde_json::json!({"r": round, "w": w, "i": i});
        acks.into_iter().enumerate().map(|(i, seq)| (seq, payload(i))).collect()
    }
}

/// Three writer processes at a time append to one chained segmented log of 20-record segments
/// and are SIGKILLed at random moments, round after round, with retention between some
/// rounds; then the chain verifies through every segment and every acknowledged record the
/// policy keeps is there.
fn killed_writers(args: &[&str]) {
    let dir = tempdir();
    let mut all = vec!["--chain", "--segment-records", "20"];
    all.extend(args);
    let log = create(dir.path(), "log", &all);
    let mut acked: BTreeMap<u64, Value> = BTreeMap::new();
    let mut rng = 0x5eed_u64;
    let mut below = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut kills = 0;
    for round in 0..6 {
        let writers: Vec<Writer> = (0..3).map(|w| Writer::spawn(&log, round, w)).collect();
        std::thread::sleep(std::time::Duration::from_millis(60 + below(120)));
        for writer in writers {
            std::thread::sleep(std::time::Duration::from_millis(below(15)));
            for (seq, payload) in writer.kill() {
                assert!(acked.insert(seq, payload).is_none(), "seq {seq} acknowledged twice");
            }
            kills += 1;
        }
        if round % 2 == 1 {
            let out = run(&["compact", log.to_str().unwrap(), "--keep-last", "100"], b"");
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let text = chain_ok(&log, &[]);
    let reader = ndlog::segments::SegmentedReader::open(&log).unwrap();
    let first = reader.first().unwrap().seq;
    let mut checked = 0;
    for (&seq, payload) in acked.range(first..) {
        let record = reader.get(seq).unwrap_or_else(|| panic!("acknowledged seq {seq} lost"));
        assert_eq!(&serde_json::from_slice::<Value>(record.data).unwrap(), payload);
        checked += 1;
    }
    assert!(reader.parts().len() > 3, "{} segments", reader.parts().len());
    let last = reader.last().unwrap().seq;
    assert!(last - first + 1 >= 100, "retention kept {first}..={last}: fewer than it was asked to");
    // Not vacuous: records the policy keeps were acknowledged (how many depends on the disk;
    // a killed writer's last records may be in the log without their acknowledgement).
    assert!(checked >= 40, "{checked} acknowledged records checked");
    let _ = writeln!(
        std::io::stderr(),
        "chained segmented log{args:?}: {kills} writer SIGKILLs, {} acknowledged, {checked} kept and \
         checked, {} segments; {}",
        acked.len(),
        reader.parts().len(),
        text.lines().find(|l| l.contains("chain:")).unwrap_or("").trim()
    );
}

#[test]
fn writer_processes_killed_at_random_keep_a_segmented_chain_intact() {
    killed_writers(&[]);
}

#[test]
fn writer_processes_killed_at_random_keep_a_preallocated_chain_intact() {
    killed_writers(&["--preallocate", "--segment-bytes", "1100KiB"]);
}
