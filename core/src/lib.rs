//! The shared library of topten: everything the trainer (`topten` CLI) and the serving
//! side (`functions`) both need, kept free of I/O edges such as CLIs and HTTP.
//!
//! # Layout
//! - [`interactions`]: ratings/events with string ids at the edges and dense indices inside.
//! - [`ingest`]: readers for MovieLens `u.data`, `ratings.dat`, `ratings.csv` and generic CSV/TSV.
//! - [`synth`]: power-law synthetic data with a hidden low-rank taste model.
//! - [`split`]: train/test splitters with Microsoft Recommenders' semantics (random, stratified, chrono).
//! - [`numpy_rng`]: numpy's legacy MT19937 stream, so that a seed gives the same split as Recommenders.
//! - [`csr`]: the compressed sparse row matrix the solvers and top-k read.
//! - [`events`]: live interaction events: validation and conversion to training input.
//! - [`snapshot`]: item factors and ids for request-time fold-in and similar items.
//! - [`als`]: alternating least squares, explicit (ALS-WR) and implicit (Hu-Koren-Volinsky).
//! - [`linalg`]: the small dense solvers ALS needs per row (Cholesky, conjugate gradient, NNLS).
//! - [`topk`]: top-k selection for all users from factor matrices, skipping already-seen items.
//! - [`metrics`]: rating and ranking metrics with Recommenders' `python_evaluation` definitions.
//! - [`model`]: the on-disk model directory (`model.json`, `.npy` factors numpy loads directly).
//! - [`store`]: published versions of precomputed recommendations (embedded LMDB; Cosmos DB).
//! - [`azure`]: Entra ID credentials shared by the Azure backends.
//! - [`blob`]: `az://` and blob URLs: streaming reads, chunked uploads, listing (Blob Storage).
//! - [`npy`]: minimal reader/writer of the `.npy` format.
//! - [`output_dir`]: which paths a command may write a directory to (never what topten did not write).
//! - [`pipeline`]: train-then-evaluate steps shared by the CLI and the retrain function.
//! - [`report`]: figures of a model report (metrics at every k, coverage, popularity bias).
//! - [`retrain`]: scheduled retraining with a quality gate against the active version.
//! - [`tune`]: hyperparameter search on a validation split carved from the training data.
//! - [`realtime`]: fold a user's fresh events into the active version and write the list back.
//! - [`testing`]: starts the local Cosmos DB and Blob Storage stand-ins for tests.
#![deny(missing_docs)]

pub mod als;
pub mod azure;
pub mod blob;
pub mod csr;
pub mod events;
pub mod ingest;
pub mod interactions;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod output_dir;
pub mod numpy_rng;
pub mod pipeline;
pub mod realtime;
pub mod report;
pub mod retrain;
pub mod snapshot;
pub mod split;
pub mod store;
pub mod synth;
pub mod testing;
pub mod topk;
pub mod tune;
