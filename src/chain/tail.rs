//! The chain value at the end of a file: what a writer continues from, and what retention
//! records as an anchor when it removes a segment.

use std::io;

use crate::format::chain::{self, ChainValue};
use crate::fs::VfsFile;
use crate::read::Reader;

/// The chain value the record `seq`, the last record of `file` (ending at or before `len`),
/// carries: `Some(None)` when it carries none. Reads backwards from `len` in growing windows.
///
/// # Errors
/// The read's error; `Other` when the record `seq` is not found at the end of the file.
pub(crate) fn last_link<F: VfsFile + ?Sized>(
    file: &F,
    len: u64,
    seq: u64,
) -> io::Result<Option<ChainValue>> {
    let mut window = 4096u64;
    loop {
        let from = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - from) as usize];
        crate::fs::read_exact_at(file, &mut buf, from)?;
        // A window starting mid-line yields that line as damage, never as a record.
        let found = Reader::new(&buf[..])
            .records_rev()
            .find(|r| r.seq <= seq)
            .map(|r| (r.seq, chain::link_of(r.line)));
        match found {
            Some((s, link)) if s == seq => return Ok(link),
            _ if from == 0 => {
                return Err(io::Error::other(format!(
                    "the log's last record, seq {seq}, was not found again"
                )));
            }
            _ => window = window.saturating_mul(16),
        }
    }
}
