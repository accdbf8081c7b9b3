//! A bounded soak of a segmented log with real processes: writer processes append with
//! `Always` durability into small segments (50 records) and report each acknowledged seq; they
//! are killed with SIGKILL at random moments and restarted, round after round. Meanwhile a
//! retention loop runs `ndlog compact --keep-last`, itself killed now and then, and followers
//! (`ndlog tail -f`) read the log from the start; one of them is stopped (SIGSTOP) long enough
//! for retention to remove records it has not read; and readers (`ndlog cat`, `ndlog get`)
//! run throughout, racing the rolls and the retention. Once on plain segments, once on
//! preallocated ones (records written in place in a padded file).
//!
//! Afterwards: every acknowledged record that the policy keeps is present exactly once, in
//! order, and nothing else is; `ndlog verify` passes; each follower printed every record once,
//! in order, with no gap except ranges it said retention removed before it read them.

use crate::util;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::segmented::*;
use util::*;

const PER_SEGMENT: u64 = 50;
const WRITERS: u64 = 3;

/// One soak's settings.
#[derive(Clone, Copy)]
struct Soak {
    /// `ndlog create --preallocate`: segments written in place in padded files.
    preallocate: bool,
    /// The retention policy, `compact --keep-last N`: large enough that followers running
    /// freely never fall that far behind.
    keep_last: u64,
    /// How long writers are started and killed; longer, up to `hard_cap`, until retention
    /// has removed segments and what the stopped follower had not read.
    budget: Duration,
    hard_cap: Duration,
}

/// A small deterministic generator (the processes' timing is what varies from run to run).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn signal(child: &Child, sig: &str) {
    let status =
        std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {sig}");
}

/// An `ndlog tail -f` process and what it printed: records on stdout, warnings on stderr.
struct Follower {
    child: Child,
    records: Arc<Mutex<Vec<(u64, Value)>>>,
    warnings: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Follower {
    fn spawn(log: &Path, lines: &str) -> Self {
        let mut child = ndlog()
            .args(["tail", "-f", "-n", lines, log.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let records = Arc::new(Mutex::new(Vec::new()));
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let err = BufReader::new(child.stderr.take().unwrap());
        let (r, w) = (records.clone(), warnings.clone());
        let threads = vec![
            std::thread::spawn(move || {
                for line in out.lines().map_while(Result::ok) {
                    let v: Value = serde_json::from_str(&line).expect("tail -f prints records");
                    r.lock().unwrap().push((v["seq"].as_u64().unwrap(), v["data"].clone()));
                }
            }),
            std::thread::spawn(move || {
                for line in err.lines().map_while(Result::ok) {
                    w.lock().unwrap().push(line);
                }
            }),
        ];
        Follower { child, records, warnings, threads }
    }

    fn last_seq(&self) -> u64 {
        self.records.lock().unwrap().last().map_or(0, |r| r.0)
    }

    /// Waits until it printed `seq`, then ends it and returns what it printed.
    fn finish(mut self, seq: u64) -> (Vec<(u64, Value)>, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.last_seq() < seq {
            assert!(
                Instant::now() < deadline,
                "a follower stopped at seq {} of {seq}; stderr: {:?}",
                self.last_seq(),
                self.warnings.lock().unwrap()
            );
            assert!(self.child.try_wait().unwrap().is_none(), "a follower exited");
            sleep_ms(10);
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        for t in std::mem::take(&mut self.threads) {
            t.join().unwrap();
        }
        let records = std::mem::take(&mut *self.records.lock().unwrap());
        let warnings = std::mem::take(&mut *self.warnings.lock().unwrap());
        (records, warnings)
    }
}

impl Drop for Follower {
    /// A test that fails half-way leaves no `tail -f` running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seqs a follower says retention removed before it read them: "N record(s) after seq A
/// were removed by retention ...; the first seq still present is F".
fn skipped_ranges(warnings: &[String]) -> Vec<(u64, u64)> {
    warnings
        .iter()
        .map(|w| {
            assert!(
                w.contains("were removed by retention"),
                "unexpected warning from tail -f: {w}"
            );
            let number_after = |marker: &str| -> u64 {
                let rest = w.split(marker).nth(1).unwrap_or_else(|| panic!("{marker:?} in {w}"));
                rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
            };
            let (after, first) = (number_after("after seq "), number_after("still present is "));
            (after + 1, first - 1)
        })
        .collect()
}

/// A writer process: `ndlog append` fed lines `{"r":round,"w":w,"i":i}` until it dies.
struct Writer {
    child: Child,
    round: u64,
    w: u64,
    acks: JoinHandle<Vec<u64>>,
}

impl Writer {
    fn spawn(log: &Path, round: u64, w: u64) -> Self {
        let mut child = ndlog()
            .args(["append", log.to_str().unwrap(), "--durability", "always"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            for i in 0..1_000_000u64 {
                if writeln!(stdin, r#"{{"r":{round},"w":{w},"i":{i}}}"#).is_err() {
                    break;
                }
            }
        });
        let out = BufReader::new(child.stdout.take().unwrap());
        let acks = std::thread::spawn(move || {
            out.lines().map_while(Result::ok).map(|l| l.parse().unwrap()).collect()
        });
        Writer { child, round, w, acks }
    }

    /// SIGKILLs it; returns each acknowledged seq with the line it was given (the n-th seq
    /// printed belongs to the n-th line).
    fn kill(mut self) -> Vec<(u64, Value)> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let acks = self.acks.join().unwrap();
        acks.into_iter()
            .enumerate()
            .map(|(i, seq)| (seq, serde_json::json!({"r": self.round, "w": self.w, "i": i})))
            .collect()
    }
}

/// What the retention loop did.
#[derive(Default, Debug)]
struct Retention {
    runs: u32,
    killed: u32,
}

fn retention_loop(log: &Path, keep_last: u64, stop: Arc<AtomicBool>) -> JoinHandle<Retention> {
    let log = log.to_str().unwrap().to_string();
    std::thread::spawn(move || {
        let mut rng = Rng(0xc0ffee);
        let mut done = Retention::default();
        while !stop.load(Ordering::Relaxed) {
            let keep = keep_last.to_string();
            let mut child = ndlog()
                .args(["compact", &log, "--keep-last", &keep])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if rng.below(3) == 0 {
                sleep_ms(rng.below(12));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    done.killed += 1;
                    continue;
                }
            }
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "compact --keep-last: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            done.runs += 1;
            sleep_ms(10 + rng.below(40));
        }
        done
    })
}

/// Readers racing rolls and retention: `ndlog cat` again and again; each sees a contiguous run
/// of seqs (retention removes only the oldest segments), and says nothing on stderr. Then
/// `ndlog get` of a seq it saw: found, or (exit 4) removed by retention meanwhile.
fn reader_loop(log: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u32> {
    let log = log.to_str().unwrap().to_string();
    std::thread::spawn(move || {
        let mut reads = 0;
        while !stop.load(Ordering::Relaxed) {
            let out = run(&["cat", &log], b"");
            assert!(out.status.success(), "cat: {}", stderr(&out));
            assert_eq!(stderr(&out), "", "cat during rolls and retention");
            let seqs = seqs_of(&stdout(&out));
            for w in seqs.windows(2) {
                assert_eq!(w[1], w[0] + 1, "cat saw a gap or a repeat");
            }
            if let Some(&seq) = seqs.get(seqs.len() / 2) {
                let out = run(&["get", &log, &seq.to_string()], b"");
                match out.status.code() {
                    Some(0) => assert_eq!(seqs_of(&stdout(&out)), [seq]),
                    Some(4) => {}
                    _ => panic!("get {seq}: {}: {}", out.status, stderr(&out)),
                }
            }
            reads += 1;
            sleep_ms(20);
        }
        reads
    })
}

/// Sealed segments never change: each one present now has the inode and bytes it had when
/// first seen (only retention may delete it), and holds at most a segment's records.
fn check_sealed(log: &Path, seen: &mut BTreeMap<String, (u64, Vec<u8>)>) {
    use std::os::unix::fs::MetadataExt;
    for name in sealed_names(log) {
        let path = log.join(&name);
        let (Ok(meta), Ok(bytes)) = (std::fs::metadata(&path), std::fs::read(&path)) else {
            continue; // removed by retention meanwhile
        };
        let first = segment_name(&name).expect("only segments match *.ndjson").0;
        let lines = independent_parse(&bytes);
        assert!(lines.len() as u64 <= PER_SEGMENT, "{name}: {} records", lines.len());
        assert_eq!(lines.first().map(|l| l.seq), Some(first), "{name}: starts at its name");
        let was = seen.entry(name.clone()).or_insert((meta.ino(), bytes.clone()));
        assert!(*was == (meta.ino(), bytes), "{name}: a sealed segment changed");
    }
}

/// The last seq a committed follower may deliver: every sealed segment's, and up to the
/// watermark's in the active one.
fn durable_end(log: &Path) -> u64 {
    let mark = ndlog::consume::Watermark::read(log).unwrap().map_or(0, |m| m.seq);
    let active = file_names(log).iter().filter_map(|n| segment_name(n)).rfind(|s| s.1);
    mark.max(active.map_or(0, |(first, _)| first - 1))
}

/// The first seq of the log by its file names.
fn first_seq_by_names(log: &Path) -> u64 {
    file_names(log).iter().find_map(|n| segment_name(n)).map_or(1, |(seq, _)| seq)
}

#[test]
fn writers_compactors_and_followers_killed_and_stopped_lose_nothing() {
    soak(Soak {
        preallocate: false,
        keep_last: 1000,
        budget: Duration::from_secs(7),
        hard_cap: Duration::from_secs(14),
    });
}

#[test]
fn the_same_on_preallocated_segments() {
    // In-place writes and a padded file per roll make appends slower: a smaller policy.
    soak(Soak {
        preallocate: true,
        keep_last: 250,
        budget: Duration::from_secs(7),
        hard_cap: Duration::from_secs(14),
    });
}

fn soak(cfg: Soak) {
    let started = Instant::now();
    let dir = tempdir();
    let per_segment = PER_SEGMENT.to_string();
    let mut args = vec!["--segment-records", &per_segment, "--segment-bytes", "1100KiB"];
    if cfg.preallocate {
        args.push("--preallocate");
    }
    let log = create(dir.path(), "soak", &args);
    let log_arg = log.to_str().unwrap().to_string();
    let mut followers = vec![Follower::spawn(&log, "1000000"), Follower::spawn(&log, "1000000")];
    let stop = Arc::new(AtomicBool::new(false));
    let retention = retention_loop(&log, cfg.keep_last, stop.clone());
    let reader = reader_loop(&log, stop.clone());
    let mut rng = Rng(0x5eed);
    let mut acked: BTreeMap<u64, Value> = BTreeMap::new();
    let (mut kills, mut rounds) = (0u32, 0u64);
    // Follower 1 is stopped in round 2 and continued once retention removed what it has
    // not read (or at the end).
    let mut stopped: Option<u64> = None;
    let mut must_warn = false;
    let mut late_follower = None;
    // Every sealed segment seen, as first seen: it must never change while it exists.
    let mut sealed: BTreeMap<String, (u64, Vec<u8>)> = BTreeMap::new();
    let more = |stopped: &Option<u64>| {
        let t = started.elapsed();
        t < cfg.budget || (t < cfg.hard_cap && (stopped.is_some() || first_seq_by_names(&log) == 1))
    };
    while more(&stopped) {
        let writers: Vec<Writer> = (0..WRITERS).map(|w| Writer::spawn(&log, rounds, w)).collect();
        sleep_ms(40 + rng.below(200));
        for writer in writers {
            sleep_ms(rng.below(20));
            for (seq, payload) in writer.kill() {
                assert!(acked.insert(seq, payload).is_none(), "seq {seq} acknowledged twice");
            }
            kills += 1;
        }
        rounds += 1;
        if rounds == 2 {
            signal(&followers[1].child, "-STOP");
            sleep_ms(100); // what it wrote before the stop reaches its reader thread
            stopped = Some(followers[1].last_seq());
        }
        check_sealed(&log, &mut sealed);
        if rounds == 4 {
            // One more follower, starting with the whole log as it is then.
            late_follower = Some(Follower::spawn(&log, "1000000"));
        }
        if let Some(at) = stopped
            && first_seq_by_names(&log) > at + PER_SEGMENT + 1
        {
            signal(&followers[1].child, "-CONT");
            stopped = None;
            must_warn = true;
        }
    }
    if stopped.is_some() {
        signal(&followers[1].child, "-CONT");
    }
    stop.store(true, Ordering::Relaxed);
    let retention = retention.join().unwrap();
    let reads = reader.join().unwrap();
    // One last retention run that is not killed: the policy holds at the end.
    let out = run(&["compact", &log_arg, "--keep-last", &cfg.keep_last.to_string()], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    followers.extend(late_follower);

    // The log: contiguous seqs, each record once, every acknowledged one the policy keeps.
    let lines = all_lines(&log);
    let (first, last) = (lines[0].seq, lines.last().unwrap().seq);
    let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>(), "seqs are contiguous, in order");
    assert!(
        first <= (last + 1).saturating_sub(cfg.keep_last).max(1),
        "retention removed records the policy keeps: first {first}, last {last}"
    );
    assert!(
        first + cfg.keep_last + PER_SEGMENT > last + 1,
        "retention kept more than one segment beyond the policy: first {first}, last {last}"
    );
    let mut payloads = HashSet::new();
    for l in &lines {
        assert!(payloads.insert(l.data.to_string()), "{} is in the log twice", l.data);
        assert!(l.data["r"].as_u64().unwrap() < rounds && l.data["w"].as_u64().unwrap() < WRITERS);
    }
    let by_seq: BTreeMap<u64, &Value> = lines.iter().map(|l| (l.seq, &l.data)).collect();
    for (seq, payload) in acked.range(first..) {
        assert_eq!(by_seq.get(seq), Some(&payload), "acknowledged seq {seq}");
    }
    assert_eq!(seqs_of(&ok(&["cat", &log_arg])), seqs, "ndlog cat reads the same records");
    let out = run(&["verify", &log_arg], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The followers deliver only durable records (committed by default): up to the watermark
    // or the last sealed segment. After it, only records of writers killed between their
    // write and their sync (a batch each, of what was buffered on their stdin).
    let durable = durable_end(&log);
    assert!((first..=last).contains(&durable), "durable {durable}, log {first}..={last}");
    // Every record once, in order; a gap only where they said retention took it.
    let mut warned = 0;
    for (n, follower) in followers.into_iter().enumerate() {
        let (records, warnings) = follower.finish(durable);
        let skipped = skipped_ranges(&warnings);
        warned += skipped.len();
        let covered = |a: u64, b: u64| {
            (a..=b).all(|seq| skipped.iter().any(|&(from, to)| (from..=to).contains(&seq)))
        };
        for &(_, to) in &skipped {
            assert!(to < first, "follower {n} says {to} was removed, but the log holds it");
        }
        // The late follower starts at the oldest record left when it started.
        let mut previous = if n == 2 { records[0].0 - 1 } else { 0 };
        for (seq, data) in &records {
            assert!(*seq > previous, "follower {n}: seq {seq} after {previous}");
            assert!(
                *seq == previous + 1 || covered(previous + 1, seq - 1),
                "follower {n}: seqs {}..={} missing and not reported ({skipped:?})",
                previous + 1,
                seq - 1
            );
            if let Some(d) = by_seq.get(seq) {
                assert_eq!(*d, data, "follower {n}: seq {seq}");
            }
            if let Some(d) = acked.get(seq) {
                assert_eq!(d, data, "follower {n}: acknowledged seq {seq}");
            }
            previous = *seq;
        }
        if n == 1 && must_warn {
            assert!(!skipped.is_empty(), "the stopped follower did not say what it missed");
        }
    }
    check_sealed(&log, &mut sealed);
    let _ = writeln!(
        std::io::stderr(),
        "segments soak{}: {rounds} rounds, {kills} writer SIGKILLs, {} retention runs ({} killed), \
         {reads} concurrent cats, {} sealed segments checked, {} acknowledged, log holds {first}..={last} in {} segments, \
         {warned} follower warnings (stopped follower had to warn: {must_warn}), {:.1} s",
        if cfg.preallocate { " (preallocated)" } else { "" },
        retention.runs,
        retention.killed,
        sealed.len(),
        acked.len(),
        segment_files(&log).len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked.len() as u64 > cfg.keep_last + 2 * PER_SEGMENT,
        "too little acknowledged: {}",
        acked.len()
    );
    assert!(first > 1, "retention never removed a segment");
    assert!(retention.killed > 0 && retention.runs > 0, "{retention:?}");
    assert!(reads > 0);
}
