//! Index lookups: `get(seq)` and time seeks on page-cached logs of 10^4 to 10^7 records, to show
//! the cost does not grow with the log; the same without an index, to show what it buys; and
//! appends with and without index maintenance, to show its cost on the hot path.
//!
//! `cargo bench --bench index`. The largest log is 10^7 records (~1.25 GB); set
//! `NDLOG_BENCH_INDEX_MAX=1000000` to stop at 10^6 on a small disk.

/// The shared bench code this bench uses: its selection of `benches/common/`.
mod common {
    mod lookup;

    pub(crate) use lookup::{lookup_floor, lookup_targets};
}

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndlog::{Durability, Options, Reader};

/// First ts of the generated logs; ten records share each millisecond.
const T0: u64 = 1_763_683_200_000;

/// A log of `n` records of ~125 bytes with its index (stride `stride`), generated once.
fn log(dir: &Path, n: u64, stride: u32) -> PathBuf {
    let path = dir.join(format!("log-{n}.ndjson"));
    if !path.exists() {
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        let mut line = Vec::new();
        for seq in 1..=n {
            line.clear();
            let payload = format!(
                r#"{{"user":"u{}","action":"click","page":"/products/{}","n":{seq}}}"#,
                seq % 1000,
                seq % 977
            );
            ndlog::format::encode(&mut line, seq, T0 + seq / 10, payload.as_bytes());
            out.write_all(&line).unwrap();
        }
        out.flush().unwrap();
    }
    let _ = std::fs::remove_file(path.with_extension("ndjson.idx"));
    Options::new().index_stride(stride).open(&path).unwrap();
    path
}

fn sizes() -> Vec<u64> {
    let max: u64 = std::env::var("NDLOG_BENCH_INDEX_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    [10_000, 100_000, 1_000_000, 10_000_000].into_iter().filter(|&n| n <= max).collect()
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("ndlog-bench-index-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let mut group = c.benchmark_group("index");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    for n in sizes() {
        for stride in [16u32, 4, 1] {
            let path = log(dir.path(), n, stride);
            let reader = Reader::open(&path).unwrap();
            assert!(reader.index().is_some_and(|i| i.stride() == stride));
            let seqs = common::lookup_targets(n);
            let mut i = 0;
            group.bench_function(BenchmarkId::new(format!("get/stride{stride}"), n), |b| {
                b.iter(|| {
                    i = (i + 1) % seqs.len();
                    reader.get(seqs[i]).unwrap().offset
                })
            });
            group.bench_function(BenchmarkId::new(format!("seek_ts/stride{stride}"), n), |b| {
                b.iter(|| {
                    i = (i + 1) % seqs.len();
                    reader.seek_ts(T0 + seqs[i] / 10)
                })
            });
            // The limit beside it: the two dependent loads every lookup pays.
            group.bench_function(BenchmarkId::new(format!("floor/stride{stride}"), n), |b| {
                b.iter(|| {
                    i = (i + 1) % seqs.len();
                    common::lookup_floor(&reader, black_box(seqs[i]))
                })
            });
        }
        // Without an index: the binary search over the bytes that answers when there is none.
        let path = dir.path().join(format!("log-{n}.ndjson"));
        std::fs::remove_file(path.with_extension("ndjson.idx")).unwrap();
        let reader = Reader::open(&path).unwrap();
        assert!(reader.index().is_none());
        let seqs = common::lookup_targets(n);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("get/no-index", n), |b| {
            b.iter(|| {
                i = (i + 1) % seqs.len();
                reader.get(seqs[i]).unwrap().offset
            })
        });
        // Keep at most the current log on disk.
        std::fs::remove_file(&path).unwrap();
    }
    group.finish();
}

fn append_with_and_without_index(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("ndlog-bench-index-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let payload = br#"{"user":"u42","action":"click","page":"/products/977","n":1234567}"#;
    let mut group = c.benchmark_group("append_index");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    for (name, index) in [("never/with-index", true), ("never/without-index", false)] {
        let path = dir.path().join(format!("{}.ndjson", name.replace('/', "-")));
        let writer = Options::new().durability(Durability::Never).index(index).open(&path).unwrap();
        group.bench_function(name, |b| b.iter(|| writer.append_raw(payload).unwrap().seq));
    }
    group.finish();
}

criterion_group!(benches, lookups, append_with_and_without_index);
criterion_main!(benches);
