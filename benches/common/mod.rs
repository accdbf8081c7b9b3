//! What the append, scan and report benches share: the workloads (ndlog's and the raw
//! system-call loops that bound them), a recorder of the samples criterion takes, the child mode
//! that turns a bench binary into one of several writer processes, and the summary table.
//!
//! Every workload is a function of an iteration count that returns the time the iterations took,
//! so criterion (`iter_custom`) and the report's plain timer measure exactly the same code.
#![allow(dead_code)] // each bench uses a subset

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use memchr::memmem;
use ndlog::{Durability, Mapped, Options, Reader};
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Where files go

/// A fresh directory for one measurement, on the file system real logs live on: under
/// `$NDLOG_BENCH_DIR` when set, else cargo's per-target temp dir (`target/tmp`, ext4 here).
pub(crate) fn temp_dir() -> tempfile::TempDir {
    let root = std::env::var_os("NDLOG_BENCH_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&root).expect("create the bench directory");
    tempfile::Builder::new()
        .prefix("ndlog-bench-")
        .tempdir_in(root)
        .expect("create a temp dir for the bench")
}

// ---------------------------------------------------------------------------------------------
// Payloads

/// Payload sizes the append benches measure: about 100 bytes and about 1 KiB.
pub(crate) const PAYLOAD_SIZES: [(usize, &str); 2] = [(100, "100B"), (1024, "1KiB")];

/// A compact JSON object of exactly `size` bytes (at least 48).
pub(crate) fn payload(size: usize) -> Vec<u8> {
    let head: &[u8] = br#"{"user":"u7","action":"click","item":1234567,"pad":""#;
    let tail: &[u8] = br#""}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(head);
    out.resize(head.len() + pad, b'x');
    out.extend_from_slice(tail);
    out
}

/// The line ndlog writes for `payload` (seq and ts of a typical size), for the raw loops, so
/// they write the same number of bytes per record as ndlog does.
pub(crate) fn line_for(payload: &[u8]) -> Vec<u8> {
    let mut line = Vec::new();
    ndlog::format::encode(&mut line, 1_000_000, 1_763_683_200_123, payload);
    line
}

// ---------------------------------------------------------------------------------------------
// Append workloads

/// One way of appending records, ndlog's or a raw loop that bounds it. An iteration appends
/// [`Append::records_per_iter`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Append {
    /// ndlog `Durability::Always`, `append_raw`, one thread.
    Always,
    /// ndlog `Durability::Group`, `append_raw`, `threads` threads sharing one handle.
    Group { threads: usize },
    /// ndlog `Durability::Always`, `append_raw`, `procs` processes with a handle each.
    Processes { procs: usize },
    /// ndlog `Durability::Never`, `append_raw`, one thread.
    NeverRaw,
    /// ndlog `Durability::Never`, `append_raw_batch` of `batch` payloads, one thread.
    NeverBatch { batch: usize },
    /// As `NeverRaw`, with an exclusive writer (the lock held for the handle's life).
    NeverRawExclusive,
    /// As `NeverBatch`, with an exclusive writer.
    NeverBatchExclusive { batch: usize },
    /// As `NeverRaw`, through a `Vfs` that forwards every call to the real one: the file-system
    /// seam is generic, so this costs what `NeverRaw` costs.
    NeverRawForwarded,
    /// Limit: `write` of one line on an `O_APPEND` descriptor, then `fdatasync`.
    RawAppendSync,
    /// Limit: `lines` `O_APPEND` writes of one line each, then one `fdatasync`.
    RawAppendSyncEvery { lines: usize },
    /// Limit: `pwrite` of one line over a zero-filled, synced file, then `fdatasync`.
    RawOverwriteSync,
    /// Limit: `write` of one line on an `O_APPEND` descriptor, no sync.
    RawWrite,
    /// Limit: one `write` of `lines` lines on an `O_APPEND` descriptor, no sync.
    RawWriteBatch { lines: usize },
}

impl Append {
    /// The name used as the criterion benchmark id and in the tables.
    pub(crate) fn name(self) -> String {
        match self {
            Append::Always => "ndlog_always_1t".into(),
            Append::Group { threads } => format!("ndlog_group_{threads}t"),
            Append::Processes { procs } => format!("ndlog_always_{procs}proc"),
            Append::NeverRaw => "ndlog_never_append_raw".into(),
            Append::NeverBatch { batch } => format!("ndlog_never_batch{batch}"),
            Append::NeverRawExclusive => "ndlog_never_append_raw_exclusive".into(),
            Append::NeverBatchExclusive { batch } => format!("ndlog_never_batch{batch}_exclusive"),
            Append::NeverRawForwarded => "ndlog_never_append_raw_forwarded_vfs".into(),
            Append::RawAppendSync => "limit_append_fdatasync".into(),
            Append::RawAppendSyncEvery { lines } => format!("limit_append_{lines}_per_fdatasync"),
            Append::RawOverwriteSync => "limit_pwrite_fdatasync".into(),
            Append::RawWrite => "limit_write".into(),
            Append::RawWriteBatch { lines } => format!("limit_write_{lines}_lines"),
        }
    }

    /// Records appended by one iteration.
    pub(crate) fn records_per_iter(self) -> u64 {
        let n = match self {
            Append::Group { threads } => threads,
            Append::Processes { procs } => procs,
            Append::NeverBatch { batch } | Append::NeverBatchExclusive { batch } => batch,
            Append::RawAppendSyncEvery { lines } | Append::RawWriteBatch { lines } => lines,
            _ => 1,
        };
        n as u64
    }

    /// This case as a case of the report's round-robin timer.
    pub(crate) fn timed(self, payload: &[u8]) -> Timed<'_> {
        Timed {
            name: self.name(),
            units: self.records_per_iter() as f64,
            unit: Unit::Records,
            timed: Box::new(move |n| self.run(payload, n)),
        }
    }

    /// Runs `iters` iterations on a fresh file in a fresh directory and returns the time they
    /// took. Opening files, spawning threads or processes and preallocating are not timed.
    pub(crate) fn run(self, payload: &[u8], iters: u64) -> Duration {
        let dir = temp_dir();
        let path = dir.path().join("bench.ndjson");
        match self {
            Append::Always => ndlog_threads(&path, Durability::Always, 1, payload, iters),
            Append::Group { threads } => {
                ndlog_threads(&path, Durability::Group, threads, payload, iters)
            }
            Append::Processes { procs } => ndlog_processes(&path, procs, payload, iters),
            Append::NeverRaw => ndlog_threads(&path, Durability::Never, 1, payload, iters),
            Append::NeverBatch { batch } => {
                never_batch(&open_writer(&path, Durability::Never), batch, payload, iters)
            }
            Append::NeverBatchExclusive { batch } => {
                let writer =
                    Options::new().durability(Durability::Never).exclusive(true).open(&path);
                never_batch(&writer.expect("open the bench log"), batch, payload, iters)
            }
            Append::NeverRawExclusive => {
                let writer =
                    Options::new().durability(Durability::Never).exclusive(true).open(&path);
                let writer = writer.expect("open the bench log");
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(writer.append_raw(payload).expect("append_raw"));
                }
                start.elapsed()
            }
            Append::NeverRawForwarded => {
                let writer = Options::new().durability(Durability::Never).open_in(Forward, &path);
                let writer = writer.expect("open the bench log");
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(writer.append_raw(payload).expect("append_raw"));
                }
                start.elapsed()
            }
            Append::RawAppendSync => raw_append(&path, &line_for(payload), 1, iters, true),
            Append::RawAppendSyncEvery { lines } => {
                raw_append(&path, &line_for(payload), lines, iters, true)
            }
            Append::RawOverwriteSync => raw_overwrite(&path, &line_for(payload), iters),
            Append::RawWrite => raw_append(&path, &line_for(payload), 1, iters, false),
            Append::RawWriteBatch { lines } => {
                let batch = line_for(payload).repeat(lines);
                raw_append(&path, &batch, 1, iters, false)
            }
        }
    }
}

fn never_batch(writer: &ndlog::Writer, batch: usize, payload: &[u8], iters: u64) -> Duration {
    let payloads = vec![payload; batch];
    let start = Instant::now();
    for _ in 0..iters {
        black_box(writer.append_raw_batch(&payloads).expect("append_raw_batch"));
    }
    start.elapsed()
}

/// A `Vfs` that forwards every call to the real file system, to show that the seam is free.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forward;

/// A file of [`Forward`].
#[derive(Debug)]
pub(crate) struct Forwarded(ndlog::fs::StdFile);

impl ndlog::fs::Vfs for Forward {
    type File = Forwarded;
    type Map = <ndlog::fs::StdFs as ndlog::fs::Vfs>::Map;
    fn open(&self, path: &Path, how: ndlog::fs::OpenOptions) -> std::io::Result<Forwarded> {
        ndlog::fs::StdFs.open(path, how).map(Forwarded)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<ndlog::fs::Metadata> {
        ndlog::fs::StdFs.metadata(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        ndlog::fs::StdFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        ndlog::fs::StdFs.list_dir(dir)
    }
    fn map(&self, file: &Forwarded, len: u64) -> std::io::Result<Self::Map> {
        ndlog::fs::StdFs.map(&file.0, len)
    }
}

impl ndlog::fs::VfsFile for Forwarded {
    fn append(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        self.0.write_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> std::io::Result<()> {
        self.0.sync_all()
    }
    fn metadata(&self) -> std::io::Result<ndlog::fs::Metadata> {
        self.0.metadata()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn try_lock(&self) -> std::io::Result<bool> {
        self.0.try_lock()
    }
    fn unlock(&self) -> std::io::Result<()> {
        self.0.unlock()
    }
    fn set_permissions(&self, mode: u32) -> std::io::Result<()> {
        self.0.set_permissions(mode)
    }
}

/// ndlog `Always` and the raw `O_APPEND` write + `fdatasync` loop, append by append: each
/// iteration does one of each (in alternating order) on two files in one directory, timing
/// each separately. Both see the same disk at the same moment, so their ratio survives the
/// minute-to-minute drift of a shared disk. Returns (ndlog's time, the raw loop's time).
pub(crate) fn alternate_always_vs_raw(payload: &[u8], iters: u64) -> (Duration, Duration) {
    let dir = temp_dir();
    let writer = open_writer(&dir.path().join("ndlog.ndjson"), Durability::Always);
    let raw = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(dir.path().join("raw.ndjson"))
        .expect("create the raw bench file");
    let line = line_for(payload);
    let (mut ndlog, mut limit) = (Duration::ZERO, Duration::ZERO);
    for i in 0..iters {
        for turn in [i % 2, 1 - i % 2] {
            let start = Instant::now();
            if turn == 0 {
                black_box(writer.append_raw(payload).expect("append_raw"));
                ndlog += start.elapsed();
            } else {
                write_once(&raw, &line);
                raw.sync_data().expect("fdatasync");
                limit += start.elapsed();
            }
        }
    }
    (ndlog, limit)
}

/// [`alternate_always_vs_raw`] `runs` times, each about `run` long: the median rates (records/s)
/// of ndlog `Always` and of the raw loop.
pub(crate) fn alternating_rates(payload: &[u8], run: Duration, runs: usize) -> (f64, f64) {
    let mut n = 16u64;
    let calibration = alternate_always_vs_raw(payload, n);
    let per_iter = (calibration.0 + calibration.1).as_secs_f64() / n as f64;
    n = ((run.as_secs_f64() / per_iter.max(1e-9)) as u64).max(16);
    let (mut ndlog, mut limit) = (Vec::new(), Vec::new());
    for round in 1..=runs {
        let (a, b) = alternate_always_vs_raw(payload, n);
        let (a, b) = (n as f64 / a.as_secs_f64(), n as f64 / b.as_secs_f64());
        eprintln!(
            "  round {round}: ndlog Always {} / raw append+fdatasync {}, alternating",
            fmt_rate(a, Unit::Records),
            fmt_rate(b, Unit::Records)
        );
        ndlog.push(a);
        limit.push(b);
    }
    (median(ndlog), median(limit))
}

fn open_writer(path: &Path, durability: Durability) -> ndlog::Writer {
    Options::new().durability(durability).open(path).expect("open the bench log")
}

/// `threads` threads sharing one handle append `iters` payloads each.
fn ndlog_threads(
    path: &Path,
    durability: Durability,
    threads: usize,
    payload: &[u8],
    iters: u64,
) -> Duration {
    let writer = open_writer(path, durability);
    let append = || {
        for _ in 0..iters {
            black_box(writer.append_raw(payload).expect("append_raw"));
        }
    };
    if threads == 1 {
        let start = Instant::now();
        append();
        return start.elapsed();
    }
    let go = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                go.wait();
                append();
            });
        }
        go.wait();
        let start = Instant::now();
        // The scope joins every thread before it returns.
        start
    })
    .elapsed()
}

/// A raw loop: `iters` times, `per_sync` writes of `line` on an `O_APPEND` descriptor, then an
/// `fdatasync` if `sync`.
fn raw_append(path: &Path, line: &[u8], per_sync: usize, iters: u64, sync: bool) -> Duration {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .expect("create the raw bench file");
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..per_sync {
            write_once(&file, line);
        }
        if sync {
            file.sync_data().expect("fdatasync");
        }
    }
    start.elapsed()
}

/// A raw loop: `pwrite` of `line` over a zero-filled, synced file, then `fdatasync`, `iters`
/// times at consecutive offsets: what a sync costs when the file's size does not change.
fn raw_overwrite(path: &Path, line: &[u8], iters: u64) -> Duration {
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .expect("create the raw bench file");
    let total = iters * line.len() as u64;
    let zeros = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < total {
        let n = zeros.len().min((total - done) as usize);
        file.write_all_at(&zeros[..n], done).expect("preallocate");
        done += n as u64;
    }
    file.sync_all().expect("fsync the preallocated file");
    let start = Instant::now();
    for i in 0..iters {
        let n = file.write_at(line, i * line.len() as u64).expect("pwrite");
        assert_eq!(n, line.len(), "short pwrite");
        file.sync_data().expect("fdatasync");
    }
    start.elapsed()
}

/// One `write` system call holding all of `buf`.
fn write_once(mut file: &File, buf: &[u8]) {
    let n = file.write(buf).expect("write");
    assert_eq!(n, buf.len(), "short write");
}

// ---------------------------------------------------------------------------------------------
// Writer processes

/// The environment variable that turns a bench binary into a writer process.
const CHILD_ENV: &str = "NDLOG_BENCH_CHILD";

/// `procs` processes (this executable, in child mode) open the log and append `iters` payloads
/// each with `Always`; timed from the moment all are ready until all have finished.
fn ndlog_processes(path: &Path, procs: usize, payload: &[u8], iters: u64) -> Duration {
    // Create the log up front so the children only open it.
    drop(open_writer(path, Durability::Always));
    let exe = std::env::current_exe().expect("the bench executable");
    let spec = ChildSpec {
        path: path.to_path_buf(),
        payload_size: payload.len(),
        count: iters,
        durability: "always".into(),
        threads: 1,
    };
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = (0..procs)
        .map(|_| {
            let mut child = Command::new(&exe)
                .env(CHILD_ENV, spec.encode())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a writer process");
            let out = BufReader::new(child.stdout.take().expect("child stdout"));
            (child, out)
        })
        .collect();
    for (_, out) in &mut children {
        expect_line(out, "ready");
    }
    let start = Instant::now();
    for (child, _) in &mut children {
        let mut stdin = child.stdin.take().expect("child stdin");
        stdin.write_all(b"g").expect("start a writer process");
    }
    for (_, out) in &mut children {
        expect_line(out, "done");
    }
    let elapsed = start.elapsed();
    for (mut child, _) in children {
        let status = child.wait().expect("wait for a writer process");
        assert!(status.success(), "a writer process failed: {status}");
    }
    elapsed
}

fn expect_line(out: &mut impl BufRead, want: &str) {
    let mut line = String::new();
    out.read_line(&mut line).expect("read from a writer process");
    assert_eq!(line.trim_end(), want, "unexpected output from a writer process");
}

/// What a writer process does: append `count` payloads of `payload_size` bytes per thread.
#[derive(Debug)]
pub(crate) struct ChildSpec {
    pub path: PathBuf,
    pub payload_size: usize,
    pub count: u64,
    pub durability: String,
    pub threads: usize,
}

impl ChildSpec {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.path.display(),
            self.payload_size,
            self.count,
            self.durability,
            self.threads
        )
    }

    fn decode(spec: &str) -> ChildSpec {
        let f: Vec<&str> = spec.split('\t').collect();
        assert_eq!(
            f.len(),
            5,
            "{CHILD_ENV}=PATH<TAB>PAYLOAD_SIZE<TAB>COUNT<TAB>DURABILITY<TAB>THREADS"
        );
        ChildSpec {
            path: PathBuf::from(f[0]),
            payload_size: f[1].parse().expect("payload size"),
            count: f[2].parse().expect("count"),
            durability: f[3].to_string(),
            threads: f[4].parse().expect("threads"),
        }
    }
}

/// Call first thing in `main`: when `NDLOG_BENCH_CHILD` is set, acts as a writer process and
/// exits. It opens the log, prints `ready`, waits for a byte on stdin, appends, prints `done`.
///
/// Also handy on its own, to count system calls per append:
/// `echo g | NDLOG_BENCH_CHILD=$'/tmp/x.ndjson\t100\t1000\talways\t1' strace -c -f BENCH_EXE`.
pub(crate) fn run_child_if_requested() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec = ChildSpec::decode(&spec);
    let durability: Durability = spec.durability.parse().expect("durability");
    let writer = open_writer(&spec.path, durability);
    let payload = payload(spec.payload_size);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").and_then(|()| stdout.flush()).expect("stdout");
    let mut go = [0u8; 1];
    std::io::stdin().read_exact(&mut go).expect("wait for go");
    std::thread::scope(|s| {
        for _ in 0..spec.threads {
            s.spawn(|| {
                for _ in 0..spec.count {
                    writer.append_raw(&payload).expect("append_raw");
                }
            });
        }
    });
    writeln!(stdout, "done").and_then(|()| stdout.flush()).expect("stdout");
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// Scan workloads

/// Size of the generated scan log in MiB: `$NDLOG_BENCH_SCAN_MB`, default 256.
pub(crate) fn scan_log_mib() -> u64 {
    std::env::var("NDLOG_BENCH_SCAN_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// The user the history filter looks for: 1 record in 100 has it.
pub(crate) const FILTER_USER: &str = "u7";

/// A generated log, page-cached and synced, with a reader mapping it.
pub(crate) struct ScanLog {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub reader: Reader<Mapped>,
    pub bytes: u64,
    pub records: u64,
    /// `/user`, for [`library_history`].
    pub key: ndlog::JsonPointer,
}

/// An event as an application would define it.
#[derive(Debug, Deserialize)]
pub(crate) struct Event<'a> {
    pub user: &'a str,
    pub action: &'a str,
    pub item: u64,
    pub price: f64,
}

/// A whole line, for readers that parse it with serde_json instead of using ndlog.
#[derive(Debug, Deserialize)]
pub(crate) struct Line<'a> {
    pub seq: u64,
    pub ts: u64,
    #[serde(borrow)]
    pub data: Event<'a>,
    pub crc: &'a str,
}

/// Just the field the history filter needs.
#[derive(Debug, Deserialize)]
struct UserOnly<'a> {
    user: &'a str,
}

/// Writes the `i`-th event of the scan log into `out`: about 110 bytes of compact JSON.
fn event_payload(out: &mut Vec<u8>, i: u64) {
    const ACTIONS: [&str; 5] = ["login", "view", "click", "purchase", "logout"];
    let cents = (i * 7919) % 100_000;
    write!(
        out,
        r#"{{"user":"u{}","action":"{}","item":{},"price":{}.{:02},"ok":true,"tags":["web","eu"],"ref":"r{:08x}"}}"#,
        i % 100,
        ACTIONS[(i % 5) as usize],
        (i * 104_729) % 1_000_000,
        cents / 100,
        cents % 100,
        i,
    )
    .expect("write to a Vec");
}

/// Generates a log of about `mib` MiB with ndlog (`Never`, batches of 4096), syncs it so that
/// no writeback runs during the measurements, and maps it once.
pub(crate) fn make_scan_log(mib: u64) -> ScanLog {
    let dir = temp_dir();
    let path = dir.path().join("scan.ndjson");
    let writer = open_writer(&path, Durability::Never);
    let target = mib << 20;
    let (mut buf, mut ends) = (Vec::new(), Vec::new());
    let mut i = 0u64;
    let mut written = 0u64;
    while written < target {
        buf.clear();
        ends.clear();
        for _ in 0..4096 {
            event_payload(&mut buf, i);
            ends.push(buf.len());
            i += 1;
        }
        let payloads: Vec<&[u8]> = ends
            .iter()
            .scan(0, |start, &end| Some(&buf[std::mem::replace(start, end)..end]))
            .collect();
        writer.append_raw_batch(&payloads).expect("generate the scan log");
        written = std::fs::metadata(&path).expect("stat").len();
    }
    writer.sync().expect("sync the scan log");
    let reader = Reader::open(&path).expect("map the scan log");
    let bytes = reader.bytes().len() as u64;
    // Touch every page once, so every measurement sees a page-cached, mapped file.
    black_box(memchr_lines(&reader));
    let key = ndlog::JsonPointer::parse("/user").expect("a JSON pointer");
    ScanLog { _dir: dir, path, reader, bytes, records: i, key }
}

/// The scan-speed limit: count newlines over the mapped file with `memchr`.
pub(crate) fn memchr_lines(reader: &Reader<Mapped>) -> u64 {
    memchr::memchr_iter(b'\n', reader.bytes()).count() as u64
}

/// Verified scan: every line's CRC checked; sums the payload lengths.
pub(crate) fn verified_scan(reader: &Reader<Mapped>) -> u64 {
    reader.records().map(|r| r.data.len() as u64).sum()
}

/// Verified scan + `Record::deserialize` (serde_json, borrowing from the map).
pub(crate) fn scan_serde_json(reader: &Reader<Mapped>) -> u64 {
    let mut sum = 0u64;
    for r in reader.records() {
        let e: Event = r.deserialize().expect("deserialize");
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box(e.price);
    }
    sum
}

/// Verified scan + simd-json's serde API: each payload copied into a reused scratch buffer (simd-json
/// parses in place), reused parser buffers.
pub(crate) fn scan_simd_serde(reader: &Reader<Mapped>) -> u64 {
    let mut scratch = Vec::with_capacity(4096);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut sum = 0u64;
    for r in reader.records() {
        scratch.clear();
        scratch.extend_from_slice(r.data);
        let e: Event = simd_json::serde::from_slice_with_buffers(&mut scratch, &mut buffers)
            .expect("simd-json deserialize");
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box(e.price);
    }
    sum
}

/// Verified scan + simd-json's borrowed-value DOM, reading the same four fields.
pub(crate) fn scan_simd_value(reader: &Reader<Mapped>) -> u64 {
    use simd_json::prelude::*;
    let mut scratch = Vec::with_capacity(4096);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut sum = 0u64;
    for r in reader.records() {
        scratch.clear();
        scratch.extend_from_slice(r.data);
        let v = simd_json::to_borrowed_value_with_buffers(&mut scratch, &mut buffers)
            .expect("simd-json parse");
        let (user, action) = (v.get_str("user"), v.get_str("action"));
        let item = v.get_u64("item").expect("item");
        black_box(v.get_f64("price"));
        let lens = user.map_or(0, str::len) ^ action.map_or(0, str::len);
        sum = sum.wrapping_add(item ^ lens as u64);
    }
    sum
}

/// What users write by hand: `BufReader::lines()` and `serde_json::from_str` of the whole line
/// (no CRC check), borrowing from each line's `String`.
pub(crate) fn bufreader_serde_json(path: &Path) -> u64 {
    let file = File::open(path).expect("open the scan log");
    let mut sum = 0u64;
    for line in BufReader::new(file).lines() {
        let line = line.expect("read a line");
        let l: Line = serde_json::from_str(&line).expect("parse a line");
        let e = &l.data;
        sum = sum.wrapping_add(e.item ^ e.user.len() as u64 ^ e.action.len() as u64);
        black_box((e.price, l.seq, l.ts, l.crc));
    }
    sum
}

/// `history`-style filter: counts records whose `data.user` is [`FILTER_USER`]. A substring
/// search rejects most records without parsing; only candidates are deserialised (to make sure
/// the match is the top-level field). No allocation per record.
pub(crate) fn history_filter(reader: &Reader<Mapped>) -> u64 {
    let needle = format!(r#""user":"{FILTER_USER}""#);
    let finder = memmem::Finder::new(needle.as_bytes());
    let mut n = 0;
    for r in reader.records() {
        if finder.find(r.data).is_some() {
            let u: UserOnly = r.deserialize().expect("deserialize");
            n += u64::from(u.user == FILTER_USER);
        }
    }
    n
}

/// The library's `Reader::history` over `/user`: the same count as [`history_filter`]. Its
/// prefilter searches for the entity's text alone (`u7` also occurs in `u70`..`u79`), then
/// evaluates the JSON pointer on the candidates.
pub(crate) fn library_history(reader: &Reader<Mapped>, key: &ndlog::JsonPointer) -> u64 {
    reader.history(key, FILTER_USER).count() as u64
}

/// Repeats a scan `iters` times and times it.
pub(crate) fn time_scan(iters: u64, mut scan: impl FnMut() -> u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(scan());
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------------
// Recording criterion's samples

/// Samples taken by `iter_custom`: (iterations, time) in call order, by benchmark id.
static SAMPLES: Mutex<BTreeMap<String, Vec<(u64, Duration)>>> = Mutex::new(BTreeMap::new());

/// Samples per benchmark: the `sample_size` every bench configures.
pub(crate) const SAMPLE_SIZE: usize = 10;

/// Records one call of an `iter_custom` routine.
pub(crate) fn record(id: &str, iters: u64, took: Duration) -> Duration {
    let mut samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    samples.entry(id.to_string()).or_default().push((iters, took));
    took
}

/// The median rate (units per second) over the last [`SAMPLE_SIZE`] recorded calls of `id`:
/// criterion's measurement samples, which follow its warm-up calls. `None` if it did not run.
pub(crate) fn recorded_rate(id: &str, units_per_iter: f64) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let all = samples.get(id)?;
    let last = &all[all.len().saturating_sub(SAMPLE_SIZE)..];
    let rates: Vec<f64> = last
        .iter()
        .map(|&(iters, took)| iters as f64 * units_per_iter / took.as_secs_f64())
        .collect();
    Some(median(rates))
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

// ---------------------------------------------------------------------------------------------
// Lookups

/// Pseudo-random seqs in `1..=records`, the same every run: 2^20 of them, so that a run over a
/// large log touches cold index entries and log lines (as random lookups do) rather than
/// cycling through a set small enough to stay in the caches.
pub(crate) fn lookup_targets(records: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1 << 20)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            1 + (x >> 11) % records
        })
        .collect()
}

/// The memory floor of a lookup through the index, the physical limit `get(seq)` is measured
/// against: one load of the entry for `seq`'s stride (its position computed, not searched),
/// then one load of the log byte at the entry's offset, which depends on it. Any lookup pays
/// these two accesses; on a large log each is a cache and TLB miss. Needs a log whose seqs run
/// from 1 without gaps, as the generated ones do.
pub(crate) fn lookup_floor<D: AsRef<[u8]>>(reader: &Reader<D>, seq: u64) -> u8 {
    let index = reader.index().expect("the log has an index");
    let entry = index.get(((seq - 1) / u64::from(index.stride())) as usize).expect("an entry");
    reader.bytes()[entry.offset as usize]
}

// ---------------------------------------------------------------------------------------------
// The report's timer

/// A case of the report: `timed(n)` runs n iterations of `units` units each and returns their
/// time.
pub(crate) struct Timed<'a> {
    pub name: String,
    pub units: f64,
    pub unit: Unit,
    pub timed: Box<dyn FnMut(u64) -> Duration + 'a>,
}

/// Measures every case `rounds` times, round-robin (one run of each case per round, so that a
/// change in the machine's load during the report affects every case alike), each run lasting
/// about `run` after a calibration. Returns each case's median rate, in case order.
pub(crate) fn round_robin(cases: &mut [Timed<'_>], run: Duration, rounds: usize) -> Vec<f64> {
    let sizes: Vec<u64> = cases
        .iter_mut()
        .map(|case| {
            let mut n = 1u64;
            loop {
                let took = (case.timed)(n);
                if took * 4 >= run || n >= 1 << 40 {
                    let scaled = n as f64 * run.as_secs_f64() / took.as_secs_f64().max(1e-9);
                    break (scaled as u64).max(1);
                }
                n *= 4;
            }
        })
        .collect();
    let mut rates = vec![Vec::new(); cases.len()];
    for round in 1..=rounds {
        for ((case, &n), rates) in cases.iter_mut().zip(&sizes).zip(&mut rates) {
            let rate = n as f64 * case.units / (case.timed)(n).as_secs_f64();
            eprintln!("  round {round}: {:<36} {}", case.name, fmt_rate(rate, case.unit));
            rates.push(rate);
        }
    }
    rates.into_iter().map(median).collect()
}

// ---------------------------------------------------------------------------------------------
// Tables

/// What an issue target asks of a row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The ratio must be at least this.
    Ratio(f64),
    /// The figure itself must be at least this.
    AtLeast(f64),
}

/// How a figure is printed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Unit {
    /// Records per second.
    Records,
    /// Bytes per second, printed in GB/s (10^9).
    Bytes,
}

/// One line of a summary: an ndlog figure beside what it is compared with.
pub(crate) struct Row {
    pub case: String,
    pub value: f64,
    pub versus: String,
    pub limit: f64,
    pub unit: Unit,
    pub target: Option<Target>,
}

pub(crate) fn fmt_rate(x: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format!("{:.2} GB/s", x / 1e9),
        Unit::Records if x >= 1e6 => format!("{:.2} M/s", x / 1e6),
        Unit::Records if x >= 1e3 => format!("{:.1} k/s", x / 1e3),
        Unit::Records => format!("{x:.0} /s"),
    }
}

/// Three significant digits, truncated rather than rounded, so that a ratio just under a target
/// never prints as the target.
pub(crate) fn fmt_ratio(x: f64) -> String {
    let decimals = match x {
        x if x >= 100.0 => 0,
        x if x >= 10.0 => 1,
        x if x >= 1.0 => 2,
        _ => 3,
    };
    let scale = 10f64.powi(decimals);
    format!("{:.*}", decimals as usize, (x * scale).floor() / scale)
}

/// Prints rows as a Markdown table (ready to paste into BENCHMARKS.md).
pub(crate) fn print_table(title: &str, rows: &[Row]) {
    println!("\n## {title}\n");
    println!("| case | ndlog | compared with | limit | ratio | target |");
    println!("| --- | ---: | --- | ---: | ---: | --- |");
    for r in rows {
        let ratio = r.value / r.limit;
        let target = match r.target {
            None => String::new(),
            Some(Target::Ratio(t)) => {
                format!("≥ {t}×: {}", if ratio >= t { "met" } else { "MISSED" })
            }
            Some(Target::AtLeast(t)) => format!(
                "≥ {}: {}",
                fmt_rate(t, r.unit),
                if r.value >= t { "met" } else { "MISSED" }
            ),
        };
        println!(
            "| {} | {} | {} | {} | {}× | {} |",
            r.case,
            fmt_rate(r.value, r.unit),
            r.versus,
            fmt_rate(r.limit, r.unit),
            fmt_ratio(ratio),
            target
        );
    }
    println!();
}
