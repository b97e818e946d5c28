//! `cargo fuzz run ingest`: see [`topten_fuzz::ingest`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| topten_fuzz::ingest(data));
