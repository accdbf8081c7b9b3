//! The open-addressed slots of `LOG.versions`: probing, putting a record in, growing, and
//! writing a whole table in place (an invalid header while its slots change).

use std::io;

use crate::fs::{Vfs, VfsFile};

use super::layout::{HEADER_LEN, Header, SLOT_LEN, Slot, slot_offset};
use super::store::TableFile;

/// Writes a whole table: an invalid header while the slots change, the slots, then the header.
pub(super) fn write_table<V: Vfs>(
    file: &mut TableFile<V::File>,
    vfs: &V,
    header: &Header,
    slots: &[u8],
) -> io::Result<()> {
    file.write(0, &[0u8; HEADER_LEN])?;
    file.write(HEADER_LEN as u64, slots)?;
    file.map_to(vfs, header.table_len())?;
    file.write(0, &header.encode())
}

/// The slot bytes of a table of `capacity` slots holding `slots` (distinct hashes), and how
/// many there are.
pub(super) fn build(capacity: u64, slots: impl Iterator<Item = Slot>) -> (Vec<u8>, u64) {
    let mut bytes = vec![0u8; capacity as usize * SLOT_LEN];
    let mask = capacity - 1;
    let mut count = 0;
    for slot in slots {
        let mut i = slot.hash & mask;
        while !Slot::decode(&bytes[i as usize * SLOT_LEN..][..SLOT_LEN]).is_empty() {
            i = (i + 1) & mask;
        }
        bytes[i as usize * SLOT_LEN..][..SLOT_LEN].copy_from_slice(&slot.encode());
        count += 1;
    }
    (bytes, count)
}

/// The slot holding `hash`, probing linearly from its home, and where it is; `None` at the
/// first empty slot.
pub(super) fn probe<F: VfsFile>(
    file: &TableFile<F>,
    header: &Header,
    hash: u64,
) -> io::Result<Option<(u64, Slot)>> {
    let mask = header.capacity - 1;
    let mut i = hash & mask;
    let mut buf = [0u8; SLOT_LEN];
    for _ in 0..header.capacity {
        file.read(slot_offset(i), &mut buf)?;
        let slot = Slot::decode(&buf);
        if slot.is_empty() {
            return Ok(None);
        }
        if slot.hash == hash {
            return Ok(Some((i, slot)));
        }
        i = (i + 1) & mask;
    }
    Err(io::Error::other("version table full"))
}

/// Puts one record's slot in: a new hash takes the first empty slot of its probe, a known one
/// keeps the higher seq. Grows the table (doubling it) past half full.
pub(super) fn insert<V: Vfs>(
    file: &mut TableFile<V::File>,
    vfs: &V,
    header: &mut Header,
    slot: Slot,
) -> io::Result<()> {
    if (header.count + 1) * 2 > header.capacity {
        grow(file, vfs, header)?;
    }
    loop {
        let mask = header.capacity - 1;
        let mut i = slot.hash & mask;
        let mut buf = [0u8; SLOT_LEN];
        for _ in 0..header.capacity {
            file.read(slot_offset(i), &mut buf)?;
            let there = Slot::decode(&buf);
            if there.is_empty() {
                header.count += 1;
                return file.write(slot_offset(i), &slot.encode());
            }
            if there.hash == slot.hash {
                if slot.seq > there.seq {
                    file.write(slot_offset(i), &slot.encode())?;
                }
                return Ok(());
            }
            i = (i + 1) & mask;
        }
        // Full: the header's count fell behind its slots (a writer killed between its slots
        // and its header, again and again). Growing counts them anew.
        grow(file, vfs, header)?;
    }
}

/// Doubles the table, rehashing its own slots (no log read).
fn grow<V: Vfs>(file: &mut TableFile<V::File>, vfs: &V, header: &mut Header) -> io::Result<()> {
    let mut old = vec![0u8; header.capacity as usize * SLOT_LEN];
    file.read(HEADER_LEN as u64, &mut old)?;
    let capacity = header.capacity * 2;
    let slots = old.chunks_exact(SLOT_LEN).map(Slot::decode).filter(|s| !s.is_empty());
    let (bytes, count) = build(capacity, slots);
    let grown = Header { capacity, count, ..*header };
    write_table(file, vfs, &grown, &bytes)?;
    *header = grown;
    Ok(())
}
