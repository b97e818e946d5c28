//! `cargo fuzz run events`: see [`topten_fuzz::events`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| topten_fuzz::events(data));
