//! The history of one entity: the records whose payload names it at a JSON pointer. A filtered
//! scan that allocates nothing per record: a payload that does not contain the entity's text
//! (and no escape that could spell it) is skipped before the pointer is evaluated.

use memchr::memmem::Finder;

use crate::json::{JsonPointer, value_is};
use crate::read::{Reader, Record, Records};

/// Iterator over the versions of one entity; see [`Reader::history`].
#[derive(Debug)]
pub struct History<'a, I> {
    records: I,
    filter: Filter<'a>,
}

#[derive(Debug)]
struct Filter<'a> {
    key: &'a JsonPointer,
    entity: &'a str,
    needle: Finder<'a>,
}

impl Filter<'_> {
    #[inline]
    fn keeps(&self, data: &[u8]) -> bool {
        let maybe = self.needle.find(data).is_some() || memchr::memchr(b'\\', data).is_some();
        maybe && self.key.find(data).is_some_and(|raw| value_is(raw, self.entity))
    }
}

impl<D: AsRef<[u8]>> Reader<D> {
    /// The records whose payload has `entity` at `key`, oldest first: the versions of one
    /// entity. A string value matches by its content, anything else by its JSON text.
    ///
    /// # Example
    /// ```
    /// let mut log = Vec::new();
    /// ndlog::format::encode(&mut log, 1, 10, br#"{"user":"u1","v":1}"#);
    /// ndlog::format::encode(&mut log, 2, 20, br#"{"user":"u2","v":1}"#);
    /// ndlog::format::encode(&mut log, 3, 30, br#"{"user":"u1","v":2}"#);
    /// let reader = ndlog::Reader::new(log);
    /// let key = ndlog::JsonPointer::parse("/user")?;
    /// let seqs: Vec<u64> = reader.history(&key, "u1").map(|r| r.seq).collect();
    /// assert_eq!(seqs, [1, 3]);
    /// assert_eq!(reader.state_at(&key, "u1", 25).map(|r| r.seq), Some(1));
    /// # Ok::<(), ndlog::Error>(())
    /// ```
    pub fn history<'a>(
        &'a self,
        key: &'a JsonPointer,
        entity: &'a str,
    ) -> History<'a, Records<'a>> {
        History { records: self.records(), filter: filter(key, entity) }
    }

    /// The newest version of the entity with ts ≤ `ts`: its state at that time. Reads
    /// backwards from the first record after `ts`, so recent states are found quickly.
    pub fn state_at<'a>(
        &'a self,
        key: &'a JsonPointer,
        entity: &'a str,
        ts: u64,
    ) -> Option<Record<'a>> {
        let before = self.records_rev_before(self.seek_past_ts(ts));
        History { records: before, filter: filter(key, entity) }.next()
    }
}

fn filter<'a>(key: &'a JsonPointer, entity: &'a str) -> Filter<'a> {
    Filter { key, entity, needle: Finder::new(entity.as_bytes()) }
}

impl<'a, I: Iterator<Item = Record<'a>>> Iterator for History<'a, I> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        self.records.by_ref().find(|r| self.filter.keeps(r.data))
    }
}

impl<'a> History<'a, Records<'a>> {
    /// What the underlying scan skipped (damage, padding, a torn tail).
    pub fn stats(&self) -> crate::read::ScanStats {
        self.records.stats()
    }
}
