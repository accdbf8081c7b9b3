//! What a payload may be: exactly one JSON value in UTF-8, on one line. Every append checks
//! it before taking the lock; readers with JSON validation check it too.

use crate::json::Problem;

/// Checks that `data` (trimmed) is one JSON value on one line; the error says what is wrong.
pub(crate) fn check_payload_bytes(data: &[u8]) -> Result<(), String> {
    if data.is_empty() {
        return Err("empty payload".into());
    }
    if memchr::memchr2(b'\n', b'\r', data).is_some() {
        return Err("contains a raw newline: pass compact JSON, one value on one line".into());
    }
    crate::json::validate_payload(data).map_err(describe)
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
