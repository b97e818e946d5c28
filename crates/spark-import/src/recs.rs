//! The lists of `recommendForAllUsers(k)`, written by `DataFrame.write.parquet`: one row per
//! user, `user` (int) and `recommendations` (array<struct<item: int, rating: float>>, best
//! first). Read in batches of rows, never a whole file at a time, for publishing as they are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{Array, StructArray};
use arrow_schema::{DataType, Field, Fields};

use crate::parquet_file::{not_readable, open};
use crate::{IdLabels, SparkError};

/// One user's list, with topten ids.
pub type UserList = (String, Vec<(String, f32)>);

/// Users decoded per batch.
const BATCH_USERS: usize = 4096;

/// A file or directory of `recommendForAllUsers` output, checked and counted.
#[derive(Debug, Clone)]
pub struct RecsFiles {
    files: Vec<PathBuf>,
    /// Users (rows) in all files, from the Parquet footers.
    pub users: usize,
}

impl RecsFiles {
    /// Finds the part files and checks each one's schema.
    pub fn open(path: &Path) -> Result<RecsFiles, SparkError> {
        let files = if path.is_dir() {
            topten_model::ingest::parquet::data_files(path).map_err(|e| SparkError::NotSpark {
                path: path.display().to_string(),
                message: e.to_string(),
            })?
        } else {
            vec![path.to_path_buf()]
        };
        if files.is_empty() {
            return Err(SparkError::NotSpark {
                path: path.display().to_string(),
                message: "no Parquet part files".into(),
            });
        }
        let mut users = 0;
        for file in &files {
            let builder = open(file)?;
            let schema = builder.schema();
            for column in ["user", "recommendations"] {
                if schema.field_with_name(column).is_err() {
                    return Err(SparkError::column(
                        file,
                        column,
                        format!(
                            "missing (columns: {}); recommendForAllUsers writes user and recommendations",
                            schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            users += builder.metadata().file_metadata().num_rows() as usize;
        }
        Ok(RecsFiles { files, users })
    }

    /// Calls `f` with batches of lists, in file order, ids mapped through the indexes.
    /// Stops at the first error, of the data or of `f`.
    pub fn for_each<E: From<SparkError>>(
        &self,
        users: &IdLabels,
        items: &IdLabels,
        mut f: impl FnMut(Vec<UserList>) -> Result<(), E>,
    ) -> Result<(), E> {
        let list_type = DataType::List(Arc::new(Field::new(
            "element",
            DataType::Struct(Fields::from(vec![
                Field::new("item", DataType::Int64, true),
                Field::new("rating", DataType::Float32, true),
            ])),
            true,
        )));
        for file in &self.files {
            let reader = open(file)?
                .with_batch_size(BATCH_USERS)
                .build()
                .map_err(|e| not_readable(file, e))?;
            let mut row_base = 0usize;
            for batch in reader {
                let batch = batch.map_err(|e| not_readable(file, e))?;
                let user_col = arrow_cast::cast::cast(
                    batch.column_by_name("user").expect("checked"),
                    &DataType::Int64,
                )
                .map_err(|e| SparkError::column(file, "user", format!("not an integer id: {e}")))?;
                let recs = arrow_cast::cast::cast(
                    batch.column_by_name("recommendations").expect("checked"),
                    &list_type,
                )
                .map_err(|e| {
                    SparkError::column(
                        file,
                        "recommendations",
                        format!("not array<struct<item, rating>>: {e}"),
                    )
                })?;
                let user_col = user_col.as_primitive::<Int64Type>();
                let lists = recs.as_list::<i32>();
                let entries: &StructArray = lists.values().as_struct();
                let item_col = entries.column(0).as_primitive::<Int64Type>();
                let score_col = entries.column(1).as_primitive::<Float32Type>();
                let offsets = lists.value_offsets();
                let mut out = Vec::with_capacity(batch.num_rows());
                for row in 0..batch.num_rows() {
                    let at = row_base + row + 1;
                    if user_col.is_null(row) {
                        return Err(SparkError::column(
                            file,
                            "user",
                            format!("row {at}: null user"),
                        )
                        .into());
                    }
                    let user = users
                        .require(user_col.value(row), file, "user")?
                        .into_owned();
                    let mut list = Vec::new();
                    if !lists.is_null(row) {
                        for k in offsets[row] as usize..offsets[row + 1] as usize {
                            if item_col.is_null(k) || score_col.is_null(k) {
                                return Err(SparkError::column(
                                    file,
                                    "recommendations",
                                    format!("row {at} (user {user}): null item or rating"),
                                )
                                .into());
                            }
                            let score = score_col.value(k);
                            if !score.is_finite() {
                                return Err(SparkError::column(
                                    file,
                                    "recommendations",
                                    format!("row {at} (user {user}): rating {score} is not finite"),
                                )
                                .into());
                            }
                            let item =
                                items.require(item_col.value(k), file, "recommendations.item")?;
                            list.push((item.into_owned(), score));
                        }
                    }
                    out.push((user, list));
                }
                row_base += batch.num_rows();
                f(out)?;
            }
        }
        Ok(())
    }
}
