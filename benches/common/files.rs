//! Where the benches' files go, and how they open ndlog on them.

use std::path::{Path, PathBuf};

use ndlog::{Durability, Options};

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

pub(crate) fn open_writer(path: &Path, durability: Durability) -> ndlog::Writer {
    Options::new().durability(durability).open(path).expect("open the bench log")
}
