//! The small files beside a log: a lock for any path, existing or not, whose lock file is
//! private, and whole-file replacement under it (read, change, `atomic_write`).

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ndlog::{ErrorKind, LogLock};
use util::*;

#[test]
fn a_lock_for_a_missing_file_is_created_0600_and_excludes_others() {
    let dir = tempdir();
    let path = dir.path().join("registry.json");
    let held = LogLock::acquire(&path, Duration::ZERO).unwrap();
    let lock = dir.path().join("registry.json.lock");
    assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!path.exists(), "taking the lock does not create the file");
    let err = LogLock::acquire(&path, Duration::from_millis(20)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LockTimeout { .. }), "{err}");
    drop(held);
    drop(LogLock::acquire(&path, Duration::ZERO).unwrap());
}

#[test]
fn the_lock_file_is_0600_even_beside_a_world_readable_file() {
    let dir = tempdir();
    let path = dir.path().join("settings.json");
    std::fs::write(&path, b"{}").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(LogLock::acquire(&path, Duration::ZERO).unwrap());
    let lock = dir.path().join("settings.json.lock");
    assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn read_modify_replace_under_the_lock_loses_no_update() {
    let dir = tempdir();
    let path = dir.path().join("count.txt");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _held = LogLock::acquire(&path, Duration::from_secs(10)).unwrap();
                    let n: u64 = match std::fs::read_to_string(&path) {
                        Ok(text) => text.trim().parse().unwrap(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                        Err(e) => panic!("{e}"),
                    };
                    ndlog::fs::atomic_write(&path, format!("{}\n", n + 1).as_bytes(), 0o600)
                        .unwrap();
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "200\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}
