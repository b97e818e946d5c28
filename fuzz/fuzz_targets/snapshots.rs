//! `cargo fuzz run snapshots`: see [`topten_fuzz::snapshots`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| topten_fuzz::snapshots(data));
