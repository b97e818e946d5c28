//! `userFactors/` and `itemFactors/`: Parquet part files of (`id` int, `features`
//! array<float>), one file per ALS block, rows in no particular order.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::Array;
use arrow_schema::{DataType, Field};
use ndarray::Array2;

use crate::SparkError;

/// One side's factors, sorted by Spark id.
pub(crate) struct Factors {
    /// Spark ids, ascending.
    pub(crate) ids: Vec<i64>,
    /// Row r is the factor of `ids[r]`.
    pub(crate) matrix: Array2<f32>,
}

/// Reads every part file of a factors directory, checking each row has `rank` finite values
/// and each id appears once.
pub(crate) fn read_factors(dir: &Path, rank: usize) -> Result<Factors, SparkError> {
    if !dir.is_dir() {
        return Err(SparkError::NotSpark {
            path: dir.display().to_string(),
            message: "missing: a saved ALSModel holds userFactors/ and itemFactors/".into(),
        });
    }
    let files =
        topten_model::ingest::parquet::data_files(dir).map_err(|e| SparkError::NotSpark {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
    let mut rows: Vec<(i64, usize)> = Vec::new(); // (id, offset in values / rank)
    let mut values: Vec<f32> = Vec::new();
    for file in &files {
        read_file(file, rank, &mut rows, &mut values)?;
    }
    if rows.is_empty() {
        return Err(SparkError::NotSpark {
            path: dir.display().to_string(),
            message: "no factor rows (no Parquet part files)".into(),
        });
    }
    rows.sort_unstable();
    if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SparkError::Inconsistent {
            path: dir.display().to_string(),
            message: format!("id {} has two factor rows", w[0].0),
        });
    }
    let mut matrix = Array2::<f32>::zeros((rows.len(), rank));
    for (r, &(_, at)) in rows.iter().enumerate() {
        matrix
            .row_mut(r)
            .as_slice_mut()
            .expect("contiguous")
            .copy_from_slice(&values[at * rank..(at + 1) * rank]);
    }
    Ok(Factors {
        ids: rows.into_iter().map(|(id, _)| id).collect(),
        matrix,
    })
}

fn read_file(
    path: &Path,
    rank: usize,
    rows: &mut Vec<(i64, usize)>,
    values: &mut Vec<f32>,
) -> Result<(), SparkError> {
    let builder = crate::parquet_file::open(path)?;
    let schema = builder.schema().clone();
    for column in ["id", "features"] {
        if schema.field_with_name(column).is_err() {
            return Err(SparkError::column(
                path,
                column,
                format!(
                    "missing (columns: {}); Spark factors have id and features",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let id_type = schema
        .field_with_name("id")
        .expect("checked")
        .data_type()
        .clone();
    if !id_type.is_integer() {
        return Err(SparkError::column(
            path,
            "id",
            format!("has type {id_type}; Spark ids are integers"),
        ));
    }
    let reader = builder.build().map_err(|e| SparkError::NotSpark {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let float_list = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
    let mut row_base = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| SparkError::NotSpark {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let ids = arrow_cast::cast::cast(
            batch.column_by_name("id").expect("checked"),
            &DataType::Int64,
        )
        .map_err(|e| SparkError::column(path, "id", e.to_string()))?;
        let features = arrow_cast::cast::cast(
            batch.column_by_name("features").expect("checked"),
            &float_list,
        )
        .map_err(|e| {
            SparkError::column(path, "features", format!("is not an array of numbers: {e}"))
        })?;
        let ids = ids.as_primitive::<Int64Type>();
        let list = features.as_list::<i32>();
        let elements = list.values().as_primitive::<Float32Type>();
        let offsets = list.value_offsets();
        for row in 0..batch.num_rows() {
            let at = || format!("row {}", row_base + row + 1);
            if ids.is_null(row) {
                return Err(SparkError::column(path, "id", format!("{}: null id", at())));
            }
            let id = ids.value(row);
            if list.is_null(row) {
                return Err(SparkError::column(
                    path,
                    "features",
                    format!("{} (id {id}): null", at()),
                ));
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if end - start != rank {
                return Err(SparkError::column(
                    path,
                    "features",
                    format!(
                        "{} (id {id}): {} values, but the model's rank is {rank}",
                        at(),
                        end - start
                    ),
                ));
            }
            let offset = values.len() / rank.max(1);
            for k in start..end {
                let v = elements.value(k);
                if elements.is_null(k) || !v.is_finite() {
                    return Err(SparkError::column(
                        path,
                        "features",
                        format!(
                            "{} (id {id}): value {} is {}",
                            at(),
                            k - start,
                            if elements.is_null(k) {
                                "null".into()
                            } else {
                                v.to_string()
                            }
                        ),
                    ));
                }
                values.push(v);
            }
            rows.push((id, offset));
        }
        row_base += batch.num_rows();
    }
    Ok(())
}
