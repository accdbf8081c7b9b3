//! Writer processes: the child mode that turns a bench binary into one of several writer
//! processes, and the workload that spawns them.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ndlog::Durability;

use super::files::open_writer;
use super::payloads::payload;

/// The environment variable that turns a bench binary into a writer process.
const CHILD_ENV: &str = "NDLOG_BENCH_CHILD";

/// `procs` processes (this executable, in child mode) open the log and append `iters` payloads
/// each with `Always`; timed from the moment all are ready until all have finished.
pub(crate) fn ndlog_processes(path: &Path, procs: usize, payload: &[u8], iters: u64) -> Duration {
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
