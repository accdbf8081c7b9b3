#![no_main]
//! Arbitrary operations against the simulated file system: see `ndlog_fuzz::ops`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ndlog_fuzz::ops(data));
