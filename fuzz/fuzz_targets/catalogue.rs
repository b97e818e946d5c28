//! `cargo fuzz run catalogue`: see [`topten_fuzz::catalogue`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| topten_fuzz::catalogue(data));
