//! The model side of topten: from interaction files to a trained, evaluated model directory.
//!
//! This crate has no I/O edges beyond local files: no network, no async runtime, no database.
//! The stores ([`topten_store`](../topten_store/index.html)), Azure
//! ([`topten_azure`](../topten_azure/index.html)) and the service build on it; it never
//! depends on them.
//!
//! # Layout
//! Data in:
//! - [`interactions`]: ratings with string ids at the edges and dense indices inside.
//! - [`ingest`]: readers for MovieLens `u.data`, `ratings.dat`, `ratings.csv` and generic CSV/TSV.
//! - [`synth`]: power-law synthetic data with a hidden low-rank taste model.
//! - [`split`]: train/test splitters with Microsoft Recommenders' semantics (random, stratified, chrono).
//! - [`numpy_rng`]: numpy's legacy MT19937 stream, so that a seed gives the same split as Recommenders.
//! - [`catalogue`]: the item catalogue (titles, categories, availability, expiry, attributes).
//!
//! Fitting and scoring:
//! - [`csr`]: the compressed sparse row matrix the solvers and top-k read.
//! - [`als`]: alternating least squares, explicit (ALS-WR) and implicit (Hu-Koren-Volinsky).
//! - [`linalg`]: the small dense solvers ALS needs per row (Cholesky, conjugate gradient, NNLS).
//! - [`topk`]: top-k selection for all users from factor matrices, skipping already-seen items.
//! - [`rescoring`]: the popularity dial, a per-item bias every list computation adds.
//! - [`serving_model`]: the serving view of a model (item ids and factors) for request-time fold-in
//!   and similar items.
//! - [`content`]: item factors from catalogue records (a ridge map fitted at train time), for
//!   items no interaction has reached yet.
//!
//! Judging:
//! - [`metrics`]: rating and ranking metrics with Recommenders' `python_evaluation` definitions.
//! - [`cold_items`]: the cold-item protocol (items held out of training, ranked from their
//!   catalogue records, then folded in from their first interactions).
//! - [`beyond_accuracy`]: catalog and distributional coverage, novelty, diversity and
//!   serendipity, with the same package's definitions.
//! - [`pipeline`]: the train-then-evaluate steps the CLI and the retrain job share.
//! - [`tune`]: hyperparameter search on a validation split carved from the training data.
//! - [`objective`]: what a search optimises: a figure and bounds on others.
//! - [`report`]: figures of a model report (metrics at every k, coverage, popularity bias).
//!
//! Files out:
//! - [`model`]: the model directory (`model.json`, `.npy` factors numpy loads directly).
//! - [`npy`]: minimal reader/writer of the `.npy` format.
//! - [`output_dir`]: which paths a command may write to (never what topten did not write).
//! - [`clock`]: wall-clock times as topten writes them (epoch ms, RFC 3339).
#![deny(missing_docs)]

pub mod als;
pub mod beyond_accuracy;
pub mod catalogue;
pub mod clock;
pub mod cold_items;
pub mod content;
pub mod csr;
/// The one id rule, shared with the request path (it lives in the wasm-safe edge crate).
pub use topten_edge::ids;
pub mod ingest;
pub mod interactions;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod numpy_rng;
pub mod objective;
pub mod output_dir;
pub mod pipeline;
pub mod report;
pub mod rescoring;
pub mod serving_model;
pub mod split;
pub mod synth;
pub mod topk;
pub mod tune;
