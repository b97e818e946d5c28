//! The metadata Spark's `MLWriter` saves beside every model: one JSON line in a part file of
//! `metadata/` (`part-00000` in Spark 3, `part-00000-UUID-c000.txt` in Spark 4, so the
//! directory is listed rather than a name opened).

use std::path::Path;

use crate::SparkError;
use topten_model::ingest::parquet::is_side_file;

/// What `metadata/` says about a saved model.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SparkMetadata {
    /// The model class, e.g. `org.apache.spark.ml.recommendation.ALSModel`.
    pub class: String,
    /// The Spark release that saved it.
    #[serde(default)]
    pub spark_version: String,
    /// The model's uid.
    #[serde(default)]
    pub uid: String,
    /// The ALS rank (ALS models only).
    #[serde(default)]
    pub rank: Option<usize>,
    /// Parameters set explicitly.
    #[serde(default)]
    pub param_map: serde_json::Map<String, serde_json::Value>,
    /// Default parameters.
    #[serde(default)]
    pub default_param_map: serde_json::Map<String, serde_json::Value>,
}

impl SparkMetadata {
    /// A parameter as set, else its default.
    pub fn param(&self, name: &str) -> Option<&serde_json::Value> {
        self.param_map
            .get(name)
            .or_else(|| self.default_param_map.get(name))
    }
}

/// Reads `dir/metadata/`, checking that the model is of a class whose name ends with
/// `expected` (`ALSModel`, `StringIndexerModel`).
pub(crate) fn read_metadata(dir: &Path, expected: &str) -> Result<SparkMetadata, SparkError> {
    let not_spark = |message: String| SparkError::NotSpark {
        path: dir.display().to_string(),
        message,
    };
    let meta_dir = dir.join("metadata");
    if !meta_dir.is_dir() {
        return Err(not_spark(format!(
            "not a saved Spark {expected}: no metadata/ directory (a Spark model directory holds metadata/{})",
            if expected == "ALSModel" { ", userFactors/ and itemFactors/" } else { " and data/" }
        )));
    }
    let mut parts: Vec<_> = std::fs::read_dir(&meta_dir)
        .map_err(|e| SparkError::io(&meta_dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| !is_side_file(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    parts.sort();
    let first = parts
        .first()
        .ok_or_else(|| not_spark("metadata/ holds no part file".into()))?;
    let text = std::fs::read_to_string(first).map_err(|e| SparkError::io(first, e))?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let meta: SparkMetadata = serde_json::from_str(line).map_err(|e| SparkError::NotSpark {
        path: first.display().to_string(),
        message: format!("not Spark model metadata (one JSON line with class and paramMap): {e}"),
    })?;
    if !meta.class.ends_with(expected) {
        return Err(SparkError::NotSpark {
            path: first.display().to_string(),
            message: format!("a saved {}, not a {expected}", meta.class),
        });
    }
    Ok(meta)
}
