#![no_main]
//! Arbitrary bytes as a log: see `ndlog_fuzz::reader`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ndlog_fuzz::reader(data));
