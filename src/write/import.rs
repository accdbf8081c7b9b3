//! Importing another ndlog log verbatim: whole records keep their seq and ts, checked for
//! order before anything is written and again against the log's end under the lock.

use crate::error::{Error, Result};
use crate::format;
use crate::fs::Vfs;

use super::ack::{Ack, ImportAck};
use super::batch::Source;
use super::{Durability, Writer};

/// The largest `ts` an imported record may carry: the last millisecond of the year 9999
/// (9999-12-31T23:59:59.999Z). Appends take their ts from the clock, or from the log's last
/// record when the clock is behind it (ts never decreases), so a ts past any date could only
/// come in through an import, and would then be inherited by every later append.
const MAX_IMPORT_TS: u64 = 253_402_300_799_999;

impl<V: Vfs> Writer<V> {
    /// Appends whole records as they are, keeping their seq and ts: for importing another ndlog
    /// log. Each must be one valid record line (without its newline), in strictly increasing
    /// seq and non-decreasing ts order, and the first must come after the log's last record.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidPayload`] naming the index of the first record that is not a valid
    /// line, is out of order, or has a ts past the year 9999 (checked before anything is
    /// written, and again against the log's end under the lock); and the errors of
    /// [`Writer::append`].
    pub fn import_records<L: AsRef<[u8]>>(&self, lines: &[L]) -> Result<ImportAck> {
        let mut previous: Option<(u64, u64)> = None;
        for (i, line) in lines.iter().enumerate() {
            let frame = format::decode(line.as_ref()).map_err(|e| {
                Error::payload(&self.path, Some(i), format!("not an ndlog record: {e}"))
            })?;
            if let Some((seq, ts)) = previous
                && (frame.seq <= seq || frame.ts < ts)
            {
                let why = format!(
                    "record with seq {} ts {} comes after seq {seq} ts {ts}",
                    frame.seq, frame.ts
                );
                return Err(Error::payload(&self.path, Some(i), why));
            }
            if frame.ts > MAX_IMPORT_TS {
                let why = format!(
                    "record with seq {} has ts {}, past the year 9999 (the largest ts is {})",
                    frame.seq, frame.ts, MAX_IMPORT_TS
                );
                return Err(Error::payload(&self.path, Some(i), why));
            }
            previous = Some((frame.seq, frame.ts));
        }
        fn frame<L: AsRef<[u8]>>(line: Option<&L>) -> Option<format::Frame<'_>> {
            line.and_then(|l| format::decode(l.as_ref()).ok())
        }
        let (Some(first), Some(last)) = (frame(lines.first()), frame(lines.last())) else {
            return Ok(ImportAck { count: 0, first: None, last: None });
        };
        let refs: Vec<&[u8]> = lines.iter().map(AsRef::as_ref).collect();
        let sync = self.opts.durability != Durability::Never;
        self.write_locked(Source::<fn(usize) -> &'static [u8]>::Records(&refs), None, sync)?;
        let ack = |f: format::Frame<'_>| Ack { seq: f.seq, ts: f.ts, duplicate: false };
        Ok(ImportAck { count: lines.len() as u64, first: Some(ack(first)), last: Some(ack(last)) })
    }
}
