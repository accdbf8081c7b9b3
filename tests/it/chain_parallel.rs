//! Chain verification split across threads gives the report of the walk in file order — the
//! same first failing seq, file, byte offset and problem, the same counts and last value — for
//! every kind of damage the chain tests use, with the stretches cut at every byte of a small log,
//! in many stretches at once, on several threads, across the files of a segmented log, over
//! bytes a reader copied after its mapped ones, and through the automatic split of a log large
//! enough to use it, also through `ndlog verify --chain`.

use crate::util;

use std::collections::BTreeMap;
use std::path::Path;

use ndlog::chain::{ChainFile, ChainReport, Split, verify_in_order, verify_split};
use ndlog::format::chain::{self, ChainValue};
use ndlog::{Mapped, Reader};

/// Records of the small logs.
const N: u64 = 12;

/// A chained log of records `seqs` (in that order), each linked to the chain value of the
/// record before it in `1..`: the bytes, and the line ranges (without newline) by seq.
fn chained(n: u64) -> (Vec<u8>, Vec<(usize, usize)>, Vec<ChainValue>) {
    let mut log = Vec::new();
    let mut ranges = Vec::new();
    let mut values = Vec::new();
    let mut prev = ChainValue::GENESIS;
    for seq in 1..=n {
        let start = log.len();
        let pad = "x".repeat((seq * 7 % 23) as usize);
        let payload = format!(r#"{{"id":"e{}","n":{seq},"pad":"{pad}"}}"#, seq % 3);
        prev = chain::encode(&mut log, seq, 1_000 + seq, payload.as_bytes(), &prev);
        ranges.push((start, log.len() - 1));
        values.push(prev);
    }
    (log, ranges, values)
}

/// Rewrites the CRC trailer of the line at `start..end` to match its bytes.
fn refit_crc(bytes: &mut [u8], start: usize, end: usize) {
    let crc_at = end - ndlog::format::TRAILER_LEN;
    let crc = ndlog::format::hex8(crc32fast::hash(&bytes[start..crc_at]));
    bytes[crc_at + 8..crc_at + 16].copy_from_slice(&crc);
}

/// The lines `order` (indexes into `ranges`, with their newlines) joined.
fn join(log: &[u8], ranges: &[(usize, usize)], order: &[usize]) -> Vec<u8> {
    order.iter().flat_map(|&i| log[ranges[i].0..=ranges[i].1].to_vec()).collect()
}

/// One damaged log: what was done, the bytes, and the chain file to verify with.
struct Case {
    what: String,
    bytes: Vec<u8>,
    chain_file: Option<ChainFile>,
}

fn case(what: &str, bytes: Vec<u8>) -> Case {
    Case { what: what.to_string(), bytes, chain_file: None }
}

fn anchored(what: &str, bytes: Vec<u8>, anchors: &[(u64, ChainValue)]) -> Case {
    let anchors: BTreeMap<u64, ChainValue> = anchors.iter().copied().collect();
    let file = ChainFile { log_id: "0".repeat(32), anchors };
    Case { what: what.to_string(), bytes, chain_file: Some(file) }
}

/// Every kind of damage: edits with the CRC refitted, deletions, swaps, duplicates, torn and
/// truncated tails, flipped bytes, garbage and NUL runs (over a newline: resynchronised),
/// padding, an unchained record, and compactions' anchors (right, missing, wrong).
fn cases() -> Vec<Case> {
    let (log, ranges, values) = chained(N);
    let all: Vec<usize> = (0..N as usize).collect();
    let without = |skip: &[usize]| {
        let order: Vec<usize> = all.iter().copied().filter(|i| !skip.contains(i)).collect();
        join(&log, &ranges, &order)
    };
    let edit = |edits: &[(usize, usize)]| {
        let mut bytes = log.clone();
        for &(record, at) in edits {
            let (start, end) = ranges[record];
            let i = start + at;
            bytes[i] = if bytes[i] == b'7' { b'8' } else { b'7' };
            refit_crc(&mut bytes, start, end);
        }
        bytes
    };
    let flip = |at: &[usize]| {
        let mut bytes = log.clone();
        for &i in at {
            bytes[i] ^= 0x20;
        }
        bytes
    };
    let insert = |at: usize, what: &[u8]| {
        let mut bytes = log.clone();
        bytes.splice(at..at, what.iter().copied());
        bytes
    };
    let payload_at = |record: usize| {
        let (start, end) = ranges[record];
        start + log[start..end].windows(4).position(|w| w == b"\"n\":").unwrap() + 4
    };
    let link_at = |record: usize| ranges[record].1 - ndlog::format::TRAILER_LEN - 10;
    let mut unchained = Vec::new();
    ndlog::format::encode(&mut unchained, 6, 1_006, br#"{"plain":true}"#);
    let nul_over_newline = {
        let mut bytes = log.clone();
        let nl = ranges[5].1;
        bytes[nl - 6..nl + 1].fill(0);
        bytes
    };
    let (s5, s8) = (ranges[4].0, ranges[7].0);
    vec![
        case("intact", log.clone()),
        case("empty", Vec::new()),
        case("garbage only", b"not a record\nnor this\n".to_vec()),
        case("payload edit of seq 5, CRC refitted", edit(&[(4, payload_at(4) - ranges[4].0)])),
        case("seq digit of seq 3 edited, CRC refitted", edit(&[(2, 7)])),
        case("link digit of seq 8 edited, CRC refitted", edit(&[(7, link_at(7) - ranges[7].0)])),
        case("edits of seq 3 and seq 9", edit(&[(2, 20), (8, 20)])),
        case("edit of the first record", edit(&[(0, 20)])),
        case("edit of the last record", edit(&[(11, 20)])),
        case("seq 5 deleted", without(&[4])),
        case("the first record deleted", without(&[0])),
        case("the last record deleted", without(&[11])),
        case("seqs 5 to 7 deleted", without(&[4, 5, 6])),
        case("seqs 3 and 4 swapped", join(&log, &ranges, &[0, 1, 3, 2, 4, 5, 6, 7, 8, 9, 10, 11])),
        case("seq 4 twice", join(&log, &ranges, &[0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11])),
        case("torn tail", log[..ranges[11].0 + 30].to_vec()),
        case("truncated before the last newline", log[..log.len() - 1].to_vec()),
        case("a byte of seq 6 flipped", flip(&[ranges[5].0 + 25])),
        case("bytes of seqs 6 and 7 flipped", flip(&[ranges[5].0 + 25, ranges[6].0 + 25])),
        case("bytes of seqs 2 and 11 flipped", flip(&[ranges[1].0 + 25, ranges[10].0 + 25])),
        case("garbage line before seq 5", insert(s5, b"garbage\n")),
        case("garbage glued to seq 5 (resynchronised)", insert(s5, b"garbage")),
        case("NUL run over the newline after seq 6", nul_over_newline),
        case("garbage line before the first record", insert(0, b"garbage\n")),
        case("garbage line after the last record", insert(log.len(), b"garbage\n")),
        case("garbage torn tail after the last record", insert(log.len(), b"garbage")),
        case("padding before seq 5", insert(s5, b"\n\n\n")),
        case("padding at both ends", {
            let mut b = insert(log.len(), b"\n\n");
            b.splice(0..0, *b"\n\n");
            b
        }),
        case("an unchained record in place of seq 6", {
            let mut b = join(&log, &ranges, &[0, 1, 2, 3, 4]);
            b.extend_from_slice(&unchained);
            b.extend_from_slice(&join(&log, &ranges, &[6, 7, 8, 9, 10, 11]));
            b
        }),
        case("garbage line then seq 8 after seq 4", {
            let mut b = join(&log, &ranges, &[0, 1, 2, 3]);
            b.extend_from_slice(b"garbage\n");
            b.extend_from_slice(&log[s8..]);
            b
        }),
        anchored("compacted to seqs 5.., anchored", log[s5..].to_vec(), &[(5, values[3])]),
        case("compacted to seqs 5.., no chain file", log[s5..].to_vec()),
        anchored("compacted to seqs 5.., wrong anchor", log[s5..].to_vec(), &[(5, values[2])]),
        anchored("compacted to 1..4 and 8.., anchored", without(&[4, 5, 6]), &[(8, values[6])]),
        anchored(
            "compacted to 1..4 and 8.., anchor elsewhere",
            without(&[4, 5, 6]),
            &[(9, values[7])],
        ),
        anchored(
            "seq 5 deleted, garbage before seq 6, anchored at 5",
            {
                let mut b = join(&log, &ranges, &[0, 1, 2, 3]);
                b.extend_from_slice(b"garbage\n");
                b.extend_from_slice(&log[ranges[5].0..]);
                b
            },
            &[(5, values[3])],
        ),
    ]
}

/// A split with the stretches cut at `cuts` of the files, walked on `threads` threads.
fn at(cuts: Vec<(usize, u64)>, threads: usize) -> Split {
    Split { threads: Some(threads), min_bytes: 0, chunk_bytes: None, cuts: Some(cuts) }
}

/// A split with the stretches cut about every `chunk_bytes`, on `threads` threads.
fn every(chunk_bytes: u64, threads: usize) -> Split {
    Split { threads: Some(threads), min_bytes: 0, chunk_bytes: Some(chunk_bytes), cuts: None }
}

/// Checks that `split` gives the walk's report in file order for `parts`.
fn same<D: AsRef<[u8]>>(
    what: &str,
    parts: &[(&Reader<D>, Option<&Path>)],
    chain_file: Option<&ChainFile>,
    split: &Split,
    expected: &ChainReport,
) {
    let got = verify_split(parts, chain_file, split);
    assert_eq!(&got, expected, "{what}, split {split:?}");
}

#[test]
fn a_cut_at_every_byte_gives_the_report_of_the_walk_in_file_order() {
    let mut intact = Vec::new();
    for case in cases() {
        for json in [false, true] {
            let reader = Reader::new(&case.bytes[..]).validate_json(json);
            let parts = [(&reader, None)];
            let cf = case.chain_file.as_ref();
            let expected = verify_in_order(&parts, cf);
            if expected.failure.is_none() && !json {
                intact.push(case.what.clone());
            }
            // One cut, at every byte (and past the end).
            for cut in 0..=case.bytes.len() as u64 + 1 {
                same(&case.what, &parts, cf, &at(vec![(0, cut)], 1), &expected);
            }
            // Two cuts, at every pair of a stride, one thread and three.
            let len = case.bytes.len() as u64;
            for a in (0..len).step_by(17) {
                for b in (a..len).step_by(29) {
                    same(&case.what, &parts, cf, &at(vec![(0, a), (0, b)], 2), &expected);
                }
            }
            // Many stretches at once: a cut about every `chunk` bytes, down to every line.
            for chunk in [1, 2, 3, 5, 8, 40, 100, 170, 400] {
                for threads in [1, 2, 3] {
                    same(&case.what, &parts, cf, &every(chunk, threads), &expected);
                }
            }
        }
    }
    // The cases exercise failures, not only intact chains: these hold (damage between two
    // records whose link holds held no record; a torn tail is a write in progress).
    let holding = [
        "intact",
        "empty",
        "garbage only",
        "the last record deleted",
        "torn tail",
        "truncated before the last newline",
        "garbage line before seq 5",
        "garbage glued to seq 5 (resynchronised)",
        "garbage line before the first record",
        "garbage torn tail after the last record",
        "padding before seq 5",
        "padding at both ends",
        "compacted to seqs 5.., anchored",
        "compacted to 1..4 and 8.., anchored",
    ];
    assert_eq!(intact, holding);
}

#[test]
fn every_single_byte_edit_with_a_refitted_crc_gives_the_same_report_split_or_not() {
    let (log, ranges, _) = chained(N);
    let splits: Vec<Split> = [1, 7, 60, 200]
        .into_iter()
        .flat_map(|chunk| [every(chunk, 1), every(chunk, 2)])
        .chain(ranges.iter().map(|&(start, _)| at(vec![(0, start as u64)], 1)))
        .chain(ranges.iter().map(|&(start, _)| at(vec![(0, start as u64 + 1)], 1)))
        .collect();
    for (record, &(start, end)) in ranges.iter().enumerate() {
        for i in start..end - ndlog::format::TRAILER_LEN {
            for to in [b'7', b'\n', b'"'] {
                let mut bytes = log.clone();
                if bytes[i] == to {
                    continue;
                }
                bytes[i] = to;
                if to != b'\n' {
                    refit_crc(&mut bytes, start, end);
                }
                let reader = Reader::new(&bytes[..]);
                let parts = [(&reader, None)];
                let expected = verify_in_order(&parts, None);
                let what = format!("seq {} byte {i} set to {to:?}", record + 1);
                assert!(expected.failure.is_some(), "{what}");
                for split in &splits {
                    same(&what, &parts, None, split, &expected);
                }
            }
        }
    }
}

/// `bytes` as the files of a segmented log, cut before the lines at `starts`.
fn segments(bytes: &[u8], starts: &[usize]) -> Vec<Vec<u8>> {
    let mut bounds = vec![0];
    bounds.extend(starts.iter().copied().filter(|&s| s <= bytes.len()));
    bounds.push(bytes.len());
    bounds.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

#[test]
fn segments_split_across_threads_give_the_report_of_the_walk_in_file_order() {
    let (log, ranges, _) = chained(N);
    let names = ["seg-a", "seg-b", "seg-c", "seg-d"].map(Path::new);
    let mut cases = cases();
    // A failure at a file's start or end, and a file of no record, as the files meet.
    let mut with_empty = log.clone();
    with_empty.splice(ranges[6].0..ranges[6].0, *b"garbage\n");
    cases.push(case("garbage line at the start of a segment", with_empty));
    for case in &cases {
        let line_starts: Vec<usize> =
            (0..case.bytes.len()).filter(|&i| i == 0 || case.bytes[i - 1] == b'\n').collect();
        let pick = |k: usize| line_starts.get(k).copied().unwrap_or(case.bytes.len());
        for cuts in [vec![pick(4), pick(8)], vec![pick(3), pick(3), pick(9)], vec![pick(1)]] {
            let files = segments(&case.bytes, &cuts);
            let readers: Vec<Reader<&[u8]>> = files.iter().map(|f| Reader::new(&f[..])).collect();
            let parts: Vec<(&Reader<&[u8]>, Option<&Path>)> =
                readers.iter().zip(names).map(|(r, n)| (r, Some(n))).collect();
            let cf = case.chain_file.as_ref();
            let expected = verify_in_order(&parts, cf);
            let what = format!("{}, segments at {cuts:?}", case.what);
            for chunk in [1, 4, 50, 150, 10_000] {
                for threads in [1, 2, 4] {
                    same(&what, &parts, cf, &every(chunk, threads), &expected);
                }
            }
            // One cut in every file, at every byte of the longest.
            let longest = files.iter().map(Vec::len).max().unwrap_or(0) as u64;
            for cut in 0..=longest {
                let cuts = (0..files.len()).map(|f| (f, cut)).collect();
                same(&what, &parts, cf, &at(cuts, 2), &expected);
            }
        }
    }
}

#[test]
fn bytes_a_reader_copied_after_its_mapped_ones_are_walked_as_in_file_order() {
    let (log, _, _) = chained(N);
    let dir = tempfile::tempdir().unwrap();
    for (what, tail) in [
        ("garbage line after the last record", &b"garbage\n"[..]),
        ("garbage and a torn tail", b"garbage\nmore"),
        ("a torn tail", b"{\"seq\":13,"),
        ("padding", b"\n\n"),
    ] {
        let path = dir.path().join("log.ndjson");
        let mut bytes = log.clone();
        bytes.extend_from_slice(tail);
        std::fs::write(&path, &bytes).unwrap();
        let reader: Reader<Mapped> = Reader::open(&path).unwrap();
        let parts = [(&reader, Some(path.as_path()))];
        let expected = verify_in_order(&parts, None);
        assert_eq!(expected.records, N, "{what}");
        if what.starts_with("garbage") {
            assert!(expected.failure.is_some(), "{what}: damage where seq 13 should be");
        }
        for cut in 0..=bytes.len() as u64 {
            same(what, &parts, None, &at(vec![(0, cut)], 2), &expected);
        }
        assert_eq!(reader.verify_chain(None), verify_in_order(&[(&reader, None)], None));
    }
}

#[test]
fn a_log_large_enough_for_threads_gives_the_report_of_the_walk_in_file_order() {
    // About 6 MiB: above the 4 MiB the automatic split starts at.
    let (log, ranges, _) = chained(36_000);
    assert!(log.len() > 5 << 20, "{}", log.len());
    let edit_at = |record: usize| {
        let mut bytes = log.clone();
        let (start, end) = ranges[record];
        bytes[start + 30] ^= 1;
        refit_crc(&mut bytes, start, end);
        bytes
    };
    let mut deleted = log[..ranges[20_000].0].to_vec();
    deleted.extend_from_slice(&log[ranges[20_001].0..]);
    let mut flipped = log.clone();
    flipped[ranges[30_000].0 + 40] ^= 0x20;
    for (what, bytes) in [
        ("intact", log.clone()),
        ("edit of seq 27001", edit_at(27_000)),
        ("edit of seq 3", edit_at(2)),
        ("seq 20001 deleted", deleted),
        ("a byte of seq 30001 flipped", flipped),
    ] {
        let reader = Reader::new(&bytes[..]);
        let expected = verify_in_order(&[(&reader, None)], None);
        assert_eq!(reader.verify_chain(None), expected, "{what}");
        assert_eq!(expected.failure.is_none(), what == "intact", "{what}");
        // As the three files of a segmented log.
        let files = segments(&bytes, &[ranges[10_000].0, ranges[25_000].0]);
        let readers: Vec<Reader<&[u8]>> = files.iter().map(|f| Reader::new(&f[..])).collect();
        let names = ["seg-a", "seg-b", "seg-c"].map(Path::new);
        let parts: Vec<_> = readers.iter().zip(names).map(|(r, n)| (r, Some(n))).collect();
        let expected = verify_in_order(&parts, None);
        let got = ndlog::chain::verify_parts(readers.iter(), None);
        // `verify_parts` names each file by its reader's path.
        let named =
            |r: &ChainReport| r.failure.as_ref().map(|f| (f.seq, f.offset, f.problem.clone()));
        assert_eq!(
            (got.records, got.first, got.last),
            (expected.records, expected.first, expected.last)
        );
        assert_eq!(named(&got), named(&expected), "{what}");
        same(what, &parts, None, &Split { threads: Some(3), ..Split::auto() }, &expected);
    }
}

#[test]
fn verify_chain_names_the_first_failing_seq_of_a_log_large_enough_for_threads() {
    let dir = util::tempdir();
    let path = dir.path().join("big.ndjson");
    let log = path.to_str().unwrap();
    // Written through the library in batches (durability `Never`): the CLI reads it.
    let writer = ndlog::Options::new().durability(ndlog::Durability::Never).chain(true);
    let writer = writer.open(&path).unwrap();
    let pad = "y".repeat(120);
    for batch in 0..30 {
        let payloads: Vec<String> = (1..=1_000)
            .map(|i| format!(r#"{{"id":"e{}","n":{},"p":"{pad}"}}"#, i % 7, batch * 1_000 + i))
            .collect();
        writer.append_raw_batch(&payloads).unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    let out = util::run(&["verify", log, "--chain"], b"");
    assert!(out.status.success(), "{}{}", util::stdout(&out), util::stderr(&out));
    assert!(util::stdout(&out).contains("ok, 30000 records"), "{}", util::stdout(&out));
    // Edits of seqs 29000 and 16000 with refitted CRCs, in different stretches: the first
    // one in file order is named, at its line's offset.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 5 << 20, "{}", bytes.len());
    let mut offset_of_16000 = 0;
    for seq in [29_000u64, 16_000] {
        let needle = format!("\"n\":{seq},");
        let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
        let start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let end = start + bytes[start..].iter().position(|&b| b == b'\n').unwrap();
        bytes[at + 5] = if bytes[at + 5] == b'7' { b'8' } else { b'7' };
        refit_crc(&mut bytes, start, end);
        offset_of_16000 = start;
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = util::run(&["verify", log, "--chain"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", util::stdout(&out));
    let named = format!("seq 16000 at byte {offset_of_16000}");
    assert!(util::stderr(&out).contains(&named), "{named}: {}", util::stderr(&out));
}
