//! What a payload may be: exactly one JSON value in UTF-8, on one line. Every append checks
//! it before taking the lock; readers with JSON validation check it too.

use crate::json::Problem;

/// Checks that `data` (trimmed) is one JSON value on one line; the error says what is wrong.
pub(crate) fn check_payload_bytes(data: &[u8]) -> Result<(), String> {
    if data.is_empty() {
        return Err("empty payload".into());
    }
    // A payload the check takes holds a line break only where the check says it passed over
    // one; a line break is refused before anything else is said.
    let checked = crate::json::validate_payload(data);
    if checked != Ok(false) && memchr::memchr2(b'\n', b'\r', data).is_some() {
        return Err("contains a raw newline: pass compact JSON, one value on one line".into());
    }
    checked.map(|_| ()).map_err(describe)
}

/// Whether `bytes` is exactly one JSON value in UTF-8, with nothing but whitespace around it.
pub(crate) fn is_one_json_value(bytes: &[u8]) -> bool {
    check_one_json_value(bytes).is_ok()
}

/// Checks that `bytes` is exactly one JSON value in UTF-8; the error says what is wrong.
pub(crate) fn check_one_json_value(bytes: &[u8]) -> Result<(), String> {
    crate::json::validate(bytes).map_err(describe)
}

/// What is wrong with a payload, said for people.
fn describe(e: crate::json::Invalid) -> String {
    match e.problem {
        Problem::NotUtf8 => format!("not UTF-8 at byte {}", e.at),
        Problem::Trailing => {
            format!("not exactly one JSON value: trailing characters at byte {}", e.at)
        }
        Problem::Syntax(what) => format!("not valid JSON: {what} at byte {}", e.at),
        Problem::Refused(what) => format!("valid JSON that ndlog refuses: {what} at byte {}", e.at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order of the checks before line breaks were noted by the JSON check: a line break
    /// anywhere is refused as such, before anything else is said.
    fn line_breaks_first(data: &[u8]) -> Result<(), String> {
        if data.is_empty() {
            return Err("empty payload".into());
        }
        if memchr::memchr2(b'\n', b'\r', data).is_some() {
            return Err("contains a raw newline: pass compact JSON, one value on one line".into());
        }
        crate::json::validate_payload(data).map(|_| ()).map_err(describe)
    }

    #[test]
    fn a_line_break_anywhere_is_refused_as_one() {
        let payloads: &[&[u8]] = &[
            br#"{"a":[1,2.5e3,"x\ty"],"b":{"c":null},"d":true}"#,
            b"[\"\\u00e9\", \"caf\xc3\xa9\" , {} ]",
            br#"{"a":1,}"#,
            br#""\ud800""#,
            b"\"\xff\"",
            b"[1 2]",
            b"nul",
        ];
        for payload in payloads {
            assert_eq!(check_payload_bytes(payload), line_breaks_first(payload));
            for at in 0..=payload.len() {
                for brk in [&b"\n"[..], b"\r", b" \r\n ", b"\t"] {
                    let mut input = payload.to_vec();
                    input.splice(at..at, brk.iter().copied());
                    let shown = String::from_utf8_lossy(&input);
                    assert_eq!(check_payload_bytes(&input), line_breaks_first(&input), "{shown:?}");
                }
            }
        }
    }

    #[test]
    fn one_json_value_check() {
        assert!(is_one_json_value(br#"{"a":[1,2]}"#));
        assert!(is_one_json_value(b"null"));
        assert!(!is_one_json_value(b"1 2"));
        assert!(!is_one_json_value(b"{"));
        assert!(!is_one_json_value(b"\"\xff\""));
        assert!(!is_one_json_value(b""));
    }
}
