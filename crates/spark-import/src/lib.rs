//! What Spark writes, read for topten: Spark is topten's scale-out path for training, and
//! topten serves, versions, folds in and gates what Spark trained.
//!
//! - [`import_model`] turns an `ALSModel.save()` directory into a topten [`Model`]: the factors
//!   exactly as Spark learnt them (so `predict` and `recommend` equal Spark's `transform` and
//!   `recommendForAllUsers`), the original ids through Spark `StringIndexerModel`s or a mapping
//!   file, and the training interactions that lists exclude and fold-in starts from.
//! - [`recs`] streams the Parquet output of `recommendForAllUsers(k)`, for teams that compute
//!   the lists in Spark and publish them as they are.
//!
//! Every input is checked before anything is built: a directory that is not a Spark model, a
//! factor of the wrong length, a non-finite factor, an id missing from the index, a Parquet
//! schema without the needed columns are errors naming the file and the column, so nothing is
//! published from a model that fails them.
//!
//! This crate reads local directories only; `topten_azure` copies blob prefixes down first.
//!
//! # Layout
//! - `error`: [`SparkError`];
//! - `metadata`: the JSON line Spark's `MLWriter` saves beside every model;
//! - `factors`: `userFactors/` and `itemFactors/` (`id`, `features`);
//! - `parquet_file`: opening one Parquet file, and the error for one that is not;
//! - [`index`]: id indexes (`StringIndexerModel` directories, mapping files);
//! - `import`: [`import_model`];
//! - [`recs`]: `recommendForAllUsers` lists.

mod error;
mod factors;
mod import;
pub mod index;
mod metadata;
mod parquet_file;
pub mod recs;

pub use error::SparkError;
pub use import::{import_model, ImportReport, ImportSpec, SparkParams};
pub use index::IdLabels;
pub use metadata::SparkMetadata;
pub use topten_model::model::Model;
