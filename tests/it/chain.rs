//! Tamper-evident logs through the real binary: `create --chain`, `verify --chain` naming the
//! first failing seq, `diverge`, `provenance`, `checkpoint`, compaction anchors, and writer
//! processes appending to one chained log at once.

use crate::util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use util::{run, stderr, stdout, tempdir, write_log};

/// A chained log at `dir/name` with `n` records appended by `ndlog append`.
fn chained_log(dir: &Path, name: &str, n: u64) -> PathBuf {
    let path = dir.join(name);
    let log = path.to_str().unwrap();
    let out = run(&["create", log, "--chain"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let input: String = (1..=n).map(|i| format!("{{\"id\":\"e{}\",\"n\":{i}}}\n", i % 3)).collect();
    let out = run(&["append", log], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

fn verify_chain(path: &Path) -> std::process::Output {
    run(&["verify", path.to_str().unwrap(), "--chain"], b"")
}

/// The byte ranges of each line (without its newline).
fn lines(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out
}

/// Rewrites the CRC trailer of the line at `start..end` to match its bytes.
fn refit_crc(bytes: &mut [u8], start: usize, end: usize) {
    let crc_at = end - ndlog::format::TRAILER_LEN;
    let crc = ndlog::format::hex8(crc32fast::hash(&bytes[start..crc_at]));
    bytes[crc_at + 8..crc_at + 16].copy_from_slice(&crc);
}

#[test]
fn a_chained_log_verifies_and_stays_plain_ndjson() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 10);
    let out = verify_chain(&path);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("chain:          ok, 10 records"), "{}", stdout(&out));
    // Every line is one JSON object whose data is the payload alone.
    let text = std::fs::read_to_string(&path).unwrap();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["data"]["n"], i as u64 + 1);
        assert_eq!(v["chain"].as_str().unwrap().len(), 64);
    }
    let out = run(&["cat", path.to_str().unwrap(), "--data"], b"");
    assert!(stdout(&out).starts_with("{\"id\":\"e1\",\"n\":1}\n"), "{}", stdout(&out));
    // A plain log is no chained log.
    let plain = util::write_log(dir.path(), "plain.ndjson", 3);
    let out = verify_chain(&plain);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("seq 1 at byte 0"), "{}", stderr(&out));
    // create refuses an existing file.
    let out = run(&["create", path.to_str().unwrap(), "--chain"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn every_single_byte_edit_with_a_refitted_crc_is_named_at_its_seq() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 6);
    let original = std::fs::read(&path).unwrap();
    let chain_file = ndlog::chain::ChainFile::load(&ndlog::fs::StdFs, &path).unwrap();
    let ranges = lines(&original);
    let mut edits = 0;
    for (index, &(start, end)) in ranges.iter().enumerate() {
        let seq = index as u64 + 1;
        // Every byte the CRC covers: the prefix, seq, ts, payload and the link.
        for at in start..end - ndlog::format::TRAILER_LEN {
            let mut bytes = original.clone();
            bytes[at] = match bytes[at] {
                b'0' => b'1',
                b'\n' | b'\r' => unreachable!(),
                b => {
                    if b == b'~' {
                        b'}'
                    } else {
                        b + 1
                    }
                }
            };
            refit_crc(&mut bytes, start, end);
            let report = ndlog::Reader::new(&bytes[..]).verify_chain(chain_file.as_ref());
            let failure = report.failure.unwrap_or_else(|| panic!("edit at byte {at} not caught"));
            assert_eq!(failure.seq, seq, "edit at byte {at}: {failure}");
            edits += 1;
        }
    }
    assert!(edits > 600, "{edits}");
    // And through the binary, for one edit in a payload: exit 3, the seq, the file and offset.
    let (start, end) = ranges[3];
    let mut bytes = original.clone();
    let at = start + original[start..end].windows(5).position(|w| w == b"\"n\":4").unwrap() + 4;
    bytes[at] = b'9';
    refit_crc(&mut bytes, start, end);
    let checkpoint = dir.path().join("before.checkpoint");
    let cp = run(&["checkpoint", path.to_str().unwrap()], b"");
    assert!(cp.status.success(), "{}", stderr(&cp));
    std::fs::write(&checkpoint, &cp.stdout).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let plain = run(&["verify", path.to_str().unwrap()], b"");
    assert!(plain.status.success(), "the CRC alone cannot see it: {}", stdout(&plain));
    let out = verify_chain(&path);
    assert_eq!(out.status.code(), Some(3));
    let expected = format!("chain broken at seq 4 at byte {start}");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(stderr(&out).contains(path.to_str().unwrap()), "{}", stderr(&out));
    // The report's verdict and `ok` say so too: every line is whole, and the log is not ok.
    let first_line = stdout(&out).lines().next().unwrap_or_default().to_string();
    assert!(first_line.ends_with(": CHAIN BROKEN"), "{first_line}");
    let json = run(&["verify", path.to_str().unwrap(), "--chain", "--json"], b"");
    assert_eq!(json.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!((v["ok"].as_bool(), v["corrupt_lines"].as_u64()), (Some(false), Some(0)), "{v}");
    // A checkpoint of the last record still matches its stored link, which vouches for nothing
    // once the chain before it is broken: said so, not "the log extends it".
    let cp = checkpoint.to_str().unwrap();
    let out = run(&["verify", path.to_str().unwrap(), "--chain", "--checkpoint", cp], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("the log does not vouch for it"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("the log extends it"), "{}", stdout(&out));
    let args = [path.to_str().unwrap(), "--chain", "--checkpoint", cp, "--json"];
    let json = run(&[&["verify"][..], &args].concat(), b"");
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["chain"]["checkpoint"]["ok"].as_bool(), Some(false), "{v}");
}

#[test]
fn deleting_swapping_and_rewriting_records_are_named_at_the_first_affected_seq() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 8);
    let original = std::fs::read(&path).unwrap();
    let ranges = lines(&original);
    let line = |i: usize| &original[ranges[i].0..=ranges[i].1];
    let join = |order: &[usize]| order.iter().flat_map(|&i| line(i).to_vec()).collect::<Vec<u8>>();
    let cases: [(&str, Vec<u8>, u64); 3] = [
        ("delete seq 5", join(&[0, 1, 2, 3, 5, 6, 7]), 5),
        ("swap seqs 3 and 4", join(&[0, 1, 3, 2, 4, 5, 6, 7]), 3),
        ("delete the first record", join(&[1, 2, 3, 4, 5, 6, 7]), 1),
    ];
    for (what, bytes, seq) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let out = verify_chain(&path);
        assert_eq!(out.status.code(), Some(3), "{what}");
        assert!(
            stderr(&out).contains(&format!("at seq {seq} at byte")),
            "{what}: {}",
            stderr(&out)
        );
    }
    // Truncated and re-appended by a writer: the chain itself is consistent again, but a
    // checkpoint taken before proves the history was rewritten.
    std::fs::write(&path, &original).unwrap();
    let checkpoint = dir.path().join("checkpoint");
    let out = run(&["checkpoint", path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(&checkpoint, &out.stdout).unwrap();
    std::fs::write(&path, &original[..ranges[4].1 + 1]).unwrap();
    std::fs::remove_file(dir.path().join("log.ndjson.idx")).unwrap();
    let out =
        run(&["append", path.to_str().unwrap()], b"{\"other\":6}\n{\"other\":7}\n{\"other\":8}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let cp = checkpoint.to_str().unwrap();
    let out = run(&["verify", path.to_str().unwrap(), "--chain", "--checkpoint", cp], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stderr(&out).contains("seq 8 has chain value"), "{}", stderr(&out));
}

/// `checkpoint` certifies the last valid record. What follows it is said: an append a crash cut
/// short (never acknowledged) is left out with a note; a damaged line that held an acknowledged
/// record (the durable watermark reaches past it, or a sealed segment holds it) is refused,
/// exit 3, since the checkpoint would silently leave that record out.
#[test]
fn a_checkpoint_says_what_follows_its_record_and_refuses_a_damaged_last_line() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 3);
    let log = path.to_str().unwrap();
    let whole = std::fs::read(&path).unwrap();
    let checkpoint = || run(&["checkpoint", log], b"");
    let clean = checkpoint();
    assert!(clean.status.success() && stderr(&clean).is_empty(), "{}", stderr(&clean));
    assert_eq!(stdout(&clean).lines().nth(1), Some("3"));
    // A torn tail (an append a crash cut short, never acknowledged): the checkpoint is of
    // seq 3, and stderr says what it left out, and where.
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"seq":4,"ts":17"#);
    std::fs::write(&path, &torn).unwrap();
    let out = checkpoint();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&clean), "the same checkpoint");
    let err = stderr(&out);
    let said = err.contains("cut short") && err.contains(&whole.len().to_string());
    assert!(err.contains(log) && said, "{err}");
    // The last line damaged (a flipped byte): a checkpoint of seq 2 would silently leave an
    // acknowledged record out of what it certifies. Refused, naming the line; nothing printed.
    let mut damaged = whole.clone();
    let (start, _) = lines(&whole)[2];
    damaged[start + 12] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    let out = checkpoint();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(log) && err.contains(&start.to_string()) && err.contains("verify"),
        "{err}"
    );
    // The last line cut short in place (the file truncated after the sync that covered it,
    // which the durable watermark says): refused too, not taken for an append a crash cut
    // short. (Hostile-sweep finding.)
    std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
    let out = checkpoint();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("cut-short line") && err.contains(&start.to_string()), "{err}");
    // The newlines after a preallocated segment's last record are padding, not a tail; an
    // append cut short over them (a damaged line, to a reader) was never acknowledged.
    let seg = dir.path().join("seg");
    let seg = seg.to_str().unwrap();
    let out = run(&["create", seg, "--chain", "--segment-bytes", "4MiB", "--preallocate"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run(&["append", seg], b"{}\n{}\n").status.success());
    let out = run(&["checkpoint", seg], b"");
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().nth(1), Some("2"));
    let active = std::fs::read_dir(seg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".preallocated"))
        .unwrap();
    let mut bytes = std::fs::read(&active).unwrap();
    let end = lines(&bytes)[1].1 + 1;
    bytes[end..end + 20].copy_from_slice(br#"{"seq":3,"ts":17636,"#);
    std::fs::write(&active, &bytes).unwrap();
    let out = run(&["checkpoint", seg], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cut short"), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().nth(1), Some("2"));
    // A damaged last line in a sealed segment, before an active segment that holds no record
    // yet (a roll, then a crash): refused, though the file it is in is not the last one.
    let rolled = dir.path().join("rolled");
    let rolled = rolled.to_str().unwrap();
    let out = run(
        &["create", rolled, "--chain", "--segment-bytes", "2MiB", "--segment-records", "3"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run(&["append", rolled], b"{}\n{}\n{}\n{}\n").status.success());
    let sealed = std::path::Path::new(rolled).join("00000000000000000001.ndjson");
    let active = std::path::Path::new(rolled).join("00000000000000000004.ndjson.active");
    std::fs::remove_file(&active).unwrap();
    std::fs::write(&active, b"").unwrap();
    let mut bytes = std::fs::read(&sealed).unwrap();
    let (last, _) = lines(&bytes)[2];
    bytes[last + 12] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    let out = run(&["checkpoint", rolled], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(&last.to_string()), "{}", stderr(&out));
}

/// `--checkpoint` takes a small regular file: a FIFO is refused without waiting for a writer,
/// a huge file without reading it whole, each naming the file.
#[test]
fn a_checkpoint_that_is_not_a_small_file_is_refused_at_once() {
    let dir = tempdir();
    let log = chained_log(dir.path(), "log.ndjson", 10);
    let fifo = dir.path().join("pipe");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    for (cp, says) in [(&fifo, "not a regular file"), (&huge, "longer than a checkpoint can be")] {
        let mut child = util::ndlog()
            .args(["verify", log.to_str().unwrap(), "--chain", "--checkpoint"])
            .arg(cp)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("verify --checkpoint {} did not return", cp.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&cp.display().to_string()) && err.contains(says), "{err}");
    }
}

/// Asking a log made without `--chain` for its chain: `verify --chain` and `provenance` fail
/// at its first record (exit 3: a chained log stripped of its links looks the same) and say
/// that it is most likely not a chained log; `checkpoint` and `diverge` refuse it (exit 1). A
/// chained log whose chain file is gone still carries its links and is checked without the
/// note. `diverge - -` is refused: standard input holds one copy.
#[test]
fn chain_commands_on_a_log_that_is_not_chained_say_so() {
    let dir = tempdir();
    let plain = write_log(dir.path(), "plain.ndjson", 5);
    let p = plain.to_str().unwrap();
    let stdin = std::fs::read(&plain).unwrap();
    let cases: [(&[&str], &[u8], i32); 5] = [
        (&["verify", p, "--chain"], b"", 3),
        (&["verify", "-", "--chain"], &stdin, 3),
        (&["provenance", p, "--key", "/n", "--entity", "1"], b"", 3),
        (&["checkpoint", p], b"", 1),
        (&["diverge", p, p], b"", 1),
    ];
    for (args, input, code) in cases {
        let out = run(args, input);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains("not a chained log"), "{args:?}: {err}");
    }
    let chained = chained_log(dir.path(), "chained.ndjson", 5);
    std::fs::remove_file(dir.path().join("chained.ndjson.chain")).unwrap();
    let out = run(&["verify", chained.to_str().unwrap(), "--chain"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not a chained log"), "{}", stderr(&out));

    let out = run(&["diverge", "-", "-"], &stdin);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("standard input"), "{}", stderr(&out));
}

#[test]
fn diverge_finds_the_fork_point_of_two_copies() {
    let dir = tempdir();
    let a = chained_log(dir.path(), "a.ndjson", 200);
    let b = dir.path().join("b.ndjson");
    std::fs::copy(&a, &b).unwrap();
    std::fs::copy(dir.path().join("a.ndjson.chain"), dir.path().join("b.ndjson.chain")).unwrap();
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    // A prefix: b is a's backup, a went on.
    assert!(run(&["append", sa], b"{\"x\":1}\n").status.success());
    let out = run(&["diverge", sa, sb], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("last common seq 200\n"), "{}", stdout(&out));
    // A fork: b appends something else at seq 201.
    assert!(run(&["append", sb], b"{\"x\":2}\n").status.success());
    let out = run(&["diverge", sa, sb], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("last common seq 200\n"), "{}", stdout(&out));
    // A fork deep inside: an edited record (CRC refitted, chain recomputed after it by a forger
    // who rewrote the rest) is found by binary search, with few lookups.
    let ra = ndlog::Reader::open(&a).unwrap();
    let mut forged = Vec::new();
    let mut prev = ndlog::format::chain::ChainValue::GENESIS;
    for r in ra.records() {
        let data = if r.seq == 77 { &b"{\"forged\":true}"[..] } else { r.data };
        prev = ndlog::format::chain::encode(&mut forged, r.seq, r.ts, data, &prev);
    }
    std::fs::write(&b, &forged).unwrap();
    std::fs::remove_file(dir.path().join("b.ndjson.idx")).ok();
    let out = run(&["verify", sb, "--chain"], b"");
    assert!(out.status.success(), "the forgery is consistent in itself: {}", stderr(&out));
    let out = run(&["diverge", sa, sb], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("last common seq 76\n"), "{}", stdout(&out));
    let rb = ndlog::Reader::open(&b).unwrap();
    let d = ndlog::chain::diverge(&ra, &rb).unwrap();
    assert!(d.probes <= 12, "{} probes", d.probes);
}

#[test]
fn verify_chain_and_an_old_checkpoint_hold_after_retention_and_key_compaction() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 30);
    let log = path.to_str().unwrap();
    let checkpoint = dir.path().join("cp");
    std::fs::write(&checkpoint, run(&["checkpoint", log], b"").stdout).unwrap();
    let cp = checkpoint.to_str().unwrap();
    let out = run(&["compact", log, "--keep-last", "10"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["verify", log, "--chain", "--checkpoint", cp], b"");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("seq 21..=30"), "{}", stdout(&out));
    // Appends go on after the anchor; then a key compaction leaves gaps, each anchored.
    assert!(run(&["append", log], b"{\"id\":\"e0\"}\n{\"id\":\"e1\"}\n").status.success());
    let out = run(&["compact", log, "--key", "/id"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["verify", log, "--chain"], b"");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // Without its anchors the compacted log cannot show where it starts.
    std::fs::remove_file(dir.path().join("log.ndjson.chain")).unwrap();
    let out = run(&["verify", log, "--chain"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
}

/// Key compactions one after another, of a single-file and of a segmented chained log: a
/// record removed later than its successor's predecessor must not replace the anchor the
/// earlier compaction left (the chain value before a kept record is its predecessor's, not
/// that of the last record removed before it).
#[test]
fn verify_chain_holds_after_compactions_one_after_another() {
    let dir = tempdir();
    for segmented in [false, true] {
        let path = dir.path().join(if segmented { "seg" } else { "twice.ndjson" });
        let log = path.to_str().unwrap();
        let create: &[&str] = match segmented {
            true => {
                &["create", log, "--chain", "--segment-bytes", "2MiB", "--segment-records", "5"]
            }
            false => &["create", log, "--chain"],
        };
        assert!(run(create, b"").status.success());
        let append = |input: &[u8]| {
            let out = run(&["append", log], input);
            assert!(out.status.success(), "{}", stderr(&out));
        };
        let compact = |args: &[&str]| {
            let mut all = vec!["compact", log];
            all.extend(args);
            let out = run(&all, b"");
            assert!(out.status.success(), "{}", stderr(&out));
            let out = verify_chain(&path);
            assert!(
                out.status.success(),
                "segmented {segmented}, after {args:?}: {}{}",
                stdout(&out),
                stderr(&out)
            );
        };
        append(b"{\"id\":\"x\"}\n{\"id\":\"y\"}\n{\"id\":\"z\"}\n{\"id\":\"y\"}\n");
        compact(&["--key", "/id"]); // removes seq 2: seq 3's anchor is seq 2's chain value
        append(b"{\"id\":\"x\"}\n");
        compact(&["--key", "/id"]); // removes seq 1, not seq 3's predecessor
        let more: String = (0..12).map(|i| format!("{{\"id\":\"k{}\"}}\n", i % 4)).collect();
        append(more.as_bytes());
        compact(&["--key", "/id"]);
        compact(&["--keep-last", "6"]);
    }
}

/// Compactions that drop long runs of records. A compaction's write pass jumps over runs of
/// lines it drops whole, but not on a chained log, where the link of the last removed record
/// before a kept one is that record's anchor: here the first kept record (seq 193, the 193rd
/// line) directly follows 64 lines dropped whole.
#[test]
fn verify_chain_holds_after_a_compaction_drops_long_runs() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "long.ndjson", 300);
    let log = path.to_str().unwrap();
    let out = run(&["compact", log, "--keep-last", "108"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = verify_chain(&path);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("seq 193..=300"), "{}", stdout(&out));
}

#[test]
fn provenance_lists_versions_with_their_links() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 9);
    let log = path.to_str().unwrap();
    let out = run(&["provenance", log, "--key", "/id", "--entity", "e1"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows[..3].iter().all(|r| r.starts_with("ok\t")), "{text}");
    assert_eq!(rows[3], "chain ok through seq 7");
    // Edit seq 4 (e1's second version) with a refitted CRC.
    let mut bytes = std::fs::read(&path).unwrap();
    let (start, end) = lines(&bytes)[3];
    let at = start + bytes[start..end].windows(5).position(|w| w == b"\"n\":4").unwrap() + 4;
    bytes[at] = b'8';
    refit_crc(&mut bytes, start, end);
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["provenance", log, "--key", "/id", "--entity", "e1"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("ok\t") && rows[1].starts_with("BROKEN\t"), "{text}");
    assert!(rows[2].starts_with("ok\t"), "{text}");
    assert!(rows[3].starts_with(&format!("chain BROKEN at seq 4 at byte {start}")), "{text}");
    let out = run(&["provenance", log, "--key", "/id", "--entity", "nobody"], b"");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn writer_processes_appending_at_once_keep_the_chain_intact() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 1);
    let log = path.to_str().unwrap();
    let children: Vec<_> = (0..4)
        .map(|w| {
            let input: String = (0..150).map(|i| format!("{{\"w\":{w},\"i\":{i}}}\n")).collect();
            let mut child = Command::new(env!("CARGO_BIN_EXE_ndlog"))
                .args(["append", log, "--durability", "never"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(input.as_bytes()).unwrap();
            });
            child
        })
        .collect();
    // One more writer killed mid-stream.
    let mut killed = Command::new(env!("CARGO_BIN_EXE_ndlog"))
        .args(["append", log])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = killed.stdin.as_mut().unwrap();
        for i in 0..20 {
            let _ = writeln!(stdin, "{{\"k\":{i}}}");
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    killed.kill().unwrap();
    killed.wait().unwrap();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let out = verify_chain(&path);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let records = ndlog::Reader::open(&path).unwrap().records().count();
    assert!(records >= 601, "{records}");
}

/// A chained log whose oldest records retention removed, without its chain file: the check
/// fails at its first record (nothing else says what preceded it), and says the file is missing
/// rather than leaving the user to guess from "no anchor".
#[test]
fn a_chain_file_removed_from_a_log_retention_trimmed_is_named_as_missing() {
    let dir = tempdir();
    let path = chained_log(dir.path(), "log.ndjson", 8);
    let out = run(&["compact", path.to_str().unwrap(), "--keep-last", "3"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(verify_chain(&path).status.success());
    let chain_file = dir.path().join("log.ndjson.chain");
    std::fs::remove_file(&chain_file).unwrap();
    let out = verify_chain(&path);
    assert_eq!(out.status.code(), Some(3));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("no {}", chain_file.display()))
            && said.contains("first record (seq 6)")
            && said.contains("restore it from a backup"),
        "{said}"
    );
}
