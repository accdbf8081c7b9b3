//! Checking that a payload is exactly one JSON value (RFC 8259), fast: one pass over the bytes,
//! strings and digits a word at a time, UTF-8 checked on the way, no tree, and no allocation
//! below 256 levels of nesting. Every append checks its payload, so this is on the hot path; it
//! accepts exactly what `serde_json` accepts when it skips a value (tests compare the two on
//! generated inputs): any nesting depth, like serde_json's `IgnoredAny`.

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
    /// JSON, but not what a writer takes ([`validate_payload`]): what it holds.
    Refused(&'static str),
}

/// ASCII bytes that may appear unescaped inside a string without ending it. The others are
/// `"`, `\`, control characters and non-ASCII bytes (see [`Parser::non_ascii`]).
const PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = false;
        i += 1;
    }
    while i < 0x100 {
        t[i] = i < 0x80;
        i += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// Defines a module `$module` for words of type `$word`, with `special(w)` and `quotes(w)`:
/// the high bit of each byte of `w` (little-endian) that is `"`, `\`, below 0x20 or at or
/// above 0x80 (for `quotes`, that is `"`), except that bits above the lowest flagged byte may be
/// spurious (a borrow carries into the next byte): only the lowest flag is meant to be read.
/// The lowest flags of the two are the same bit exactly when the first special byte is a `"`.
macro_rules! special_bytes {
    ($module:ident, $word:ty) => {
        mod $module {
            const ONES: $word = <$word>::MAX / 0xff;
            const HIGH: $word = ONES * 0x80;

            /// The high bit of each byte below `n`, above the lowest such byte perhaps spurious.
            #[inline(always)]
            fn below(x: $word, n: u8) -> $word {
                x.wrapping_sub(ONES * <$word>::from(n)) & !x & HIGH
            }

            /// With `ascii` false, bytes at or above 0x80 are not flagged.
            #[inline(always)]
            pub(super) fn special(w: $word, ascii: bool) -> $word {
                let high = if ascii { w & HIGH } else { 0 };
                below(w, 0x20) | quotes(w) | below(w ^ (ONES * <$word>::from(b'\\')), 1) | high
            }

            #[inline(always)]
            pub(super) fn quotes(w: $word) -> $word {
                below(w ^ (ONES * <$word>::from(b'"')), 1)
            }

            /// Bytes in a word.
            pub(super) const LEN: usize = std::mem::size_of::<$word>();

            /// Where the first special byte of `bytes` (a word's worth) is, and whether it is a
            /// `"`; `None` when there is none.
            #[inline(always)]
            pub(super) fn first(bytes: &[u8], ascii: bool) -> Option<(usize, bool)> {
                let w = <$word>::from_le_bytes(bytes.try_into().unwrap_or_default());
                let special = special(w, ascii);
                let at = special.trailing_zeros();
                (special != 0).then(|| ((at / 8) as usize, quotes(w).trailing_zeros() == at))
            }
        }
    };
}
special_bytes!(word8, u64);
special_bytes!(word16, u128);

/// Checks that `bytes` is one JSON value in UTF-8, with nothing but whitespace around it.
///
/// UTF-8 is checked on the way, not in a pass of its own: outside strings the grammar admits
/// only ASCII, and at the first non-ASCII byte the scan meets in a string, the rest of the
/// input is checked once ([`Parser::non_ascii`]). A rejected input is checked whole
/// afterwards, so that bytes that are not UTF-8 are reported as such, wherever they are. A key whose bytes are
/// those kept for its place on this thread is passed over whole, not scanned ([`Keys`]).
pub(crate) fn validate(bytes: &[u8]) -> Result<(), Invalid> {
    KEYS.with_borrow_mut(|keys| check_with(bytes, keys, false)).map(|_| ())
}

/// [`validate`], for a payload a writer is about to append: also refuses a `\u` escape of half
/// a UTF-16 surrogate pair (`"\ud800"` alone), and nesting deeper than [`MAX_DEPTH`]. RFC
/// 8259's grammar admits both, but the escape encodes no character: jq stops reading the file
/// at it, and serde_json cannot read it into a string. Readers keep admitting both in logs that
/// hold them.
///
/// Says whether the whitespace it passed over between tokens held a line break (`\n` or
/// `\r`): the one place where a payload it takes can hold one (in a string it is a control
/// character, refused), so that a caller who refuses line breaks needs no pass of its own over
/// a payload for which this says false.
pub(crate) fn validate_payload(bytes: &[u8]) -> Result<bool, Invalid> {
    KEYS.with_borrow_mut(|keys| check_with(bytes, keys, true))
}

/// [`validate`], with the keys kept so far in `keys`.
#[cfg(test)]
fn check(bytes: &[u8], keys: &mut Keys) -> Result<(), Invalid> {
    check_with(bytes, keys, false).map(|_| ())
}

/// How deep a payload a writer takes may nest: serde_json's default limit refuses a document
/// nested 128 deep (ndlog's own typed reads, `Record::deserialize`, and most Rust readers of
/// the log), and a record line is one level deeper than its payload. jq 1.6 reads 256 levels,
/// Jackson (Spark) 1,000, Python's json module about as many.
pub(crate) const MAX_DEPTH: usize = 126;

/// What a writer says of a payload nested deeper than [`MAX_DEPTH`].
const TOO_DEEP: &str = "nested deeper than 126 levels (serde_json, which reads ndlog's typed records, refuses the \
     line at 128)";
// The text names the limit: a change to one alone fails the build.
const _: () = assert!(MAX_DEPTH == 126, "TOO_DEEP says 126 levels: change both");

/// [`validate`] (or, `strict`, [`validate_payload`]) with the keys kept so far in `keys`; says
/// whether the whitespace passed over held a line break.
fn check_with(bytes: &[u8], keys: &mut Keys, strict: bool) -> Result<bool, Invalid> {
    // While kept keys are not worth trying, every key is past the kept ones.
    let key = if keys.resting > 0 {
        keys.resting -= 1;
        KEYS_KEPT
    } else {
        0
    };
    let mut p = Parser {
        b: bytes,
        i: 0,
        utf8: false,
        keys,
        key,
        matched: 0,
        missed: 0,
        strict,
        line_break: false,
    };
    let parsed = p.value().and_then(|()| {
        p.ws();
        if p.i == bytes.len() {
            Ok(p.line_break)
        } else {
            Err(Invalid { at: p.i, problem: Problem::Trailing })
        }
    });
    if p.missed > p.matched {
        p.keys.resting = RESTING;
    }
    parsed.map_err(|e| match std::str::from_utf8(bytes) {
        Err(u) => Invalid { at: u.valid_up_to(), problem: Problem::NotUtf8 },
        Ok(_) => e,
    })
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// Every byte from `i` on is known to be UTF-8 (see [`Parser::non_ascii`]).
    utf8: bool,
    /// The keys kept on this thread.
    keys: &'a mut Keys,
    /// How many keys of this payload came before the next one ([`KEYS_KEPT`] and on while
    /// the kept keys are resting).
    key: usize,
    /// How many keys matched the kept ones, and how many did not.
    matched: usize,
    missed: usize,
    /// Refuse what a writer refuses beyond the grammar ([`validate_payload`]).
    strict: bool,
    /// Whitespace passed over held a `\n` or `\r`.
    line_break: bool,
}

/// How many of a payload's first keys [`Keys`] remembers.
const KEYS_KEPT: usize = 16;

/// For how many payloads the kept keys are not tried after a payload whose keys mostly did not
/// match them: in a log whose keys vary, trying and keeping them costs more than it saves.
const RESTING: u32 = 64;

thread_local! {
    static KEYS: std::cell::RefCell<Keys> = const { std::cell::RefCell::new(Keys::NONE) };
}

/// A payload's first keys, by their order in it: each place holds the key of the last payload
/// that reached it while the keys were not resting (a key longer than 16 bytes clears it; a
/// payload that fails keeps those before its error). Event logs repeat their keys record after
/// record: a key whose bytes equal the ones kept at its place is the same valid string and is
/// skipped by its known length, without scanning it, which takes the scan off the dependency
/// chain from one member to the next.
///
/// The answer, error included, is the scan's: only bytes that [`Parser::string`] accepted as a
/// whole string are kept, so they are whole UTF-8 characters and end where the scan would end.
/// The one thing a match skips is the rest-of-input UTF-8 check that scanning a non-ASCII key
/// would start ([`Parser::non_ascii`]); a byte that is not UTF-8 later on is still refused
/// (outside strings by the grammar, inside by the scan), and [`validate`] then reports the
/// first such byte of the whole input, as it would have.
struct Keys {
    kept: [Kept; KEYS_KEPT],
    /// For how many more payloads not to try them (see [`RESTING`]).
    resting: u32,
}

/// A key's bytes after its opening quote up to and including its closing quote, when there are
/// at most 16: zero-padded in `word`, `mask` over them, `len` of them. The mask follows from
/// `len`, and is kept beside it so that a match takes no 128-bit shift.
#[derive(Clone, Copy)]
struct Kept {
    word: u128,
    mask: u128,
    len: usize,
}

impl Keys {
    /// No key kept.
    const NONE: Keys = Keys { kept: [Kept::NONE; KEYS_KEPT], resting: 0 };
}

impl Kept {
    /// No key: a mask of nothing and a word of something, which nothing matches.
    const NONE: Kept = Kept { word: 1, mask: 0, len: 0 };
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> Invalid {
        Invalid { at: self.i, problem: Problem::Syntax(what) }
    }

    fn refuse(&self, what: &'static str) -> Invalid {
        Invalid { at: self.i, problem: Problem::Refused(what) }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c @ (b' ' | b'\t' | b'\n' | b'\r')) = self.b.get(self.i) {
            self.line_break |= c == b'\n' || c == b'\r';
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
        // Whether the innermost open container is an object: the top of `stack`, kept at hand.
        let mut object = false;
        'value: loop {
            self.ws();
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let opens_object = self.peek() == Some(b'{');
                    if self.strict && stack.depth == MAX_DEPTH {
                        return Err(self.refuse(TOO_DEEP));
                    }
                    self.i += 1;
                    self.ws();
                    let close = if opens_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        stack.push(opens_object);
                        object = opens_object;
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
                if stack.depth == 0 {
                    return Ok(());
                }
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
                        object = stack.top().unwrap_or(false);
                    }
                    Some(b']') if !object => {
                        self.i += 1;
                        stack.depth -= 1;
                        object = stack.top().unwrap_or(false);
                    }
                    Some(_) => return Err(self.err("expected ',' or a closing bracket")),
                    None => return Err(self.err("unexpected end of input")),
                }
            }
        }
    }

    /// `"key" :` of an object member.
    #[inline(always)]
    fn key(&mut self) -> Result<(), Invalid> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key"));
        }
        let k = self.key;
        self.key += 1;
        if k < KEYS_KEPT {
            self.kept_key(k)?;
        } else {
            self.string()?;
        }
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        Ok(())
    }

    /// The string at `i`, the payload's `k`th key: skipped whole when its bytes are those
    /// kept for that place (see [`Keys`]), else scanned and kept.
    #[inline(always)]
    fn kept_key(&mut self, k: usize) -> Result<(), Invalid> {
        let start = self.i + 1;
        let kept = self.keys.kept[k];
        // Near the end, the bytes left, zero-padded: a kept key ends with its closing quote,
        // which is past the bytes left when they are fewer, and padding is not `"`.
        let w = match self.b.get(start..start + 16) {
            Some(word) => u128::from_le_bytes(word.try_into().unwrap_or_default()),
            None => {
                let rest = &self.b[start..];
                let mut word = [0; 16];
                word[..rest.len()].copy_from_slice(rest);
                u128::from_le_bytes(word)
            }
        };
        if w & kept.mask == kept.word {
            self.i = start + kept.len;
            self.matched += 1;
            return Ok(());
        }
        self.missed += 1;
        self.string()?;
        // Its bytes are the first of the word read above.
        self.keys.kept[k] = match self.i - start {
            // (A key with an escape is always scanned: it is checked as strictly as its
            // payload asks, which the one that kept it may not have.)
            _ if self.b[start..self.i].contains(&b'\\') => Kept::NONE,
            len @ 1..=16 => {
                let mask = u128::MAX >> (128 - 8 * len);
                Kept { word: w & mask, mask, len }
            }
            _ => Kept::NONE,
        };
        Ok(())
    }

    #[inline(always)]
    fn string(&mut self) -> Result<(), Invalid> {
        self.i += 1; // the opening quote
        loop {
            if self.skip_plain() {
                self.i += 1;
                return Ok(());
            }
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
                            let Some(unit) = self.hex_escape(self.i + 1) else {
                                return Err(self.err("invalid \\u escape"));
                            };
                            if self.strict && (0xD800..0xE000).contains(&unit) {
                                // A high half must be followed by a low one.
                                let low = match self.b.get(self.i + 5..self.i + 7) {
                                    Some(b"\\u") => self.hex_escape(self.i + 7),
                                    _ => None,
                                };
                                let high = unit < 0xDC00;
                                if !high || !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                                    return Err(self.refuse(
                                        "a \\u escape of half a UTF-16 surrogate pair (it \
                                         encodes no character; jq refuses it)",
                                    ));
                                }
                                self.i += 6;
                            }
                            self.i += 5;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(0x80..) => self.non_ascii()?,
                Some(_) => return Err(self.err("control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// The UTF-16 code unit of the 4 hex digits at `at`, if they are 4 hex digits.
    fn hex_escape(&self, at: usize) -> Option<u32> {
        let hex = self.b.get(at..at + 4)?;
        hex.iter().try_fold(0, |unit, &c| Some(unit << 4 | char::from(c).to_digit(16)?))
    }

    /// Skips string bytes that need no attention: sixteen, then eight at a time while a word
    /// holds no `"`, `\`, control character or non-ASCII byte (once the rest is known to be
    /// UTF-8, these steps take non-ASCII bytes as plain), then byte by byte (where they still
    /// stop at every non-ASCII byte). True only when a word step stopped at a `"`, known from
    /// the word without reading the byte again (which would put a load on the path from one
    /// string to the next); otherwise the caller looks at the byte it stopped at.
    #[inline(always)]
    fn skip_plain(&mut self) -> bool {
        let ascii = !self.utf8;
        while let Some(word) = self.b.get(self.i..self.i + word16::LEN) {
            if let Some((at, quote)) = word16::first(word, ascii) {
                self.i += at;
                return quote;
            }
            self.i += word16::LEN;
        }
        if let Some(word) = self.b.get(self.i..self.i + word8::LEN) {
            if let Some((at, quote)) = word8::first(word, ascii) {
                self.i += at;
                return quote;
            }
            self.i += word8::LEN;
        }
        while self.b.get(self.i).is_some_and(|&c| PLAIN[c as usize]) {
            self.i += 1;
        }
        false
    }

    /// A non-ASCII byte in a string. At the first one, the rest of the input is checked as
    /// UTF-8 (it starts a character: the byte before it is ASCII), after which
    /// [`Parser::skip_plain`] skips non-ASCII bytes like plain ones. Keys passed over whole
    /// before it may hold non-ASCII bytes; they are UTF-8 (see [`Keys`]).
    #[inline(always)]
    fn non_ascii(&mut self) -> Result<(), Invalid> {
        if !self.utf8 {
            rest_is_utf8(self.b, self.i)?;
            self.utf8 = true;
        }
        self.i += 1;
        Ok(())
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

    /// Skips ASCII digits: eight at a time, then byte by byte.
    #[inline(always)]
    fn digits(&mut self) {
        const ONES: u64 = u64::MAX / 0xff;
        while let Some(word) = self.b.get(self.i..self.i + 8) {
            // A byte of `t` is 0..=9 exactly for a digit; its high bit is set in `t`, or in
            // its low seven bits plus 0x76 (no carry between bytes), exactly when it is not.
            let t = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * 0x30);
            let other = (t | ((t & (ONES * 0x7f)) + ONES * 0x76)) & (ONES * 0x80);
            if other != 0 {
                self.i += (other.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

/// Checks that `b[i..]` is UTF-8 (out of line, and without the parser, so that the parser's
/// state stays in registers).
#[inline(never)]
fn rest_is_utf8(b: &[u8], i: usize) -> Result<(), Invalid> {
    match std::str::from_utf8(&b[i..]) {
        Ok(_) => Ok(()),
        Err(e) => Err(Invalid { at: i + e.valid_up_to(), problem: Problem::NotUtf8 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest flag of `special` names the first special byte, and the lowest flags of
    /// `special` and `quotes` agree exactly when it is a `"`, for words of 8 and 16 bytes built
    /// from the bytes around every boundary they test, with non-ASCII bytes special or not.
    #[test]
    fn special_bytes_finds_the_first_special_byte() {
        const BYTES: [u8; 13] =
            [0x00, 0x01, 0x1f, 0x20, 0x21, b'"', 0x23, b'\\', 0x5d, 0x7f, 0x80, 0xa2, 0xff];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let first = |word: &[u8], ascii: bool| {
            let special = |c: u8| !PLAIN[c as usize] && (ascii || c < 0x80);
            let at = word.iter().position(|&c| special(c));
            (at, at.is_some_and(|at| word[at] == b'"'))
        };
        let flagged = |special: u128, quotes: u128| {
            let at = (special != 0).then(|| special.trailing_zeros() as usize / 8);
            (at, at.is_some() && quotes.trailing_zeros() == special.trailing_zeros())
        };
        for round in 0..2_000_000 {
            let (a, b) = (next(), next());
            let word: [u8; 16] = std::array::from_fn(|i| {
                let bits = if i < 8 { a >> (i * 7) } else { b >> ((i - 8) * 7) };
                BYTES[bits as usize % BYTES.len()]
            });
            let ascii = round % 2 == 0;
            let w16 = u128::from_le_bytes(word);
            let got = flagged(word16::special(w16, ascii), word16::quotes(w16));
            assert_eq!(got, first(&word, ascii), "{word:02x?}, ascii {ascii}");
            let w8 = u64::from_le_bytes(word[..8].try_into().unwrap());
            let got = flagged(word8::special(w8, ascii).into(), word8::quotes(w8).into());
            assert_eq!(got, first(&word[..8], ascii), "{:02x?}, ascii {ascii}", &word[..8]);
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
            b"\"\xf0\x9f\x98\x80\"",
            b"\"\xc0\xaf\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xe2\x82\"",
            b"\"\xf4\x90\x80\x80\"",
            b"\"caf\xc3\xa9 au lait, une tr\xc3\xa8s longue cha\xc3\xaene\"",
            b"[\"\xc3\xa9\", \xc3\xa9]",
            b"\xef\xbb\xbf{}",
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

    /// Strings of every length up to 40 in arrays and objects, with each kind of byte that
    /// ends a plain stretch at every offset: the word-at-a-time scan's 16-byte, 8-byte and
    /// byte-by-byte steps each meet it, in ASCII-only input and after a non-ASCII character.
    #[test]
    fn a_special_byte_at_every_offset_of_a_string() {
        let specials: &[&[u8]] = &[
            b"\"",
            b"\\n",
            b"\\u00e9",
            b"\\x",
            b"\\u12g4",
            b"\x01",
            b"\x1f",
            b"\xc3\xa9",
            b"\xf0\x9f\x98\x80",
            b"\xc3",
            b"\xc3\x28",
            b"\xed\xbf\xbf",
            b"\xff",
        ];
        for before in [&b""[..], b"\xc3\xa9"] {
            for len in 0..40 {
                for at in 0..=len {
                    for special in specials {
                        let mut text = vec![b'x'; len];
                        text.splice(at..at, special.iter().copied());
                        for (open, close) in [(&b"["[..], &b"]"[..]), (b"{\"k\":", b"}")] {
                            let mut input = open.to_vec();
                            input.push(b'"');
                            input.extend_from_slice(before);
                            input.extend_from_slice(&text);
                            input.extend_from_slice(b"\",1");
                            input.extend_from_slice(close);
                            let ours = validate(&input);
                            let shown = String::from_utf8_lossy(&input);
                            assert_eq!(ours.is_ok(), serde_accepts(&input), "{shown:?}");
                            if let Err(e) = std::str::from_utf8(&input) {
                                let not_utf8 =
                                    Invalid { at: e.valid_up_to(), problem: Problem::NotUtf8 };
                                assert_eq!(ours, Err(not_utf8), "{shown:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Numbers of every length up to 24 digits (in the integer, fraction and exponent) ended by
    /// each byte next to the digits' range: the eight-at-a-time digit scan's boundaries.
    #[test]
    fn numbers_of_every_length_end_where_their_digits_end() {
        let ends: &[&[u8]] = &[b"]", b",1]", b" ]", b"/]", b":]", b"x]", b".]", b"e]", b"\xb0]"];
        for len in 1..=24 {
            let digits: Vec<u8> = (0..len).map(|i| b"9876543210"[i % 10]).collect();
            for shape in [&b""[..], b"1.", b"1e", b"-1.5E+"] {
                for end in ends {
                    let mut input = b"[".to_vec();
                    input.extend_from_slice(shape);
                    input.extend_from_slice(&digits);
                    input.extend_from_slice(end);
                    let shown = String::from_utf8_lossy(&input);
                    assert_eq!(validate(&input).is_ok(), serde_accepts(&input), "{shown:?}");
                }
            }
        }
    }

    /// Payloads whose keys repeat, change, grow, shrink, end near the input's end, go past
    /// what is kept, or turn invalid at a place where a valid key was kept, checked one after
    /// another (so that each meets the keys of the one before): the answer, error and offset
    /// included, is the one a check with no kept keys gives, and serde_json's.
    #[test]
    fn kept_keys_never_change_the_answer() {
        let keys: &[&[u8]] = &[
            b"type",
            b"typ",
            b"typeX",
            b"",
            b"a",
            b"fifteen-bytes-k",
            b"sixteen-bytes-ke",
            b"a\\\"b",
            b"\\u0041",
            b"\\u00",
            b"\xc3\xa9t\xc3\xa9",
            b"\xc3",
            b"ty\x01e",
            b"ty\\qe",
            b"t\"",
        ];
        let values: &[&[u8]] = &[b"1", b"\"v\"", b"[]", b"{}", b"{\"type\":2}", b"null", b"\xff"];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize
        };
        let (mut hits, mut accepted) = (0, 0);
        for _ in 0..200_000 {
            let mut input = b"{".to_vec();
            for m in 0..next() % 20 {
                if m > 0 {
                    input.push(b',');
                }
                input.push(b'"');
                // Mostly the key of the place before, so that kept keys match.
                let k = if next() % 8 == 0 { next() % keys.len() } else { m % 3 };
                input.extend_from_slice(keys[k]);
                input.extend_from_slice(b"\":");
                input.extend_from_slice(values[next() % values.len()]);
            }
            input.push(b'}');
            if next() % 4 == 0 {
                input.truncate(next() % (input.len() + 1));
            }
            let kept_type = KEYS.with_borrow(|k| {
                k.resting == 0
                    && k.kept[0].len == 5
                    && k.kept[0].word.to_le_bytes()[..6] == *b"type\"\0"
            });
            let ours = validate(&input);
            let fresh = check(&input, &mut { Keys::NONE });
            let shown = String::from_utf8_lossy(&input);
            assert_eq!(ours, fresh, "{shown:?}");
            assert_eq!(ours.is_ok(), serde_accepts(&input), "{shown:?}");
            hits += usize::from(kept_type && input.starts_with(b"{\"type\""));
            accepted += usize::from(ours.is_ok());
        }
        // The kept keys were met, and both answers are common.
        assert!(hits > 3_000 && accepted > 10_000, "{hits} hits, {accepted} accepted");
    }

    /// A key is kept with its closing quote when it fits a word, and not otherwise.
    #[test]
    fn keys_that_fit_a_word_are_kept() {
        let mut keys = Keys::NONE;
        check(br#"{"type":1,"fifteen-bytes-k":2,"sixteen-bytes-ke":3,"x":{"y":4}}"#, &mut keys)
            .unwrap();
        let lens = |keys: &Keys, n: usize| keys.kept[..n].iter().map(|k| k.len).collect::<Vec<_>>();
        assert_eq!(lens(&keys, 5), [5, 16, 0, 2, 2]);
        assert_eq!(keys.kept[0].word.to_le_bytes()[..6], *b"type\"\0");
        // A different key at a kept place is kept in its stead; a payload's error leaves
        // what it kept before the error. (The first payload matched nothing kept: the kept
        // keys rest, see the next test.)
        keys.resting = 0;
        check(br#"{"typo":1,"x":"#, &mut keys).unwrap_err();
        assert_eq!(keys.kept[0].word.to_le_bytes()[..6], *b"typo\"\0");
        assert_eq!(lens(&keys, 4), [5, 2, 0, 2]);
    }

    /// A payload whose keys mostly missed the kept ones rests them for [`RESTING`] payloads,
    /// which neither try nor change them; then they are tried again.
    #[test]
    fn kept_keys_rest_after_a_payload_that_mostly_missed_them() {
        let mut keys = Keys::NONE;
        check(br#"{"a":1,"b":2,"c":3}"#, &mut keys).unwrap();
        assert_eq!(keys.resting, RESTING);
        for _ in 0..RESTING {
            check(br#"{"x":1,"y":2,"z":3}"#, &mut keys).unwrap();
        }
        assert_eq!(keys.resting, 0);
        assert_eq!(keys.kept[0].word.to_le_bytes()[..3], *b"a\"\0");
        // Two of three match: they stay in use, and the third is kept in its place.
        check(br#"{"a":1,"b":2,"q":3}"#, &mut keys).unwrap();
        assert_eq!(keys.resting, 0);
        assert_eq!(keys.kept[2].word.to_le_bytes()[..3], *b"q\"\0");
        // As many matched as missed: still in use.
        check(br#"{"a":1,"z":2}"#, &mut keys).unwrap();
        assert_eq!(keys.resting, 0);
        // One of three: they rest again.
        check(br#"{"a":1,"r":2,"s":3}"#, &mut keys).unwrap();
        assert_eq!(keys.resting, RESTING);
    }

    #[test]
    fn a_payload_may_not_hold_half_a_surrogate_pair() {
        let refused: &[&[u8]] = &[
            br#""\ud800""#,
            br#""\uDBFF""#,
            br#""\udc00""#,
            br#""\ud800\u0041""#,
            br#""\ud800\ud800""#,
            br#""\ud800\n""#,
            br#""x\ud800"#,
            br#"{"\ud800":1}"#,
            br#"["ok", {"k": "\ude00"}]"#,
        ];
        for &bytes in refused {
            let shown = String::from_utf8_lossy(bytes);
            let err = validate_payload(bytes).unwrap_err();
            assert!(matches!(err.problem, Problem::Refused(_)), "{shown}: {err:?}");
            // Readers still take it (RFC 8259's grammar does), as serde_json skips it.
            assert_eq!(validate(bytes).is_ok(), serde_accepts(bytes), "{shown}");
        }
        let accepted: &[&[u8]] = &[
            br#""\ud83d\ude00""#,
            br#""\uD83D\uDE00 and \u00e9""#,
            br#"{"\u0041":"\ud7ff\ue000"}"#,
        ];
        for &bytes in accepted {
            let shown = String::from_utf8_lossy(bytes);
            assert_eq!(validate_payload(bytes), Ok(false), "{shown}");
            assert!(serde_json::from_slice::<serde_json::Value>(bytes).is_ok(), "{shown}");
        }
        // A key with an escape that a lenient check kept is still checked strictly.
        for _ in 0..3 {
            assert!(validate(br#"{"\ud800":1}"#).is_ok());
        }
        assert!(validate_payload(br#"{"\ud800":1}"#).is_err());
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
    fn a_payload_nests_only_as_deep_as_serde_json_reads_its_line() {
        // What serde_json's default limit admits, read as the whole record line (one level
        // more than the payload), is exactly what a writer takes.
        let line_reads = |payload: &str| {
            let mut line = Vec::new();
            crate::format::encode(&mut line, 1, 1, payload.as_bytes());
            serde_json::from_slice::<serde_json::Value>(&line).is_ok()
        };
        for depth in [2usize, 64, 125, 126, 127, 128, 129, 300] {
            for deep in [
                format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
                format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
                format!("{}0{}", "[{\"a\":".repeat(depth / 2), "}]".repeat(depth / 2)),
            ] {
                let taken = validate_payload(deep.as_bytes());
                assert_eq!(taken.is_ok(), line_reads(&deep), "depth {depth}: {taken:?}");
                assert!(validate(deep.as_bytes()).is_ok(), "readers take any depth");
                if let Err(e) = taken {
                    // Blamed: the bracket that opens one level too many.
                    let opened =
                        deep.as_bytes()[..e.at].iter().filter(|&&c| c == b'[' || c == b'{');
                    assert_eq!(opened.count(), MAX_DEPTH, "{e:?}");
                    assert!(matches!(deep.as_bytes()[e.at], b'[' | b'{'), "{e:?}");
                }
            }
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
            b"plain text longer than sixteen bytes",
            b"\xf0\x9f\x98\x80",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xe2\x82",
            b"\xf4\x90\x80\x80",
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
            let ours = validate(&input);
            let shown = String::from_utf8_lossy(&input);
            assert_eq!(ours.is_ok(), serde_accepts(&input), "{shown:?}");
            if let Err(e) = std::str::from_utf8(&input) {
                let not_utf8 = Invalid { at: e.valid_up_to(), problem: Problem::NotUtf8 };
                assert_eq!(ours, Err(not_utf8), "{shown:?}");
            }
            accepted += usize::from(ours.is_ok());
        }
        assert!(accepted > 1_000, "the generator must produce valid JSON too: {accepted}");
    }
}
