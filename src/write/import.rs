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
    /// [`crate::ErrorKind::InvalidArgument`] for a chained log;
    /// [`crate::ErrorKind::InvalidPayload`] naming the index of the first record that is not a valid
    /// line, is out of order, or has a ts past the year 9999 (checked before anything is
    /// written, and again against the log's end under the lock); and the errors of
    /// [`Writer::append`].
    pub fn import_records<L: AsRef<[u8]>>(&self, lines: &[L]) -> Result<ImportAck> {
        if self.lock_state().derived.chain.is_some() {
            return Err(Error::invalid_argument(format!(
                "{}: a chained log takes no verbatim import (imported records carry no link to \
                 its chain); import the payloads as new records instead",
                self.path.display()
            )));
        }
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

/// What a verbatim import may adjust in a legacy log's records that would otherwise be
/// refused: each adjustment is explicit, and everything else is refused as before. An adjusted
/// record is re-framed (new seq or ts, same payload, new CRC) and the caller is told its
/// original values ([`Adjusted`]) to keep where its users can find them (`ndlog import` appends
/// them to `LOG.import-adjusted`).
///
/// # Example
/// ```
/// use std::time::Duration;
/// use ndlog::write::ImportAdjust;
/// let mut legacy = Vec::new();
/// ndlog::format::encode(&mut legacy, 0, 1_000, b"\"first\"");
/// legacy.pop(); // the newline
/// let adjust = ImportAdjust::new().shift_seqs(1).raise_ts_within(Duration::from_millis(5));
/// let (line, adjusted) = adjust.apply(&legacy, None).unwrap();
/// assert_eq!(ndlog::format::decode(&line).unwrap().seq, 1);
/// assert_eq!(adjusted.unwrap().original_seq, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportAdjust {
    shift_seqs: u64,
    raise_ts_within: u64,
}

/// A record an [`ImportAdjust`] changed: its values in the log and in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjusted {
    /// The seq written.
    pub seq: u64,
    /// The ts written.
    pub ts: u64,
    /// The seq in the input.
    pub original_seq: u64,
    /// The ts in the input.
    pub original_ts: u64,
}

impl ImportAdjust {
    /// No adjustment: records are imported exactly as they are, or refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to every seq (1 imports a log whose seqs start at 0).
    #[must_use]
    pub fn shift_seqs(mut self, n: u64) -> Self {
        self.shift_seqs = n;
        self
    }

    /// Raises a ts that is behind the previous record's by at most `skew` (clock skew between
    /// the legacy log's actors) to the previous record's ts. A ts further behind is refused.
    #[must_use]
    pub fn raise_ts_within(mut self, skew: std::time::Duration) -> Self {
        self.raise_ts_within = u64::try_from(skew.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Decodes a record line of the input: as [`format::decode`], except that with a seq shift
    /// a seq of 0 is accepted (it is shifted before it is written).
    ///
    /// # Errors
    /// Why the line is not a record.
    pub fn frame<'a>(
        &self,
        line: &'a [u8],
    ) -> std::result::Result<format::Frame<'a>, format::LineError> {
        match self.shift_seqs {
            0 => format::decode(line),
            _ => format::decode_any_seq(line),
        }
    }

    /// Whether `line` (without its newline) is a record a verbatim import would take, adjusted
    /// or not: a record with any seq, 0 included (a legacy log's first), which
    /// [`ImportAdjust::apply`] then takes or refuses saying why.
    ///
    /// # Example
    /// ```
    /// let mut legacy = Vec::new();
    /// ndlog::format::encode(&mut legacy, 0, 1_000, b"1");
    /// assert!(ndlog::write::ImportAdjust::is_record(legacy.trim_ascii_end()));
    /// assert!(!ndlog::write::ImportAdjust::is_record(b"{\"seq\":0}"));
    /// ```
    pub fn is_record(line: &[u8]) -> bool {
        format::decode_any_seq(line).is_ok()
    }

    /// Whether this adjusts nothing.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The line to import for the record `line` (without its newline), given the previous
    /// record as imported (seq, ts): the line itself, or a re-framed one and what changed.
    ///
    /// # Errors
    /// Why the line cannot be imported even adjusted: not a record, a seq that overflows, or a
    /// ts further behind than allowed (order is checked again when it is written).
    pub fn apply<'a>(
        &self,
        line: &'a [u8],
        previous: Option<(u64, u64)>,
    ) -> std::result::Result<(std::borrow::Cow<'a, [u8]>, Option<Adjusted>), String> {
        let frame = self.frame(line).map_err(|e| match format::decode_any_seq(line) {
            Ok(f) if f.seq == 0 => {
                "seq 0: ndlog seqs start at 1 (--shift-seqs 1, ImportAdjust::shift_seqs, imports a log whose seqs start at 0)".to_string()
            }
            _ => format!("not an ndlog record: {e}"),
        })?;
        let seq = frame
            .seq
            .checked_add(self.shift_seqs)
            .ok_or_else(|| format!("seq {} shifted by {} overflows", frame.seq, self.shift_seqs))?;
        let mut ts = frame.ts;
        if let Some((_, prev_ts)) = previous
            && ts < prev_ts
            && prev_ts - ts <= self.raise_ts_within
        {
            ts = prev_ts;
        }
        if (seq, ts) == (frame.seq, frame.ts) {
            return Ok((std::borrow::Cow::Borrowed(line), None));
        }
        let mut out = Vec::with_capacity(line.len() + 8);
        // (With the record's marks: it stays part of the write it came in.)
        format::encode_marked(&mut out, seq, ts, frame.data, frame.marks);
        out.pop();
        let adjusted = Adjusted { seq, ts, original_seq: frame.seq, original_ts: frame.ts };
        Ok((std::borrow::Cow::Owned(out), Some(adjusted)))
    }
}
