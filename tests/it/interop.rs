//! The log is plain NDJSON: jq and DuckDB's `read_ndjson` (the Python `duckdb` package) read a
//! log written by ndlog — with a torn tail and a damaged line in it — and every valid record
//! comes back with the same seq, ts and data as `ndlog cat`. The one-liners are the README's.

use crate::util;

use std::process::Command;

use serde_json::Value;
use util::*;

/// (seq, ts, data) of each row, as a tool printed them one JSON object per line.
fn rows(text: &str) -> Vec<(u64, u64, Value)> {
    let mut rows: Vec<(u64, u64, Value)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let data = match &v["data"] {
                // DuckDB hands a JSON column back as text.
                Value::String(s) if v["data_is_text"] == true => serde_json::from_str(s).unwrap(),
                other => other.clone(),
            };
            (v["seq"].as_u64().unwrap(), v["ts"].as_u64().unwrap(), data)
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

fn have(program: &str, args: &[&str]) -> bool {
    let found = Command::new(program).args(args).output().is_ok_and(|o| o.status.success());
    if !found {
        // CI installs the tools (.ci/run); only a developer machine may lack them.
        assert!(std::env::var_os("CI").is_none(), "{program} is missing: .ci/run must install it");
        eprintln!("interop: {program} not installed here; skipping");
    }
    found
}

fn sample_log(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("events.ndjson");
    let payloads = [
        r#"{"user":"u1","action":"login","n":1}"#,
        r#"{"user":"ü\"x\\y","tags":["a","b"],"nested":{"deep":[1,2.5,null,true]}}"#,
        r#"42"#,
        r#""a string with \u0000 and \n escapes""#,
        r#"null"#,
        r#"[1,{"a":{}}]"#,
        // Integers up to 2^53: jq (before 1.7) holds numbers as doubles.
        r#"{"big":9007199254740991,"neg":-3.25e-7}"#,
        r#"{"user":"u2","action":"logout","n":2}"#,
    ];
    let out = run(&["append", path.to_str().unwrap()], (payloads.join("\n") + "\n").as_bytes());
    assert!(out.status.success());
    // Damage: NULs over the middle of the third line, and a write cut short at the end.
    let mut bytes = std::fs::read(&path).unwrap();
    let third = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
    bytes[third + 10..third + 16].fill(0);
    bytes.extend_from_slice(br#"{"seq":9,"ts":1763683200123,"data":{"us"#);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn ndlog_rows(path: &std::path::Path) -> Vec<(u64, u64, Value)> {
    let out = run(&["cat", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    let rows = rows(&stdout(&out));
    assert_eq!(rows.len(), 7, "ndlog skips the damaged line and the torn tail");
    rows
}

#[test]
fn jq_reads_every_valid_record() {
    if !have("jq", &["--version"]) {
        return;
    }
    let dir = tempdir();
    let path = sample_log(dir.path());
    // The README's one-liner: parse each line on its own, skip what is not JSON.
    let out = Command::new("jq")
        .args(["-cR", "fromjson? | select(.seq) | {seq, ts, data}"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&String::from_utf8(out.stdout).unwrap()), ndlog_rows(&path));
}

#[test]
fn duckdb_reads_every_valid_record() {
    if !have("python3", &["-c", "import duckdb"]) {
        return;
    }
    let dir = tempdir();
    let path = sample_log(dir.path());
    // The README's query: declare the columns, skip lines that are not JSON objects.
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(f"""
    SELECT seq, ts, data FROM read_ndjson('{sys.argv[1]}',
        columns = {{seq: 'UBIGINT', ts: 'UBIGINT', data: 'JSON', crc: 'VARCHAR'}},
        ignore_errors = true)
    WHERE seq IS NOT NULL
""").fetchall()
for seq, ts, data in rows:
    print(json.dumps({"seq": seq, "ts": ts, "data": data, "data_is_text": True}))
"#;
    let out = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&String::from_utf8(out.stdout).unwrap()), ndlog_rows(&path));
}

#[test]
fn an_export_is_clean_ndjson_that_round_trips() {
    let dir = tempdir();
    let path = sample_log(dir.path());
    let export = dir.path().join("export.ndjson");
    let out =
        run(&["export", path.to_str().unwrap(), "--data", "-o", export.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    // Every line of the export is one JSON value: the payloads, nothing else.
    let text = std::fs::read_to_string(&export).unwrap();
    let values: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(values, ndlog_rows(&path).into_iter().map(|r| r.2).collect::<Vec<_>>());
    // Importing the export and exporting again gives the same bytes.
    let again = dir.path().join("again.ndjson");
    assert!(
        run(&["import", again.to_str().unwrap(), export.to_str().unwrap()], b"").status.success()
    );
    let out = run(&["export", again.to_str().unwrap(), "--data"], b"");
    assert_eq!(stdout(&out), text);
    // And a verbatim import of whole records keeps seq and ts, byte for byte.
    let records = dir.path().join("records.ndjson");
    assert!(
        run(&["export", path.to_str().unwrap(), "-o", records.to_str().unwrap()], b"")
            .status
            .success()
    );
    let copy = dir.path().join("copy.ndjson");
    let out = run(&["import", copy.to_str().unwrap(), records.to_str().unwrap()], b"");
    assert!(stdout(&out).contains("verbatim"), "{}", stdout(&out));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&records).unwrap());
    // Out-of-order input is refused before anything is written, naming the line.
    let out = run(&["import", copy.to_str().unwrap(), records.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 1") && stderr(&out).contains("nothing was imported"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&records).unwrap());
}

#[test]
fn after_a_crash_and_the_next_append_strict_readers_read_the_log() {
    // A writer killed mid-append leaves a torn tail; the next writer neutralises it, and the
    // log is strict NDJSON again: plain `jq .` and DuckDB without `ignore_errors` read it.
    let dir = tempdir();
    let path = dir.path().join("crashed.ndjson");
    let out = run(&["append", path.to_str().unwrap()], b"{\"n\":1}\n{\"n\":2}\n");
    assert!(out.status.success());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"seq":3,"ts":1763683200123,"da"#);
    std::fs::write(&path, bytes).unwrap();
    let out = run(&["append", path.to_str().unwrap()], b"{\"n\":3}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let want = ndlog_rows_n(&path, 3);
    if have("jq", &["--version"]) {
        let out = Command::new("jq").args(["-c", "{seq, ts, data}"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "jq: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(rows(&String::from_utf8(out.stdout).unwrap()), want);
    }
    if have("python3", &["-c", "import duckdb"]) {
        let script = r#"
import duckdb, json, sys
for seq, ts, data in duckdb.sql(f"SELECT seq, ts, data FROM read_ndjson_auto('{sys.argv[1]}')").fetchall():
    print(json.dumps({"seq": seq, "ts": ts, "data": data}))
"#;
        let out = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
        assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(rows(&String::from_utf8(out.stdout).unwrap()), want);
    }
}

fn ndlog_rows_n(path: &std::path::Path, n: usize) -> Vec<(u64, u64, Value)> {
    let out = run(&["cat", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    let rows = rows(&stdout(&out));
    assert_eq!(rows.len(), n);
    rows
}

/// A segmented log of 40 records, 7 a segment (sealed: 1..=35; active: 36..=40), with the
/// payloads of [`sample_log`], and the records of its sealed segments as `ndlog cat` gives them.
fn segmented_sample(
    dir: &std::path::Path,
    extra: &[&str],
) -> (std::path::PathBuf, Vec<(u64, u64, Value)>) {
    let payloads = [
        r#"{"user":"u1","action":"login","n":1}"#,
        r#"{"user":"ü\"x\\y","tags":["a","b"],"nested":{"deep":[1,2.5,null,true]}}"#,
        r#"42"#,
        r#""a string with \u0000 and \n escapes""#,
        r#"null"#,
        r#"[1,{"a":{}}]"#,
        r#"{"big":9007199254740991,"neg":-3.25e-7}"#,
        r#"{"user":"u2","action":"logout","n":2}"#,
    ];
    let mut args = vec!["--segment-records", "7"];
    args.extend(extra);
    let log = util::segmented::create(dir, "events", &args);
    let lines: Vec<String> = (0..40).map(|i| payloads[i % payloads.len()].to_string()).collect();
    assert_eq!(util::segmented::append(&log, &lines).len(), 40);
    let sealed = util::segmented::sealed_names(&log);
    assert_eq!(sealed.len(), 5, "{:?}", util::segmented::file_names(&log));
    // The sealed segments' last seq, as `ndlog segments` reports it.
    let text = util::segmented::ok(&["segments", "--json", log.to_str().unwrap()]);
    let last_sealed = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["sealed"] == true)
        .map(|v| v["last_seq"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(last_sealed, 35);
    let out = run(&["cat", log.to_str().unwrap(), "--to-seq", "35"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = rows(&stdout(&out));
    assert_eq!(rows.len(), 35);
    (log, rows)
}

/// Seqs in the order a tool printed them.
fn printed_seqs(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn jq_over_the_sealed_segments_agrees_with_ndlog_cat() {
    if !have("jq", &["--version"]) {
        return;
    }
    for extra in [&[][..], &["--preallocate"]] {
        let dir = tempdir();
        let (log, want) = segmented_sample(dir.path(), extra);
        // A shell glob, as a user types it: strict jq, no error skipping.
        let out = Command::new("sh")
            .args(["-c", r#"jq -c '{seq, ts, data}' "$1"/*.ndjson"#, "sh"])
            .arg(&log)
            .output()
            .unwrap();
        assert!(out.status.success(), "jq: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(printed_seqs(&text), (1..=35).collect::<Vec<_>>(), "glob order is seq order");
        assert_eq!(rows(&text), want, "{extra:?}");
    }
}

#[test]
fn duckdb_over_the_sealed_segments_agrees_with_ndlog_cat() {
    if !have("python3", &["-c", "import duckdb"]) {
        return;
    }
    // The issue's query: read_ndjson over the glob, every column declared, no error skipping.
    let script = r#"
import duckdb, json, sys
glob = sys.argv[1] + "/*.ndjson"
count = duckdb.sql(f"SELECT count(*) FROM read_ndjson('{glob}')").fetchall()[0][0]
print(json.dumps({"count": count}))
rows = duckdb.sql(f"""
    SELECT seq, ts, data FROM read_ndjson('{glob}',
        columns = {{seq: 'UBIGINT', ts: 'UBIGINT', data: 'JSON', crc: 'VARCHAR'}})
    ORDER BY seq
""").fetchall()
for seq, ts, data in rows:
    print(json.dumps({"seq": seq, "ts": ts, "data": data, "data_is_text": True}))
"#;
    for extra in [&[][..], &["--preallocate"]] {
        let dir = tempdir();
        let (log, want) = segmented_sample(dir.path(), extra);
        let out = Command::new("python3").args(["-c", script]).arg(&log).output().unwrap();
        assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let (count, body) = text.split_once('\n').unwrap();
        assert_eq!(serde_json::from_str::<Value>(count).unwrap()["count"], 35, "{extra:?}");
        assert_eq!(rows(body), want, "{extra:?}");
    }
}
