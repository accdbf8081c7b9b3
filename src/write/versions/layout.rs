//! The bytes of `LOG.versions` (FORMAT.md, section 12): a header, then open-addressed slots
//! `(hash, seq, offset)`, one per entity hash, and the stable hash that places an entity.

use crate::fs::FileId;

/// First bytes of a version table.
pub(crate) const MAGIC: &[u8; 8] = b"NDLOGVER";
/// The table format version.
pub(crate) const VERSION: u32 = 1;
/// Header size in bytes; the slots follow it.
pub(crate) const HEADER_LEN: usize = 128;
/// Slot size in bytes: hash, seq, offset as little-endian u64.
pub(crate) const SLOT_LEN: usize = 24;
/// Slots of a new table (a power of two).
pub(crate) const MIN_CAPACITY: u64 = 1 << 10;
/// Most slots a header may claim (2^36 slots: 1.5 TiB of table).
const MAX_CAPACITY: u64 = 1 << 36;

/// How far the table reflects the log: every record up to and including `seq`, whose line ends
/// at byte `end` of the file it is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Covered {
    /// The first seq (the name) of the segment file holding that record; 0 for a single-file
    /// log.
    pub(crate) segment: u64,
    /// Where the record's line ends (0: the table reflects no record).
    pub(crate) end: u64,
    /// The record's seq (0: none).
    pub(crate) seq: u64,
}

/// The table header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The log file (a segmented log: its directory) the table describes.
    pub(crate) log_id: FileId,
    /// The boot of the machine that last wrote the table: it is trusted only in that boot.
    pub(crate) boot: [u8; 16],
    /// The stable hash of the entity key's text (`/id`): a table is for one key.
    pub(crate) key: u64,
    /// Slots: a power of two.
    pub(crate) capacity: u64,
    /// Slots in use.
    pub(crate) count: u64,
    pub(crate) covered: Covered,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&self.log_id.dev.to_le_bytes());
        out[24..32].copy_from_slice(&self.log_id.ino.to_le_bytes());
        out[32..48].copy_from_slice(&self.boot);
        let fields = [
            self.key,
            self.capacity,
            self.count,
            self.covered.segment,
            self.covered.end,
            self.covered.seq,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[48 + 8 * i..56 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&out[..HEADER_LEN - 4]);
        out[HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The header in `bytes`, if they hold a valid one.
    pub(crate) fn decode(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
        if &bytes[..8] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[HEADER_LEN - 4..].try_into().ok()?);
        if crc != crc32fast::hash(&bytes[..HEADER_LEN - 4]) {
            return None;
        }
        if u32::from_le_bytes(bytes[8..12].try_into().ok()?) != VERSION {
            return None;
        }
        let at = |i: usize| le64(&bytes[48 + 8 * i..56 + 8 * i]);
        let header = Header {
            log_id: FileId { dev: le64(&bytes[16..24]), ino: le64(&bytes[24..32]) },
            boot: bytes[32..48].try_into().ok()?,
            key: at(0),
            capacity: at(1),
            count: at(2),
            covered: Covered { segment: at(3), end: at(4), seq: at(5) },
        };
        let sane = header.capacity.is_power_of_two()
            && (MIN_CAPACITY..=MAX_CAPACITY).contains(&header.capacity)
            && header.count < header.capacity;
        sane.then_some(header)
    }

    /// The bytes the file holds at least: the header and every slot.
    pub(crate) fn table_len(&self) -> u64 {
        HEADER_LEN as u64 + self.capacity * SLOT_LEN as u64
    }
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or_default())
}

/// One slot: the newest record among the entities whose hash is `hash`. Empty when `seq` is 0
/// (no record has seq 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) hash: u64,
    pub(crate) seq: u64,
    /// Where the record's line starts, in the file (segment) holding it.
    pub(crate) offset: u64,
}

impl Slot {
    pub(crate) fn encode(&self) -> [u8; SLOT_LEN] {
        let mut out = [0u8; SLOT_LEN];
        out[..8].copy_from_slice(&self.hash.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Slot {
        Slot { hash: le64(&b[..8]), seq: le64(&b[8..16]), offset: le64(&b[16..24]) }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.seq == 0
    }
}

/// Where slot `i` starts in the file.
pub(crate) fn slot_offset(i: u64) -> u64 {
    HEADER_LEN as u64 + i * SLOT_LEN as u64
}

/// A hash of an entity's identity that every process and every build computes alike (the table
/// outlives them): 64-bit FNV-1a over the bytes, then MurmurHash3's 64-bit finaliser, so that
/// the low bits that pick a slot depend on every byte.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable() {
        // Fixed values: a change here changes the file format (bump VERSION).
        assert_eq!(stable_hash(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(stable_hash(b"u1"), 0x63b9_b7f5_2c45_b2b1);
        assert_eq!(stable_hash(b"counter-42"), 0x5a0f_e7e6_51e2_d38d);
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = Header {
            log_id: FileId { dev: 7, ino: 99 },
            boot: [3; 16],
            key: 42,
            capacity: 2048,
            count: 17,
            covered: Covered { segment: 0, end: 4096, seq: 33 },
        };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Some(h));
        for i in 0..HEADER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert_eq!(Header::decode(&bad), None, "flip at {i}");
        }
        let odd = Header { capacity: 3000, ..h }.encode();
        assert_eq!(Header::decode(&odd), None);
        let full = Header { count: 2048, ..h }.encode();
        assert_eq!(Header::decode(&full), None);
        assert_eq!(Header::decode(&[0; HEADER_LEN]), None);
    }

    #[test]
    fn slots_round_trip() {
        let s = Slot { hash: u64::MAX, seq: 5, offset: 1 << 40 };
        assert_eq!(Slot::decode(&s.encode()), s);
        assert!(Slot::default().is_empty());
    }
}
