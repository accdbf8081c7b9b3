//! Lines of input in bounded memory: a line longer than the limit is refused as soon as the
//! limit is passed, without reading the rest of it, so neither a huge line nor a stream without
//! newlines can grow memory past the limit.

use std::io::{self, BufRead, BufReader, Read};

/// Reads input line by line, each trimmed of ASCII whitespace, skipping blank lines.
pub(crate) struct Lines<R> {
    input: BufReader<R>,
    /// Largest trimmed line, in bytes.
    limit: usize,
    line: Vec<u8>,
    number: u64,
    /// Whether the last line returned ended with a newline (only the input's last can lack one).
    ended: bool,
}

/// A line's number, and its trimmed bytes or why they were not read.
pub(crate) type Line<'a> = (u64, Result<&'a [u8], TooLong>);

/// A line whose content (without leading and trailing whitespace) passes the limit; reading
/// stopped at the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLong {
    /// The limit it passed.
    pub limit: usize,
}

impl<R: Read> Lines<R> {
    /// Lines of `input`, each at most `limit` bytes once trimmed.
    pub(crate) fn new(input: R, limit: usize) -> Self {
        Lines {
            input: BufReader::with_capacity(1 << 20, input),
            limit,
            line: Vec::new(),
            number: 0,
            ended: true,
        }
    }

    /// Changes the limit for the lines still to come.
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Whether the last line returned ended with a newline: a last line without one is, in a
    /// log, a write that was cut short (or is still being made).
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Whether input is buffered already: the next line may be read without waiting.
    pub(crate) fn buffered(&self) -> bool {
        !self.input.buffer().is_empty()
    }

    /// The next line that is not blank, trimmed, with its line number (counting blank lines;
    /// the first line is 1); `None` at the end of the input. A line past the limit is
    /// `Err(TooLong)`, and the rest of it is left unread.
    ///
    /// # Errors
    /// An error reading the input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            self.line.clear();
            let mut state = Fill::Content;
            let mut read_any = false;
            let mut ended = false;
            loop {
                let chunk = match self.input.fill_buf() {
                    Ok(chunk) => chunk,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if chunk.is_empty() {
                    break;
                }
                read_any = true;
                let (segment, ends) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (&chunk[..i], true),
                    None => (chunk, false),
                };
                let used = segment.len() + usize::from(ends);
                state = push(&mut self.line, self.limit, segment, state);
                self.input.consume(used);
                ended = ends;
                if ends || state == Fill::TooLong {
                    break;
                }
            }
            if !read_any {
                return Ok(None);
            }
            self.number += 1;
            if state == Fill::TooLong {
                return Ok(Some((self.number, Err(TooLong { limit: self.limit }))));
            }
            let len = self.line.trim_ascii_end().len();
            if len > 0 {
                self.ended = ended;
                return Ok(Some((self.number, Ok(&self.line[..len]))));
            }
        }
    }
}

/// How far a line has filled its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fill {
    /// Everything read is in the buffer (leading whitespace excepted).
    Content,
    /// The buffer is at the limit and whitespace after it was dropped: any more content makes
    /// the line too long.
    TrailingSpace,
    /// Past the limit.
    TooLong,
}

/// Adds the next `segment` of a line (no newline in it) to `line`, which holds at most `limit`
/// bytes: leading whitespace is never stored, and whitespace past the limit is dropped since
/// it is trailing unless content follows, which would make the line too long anyway.
fn push(line: &mut Vec<u8>, limit: usize, segment: &[u8], state: Fill) -> Fill {
    let segment = if line.is_empty() && state == Fill::Content {
        segment.trim_ascii_start()
    } else {
        segment
    };
    let blank = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_whitespace);
    match state {
        Fill::TooLong => Fill::TooLong,
        Fill::TrailingSpace if blank(segment) => Fill::TrailingSpace,
        Fill::TrailingSpace => Fill::TooLong,
        Fill::Content => {
            let room = limit.saturating_sub(line.len());
            if segment.len() <= room {
                line.extend_from_slice(segment);
                return Fill::Content;
            }
            line.extend_from_slice(&segment[..room]);
            if blank(&segment[room..]) { Fill::TrailingSpace } else { Fill::TooLong }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limit: usize) -> Vec<(u64, Result<String, TooLong>)> {
        // A tiny buffer splits lines across reads, as a pipe does.
        let mut lines = Lines {
            input: BufReader::with_capacity(3, input),
            limit,
            line: Vec::new(),
            number: 0,
            ended: true,
        };
        let mut out = Vec::new();
        while let Some((n, line)) = lines.next_line().unwrap() {
            let stop = line.is_err();
            out.push((n, line.map(|l| String::from_utf8(l.to_vec()).unwrap())));
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn lines_are_trimmed_and_blank_ones_skipped() {
        let got = all(b"  {\"a\":1}  \r\n\n \t \n[2]\nlast", 100);
        let want = [(1, "{\"a\":1}"), (4, "[2]"), (5, "last")];
        assert_eq!(got, want.map(|(n, l)| (n, Ok(l.to_string()))));
        assert_eq!(all(b"", 10), []);
        assert_eq!(all(b"\n\n", 10), []);
    }

    #[test]
    fn the_limit_applies_to_the_trimmed_line() {
        assert_eq!(all(b"12345\n", 5), [(1, Ok("12345".into()))]);
        assert_eq!(
            all(b"      12345        \r\n7", 5),
            [(1, Ok("12345".into())), (2, Ok("7".into()))]
        );
        assert_eq!(all(b"123456\n7\n", 5), [(1, Err(TooLong { limit: 5 }))]);
        assert_eq!(all(b"12345   6\n", 5), [(1, Err(TooLong { limit: 5 }))]);
        assert_eq!(all(b"1 2 3 4 5\n", 5), [(1, Err(TooLong { limit: 5 }))]);
    }

    #[test]
    fn a_line_past_the_limit_is_not_read_to_its_end() {
        let input = [b'x'; 10_000];
        let mut lines = Lines {
            input: BufReader::with_capacity(64, &input[..]),
            limit: 100,
            line: Vec::new(),
            number: 0,
            ended: true,
        };
        assert_eq!(lines.next_line().unwrap().map(|(n, l)| (n, l.is_err())), Some((1, true)));
        assert!(lines.line.capacity() < 1000, "{}", lines.line.capacity());
        let mut rest = Vec::new();
        lines.input.read_to_end(&mut rest).unwrap();
        assert!(rest.len() > 9_000, "read {} bytes past the limit", 10_000 - rest.len());
    }
}
