//! The one wall clock: every `ts` ndlog assigns, and every age a policy measures, comes from
//! here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock in unix milliseconds (0 before 1970, `u64::MAX` past the year 584 million).
pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// An age or a retention in milliseconds, as ts are counted: one of more than `u64::MAX` ms
/// (584 million years) is as good as forever, never cut down to what fits (`as u64` keeps the
/// low bits: 18446744073709552s became 384ms).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
