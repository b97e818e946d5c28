//! What can go wrong in a store, kept apart so the API can map each kind to a status code.

/// Store failures, kept apart so the API can map them to status codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URI is malformed or names an unknown backend.
    #[error("invalid store URI {uri:?}: {why}")]
    InvalidUri {
        /// URI as given.
        uri: String,
        /// What is wrong.
        why: String,
    },
    /// The store does not exist (and the command may not create one).
    #[error(
        "store {uri} does not exist; `topten publish` creates it (other commands take --create)"
    )]
    Missing {
        /// URI as given.
        uri: String,
    },
    /// A version (or other named thing) does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The operation conflicts with the store's state (activating an incomplete version,
    /// deleting the active one, a count mismatch).
    #[error("{0}")]
    Conflict(String),
    /// An argument is out of range (e.g. zero items per user).
    #[error("{0}")]
    InvalidArgument(String),
    /// The backend failed (I/O, database, network).
    #[error("{backend} store: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// The backend does not implement this operation.
    #[error("the {backend} store does not support {what}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// Operation.
        what: &'static str,
    },
    /// The backend did not answer in time or is shedding load.
    #[error("{backend} store unavailable: {message}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        message: String,
        /// Suggested wait before retrying, in seconds.
        retry_after_secs: u64,
    },
}
