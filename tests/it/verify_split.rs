//! `Reader::verify` split across threads gives the summary of the scan in file order — the
//! same counts, first and last records, problems in the same order, torn tail — for every kind
//! of damage, with the stretches cut at every byte of a small log, in many stretches at once,
//! on several threads, over bytes a reader copied after its mapped ones, and through the
//! automatic split of a log large enough to use it.

use crate::util;

use ndlog::Reader;
use ndlog::read::VerifySplit;

/// A log of `n` records (seq `i`, ts `1000 + i`) and the byte range of each line (newline
/// included).
fn log(n: u64) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut bytes = Vec::new();
    let mut ranges = Vec::new();
    for seq in 1..=n {
        let start = bytes.len();
        let pad = "x".repeat((seq * 7 % 23) as usize);
        let payload = format!(r#"{{"id":"e{}","n":{seq},"pad":"{pad}"}}"#, seq % 3);
        ndlog::format::encode(&mut bytes, seq, 1_000 + seq, payload.as_bytes());
        ranges.push((start, bytes.len()));
    }
    (bytes, ranges)
}

/// Every kind of damage a scan meets: flipped bytes, a payload that is not JSON under a
/// refitted CRC, records out of order (seq and ts), garbage and NUL runs across newlines,
/// blank padding, torn and truncated tails, a blank line, a record glued to a torn one.
fn cases() -> Vec<(String, Vec<u8>)> {
    let (clean, ranges) = log(12);
    let line = |i: usize| clean[ranges[i].0..ranges[i].1].to_vec();
    let join = |order: &[usize]| order.iter().flat_map(|&i| line(i)).collect::<Vec<u8>>();
    let mut cases = vec![("clean".to_string(), clean.clone())];
    for at in [3, ranges[4].0 + 20, ranges[7].1 - 3, ranges[7].1 - 1] {
        let mut b = clean.clone();
        b[at] ^= 0x20;
        cases.push((format!("flipped byte {at}"), b));
    }
    cases.push(("swapped 3 and 4".into(), join(&[0, 1, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11])));
    cases.push(("duplicate 5".into(), join(&[0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11])));
    cases.push(("last moved first".into(), join(&[11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
    let mut b = clean.clone();
    b.truncate(ranges[10].0 + 30);
    cases.push(("torn tail".into(), b));
    let mut b = clean.clone();
    b.truncate(ranges[10].1 - 1);
    cases.push(("tail without its newline".into(), b));
    let mut b = clean[..ranges[5].0].to_vec();
    b.extend_from_slice(b"garbage\nmore garbage\n\0\0\0\0\n\0\0");
    b.extend_from_slice(&clean[ranges[5].0..]);
    cases.push(("garbage and NULs over newlines".into(), b));
    // Damage before a record out of order: where a stretch starts at the damage, its problems
    // come before the merge's order check of its first record.
    let mut b = join(&[0, 1, 2, 3, 4, 5]);
    b.extend_from_slice(b"not a record\n");
    b.extend_from_slice(&join(&[2, 6, 7, 8, 9, 10, 11]));
    cases.push(("damage before a record out of order".into(), b));
    let mut b = clean[..ranges[3].0].to_vec();
    b.extend_from_slice(&line(3)[..25]);
    b.extend_from_slice(&clean[ranges[3].0..]);
    cases.push(("a torn record glued to the next".into(), b));
    let mut b = clean[..ranges[6].0].to_vec();
    b.extend_from_slice(&[b' '; 40]);
    b.push(b'\n');
    b.extend_from_slice(b"\n");
    b.extend_from_slice(&clean[ranges[6].0..]);
    cases.push(("padding and a blank line".into(), b));
    let mut b = clean.clone();
    b.extend_from_slice(&[0u8; 300]);
    cases.push(("zeros at the end".into(), b));
    cases
}

fn forced(threads: usize, chunk_bytes: usize) -> VerifySplit {
    VerifySplit { threads: Some(threads), min_bytes: 0, chunk_bytes: Some(chunk_bytes) }
}

#[test]
fn every_cut_of_every_damaged_log_gives_the_scan_in_file_order() {
    let mut checked = 0;
    for (what, bytes) in cases() {
        for json in [false, true] {
            let reader = Reader::new(bytes.as_slice()).validate_json(json);
            let serial = reader.verify_in_order();
            for chunk in 1..bytes.len() {
                for threads in [2, 3] {
                    let split = reader.verify_split(&forced(threads, chunk));
                    assert_eq!(split, serial, "{what}, json {json}, every {chunk} bytes");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn the_cases_hold_what_they_say() {
    // The damage is seen: otherwise equality above would prove little.
    let by_name = |name: &str| cases().into_iter().find(|c| c.0 == name).unwrap().1;
    let s = Reader::new(by_name("swapped 3 and 4").as_slice()).verify_in_order();
    assert_eq!(s.out_of_order, 1);
    let s = Reader::new(by_name("last moved first").as_slice()).verify_in_order();
    assert_eq!((s.out_of_order, s.first.map(|f| f.0)), (1, Some(12)));
    let s = Reader::new(by_name("garbage and NULs over newlines").as_slice()).verify_in_order();
    assert!(s.corrupt_lines >= 2, "{s:?}");
    let s = Reader::new(by_name("torn tail").as_slice()).verify_in_order();
    assert!(s.torn_tail.is_some());
}

#[test]
fn a_large_damaged_log_through_the_automatic_split() {
    let (mut bytes, ranges) = log(120_000);
    assert!(bytes.len() > 8 << 20, "large enough for the split: {}", bytes.len());
    // Damage spread over the file: an out-of-order record at a stretch's start is likely
    // somewhere, flipped bytes, and more problems than the summary lists.
    for i in (0..ranges.len()).step_by(97) {
        bytes[ranges[i].0 + 5] ^= 0x01;
    }
    let (a, b) = (ranges[60_000], ranges[60_001]);
    let swapped: Vec<u8> = [&bytes[b.0..b.1], &bytes[a.0..a.1]].concat();
    bytes.splice(a.0..b.1, swapped);
    bytes.truncate(bytes.len() - 10);
    let reader = Reader::new(bytes.as_slice()).validate_json(true);
    let serial = reader.verify_in_order();
    assert!(serial.problems.len() == ndlog::Summary::MAX_LISTED, "{}", serial.problems.len());
    assert!(serial.out_of_order >= 1 && serial.torn_tail.is_some());
    assert_eq!(reader.verify(), serial);
    for threads in [2, 4] {
        for chunk in [1 << 16, 1 << 20, 3_333_333] {
            assert_eq!(reader.verify_split(&forced(threads, chunk)), serial, "{threads} {chunk}");
        }
    }
}

#[test]
fn bytes_after_the_mapped_part_are_in_the_summary() {
    // A file is mapped up to the end of its last record; what follows is copied, and the
    // last stretch reports it.
    let dir = util::tempdir();
    let path = dir.path().join("log.ndjson");
    let (mut bytes, _) = log(40);
    bytes.extend_from_slice(b"{\"torn");
    std::fs::write(&path, &bytes).unwrap();
    let reader = Reader::open(&path).unwrap();
    let serial = reader.verify_in_order();
    assert!(serial.torn_tail.is_some(), "{serial:?}");
    for chunk in [50, 200, 1000] {
        assert_eq!(reader.verify_split(&forced(2, chunk)), serial, "every {chunk} bytes");
    }
}
