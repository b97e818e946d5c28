//! Answers served, per version, arm and hour: counted in memory by each instance and saved as
//! that instance's own document.
//!
//! The GET path must not write (nor read more than the user's list), so an answer is counted
//! by an in-memory add; every instance saves its counts now and then under its own id. No two
//! instances write the same document (no hot partition, no lost update), and a report sums
//! the documents of all instances. An instance that dies loses at most the counts since its
//! last save.

use async_trait::async_trait;
use topten_experiments::Arm;

use crate::error::StoreError;

/// One instance's counts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerCounts {
    /// The instance (host name and process id, or `TOPTEN_INSTANCE_ID`).
    pub instance: String,
    /// When it last saved, epoch milliseconds.
    pub saved_ms: i64,
    /// Its counts, one row per version, arm and hour.
    pub rows: Vec<AnswerCountRow>,
}

/// Answers of one version and arm in one hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerCountRow {
    /// The version that answered.
    pub version: String,
    /// Its arm, while an experiment ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<Arm>,
    /// The hour's start, epoch milliseconds.
    pub hour_ms: i64,
    /// Answers given.
    pub answers: u64,
}

/// How long an instance keeps hourly rows: older hours drop out of its document.
pub const KEEP_HOURS: i64 = 24 * 35;

/// Durable storage of every instance's answer counts.
#[async_trait]
pub trait AnswerCountStore: Send + Sync {
    /// Replaces this instance's document.
    async fn save_answer_counts(&self, counts: &AnswerCounts) -> Result<(), StoreError>;
    /// Every instance's document.
    async fn answer_counts(&self) -> Result<Vec<AnswerCounts>, StoreError>;
}
