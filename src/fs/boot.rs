//! The identity of the machine's current boot, for data that is trusted only within the boot
//! that wrote it.

use std::sync::OnceLock;

/// Where Linux publishes a random id drawn at each boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's id, read once per process; `None` where the system does not publish one.
pub(crate) fn this_boot() -> Option<[u8; 16]> {
    static BOOT: OnceLock<Option<[u8; 16]>> = OnceLock::new();
    *BOOT.get_or_init(|| parse(&std::fs::read_to_string(BOOT_ID).ok()?))
}

/// A UUID's 32 hex digits (dashes and surrounding whitespace ignored) as 16 bytes.
fn parse(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = text.trim().bytes().filter(|&b| b != b'-').collect();
    if digits.len() != 32 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(digits.chunks(2)) {
        let hex = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_id_parses_and_anything_else_does_not() {
        let id = parse("6f1c8e2a-3b4d-4c5e-9f60-718293a4b5c6\n").unwrap();
        assert_eq!(id[0], 0x6f);
        assert_eq!(id[15], 0xc6);
        assert_eq!(parse("6f1c8e2a"), None);
        assert_eq!(parse("zz1c8e2a-3b4d-4c5e-9f60-718293a4b5c6"), None);
        if std::path::Path::new(BOOT_ID).exists() {
            assert!(this_boot().is_some());
        }
    }
}
