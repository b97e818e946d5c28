//! An `ALSModel.save()` directory as a topten model directory.

use std::path::{Path, PathBuf};

use topten_model::als::{AlsParams, Confidence, Feedback};
use topten_model::csr::Csr;
use topten_model::interactions::{IdMap, Ratings};
use topten_model::model::Model;

use crate::factors::read_factors;
use crate::metadata::read_metadata;
use crate::{IdLabels, SparkError};

/// What Spark's saved metadata does not hold (Spark saves the rank and column names, not the
/// objective or λ), so the caller supplies it: from the run's `run.json`, or by hand.
#[derive(Debug, Clone)]
pub struct SparkParams {
    /// `implicitPrefs`: the objective the factors were trained for (fold-in solves with it).
    pub feedback: Feedback,
    /// `regParam`, if known (else the family's default).
    pub regularization: Option<f32>,
    /// `alpha`, if known.
    pub alpha: Option<f32>,
    /// `maxIter`, if known.
    pub iterations: Option<usize>,
}

/// What to import.
#[derive(Debug)]
pub struct ImportSpec<'a> {
    /// The `ALSModel.save()` directory.
    pub model_dir: PathBuf,
    /// How user ids map to the original ids.
    pub users: IdLabels,
    /// How item ids map to the original ids.
    pub items: IdLabels,
    /// The training interactions, with original ids: their items are left out of each user's
    /// list, and fold-in starts from them. `None`: no item is excluded.
    pub ratings: Option<&'a Ratings>,
    /// What the metadata lacks.
    pub params: SparkParams,
    /// How the model directory names its source (a blob URI for a downloaded copy).
    pub source: String,
}

/// What an import found, for logs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// Spark release that saved the model.
    pub spark_version: String,
    /// The rank.
    pub rank: usize,
    /// Users with factors.
    pub users: usize,
    /// Items with factors.
    pub items: usize,
    /// Training interactions kept as seen items.
    pub interactions: usize,
    /// Interactions whose user has no factors (Spark drops users it never trained on).
    pub unknown_user_rows: usize,
    /// Interactions whose item has no factors.
    pub unknown_item_rows: usize,
}

/// Reads and checks a saved Spark ALS model and builds the topten model: the factors exactly
/// as Spark saved them (rows sorted by Spark id), ids mapped to the original strings, the
/// training interactions as the seen matrix.
pub fn import_model(spec: &ImportSpec<'_>) -> Result<(Model, ImportReport), SparkError> {
    let dir = &spec.model_dir;
    let meta = read_metadata(dir, "ALSModel")?;
    let rank = meta
        .rank
        .filter(|&r| r > 0)
        .ok_or_else(|| SparkError::NotSpark {
            path: dir.join("metadata").display().to_string(),
            message: "no rank in the ALSModel metadata".into(),
        })?;
    let user_dir = dir.join("userFactors");
    let item_dir = dir.join("itemFactors");
    let users = read_factors(&user_dir, rank)?;
    let items = read_factors(&item_dir, rank)?;
    let ids = |f: &[i64], labels: &IdLabels, dir: &Path| -> Result<IdMap, SparkError> {
        let mut map = IdMap::new();
        for &id in f {
            map.intern(&labels.require(id, dir, "id")?);
        }
        Ok(map)
    };
    let user_ids = ids(&users.ids, &spec.users, &user_dir)?;
    let item_ids = ids(&items.ids, &spec.items, &item_dir)?;
    let mut report = ImportReport {
        spark_version: meta.spark_version.clone(),
        rank,
        users: user_ids.len(),
        items: item_ids.len(),
        ..ImportReport::default()
    };
    let seen = match spec.ratings {
        None => Csr::from_triplets(std::iter::empty(), user_ids.len(), item_ids.len()),
        Some(r) => {
            let user_of: Vec<Option<u32>> =
                r.users.ids().iter().map(|id| user_ids.get(id)).collect();
            let item_of: Vec<Option<u32>> =
                r.items.ids().iter().map(|id| item_ids.get(id)).collect();
            let mut triplets = Vec::with_capacity(r.records.len());
            for rec in &r.records {
                match (user_of[rec.user as usize], item_of[rec.item as usize]) {
                    (Some(u), Some(i)) => triplets.push((u, i, rec.rating as f32)),
                    (None, _) => report.unknown_user_rows += 1,
                    (_, None) => report.unknown_item_rows += 1,
                }
            }
            Csr::from_triplets(triplets.iter().copied(), user_ids.len(), item_ids.len())
        }
    };
    report.interactions = seen.nnz();
    let mut params = spec.params.feedback.default_params();
    params.factors = rank;
    params.confidence = Confidence::Linear; // Spark: c = 1 + alpha |r|
    if let Some(l) = spec.params.regularization {
        params.regularization = l;
    }
    if let Some(a) = spec.params.alpha {
        params.alpha = a;
    }
    if let Some(n) = spec.params.iterations {
        params.iterations = n;
    }
    if let Some(nonneg) = meta.param("nonnegative").and_then(|v| v.as_bool()) {
        params.nonnegative = nonneg;
    }
    check_params(&params, dir)?;
    let mut model = Model::from_parts(
        params,
        (user_ids, item_ids),
        (users.matrix, items.matrix),
        seen,
    );
    model.meta.source = Some(format!(
        "spark ALSModel {} (Spark {}, uid {})",
        spec.source, meta.spark_version, meta.uid
    ));
    Ok((model, report))
}

fn check_params(p: &AlsParams, dir: &Path) -> Result<(), SparkError> {
    let bad = |what: &str| SparkError::Inconsistent {
        path: dir.display().to_string(),
        message: format!("{what} must be a finite number >= 0"),
    };
    if !(p.regularization.is_finite() && p.regularization >= 0.0) {
        return Err(bad("regParam"));
    }
    if !(p.alpha.is_finite() && p.alpha >= 0.0) {
        return Err(bad("alpha"));
    }
    Ok(())
}
