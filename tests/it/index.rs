//! The sidecar index: kept current by writers, never trusted over the log. Every stale,
//! missing, torn, foreign or corrupt index still gives the answers a full scan gives, and is
//! caught up or rebuilt reading only what it must.

use crate::util;

use std::path::Path;
use std::time::Duration;

use ndlog::{Durability, Options, Reader, index::IndexProblem};
use proptest::prelude::*;
use util::probe_fs::ProbeFs;
use util::*;

/// Appends `n` records (payload `{"i":k}`), with the clock moving now and then so that
/// timestamps both repeat and advance.
fn append(path: &Path, n: u64, index: bool) {
    let writer = Options::new().durability(Durability::Never).index(index).open(path).unwrap();
    for k in 0..n {
        writer.append_raw(format!(r#"{{"i":{k}}}"#).as_bytes()).unwrap();
        if k % 500 == 499 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Checks `get` for every seq (and some absent ones) and time seeks for every distinct ts
/// against a linear scan of the file by an independent parser.
fn assert_lookups_match_a_scan(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let all = independent_parse(&bytes);
    let reader = Reader::open(path).unwrap();
    let last = all.last().map_or(0, |l| l.seq);
    for seq in 0..=last + 2 {
        let want = all.binary_search_by_key(&seq, |l| l.seq).ok().map(|i| all[i].offset as u64);
        assert_eq!(reader.get(seq).map(|r| r.offset), want, "get({seq})");
    }
    let mut times: Vec<u64> =
        all.iter().flat_map(|l| [l.ts.saturating_sub(1), l.ts, l.ts + 1]).collect();
    times.dedup();
    for t in times {
        let first_at_or_after = all.partition_point(|l| l.ts < t);
        let want = all.get(first_at_or_after).map_or(bytes.len() as u64, |l| l.offset as u64);
        assert_eq!(reader.seek_ts(t), want, "seek_ts({t})");
        let at = all.partition_point(|l| l.ts <= t).checked_sub(1).map(|i| all[i].seq);
        assert_eq!(reader.last_at(t).map(|r| r.seq), at, "last_at({t})");
    }
}

fn idx(path: &Path) -> std::path::PathBuf {
    path.with_extension("ndjson.idx")
}

#[test]
fn writers_keep_the_index_current() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    for _ in 0..4 {
        append(&path, 1250, true);
    }
    let reader = Reader::open(&path).unwrap();
    let index = reader.index().expect("an index is attached");
    assert_eq!(index.stride(), ndlog::Options::DEFAULT_INDEX_STRIDE);
    assert!(index.len() >= 5000 / 4 - 1, "{} entries", index.len());
    let check = reader.check_index().unwrap();
    assert!(check.agrees() && check.is_current(), "{check:?}");
    assert_lookups_match_a_scan(&path);
}

#[test]
fn a_missing_or_short_index_answers_from_the_log_and_is_rebuilt() {
    for damage in ["missing", "short", "garbage header"] {
        let dir = tempdir();
        let path = dir.path().join("events.ndjson");
        append(&path, 3000, true);
        match damage {
            "missing" => std::fs::remove_file(idx(&path)).unwrap(),
            "short" => std::fs::write(idx(&path), b"NDLOGIDX").unwrap(),
            _ => std::fs::write(idx(&path), vec![0x5a; 4096]).unwrap(),
        }
        let reader = Reader::open(&path).unwrap();
        assert!(reader.index().is_none(), "{damage}");
        let problem = reader.index_problem().unwrap();
        assert!(
            matches!(
                problem,
                IndexProblem::Missing | IndexProblem::Short | IndexProblem::BadHeader(_)
            ),
            "{damage}: {problem:?}"
        );
        assert_lookups_match_a_scan(&path);
        Options::new().open(&path).unwrap(); // the next writer rebuilds it
        assert!(Reader::open(&path).unwrap().check_index().unwrap().is_current(), "{damage}");
        assert_lookups_match_a_scan(&path);
    }
}

#[test]
fn a_torn_index_is_repaired_from_the_part_of_the_log_it_does_not_cover() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 20_000, true);
    let idx_len = std::fs::metadata(idx(&path)).unwrap().len();
    // A crash tore the last entry and lost the one before.
    let file = std::fs::OpenOptions::new().write(true).open(idx(&path)).unwrap();
    file.set_len(idx_len - 30).unwrap();
    drop(file);
    let reader = Reader::open(&path).unwrap();
    assert!(reader.index().is_some(), "the whole entries before the tear are still used");
    assert!(!reader.check_index().unwrap().agrees());
    assert_lookups_match_a_scan(&path);
    drop(reader);

    let fs = ProbeFs::default();
    Options::new().open_in(fs.clone(), &path).unwrap();
    let log_len = std::fs::metadata(&path).unwrap().len();
    let read = fs.bytes_read(&path);
    assert!(read < log_len / 20, "repair read {read} of {log_len} log bytes");
    assert!(Reader::open(&path).unwrap().check_index().unwrap().is_current());
    assert_lookups_match_a_scan(&path);
}

#[test]
fn an_index_that_covers_appends_made_after_the_reader_opened_agrees() {
    // `ndlog index --check` maps the log, then reads the index: records appended in between,
    // which their writer indexed, made the index of a healthy, live log "DISAGREE" (exit 3,
    // "`ndlog index --rebuild` fixes it"). Failed on d50e891.
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 100, true);
    let reader = Reader::open(&path).unwrap();
    append(&path, 100, true);
    let check = reader.check_index().unwrap();
    assert!(check.is_current(), "{check:?}");
    assert_eq!(check.entries, 50);
}

#[test]
fn the_index_of_a_segment_sealed_since_the_reader_opened_it_is_checked_against_its_map() {
    // Checking against the log mapped again must not fail when the active segment a reader
    // mapped was sealed (renamed) since: `ndlog index --check` of a segmented log while a
    // writer rolls it. Its map still holds every record the index names.
    let dir = tempdir();
    let log = dir.path().join("segmented");
    let settings = ndlog::segments::Settings {
        segment_records: Some(8),
        ..ndlog::segments::Settings::new(2 << 20)
    };
    let writer = Options::new().segments(settings).open(&log).unwrap();
    for i in 0..8 {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    let active = log.join("00000000000000000001.ndjson.active");
    let reader = Reader::open(&active).unwrap();
    writer.append_raw(b"8").unwrap();
    assert!(!active.exists(), "sealed");
    let check = reader.check_index().unwrap();
    assert!(check.agrees(), "{check:?}");
}

#[test]
fn a_stale_index_is_caught_up_reading_only_the_new_records() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 10_000, true);
    let covered = std::fs::metadata(&path).unwrap().len();
    // Writers that do not maintain the index, like one that crashed between its log write and
    // its index write, leave it behind.
    append(&path, 3_000, false);
    let reader = Reader::open(&path).unwrap();
    assert!(reader.index().is_some());
    let check = reader.check_index().unwrap();
    assert!(check.agrees() && !check.is_current(), "{check:?}");
    assert_lookups_match_a_scan(&path);
    drop(reader);

    let fs = ProbeFs::default();
    Options::new().open_in(fs.clone(), &path).unwrap();
    let appended = std::fs::metadata(&path).unwrap().len() - covered;
    let read = fs.bytes_read(&path);
    assert!(read < appended + 64 * 1024, "catch-up read {read} bytes for {appended} new bytes");
    assert!(Reader::open(&path).unwrap().check_index().unwrap().is_current());
}

#[test]
fn an_index_of_a_replaced_log_is_not_used_and_is_rebuilt() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 2000, true);
    // Replace the log by rename, as compaction does, keeping the old index.
    let bytes = std::fs::read(&path).unwrap();
    let cut = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(99).unwrap().0 + 1;
    let tmp = dir.path().join("rewritten");
    std::fs::write(&tmp, &bytes[cut..]).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let reader = Reader::open(&path).unwrap();
    assert_eq!(reader.index_problem(), Some(IndexProblem::OtherLog));
    assert_eq!(reader.get(50), None);
    assert_eq!(reader.get(150).unwrap().seq, 150);
    assert_lookups_match_a_scan(&path);
    Options::new().open(&path).unwrap();
    assert!(Reader::open(&path).unwrap().check_index().unwrap().is_current());
}

#[test]
fn corrupt_entries_never_produce_a_wrong_answer() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 4000, true);
    let original = std::fs::read(idx(&path)).unwrap();
    for (seed, spots) in [(1u64, 1usize), (2, 5), (3, 40)] {
        let mut garbled = original.clone();
        let mut x = seed;
        for _ in 0..spots {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = 64 + (x >> 33) as usize % (garbled.len() - 64);
            garbled[at] ^= 1 << (x % 8);
        }
        std::fs::write(idx(&path), &garbled).unwrap();
        assert_lookups_match_a_scan(&path);
        let check = Reader::open(&path).unwrap().check_index().unwrap();
        assert!(!check.agrees(), "{spots} flipped bits went unnoticed");
        let out = run(&["index", "--check", path.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
        assert!(stdout(&out).contains("DISAGREES"));
        let out = run(&["index", "--rebuild", path.to_str().unwrap()], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        let out = run(&["index", "--check", path.to_str().unwrap()], b"");
        assert!(
            out.status.success() && stdout(&out).contains("agrees with the log"),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn a_reader_that_cannot_write_the_index_still_answers() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 3000, true);
    std::fs::remove_file(idx(&path)).unwrap();
    let fs = ProbeFs::default();
    fs.set_read_only(true);
    // A writer in a read-only directory cannot rebuild the index; its appends still succeed.
    let writer = Options::new().open_in(fs.clone(), &path).unwrap();
    assert!(writer.index_error().is_some());
    writer.append_raw(b"{\"late\":1}").unwrap();
    assert!(!idx(&path).exists());
    let reader = Reader::open_in(fs, &path).unwrap();
    assert_eq!(reader.index_problem(), Some(IndexProblem::Missing));
    assert_eq!(reader.get(3001).unwrap().data, b"{\"late\":1}");
    assert_lookups_match_a_scan(&path);
}

#[test]
fn cli_index_rebuilds_an_index_that_disagrees_before_its_end() {
    // `ndlog index` caught up the end and then said "up to date" of an index with a wrong
    // entry in the middle (its own check had found it: `index --check` exit 3 right after).
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    append(&path, 400, true);
    let log = path.to_str().unwrap();
    let good = std::fs::read(idx(&path)).unwrap();
    let mut bad = good.clone();
    let entry = ndlog::index::HEADER_LEN + 40 * ndlog::index::ENTRY_LEN;
    bad[entry + 3] ^= 0x10;
    std::fs::write(idx(&path), &bad).unwrap();
    assert_eq!(run(&["index", "--check", log], b"").status.code(), Some(3));
    let out = run(&["index", log], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("up to date"), "{text}");
    assert!(text.contains("rebuilt") && text.contains("entry 40"), "{text}");
    assert_eq!(run(&["index", "--check", log], b"").status.code(), Some(0));
    assert_eq!(std::fs::read(idx(&path)).unwrap(), good, "rebuilt as it was written");
    // An index that agrees is caught up and left alone.
    let out = run(&["index", log], b"");
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
}

/// `ndlog index` says what the writer repaired without a word: an index that was missing, built
/// for another log or not an index at all was rebuilt, not "up to date" (it said so of each).
#[test]
fn cli_index_says_it_rebuilt_a_missing_foreign_or_garbage_index() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let other = dir.path().join("other.ndjson");
    append(&path, 40, true);
    append(&other, 40, true);
    let log = path.to_str().unwrap();
    for why in ["it was missing", "built for another log", "bad index header"] {
        match why {
            "it was missing" => std::fs::remove_file(idx(&path)).unwrap(),
            "built for another log" => drop(std::fs::copy(idx(&other), idx(&path)).unwrap()),
            _ => std::fs::write(idx(&path), [7u8; 64]).unwrap(),
        }
        let out = run(&["index", log], b"");
        assert!(out.status.success(), "{why}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("rebuilt (") && text.contains(why), "{why}: {text}");
        assert_eq!(run(&["index", "--check", log], b"").status.code(), Some(0), "{why}");
        let out = run(&["index", log], b"");
        assert!(stdout(&out).contains("up to date"), "{why}, then: {}", stdout(&out));
    }
}

#[test]
fn cli_get_index_and_history() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let input: String =
        (0..300).map(|i| format!("{{\"user\":\"u{}\",\"v\":{i}}}\n", i % 7)).collect();
    // (One write a record: damage to a record of a write of several that no sync covered, as
    // in the copy below, which no watermark names, takes the whole write, FORMAT.md section 4;
    // the damage below is meant to cost its record alone.)
    let out = run(&["append", path.to_str().unwrap(), "--durability", "always"], input.as_bytes());
    assert!(out.status.success());
    let log = path.to_str().unwrap();
    let out = run(&["get", log, "123", "--data"], b"");
    assert_eq!(stdout(&out), "{\"user\":\"u3\",\"v\":122}\n");
    let out = run(&["get", log, "301"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("no record with seq 301 (it holds seqs 1..=300)"),
        "{}",
        stderr(&out)
    );
    // A seq inside the range whose line is damaged is not said to be held.
    let damaged = dir.path().join("damaged.ndjson");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = independent_parse(&bytes)[149].offset + 20;
    bytes[at] ^= 0x01;
    std::fs::write(&damaged, &bytes).unwrap();
    let out = run(&["get", damaged.to_str().unwrap(), "150"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("it holds seqs 1..=300 but not this one")
            && stderr(&out).contains("`ndlog verify` lists damage"),
        "{}",
        stderr(&out)
    );
    let out = run(&["history", log, "--key", "/user", "--entity", "u3", "--data"], b"");
    let versions: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(versions.len(), 43);
    assert!(versions.iter().all(|v| v.starts_with("{\"user\":\"u3\"")));
    let ts_of_100 = independent_parse(&std::fs::read(&path).unwrap())[99].ts;
    let out = run(
        &[
            "history",
            log,
            "--key",
            "/user",
            "--entity",
            "u1",
            "--at",
            &ts_of_100.to_string(),
            "--data",
        ],
        b"",
    );
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["user"], "u1");
    let out = run(&["history", log, "--key", "/nobody", "--entity", "x"], b"");
    assert_eq!(out.status.code(), Some(4));
    let out = run(&["history", log, "--key", "user", "--entity", "x"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("must be empty or start with '/'"));
    let out = run(&["index", log], b"");
    assert!(out.status.success() && stdout(&out).contains("up to date"), "{}", stdout(&out));
}

#[derive(Clone, Debug)]
enum Op {
    Append(u16),
    AppendWithoutIndex(u16),
    TruncateIndex(u16),
    GarbleIndex(u16, u8),
    DeleteIndex,
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u16..300).prop_map(Op::Append),
        2 => (1u16..300).prop_map(Op::AppendWithoutIndex),
        1 => any::<u16>().prop_map(Op::TruncateIndex),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(a, b)| Op::GarbleIndex(a, b)),
        1 => Just(Op::DeleteIndex),
        2 => Just(Op::Check),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Random appends, crashes between a log write and its index write, truncated, garbled and
    /// deleted index files: every get and time seek agrees with a linear scan.
    #[test]
    fn lookups_agree_with_a_scan_whatever_happens_to_the_index(ops in prop::collection::vec(op(), 1..12)) {
        let dir = tempdir();
        let path = dir.path().join("p.ndjson");
        append(&path, 1, true);
        for op in ops {
            let index = idx(&path);
            match op {
                Op::Append(n) => append(&path, u64::from(n), true),
                Op::AppendWithoutIndex(n) => append(&path, u64::from(n), false),
                Op::TruncateIndex(at) => if let Ok(m) = std::fs::metadata(&index) {
                    let f = std::fs::OpenOptions::new().write(true).open(&index).unwrap();
                    f.set_len(u64::from(at) % (m.len() + 1)).unwrap();
                },
                Op::GarbleIndex(at, bits) => match std::fs::read(&index) {
                    Ok(mut b) if !b.is_empty() => {
                        let i = usize::from(at) % b.len();
                        b[i] ^= bits.max(1);
                        std::fs::write(&index, b).unwrap();
                    }
                    _ => {}
                },
                Op::DeleteIndex => { let _ = std::fs::remove_file(&index); }
                Op::Check => assert_lookups_match_a_scan(&path),
            }
        }
        assert_lookups_match_a_scan(&path);
    }
}

/// A writer whose index append was cut short (ENOSPC half way through an entry) repairs the
/// index at its next catch-up instead of appending whole entries after the torn one; so does
/// an exclusive writer, which trusts its cached tail and index state and must drop both after
/// a failed write. Every op of the first phase fails in turn, the log's writes included.
#[test]
fn a_short_index_write_is_repaired_by_the_same_writer() {
    use ndlog::sim::{Fault, SimFs};
    const LOG: &str = "/data/log.ndjson";
    const IDX: &str = "/data/log.ndjson.idx";
    let run = |exclusive: bool, fault_at: Option<u64>| {
        let fs = SimFs::new(3);
        fs.put("/data/.keep", b"");
        let writer = Options::new()
            .durability(Durability::Never)
            .exclusive(exclusive)
            .index_stride(4)
            .open_in(fs.clone(), LOG)
            .unwrap();
        let start = fs.ops();
        if let Some(n) = fault_at {
            fs.fail_at(start + n, Fault::ShortWrite, false);
        }
        // Faults in this phase may fail an append; what matters is what the writer does next.
        for k in 0..8 {
            let _ = writer.append_raw(format!(r#"{{"i":{k}}}"#).as_bytes());
        }
        let phase = fs.ops() - start;
        fs.heal();
        for k in 8..40 {
            writer.append_raw(format!(r#"{{"i":{k}}}"#).as_bytes()).unwrap();
        }
        (fs, phase)
    };
    for exclusive in [false, true] {
        let (_, ops) = run(exclusive, None);
        for n in 1..=ops {
            let at = format!("short write at op {n} (exclusive: {exclusive})");
            let (fs, _) = run(exclusive, Some(n));
            let log = fs.contents(LOG).unwrap();
            let mut reader = Reader::new(log);
            let late: Vec<String> = reader
                .records()
                .map(|r| String::from_utf8(r.data.to_vec()).unwrap())
                .skip_while(|d| d != r#"{"i":8}"#)
                .collect();
            let want: Vec<String> = (8..40).map(|k| format!(r#"{{"i":{k}}}"#)).collect();
            assert_eq!(late, want, "{at}: the appends after the fault");
            let seqs: Vec<u64> = reader.records().map(|r| r.seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{at}: seqs out of order: {seqs:?}");
            let last = *seqs.last().unwrap();
            reader
                .attach_index(fs.contents(IDX).unwrap())
                .unwrap_or_else(|p| panic!("{at}: index not usable: {p:?}"));
            let covered = reader.index().and_then(|i| i.last()).map_or(0, |e| e.seq);
            assert!(last - covered < 4, "{at}: index ends at {covered} of {last}");
        }
    }
}

#[test]
fn check_says_what_is_at_an_index_path_that_holds_no_index() {
    // A FIFO or a directory at LOG.idx is no index, but `ndlog index LOG` cannot build one
    // over it: --check said the index was missing and that `ndlog index` builds it.
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let idx = dir.path().join("events.ndjson.idx");
    let _ = std::fs::remove_file(&idx);
    let log_s = log.to_str().unwrap();
    for (what, plant) in [("a FIFO", true), ("a directory", false)] {
        match plant {
            true => {
                assert!(std::process::Command::new("mkfifo").arg(&idx).status().unwrap().success())
            }
            false => std::fs::create_dir(&idx).unwrap(),
        }
        let out = run(&["index", "--check", log_s], b"");
        assert_eq!(out.status.code(), Some(4), "no index to check");
        let err = stderr(&out);
        assert!(err.contains(&format!("{what} is at its path")), "{err}");
        assert!(err.contains("remove it"), "{err}");
        assert!(!run(&["index", log_s], b"").status.success(), "{what}: cannot be indexed over");
        match plant {
            true => std::fs::remove_file(&idx).unwrap(),
            false => std::fs::remove_dir(&idx).unwrap(),
        }
    }
    // Removed, the advice holds.
    assert!(run(&["index", log_s], b"").status.success());
    assert_eq!(run(&["index", "--check", log_s], b"").status.code(), Some(0));
}
