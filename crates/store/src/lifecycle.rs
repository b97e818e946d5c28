//! The version lifecycle: how a version is written, completed, activated, rolled back and
//! deleted. The rules are written here once, as [`Publisher`], on top of the few primitives
//! each read-write backend provides ([`VersionStorage`]).
//!
//! The rules:
//! - a new version starts `writing`; documents, the popular list, the serving model, the
//!   catalogue and the histories can be written only while it is `writing`, and only documents
//!   of that version;
//! - it becomes `complete` only when the number of users written equals the number expected;
//! - only a complete version can be activated, and activation is one atomic pointer write
//!   that remembers the previous pointers (what [`Publisher::rollback`] returns to);
//! - the active version is never deleted; a version being deleted is first marked `writing`,
//!   so no activation can land on it while its documents go;
//! - a fold-in write-back replaces documents of complete versions only;
//! - one experiment at a time serves a share of users from a complete candidate version; it
//!   lives in the active pointer, so it starts, stops and is promoted (the candidate activated
//!   by the rules above) atomically, and while it runs no other activation or rollback
//!   happens and its candidate is not deleted.
//!
//! Every decision that reads the active pointer and a version's info and then writes one of
//! them goes through [`VersionStorage::transact_meta`], which a backend runs as one atomic
//! step where it can (embedded: one LMDB write transaction).

use async_trait::async_trait;

use crate::documents::{
    ActiveVersion, Experiment, ExperimentRecord, ItemScore, UserRecs, VersionInfo, VersionStatus,
};
use crate::error::StoreError;
use crate::reader::RecsReader;

/// The smallest share of users an experiment may give its candidate: one in ten thousand.
/// A smaller share reaches nobody on most sites and makes the experiment's figures empty.
pub const MIN_EXPERIMENT_SHARE: f64 = 1e-4;

/// Most previously active versions remembered for `rollback`.
pub const ACTIVATION_HISTORY: usize = 20;

/// What a [`MetaDecision`] writes.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaWrite {
    /// Nothing changes.
    Nothing,
    /// The active pointer becomes this.
    Active(ActiveVersion),
    /// The version's info becomes this.
    Version(VersionInfo),
}

/// A lifecycle decision: given the active pointer and the version's info as the store holds
/// them, what to write (or why not).
pub type MetaDecision<'a> = dyn Fn(Option<&ActiveVersion>, Option<&VersionInfo>) -> Result<MetaWrite, StoreError>
    + Send
    + Sync
    + 'a;

/// What writes have cost so far, for backends with provisioned throughput (Cosmos DB).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteStats {
    /// Request units charged (sum of `x-ms-request-charge`).
    pub request_units: f64,
    /// Writes answered 429 (throttled) and retried.
    pub throttled: u64,
    /// Retries of any cause (throttling, 5xx, timeouts).
    pub retries: u64,
}

/// The primitives a read-write backend provides. They apply no rule; [`Publisher`] does.
#[async_trait]
pub trait VersionStorage: RecsReader {
    /// Reads the active pointer and `version`'s info, asks `decide` what to write, and writes
    /// it, as one atomic step where the backend can. Returns what was written.
    async fn transact_meta(
        &self,
        version: &str,
        decide: &MetaDecision<'_>,
    ) -> Result<MetaWrite, StoreError>;
    /// Writes user documents of `version` (replacing any with the same user).
    async fn put_users(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError>;
    /// The synchronous writes of a backend whose writes block the thread (see
    /// [`crate::blocking`]); `None` for the networked backends.
    fn blocking_writes(&self) -> Option<&dyn crate::blocking::BlockingWrites> {
        None
    }
    /// Writes the cold-start list of `version`.
    async fn put_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError>;
    /// Writes the serving model of `version`.
    async fn put_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Writes the catalogue of `version` (JSON Lines).
    async fn put_catalogue(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Writes users' training histories for `version`.
    async fn put_histories(
        &self,
        version: &str,
        histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError>;
    /// Stores item factors solved from live events in `version`, each replacing the item's
    /// earlier one ([`crate::item_factors`]).
    async fn put_item_factors(
        &self,
        version: &str,
        factors: &[crate::item_factors::ItemFactor],
    ) -> Result<(), StoreError>;
    /// How many distinct users have a document in `version`.
    async fn count_users(&self, version: &str) -> Result<usize, StoreError>;
    /// Deletes everything of `version` but its info: documents, histories, serving model,
    /// catalogue, popular list, item factors.
    async fn delete_version_data(&self, version: &str) -> Result<(), StoreError>;
    /// Deletes `version`'s info (the last step of a delete).
    async fn delete_version_info(&self, version: &str) -> Result<(), StoreError>;
    /// Request units and throttling so far (`None` for backends without such costs).
    fn write_stats(&self) -> Option<WriteStats> {
        None
    }
}

/// The rollback history after activating `version` over `previous`, or `None` when `version`
/// is already active (activation is then a no-op).
pub fn activation_history(previous: Option<&ActiveVersion>, version: &str) -> Option<Vec<String>> {
    let mut history = Vec::new();
    if let Some(prev) = previous {
        if prev.version == version {
            return None;
        }
        history.push(prev.version.clone());
        history.extend(prev.history.iter().cloned());
    }
    history.retain(|v| v != version);
    history.truncate(ACTIVATION_HISTORY);
    Some(history)
}

/// The pointer that activates `version` now, given its info: only a complete version can be
/// activated. The past experiments of `previous` carry over.
fn activation(
    version: &str,
    info: Option<&VersionInfo>,
    history: Vec<String>,
    previous: Option<&ActiveVersion>,
) -> Result<ActiveVersion, StoreError> {
    match info {
        None => Err(StoreError::NotFound(format!("version {version}"))),
        Some(i) if i.status != VersionStatus::Complete => Err(StoreError::Conflict(format!(
            "version {version} is not complete (a publish did not finish); it cannot be activated"
        ))),
        Some(_) => Ok(ActiveVersion {
            version: version.to_owned(),
            activated_at: topten_model::clock::now_rfc3339(),
            history,
            experiment: None,
            past_experiments: previous
                .map(|p| p.past_experiments.clone())
                .unwrap_or_default(),
        }),
    }
}

/// Refuses a pointer change while an experiment runs: it would end the experiment silently.
pub fn no_experiment(active: Option<&ActiveVersion>, what: &str) -> Result<(), StoreError> {
    match active.and_then(|a| a.experiment.as_ref()) {
        None => Ok(()),
        Some(e) => Err(StoreError::Conflict(format!(
            "experiment {} is running (candidate {}); stop or promote it before {what}",
            e.id, e.candidate
        ))),
    }
}

/// A new experiment id: `x` + the UTC start time + random hex (the salt of its split).
pub fn new_experiment_id() -> String {
    let now = topten_model::clock::now_rfc3339().replace(['-', ':'], "");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "x{now}-{:08x}",
        (nanos as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
    )
}

fn require_writing(version: &str, info: Option<&VersionInfo>) -> Result<VersionInfo, StoreError> {
    match info {
        None => Err(StoreError::NotFound(format!("version {version}"))),
        Some(i) if i.status != VersionStatus::Writing => Err(StoreError::Conflict(format!(
            "version {version} is already complete"
        ))),
        Some(i) => Ok(i.clone()),
    }
}

/// The version lifecycle, the same for every backend (see the module docs). Implemented for
/// every [`VersionStorage`].
#[async_trait]
pub trait Publisher: VersionStorage {
    /// Registers a new version with status `writing`. Its name must keep
    /// [`topten_edge::ids::check_version_name`]'s rule.
    async fn create_version(&self, info: &VersionInfo) -> Result<(), StoreError> {
        topten_edge::ids::check_version_name(&info.version).map_err(StoreError::InvalidArgument)?;
        let fresh = VersionInfo {
            status: VersionStatus::Writing,
            users: 0,
            ..info.clone()
        };
        let decide = move |_: Option<&ActiveVersion>, existing: Option<&VersionInfo>| match existing
        {
            Some(_) => Err(StoreError::Conflict(format!(
                "version {} already exists",
                fresh.version
            ))),
            None => Ok(MetaWrite::Version(fresh.clone())),
        };
        self.transact_meta(&info.version, &decide).await.map(drop)
    }

    /// Writes a batch of user documents of a `writing` version.
    async fn write_users(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        if let Some(d) = docs.iter().find(|d| d.model_version != version) {
            return Err(StoreError::Conflict(format!(
                "document {} belongs to version {}",
                d.id, d.model_version
            )));
        }
        self.put_users(version, docs).await
    }

    /// Writes the cold-start list of a `writing` version.
    async fn write_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        self.put_popular(version, items).await
    }

    /// Stores the serving model of a `writing` version (item ids and factors, see
    /// [`topten_model::serving_model`]).
    async fn write_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        self.put_serving_model(version, bytes).await
    }

    /// Stores the catalogue of a `writing` version
    /// ([`topten_model::catalogue::Catalogue::to_json_lines`]).
    async fn write_catalogue(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        self.put_catalogue(version, bytes).await
    }

    /// Stores users' training histories for a `writing` version
    /// ([`topten_model::serving_model::encode_history`]).
    async fn write_histories(
        &self,
        version: &str,
        histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        self.put_histories(version, histories).await
    }

    /// Counts the version's user documents and, if the count matches, marks it `complete`.
    async fn finish_version(&self, version: &str) -> Result<VersionInfo, StoreError> {
        require_writing(version, self.version(version).await?.as_ref())?;
        let written = self.count_users(version).await?;
        let decide = move |_: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
            let info = require_writing(version, info)?;
            if written != info.expected_users {
                return Err(StoreError::Conflict(format!(
                    "version {version}: {written} user documents written, {} expected; not completing it",
                    info.expected_users
                )));
            }
            Ok(MetaWrite::Version(VersionInfo {
                status: VersionStatus::Complete,
                users: written,
                ..info
            }))
        };
        match self.transact_meta(version, &decide).await? {
            MetaWrite::Version(done) => Ok(done),
            other => unreachable!("finish_version decided {other:?}"),
        }
    }

    /// Atomically points `active` at a complete version, remembering the previous one.
    /// Activating the active version changes nothing.
    async fn activate(&self, version: &str) -> Result<ActiveVersion, StoreError> {
        let decide = move |active: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
            if active.is_none_or(|a| a.version != version) {
                no_experiment(active, &format!("activating {version}"))?;
            }
            match activation_history(active, version) {
                None => Ok(MetaWrite::Nothing),
                Some(history) => activation(version, info, history, active).map(MetaWrite::Active),
            }
        };
        match self.transact_meta(version, &decide).await? {
            MetaWrite::Active(a) => Ok(a),
            _ => self
                .active()
                .await?
                .ok_or_else(|| StoreError::NotFound("active version".into())),
        }
    }

    /// Re-activates the most recent previously active version that still exists and is
    /// complete.
    async fn rollback(&self) -> Result<ActiveVersion, StoreError> {
        let current = self
            .active()
            .await?
            .ok_or_else(|| StoreError::NotFound("active version".into()))?;
        for (i, candidate) in current.history.iter().enumerate() {
            let rest: Vec<String> = current.history[i + 1..].to_vec();
            let expected = current.version.clone();
            let decide = move |active: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
                no_experiment(active, "rolling back")?;
                if active.map(|a| a.version.as_str()) != Some(expected.as_str()) {
                    return Err(StoreError::Conflict(format!(
                        "the active version changed from {expected} during the rollback; try again"
                    )));
                }
                match info {
                    Some(i) if i.status == VersionStatus::Complete => {
                        activation(candidate, info, rest.clone(), active).map(MetaWrite::Active)
                    }
                    _ => Ok(MetaWrite::Nothing),
                }
            };
            if let MetaWrite::Active(a) = self.transact_meta(candidate, &decide).await? {
                return Ok(a);
            }
        }
        Err(StoreError::NotFound(format!(
            "a previous version to roll back to (active: {})",
            current.version
        )))
    }

    /// Deletes a version that is not active, with its documents, serving model and histories.
    /// The version is first marked `writing` in the same step that checks it is not active, so
    /// an activation racing with the delete either lands first (and the delete is refused) or
    /// fails; its info goes last, so an interrupted delete can be finished by deleting again.
    async fn delete_version(&self, version: &str) -> Result<(), StoreError> {
        let decide = move |active: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
            let Some(info) = info else {
                return Err(StoreError::NotFound(format!("version {version}")));
            };
            if active.is_some_and(|a| a.version == version) {
                return Err(StoreError::Conflict(format!(
                    "version {version} is active; activate another one first"
                )));
            }
            if let Some(e) = active
                .and_then(|a| a.experiment.as_ref())
                .filter(|e| e.candidate == version)
            {
                return Err(StoreError::Conflict(format!(
                    "version {version} is the candidate of experiment {}; stop it first",
                    e.id
                )));
            }
            Ok(match info.status {
                VersionStatus::Writing => MetaWrite::Nothing,
                VersionStatus::Complete => MetaWrite::Version(VersionInfo {
                    status: VersionStatus::Writing,
                    ..info.clone()
                }),
            })
        };
        self.transact_meta(version, &decide).await?;
        self.delete_version_data(version).await?;
        self.delete_version_info(version).await
    }

    /// Starts an experiment: `share` of users (from [`MIN_EXPERIMENT_SHARE`] to 1) are served from
    /// `candidate`, a complete version other than the active one, the rest from the active
    /// version. Only one experiment runs at a time.
    async fn start_experiment(
        &self,
        candidate: &str,
        share: f64,
    ) -> Result<ActiveVersion, StoreError> {
        if !(MIN_EXPERIMENT_SHARE..=1.0).contains(&share) {
            return Err(StoreError::InvalidArgument(format!(
                "the candidate's share must be from {MIN_EXPERIMENT_SHARE} (one user in ten thousand) to 1, got {share}"
            )));
        }
        let id = new_experiment_id();
        let decide = move |active: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
            let Some(active) = active else {
                return Err(StoreError::Conflict(
                    "no active version to compare the candidate with; activate one first".into(),
                ));
            };
            no_experiment(Some(active), "starting another")?;
            if active.version == candidate {
                return Err(StoreError::InvalidArgument(format!(
                    "{candidate} is the active version; the candidate must be another one"
                )));
            }
            activation(candidate, info, Vec::new(), None)?; // complete, or the reason it is not
            Ok(MetaWrite::Active(ActiveVersion {
                experiment: Some(Experiment {
                    id: id.clone(),
                    candidate: candidate.to_owned(),
                    share,
                    started_at: topten_model::clock::now_rfc3339(),
                }),
                ..active.clone()
            }))
        };
        match self.transact_meta(candidate, &decide).await? {
            MetaWrite::Active(a) => Ok(a),
            other => unreachable!("start_experiment decided {other:?}"),
        }
    }

    /// The active pointer and its running experiment, or `NotFound` naming what is missing.
    async fn running_experiment(&self) -> Result<(ActiveVersion, Experiment), StoreError> {
        let current = self
            .active()
            .await?
            .ok_or_else(|| StoreError::NotFound("active version".into()))?;
        let running = current
            .experiment
            .clone()
            .ok_or_else(|| StoreError::NotFound("a running experiment".into()))?;
        Ok((current, running))
    }

    /// Stops the running experiment: every user is served from the active version again, and
    /// `record` (how it ended) joins the pointer's past experiments in the same write.
    /// Returns the experiment that ran.
    async fn stop_experiment(
        &self,
        record: Option<&ExperimentRecord>,
    ) -> Result<Experiment, StoreError> {
        let (current, running) = self.running_experiment().await?;
        let expected = running.id.clone();
        let decide = move |active: Option<&ActiveVersion>, _: Option<&VersionInfo>| match active {
            Some(a) if a.experiment.as_ref().is_some_and(|e| e.id == expected) => {
                Ok(MetaWrite::Active(ActiveVersion {
                    experiment: None,
                    past_experiments: a.recording(record),
                    ..a.clone()
                }))
            }
            _ => Err(StoreError::Conflict(format!(
                "experiment {expected} is no longer running"
            ))),
        };
        self.transact_meta(&current.version, &decide).await?;
        Ok(running)
    }

    /// Ends the running experiment by activating its candidate (by the normal version rules:
    /// it must still be complete; the previously active version is remembered for rollback),
    /// `record` joining the pointer's past experiments in the same write.
    async fn promote_experiment(
        &self,
        record: Option<&ExperimentRecord>,
    ) -> Result<ActiveVersion, StoreError> {
        let (_, running) = self.running_experiment().await?;
        let candidate = running.candidate.clone();
        let decide = move |active: Option<&ActiveVersion>, info: Option<&VersionInfo>| {
            let Some(a) =
                active.filter(|a| a.experiment.as_ref().is_some_and(|e| e.id == running.id))
            else {
                return Err(StoreError::Conflict(format!(
                    "experiment {} is no longer running",
                    running.id
                )));
            };
            let history = activation_history(Some(a), &running.candidate).unwrap_or_default();
            activation(&running.candidate, info, history, Some(a)).map(|next| {
                MetaWrite::Active(ActiveVersion {
                    past_experiments: a.recording(record),
                    ..next
                })
            })
        };
        match self.transact_meta(&candidate, &decide).await? {
            MetaWrite::Active(a) => Ok(a),
            other => unreachable!("promote_experiment decided {other:?}"),
        }
    }

    /// Replaces (or adds) users' documents in complete versions: the write-back of a fold-in,
    /// so every instance serves the fresh list with one read.
    async fn upsert_users_recs(&self, docs: &[UserRecs]) -> Result<(), StoreError> {
        for (version, batch) in self.write_back_batches(docs).await? {
            self.put_users(&version, &batch).await?;
        }
        Ok(())
    }

    /// A write-back's documents grouped by version, once each version is found complete (a
    /// fold-in never writes into a version being written or deleted): what
    /// [`Publisher::upsert_users_recs`] puts, and what the event path puts itself through
    /// [`VersionStorage::blocking_writes`].
    async fn write_back_batches(
        &self,
        docs: &[UserRecs],
    ) -> Result<Vec<(String, Vec<UserRecs>)>, StoreError> {
        let mut versions: Vec<&str> = docs.iter().map(|d| d.model_version.as_str()).collect();
        versions.sort_unstable();
        versions.dedup();
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            match self.version(version).await? {
                None => return Err(StoreError::NotFound(format!("version {version}"))),
                Some(i) if i.status != VersionStatus::Complete => {
                    return Err(StoreError::Conflict(format!(
                        "version {version} is still being written"
                    )))
                }
                Some(_) => {}
            }
            let batch: Vec<UserRecs> = docs
                .iter()
                .filter(|d| d.model_version == version)
                .cloned()
                .collect();
            out.push((version.to_owned(), batch));
        }
        Ok(out)
    }
}

impl<T: VersionStorage + ?Sized> Publisher for T {}

/// Deletes all but the `keep` most recent complete versions, never the active one. Incomplete
/// (`writing`) versions older than the newest complete one are leftovers of failed publishes
/// and go too; newer ones may be publishes in progress, so they go only with `incomplete`.
/// Returns the deleted ids.
pub async fn prune(
    store: &dyn crate::Store,
    keep: usize,
    incomplete: bool,
) -> Result<Vec<String>, StoreError> {
    let pointer = store.active().await?;
    let active = pointer.as_ref().map(|a| a.version.clone());
    // A running experiment's candidate serves users too: kept, and not counted in `keep`.
    let candidate = pointer
        .as_ref()
        .and_then(|a| a.experiment.as_ref())
        .map(|e| e.candidate.clone());
    let versions = store.versions().await?;
    let newest_complete = versions
        .iter()
        .rev()
        .find(|v| v.status == VersionStatus::Complete)
        .map(|v| v.created_at.clone());
    let mut kept = 0;
    let mut deleted = Vec::new();
    for v in versions.iter().rev() {
        if Some(&v.version) == active.as_ref() || Some(&v.version) == candidate.as_ref() {
            continue;
        }
        let delete = match v.status {
            VersionStatus::Complete => {
                kept += 1;
                kept > keep
            }
            VersionStatus::Writing => {
                incomplete || newest_complete.as_ref().is_some_and(|t| v.created_at <= *t)
            }
        };
        if delete {
            store.delete_version(&v.version).await?;
            deleted.push(v.version.clone());
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(version: &str, history: &[&str]) -> ActiveVersion {
        ActiveVersion {
            version: version.into(),
            activated_at: String::new(),
            experiment: None,
            history: history.iter().map(|s| s.to_string()).collect(),
            past_experiments: Vec::new(),
        }
    }

    #[test]
    fn activation_history_puts_the_previous_version_first_and_is_bounded() {
        assert_eq!(activation_history(None, "a"), Some(vec![]));
        assert_eq!(activation_history(Some(&pointer("a", &[])), "a"), None);
        assert_eq!(
            activation_history(Some(&pointer("b", &["a", "c"])), "c"),
            Some(vec!["b".to_string(), "a".to_string()])
        );
        let long: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let h = activation_history(Some(&pointer("x", &refs)), "y").unwrap();
        assert_eq!(h.len(), ACTIVATION_HISTORY);
        assert_eq!(h[0], "x");
    }
}
