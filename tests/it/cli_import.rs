//! `ndlog append` and `ndlog import` in bounded memory: a huge line is refused without being
//! read, and an import streams its input (twice: check, then write) instead of holding it,
//! while staying all or nothing. Also the bound on an imported ts.

use crate::util;

use std::io::{BufWriter, Write};
use std::process::Child;
use std::time::{Duration, Instant};

use ndlog::{ErrorKind, Options};
use util::*;

/// The last millisecond of the year 9999.
const MAX_TS: u64 = 253_402_300_799_999;

fn record(seq: u64, ts: u64, data: &str) -> Vec<u8> {
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, seq, ts, data.as_bytes());
    line
}

/// Waits for the child, sampling its peak resident memory (VmHWM) as it runs; returns the
/// largest seen, in bytes.
fn wait_sampling_peak(child: &mut Child) -> u64 {
    let mut peak = 0;
    loop {
        if let Some(bytes) = proc_status_bytes(child.id(), "VmHWM:") {
            peak = peak.max(bytes);
        }
        if child.try_wait().unwrap().is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn append_refuses_a_huge_line_as_it_passes_the_limit() {
    const HUGE: usize = 64 << 20;
    for (name, tail) in
        [("a 64 MiB line", &b"\n{\"after\":1}\n"[..]), ("a stream without newlines", b"")]
    {
        let dir = tempdir();
        let path = write_log(dir.path(), "events.ndjson", 2);
        let before = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let chunks = std::iter::once(b"{\"before\":1}\n\"".to_vec())
            .chain(std::iter::repeat_n(vec![b'x'; 1 << 20], HUGE >> 20))
            .chain(std::iter::once(tail.to_vec()));
        let args = ["append", path.to_str().unwrap(), "--max-record-size", "4096"];
        let (mut child, feeder) = spawn_fed(&args, chunks);
        let peak = wait_sampling_peak(&mut child);
        let sent = feeder.join().unwrap();
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("stdin line 2") && err.contains("--max-record-size"), "{name}: {err}");
        assert!(err.contains("4096 bytes"), "{name}: {err}");
        // The line before it was appended and acknowledged; nothing after it.
        assert_eq!(stdout(&out), "3\n", "{name}");
        let after = std::fs::read(&path).unwrap();
        assert_eq!(&after[..before.len()], &before[..], "{name}");
        assert_eq!(independent_parse(&after).len(), 3, "{name}");
        // It stopped reading at the limit: most of the line was never read.
        assert!(sent < HUGE / 2, "{name}: {sent} bytes were read before the refusal");
        assert!(peak < 48 << 20, "{name}: peak RSS {} MiB", peak >> 20);
        assert!(started.elapsed() < Duration::from_secs(20), "{name}: {:?}", started.elapsed());
    }
}

/// A plain NDJSON file of about `mib` MiB: `{"i":N,"pad":"..."}` lines.
fn plain_input(dir: &std::path::Path, mib: usize) -> (std::path::PathBuf, u64) {
    let path = dir.join("input.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    let pad = "p".repeat(200);
    let (mut written, mut lines) = (0usize, 0u64);
    while written < mib << 20 {
        let line = format!("{{\"i\":{lines},\"pad\":\"{pad}\"}}\n");
        out.write_all(line.as_bytes()).unwrap();
        written += line.len();
        lines += 1;
    }
    out.flush().unwrap();
    (path, lines)
}

#[test]
fn import_streams_its_input_in_bounded_memory() {
    let dir = tempdir();
    let (input, lines) = plain_input(dir.path(), 128);
    let log = dir.path().join("events.ndjson");
    let mut child = spawn_piped(&[
        "import",
        log.to_str().unwrap(),
        input.to_str().unwrap(),
        "--durability",
        "never",
    ]);
    let peak = wait_sampling_peak(&mut child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("imported {lines} records")), "{}", stdout(&out));
    assert!(peak < 64 << 20, "peak RSS {} MiB importing 128 MiB", peak >> 20);
    let reader = ndlog::Reader::open(&log).unwrap();
    assert_eq!(reader.records().count() as u64, lines);
    assert_eq!(
        reader.last().unwrap().data,
        format!("{{\"i\":{},\"pad\":\"{}\"}}", lines - 1, "p".repeat(200)).as_bytes()
    );
}

#[test]
fn import_from_stdin_spools_beside_the_log_and_cleans_up() {
    let dir = tempdir();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("events.ndjson");
    let input: String = (0..20_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let out =
        run(&["import", log.to_str().unwrap(), "-", "--durability", "never"], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 20000 records as new records, seq 1..=20000, from stdin"),
        "{}",
        stdout(&out)
    );
    let out = run(&["export", log.to_str().unwrap(), "--data"], b"");
    assert_eq!(stdout(&out), input);
    let left: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().contains("ndlog-import")), "{left:?}");
}

#[test]
fn import_is_all_or_nothing_across_batches() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let before = std::fs::read(&log).unwrap();
    // Three batches' worth of good lines, then a bad one.
    let mut input: String = (0..20_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    input.push_str("{\"bad\":\n");
    let path = dir.path().join("input.jsonl");
    std::fs::write(&path, &input).unwrap();
    let out = run(&["import", log.to_str().unwrap(), path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 20001") && stderr(&out).contains("nothing was imported"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // A line past --max-record-size is refused the same way.
    let big = format!("{{\"a\":1}}\n{{\"pad\":\"{}\"}}\n", "x".repeat(5000));
    std::fs::write(&path, big).unwrap();
    let out = run(
        &["import", log.to_str().unwrap(), path.to_str().unwrap(), "--max-record-size", "4KiB"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("--max-record-size"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // Verbatim: records out of order with the log's end are refused before any is written,
    // also when the input spans several batches.
    let mut records = Vec::new();
    for seq in 2..20_000 {
        records.extend(record(seq, 1_763_683_200_000 + seq, "1"));
    }
    std::fs::write(&path, &records).unwrap();
    let out = run(&["import", log.to_str().unwrap(), path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 1") && stderr(&out).contains("nothing was imported"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&log).unwrap(), before);
}

#[test]
fn an_imported_ts_past_the_year_9999_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let writer = Options::new().open(&path).unwrap();
    let lines = [record(1, 1000, "1"), record(2, MAX_TS + 1, "2")];
    let lines: Vec<&[u8]> = lines.iter().map(|l| l.trim_ascii_end()).collect();
    let err = writer.import_records(&lines).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPayload { index: Some(1), .. }), "{err}");
    assert!(err.to_string().contains("past the year 9999"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    // The CLI refuses it too, naming the line, before anything is written.
    let input = dir.path().join("future.ndjson");
    std::fs::write(&input, [record(1, 1000, "1"), record(2, u64::MAX, "2")].concat()).unwrap();
    let out = run(&["import", path.to_str().unwrap(), input.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("past the year 9999"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    // The bound itself is accepted, and an append after it inherits a ts within the bound.
    let last = record(1, MAX_TS, "1");
    let ack = writer.import_records(&[last.trim_ascii_end()]).unwrap();
    assert_eq!(ack.last.map(|a| a.ts), Some(MAX_TS));
    let next = writer.append_raw(b"2").unwrap();
    assert_eq!(next.ts, MAX_TS, "ts never decreases, and never passes the bound");
    let out = run(&["stats", path.to_str().unwrap()], b"");
    assert!(stdout(&out).contains("9999-12-31T23:59:59.999Z"), "{}", stdout(&out));
}

#[test]
fn an_append_of_the_last_seq_after_an_import_is_acknowledged_without_a_panic() {
    // A verbatim import may bring a seq near the end of u64. Failed on d50e891: `ndlog append`
    // wrote seq 18446744073709551615, then panicked (exit 101) counting its acknowledgement
    // past it, before printing the seq; a segmented log panicked before it wrote.
    let dir = tempdir();
    let path = dir.path().join("events.ndjson");
    let input = dir.path().join("legacy.ndjson");
    std::fs::write(&input, record(u64::MAX - 1, 1000, "1")).unwrap();
    let out = run(&["import", path.to_str().unwrap(), input.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["append", path.to_str().unwrap()], b"{\"a\":1}\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", u64::MAX));
    let before = std::fs::read(&path).unwrap();
    let out = run(&["append", path.to_str().unwrap()], b"{\"a\":2}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("seq space is exhausted"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");
    // A segmented log due to roll after the last seq: refused, without a new segment.
    let segmented = dir.path().join("segmented");
    let seg = segmented.to_str().unwrap();
    let out = run(&["create", seg, "--segment-records", "1", "--segment-bytes", "4MiB"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(&input, record(u64::MAX, 1000, "1")).unwrap();
    let out = run(&["import", seg, input.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = |dir| {
        let mut names = names_where(dir, |_| true);
        names.sort();
        names
    };
    let before = files(&segmented);
    let out = run(&["append", seg], b"{\"a\":1}\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("seq space is exhausted"), "{}", stderr(&out));
    assert_eq!(files(&segmented), before);
    // In the library, a batch's seqs and acknowledgements reach the last seq.
    let other = dir.path().join("other.ndjson");
    let writer = Options::new().open(&other).unwrap();
    writer.import_records(&[record(u64::MAX - 2, 1000, "1").trim_ascii_end()]).unwrap();
    let ack = writer.append_raw_batch(&[b"2", b"3"]).unwrap();
    assert_eq!(ack.seqs().collect::<Vec<_>>(), [u64::MAX - 1, u64::MAX]);
    assert_eq!(ack.acks().map(|a| a.seq).collect::<Vec<_>>(), [u64::MAX - 1, u64::MAX]);
}

#[test]
fn a_damaged_copy_of_a_log_is_refused_pointing_to_export() {
    // Failed on d50e891: the refusal ("line 2: not an ndlog record: crc mismatch") did not say
    // how to import what is intact.
    let dir = tempdir();
    let copy = write_log(dir.path(), "copy.ndjson", 3);
    let mut bytes = std::fs::read(&copy).unwrap();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let at = second + bytes[second..].windows(7).position(|w| w == b"\"data\":").unwrap() + 8;
    bytes[at] ^= 1;
    std::fs::write(&copy, &bytes).unwrap();
    let log = dir.path().join("events.ndjson");
    let (log_s, copy_s) = (log.to_str().unwrap(), copy.to_str().unwrap());
    let out = run(&["import", log_s, copy_s], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains("crc mismatch"), "{err}");
    assert!(err.contains("`ndlog export` of it writes its verified records"), "{err}");
    assert!(!log.exists());
    // As it says: the export imports verbatim.
    let clean = dir.path().join("clean.ndjson");
    let out = run(&["export", copy_s, "-o", clean.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["import", log_s, clean.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seqs(&std::fs::read(&log).unwrap()), [1, 3]);
    // A damaged first line makes it no less a log: it was taken for plain NDJSON, and every
    // record imported whole as the payload of a new one (exit 0).
    let first = dir.path().join("first.ndjson");
    let mut bytes = std::fs::read(&clean).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&first, &bytes).unwrap();
    let other = dir.path().join("other.ndjson");
    let out = run(&["import", other.to_str().unwrap(), first.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 1") && stderr(&out).contains("ndlog export"));
    assert!(!other.exists());
}

#[test]
fn an_import_that_fails_as_it_writes_says_how_far_it_got() {
    // The write of the fourth batch fails (the file size limit, as a full disk would): the
    // batches before it are in the log. Failed on d50e891: only "write failed: only N of M
    // bytes written", and nothing about the records already imported.
    let dir = tempdir();
    let input = dir.path().join("in.ndjson");
    let lines: String = (0..40_000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    std::fs::write(&input, lines).unwrap();
    let log = dir.path().join("events.ndjson");
    let script = "trap '' XFSZ; ulimit -f 2000; exec \"$0\" import \"$1\" \"$2\"";
    let out = std::process::Command::new("sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_ndlog"), log.to_str().unwrap()])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let said = err.split("the import stopped after ").nth(1).expect(&err);
    let before: usize = said.split(' ').next().unwrap().parse().unwrap();
    assert!(said.starts_with(&format!("{before} records were imported")), "{err}");
    assert!(before > 0 && before.is_multiple_of(8192), "whole batches: {err}");
    assert!(err.contains("write failed") && err.contains("ndlog stats"), "{err}");
    let imported = seqs(&std::fs::read(&log).unwrap());
    assert!(imported.len() >= before, "{} < {before}", imported.len());
}

/// Spawns `ndlog ARGS` (stdout and stderr piped) with a thread writing `chunks` to its stdin
/// until they end or ndlog closes it; the thread returns how many bytes got into the pipe.
fn spawn_fed(
    args: &[&str],
    chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> (std::process::Child, std::thread::JoinHandle<usize>) {
    let mut child = spawn_piped(args);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut sent = 0;
        for chunk in chunks {
            match stdin.write_all(&chunk) {
                Ok(()) => sent += chunk.len(),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                Err(e) => panic!("{e}"),
            }
        }
        sent
    });
    (child, feeder)
}

/// Runs `ndlog import LOG -` fed by a thread that writes up to `total` bytes of `byte` without
/// a newline; returns the output and how many bytes the thread got into the pipe.
fn import_endless_line(
    log: &std::path::Path,
    extra: &[&str],
    byte: u8,
    total: usize,
) -> (std::process::Output, usize, Duration) {
    let started = Instant::now();
    let args = [&["import", log.to_str().unwrap(), "-"][..], extra].concat();
    let (child, feeder) = spawn_fed(&args, std::iter::repeat_n(vec![byte; 1 << 20], total >> 20));
    let out = child.wait_with_output().unwrap();
    let sent = feeder.join().unwrap();
    (out, sent, started.elapsed())
}

/// The names in `dir` that are import's temporary copies.
fn import_copies(dir: &std::path::Path) -> Vec<String> {
    names_where(dir, |n| n.contains("ndlog-import"))
}

#[test]
fn import_of_an_endless_line_on_stdin_stops_at_the_limit_and_leaves_no_copy() {
    const TOTAL: usize = 300 << 20;
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 2);
    let before = std::fs::read(&log).unwrap();
    // As `cat /dev/zero | ndlog import LOG -`, then a payload limit given, then a line of
    // spaces and then content, with the format given.
    let cases: [(&[&str], u8, &[&str]); 3] = [
        (&[], 0, &["1048576 bytes"]),
        (&["--max-record-size", "64KiB"], b'x', &["65536 bytes"]),
        (
            &["--format", "ndjson", "--max-record-size", "4096"],
            b'7',
            &["maximum record size of 4096 bytes"],
        ),
    ];
    for (extra, byte, says) in cases {
        let (out, sent, took) = import_endless_line(&log, extra, byte, TOTAL);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains("stdin: line 1: longer than"), "{extra:?}: {err}");
        assert!(says.iter().all(|s| err.contains(s)), "{extra:?} should say {says:?}: {err}");
        assert!(err.contains("--max-record-size"), "{extra:?}: {err}");
        assert!(!err.contains("268435"), "{extra:?}: the limit in force, not the largest: {err}");
        assert!(err.contains("nothing was imported"), "{extra:?}: {err}");
        // It stopped reading at the limit: the copy beside the log never held the line.
        assert!(sent < 32 << 20, "{extra:?}: {} MiB were read before the refusal", sent >> 20);
        assert!(took < Duration::from_secs(20), "{extra:?}: {took:?}");
        assert_eq!(import_copies(dir.path()), Vec::<String>::new(), "{extra:?}");
        assert_eq!(std::fs::read(&log).unwrap(), before, "{extra:?}");
    }
    // The line number is the line's, blank lines counted; good lines before it are not
    // imported either.
    let input = b"{\"a\":1}\n\n   \n{\"b\":\"".to_vec();
    let mut huge = input.clone();
    huge.resize(input.len() + (8 << 20), b'y');
    let out = run(&["import", log.to_str().unwrap(), "-", "--max-record-size", "1KiB"], &huge);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stdin: line 4: longer than the maximum record size of 1024 bytes"),
        "{err}"
    );
    assert_eq!(import_copies(dir.path()), Vec::<String>::new());
    assert_eq!(std::fs::read(&log).unwrap(), before);
    // What the copy holds is imported as the input says: trimmed lines, numbers kept.
    let input = b"  {\"a\":1}  \r\n\n\t\n[2]\n{\"bad\":\n";
    let out = run(&["import", log.to_str().unwrap(), "-"], input);
    assert!(stderr(&out).contains("stdin: line 5"), "{}", stderr(&out));
    let out = run(&["import", log.to_str().unwrap(), "-"], &input[..input.len() - 8]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["export", log.to_str().unwrap(), "--data"], b"");
    assert!(stdout(&out).ends_with("{\"a\":1}\n[2]\n"), "{}", stdout(&out));
}

#[test]
fn import_of_a_huge_line_in_a_file_holds_no_more_than_the_limit() {
    // 300 MB of NULs without a newline (a sparse file: no disk is used).
    let dir = tempdir();
    let input = dir.path().join("zeros.bin");
    std::fs::File::create(&input).unwrap().set_len(300 << 20).unwrap();
    let log = dir.path().join("events.ndjson");
    let started = Instant::now();
    let mut child = spawn_piped(&["import", log.to_str().unwrap(), input.to_str().unwrap()]);
    let peak = wait_sampling_peak(&mut child);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let name = format!("{}: line 1: longer than", input.display());
    assert!(err.contains(&name) && err.contains("1048576 bytes"), "{err}");
    assert!(!err.contains("268435"), "the limit in force, not the largest: {err}");
    assert!(peak < 48 << 20, "peak RSS {} MiB", peak >> 20);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(!log.exists(), "nothing was written");
}

#[test]
fn import_refuses_a_directory_as_its_input_naming_it() {
    let dir = tempdir();
    let input = dir.path().join("inputs");
    std::fs::create_dir(&input).unwrap();
    let log = dir.path().join("events.ndjson");
    let out = run(&["import", log.to_str().unwrap(), input.to_str().unwrap()], b"");
    let err = stderr(&out);
    // As every command given a directory where it needs a file (`append DIR`,
    // `verify --checkpoint DIR`): an error, exit 1, naming it.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}: is a directory", input.display())), "{err}");
    assert!(err.contains("ndlog export"), "says what to do with a segmented log: {err}");
    assert!(!err.contains("temporary file"), "{err}");
    assert!(!log.exists(), "nothing was written");
    assert_eq!(import_copies(dir.path()), Vec::<String>::new());
}

/// A verbatim import reads what a reader of its input reads: the records up to the last one not
/// marked to continue whose write is whole. A write cut short, or one with a blank line between
/// two of its records (a power loss kept a later page of it, not an earlier one), is left out,
/// with a note on stderr; a blank line before a later write's records is not. Every way of
/// cutting the input at a line and blanking one line before the cut, checked against
/// `Reader::open` of the input.
#[test]
fn import_leaves_out_what_readers_of_its_input_leave_out() {
    use ndlog::format::{Marks, encode_marked};
    let dir = tempdir();
    // Writes: 1 alone, 2..=4 together, 5 alone, 6..=7 together.
    let writes: [&[u64]; 4] = [&[1], &[2, 3, 4], &[5], &[6, 7]];
    let mut lines = Vec::new();
    for write in writes {
        for (i, &seq) in write.iter().enumerate() {
            let mut line = Vec::new();
            let data = format!(r#"{{"n":{seq}}}"#);
            let marks = Marks::of(i, 0, write.len() - 1);
            encode_marked(&mut line, seq, 1_763_683_200_000 + seq, data.as_bytes(), marks);
            lines.push(line);
        }
    }
    let input = dir.path().join("input.ndjson");
    let mut runs = 0;
    let mut left_out_said = 0;
    for cut in 1..=lines.len() {
        for blank in (0..cut).map(Some).chain([None]) {
            let bytes: Vec<u8> = (0..cut)
                .flat_map(|i| if Some(i) == blank { b"\n".to_vec() } else { lines[i].clone() })
                .collect();
            std::fs::write(&input, &bytes).unwrap();
            let expected: Vec<u64> =
                ndlog::Reader::open(&input).unwrap().records().map(|r| r.seq).collect();
            let log = dir.path().join(format!("log-{cut}-{blank:?}.ndjson"));
            let out = run(&["import", log.to_str().unwrap(), input.to_str().unwrap()], b"");
            let label = format!("cut after {cut} lines, line {blank:?} blank: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(0), "{label}");
            let imported: Vec<u64> = match log.exists() {
                true => ndlog::Reader::open(&log).unwrap().records().map(|r| r.seq).collect(),
                false => Vec::new(),
            };
            assert_eq!(imported, expected, "{label}");
            let written = (0..cut).filter(|&i| Some(i) != blank).count();
            let says = stderr(&out).contains("leaving out the last");
            assert_eq!(says, imported.len() < written, "{label}");
            left_out_said += u64::from(says);
            runs += 1;
        }
    }
    assert!(left_out_said >= 10, "{left_out_said} of {runs} inputs end in an unfinished write");

    // The review's case, from standard input: 1, then a write of 2 and 3 with a hole.
    let mut bytes = lines[0].clone();
    bytes.extend(&lines[1]);
    bytes.extend(b"\n");
    bytes.extend(&lines[3]);
    let log = dir.path().join("stdin.ndjson");
    let out = run(&["import", log.to_str().unwrap(), "-"], &bytes);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let imported: Vec<u64> = ndlog::Reader::open(&log).unwrap().records().map(|r| r.seq).collect();
    assert_eq!(imported, [1]);
    assert!(stderr(&out).contains("leaving out the last 2 records"), "{}", stderr(&out));
}

/// A write of the input longer than four batches (here, in a log of 2 MiB segments, 4 MiB) is
/// imported as several writes, and the import says so: each of them is all or nothing, the
/// whole is not.
#[test]
fn import_says_when_it_splits_a_long_write() {
    use ndlog::format::{Marks, encode_marked};
    let dir = tempdir();
    let log = dir.path().join("seg");
    let out = run(&["create", "--segment-bytes", "2MiB", log.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let n = 50_000;
    let mut bytes = Vec::new();
    for i in 0..n {
        let data = format!(r#"{{"i":{i},"pad":"{}"}}"#, "y".repeat(60));
        let marks = Marks::of(i, 0, n - 1);
        encode_marked(&mut bytes, i as u64 + 1, 1_763_683_200_000, data.as_bytes(), marks);
    }
    assert!(bytes.len() > 4 << 20);
    let input = dir.path().join("input.ndjson");
    std::fs::write(&input, &bytes).unwrap();
    let out = run(&["import", log.to_str().unwrap(), input.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("is imported as several writes"), "{}", stderr(&out));
    let out = run(&["verify", log.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("valid records:  50000"), "{}", stdout(&out));
}

/// Random inputs against `Reader::open`: writes of one to four records, a fifth of the records
/// dropped (as a compaction drops them), blank lines put in or put for records, a cut at a line
/// boundary, and sometimes the last newline taken off. A review found two shapes the
/// exhaustive test above misses (a blank line before a middle record whose write's first was
/// dropped, then a record alone; a last record without its newline).
#[test]
fn random_imports_read_what_readers_of_their_input_read() {
    use ndlog::format::{Marks, encode_marked};
    let dir = tempdir();
    let input = dir.path().join("input.ndjson");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut below = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for round in 0..200 {
        let mut lines: Vec<Option<Vec<u8>>> = Vec::new();
        let mut seq = 1;
        for _ in 0..1 + below(5) {
            let n = 1 + below(4) as usize;
            for i in 0..n {
                let mut line = Vec::new();
                let data = format!(r#"{{"n":{seq}}}"#);
                let marks = Marks::of(i, 0, n - 1);
                encode_marked(&mut line, seq, 1_763_683_200_000 + seq, data.as_bytes(), marks);
                seq += 1;
                if below(5) > 0 {
                    lines.push(Some(line));
                }
            }
        }
        let mut shaped = Vec::new();
        for line in lines {
            while below(6) == 0 {
                shaped.push(None);
            }
            shaped.push(if below(7) == 0 { None } else { line });
        }
        if below(2) == 0 {
            shaped.truncate(below(shaped.len() as u64 + 1) as usize);
        }
        let mut bytes: Vec<u8> =
            shaped.iter().flat_map(|l| l.clone().unwrap_or_else(|| b"\n".to_vec())).collect();
        if bytes.last() == Some(&b'\n') && below(4) == 0 {
            bytes.pop();
        }
        std::fs::write(&input, &bytes).unwrap();
        let expected: Vec<u64> =
            ndlog::Reader::open(&input).unwrap().records().map(|r| r.seq).collect();
        let log = dir.path().join(format!("log-{round}.ndjson"));
        let out = run(&["import", log.to_str().unwrap(), input.to_str().unwrap()], b"");
        let shown = String::from_utf8_lossy(&bytes);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}\n{shown}", stderr(&out));
        let imported: Vec<u64> = match log.exists() {
            true => ndlog::Reader::open(&log).unwrap().records().map(|r| r.seq).collect(),
            false => Vec::new(),
        };
        assert_eq!(imported, expected, "round {round}: {}\n{shown}", stderr(&out));
    }
}
