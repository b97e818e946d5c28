//! `cargo fuzz run store_docs`: see [`topten_fuzz::store_docs`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| topten_fuzz::store_docs(data));
