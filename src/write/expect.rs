//! Conditional appends: [`Expect`] says what the log or an entity must look like at the moment
//! of writing, and the check is one more step under the lock (after the end of the log is found
//! and the derived state caught up, before seqs are assigned), so nothing can come in between.

use serde::Serialize;

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::fs::Vfs;

use super::ack::{Ack, BatchAck, first_ack};
use super::batch::Source;
use super::{Durability, State, Writer};
use crate::read::last_record::Last;

/// What must hold for a conditional append ([`Writer::append_if`]) to be written. Checked under
/// the writer lock, so it holds across processes; when it does not, nothing is written and the
/// append fails with [`ErrorKind::Conflict`] carrying the actual value.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use ndlog::{ErrorKind, Expect, Options};
/// let log = Options::new().open(dir.path().join("events.ndjson"))?;
/// log.append_if(Expect::LastSeq(0), &"first")?;
/// let err = log.append_if(Expect::LastSeq(0), &"also first?").unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Conflict { actual: 1, .. }));
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expect {
    /// The log's last record has this seq (0: the log holds no record).
    LastSeq(u64),
    /// Each payload's entity (its value at [`crate::Options::entity_key`]) has its newest
    /// record at this seq: its version (0: the entity has no record yet). Every payload of a
    /// batch is checked against the log before the batch.
    Version(u64),
}

impl<V: Vfs> Writer<V> {
    /// Appends one serialisable value if `expect` holds at the moment of writing: optimistic
    /// concurrency, "create if absent" (`Expect::Version(0)`), counters.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] with the actual last seq or version when `expect` does not hold
    /// (nothing is written); [`ErrorKind::InvalidArgument`] for [`Expect::Version`] on a writer
    /// without [`crate::Options::entity_key`]; [`ErrorKind::InvalidPayload`] when the payload
    /// has no entity; and the errors of [`Writer::append`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use ndlog::{ErrorKind, Expect, JsonPointer, Options};
    /// let log = Options::new()
    ///     .entity_key(JsonPointer::parse("/id")?)
    ///     .open(dir.path().join("counters.ndjson"))?;
    /// let v1 = log.append_if(Expect::Version(0), &serde_json::json!({"id": "c", "n": 1}))?;
    /// // A second "create" of the same entity conflicts and names the actual version.
    /// let err = log.append_if(Expect::Version(0), &serde_json::json!({"id": "c", "n": 1}));
    /// match err.unwrap_err().kind() {
    ///     ErrorKind::Conflict { actual, .. } => assert_eq!(*actual, v1.seq),
    ///     other => panic!("{other}"),
    /// }
    /// log.append_if(Expect::Version(v1.seq), &serde_json::json!({"id": "c", "n": 2}))?;
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn append_if<T: Serialize + ?Sized>(&self, expect: Expect, value: &T) -> Result<Ack> {
        self.with_serialized(std::iter::once(value), false, |bytes, ends| {
            self.commit_if(expect, 1, |_| &bytes[..ends[0]]).map(first_ack)
        })
    }

    /// [`Writer::append_if`] for a payload the caller serialised.
    ///
    /// # Errors
    /// As [`Writer::append_if`] and [`Writer::append_raw`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = ndlog::Writer::open(dir.path().join("events.ndjson"))?;
    /// assert_eq!(log.append_raw_if(ndlog::Expect::LastSeq(0), br#"{"a":1}"#)?.seq, 1);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn append_raw_if(&self, expect: Expect, json: &[u8]) -> Result<Ack> {
        let data = self.check_raw(json, None)?;
        self.commit_if(expect, 1, |_| data).map(first_ack)
    }

    /// [`Writer::append_raw_batch`] if `expect` holds: all the payloads or none. An empty
    /// batch writes nothing and is still checked.
    ///
    /// # Errors
    /// As [`Writer::append_if`] and [`Writer::append_raw_batch`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = ndlog::Writer::open(dir.path().join("events.ndjson"))?;
    /// let ack = log.append_raw_batch_if(ndlog::Expect::LastSeq(0), &["1", "2"])?;
    /// assert_eq!(ack.count, 2);
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn append_raw_batch_if<P: AsRef<[u8]>>(
        &self,
        expect: Expect,
        payloads: &[P],
    ) -> Result<BatchAck> {
        if payloads.is_empty() {
            return self.check_only(expect);
        }
        for (i, p) in payloads.iter().enumerate() {
            self.check_raw(p.as_ref(), Some(i))?;
        }
        self.commit_if(expect, payloads.len(), |i| payloads[i].as_ref().trim_ascii())
    }

    /// [`Writer::append_batch`] if `expect` holds: all the values or none. An empty batch
    /// writes nothing and is still checked.
    ///
    /// # Errors
    /// As [`Writer::append_if`] and [`Writer::append_batch`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = ndlog::Writer::open(dir.path().join("events.ndjson"))?;
    /// let ack = log.append_batch_if(ndlog::Expect::LastSeq(0), [1, 2, 3])?;
    /// assert_eq!((ack.first_seq, ack.count), (1, 3));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn append_batch_if<T, I>(&self, expect: Expect, values: I) -> Result<BatchAck>
    where
        T: Serialize,
        I: IntoIterator<Item = T>,
    {
        self.with_serialized(values, true, |bytes, ends| {
            if ends.is_empty() {
                return self.check_only(expect);
            }
            let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
            self.commit_if(expect, ends.len(), |i| &bytes[start(i)..ends[i]])
        })
    }

    /// A conditional batch goes straight under the lock (never through the group commit,
    /// whose batch mixes other threads' appends), synced as the durability says.
    fn commit_if<'p>(
        &self,
        expect: Expect,
        count: usize,
        payload: impl Fn(usize) -> &'p [u8],
    ) -> Result<BatchAck> {
        let sync = self.opts.durability != Durability::Never;
        self.write_locked(Source::Payloads { count, payload }, Some(expect), sync)
    }

    /// An empty conditional batch: nothing to write, but the answer is still the check's,
    /// taken under the lock like any other (a caller that asks whether the log ends at seq N
    /// gets told). [`Expect::Version`] names no entity here, so it holds.
    fn check_only(&self, expect: Expect) -> Result<BatchAck> {
        self.check_poison()?;
        let mut state = self.lock_state();
        let _guard = self.lock_unless_exclusive()?;
        let tail = self.end_of_log(&mut state)?;
        let previous = tail.last.unwrap_or(Last { seq: 0, ts: 0 });
        // A damaged record a sync covered after it is the last, as for a conditional append.
        let floor = self.durable_damage(&state, tail)?.unwrap_or(0);
        let previous = Last { seq: previous.seq.max(floor), ..previous };
        let none = |_: usize| -> &[u8] { &[] };
        self.check_expectation(
            &mut state,
            &Source::Payloads { count: 0, payload: none },
            expect,
            previous,
        )?;
        Ok(BatchAck::empty())
    }

    /// The check step: under the lock, after the derived state caught up with the log.
    pub(super) fn check_expectation<'p, P: Fn(usize) -> &'p [u8]>(
        &self,
        state: &mut State<V>,
        source: &Source<'_, P>,
        expect: Expect,
        previous: Last,
    ) -> Result<()> {
        let conflict = |expected, actual, entity| {
            let path = self.path.clone();
            Err(ErrorKind::Conflict { path, expected, actual, entity }.into())
        };
        match expect {
            Expect::LastSeq(n) if n == previous.seq => Ok(()),
            Expect::LastSeq(n) => conflict(n, previous.seq, None),
            Expect::Version(n) => {
                let Source::Payloads { count, payload } = source else { return Ok(()) };
                let older = self.older(state);
                let State { derived, file, .. } = state;
                let versions = derived.versions.as_mut().ok_or_else(|| {
                    Error::invalid_argument(
                        "a version expectation needs an entity key (Options::entity_key)",
                    )
                })?;
                for i in 0..*count {
                    let Some(entity) = versions.checked_entity(i, payload(i)) else {
                        let why = format!("no value at the entity key {}", versions.key);
                        return Err(Error::payload(
                            &self.path,
                            Some(i).filter(|_| *count > 1),
                            why,
                        ));
                    };
                    let actual = versions
                        .version_of(&self.vfs, &**file, &entity, older)
                        .at(&self.path, "read")?;
                    if actual != n {
                        return conflict(n, actual, Some(String::from_utf8_lossy(&entity).into()));
                    }
                }
                Ok(())
            }
        }
    }
}
