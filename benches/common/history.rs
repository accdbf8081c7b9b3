//! `history`-style filters over the scan log: a hand-written `memmem` prefilter and the
//! library's `Reader::history`, both counting one user's records.

use memchr::memmem;
use ndlog::{Mapped, Reader};
use serde::Deserialize;

/// The user the history filter looks for: 1 record in 100 has it.
pub(crate) const FILTER_USER: &str = "u7";

/// Just the field the history filter needs.
#[derive(Debug, Deserialize)]
struct UserOnly<'a> {
    user: &'a str,
}

/// `history`-style filter: counts records whose `data.user` is [`FILTER_USER`]. A substring
/// search rejects most records without parsing; only candidates are deserialised (to make sure
/// the match is the top-level field). No allocation per record.
pub(crate) fn history_filter(reader: &Reader<Mapped>) -> u64 {
    let needle = format!(r#""user":"{FILTER_USER}""#);
    let finder = memmem::Finder::new(needle.as_bytes());
    let mut n = 0;
    for r in reader.records() {
        if finder.find(r.data).is_some() {
            let u: UserOnly = r.deserialize().expect("deserialize");
            n += u64::from(u.user == FILTER_USER);
        }
    }
    n
}

/// The library's `Reader::history` over `/user`: the same count as [`history_filter`]. Its
/// prefilter searches for the entity's text alone (`u7` also occurs in `u70`..`u79`), then
/// evaluates the JSON pointer on the candidates.
pub(crate) fn library_history(reader: &Reader<Mapped>, key: &ndlog::JsonPointer) -> u64 {
    reader.history(key, FILTER_USER).count() as u64
}
