//! Which record of each key is the newest, for key compaction's plan: fed each keyed record's
//! key and position in file order, it reports every position a later record of the same key
//! supersedes.
//!
//! One map of every key, probed once a record, cost a cache miss a record on a log with many
//! keys (the map is megabytes, behind a streaming read of the log): most of a key compaction's
//! time. So the records of a window are first dealt into partitions by a hash of their key,
//! and each partition is then applied to its own map, in file order: a partition's map is
//! visited once a window, by all of the window's records of its keys, so its lines come into
//! the cache once a window rather than once a record. Keys are compared by their bytes; short
//! ones are held in the map itself, so a comparison reads no log bytes either. The window costs
//! 8–16 MiB beside the map of keys, whatever the size of the log.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

/// Partitions: the maps of a log with a million keys are then ~0.6 MB each.
const PARTS: usize = 64;
/// Records dealt before the partitions are applied (8 MiB of keys and positions). A quarter
/// of this measured 13 % slower on 100,000 keys; four times this, no faster.
const WINDOW: usize = 1 << 18;
/// Up to this many keys one map is probed directly (~0.7 MB: it stays in the cache, and dealing
/// would only add work: 13 % slower on a log of 10 keys).
const DIRECT: usize = 1 << 14;
/// Keys up to this many bytes (quotes included) are held inline.
const INLINE: usize = 22;

/// A key, held inline when short. Hashed and compared by its bytes, however it is held.
#[derive(Debug)]
enum Key<'a> {
    Inline { len: u8, bytes: [u8; INLINE] },
    Held(Cow<'a, [u8]>),
}

impl<'a> Key<'a> {
    fn new(key: Cow<'a, [u8]>) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..key.len()].copy_from_slice(&key);
                Key::Inline { len, bytes }
            }
            _ => Key::Held(key),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Held(key) => key,
        }
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key<'_> {}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

type Map<'a> = HashMap<Key<'a>, usize, foldhash::fast::RandomState>;

/// The newest position of every key seen: in one map while there are few keys, then in
/// partitions.
pub(crate) struct Newest<'a> {
    /// The one map, until it holds more than [`DIRECT`] keys.
    direct: Option<Map<'a>>,
    /// Picks a key's partition: a hasher of its own, so that the keys of one partition do
    /// not share the bits their map's hasher uses.
    parts_by: foldhash::fast::RandomState,
    maps: Vec<Map<'a>>,
    /// The window's records not yet applied, by partition, in file order.
    dealt: Vec<Vec<(Key<'a>, usize)>>,
    pending: usize,
}

impl<'a> Newest<'a> {
    pub(crate) fn new() -> Self {
        Newest {
            direct: Some(Map::default()),
            parts_by: foldhash::fast::RandomState::default(),
            maps: (0..PARTS).map(|_| Map::default()).collect(),
            dealt: (0..PARTS).map(|_| Vec::new()).collect(),
            pending: 0,
        }
    }

    /// The record at position `at` (after every position pushed before) has `key`; calls
    /// `superseded` with the position of each record a later one of its key supersedes, here
    /// or at a later push or [`Newest::finish`].
    pub(crate) fn push(&mut self, key: Cow<'a, [u8]>, at: usize, superseded: impl FnMut(usize)) {
        self.push_key(Key::new(key), at, superseded);
    }

    fn push_key(&mut self, key: Key<'a>, at: usize, mut superseded: impl FnMut(usize)) {
        if let Some(map) = &mut self.direct {
            if let Some(older) = map.insert(key, at) {
                superseded(older);
            }
            if map.len() > DIRECT {
                self.split();
            }
            return;
        }
        let part = self.part(key.bytes());
        self.dealt[part].push((key, at));
        self.pending += 1;
        if self.pending == WINDOW {
            self.apply(superseded);
        }
    }

    /// Applies what is left: after it, every superseded position has been reported.
    pub(crate) fn finish(&mut self, superseded: impl FnMut(usize)) {
        self.apply(superseded);
    }

    /// Takes in `later`, finished, of the records right after every one pushed here: its
    /// positions count from `base`. Calls `superseded` with the position of each record here
    /// that one there supersedes (now or at a later push or [`Newest::finish`]). The work is
    /// one push for each of `later`'s keys, not for each of its records: the plans of
    /// stretches of a log, made on several threads, are joined this way.
    pub(crate) fn extend(
        &mut self,
        later: Newest<'a>,
        base: usize,
        mut superseded: impl FnMut(usize),
    ) {
        // (Records still in its window would be lost: a wrong plan, not a panic, so checked
        // in every build.)
        assert_eq!(later.pending, 0, "a stretch's map is finished before it is joined");
        let maps = later.direct.into_iter().chain(later.maps);
        for (key, at) in maps.flatten() {
            self.push_key(key, base + at, &mut superseded);
        }
    }

    fn part(&self, key: &[u8]) -> usize {
        (self.parts_by.hash_one(key) % PARTS as u64) as usize
    }

    /// Moves the one map's keys into the partitions' maps, each with its newest position.
    fn split(&mut self) {
        let Some(map) = self.direct.take() else { return };
        for (key, at) in map {
            let part = self.part(key.bytes());
            self.maps[part].insert(key, at);
        }
    }

    fn apply(&mut self, mut superseded: impl FnMut(usize)) {
        for (map, dealt) in self.maps.iter_mut().zip(&mut self.dealt) {
            for (key, at) in dealt.drain(..) {
                if let Some(older) = map.insert(key, at) {
                    superseded(older);
                }
            }
        }
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions `Newest` reports superseded, against a plain map of every key, for `keys`
    /// pushed in order at positions 0, 1, ...
    fn check(keys: &[Vec<u8>]) {
        let mut newest = Newest::new();
        let mut reported = vec![false; keys.len()];
        let mut mark = |older: usize| {
            assert!(!reported[older], "position {older} reported twice");
            reported[older] = true;
        };
        for (at, key) in keys.iter().enumerate() {
            newest.push(Cow::Borrowed(key), at, &mut mark);
        }
        newest.finish(&mut mark);
        assert_eq!(reported, expected(keys));
        // The same keys cut into stretches, each pushed into a map of its own, the maps joined
        // in order: cut in two, in three (one stretch empty), and after every key.
        let n = keys.len();
        for cuts in [vec![n / 2], vec![n / 3, n / 3, 2 * n / 3], (1..n.min(50)).collect()] {
            check_joined(keys, &cuts);
        }
    }

    /// Which positions a plain map of every key reports superseded.
    fn expected(keys: &[Vec<u8>]) -> Vec<bool> {
        let mut last = std::collections::HashMap::new();
        let mut expected = vec![false; keys.len()];
        for (at, key) in keys.iter().enumerate() {
            if let Some(older) = last.insert(key.clone(), at) {
                expected[older] = true;
            }
        }
        expected
    }

    /// `keys` cut before each of `cuts`, each stretch's keys pushed into a map of its own with
    /// positions counted from the stretch's start and finished, the maps then joined in order
    /// with [`Newest::extend`].
    fn check_joined(keys: &[Vec<u8>], cuts: &[usize]) {
        let mut reported = vec![false; keys.len()];
        let mut joined: Option<Newest<'_>> = None;
        let bounds: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).collect();
        for (i, &from) in bounds.iter().enumerate() {
            let to = bounds.get(i + 1).copied().unwrap_or(keys.len());
            let mut mark = |older: usize| {
                assert!(!reported[from + older], "position {} reported twice", from + older);
                reported[from + older] = true;
            };
            let mut stretch = Newest::new();
            for (at, key) in keys[from..to].iter().enumerate() {
                stretch.push(Cow::Borrowed(key), at, &mut mark);
            }
            stretch.finish(&mut mark);
            let mut mark = |older: usize| {
                assert!(!reported[older], "position {older} reported twice");
                reported[older] = true;
            };
            match &mut joined {
                None => joined = Some(stretch),
                Some(joined) => joined.extend(stretch, from, &mut mark),
            }
        }
        if let Some(mut joined) = joined {
            joined.finish(|older| {
                assert!(!reported[older], "position {older} reported twice");
                reported[older] = true;
            });
        }
        assert_eq!(reported, expected(keys), "cut at {cuts:?}");
    }

    /// A deterministic stream of keys over `distinct` values: short and long (held inline or
    /// not), some a prefix of others.
    fn keys(n: usize, distinct: u64) -> Vec<Vec<u8>> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let k = (x >> 33) % distinct;
                match k % 3 {
                    0 => format!("\"k{k}\"").into_bytes(),
                    1 => format!("\"a-key-longer-than-the-inline-limit-{k}\"").into_bytes(),
                    _ => format!("\"k{k}\"{}", "x".repeat((k % 40) as usize)).into_bytes(),
                }
            })
            .collect()
    }

    #[test]
    fn reports_exactly_the_superseded_positions() {
        check(&[]);
        check(&[b"\"a\"".to_vec()]);
        check(&[b"\"a\"".to_vec(), b"\"a\"".to_vec(), b"\"b\"".to_vec(), b"\"a\"".to_vec()]);
        // An empty key and the longest inline one beside one byte longer.
        check(&[vec![], vec![b'x'; INLINE], vec![b'x'; INLINE + 1], vec![], vec![b'x'; INLINE]]);
        check(&keys(1_000, 7));
        // Across windows: a key's records apart by more than a window, and many keys.
        check(&keys(WINDOW * 3 + 17, 1_000));
        check(&keys(WINDOW * 2 + 5, 200_000));
        // A later stretch with more distinct keys than a window: the join applies a window
        // partway through.
        // (Over 2^20 values, ~40 % of the first stretch's keys recur in the later one.)
        check_joined(&keys(WINDOW * 2 + 5, 1 << 20), &[1_000]);
    }
}
