//! Opening one Parquet file Spark wrote, with the error every reader of this crate gives for a
//! file that is not Parquet.

use std::path::Path;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::SparkError;

/// The error for a file that cannot be read as Parquet.
pub(crate) fn not_readable(file: &Path, e: impl std::fmt::Display) -> SparkError {
    SparkError::NotSpark {
        path: file.display().to_string(),
        message: format!("not a readable Parquet file: {e}"),
    }
}

/// Opens `file` and reads its footer.
pub(crate) fn open(
    file: &Path,
) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>, SparkError> {
    let f = std::fs::File::open(file).map_err(|e| SparkError::io(file, e))?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| not_readable(file, e))
}
