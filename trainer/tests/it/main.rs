//! The integration tests of the `topten` CLI, one module per area, in one test binary (one link
//! of the dependency tree instead of one per file). `tests/wasm.rs` is its own file: it needs
//! `--features wasm`, which links wasmtime (`scripts/test.sh` turns it on). Run one area with
//! `cargo test --release -p topten-trainer --test it -- crash::`.

mod common;

mod azure_cli;
mod cli;
mod compact;
mod crash;
mod export_live;
mod reliability;
mod serving;
mod tune_report;
