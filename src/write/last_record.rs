//! Finding a log's last record from the end of the file, without a full scan.
//!
//! Writers call this under the lock when the file changed since their last append (another
//! process appended, a compaction replaced it, or this is the first append). The log is
//! append-only, so when the file only grew, the bytes below the old end are unchanged and only
//! the new bytes are read: usually one small `pread`.

use memchr::memrchr;

use crate::format::resync;
use crate::fs::VfsFile;

/// First read size; grows fourfold while no line boundary or record is found.
const FIRST_WINDOW: u64 = 4096;

/// Seq and ts of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Last {
    pub seq: u64,
    pub ts: u64,
}

/// What a writer must know about the end of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// File length.
    pub len: u64,
    /// The last record, counting a torn tail that is a complete record but for its newline
    /// (once the writer terminates it, readers will see it).
    pub last: Option<Last>,
    /// The file does not end with a newline: the next write must start with one, so it never
    /// glues a record onto torn bytes.
    pub torn: bool,
}

/// Finds the tail of a file of `len` bytes. Bytes below `floor` are known: `floor` is a line
/// start (0 or just past a newline) and `below` is the last record before it.
pub(crate) fn discover<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    floor: u64,
    below: Option<Last>,
    scratch: &mut Vec<u8>,
) -> std::io::Result<Tail> {
    debug_assert!(floor <= len);
    let mut window = FIRST_WINDOW.min(len - floor);
    loop {
        let start = len - window;
        scratch.clear();
        scratch.resize(window as usize, 0);
        crate::fs::read_exact_at(file, scratch, start)?;
        if let Some(tail) = search(scratch, start == floor, len, below) {
            return Ok(tail);
        }
        window = (window * 4).min(len - floor);
    }
}

/// Looks for the last record in `buf`, the last bytes of the file. `at_floor` says whether
/// `buf` starts at a line start below which `below` is known. `None` means `buf` is too short
/// to decide.
fn search(buf: &[u8], at_floor: bool, len: u64, below: Option<Last>) -> Option<Tail> {
    let found = |last| Some(Tail { len, last, torn: buf.last().is_some_and(|&b| b != b'\n') });
    let Some(last_nl) = memrchr(b'\n', buf) else {
        if !at_floor {
            return None;
        }
        // The whole region is one torn line.
        let last = terminated(buf).or(below);
        return found(last);
    };
    if let Some(last) = terminated(&buf[last_nl + 1..]) {
        return found(Some(last));
    }
    let mut end = last_nl;
    loop {
        let start = match memrchr(b'\n', &buf[..end]) {
            Some(i) => i + 1,
            None if at_floor => 0,
            None => return None,
        };
        if let Some(last) = terminated(&buf[start..end]) {
            return found(Some(last));
        }
        if start == 0 {
            return found(below);
        }
        end = start - 1;
    }
}

/// The record a torn line will hold once a writer terminates it with a newline.
fn terminated(torn: &[u8]) -> Option<Last> {
    if torn.is_empty() {
        return None;
    }
    resync::parse(torn, false).frame.map(|f| Last { seq: f.seq, ts: f.ts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode;
    use crate::read::Reader;

    /// A `Vec<u8>` as a file, for reads.
    #[derive(Debug)]
    struct Bytes(Vec<u8>);

    impl VfsFile for Bytes {
        fn append(&self, _: &[u8]) -> std::io::Result<usize> {
            unreachable!()
        }
        fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
            unreachable!()
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let src = self.0.get(offset as usize..).unwrap_or(&[]);
            let n = src.len().min(buf.len());
            buf[..n].copy_from_slice(&src[..n]);
            Ok(n)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn metadata(&self) -> std::io::Result<crate::fs::Metadata> {
            unreachable!()
        }
        fn set_len(&self, _: u64) -> std::io::Result<()> {
            unreachable!()
        }
        fn try_lock(&self) -> std::io::Result<bool> {
            Ok(true)
        }
        fn unlock(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn tail_of(bytes: &[u8]) -> Tail {
        let file = Bytes(bytes.to_vec());
        discover(&file, bytes.len() as u64, 0, None, &mut Vec::new()).unwrap()
    }

    /// What the reader will see once the file is terminated with a newline.
    fn reader_last(bytes: &[u8]) -> Option<Last> {
        let mut terminated = bytes.to_vec();
        if terminated.last().is_some_and(|&b| b != b'\n') {
            terminated.push(b'\n');
        }
        Reader::new(terminated).last().map(|r| Last { seq: r.seq, ts: r.ts })
    }

    #[test]
    fn agrees_with_the_reader_on_every_prefix() {
        let mut log = Vec::new();
        for seq in 1..=40 {
            let pad = "x".repeat((seq as usize * 37) % 300);
            encode(&mut log, seq, seq * 10, format!(r#"{{"p":"{pad}"}}"#).as_bytes());
        }
        log.extend_from_slice(b"\0\0\0garbage\n\n\n");
        for cut in 0..=log.len() {
            let t = tail_of(&log[..cut]);
            assert_eq!(t.len, cut as u64);
            assert_eq!(t.torn, cut > 0 && log[cut - 1] != b'\n', "cut {cut}");
            assert_eq!(t.last, reader_last(&log[..cut]), "cut {cut}");
        }
    }

    #[test]
    fn reads_only_above_the_floor() {
        let mut log = Vec::new();
        encode(&mut log, 1, 10, b"1");
        let floor = log.len() as u64;
        let below = Some(Last { seq: 1, ts: 10 });
        log.extend_from_slice(b"torn");
        let file = Bytes(log.clone());
        let t = discover(&file, log.len() as u64, floor, below, &mut Vec::new()).unwrap();
        assert_eq!(t, Tail { len: log.len() as u64, last: below, torn: true });
        encode(&mut log, 2, 20, b"2");
        let file = Bytes(log.clone());
        let t = discover(&file, log.len() as u64, floor, below, &mut Vec::new()).unwrap();
        assert_eq!(t.last, Some(Last { seq: 2, ts: 20 }));
        assert!(!t.torn);
    }

    #[test]
    fn finds_a_record_behind_a_long_corrupt_run() {
        let mut log = Vec::new();
        encode(&mut log, 7, 70, b"7");
        for _ in 0..2000 {
            log.extend_from_slice(b"corrupt line\n");
        }
        assert_eq!(tail_of(&log).last, Some(Last { seq: 7, ts: 70 }));
    }
}
