//! Checkpoints: a small statement `{log id, seq, chain value}` that someone keeps outside the
//! log, and the proof that the log still extends it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::format::chain::{self, ChainValue};

use super::{ChainFile, Lookup};

/// What the first line of a checkpoint starts with, before the log id.
const ORIGIN_PREFIX: &str = "ndlog.chain/";

/// A statement of a chained log's state: the record `seq` of the log `log_id` has the chain
/// value `chain`, which commits to every record up to it. Its text has the shape of a C2SP
/// `tlog-checkpoint` body: the origin line, the size (here the seq) and the hash in base64.
///
/// ```text
/// ndlog.chain/5c1b0e49d8a2f3c7a0b4e6d1f2c3b4a5
/// 42
/// q1xLbqzmrHVlDqQTcU5/ZRWdYBcPiwxEh1J+tXkdL34=
/// ```
///
/// # Example
/// ```
/// use ndlog::chain::Checkpoint;
/// use ndlog::format::chain::ChainValue;
/// let cp = Checkpoint { log_id: "ab".repeat(16), seq: 42, chain: ChainValue::GENESIS };
/// assert_eq!(Checkpoint::parse(&cp.to_string()), Ok(cp));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's id, from its `LOG.chain`.
    pub log_id: String,
    /// The seq of the record the checkpoint names.
    pub seq: u64,
    /// That record's chain value.
    pub chain: ChainValue,
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{ORIGIN_PREFIX}{}", self.log_id)?;
        writeln!(f, "{}", self.seq)?;
        writeln!(f, "{}", STANDARD.encode(self.chain.0))
    }
}

impl Checkpoint {
    /// The checkpoint of a log as it stands: its last record's seq and chain value. `None` for a
    /// log without a chained record. The log is a single file or a segmented log.
    pub fn of<L: Lookup + ?Sized>(log: &L, chain_file: &ChainFile) -> Option<Checkpoint> {
        let last = log.last_record()?;
        let chain = chain::link_of(last.line)?;
        Some(Checkpoint { log_id: chain_file.log_id.clone(), seq: last.seq, chain })
    }

    /// Parses a checkpoint's text (its first three lines; anything after a blank line, such as
    /// signatures, is ignored).
    ///
    /// # Errors
    /// What is wrong with it, naming the line.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let mut lines = text.lines();
        let mut next = |what: &str| lines.next().ok_or_else(|| format!("missing line: {what}"));
        let origin = next("origin")?;
        let log_id = origin
            .strip_prefix(ORIGIN_PREFIX)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("line 1: {origin:?} is not {ORIGIN_PREFIX}<log id>"))?;
        let seq = next("seq")?;
        let seq = match seq.parse::<u64>() {
            Ok(0) => return Err("line 2: seq 0: a log's seqs start at 1".to_string()),
            Ok(seq) => seq,
            Err(_) => return Err(format!("line 2: {seq:?} is not a seq")),
        };
        let hash = next("chain value")?;
        let bytes = STANDARD.decode(hash).map_err(|e| format!("line 3: {hash:?}: {e}"))?;
        let chain = <[u8; 32]>::try_from(bytes)
            .map_err(|b| format!("line 3: {} bytes, expected 32", b.len()))?;
        Ok(Checkpoint { log_id: log_id.to_string(), seq, chain: ChainValue(chain) })
    }

    /// Whether the log (whose chain has been verified) extends this checkpoint: it names this
    /// log, and the record `seq` carries the checkpoint's chain value, or the anchor a
    /// compaction left after removing that record does. A rewritten history — edited,
    /// truncated and re-appended, or swapped for another log — fails here even when its own
    /// chain is consistent.
    ///
    /// # Errors
    /// Why the log does not (or cannot be shown to) extend the checkpoint.
    pub fn check<L: Lookup + ?Sized>(
        &self,
        log: &L,
        chain_file: Option<&ChainFile>,
    ) -> Result<(), String> {
        if let Some(file) = chain_file
            && file.log_id != self.log_id
        {
            return Err(format!(
                "the checkpoint names log {}, but this log is {}",
                self.log_id, file.log_id
            ));
        }
        let found = match log.record(self.seq) {
            Some(r) => chain::link_of(r.line),
            None => chain_file.and_then(|f| f.anchors.get(&(self.seq + 1)).copied()),
        };
        match found {
            Some(v) if v == self.chain => Ok(()),
            Some(v) => Err(format!(
                "seq {} has chain value {v}, but the checkpoint says {}: the history up to it was rewritten",
                self.seq, self.chain
            )),
            None => match log.last_record() {
                Some(last) if last.seq < self.seq => Err(format!(
                    "the checkpoint names seq {}, but the log ends at seq {}: it was truncated",
                    self.seq, last.seq
                )),
                None => Err(format!("the checkpoint names seq {}, but the log is empty", self.seq)),
                Some(_) => Err(format!(
                    "seq {} is not in the log, and no anchor records its chain value (a compaction removed it)",
                    self.seq
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_of_seq_0_is_refused_when_read() {
        let hash = STANDARD.encode([7u8; 32]);
        let text = |seq: &str| format!("{ORIGIN_PREFIX}abc\n{seq}\n{hash}\n");
        let err = Checkpoint::parse(&text("0")).unwrap_err();
        assert!(err.contains("line 2") && err.contains("start at 1"), "{err}");
        assert!(Checkpoint::parse(&text("x")).unwrap_err().contains("is not a seq"));
        assert_eq!(Checkpoint::parse(&text("5")).unwrap().seq, 5);
    }
}
