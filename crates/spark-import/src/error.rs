//! Why something Spark wrote could not be read.

/// Why something Spark wrote could not be read: every variant names the file (and the column
/// where one is involved), so that users can act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SparkError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not what was expected (not a Spark model, not an index).
    #[error("{path}: {message}")]
    NotSpark {
        /// Path involved.
        path: String,
        /// What is missing.
        message: String,
    },
    /// A Parquet file lacks a column, has the wrong type or holds a bad value.
    #[error("{path}: column {column}: {message}")]
    Column {
        /// File.
        path: String,
        /// Column name.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// The data read does not fit together (ranks, ids, interactions).
    #[error("{path}: {message}")]
    Inconsistent {
        /// File or directory involved.
        path: String,
        /// What does not fit.
        message: String,
    },
}

impl SparkError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SparkError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn column(path: &std::path::Path, column: &str, message: impl Into<String>) -> Self {
        SparkError::Column {
            path: path.display().to_string(),
            column: column.to_owned(),
            message: message.into(),
        }
    }
}
