//! Checking that a payload is exactly one JSON value (RFC 8259), fast: one pass over the bytes
//! with a table per byte, no allocation, no tree. Every append checks its payload, so this is
//! on the hot path; it accepts exactly what `serde_json` accepts when it skips a value (tests
//! compare the two on generated inputs): any nesting depth, like serde_json's `IgnoredAny`.

/// Open containers, one bit each (object or array): 256 levels inline, more on the heap.
#[derive(Default)]
struct Stack {
    inline: [u64; 4],
    spilled: Vec<u64>,
    depth: usize,
}

impl Stack {
    fn push(&mut self, object: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        let slot = match self.inline.get_mut(word) {
            Some(slot) => slot,
            None => {
                let i = word - self.inline.len();
                if self.spilled.len() <= i {
                    self.spilled.push(0);
                }
                &mut self.spilled[i]
            }
        };
        *slot = (*slot & !(1 << bit)) | (u64::from(object) << bit);
        self.depth += 1;
    }

    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        let (word, bit) = (d / 64, d % 64);
        let w = self
            .inline
            .get(word)
            .copied()
            .unwrap_or_else(|| self.spilled[word - self.inline.len()]);
        Some(w >> bit & 1 == 1)
    }
}

/// Why bytes are not one JSON value, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Byte offset of the problem.
    pub(crate) at: usize,
    /// What is wrong.
    pub(crate) problem: Problem,
}

/// What is wrong with bytes that are not one JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// One value, then more than whitespace.
    Trailing,
    /// Not JSON: what the parser expected or found.
    Syntax(&'static str),
}

/// Bytes that may appear unescaped inside a string without ending it.
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = false;
        i += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// The high bit of each byte of `w` (little-endian) that is `"`, `\` or below 0x20, except that
/// bits above the lowest flagged byte may be spurious (a borrow carries into the next byte):
/// only the lowest flag is meant to be read.
#[inline]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    below(w, 0x20)
        | below(w ^ (ONES * u64::from(b'"')), 1)
        | below(w ^ (ONES * u64::from(b'\\')), 1)
}

/// Checks that `bytes` is one JSON value in UTF-8, with nothing but whitespace around it.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), Invalid> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Invalid { at: e.valid_up_to(), problem: Problem::NotUtf8 });
    }
    let mut p = Parser { b: bytes, i: 0 };
    p.value()?;
    p.ws();
    if p.i != bytes.len() {
        return Err(Invalid { at: p.i, problem: Problem::Trailing });
    }
    Ok(())
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> Invalid {
        Invalid { at: self.i, problem: Problem::Syntax(what) }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// One value, iteratively: `stack` remembers, for each open container, whether it is an
    /// object (true) or an array.
    fn value(&mut self) -> Result<(), Invalid> {
        let mut stack = Stack::default();
        'value: loop {
            self.ws();
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let object = self.peek() == Some(b'{');
                    self.i += 1;
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        stack.push(object);
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return Err(self.err("expected a value")),
                None => return Err(self.err("unexpected end of input")),
            }
            // A value is complete: close containers or go on to the next member.
            loop {
                let Some(object) = stack.top() else { return Ok(()) };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if object => {
                        self.i += 1;
                        stack.depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.i += 1;
                        stack.depth -= 1;
                    }
                    Some(_) => return Err(self.err("expected ',' or a closing bracket")),
                    None => return Err(self.err("unexpected end of input")),
                }
            }
        }
    }

    /// `"key" :` of an object member.
    fn key(&mut self) -> Result<(), Invalid> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key"));
        }
        self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        Ok(())
    }

    fn string(&mut self) -> Result<(), Invalid> {
        self.i += 1; // the opening quote
        loop {
            self.skip_plain();
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.b.get(self.i + 1..self.i + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.err("invalid \\u escape"));
                            }
                            self.i += 5;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// Skips string bytes that need no attention: eight at a time while a word holds no `"`,
    /// `\` or control character, then byte by byte.
    #[inline]
    fn skip_plain(&mut self) {
        while let Some(word) = self.b.get(self.i..self.i + 8) {
            let special = special_bytes(u64::from_le_bytes(word.try_into().unwrap_or_default()));
            if special != 0 {
                self.i += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while self.b.get(self.i).is_some_and(|&c| PLAIN[c as usize]) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Invalid> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(self.err("expected a value"));
        }
        self.i += word.len();
        Ok(())
    }

    fn number(&mut self) -> Result<(), Invalid> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err("invalid number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest flag of `special_bytes` names the first special byte, for words built from
    /// the bytes around every boundary it tests.
    #[test]
    fn special_bytes_finds_the_first_special_byte() {
        const BYTES: [u8; 12] =
            [0x00, 0x01, 0x1f, 0x20, 0x21, b'"', 0x23, b'\\', 0x5d, 0x7f, 0x80, 0xff];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word: [u8; 8] = std::array::from_fn(|i| BYTES[(x >> (i * 5)) as usize % 12]);
            let want = word.iter().position(|&c| !PLAIN[c as usize]);
            let got = special_bytes(u64::from_le_bytes(word));
            let got = (got != 0).then(|| got.trailing_zeros() as usize / 8);
            assert_eq!(got, want, "{word:02x?}");
        }
    }

    fn serde_accepts(bytes: &[u8]) -> bool {
        use serde::Deserialize;
        if std::str::from_utf8(bytes).is_err() {
            return false;
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end()).is_ok()
    }

    #[test]
    fn agrees_with_serde_json_on_hand_picked_cases() {
        let cases: &[&[u8]] = &[
            b"0",
            b"-0",
            b"01",
            b"-",
            b"1.",
            b"1.5e",
            b"1e+9",
            b"1E-9",
            b"-12.5e10",
            b".5",
            b"+1",
            b"true",
            b"tru",
            b"truex",
            b"null",
            b"nul",
            b"false ",
            b" \t\r\nnull\n",
            br#""""#,
            br#""a\"b""#,
            br#""\u00e9\uD800""#,
            br#""\u12G4""#,
            br#""\x""#,
            b"\"\x01\"",
            b"\"\xc3\xa9\"",
            b"\"\xff\"",
            b"[]",
            b"[1,]",
            b"[,1]",
            b"[1 2]",
            b"[[[]]]",
            b"{}",
            br#"{"a":1}"#,
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            br#"{1:2}"#,
            br#"{"a":}"#,
            br#"{"a":1"b":2}"#,
            br#"{"a":[1,{"b":null}],"c":"d"}"#,
            b"1 2",
            b"{} {}",
            b"",
            b"   ",
            b"[",
            b"{",
            b"\"abc",
            b"NaN",
            b"Infinity",
            b"[1e400]",
            b"123456789012345678901234567890",
        ];
        for case in cases {
            assert_eq!(
                validate(case).is_ok(),
                serde_accepts(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn any_nesting_depth_is_accepted_like_serde_json() {
        for depth in [63usize, 64, 65, 255, 256, 257, 1000, 5000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                validate(deep.as_bytes()).is_ok(),
                serde_accepts(deep.as_bytes()),
                "depth {depth}"
            );
            let deep = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            assert_eq!(
                validate(deep.as_bytes()).is_ok(),
                serde_accepts(deep.as_bytes()),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn agrees_with_serde_json_on_generated_inputs() {
        // Random splices of JSON-ish tokens: most are invalid in some small way.
        let tokens: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"",
            b"\\",
            b"\"k\"",
            b"1",
            b"-",
            b"0",
            b".",
            b"e",
            b"E",
            b"+",
            b"true",
            b"null",
            b"fals",
            b" ",
            b"\n",
            b"\\u0041",
            b"\\n",
            b"\xc3\xa9",
            b"\xff",
            b"\x1f",
            b"a",
        ];
        let mut x = 0x1234_5678u64;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut input = Vec::new();
            for _ in 0..next() % 12 {
                input.extend_from_slice(tokens[next() % tokens.len()]);
            }
            let ours = validate(&input).is_ok();
            assert_eq!(ours, serde_accepts(&input), "{:?}", String::from_utf8_lossy(&input));
            accepted += usize::from(ours);
        }
        assert!(accepted > 1_000, "the generator must produce valid JSON too: {accepted}");
    }
}
