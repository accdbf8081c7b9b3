//! JSON pointers (RFC 6901) evaluated directly on a payload's bytes, without parsing it into a
//! tree and without allocating: `history`, key compaction and idempotency keys name a field of
//! `data` this way, and run it on every record of a scan.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};

/// A parsed JSON pointer such as `/user/id` or `/items/0`.
///
/// # Example
/// ```
/// let p = ndlog::JsonPointer::parse("/user/id")?;
/// assert_eq!(p.find(br#"{"user":{"id":"u1","n":2}}"#), Some(&br#""u1""#[..]));
/// assert_eq!(p.find(br#"{"user":"u1"}"#), None);
/// # Ok::<(), ndlog::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl fmt::Debug for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPointer({:?})", self.text)
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for JsonPointer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl JsonPointer {
    /// Parses a pointer: empty (the whole value) or `/`-separated tokens, with `~0` for `~` and
    /// `~1` for `/`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a pointer that does not start with `/` or has a
    /// `~` not followed by `0` or `1`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid_argument(format!("JSON pointer {text:?}: {why}"));
        if text.is_empty() {
            return Ok(JsonPointer { text: String::new(), tokens: Vec::new() });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad("must be empty or start with '/', e.g. /user/id"));
        };
        let tokens = rest
            .split('/')
            .map(|raw| {
                let mut token = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '~' => match chars.next() {
                            Some('0') => token.push('~'),
                            Some('1') => token.push('/'),
                            _ => return Err(bad("'~' must be followed by 0 or 1")),
                        },
                        c => token.push(c),
                    }
                }
                Ok(token)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(JsonPointer { text: text.to_owned(), tokens })
    }

    /// The raw bytes of the value the pointer names in `json`, if it names one. `json` must be
    /// one JSON value; on malformed input the answer is `None` or some slice of it, never a
    /// panic.
    pub fn find<'a>(&self, json: &'a [u8]) -> Option<&'a [u8]> {
        let mut start = skip_ws(json, 0);
        for token in &self.tokens {
            start = match json.get(start)? {
                b'{' => find_member(json, start, token.as_bytes())?,
                b'[' => find_element(json, start, array_index(token)?)?,
                _ => return None,
            };
        }
        let end = skip_value(json, start)?;
        Some(&json[start..end])
    }
}

/// Whether the raw JSON value `raw` is the entity `entity`: a string by its content (escapes
/// decoded), anything else by its JSON text.
///
/// # Example
/// ```
/// assert!(ndlog::json::value_is(br#""u1""#, "u1"));
/// assert!(ndlog::json::value_is(br#""\u0075\u0031""#, "u1"));
/// assert!(ndlog::json::value_is(b"42", "42"));
/// assert!(!ndlog::json::value_is(br#""42""#, "u1"));
/// ```
pub fn value_is(raw: &[u8], entity: &str) -> bool {
    match raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) {
        Some(content) if raw.len() >= 2 => string_equals(content, entity.as_bytes()),
        _ => raw == entity.as_bytes(),
    }
}

/// The identity of a raw JSON value as a key: its text, except that a string with escapes is
/// decoded first, so `"\u0075"` and `"u"` are the same key. Borrows unless there are escapes.
pub(crate) fn key_bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    let content = match raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) {
        Some(c) if raw.len() >= 2 && memchr::memchr(b'\\', c).is_some() => c,
        _ => return Cow::Borrowed(raw),
    };
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'"');
    let mut utf8 = [0u8; 4];
    let mut i = 0;
    while i < content.len() {
        if content[i] != b'\\' {
            out.push(content[i]);
            i += 1;
            continue;
        }
        match unescape(&content[i..]) {
            Some((c, used)) => {
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                i += used;
            }
            // Not a valid escape: keep the raw text, which is then its own key.
            None => return Cow::Borrowed(raw),
        }
    }
    out.push(b'"');
    Cow::Owned(out)
}

/// The identity of an entity given its raw JSON value: a string's content (escapes decoded),
/// anything else's JSON text, as [`value_is`] and `history --entity` compare, and as
/// key compaction keeps the newest record of (the string `"1"` and the number `1` are one
/// entity).
pub(crate) fn entity_of(raw: &[u8]) -> Cow<'_, [u8]> {
    match key_bytes(raw) {
        Cow::Borrowed(b) if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' => {
            Cow::Borrowed(&b[1..b.len() - 1])
        }
        Cow::Owned(mut b) if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' => {
            b.pop();
            b.remove(0);
            Cow::Owned(b)
        }
        other => other,
    }
}

fn array_index(token: &str) -> Option<usize> {
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if ok { token.parse().ok() } else { None }
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// In the object starting at `open`, the start of the value of member `key`.
fn find_member(json: &[u8], open: usize, key: &[u8]) -> Option<usize> {
    let mut i = skip_ws(json, open + 1);
    if json.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(json, i)?;
        let matches = string_equals(&json[i + 1..key_end - 1], key);
        i = skip_ws(json, key_end);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(json, i + 1);
        if matches {
            return Some(i);
        }
        i = skip_ws(json, skip_value(json, i)?);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            _ => return None,
        }
    }
}

/// In the array starting at `open`, the start of element `n`.
fn find_element(json: &[u8], open: usize, n: usize) -> Option<usize> {
    let mut i = skip_ws(json, open + 1);
    if json.get(i) == Some(&b']') {
        return None;
    }
    for _ in 0..n {
        i = skip_ws(json, skip_value(json, i)?);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            _ => return None,
        }
    }
    Some(i)
}

/// The end of the JSON value starting at `i`.
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match *json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => skip_container(json, i),
        _ => {
            let len = json[i..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(json.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

/// The end (past the closing quote) of the string starting at `i`.
fn skip_string(json: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', json.get(j..)?)?;
        if json[j] == b'"' {
            return Some(j + 1);
        }
        j += 2;
    }
}

/// The end of the object or array starting at `i`, counting brackets outside strings.
fn skip_container(json: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    loop {
        match *json.get(j)? {
            b'"' => {
                j = skip_string(json, j)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
}

/// Whether the raw content of a JSON string (between its quotes) decodes to `want`.
fn string_equals(raw: &[u8], want: &[u8]) -> bool {
    if memchr::memchr(b'\\', raw).is_none() {
        return raw == want;
    }
    let mut out = [0u8; 4];
    let (mut i, mut w) = (0, 0);
    while i < raw.len() {
        let piece: &[u8] = if raw[i] != b'\\' {
            i += 1;
            &raw[i - 1..i]
        } else {
            let Some((c, used)) = unescape(&raw[i..]) else { return false };
            i += used;
            c.encode_utf8(&mut out).as_bytes()
        };
        if want.get(w..w + piece.len()) != Some(piece) {
            return false;
        }
        w += piece.len();
    }
    w == want.len()
}

/// Decodes one escape sequence at the start of `s`: the character and the bytes it used.
fn unescape(s: &[u8]) -> Option<(char, usize)> {
    let simple = match *s.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(s.get(2..6)?)?;
            if (0xD800..0xDC00).contains(&hi) {
                let rest = s.get(6..12)?;
                if &rest[..2] != b"\\u" {
                    return None;
                }
                let lo = hex4(&rest[2..])?;
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo.checked_sub(0xDC00)? & 0x3FF);
                return Some((char::from_u32(c)?, 12));
            }
            return Some((char::from_u32(hi)?, 6));
        }
        _ => return None,
    };
    Some((simple, 2))
}

fn hex4(h: &[u8]) -> Option<u32> {
    std::str::from_utf8(h).ok().and_then(|s| u32::from_str_radix(s, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(p: &str, json: &'a str) -> Option<&'a str> {
        JsonPointer::parse(p)
            .unwrap()
            .find(json.as_bytes())
            .map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn finds_what_serde_json_finds() {
        let doc = r#"{"a":{"b":[10,{"c":"x,y]}"},[1,2]],"d~e":1,"f/g":true},"h":"\"q","":0, "s" : [ 1 , "two" ] }"#;
        let value: serde_json::Value = serde_json::from_str(doc).unwrap();
        for p in [
            "", "/a", "/a/b", "/a/b/0", "/a/b/1", "/a/b/1/c", "/a/b/2/1", "/a/d~0e", "/a/f~1g",
            "/h", "/", "/s/1", "/s/0", "/a/b/3", "/a/x", "/h/0", "/a/b/01", "/a/b/-",
        ] {
            let want = value.pointer(p).map(|v| v.to_string());
            let got = find(p, doc)
                .map(|raw| serde_json::from_str::<serde_json::Value>(raw).unwrap().to_string());
            assert_eq!(got, want, "pointer {p:?}");
        }
    }

    #[test]
    fn keys_with_escapes_compare_decoded() {
        assert_eq!(find("/user", r#"{"\u0075ser":"u1"}"#), Some(r#""u1""#));
        assert_eq!(find("/😀", r#"{"\ud83d\ude00":1}"#), Some("1"));
        assert!(value_is(br#""\ud83d\ude00""#, "😀"));
        assert!(!value_is(br#""\ud83d""#, "x"));
    }

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        for doc in [
            "",
            "{",
            "{\"a\"",
            "{\"a\":",
            "[1,",
            "{\"a\" 1}",
            "\"\\",
            "{\"a\":[}",
            "}}}",
            "{\"a\":1 \"b\":2}",
        ] {
            for p in ["", "/a", "/a/0", "/0"] {
                let _ = find(p, doc);
            }
        }
        assert_eq!(find("/b", "{\"a\":1 \"b\":2}"), None);
    }

    #[test]
    fn keys_compare_by_decoded_content() {
        assert_eq!(&*key_bytes(br#""u1""#), br#""u1""#);
        assert_eq!(&*key_bytes(br#""\u0075\u0031""#), br#""u1""#);
        assert_eq!(&*key_bytes(b"42"), b"42");
        assert_ne!(&*key_bytes(br#""42""#), &*key_bytes(b"42"));
    }

    #[test]
    fn bad_pointers_are_rejected() {
        for p in ["user", "/a~", "/a~2"] {
            assert!(JsonPointer::parse(p).is_err(), "{p}");
        }
    }
}
