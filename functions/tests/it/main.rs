//! The integration tests of the service, one module per area, in one test binary (one link
//! of the dependency tree instead of one per file). Tests that need a tool installed by
//! `scripts/test.sh` (the Azure stand-ins, Redis, Chromium, Java) are `#[ignore]`d with the
//! reason and run with `--include-ignored`. Run one area with
//! `cargo test --release -p topten-functions --test it -- api::`.

mod common;

mod api;
mod blob_azurite;
mod catalogue;
mod cosmos_e2e;
mod dashboard;
mod edge_parity;
mod experiments;
mod feedback;
mod fuzz_corpus;
mod handler_e2e;
mod hardening;
mod new_items;
mod privacy;
mod realtime;
mod redis_e2e;
mod serving_consistency;
mod settings_doc;
mod signed_ids;
mod spark_azurite;
