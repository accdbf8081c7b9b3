//! What an append returns: the seq and ts it assigned, or the original record of a repeat.

use std::ops::RangeInclusive;

/// What an append assigned to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ack {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's timestamp, unix milliseconds.
    pub ts: u64,
    /// The payload repeated a key already in the log (see [`crate::Dedup`]): nothing was
    /// written, and `seq` and `ts` are the original record's.
    pub duplicate: bool,
}

/// What a batch append assigned: consecutive seqs sharing one ts for the records written, and
/// the original records of payloads that were repeats (see [`crate::Dedup`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BatchAck {
    /// Seq of the first record written (0 when none was).
    pub first_seq: u64,
    /// Number of records written.
    pub count: u64,
    /// Timestamp of every record written.
    pub ts: u64,
    /// Payloads that were not written because they repeated a key: (index in the batch, the
    /// original record).
    pub duplicates: Vec<(usize, Ack)>,
}

/// What [`crate::Writer::import_records`] wrote: the first and last imported records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImportAck {
    /// Number of records written.
    pub count: u64,
    /// The first record (its seq and ts, as they were).
    pub first: Option<Ack>,
    /// The last record.
    pub last: Option<Ack>,
}

impl BatchAck {
    /// The seqs of the records written, in order. Inclusive, since the last may be `u64::MAX`.
    pub fn seqs(&self) -> RangeInclusive<u64> {
        match self.count {
            0 => RangeInclusive::new(1, 0),
            n => self.first_seq..=self.first_seq + (n - 1),
        }
    }

    /// One acknowledgement per payload of the batch, in batch order.
    pub fn acks(&self) -> impl Iterator<Item = Ack> + '_ {
        let mut dups = self.duplicates.iter().peekable();
        let mut written = 0;
        (0..self.count as usize + self.duplicates.len()).map(move |i| match dups.peek() {
            Some(&&(at, ack)) if at == i => {
                dups.next();
                ack
            }
            _ => {
                written += 1;
                Ack { seq: self.first_seq + (written - 1), ts: self.ts, duplicate: false }
            }
        })
    }

    pub(crate) fn empty() -> Self {
        BatchAck { first_seq: 0, count: 0, ts: 0, duplicates: Vec::new() }
    }

    /// The batch acknowledgement of one acknowledgement per payload.
    pub(crate) fn from_acks(acks: &[Ack]) -> Self {
        let mut batch = BatchAck::empty();
        for (i, a) in acks.iter().enumerate() {
            if a.duplicate {
                batch.duplicates.push((i, *a));
            } else {
                if batch.count == 0 {
                    batch.first_seq = a.seq;
                    batch.ts = a.ts;
                }
                batch.count += 1;
            }
        }
        batch
    }
}

/// The acknowledgement of a one-record append: the original record's when it was a repeat.
pub(crate) fn first_ack(batch: BatchAck) -> Ack {
    match batch.duplicates.first() {
        Some(&(_, original)) => original,
        None => Ack { seq: batch.first_seq, ts: batch.ts, duplicate: false },
    }
}
