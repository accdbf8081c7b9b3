//! Compaction triggered by a writer: when a threshold is crossed, the writer starts a
//! compaction on a background thread and goes on appending.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::compact::{CompactReport, Compactor, Policy};
use crate::error::{Error, Result};
use crate::fs::Vfs;

/// When a writer compacts its log by itself. Checked every [`AutoCompact::check_every`]
/// appends of the handle, from what the writer already knows (no extra I/O but for the age
/// check, which reads the first line). Any threshold that is set and crossed starts one
/// compaction in the background, unless one is running.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::{AutoCompact, Options, Policy};
/// let writer = Options::new()
///     .auto_compact(AutoCompact::new(Policy::new().keep_last(100_000)).size_over(512 << 20))
///     .open(dir.path().join("events.ndjson"))?;
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AutoCompact {
    pub(crate) policy: Policy,
    pub(crate) size_over: Option<u64>,
    pub(crate) older_than: Option<Duration>,
    pub(crate) dead_share: Option<f64>,
    pub(crate) check_every: u64,
}

impl AutoCompact {
    /// Compacts by `policy` when a threshold set below is crossed.
    pub fn new(policy: Policy) -> Self {
        AutoCompact {
            policy,
            size_over: None,
            older_than: None,
            dead_share: None,
            check_every: 1024,
        }
    }

    /// When the log is larger than `bytes`.
    #[must_use]
    pub fn size_over(mut self, bytes: u64) -> Self {
        self.size_over = Some(bytes);
        self
    }

    /// When the oldest record is older than `age`.
    #[must_use]
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// When at least this share (0 to 1) of the records would be removed. Measured by the
    /// background compaction's own plan, which rewrites only above the share.
    #[must_use]
    pub fn dead_share(mut self, share: f64) -> Self {
        self.dead_share = Some(share);
        self
    }

    /// Appends between checks (default 1024).
    #[must_use]
    pub fn check_every(mut self, appends: u64) -> Self {
        self.check_every = appends.max(1);
        self
    }
}

/// A writer's auto-compaction state.
#[derive(Debug)]
pub(crate) struct AutoState {
    config: AutoCompact,
    appends: AtomicU64,
    running: Arc<AtomicBool>,
    last: Arc<Mutex<Option<Result<CompactReport>>>>,
}

impl AutoState {
    pub(crate) fn new(config: AutoCompact) -> Self {
        AutoState {
            config,
            appends: AtomicU64::new(0),
            running: Arc::new(AtomicBool::new(false)),
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Counts `n` appends; on every `check_every`-th, asks `crossed` whether a threshold is
    /// crossed and if so starts a background compaction of `path`.
    pub(crate) fn after_append<V: Vfs>(
        &self,
        n: u64,
        vfs: &V,
        path: &std::path::Path,
        log_len: u64,
        first_ts: impl FnOnce() -> Option<u64>,
    ) {
        let before = self.appends.fetch_add(n, Ordering::Relaxed);
        let every = self.config.check_every;
        if before / every == (before + n) / every {
            return;
        }
        let c = &self.config;
        let by_size = c.size_over.is_some_and(|max| log_len > max);
        let by_age = c.older_than.is_some_and(|age| {
            let now = crate::clock::now_ms();
            first_ts().is_some_and(|ts| now.saturating_sub(ts) > crate::clock::millis(age))
        });
        if !(by_size || by_age || c.dead_share.is_some()) {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        // Skip when a compaction is already running; wait for the writer lock like a writer.
        let mut compactor = Compactor::new_in(vfs.clone(), path, c.policy.clone())
            .queue_timeout(Duration::ZERO)
            .lock_timeout(super::Options::DEFAULT_LOCK_TIMEOUT);
        if !(by_size || by_age) {
            compactor = compactor.min_dead_share(c.dead_share.unwrap_or(0.0));
        }
        let (running, last) = (self.running.clone(), self.last.clone());
        std::thread::spawn(move || {
            let result = compactor.run();
            *last.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            running.store(false, Ordering::Release);
        });
    }

    pub(crate) fn last(&self) -> Option<Result<CompactReport>> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref().map(|r| r.as_ref().cloned().map_err(Error::duplicate))
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}
