//! Scan + simd-json's borrowed-value DOM, the one deserialising scan only the scan bench runs.

use std::hint::black_box;

use ndlog::{Mapped, Reader};

/// Verified scan + simd-json's borrowed-value DOM, reading the same four fields.
pub(crate) fn scan_simd_value(reader: &Reader<Mapped>) -> u64 {
    use simd_json::prelude::*;
    let mut scratch = Vec::with_capacity(4096);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut sum = 0u64;
    for r in reader.records() {
        scratch.clear();
        scratch.extend_from_slice(r.data);
        let v = simd_json::to_borrowed_value_with_buffers(&mut scratch, &mut buffers)
            .expect("simd-json parse");
        let (user, action) = (v.get_str("user"), v.get_str("action"));
        let item = v.get_u64("item").expect("item");
        black_box(v.get_f64("price"));
        let lens = user.map_or(0, str::len) ^ action.map_or(0, str::len);
        sum = sum.wrapping_add(item ^ lens as u64);
    }
    sum
}
