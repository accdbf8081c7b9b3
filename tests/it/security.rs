//! Sidecar files are never opened through a planted symlink or waited on when a FIFO is
//! planted in their place, and every file ndlog creates gets the log's mode (0600 by default)
//! and, where the process may give it, the log's owner and group.

use crate::util;

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
    assert!(ndlog::LogLock::acquire_log(&log, std::time::Duration::ZERO).is_err());
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
fn a_symlink_planted_at_a_settings_or_chain_file_is_called_one() {
    // The OS says "too many levels of symbolic links" of an O_NOFOLLOW open on one symlink.
    let dir = tempdir();
    let v = victim(dir.path());
    let seg = dir.path().join("seg");
    let chained = dir.path().join("chained.ndjson");
    let (seg_s, chained_s) = (seg.to_str().unwrap(), chained.to_str().unwrap());
    for args in
        [&["create", seg_s, "--segment-bytes", "4MiB"][..], &["create", chained_s, "--chain"]]
    {
        let out = run(args, b"");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    for (sidecar, args) in [
        (seg.join("ndlog.json"), ["segments", seg_s]),
        (dir.path().join("chained.ndjson.chain"), ["checkpoint", chained_s]),
    ] {
        std::fs::remove_file(&sidecar).unwrap();
        symlink(&v, &sidecar).unwrap();
        let out = run(&args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(&format!("{}: open failed: a symlink", sidecar.display())), "{err}");
        assert!(!err.contains("levels of symbolic links"), "{err}");
    }
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

/// Owner and group of a path.
fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A user other than the one running the tests, and a group other than theirs.
const USER: (u32, u32) = (65534, 65533);

/// Runs `ndlog args` as `USER` with `stdin`; `None` where that user cannot run the test
/// binary (it lives somewhere only root may read).
fn run_as_user(args: &[&str], stdin: &[u8]) -> Option<std::process::Output> {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let child = ndlog()
        .args(args)
        .uid(USER.0)
        .gid(USER.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return None,
        other => other.unwrap(),
    };
    let _ = child.stdin.take().unwrap().write_all(stdin);
    Some(child.wait_with_output().unwrap())
}

/// A compaction run as root (from a cron job, say) on a user's log: the compacted log, its
/// index, the quarantine it creates and the lock files stay the user's, so the user's next
/// `cat` or `append` and a writer of theirs that follows the new file keep working.
#[test]
fn a_compaction_as_root_keeps_the_logs_owner_and_group() {
    if !is_root() {
        eprintln!("skipped: needs root to give files away");
        return;
    }
    let dir = tempdir();
    chown(dir.path(), USER);
    let log = write_log(dir.path(), "events.ndjson", 40);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"damage to quarantine\n");
    std::fs::write(&log, &bytes).unwrap();
    // The user's log, as if the user had written it; no compaction has run yet.
    for name in ["events.ndjson", "events.ndjson.lock", "events.ndjson.idx"] {
        chown(&dir.path().join(name), USER);
    }
    let report = Compactor::new(&log, Policy::new().keep_last(10)).run().unwrap();
    assert!(report.rewritten && report.quarantine.is_some(), "{report:?}");
    let files = [
        "events.ndjson",
        "events.ndjson.idx",
        "events.ndjson.quarantine",
        "events.ndjson.lock",
        "events.ndjson.compact.lock",
    ];
    for name in files {
        assert_eq!(owner(&dir.path().join(name)), USER, "{name}");
    }
    assert_eq!(mode(&log), 0o600);
    // The user still reads and appends.
    let log = log.to_str().unwrap();
    if let Some(out) = run_as_user(&["append", log], b"{\"n\":41}\n") {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = run_as_user(&["cat", log], b"").unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 11);
    }
}

/// The lock files ndlog creates beside a log owned by someone else take the log's owner, so
/// that root appending to (or locking) a user's log does not lock the user out of it.
#[test]
fn lock_files_created_beside_a_users_log_take_its_owner() {
    if !is_root() {
        eprintln!("skipped: needs root to give files away");
        return;
    }
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 5);
    chown(&log, USER);
    let lock = dir.path().join("events.ndjson.lock");
    for how in ["writer", "lock", "compaction"] {
        std::fs::remove_file(&lock).unwrap();
        match how {
            "writer" => drop(Options::new().open(&log).unwrap()),
            "lock" => drop(ndlog::LogLock::acquire_log(&log, std::time::Duration::ZERO).unwrap()),
            _ => drop(Compactor::new(&log, Policy::new()).run().unwrap()),
        }
        assert_eq!(owner(&lock), USER, "{how}");
    }
    assert_eq!(owner(&dir.path().join("events.ndjson.compact.lock")), USER);
    // One that root created before is given back too.
    chown(&lock, (0, 0));
    Options::new().open(&log).unwrap().append_raw(b"6").unwrap();
    assert_eq!(owner(&lock), USER);
}

/// A compaction that may not give the new file the log's owner (only root gives a file away)
/// refuses before it changes anything, instead of taking the log from its owner.
#[test]
fn a_compaction_that_cannot_keep_the_owner_changes_nothing() {
    if !is_root() {
        eprintln!("skipped: needs root to set up two users");
        return;
    }
    let dir = tempdir();
    // A directory the other user may write in, and a log they may read but do not own.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = write_log(dir.path(), "events.ndjson", 20);
    for name in ["events.ndjson", "events.ndjson.lock", "events.ndjson.idx"] {
        let path = dir.path().join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let before = std::fs::read(&log).unwrap();
    let args = ["compact", log.to_str().unwrap(), "--keep-last", "5"];
    let Some(out) = run_as_user(&args, b"") else {
        eprintln!("skipped: the other user cannot run the test binary");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("compact as the log's owner or as root"), "{err}");
    assert_eq!(std::fs::read(&log).unwrap(), before);
    assert_eq!(owner(&log), (0, 0));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
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
            let err = ndlog::LogLock::acquire_log(&log, std::time::Duration::ZERO).unwrap_err();
            assert!(err.to_string().contains(&name), "{err}");
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(ndlog::Reader::open(&log).unwrap().records().count(), 10);
}

/// Crash debris a writer run as root moves out of a user's log goes to a quarantine file that
/// is the user's, like the log.
#[test]
fn a_quarantine_a_writer_creates_takes_the_logs_owner() {
    if !is_root() {
        eprintln!("skipped: needs root to give files away");
        return;
    }
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 3);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(br#"{"seq":4,"ts":1,"data":{"torn"#);
    std::fs::write(&log, &bytes).unwrap();
    for name in ["events.ndjson", "events.ndjson.lock", "events.ndjson.idx"] {
        chown(&dir.path().join(name), USER);
    }
    Options::new().open(&log).unwrap().append_raw(b"4").unwrap();
    let quarantine = dir.path().join("events.ndjson.quarantine");
    assert!(quarantine.exists(), "the debris was moved");
    assert_eq!(owner(&quarantine), USER);
    assert_eq!(owner(&log), USER);
}

/// `LogLock::acquire` locks any path; a lock file it creates beside a user's file is the
/// user's (so root holding it once does not lock the user out), and a directory or a special
/// file at the path is refused without anything created beside it.
#[test]
fn a_lock_on_any_path_takes_its_owner_and_refuses_special_files() {
    let dir = tempdir();
    let fifo = dir.path().join("pipe");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0)
        .unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for path in [fifo.as_path(), sub.as_path(), Path::new("/dev/null")] {
        let err = ndlog::LogLock::acquire(path, std::time::Duration::ZERO).unwrap_err();
        assert!(matches!(err.kind(), ndlog::ErrorKind::NotALog { .. }), "{err}");
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        assert!(!Path::new(&lock).exists(), "{err}");
    }
    if !is_root() {
        eprintln!("skipped the owner half: needs root to give files away");
        return;
    }
    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, b"{}").unwrap();
    chown(&settings, USER);
    drop(ndlog::LogLock::acquire(&settings, std::time::Duration::ZERO).unwrap());
    let lock = dir.path().join("settings.json.lock");
    assert_eq!(owner(&lock), USER);
    assert_eq!(mode(&lock), 0o600);
}

#[test]
fn atomic_write_keeps_the_owner_of_the_file_it_replaces() {
    if !is_root() {
        eprintln!("skipped: needs root to give files away");
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("registry.json");
    std::fs::write(&path, b"{}\n").unwrap();
    chown(&path, USER);
    ndlog::fs::atomic_write(&path, b"{\"n\":1}\n", 0o640).unwrap();
    assert_eq!(owner(&path), USER, "root replacing a user's file leaves it the user's");
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"n\":1}\n");
    // A new file belongs to whoever wrote it.
    let fresh = dir.path().join("fresh.json");
    ndlog::fs::atomic_write(&fresh, b"1\n", 0o600).unwrap();
    assert_eq!(owner(&fresh).0, 0);
}

/// `create --mode` gives every file of the new log the same bits, less the umask (as `open`
/// gives a file it creates), plain or segmented, chained or not; a mode with set-id or sticky
/// bits, or one that denies the owner reading or writing, is refused (exit 2) before anything
/// is created.
#[test]
fn create_mode_gives_every_file_the_same_bits_less_the_umask() {
    let dir = tempdir();
    let create = |args: &[&str]| {
        let ndlog = util::ndlog();
        std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 027 && exec \"$@\"")
            .arg("sh")
            .arg(ndlog.get_program())
            .args(args)
            .output()
            .unwrap()
    };
    let plain = dir.path().join("plain.ndjson");
    let seg = dir.path().join("seg");
    for (log, extra) in [(&plain, &[][..]), (&seg, &["--segment-bytes", "4MiB"][..])] {
        let l = log.to_str().unwrap();
        let args: Vec<&str> = ["create", l, "--chain", "--mode", "666"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let out = create(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(run(&["append", l], b"{\"a\":1}\n").status.success());
    }
    let mut files = Vec::new();
    for d in [dir.path(), seg.as_path()] {
        for entry in std::fs::read_dir(d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
                files.push((entry.file_name().into_string().unwrap(), mode));
            }
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    assert!(files.iter().all(|&(_, mode)| mode == 0o640), "{files:?}");
    let dir_mode = std::fs::metadata(&seg).unwrap().permissions().mode() & 0o7777;
    assert_eq!(dir_mode, 0o750);

    for mode in ["7777", "4600", "1600", "0", "400", "200", "1000", "8"] {
        let log = dir.path().join(format!("m{mode}"));
        let out = create(&["create", log.to_str().unwrap(), "--mode", mode]);
        assert_eq!(out.status.code(), Some(2), "--mode {mode}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--mode"), "--mode {mode}");
        assert!(!log.exists(), "--mode {mode} created the log");
    }
}

/// `ndlog index` on a log whose index its user may not append to (made read-only) rebuilds it,
/// as `--rebuild` does. Failed on d50e891: "the index could not be updated: Permission denied",
/// exit 1, with nothing said about what to do.
#[test]
fn index_replaces_an_index_it_may_not_append_to() {
    let dir = tempdir();
    let log = write_log(dir.path(), "events.ndjson", 20);
    let l = log.to_str().unwrap();
    assert!(run(&["index", l], b"").status.success());
    let idx = dir.path().join("events.ndjson.idx");
    std::fs::set_permissions(&idx, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root may append to anything: the user's log is given to another user, who runs ndlog.
    let as_user = is_root();
    if as_user {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            chown(&entry.unwrap().path(), USER);
        }
        chown(dir.path(), USER);
    }
    let run_it = |args: &[&str], stdin: &[u8]| match as_user {
        true => run_as_user(args, stdin),
        false => Some(run(args, stdin)),
    };
    let Some(out) = run_it(&["append", l], b"1\n2\n3\n4\n5\n6\n7\n8\n") else { return };
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_it(&["index", l], b"").unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("rebuilt") && stdout(&out).contains("Permission denied"));
    let out = run_it(&["index", "--check", l], b"").unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("agrees with the log: 7 entries"), "{}", stdout(&out));
}
