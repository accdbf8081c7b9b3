//! Damage in the middle of a log: flipped bytes and runs of NUL bytes. Exactly the damaged
//! lines are skipped and reported (with their byte offsets); every other record reads back.

use crate::util;

use std::ops::Range;

use ndlog::Reader;
use util::*;

/// A log of 40 records of varied length, and the byte span of each line (newline included).
fn log() -> (Vec<u8>, Vec<Range<usize>>) {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).open(&path).unwrap();
    for i in 0..40u64 {
        let pad = "abc".repeat((i as usize * 7) % 40);
        writer.append(&serde_json::json!({"i": i, "pad": pad})).unwrap();
    }
    drop(writer);
    let bytes = std::fs::read(&path).unwrap();
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            spans.push(start..i + 1);
            start = i + 1;
        }
    }
    (bytes, spans)
}

/// Seqs (1-based line numbers) of the lines that `damage` does not touch.
fn untouched(spans: &[Range<usize>], damage: &Range<usize>) -> Vec<u64> {
    (1..=spans.len() as u64)
        .filter(|&seq| {
            let s = &spans[seq as usize - 1];
            s.end <= damage.start || s.start >= damage.end
        })
        .collect()
}

#[test]
fn a_flipped_byte_costs_exactly_its_line() {
    let (bytes, spans) = log();
    for (line, span) in spans.iter().enumerate() {
        // Every byte of some lines, a few bytes of the others.
        let positions: Vec<usize> = if line % 13 == 0 {
            span.clone().collect()
        } else {
            vec![span.start, span.start + 9, span.end - 3]
        };
        for pos in positions {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 0x01;
            let got = seqs(&damaged);
            let summary = Reader::new(&damaged[..]).verify();
            // A flipped newline merges the line with the next; resynchronisation recovers the
            // intact next record, so the cost is still exactly one line.
            let want: Vec<u64> = (1..=40).filter(|&s| s != line as u64 + 1).collect();
            assert_eq!(got, want, "flip at byte {pos} in line {line}");
            if pos == bytes.len() - 1 {
                // The file's last newline: indistinguishable from a write cut short.
                assert_eq!(summary.torn_tail, Some((span.start as u64, span.len() as u64)));
                continue;
            }
            assert_eq!(summary.corrupt_lines, 1);
            assert_eq!(
                summary.problems[0].offset, span.start as u64,
                "the report names the line's offset"
            );
            assert_eq!(summary.records, 39);
        }
    }
}

#[test]
fn nul_runs_cost_exactly_the_lines_they_touch() {
    let (bytes, spans) = log();
    let len = bytes.len();
    let mut cases = vec![
        spans[3].start + 5..spans[3].start + 20,  // inside one line
        spans[7].start + 10..spans[8].start + 4,  // over a newline into the next line
        spans[10].start..spans[10].end,           // exactly one line, newline included
        spans[12].start + 3..spans[16].start + 1, // several lines
        spans[20].end - 1..spans[20].end,         // only a newline
        spans[25].start..spans[25].end - 1,       // one line, newline kept
        spans[0].start..spans[1].start + 2,       // at the very start
    ];
    // Runs of every length from one position.
    let at = spans[30].start + 2;
    cases.extend((1..200).map(|n| at..(at + n).min(len - 1)));
    for damage in cases {
        let mut damaged = bytes.clone();
        damaged[damage.clone()].fill(0);
        let want = untouched(&spans, &damage);
        assert_eq!(seqs(&damaged), want, "NUL run {damage:?}");
        // What comes back is byte for byte what was written at the same place.
        for r in Reader::new(&damaged[..]).records() {
            let span = &spans[r.seq as usize - 1];
            assert_eq!(r.offset as usize, span.start);
            assert_eq!(r.line, &bytes[span.start..span.end - 1]);
        }
        let summary = Reader::new(&damaged[..]).verify();
        assert!(summary.corrupt_lines >= 1, "the damage is reported: {damage:?}");
        // Every reported problem starts at a damaged line's first byte, and every byte of the
        // file is a record, a reported problem, padding or the torn tail.
        let first_damaged = spans.iter().find(|s| s.end > damage.start).unwrap().start;
        assert_eq!(summary.problems[0].offset, first_damaged as u64, "{damage:?}");
        let record_bytes: usize = want.iter().map(|&s| spans[s as usize - 1].len()).sum();
        assert_eq!(record_bytes as u64 + summary.corrupt_bytes, len as u64, "{damage:?}");
    }
}

#[test]
fn cli_verify_reports_each_damaged_line() {
    let (mut bytes, spans) = log();
    bytes[spans[4].start + 12] ^= 0x40;
    bytes[spans[30].start..spans[30].start + 8].fill(0);
    let dir = tempdir();
    let path = dir.path().join("damaged.ndjson");
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["verify", "--json", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["records"], 38);
    assert_eq!(report["corrupt_lines"], 2);
    let offsets: Vec<u64> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [spans[4].start as u64, spans[30].start as u64]);
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert!(stdout(&out).contains(&format!("byte {}", spans[4].start)));
    // `cat` skips both, says so on stderr, and exits 0; `cat --strict` stops with 3.
    let out = run(&["cat", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 38);
    assert!(stderr(&out).contains("skipped 2 corrupt line"), "{}", stderr(&out));
    let out = run(&["cat", "--strict", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out).lines().count(), 4);
}

/// A record whose ts goes backwards is reported as that, not as a seq that does not rise (it
/// said "seq not greater than the previous record's 10" of seq 20 after seq 10).
#[test]
fn verify_says_which_of_seq_and_ts_goes_backwards() {
    let dir = tempdir();
    let path = dir.path().join("order.ndjson");
    let mut bytes = Vec::new();
    for (seq, ts) in [(10, 5000), (20, 4999), (20, 6000)] {
        ndlog::format::encode(&mut bytes, seq, ts, b"{}");
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["verify", "--json", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let reasons: Vec<&str> =
        v["problems"].as_array().unwrap().iter().map(|p| p["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["ts below the previous record's 5000", "seq not greater than the previous record's 20"],
        "{v}"
    );
}

/// `cat --strict` fails (exit 3) where `verify` finds damage: a record out of order and seqs
/// missing between segments, not only a corrupt line. It printed all of them with exit 0.
#[test]
fn cat_strict_fails_where_verify_finds_damage() {
    let dir = tempdir();
    let cases = [
        ("seq.ndjson", [(1, 1000), (5, 2000), (3, 3000), (7, 4000)], "seq 3 after seq 5", 2),
        ("ts.ndjson", [(1, 1000), (2, 2000), (3, 1500), (4, 4000)], "ts 1500 after ts 2000", 2),
    ];
    for (name, records, says, printed) in cases {
        let path = dir.path().join(name);
        let mut bytes = Vec::new();
        for (seq, ts) in records {
            ndlog::format::encode(&mut bytes, seq, ts, b"{}");
        }
        std::fs::write(&path, &bytes).unwrap();
        let log = path.to_str().unwrap();
        assert_eq!(run(&["verify", log], b"").status.code(), Some(3));
        let out = run(&["cat", "--strict", log], b"");
        assert_eq!(out.status.code(), Some(3), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        assert_eq!(seqs(&out.stdout).len(), printed, "{name}: the records before it");
        assert!(run(&["cat", log], b"").status.success(), "{name}: without --strict, as before");
    }
    // A segmented log missing a middle segment.
    let seg = dir.path().join("seg");
    let s = seg.to_str().unwrap();
    let created = run(&["create", s, "--segment-bytes", "2MiB", "--segment-records", "2"], b"");
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(run(&["append", s], b"{}\n{}\n{}\n{}\n{}\n{}\n").status.success());
    std::fs::remove_file(seg.join("00000000000000000003.ndjson")).unwrap();
    assert_eq!(run(&["verify", s], b"").status.code(), Some(3));
    let out = run(&["cat", "--strict", s], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("seqs 3..=4 are missing"), "{}", stderr(&out));
    assert_eq!(seqs(&out.stdout), [1, 2]);
    // Outside the range asked for, the gap does not matter.
    let out = run(&["cat", "--strict", s, "--from-seq", "5"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seqs(&out.stdout), [5, 6]);
}

/// A range reads the damage that may have held one of its records, and only that: a damaged
/// line just before its first record (after the record before the range) may be the first
/// seq asked for; one after a record at its last seq cannot be in it. The seek went past the
/// first, and the second was reported.
#[test]
fn a_range_reports_the_damage_that_may_hold_its_records_and_no_other() {
    use ndlog::read::{Bounds, Entry};
    let mut log = Vec::new();
    for seq in 1..=10 {
        ndlog::format::encode(&mut log, seq, 100 + seq, b"0");
    }
    // Seq 5's line damaged (a flipped payload byte: same length, bad CRC).
    let start = log.windows(8).position(|w| w == b"\"seq\":5,").unwrap() - 1;
    let data = start + log[start..].windows(6).position(|w| w == b"\"data\"").unwrap();
    log[data + 7] = b'1';
    let reader = ndlog::Reader::new(log);
    let damaged = |b: Bounds| {
        let entries: Vec<_> = reader.entries_in(b).collect();
        let seqs: Vec<u64> = entries
            .iter()
            .filter_map(|e| if let Entry::Record(r) = e { Some(r.seq) } else { None })
            .collect();
        (seqs, entries.iter().filter(|e| matches!(e, Entry::Corrupt { .. })).count())
    };
    let seqs = |from: Option<u64>, to: Option<u64>| Bounds {
        from_seq: from,
        to_seq: to,
        ..Default::default()
    };
    assert_eq!(damaged(seqs(Some(5), Some(5))), (vec![], 1), "seq 5 may be the damaged line");
    assert_eq!(damaged(seqs(Some(5), None)), ((6..=10).collect(), 1));
    assert_eq!(damaged(seqs(Some(3), Some(4))), (vec![3, 4], 0), "after seq 4, nothing ≤ 4");
    assert_eq!(damaged(seqs(Some(6), None)), ((6..=10).collect(), 0), "before seq 6, nothing ≥ 6");
    assert_eq!(damaged(seqs(Some(2), Some(8))), ((2..=8).filter(|&s| s != 5).collect(), 1));
    assert_eq!(damaged(Bounds::default()).1, 1);
    // By time: ts 105 was the damaged record's.
    let ts = |since, until| Bounds { since: Some(since), until: Some(until), ..Default::default() };
    assert_eq!(damaged(ts(105, 106)), (vec![], 1));
    assert_eq!(damaged(ts(101, 105)), ((1..=4).collect(), 1), "ts 104..=106: may be below 105");
    assert_eq!(damaged(ts(106, 111)), ((6..=10).collect(), 1), "may be 106");
}

/// Damage before a log's first record is read by an unbounded range, as `verify` reports it.
#[test]
fn an_unbounded_range_reads_all_damage() {
    let mut log = b"garbage\n".to_vec();
    ndlog::format::encode(&mut log, 1, 1, b"0");
    log.extend_from_slice(b"more garbage\n");
    ndlog::format::encode(&mut log, 2, 2, b"0");
    let reader = ndlog::Reader::new(log);
    let corrupt = reader
        .entries_in(ndlog::read::Bounds::default())
        .filter(|e| matches!(e, ndlog::read::Entry::Corrupt { .. }))
        .count();
    assert_eq!(corrupt, 2);
}

/// `history` says the damaged lines it went past, as `cat` does: a version of the entity may
/// be among them, and with `--at` the state printed may then not be the newest. (Hostile-sweep
/// finding: it printed an older state with exit 0 and said nothing.)
#[test]
fn history_says_the_damage_it_went_past() {
    let dir = tempdir();
    let path = dir.path().join("h.ndjson");
    // Seq n at ts 10 n.
    let mut bytes = Vec::new();
    for n in 1..=30u64 {
        let data = format!(r#"{{"id":"k{}","n":{n}}}"#, n % 3);
        ndlog::format::encode(&mut bytes, n, n * 10, data.as_bytes());
    }
    let ts_of_11 = 110;
    // Seq 10 (a version of k1): its line's newline turned into another byte, so the line and
    // the next one are one damaged line.
    let mut damaged = bytes.clone();
    let newline = damaged.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(9).unwrap().0;
    damaged[newline] = b'X';
    std::fs::write(&path, &damaged).unwrap();
    let l = path.to_str().unwrap();
    let at = ts_of_11.to_string();
    for args in [
        vec!["history", "--key", "/id", "--entity", "k1", l],
        vec!["history", "--key", "/id", "--entity", "k1", "--at", &at, l],
    ] {
        let out = run(&args, b"");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!seqs(stdout(&out).as_bytes()).contains(&10), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("h.ndjson: skipped 1 corrupt line(s)"), "{args:?}: {err}");
    }
    // Damage elsewhere (another entity's record, after `at`) is not said with --at: it cannot
    // hold the entity's state at that time.
    std::fs::write(&path, &bytes).unwrap();
    let mut later = bytes.clone();
    let newline = later.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(24).unwrap().0;
    later[newline] = b'X';
    std::fs::write(&path, &later).unwrap();
    let out = run(&["history", "--key", "/id", "--entity", "k1", "--at", &at, l], b"");
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));
}
