//! The one wall clock: every `ts` ndlog assigns, and every age a policy measures, comes from
//! here.

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock in unix milliseconds (0 before 1970, `u64::MAX` past the year 584 million).
pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
