//! Parsing and printing times and durations on the command line.

use std::time::{Duration, UNIX_EPOCH};

/// Parses a time given as unix milliseconds (`1763683200123`) or RFC 3339
/// (`2025-11-21T00:00:00Z`, `2025-11-21 00:00:00`, taken as UTC).
pub(crate) fn parse_time(text: &str) -> Result<u64, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|e| format!("{text:?}: {e}"));
    }
    let at = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?}: {e}: expected unix milliseconds or RFC 3339"))?;
    let since = at.duration_since(UNIX_EPOCH).map_err(|_| format!("{text:?} is before 1970"))?;
    u64::try_from(since.as_millis()).map_err(|_| format!("{text:?} is too far in the future"))
}

/// Parses a duration such as `500ms`, `10s`, `1h 30m`, `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e}: expected e.g. 500ms, 10s, 7d"))
}

/// Formats unix milliseconds as RFC 3339 with milliseconds.
pub(crate) fn format_ts(ms: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Parses a size in bytes: `1048576`, `500KB`, `200MB`, `2GB` (powers of 1000) or `64KiB`,
/// `512MiB`, `2GiB` (powers of 1024).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?}: expected a size such as 500MB or 2GiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    match n.checked_mul(scale) {
        Some(0) => Err(format!("{text:?}: must be greater than zero")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?}: too large")),
    }
}
