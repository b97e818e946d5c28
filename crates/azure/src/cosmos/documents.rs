//! The documents the Cosmos DB store keeps besides users' lists: metadata (the active
//! pointer, version infos, popular lists), the serving model in chunks, histories and events,
//! and how their ids are made.

use serde::{Deserialize, Serialize};

use topten_store::events::StoredEvent;

/// Partition key value of the metadata documents (active pointer, version infos, popular lists).
pub const META_PARTITION: &str = "__topten_meta__";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MetaDoc<T> {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) doc_type: String,
    pub(super) body: T,
    /// Seconds until Cosmos DB deletes the document (per-document TTL; the container has TTL
    /// on without a default, as `bicep/cosmos.bicep` and a container topten creates set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ttl: Option<u64>,
}

impl<T> MetaDoc<T> {
    /// Document `id` of `doc_type` in partition `pk` (the partition key path is `/userId`).
    pub(super) fn new(pk: &str, id: &str, doc_type: &str, body: T) -> Self {
        MetaDoc {
            id: id.to_owned(),
            user_id: pk.to_owned(),
            doc_type: doc_type.to_owned(),
            body,
            ttl: None,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct IdOnly {
    pub(super) id: String,
    #[serde(rename = "userId")]
    pub(super) user_id: String,
}

pub(super) fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '/' | '\\' | '?' | '#' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn version_id(version: &str) -> String {
    format!("version:{version}")
}

pub(super) fn popular_id(version: &str) -> String {
    format!("popular:{version}")
}

pub(super) fn snapshot_id(version: &str) -> String {
    format!("snapshot:{version}")
}

/// The logical partition of a version's catalogue: one per version, apart from the metadata
/// partition and from users' documents, so a large catalogue makes no hot partition.
pub(super) fn catalogue_partition(version: &str) -> String {
    format!("__topten_catalogue__:{version}")
}

/// The logical partition of a version's item factors solved from live events: one per
/// version, so a version's factors are one partition query and go with the version.
pub(super) fn item_factor_partition(version: &str) -> String {
    format!("__topten_item_factors__:{version}")
}

/// Logical partitions that hold live item changes: spread over this many, so a catalogue of a
/// million items makes no hot partition, and one item is one point read.
pub(super) const LIVE_ITEM_BUCKETS: u32 = 16;

/// The partition of an instance's answer counts: its own.
pub(super) fn answer_counts_partition(instance: &str) -> String {
    format!("__topten_answers__:{instance}")
}

/// The partition of an item's live change (FNV-1a of the id, stable across processes).
pub(super) fn live_item_partition(item_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in item_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("__topten_items__:{}", h % LIVE_ITEM_BUCKETS)
}

/// Id of the catalogue header document in its partition.
pub(super) const CATALOGUE_ID: &str = "catalogue";

/// Bytes per chunk document (serving models, catalogues): base64 makes 1 MiB about 1.4 MB, under the 2 MB item limit.
pub(super) const SNAPSHOT_CHUNK: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SnapshotHeader {
    pub(super) chunks: usize,
    pub(super) bytes: usize,
}

/// A user's training history in a version (partition: the user). It carries no
/// `modelVersion`, so the publish count of user documents does not see it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HistoryDoc {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) doc_type: String,
    pub(super) hist_version: String,
    pub(super) data: String,
}

/// A live event (partition: the user); the id is `event:{eventId}` so a retried event id is a
/// conflict, not a second copy.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventDoc {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) doc_type: String,
    pub(super) event: StoredEvent,
}

pub(super) fn history_id(version: &str, user_id: &str) -> String {
    escape_id(&format!("hist:{version}:{user_id}"))
}

pub(super) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_carries_its_ttl_only_when_it_has_one() {
        let mut doc = MetaDoc::new("pk", "id", "answer-counts", 1);
        assert!(!serde_json::to_string(&doc).unwrap().contains("ttl"));
        doc.ttl = Some(3600);
        let v: serde_json::Value = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["ttl"], 3600);
        assert_eq!(v["userId"], "pk");
    }
}
