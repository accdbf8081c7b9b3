//! What one durable append costs the block device: the device's own counters
//! (`/sys/dev/block/MAJ:MIN/stat`, for the device the bench directory lives on) read before and
//! after a run of appends of one engine at a time, divided by the appends. Issue 17 asks for
//! "device writes per sync" beside every missed durable target: this section counts them for the
//! raw limits, ndlog (plain and preallocated) and the peers, and the device's writes in an idle
//! stretch of the same length, which says how far the counts can be trusted.
//!
//! The counters are the device's, not the process's: another program writing to the same
//! device adds to them. The idle row shows how much.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndlog::{Durability, Options};
use ndlog_peers::{fjall_db, okay_wal};

use crate::common::{self, Append, Step, median, ndlog_step};

/// Appends a round per engine.
const APPENDS: u64 = 2000;

/// Rounds per engine; each figure is the median of the rounds'.
const ROUNDS: usize = 3;

/// The device counters this section reports, from the `stat` file's fields (the kernel's
/// Documentation/block/stat.rst): writes completed, sectors written, flushes completed
/// (`None` on kernels before 5.5, which count none).
#[derive(Clone, Copy, Debug)]
struct Counters {
    writes: u64,
    sectors: u64,
    flushes: Option<u64>,
}

impl Counters {
    fn read(stat: &Path) -> Option<Counters> {
        let text = std::fs::read_to_string(stat).ok()?;
        let fields: Vec<u64> =
            text.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
        // Fields 5 and 7 (1-based) are writes and sectors written; 16 is flushes (kernels
        // since 5.5; older ones have no flush fields).
        Some(Counters {
            writes: *fields.get(4)?,
            sectors: *fields.get(6)?,
            flushes: fields.get(15).copied(),
        })
    }

    fn since(self, before: Counters) -> Counters {
        Counters {
            writes: self.writes.saturating_sub(before.writes),
            sectors: self.sectors.saturating_sub(before.sectors),
            flushes: self.flushes.zip(before.flushes).map(|(a, b)| a.saturating_sub(b)),
        }
    }
}

/// What one round of a case counted: the device's counters over it, its time and how many
/// records it appended.
#[derive(Clone, Copy, Debug)]
struct Round {
    counters: Counters,
    took: Duration,
    records: u64,
}

/// The device's counters over `f`, and what `f` returned.
fn around<T>(stat: &Path, f: impl FnOnce() -> T) -> (Counters, T) {
    let before = Counters::read(stat).expect("read the device's counters");
    let out = f();
    (Counters::read(stat).expect("read the device's counters").since(before), out)
}

/// The `stat` file of the block device holding `dir`, if the machine has one.
fn stat_file(dir: &Path) -> Option<PathBuf> {
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let stat = PathBuf::from(format!("/sys/dev/block/{major}:{minor}/stat"));
    stat.exists().then_some(stat)
}

/// One engine: its name and how to open it in a fresh directory, as a one-append [`Step`].
struct Engine {
    name: &'static str,
    open: fn(&Path, &[u8]) -> Step,
}

fn raw_append(dir: &Path, payload: &[u8]) -> Step {
    common::raw_append_step(&dir.join("raw.ndjson"), payload)
}

fn raw_in_place(dir: &Path, payload: &[u8]) -> Step {
    let line = common::line_for(payload);
    let file: File = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(dir.join("raw-in-place.ndjson"))
        .expect("create the raw bench file");
    // Room for every append of every round, written and synced before any is counted.
    let size = (ROUNDS as u64 * APPENDS + 1) * line.len() as u64;
    file.write_all_at(&vec![b'\n'; size as usize], 0).expect("fill the file");
    file.sync_all().expect("fsync the filled file");
    let mut at = 0u64;
    Box::new(move || {
        file.write_all_at(&line, at).expect("pwrite");
        file.sync_data().expect("fdatasync");
        at += line.len() as u64;
    })
}

fn ndlog_plain(dir: &Path, payload: &[u8]) -> Step {
    let writer = Options::new().durability(Durability::Always).open(dir.join("plain.ndjson"));
    ndlog_step(writer.expect("open the log"), payload)
}

fn ndlog_preallocated(dir: &Path, payload: &[u8]) -> Step {
    let writer = Options::new().durability(Durability::Always).segments(crate::preallocated());
    ndlog_step(writer.open(dir.join("segmented")).expect("open the segmented log"), payload)
}

fn fjall(dir: &Path, payload: &[u8]) -> Step {
    let (mut db, payload) = (fjall_db::Durable::open(dir), payload.to_vec());
    Box::new(move || db.insert(&payload))
}

fn okaywal(dir: &Path, payload: &[u8]) -> Step {
    let (mut wal, payload) = (okay_wal::Committer::open(dir), payload.to_vec());
    Box::new(move || wal.commit(&payload))
}

const ENGINES: [Engine; 6] = [
    Engine { name: "raw append (`O_APPEND` write) + fdatasync", open: raw_append },
    Engine { name: "raw overwrite in place (`pwrite`) + fdatasync", open: raw_in_place },
    Engine { name: "ndlog Always, plain log", open: ndlog_plain },
    Engine { name: "ndlog Always, preallocated 16 MiB segment", open: ndlog_preallocated },
    Engine { name: "fjall insert + persist(SyncData)", open: fjall },
    Engine { name: "okaywal commit", open: okaywal },
];

/// One round of `APPENDS` appends of one engine.
fn counted(stat: &Path, step: &mut Step) -> Round {
    let (counters, took) = around(stat, || {
        let start = Instant::now();
        for _ in 0..APPENDS {
            step();
        }
        start.elapsed()
    });
    Round { counters, took, records: APPENDS }
}

/// A case with threads or processes of its own, run whole (opening included) by `run(n)`, `n`
/// appends per thread: its counters are those of `run(n)` less those of `run(0)`, which opens
/// the same files and appends nothing.
struct Whole {
    name: &'static str,
    threads: u64,
    run: Box<dyn Fn(u64) -> Duration>,
}

impl Whole {
    fn new(name: &'static str, threads: u64, run: impl Fn(u64) -> Duration + 'static) -> Whole {
        Whole { name, threads, run: Box::new(run) }
    }

    /// One round of about `APPENDS` appends (as many on each thread), less opening.
    fn counted(&self, stat: &Path) -> Round {
        let per_thread = APPENDS.div_ceil(self.threads);
        let (setup, _) = around(stat, || (self.run)(0));
        let (all, took) = around(stat, || (self.run)(per_thread));
        Round { counters: all.since(setup), took, records: per_thread * self.threads }
    }
}

/// The group and multi-process cases, and okaywal with as many threads.
fn whole_cases(payload: &[u8]) -> Vec<Whole> {
    let group = |threads: usize| {
        let payload = payload.to_vec();
        move |n| Append::Group { threads }.run(&payload, n)
    };
    let (procs, okaywal) = (payload.to_vec(), payload.to_vec());
    vec![
        Whole::new("ndlog Group, 4 threads", 4, group(4)),
        Whole::new("ndlog Group, 16 threads", 16, group(16)),
        Whole::new("ndlog Group, 64 threads", 64, group(64)),
        Whole::new("ndlog Always, 4 processes", 4, move |n| {
            Append::Processes { procs: 4 }.run(&procs, n)
        }),
        Whole::new("okaywal, 16 threads", 16, move |n| {
            okay_wal::commits(common::temp_dir().path(), &okaywal, 16, n)
        }),
    ]
}

/// The section's table, as Markdown lines; empty (with a note) where the bench directory is on
/// no block device this can read.
pub(crate) fn table(payload: &[u8]) -> Vec<String> {
    let dir = common::temp_dir();
    let Some(stat) = stat_file(dir.path()) else {
        eprintln!(
            "device: no block device `stat` file for {}; section skipped",
            dir.path().display()
        );
        return Vec::new();
    };
    eprintln!("device: counting {} ({APPENDS} appends per engine and round)", stat.display());
    let mut engines: Vec<Step> = ENGINES
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let own = dir.path().join(i.to_string());
            std::fs::create_dir(&own).expect("create the engine's directory");
            let mut step = (e.open)(&own, payload);
            // The first append may create files (ndlog's preallocated segment: 16 MiB of
            // padding); it is not counted, and the device is given time to write it back.
            step();
            step
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    let wholes = whole_cases(payload);
    let idle_row = ENGINES.len() + wholes.len();
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); idle_row + 1];
    for round in 0..ROUNDS {
        for (i, step) in engines.iter_mut().enumerate() {
            rounds[i].push(counted(&stat, step));
        }
        for (i, whole) in wholes.iter().enumerate() {
            rounds[ENGINES.len() + i].push(whole.counted(&stat));
        }
        // The idle row: the device's counters over a stretch as long as the slowest case's.
        let longest = rounds[..idle_row].iter().map(|r| r[round].took).max().unwrap_or_default();
        let (counters, ()) = around(&stat, || std::thread::sleep(longest));
        rounds[idle_row].push(Round { counters, took: longest, records: APPENDS });
        eprintln!("  device round {}: done", round + 1);
    }
    drop(engines);
    // A row's median of its rounds' counts per record; `None` where the device counts none.
    let per = |i: usize, f: fn(&Counters) -> Option<u64>| -> Option<f64> {
        let counts: Option<Vec<f64>> =
            rounds[i].iter().map(|r| f(&r.counters).map(|n| n as f64 / r.records as f64)).collect();
        counts.map(median)
    };
    let mut lines = vec![
        format!(
            "Device counters per append ({}, median of {ROUNDS} rounds of {APPENDS} appends each; \
             µs an append is the round's time over its appends, all threads together; the idle \
             row: per {APPENDS}th of a stretch as long as the slowest round, with nothing \
             appending):",
            stat.display()
        ),
        String::new(),
        "| engine | µs an append | device writes | flushes | KiB written |".into(),
        "| --- | ---: | ---: | ---: | ---: |".into(),
    ];
    let names = ENGINES.iter().map(|e| e.name).chain(wholes.iter().map(|w| w.name));
    for (i, name) in names.chain(["idle (nothing appending)"]).enumerate() {
        let micros = median(
            rounds[i].iter().map(|r| r.took.as_secs_f64() * 1e6 / r.records as f64).collect(),
        );
        let shown_micros = if i == idle_row { "—".to_string() } else { format!("{micros:.1}") };
        // Kernels before 5.5 count no flushes: their column says so rather than 0.
        let flushes = per(i, |c| c.flushes).map_or("—".to_string(), |f| format!("{f:.2}"));
        let (writes, sectors) = (per(i, |c| Some(c.writes)), per(i, |c| Some(c.sectors)));
        lines.push(format!(
            "| {name} | {shown_micros} | {:.2} | {flushes} | {:.2} |",
            writes.unwrap_or_default(),
            sectors.unwrap_or_default() * 512.0 / 1024.0,
        ));
    }
    lines
}
