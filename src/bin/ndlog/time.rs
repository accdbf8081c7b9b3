//! Parsing and printing times, durations and sizes on the command line.

use std::time::Duration;

use jiff::civil::{DateTime, Time};
use jiff::fmt::temporal::Pieces;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};

/// The last millisecond of the year 9999 (9999-12-31T23:59:59.999Z): the largest `ts` that is
/// a date. `ndlog import` refuses a record past it, as the library does.
pub(crate) const MAX_TS: u64 = 253_402_300_799_999;

/// The forms [`parse_time`] accepts, for `--help`.
pub(crate) const TIME_FORMS: &str = "unix milliseconds (1763712000000), RFC 3339 \
    (2025-11-21T08:00:00Z, 2025-11-21T08:00:00+01:00), a UTC date or time (2025-11-21, \
    2025-11-21 08:00), or a time ago (1h, 30m ago, 7d)";

/// Parses a time: unix milliseconds (`1763683200123`); RFC 3339 with `Z` or an offset
/// (`2025-11-21T08:00:00+01:00`); a date or a date and time without an offset, taken as UTC
/// (`2025-11-21`, `2025-11-21 08:00:00`); or a time ago, relative to now (`1h`, `30m ago`,
/// `7d`, `1 week ago`).
pub(crate) fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|e| format!("{text:?}: {e}"));
    }
    // jiff reads offsets up to ±25:59:59; RFC 3339 (and every other reader of the time) stops
    // at ±23:59, so `+25:00` is a typo to point at, not a time.
    if let Some(offset) = Pieces::parse(text).ok().and_then(|p| p.to_numeric_offset())
        && offset.seconds().unsigned_abs() >= 24 * 3600
    {
        return Err(format!(
            "{text:?}: the offset {offset} is out of range: an offset is at most 23:59 either \
             way of UTC"
        ));
    }
    let at = if text.eq_ignore_ascii_case("now") {
        Timestamp::now()
    } else if let Ok(at) = text.parse::<Timestamp>() {
        at
    } else if let Some(ms) = civil_ms(text) {
        return ms;
    } else if let Ok(span) = text.parse::<Span>() {
        // `1h` and `1h ago` both mean an hour before now: a time to look back to.
        let now = Timestamp::now().to_zoned_datetime(TimeZone::UTC);
        now.checked_sub(span.abs()).map_err(|e| format!("{text:?}: {e}"))?.timestamp()
    } else {
        return Err(format!(
            "{text:?}: expected unix milliseconds or RFC 3339; accepted: {TIME_FORMS}"
        ));
    };
    u64::try_from(at.as_millisecond()).map_err(|_| format!("{text:?} is before 1970"))
}

/// A date, or a date and time, with an offset or without one (UTC), counted on the civil
/// calendar: `Timestamp` ends a day early (9999-12-30T22:00:00Z), before [`MAX_TS`], the last
/// ts that is a date, which `format_ts` prints and so must be read back.
fn civil_ms(text: &str) -> Option<Result<u64, String>> {
    let pieces = Pieces::parse(text).ok()?;
    let civil = pieces.date().to_datetime(pieces.time().unwrap_or(Time::midnight()));
    let offset = pieces.to_numeric_offset().unwrap_or(Offset::UTC);
    let epoch = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    let since =
        civil.duration_since(epoch) - SignedDuration::from_secs(i64::from(offset.seconds()));
    if since.is_negative() {
        return Some(Err(format!("{text:?} is before 1970")));
    }
    Some(u64::try_from(since.as_millis()).map_err(|_| format!("{text:?}: too far in the future")))
}

/// Parses a duration such as `500ms`, `10s`, `1h 30m`, `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e}: expected e.g. 500ms, 10s, 7d"))
}

/// Formats a duration for people, to the millisecond: `500ms`, `10s`, `1m 30s 250ms`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

/// Formats unix milliseconds as RFC 3339 with milliseconds (`2025-11-21T08:00:00.123Z`). A ts
/// past the year 9999 is no date: it is printed as the number it is.
pub(crate) fn format_ts(ms: u64) -> String {
    if ms > MAX_TS {
        return format!("{ms} (unix ms, past the year 9999)");
    }
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Parses a size in bytes: `1048576`, `500KB`, `200MB`, `2GB` (powers of 1000) or `64KiB`,
/// `512MiB`, `2GiB` (powers of 1024); units in any case (`2gib`, `500mb`).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?}: expected a size such as 500MB or 2GiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {:?}; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB",
                unit.trim()
            ));
        }
    };
    match n.checked_mul(scale) {
        Some(0) => Err(format!("{text:?}: must be greater than zero")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?}: too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_8_UTC: u64 = 1_763_712_000_000; // 2025-11-21T08:00:00Z

    #[test]
    fn times_in_every_documented_form() {
        for (text, want) in [
            ("1763712000000", AT_8_UTC),
            ("2025-11-21T08:00:00Z", AT_8_UTC),
            ("2025-11-21T09:00:00+01:00", AT_8_UTC),
            ("2025-11-21T03:00:00-05:00", AT_8_UTC),
            ("2025-11-21T08:00:00.250Z", AT_8_UTC + 250),
            ("2025-11-21 08:00:00", AT_8_UTC),
            ("2025-11-21T08:00", AT_8_UTC),
            ("2025-11-21", AT_8_UTC - 8 * 3_600_000),
            ("1970-01-01", 0),
        ] {
            assert_eq!(parse_time(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn an_offset_of_a_day_or_more_is_refused() {
        for text in
            ["2025-11-21T08:00:00+25:00", "2025-11-21T08:00:00-24:00", "2025-11-21 08:00+24:30"]
        {
            let e = parse_time(text).unwrap_err();
            assert!(e.contains("out of range"), "{text}: {e}");
        }
        assert_eq!(parse_time("2025-11-22T07:59:00+23:59"), Ok(AT_8_UTC));
    }

    #[test]
    fn times_ago_are_relative_to_now() {
        let now = u64::try_from(Timestamp::now().as_millisecond()).unwrap();
        for (text, ago) in [
            ("1h", 3_600_000),
            ("1h ago", 3_600_000),
            ("30m ago", 1_800_000),
            ("-30m", 1_800_000),
            ("7d", 7 * 86_400_000),
            ("2 days ago", 2 * 86_400_000),
            ("now", 0),
        ] {
            let got = parse_time(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let want = now - ago;
            assert!(got.abs_diff(want) < 60_000, "{text}: {got} vs {want}");
        }
    }

    #[test]
    fn bad_times_say_what_is_accepted() {
        for text in ["yesterday", "", "2025-13-01", "12:00", "1969-12-31", "1e3"] {
            let err = parse_time(text).unwrap_err();
            assert!(err.contains(&format!("{:?}", text.trim())), "{text}: {err}");
        }
        assert!(parse_time("soon").unwrap_err().contains("30m ago"));
    }

    #[test]
    fn any_ts_formats_without_a_panic() {
        assert_eq!(format_ts(AT_8_UTC + 5), "2025-11-21T08:00:00.005Z");
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ts(MAX_TS), "9999-12-31T23:59:59.999Z");
        for ms in [MAX_TS + 1, i64::MAX as u64, u64::MAX] {
            assert!(format_ts(ms).starts_with(&ms.to_string()), "{ms}");
        }
    }

    #[test]
    fn sizes_take_units_in_any_case() {
        for (text, want) in [
            ("2gib", 2 << 30),
            ("2GiB", 2 << 30),
            ("2GIB", 2 << 30),
            ("500mb", 500_000_000),
            ("500 MB", 500_000_000),
            ("64kib", 64 << 10),
            ("7", 7),
            ("7b", 7),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        assert!(parse_size("12XB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("0gib").unwrap_err().contains("greater than zero"));
    }

    #[test]
    fn durations_print_to_the_millisecond() {
        assert_eq!(format_duration(Duration::from_nanos(500_075_315)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
    }
}
