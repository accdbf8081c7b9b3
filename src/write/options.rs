//! How a writer is opened: durability, lock timeout, limits, file mode.

use std::time::Duration;

use crate::error::{Error, Result};

/// When an append counts as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Each call returns only after an `fdatasync` covers its record: its own, or one another
    /// writer of the log (another process, say) began after the record was written and
    /// published in `LOG.watermark`.
    #[default]
    Always,
    /// Like `Always`, but concurrent appenders on one handle share an `fdatasync`: one thread
    /// syncs for every record written before its sync began, and each call returns once its
    /// record is covered. The next batch is written while one syncs; with one appending thread
    /// it costs what `Always` costs.
    Group,
    /// The call returns once the record is written to the operating system; call
    /// [`crate::Writer::sync`] to make it durable. A process crash loses nothing, a power loss may.
    Never,
}

impl std::str::FromStr for Durability {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "always" => Ok(Durability::Always),
            "group" => Ok(Durability::Group),
            "never" => Ok(Durability::Never),
            other => Err(Error::invalid_argument(format!(
                "durability {other:?}: expected always, group or never"
            ))),
        }
    }
}

/// Options for opening a [`crate::Writer`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::{Durability, Options};
/// use std::time::Duration;
/// let writer = Options::new()
///     .durability(Durability::Group)
///     .lock_timeout(Duration::from_secs(2))
///     .open(dir.path().join("events.ndjson"))?;
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) lock_timeout: Duration,
    pub(crate) max_record_size: usize,
    pub(crate) create: bool,
    pub(crate) mode: u32,
    pub(crate) index: bool,
    pub(crate) index_stride: u32,
    pub(crate) auto_compact: Option<super::AutoCompact>,
    pub(crate) dedup: Option<super::dedup::Dedup>,
    pub(crate) exclusive: bool,
    pub(crate) entity_key: Option<crate::json::JsonPointer>,
    pub(crate) entity_cache: usize,
    pub(crate) version_table: bool,
    pub(crate) chain: bool,
    pub(crate) segments: Option<crate::segments::Settings>,
    pub(crate) background_segments: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Always,
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
            max_record_size: Self::DEFAULT_MAX_RECORD_SIZE,
            create: true,
            mode: 0o600,
            index: true,
            index_stride: crate::index::DEFAULT_STRIDE,
            auto_compact: None,
            dedup: None,
            exclusive: false,
            entity_key: None,
            entity_cache: super::versions::DEFAULT_CAPACITY,
            version_table: true,
            chain: false,
            segments: None,
            background_segments: true,
        }
    }
}

impl Options {
    /// Default for [`Options::lock_timeout`]: 10 seconds.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`Options::max_record_size`]: 1 MiB.
    pub const DEFAULT_MAX_RECORD_SIZE: usize = 1 << 20;
    /// Default for [`Options::index_stride`]: an index entry every 4 records.
    pub const DEFAULT_INDEX_STRIDE: u32 = crate::index::DEFAULT_STRIDE;
    /// Upper bound for [`Options::max_record_size`]: 256 MiB.
    pub const MAX_RECORD_SIZE_LIMIT: usize = 256 << 20;

    /// The defaults: `Always` durability, a 10 s lock timeout, 1 MiB payloads, create the log
    /// with mode `0o600` when it is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// When an append counts as done (default [`Durability::Always`]).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long an append waits for the writer lock before failing with
    /// [`crate::ErrorKind::LockTimeout`] (default 10 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The largest payload, in bytes, an append accepts (default 1 MiB, at most 256 MiB). The
    /// frame adds at most [`crate::format::MAX_FRAME_OVERHEAD`] bytes around it.
    #[must_use]
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = bytes;
        self
    }

    /// Whether to create the log when it does not exist (default `true`).
    #[must_use]
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Permission bits of a newly created log and its lock file (default `0o600`).
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Whether the writer keeps the sidecar index `LOG.idx` current (default `true`). Under
    /// the lock, every `stride`-th append catches the index up from the log: about three
    /// system calls per stride, never an fsync. Without it readers still answer every query,
    /// searching the part of the log the index does not cover.
    #[must_use]
    pub fn index(mut self, maintain: bool) -> Self {
        self.index = maintain;
        self
    }

    /// One index entry every `stride` records (default 4, at most 65536). Lookups scan at
    /// most a stride of records past the entry they start from.
    #[must_use]
    pub fn index_stride(mut self, stride: u32) -> Self {
        self.index_stride = stride;
        self
    }

    /// Lets the writer compact the log by itself, on a background thread, when a threshold is
    /// crossed (default: never; or run `ndlog compact --every` as a maintenance process).
    #[must_use]
    pub fn auto_compact(mut self, auto: super::AutoCompact) -> Self {
        self.auto_compact = Some(auto);
        self
    }

    /// Makes appends idempotent: a payload whose key repeats one within the window returns the
    /// original record's seq (with [`crate::Ack::duplicate`] set) and writes nothing, across
    /// processes. Off by default.
    #[must_use]
    pub fn dedup(mut self, dedup: super::dedup::Dedup) -> Self {
        self.dedup = Some(dedup);
        self
    }

    /// Holds the writer lock from open until the handle is dropped (default `false`). For a
    /// single process that owns the log: an append then costs one `write` (and the sync its
    /// durability asks for) instead of a lock round-trip and a `stat` as well. Other writers
    /// and compactions wait for the lock meanwhile (and give up after their lock timeout);
    /// it cannot be combined with [`Options::auto_compact`], whose compaction needs the lock.
    #[must_use]
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// The JSON pointer that names a payload's entity (e.g. `/id`), for appends conditional
    /// on an entity's version ([`crate::Expect::Version`]) and for [`crate::Transaction::version`].
    /// The writer then keeps the seq of each entity's newest record (its version), in step with
    /// the log across processes, so a version check does not scan the log: in a bounded
    /// in-memory cache ([`Options::entity_cache`]) that follows the appends, and in
    /// `LOG.versions` beside the log (FORMAT.md, section 12), a table every writer with the key
    /// keeps current and that answers the cache's misses, a fresh process's included, by reading
    /// at most the one record a hit names. The table is never synced: it is rebuilt from the
    /// whole log, once, by the first writer after a reboot or a compaction. Off by default.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use ndlog::{Expect, JsonPointer, Options};
    /// let writer = Options::new()
    ///     .entity_key(JsonPointer::parse("/id")?)
    ///     .open(dir.path().join("state.ndjson"))?;
    /// writer.append_if(Expect::Version(0), &serde_json::json!({"id": "a", "n": 1}))?;
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn entity_key(mut self, key: crate::json::JsonPointer) -> Self {
        self.entity_key = Some(key);
        self
    }

    /// How many entities' versions the writer keeps in memory (default 100,000). Others are
    /// found in `LOG.versions` (see [`Options::entity_key`]); where the writer cannot keep that
    /// table (a read-only directory) or does not ([`Options::version_table`]), by reading the
    /// log backwards from the oldest one evicted.
    #[must_use]
    pub fn entity_cache(mut self, entities: usize) -> Self {
        self.entity_cache = entities;
        self
    }

    /// Whether a writer with an [`Options::entity_key`] keeps the entity-version table
    /// `LOG.versions` (default `true`; FORMAT.md, section 12). Without it the writer knows
    /// versions from its in-memory cache alone, filled at its first append by reading the log
    /// back from its end until it has seen [`Options::entity_cache`] entities or the start,
    /// and a version older than all of them is read back from the log: a log with few
    /// entities is read whole at every open, one with many is read back at every miss. Other
    /// writers that keep the table still do; it reads what this one appended when they next
    /// catch up.
    #[must_use]
    pub fn version_table(mut self, keep: bool) -> Self {
        self.version_table = keep;
        self
    }

    /// Makes a new log tamper-evident (default `false`): every record carries a SHA-256 link
    /// to the history before it, computed under the writer lock (FORMAT.md, section 10), and
    /// `LOG.chain` marks the log as chained before it holds a record. A chained log stays
    /// chained: every writer extends the chain whatever this option says. Opening a log that
    /// already holds unchained records with `chain(true)` fails.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("ledger.ndjson");
    /// let writer = ndlog::Options::new().chain(true).open(&path)?;
    /// writer.append(&serde_json::json!({"id": "a", "amount": 5}))?;
    /// let report = ndlog::Reader::open(&path)?.verify_chain(None);
    /// assert!(report.is_intact());
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn chain(mut self, chain: bool) -> Self {
        self.chain = chain;
        self
    }

    /// Creates a missing log as a segmented log with these settings: a directory of sealed
    /// segments plus one active segment (see [`crate::segments`]). A log that exists keeps the
    /// kind and the settings it was created with: every writer rolls by the settings stored in
    /// the log's directory, whatever it was opened with.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use ndlog::{Options, segments::Settings};
    /// let settings = Settings { segment_records: Some(2), ..Settings::new(64 << 20) };
    /// let writer = Options::new().segments(settings).open(dir.path().join("events"))?;
    /// for n in 0..5 {
    ///     writer.append(&serde_json::json!({ "n": n }))?;
    /// }
    /// let names = ndlog::segments::list(&ndlog::fs::StdFs, &dir.path().join("events"))?;
    /// assert_eq!(names.len(), 3, "2 + 2 records sealed, 1 in the active segment");
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    #[must_use]
    pub fn segments(mut self, settings: crate::segments::Settings) -> Self {
        self.segments = Some(settings);
        self
    }

    /// Whether the next preallocated segment of a segmented log is made in a thread of its own
    /// after a roll (the default), or by the append that rolled, once it released the lock.
    /// Either way no roll writes a segment's worth of padding while writers wait for the lock;
    /// `false` keeps every file-system operation on the calling thread, as a deterministic
    /// simulation ([`crate::sim::SimFs`]) needs.
    #[must_use]
    pub fn prepare_segments_in_background(mut self, background: bool) -> Self {
        self.background_segments = background;
        self
    }

    /// Checks a payload as a writer with these options would, without a log: one JSON value
    /// on one line (surrounding whitespace aside), within the maximum record size.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn check_payload(&self, json: &[u8]) -> std::result::Result<(), String> {
        let data = json.trim_ascii();
        if data.len() > self.max_record_size {
            return Err(format!(
                "record of {} bytes exceeds the maximum record size of {} bytes",
                data.len(),
                self.max_record_size
            ));
        }
        crate::format::payload::check_payload_bytes(data)
    }

    pub(super) fn validate(&self) -> Result<()> {
        if self.max_record_size == 0 || self.max_record_size > Self::MAX_RECORD_SIZE_LIMIT {
            return Err(Error::invalid_argument(format!(
                "max record size {} must be between 1 and {} bytes",
                self.max_record_size,
                Self::MAX_RECORD_SIZE_LIMIT
            )));
        }
        if self.index_stride == 0 || self.index_stride > crate::index::MAX_STRIDE {
            return Err(Error::invalid_argument(format!(
                "index stride {} must be between 1 and {}",
                self.index_stride,
                crate::index::MAX_STRIDE
            )));
        }
        if let Some(auto) = &self.auto_compact {
            auto.policy.validate()?;
            if auto.dead_share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                return Err(Error::invalid_argument("dead share must be between 0 and 1"));
            }
            if auto.older_than == Some(Duration::ZERO) {
                return Err(Error::invalid_argument(
                    "auto-compaction age must be greater than zero",
                ));
            }
        }
        if self.dedup.as_ref().is_some_and(|d| {
            matches!(d.window, super::dedup::DedupWindow::Records(0))
                || d.window == super::dedup::DedupWindow::Age(Duration::ZERO)
        }) {
            return Err(Error::invalid_argument("the dedup window must not be empty"));
        }
        if self.exclusive && self.auto_compact.is_some() {
            return Err(Error::invalid_argument(
                "an exclusive writer cannot compact by itself: its compaction would wait for the lock the writer holds",
            ));
        }
        if self.entity_cache == 0 {
            return Err(Error::invalid_argument("the entity cache must hold at least one entity"));
        }
        if let Some(settings) = &self.segments {
            settings.validate(self.max_record_size)?;
        }
        if self.mode & !0o7777 != 0 {
            return Err(Error::invalid_argument(format!(
                "mode {:o} is not a permission mode",
                self.mode
            )));
        }
        Ok(())
    }
}
