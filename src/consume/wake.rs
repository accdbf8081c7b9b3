//! Waiting for a log to change: inotify on the log's directory where the file system has it,
//! a short poll where it has not, and a [`Stopper`] that ends either wait from another thread.

use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

/// Ends a [`crate::Follow`]'s wait from another thread (or a signal-handling thread): its
/// blocking `next` returns `None`, and its `Iterator` ends. Cheap to clone; every clone stops
/// the same followers.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("events.ndjson");
/// # ndlog::Writer::open(&path)?;
/// let mut follow = ndlog::Reader::open(&path)?.follow();
/// let stop = follow.stopper();
/// let waiter = std::thread::spawn(move || follow.next().is_none());
/// stop.stop();
/// assert!(waiter.join().unwrap(), "the follower ended without a record");
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Stopper {
    inner: Arc<StopInner>,
}

#[derive(Debug)]
struct StopInner {
    stopped: AtomicBool,
    /// Readable once stopped: what an inotify wait polls beside the inotify descriptor.
    event: Option<OwnedFd>,
    lock: Mutex<()>,
    woken: Condvar,
}

impl Default for Stopper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopper {
    /// A stopper that has not stopped.
    ///
    /// # Example
    /// ```
    /// let stop = ndlog::consume::Stopper::new();
    /// assert!(!stop.is_stopped());
    /// stop.stop();
    /// assert!(stop.is_stopped());
    /// ```
    pub fn new() -> Self {
        let event = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok();
        let inner = StopInner {
            stopped: AtomicBool::new(false),
            event,
            lock: Mutex::new(()),
            woken: Condvar::new(),
        };
        Stopper { inner: Arc::new(inner) }
    }

    /// Stops every follower using this stopper, now and from now on.
    ///
    /// # Example
    /// See [`Stopper`].
    pub fn stop(&self) {
        let inner = &*self.inner;
        inner.stopped.store(true, Ordering::SeqCst);
        if let Some(fd) = &inner.event {
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
        let _guard = inner.lock.lock().unwrap_or_else(PoisonError::into_inner);
        inner.woken.notify_all();
    }

    /// Whether [`Stopper::stop`] was called.
    ///
    /// # Example
    /// See [`Stopper::new`].
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps for `nap`, or until stopped.
    pub(crate) fn sleep(&self, nap: Duration) {
        let inner = &*self.inner;
        let guard = inner.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.is_stopped() {
            let _ = inner.woken.wait_timeout(guard, nap);
        }
    }
}

/// An inotify watch on a log's directory, for changes to some of its names.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: OwnedFd,
    names: Vec<OsString>,
    buf: Vec<MaybeUninit<u8>>,
}

impl Waker {
    /// Watches the directory holding `names` (paths in one directory) for their creation,
    /// their modification and renames onto them. `None` where inotify is unavailable (another
    /// OS, a kernel without it, the directory missing, the watch limit reached): the caller
    /// polls then.
    pub(crate) fn new(paths: &[&Path]) -> Option<Waker> {
        let dir = crate::names::parent_dir(paths.first()?);
        let names = paths.iter().filter_map(|p| p.file_name().map(OsString::from)).collect();
        Waker::watch(dir, names)
    }

    /// Watches the directory `dir` for a change to any name in it (a segmented log's
    /// directory: its segments come and go by name).
    pub(crate) fn any(dir: &Path) -> Option<Waker> {
        Waker::watch(dir, Vec::new())
    }

    /// Watches `dir` for changes to `names` (to any name when empty).
    fn watch(dir: &Path, names: Vec<OsString>) -> Option<Waker> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        let flags = WatchFlags::MODIFY
            | WatchFlags::CREATE
            | WatchFlags::MOVED_TO
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::ATTRIB;
        inotify::add_watch(&fd, dir, flags).ok()?;
        Some(Waker { fd, names, buf: vec![MaybeUninit::uninit(); 4096] })
    }

    /// Waits up to `timeout` for a change to one of the names, or for `stop`. Changes made
    /// since the watch began and not yet seen end the wait at once, so a change between the
    /// caller's last look and this call is never missed.
    pub(crate) fn wait(&mut self, stop: &Stopper, timeout: Duration) {
        if self.drain() || stop.is_stopped() {
            return;
        }
        let timeout = Timespec {
            tv_sec: timeout.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        let mut fds = vec![PollFd::new(&self.fd, PollFlags::IN)];
        if let Some(event) = &stop.inner.event {
            fds.push(PollFd::new(event, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            // A signal: the caller looks again and comes back.
            Err(Errno::INTR) => {}
            // Cannot wait here: do not spin either.
            Err(_) => stop.sleep(Duration::from_millis(10)),
        }
    }

    /// Reads every queued event; whether one was about a watched name (or the queue
    /// overflowed and some may have been).
    fn drain(&mut self) -> bool {
        let mut relevant = false;
        let mut reader = inotify::Reader::new(&self.fd, &mut self.buf);
        loop {
            match reader.next() {
                Ok(event) => {
                    if event.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                        relevant = true;
                    }
                    if let Some(name) = event.file_name() {
                        let name = std::ffi::OsStr::from_bytes(name.to_bytes());
                        relevant |= self.names.is_empty() || self.names.iter().any(|n| n == name);
                    }
                }
                Err(Errno::INTR) => {}
                Err(_) => return relevant,
            }
        }
    }
}

/// Waits until a file exists at `path` (`tail -f` on a log not created yet), or a directory
/// holding a segmented log's settings (`ndlog.json`: `ndlog create` makes the directory
/// first): through inotify on its directory where it can, polling every 50 ms where it cannot
/// (the directory does not exist yet, say). Returns `false` when `stop` ended the wait first.
///
/// # Errors
/// [`crate::ErrorKind::Io`] naming `path` when it cannot be examined (a directory on the way
/// is not searchable, say).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("later.ndjson");
/// let waiting = {
///     let path = path.clone();
///     std::thread::spawn(move || ndlog::consume::wait_until_exists(&path, &ndlog::consume::Stopper::new()))
/// };
/// ndlog::Writer::open(&path)?;
/// assert!(waiting.join().unwrap()?);
/// # Ok::<(), ndlog::Error>(())
/// ```
pub fn wait_until_exists(path: impl AsRef<Path>, stop: &Stopper) -> crate::Result<bool> {
    let log = path.as_ref();
    let settings = log.join(crate::segments::naming::SETTINGS);
    // What is waited for: the path, then (once it is a directory) its settings.
    let mut path = log;
    let mut waker = Waker::new(&[path]);
    loop {
        if stop.is_stopped() {
            return Ok(false);
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() && path == log => {
                path = &settings;
                waker = Waker::new(&[path]);
                continue;
            }
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::io(path, "stat", e)),
        }
        match &mut waker {
            Some(w) => w.wait(stop, Duration::from_secs(1)),
            None => {
                stop.sleep(Duration::from_millis(50));
                waker = Waker::new(&[path]);
            }
        }
    }
}
