//! Id indexes: Spark ALS needs integer ids, so pipelines with string ids index them, most
//! often with a `StringIndexer`, whose saved model keeps the labels (index i is label i).
//! topten stores and serves the original strings.
//!
//! An index is either a saved `StringIndexerModel` directory (`metadata/` and `data/` with
//! `labelsArray: array<array<string>>`, or `labels: array<string>` before Spark 3) or a
//! two-column mapping file (`index<TAB>id` or `index,id`, an optional header), for pipelines
//! that index ids their own way.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use arrow_schema::{DataType, Field};

use crate::SparkError;

/// How Spark's integer ids become topten's ids.
#[derive(Debug, Clone, Default)]
pub enum IdLabels {
    /// The ids are the integers themselves (`42` is id `"42"`).
    #[default]
    Numeric,
    /// Index i is `labels[i]`.
    Labels {
        /// Where the labels came from (for messages).
        source: String,
        /// The label of each index.
        labels: Vec<String>,
    },
}

impl IdLabels {
    /// Reads a `StringIndexerModel` directory or a mapping file.
    pub fn read(path: &Path) -> Result<IdLabels, SparkError> {
        let labels = if path.is_dir() {
            read_string_indexer(path)?
        } else {
            read_mapping_file(path)?
        };
        let mut seen = rustc_hash::FxHashMap::default();
        for (i, l) in labels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            if let Some(j) = seen.insert(l.as_str(), i) {
                return Err(SparkError::Inconsistent {
                    path: path.display().to_string(),
                    message: format!("id {l:?} has two indexes, {j} and {i}"),
                });
            }
        }
        Ok(IdLabels::Labels {
            source: path.display().to_string(),
            labels,
        })
    }

    /// The topten id of Spark id `id`, or `None` when the index has no such entry.
    pub fn label(&self, id: i64) -> Option<Cow<'_, str>> {
        match self {
            IdLabels::Numeric => Some(Cow::Owned(id.to_string())),
            IdLabels::Labels { labels, .. } => usize::try_from(id)
                .ok()
                .and_then(|i| labels.get(i))
                .filter(|l| !l.is_empty())
                .map(|l| Cow::Borrowed(l.as_str())),
        }
    }

    /// [`IdLabels::label`], or an error naming the index, the file and column the id came from.
    pub fn require(&self, id: i64, file: &Path, column: &str) -> Result<Cow<'_, str>, SparkError> {
        self.label(id).ok_or_else(|| {
            let source = match self {
                IdLabels::Labels { source, labels } => {
                    format!("the index {source} ({} labels)", labels.len())
                }
                IdLabels::Numeric => "the index".into(),
            };
            SparkError::column(file, column, format!("id {id} is missing from {source}"))
        })
    }
}

fn read_string_indexer(dir: &Path) -> Result<Vec<String>, SparkError> {
    crate::metadata::read_metadata(dir, "StringIndexerModel")?;
    let data = dir.join("data");
    let files =
        topten_model::ingest::parquet::data_files(&data).map_err(|e| SparkError::NotSpark {
            path: data.display().to_string(),
            message: format!("a saved StringIndexerModel holds data/: {e}"),
        })?;
    let utf8 = Arc::new(Field::new("item", DataType::Utf8, true));
    let nested = DataType::List(Arc::new(Field::new(
        "item",
        DataType::List(utf8.clone()),
        true,
    )));
    for file in &files {
        let reader = crate::parquet_file::open(file)?
            .build()
            .map_err(|e| crate::parquet_file::not_readable(file, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| SparkError::NotSpark {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            if batch.num_rows() == 0 {
                continue;
            }
            let strings = |a: &dyn Array, column: &str| -> Result<Vec<String>, SparkError> {
                let s = a.as_string::<i32>();
                (0..s.len())
                    .map(|i| {
                        if s.is_null(i) {
                            Err(SparkError::column(
                                file,
                                column,
                                format!("label {i} is null"),
                            ))
                        } else {
                            Ok(s.value(i).to_owned())
                        }
                    })
                    .collect()
            };
            if let Some(col) = batch.column_by_name("labelsArray") {
                let col = arrow_cast::cast::cast(col, &nested)
                    .map_err(|e| SparkError::column(file, "labelsArray", e.to_string()))?;
                let outer = col.as_list::<i32>().value(0);
                let outer = outer.as_list::<i32>();
                if outer.len() != 1 {
                    return Err(SparkError::column(
                        file,
                        "labelsArray",
                        format!("{} label arrays: an indexer of several columns; save one indexer per id column", outer.len()),
                    ));
                }
                return strings(outer.value(0).as_ref(), "labelsArray");
            }
            if let Some(col) = batch.column_by_name("labels") {
                let col = arrow_cast::cast::cast(col, &DataType::List(utf8.clone()))
                    .map_err(|e| SparkError::column(file, "labels", e.to_string()))?;
                return strings(col.as_list::<i32>().value(0).as_ref(), "labels");
            }
            return Err(SparkError::column(
                file,
                "labelsArray",
                "missing (a StringIndexerModel's data has labelsArray, or labels before Spark 3)",
            ));
        }
    }
    Err(SparkError::NotSpark {
        path: data.display().to_string(),
        message: "no labels (no Parquet rows)".into(),
    })
}

fn read_mapping_file(path: &Path) -> Result<Vec<String>, SparkError> {
    let bytes = std::fs::read(path).map_err(|e| SparkError::io(path, e))?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = if first.contains(&b'\t') { b'\t' } else { b',' };
    let records =
        topten_model::ingest::read_records(&bytes, delimiter, &path.display().to_string())
            .map_err(|e| SparkError::NotSpark {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
    let bad = |line: usize, message: String| SparkError::NotSpark {
        path: format!("{}:{line}", path.display()),
        message,
    };
    let mut labels: Vec<Option<String>> = Vec::new();
    for (n, (line, fields)) in records.iter().enumerate() {
        if fields.len() < 2 {
            return Err(bad(*line, "expected two columns: index, id".into()));
        }
        let Ok(index) = fields[0].trim().parse::<usize>() else {
            if n == 0 {
                continue; // a header
            }
            return Err(bad(
                *line,
                format!("index {:?} is not a non-negative integer", fields[0]),
            ));
        };
        let id = fields[1].trim();
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(bad(
                *line,
                format!("id {id:?} is empty or holds a control character"),
            ));
        }
        if index >= labels.len() {
            labels.resize(index + 1, None);
        }
        if labels[index].replace(id.to_owned()).is_some() {
            return Err(bad(*line, format!("index {index} appears twice")));
        }
    }
    if labels.is_empty() {
        return Err(bad(1, "no mappings".into()));
    }
    // Gaps are allowed (ids the pipeline dropped) but hold no label.
    Ok(labels.into_iter().map(|l| l.unwrap_or_default()).collect())
}
