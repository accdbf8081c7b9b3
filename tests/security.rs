//! Sidecar files are never opened through a planted symlink or waited on when a FIFO is
//! planted in their place, and every file ndlog creates gets the log's mode (0600 by default).

mod util;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use ndlog::{Compactor, Options, Policy};
use util::*;

const PRECIOUS: &[u8] = b"precious: must never be written through a symlink\n";

fn victim(dir: &Path) -> std::path::PathBuf {
    let v = dir.join("victim.txt");
    std::fs::write(&v, PRECIOUS).unwrap();
    v
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symlink_planted_at_the_lock_file_is_refused() {
    let dir = tempdir();
    let v = victim(dir.path());
    let log = dir.path().join("events.ndjson");
    symlink(&v, dir.path().join("events.ndjson.lock")).unwrap();
    let err = Options::new().open(&log).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(ndlog::LogLock::acquire(&log, std::time::Duration::ZERO).is_err());
    assert_eq!(std::fs::read(&v).unwrap(), PRECIOUS);
}

#[test]
fn symlinks_planted_at_index_and_temp_paths_are_replaced_not_followed() {
    let dir = tempdir();
    let v = victim(dir.path());
    let log = write_log(dir.path(), "events.ndjson", 40);
    // At the index and at the fixed name of an index rebuild.
    std::fs::remove_file(dir.path().join("events.ndjson.idx")).unwrap();
    symlink(&v, dir.path().join("events.ndjson.idx.tmp")).unwrap();
    Options::new().open(&log).unwrap();
    assert!(ndlog::Reader::open(&log).unwrap().check_index().unwrap().is_current());
    std::fs::remove_file(dir.path().join("events.ndjson.idx")).unwrap();
    symlink(&v, dir.path().join("events.ndjson.idx")).unwrap();
    let writer = Options::new().open(&log).unwrap();
    writer.append_raw(b"1").unwrap();
    assert!(
        !std::fs::symlink_metadata(dir.path().join("events.ndjson.idx"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // At names a compaction's temporary files could take: removed as leftovers.
    symlink(&v, dir.path().join("events.ndjson.compact.1.2.tmp")).unwrap();
    Compactor::new(&log, Policy::new().keep_last(5)).run().unwrap();
    assert!(!dir.path().join("events.ndjson.compact.1.2.tmp").exists());
    assert_eq!(std::fs::read(&v).unwrap(), PRECIOUS);
}

#[test]
fn a_symlink_planted_at_the_quarantine_stops_compaction_safely() {
    let dir = tempdir();
    let v = victim(dir.path());
    let log = write_log(dir.path(), "events.ndjson", 10);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"damaged line\n");
    std::fs::write(&log, &bytes).unwrap();
    symlink(&v, dir.path().join("events.ndjson.quarantine")).unwrap();
    let err = Compactor::new(&log, Policy::new()).run().unwrap_err();
    assert!(err.to_string().contains("quarantine"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "the log is untouched");
    assert_eq!(std::fs::read(&v).unwrap(), PRECIOUS);
}

#[test]
fn every_file_ndlog_creates_gets_the_logs_mode() {
    let dir = tempdir();
    let log = dir.path().join("private.ndjson");
    let writer = Options::new().open(&log).unwrap();
    for i in 0..40 {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    for name in ["private.ndjson", "private.ndjson.lock", "private.ndjson.idx"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    // A log shared with a group keeps its mode through compaction, whatever the umask.
    let shared = dir.path().join("shared.ndjson");
    let writer = Options::new().open(&shared).unwrap();
    for i in 0..40 {
        writer.append_raw(format!("{i}").as_bytes()).unwrap();
    }
    let mut bytes = std::fs::read(&shared).unwrap();
    bytes.extend_from_slice(b"damage\n");
    std::fs::write(&shared, bytes).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    Compactor::new(&shared, Policy::new().keep_last(10)).run().unwrap();
    for name in ["shared.ndjson", "shared.ndjson.idx", "shared.ndjson.quarantine"] {
        assert_eq!(mode(&dir.path().join(name)), 0o640, "{name}");
    }
}

/// A FIFO planted at the quarantine path stops a compaction that has damage to move there,
/// at once and with the log untouched (it never waits for a reader of the FIFO).
#[test]
fn a_fifo_planted_at_the_quarantine_stops_compaction_safely() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"damaged line\n");
    std::fs::write(&log, &bytes).unwrap();
    let fifo = dir.path().join("events.ndjson.quarantine");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    let err = Compactor::new(&log, Policy::new()).run().unwrap_err();
    assert!(err.to_string().contains("quarantine") && err.to_string().contains("FIFO"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "the log is untouched");
}

/// FIFOs planted at the index, the lock files and the quarantine beside a healthy log: a
/// reader goes on without the index, writers and compactions refuse the lock with an error
/// naming it, and nothing blocks.
#[test]
fn fifos_planted_at_sidecar_paths_never_block() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 10);
    let plant = |suffix: &str| {
        let path = dir.path().join(format!("events.ndjson{suffix}"));
        let _ = std::fs::remove_file(&path);
        rustix::fs::mknodat(rustix::fs::CWD, &path, rustix::fs::FileType::Fifo, 0o600.into(), 0)
            .unwrap();
        path
    };
    let idx = plant(".idx");
    let reader = ndlog::Reader::open(&log).unwrap();
    assert_eq!(reader.get(7).map(|r| r.seq), Some(7));
    let check = reader.check_index().unwrap();
    assert_eq!(check.problem, Some(ndlog::index::IndexProblem::Missing), "{check:?}");
    std::fs::remove_file(&idx).unwrap();
    for suffix in [".lock", ".compact.lock"] {
        let path = plant(suffix);
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let err = Compactor::new(&log, Policy::new().keep_last(3)).run().unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        if suffix == ".lock" {
            let err = Options::new().open(&log).unwrap_err();
            assert!(err.to_string().contains(&name), "{err}");
            let err = ndlog::LogLock::acquire(&log, std::time::Duration::ZERO).unwrap_err();
            assert!(err.to_string().contains(&name), "{err}");
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(ndlog::Reader::open(&log).unwrap().records().count(), 10);
}
