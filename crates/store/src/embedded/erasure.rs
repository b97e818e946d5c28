//! Deleting from the embedded store: retention passes walk the age index in bounded write
//! transactions (LMDB reuses the freed pages for later writes, so the file stops growing once
//! deletions keep pace), and forgetting a user removes their keys under their prefixes.

use async_trait::async_trait;

use super::{backend_err, change_key, happened_ms, time_key, time_prefix, EmbeddedStore, SEP};
use crate::erasure::{Erasure, EventsDue, Tombstone, UserInVersion};
use crate::events::StoredEvent;
use crate::StoreError;

/// Prefix of tombstones in `meta`.
const TOMBSTONES: &str = "tombstone\x1f";

/// How many entries of the age index one pass looks at per event it may delete: entries a
/// serving version still needs are stepped over, and this bounds the walk past them.
const SCAN_PER_DELETE: usize = 4;

impl EmbeddedStore {
    /// Deletes the event under `key` and every index entry of it, in `wtxn`.
    fn delete_event_in(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        key: &str,
        event: &StoredEvent,
    ) -> Result<(), StoreError> {
        self.events.delete(wtxn, key).map_err(backend_err)?;
        self.events_by_time
            .delete(wtxn, &time_key(event.received_at_ms, key))
            .map_err(backend_err)?;
        self.events_by_age
            .delete(wtxn, &time_key(happened_ms(event), key))
            .map_err(backend_err)?;
        if let Some(id) = &event.event_id {
            self.event_ids
                .delete(wtxn, &format!("{}{SEP}{id}", event.user_id))
                .map_err(backend_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Erasure for EmbeddedStore {
    async fn prune_events(&self, due: EventsDue, limit: usize) -> Result<usize, StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let end = time_prefix(due.happened_before_ms);
        let found: Vec<(String, StoredEvent)> = {
            let mut found = Vec::new();
            let range = (
                std::ops::Bound::Unbounded,
                std::ops::Bound::Excluded(end.as_str()),
            );
            let iter = self
                .events_by_age
                .range(&wtxn, &range)
                .map_err(backend_err)?;
            for entry in iter.take(limit.saturating_mul(SCAN_PER_DELETE)) {
                let (_, key) = entry.map_err(backend_err)?;
                let Some(bytes) = self.events.get(&wtxn, key).map_err(backend_err)? else {
                    continue;
                };
                let event: StoredEvent = serde_json::from_slice(bytes).map_err(backend_err)?;
                if due.covers(&event) {
                    found.push((key.to_owned(), event));
                    if found.len() == limit {
                        break;
                    }
                }
            }
            found
        };
        for (key, event) in &found {
            self.delete_event_in(&mut wtxn, key, event)?;
        }
        wtxn.commit().map_err(backend_err)?;
        Ok(found.len())
    }

    async fn prune_item_changes(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let end = change_key(before_ms, "");
        let keys: Vec<String> = {
            let range = (
                std::ops::Bound::Unbounded,
                std::ops::Bound::Excluded(end.as_str()),
            );
            self.live_changes
                .range(&wtxn, &range)
                .map_err(backend_err)?
                .take(limit)
                .map(|e| e.map(|(k, _)| k.to_owned()))
                .collect::<Result<_, _>>()
                .map_err(backend_err)?
        };
        for key in &keys {
            let id = key.split_once(SEP).map(|(_, id)| id).unwrap_or_default();
            self.live_items.delete(&mut wtxn, id).map_err(backend_err)?;
            self.live_changes
                .delete(&mut wtxn, key)
                .map_err(backend_err)?;
        }
        wtxn.commit().map_err(backend_err)?;
        Ok(keys.len())
    }

    async fn prune_answer_counts(&self, before_ms: i64) -> Result<usize, StoreError> {
        let stale: Vec<String> = self
            .answer_count_docs()?
            .into_iter()
            .filter(|c| c.saved_ms < before_ms)
            .map(|c| format!("{}{}", super::ANSWER_COUNTS, c.instance))
            .collect();
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        for key in &stale {
            self.meta.delete(&mut wtxn, key).map_err(backend_err)?;
        }
        wtxn.commit().map_err(backend_err)?;
        Ok(stale.len())
    }

    async fn delete_user_events(&self, user_id: &str) -> Result<usize, StoreError> {
        let prefix = format!("{user_id}{SEP}");
        let mut deleted = 0;
        // Bounded transactions: a user with a huge log does not need one giant commit.
        loop {
            let mut wtxn = self.env.write_txn().map_err(backend_err)?;
            let batch: Vec<(String, StoredEvent)> = {
                let iter = self
                    .events
                    .prefix_iter(&wtxn, &prefix)
                    .map_err(backend_err)?;
                let mut batch = Vec::new();
                for entry in iter.take(10_000) {
                    let (key, bytes) = entry.map_err(backend_err)?;
                    batch.push((
                        key.to_owned(),
                        serde_json::from_slice(bytes).map_err(backend_err)?,
                    ));
                }
                batch
            };
            for (key, event) in &batch {
                self.delete_event_in(&mut wtxn, key, event)?;
            }
            // Ids of events that are gone already (pruned, or a re-run after a kill).
            let ids: Vec<String> = self
                .event_ids
                .prefix_iter(&wtxn, &prefix)
                .map_err(backend_err)?
                .take(10_000)
                .map(|e| e.map(|(k, _)| k.to_owned()))
                .collect::<Result<_, _>>()
                .map_err(backend_err)?;
            for key in &ids {
                self.event_ids.delete(&mut wtxn, key).map_err(backend_err)?;
            }
            wtxn.commit().map_err(backend_err)?;
            deleted += batch.len();
            if batch.is_empty() && ids.is_empty() {
                return Ok(deleted);
            }
        }
    }

    async fn delete_user_in_version(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<UserInVersion, StoreError> {
        let key = format!("{version}{SEP}{user_id}");
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let list = self.recs.delete(&mut wtxn, &key).map_err(backend_err)?;
        let history = self.hist.delete(&mut wtxn, &key).map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)?;
        Ok(UserInVersion { list, history })
    }

    async fn put_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let key = format!("{TOMBSTONES}{}", tombstone.user_id);
        self.put_meta(&mut wtxn, &key, tombstone)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        self.meta_values(TOMBSTONES)
    }
}
