//! The last record cut at every byte offset (a crash mid-write): the reader returns exactly the
//! records before it; the next writer moves the torn bytes to the quarantine (with their
//! offset) and overwrites them with newlines, so the log is strict NDJSON again; it never
//! merges a record with torn bytes; old and new records both read back.

use crate::util;

use ndlog::{Durability, Options, Reader};
use util::*;

/// Records 1..=5, and the offset where the last one starts.
fn log_bytes() -> (Vec<u8>, usize) {
    let dir = tempdir();
    let path = dir.path().join("full.ndjson");
    let writer = Options::new().durability(Durability::Never).open(&path).unwrap();
    for i in 1..=5 {
        writer
            .append(&serde_json::json!({"i": i, "text": "payload with \"quotes\" and \\n escapes"}))
            .unwrap();
    }
    drop(writer);
    let bytes = std::fs::read(&path).unwrap();
    let last_start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    (bytes, last_start)
}

fn check_cut(prefix: &[u8], cut_at: usize, last_start: usize, full_len: usize) {
    let expect_before: Vec<u64> =
        if cut_at == full_len { (1..=5).collect() } else { (1..=4).collect() };
    assert_eq!(
        seqs(prefix),
        expect_before,
        "cut at {cut_at}: reader sees the records before the cut"
    );

    let dir = tempdir();
    let path = dir.path().join("cut.ndjson");
    std::fs::write(&path, prefix).unwrap();
    let writer = Options::new().open(&path).unwrap();
    let ack = writer.append_raw(br#"{"after":"crash"}"#).unwrap();
    drop(writer);
    let after = std::fs::read(&path).unwrap();
    // Where the debris starts: after the last record ended by its newline.
    let kept = if cut_at == full_len { full_len } else { last_start };
    assert_neutralised(&path, prefix, kept, &after);

    let lines = independent_parse(&after);
    let got: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    let mut expect = expect_before.clone();
    expect.push(ack.seq);
    assert_eq!(got, expect, "cut at {cut_at}");
    assert_eq!(ack.seq, expect_before.last().unwrap() + 1, "the next seq follows the last record");
    assert_eq!(lines.last().unwrap().data, serde_json::json!({"after": "crash"}));
    assert_eq!(seqs(&after), got, "library reader agrees with the independent parse");

    let summary = Reader::new(&after[..]).verify();
    assert!(summary.is_clean(), "cut at {cut_at}: {:?}", summary.problems);
    assert_eq!(summary.torn_tail, None);
}

/// The bytes of `before` from `kept` on (the torn debris) were copied to the quarantine with
/// their offset and overwritten by as many newlines; every non-blank line of `after` is a JSON
/// object, so jq, DuckDB and the rest read the log.
fn assert_neutralised(path: &std::path::Path, before: &[u8], kept: usize, after: &[u8]) {
    assert_eq!(after[..kept], before[..kept], "the records before the debris are untouched");
    let debris = &before[kept..];
    assert!(after[kept..before.len()].iter().all(|&b| b == b'\n'), "debris padded with newlines");
    let quarantine = std::fs::read_to_string(path.with_extension("ndjson.quarantine"));
    if debris.iter().all(|&b| b == b'\n') {
        assert!(quarantine.is_err(), "nothing to quarantine");
    } else {
        let quarantine = quarantine.expect("the debris is in the quarantine");
        let span: serde_json::Value = serde_json::from_str(quarantine.trim_end()).unwrap();
        assert_eq!(span["offset"], kept as u64);
        assert_eq!(span["len"], debris.len() as u64);
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(span["bytes_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes, debris, "the quarantine holds the exact torn bytes");
    }
    for line in after.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("strict NDJSON");
        assert!(v.is_object());
    }
}

#[test]
fn last_record_cut_at_every_byte() {
    let (bytes, last_start) = log_bytes();
    for cut in last_start..=bytes.len() {
        check_cut(&bytes[..cut], cut, last_start, bytes.len());
    }
}

#[test]
fn torn_tail_followed_by_nul_bytes() {
    // What a crash can leave when the file size reached disk before the data: zeros.
    let (bytes, last_start) = log_bytes();
    for cut in [last_start, last_start + 1, last_start + 30, bytes.len() - 2, bytes.len()] {
        let mut torn = bytes[..cut].to_vec();
        torn.extend_from_slice(&[0u8; 300]);
        let want: Vec<u64> = if cut == bytes.len() { (1..=5).collect() } else { (1..=4).collect() };
        assert_eq!(seqs(&torn), want);
        let summary = Reader::new(&torn[..]).verify();
        assert!(summary.is_clean(), "a NUL tail is torn, not corrupt");
        assert_eq!(
            summary.torn_tail.map(|t| t.0 as usize),
            Some(if cut == bytes.len() { cut } else { last_start })
        );

        let dir = tempdir();
        let path = dir.path().join("nul.ndjson");
        std::fs::write(&path, &torn).unwrap();
        let ack = Options::new().open(&path).unwrap().append_raw(b"7").unwrap();
        assert_eq!(ack.seq, *want.last().unwrap() + 1);
        let after = std::fs::read(&path).unwrap();
        let kept = if cut == bytes.len() { cut } else { last_start };
        assert_neutralised(&path, &torn, kept, &after);
        let mut expect = want.clone();
        expect.push(ack.seq);
        assert_eq!(seqs(&after), expect);
    }
}

#[test]
fn cli_append_after_a_torn_tail() {
    let (bytes, last_start) = log_bytes();
    let dir = tempdir();
    let path = dir.path().join("cli.ndjson");
    std::fs::write(&path, &bytes[..last_start + 10]).unwrap();
    let out = run(&["append", path.to_str().unwrap()], b"{\"a\":1}\n{\"a\":2}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "5\n6\n");
    let out = run(&["verify", path.to_str().unwrap()], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a neutralised torn tail is no damage: {}",
        stdout(&out)
    );
    let after = std::fs::read(&path).unwrap();
    let before = &bytes[..last_start + 10];
    assert_neutralised(&path, before, last_start, &after);
    let out = run(&["cat", "--data", path.to_str().unwrap()], b"");
    let text = stdout(&out);
    let data: Vec<&str> = text.lines().collect();
    assert_eq!(data.len(), 6);
    assert_eq!(&data[4..], [r#"{"a":1}"#, r#"{"a":2}"#]);
}

#[test]
fn a_torn_record_whose_payload_is_an_ndlog_line_invents_nothing() {
    // `ndlog cat a | ndlog append b` stores whole ndlog lines as payloads. Tear the last one
    // right after its payload: the bytes then end with the inner line's valid trailer.
    let dir = tempdir();
    let a = write_log(dir.path(), "a.ndjson", 3);
    let b = write_log(dir.path(), "b.ndjson", 5);
    let writer = Options::new().open(&b).unwrap();
    for line in std::fs::read_to_string(&a).unwrap().lines() {
        writer.append_raw(line.as_bytes()).unwrap();
    }
    drop(writer);
    let mut bytes = std::fs::read(&b).unwrap();
    bytes.truncate(bytes.len() - 19);
    std::fs::write(&b, &bytes).unwrap();
    assert_eq!(seqs(&bytes), [1, 2, 3, 4, 5, 6, 7]);
    let ack = Options::new().open(&b).unwrap().append_raw(b"\"after crash\"").unwrap();
    assert_eq!(ack.seq, 8, "the next seq follows the last real record");
    assert_eq!(seqs(&std::fs::read(&b).unwrap()), [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn readers_map_only_up_to_the_last_record_and_never_see_debris_change() {
    // A reader holds a map of a log with a torn tail while the next writer neutralises it: the
    // bytes the reader maps end at the last record's newline, so none of them change; the torn
    // bytes were copied, and are reported as the torn tail until the reader refreshes.
    let (bytes, last_start) = log_bytes();
    let dir = tempdir();
    let path = dir.path().join("mapped.ndjson");
    let torn = &bytes[..last_start + 12];
    std::fs::write(&path, torn).unwrap();
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.bytes(), &bytes[..last_start], "the map ends after the last record");
    assert_eq!(reader.verify().torn_tail, Some((last_start as u64, 12)));
    assert_eq!(reader.records().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let ack = Options::new().open(&path).unwrap().append_raw(b"5").unwrap();
    assert_eq!(ack.seq, 5);
    assert_eq!(reader.bytes(), &bytes[..last_start], "mapped bytes unchanged");
    assert_eq!(
        reader.verify().torn_tail,
        Some((last_start as u64, 12)),
        "the copy is the old view"
    );
    assert_eq!(reader.refresh().unwrap(), ndlog::read::Refresh::Resized);
    let summary = reader.verify();
    assert!(summary.is_clean() && summary.torn_tail.is_none(), "{summary:?}");
    assert_eq!(summary.padding_bytes, 12, "the debris became blank lines");
    assert_eq!(reader.records().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
}

#[test]
fn a_reader_copies_a_bounded_amount_after_the_last_record() {
    // A file that is mostly not a log: one record, then 40 MiB of lines. The reader maps the
    // record, copies at most 16 MiB of whole lines after it, and reports the rest as not read.
    let dir = tempdir();
    let path = dir.path().join("mostly_junk.ndjson");
    let mut bytes = Vec::new();
    ndlog::format::encode(&mut bytes, 1, 10, b"1");
    let record = bytes.len() as u64;
    let line = b"not a record, not a record, not a record\n";
    while bytes.len() < 40 << 20 {
        bytes.extend_from_slice(line);
    }
    std::fs::write(&path, &bytes).unwrap();
    let reader = Reader::open(&path).unwrap();
    assert_eq!(reader.bytes().len() as u64, record);
    let summary = reader.verify();
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert_eq!(summary.records, 1);
    let Some(ndlog::Entry::Corrupt { offset, len, reason }) = reader.entries().last() else {
        panic!("the file ends in damage");
    };
    assert_eq!(reason, ndlog::format::LineError::NotRead);
    assert!(offset <= record + (16 << 20), "at most 16 MiB copied");
    assert_eq!(offset + len, bytes.len() as u64, "the rest is reported, not dropped");
}

/// A log whose only bytes are its first record cut short (a writer killed in its first append),
/// or the newlines a writer cleared that with, is an empty log to every reader, as to `verify`
/// and to writers: it is ndlog's (its lock file says so). A file ndlog never wrote is still
/// refused.
#[test]
fn a_log_holding_only_a_torn_first_record_is_read_as_empty() {
    let dir = tempdir();
    for tail in [&b"{\"seq\":1,\"ts\":17"[..], b"\n\n\n"] {
        let log = dir.path().join("events.ndjson");
        ndlog::Writer::open(&log).unwrap();
        std::fs::write(&log, tail).unwrap();
        for cmd in ["cat", "tail", "stats", "verify"] {
            let out = run(&[cmd, log.to_str().unwrap()], b"");
            assert_eq!(out.status.code(), Some(0), "{cmd} {tail:?}: {}", stderr(&out));
            if cmd != "stats" && cmd != "verify" {
                assert_eq!(stdout(&out), "", "{cmd}");
            }
        }
        std::fs::remove_file(&log).unwrap();
        std::fs::remove_file(dir.path().join("events.ndjson.lock")).unwrap();
    }
    // Through a symlink, the lock file is the real log's, as writers name it.
    let log = dir.path().join("real.ndjson");
    ndlog::Writer::open(&log).unwrap();
    std::fs::write(&log, b"{\"seq\":1,").unwrap();
    let link = dir.path().join("link.ndjson");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let out = run(&["cat", link.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plain = dir.path().join("plain.ndjson");
    std::fs::write(&plain, b"{\"a\":1}").unwrap();
    let out = run(&["cat", plain.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an ndlog log"), "{}", stderr(&out));
    // `verify` says so too, and no "ok" (it said "ok … torn tail" and exited 0).
    for extra in [&[][..], &["--chain"], &["--json"]] {
        let mut args = vec!["verify", plain.to_str().unwrap()];
        args.extend(extra);
        let out = run(&args, b"");
        assert_eq!((out.status.code(), stdout(&out)), (Some(1), String::new()), "{extra:?}");
        assert!(stderr(&out).contains("not an ndlog log"), "{}", stderr(&out));
    }
    // A FIFO where the lock file would be is not waited on.
    let fifo = dir.path().join("plain.ndjson.lock");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    let out = run(&["cat", plain.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
