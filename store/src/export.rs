//! `topten export-snapshot`: one version of a store (by default the active one) as a
//! recommendations snapshot ([`topten_edge::snapshot`]): every user's stored items and the
//! popular list, for read-only edge copies (the WebAssembly component, the Lambda function).
//!
//! Users' items are copied as the exact JSON the store holds, so an edge copy answers with the
//! same bytes as the native handler; the popular list is serialised as the handler serialises it.

use topten_edge::snapshot::{Item, SnapshotWriter};

use crate::documents::{document_items, serialised_item};
use crate::{RecsReader, StoreError};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The version exported.
    pub version: String,
    /// Users in the snapshot.
    pub users: usize,
    /// Items over all users' lists.
    pub items: usize,
    /// Items in the popular list.
    pub popular: usize,
}

/// Exports `version` (the active one when `None`) and returns the file's bytes.
pub async fn export_snapshot(
    store: &dyn RecsReader,
    version: Option<&str>,
) -> Result<(Vec<u8>, ExportSummary), StoreError> {
    let version = match version {
        Some(v) => v.to_owned(),
        None => {
            store
                .active()
                .await?
                .ok_or_else(|| StoreError::NotFound("an active version".into()))?
                .version
        }
    };
    store
        .version(&version)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("version {version}")))?;
    let invalid = |user: &str, e: serde_json::Error| StoreError::Backend {
        backend: store.backend(),
        message: format!("stored document for {user:?} is invalid: {e}"),
    };
    let mut w = SnapshotWriter::new(&version);
    let popular: Vec<Item> = store
        .popular(&version)
        .await?
        .unwrap_or_default()
        .iter()
        .map(serialised_item)
        .collect();
    let summary_popular = popular.len();
    w.set_popular(popular);
    let mut items = 0;
    for user in store.user_ids(&version).await? {
        let Some(json) = store.user_recs_json(&version, &user).await? else {
            continue;
        };
        let list = document_items(&json).map_err(|e| invalid(&user, e))?;
        items += list.len();
        w.add_user(&user, list);
    }
    let summary = ExportSummary {
        version,
        users: w.users(),
        items,
        popular: summary_popular,
    };
    Ok((w.finish(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recs_snapshot::SnapshotStore;
    use crate::{contract, embedded::EmbeddedStore};

    /// The snapshot store serves exactly what the source store serves, for every user and
    /// filter, and refuses writes.
    #[tokio::test]
    async fn exported_snapshot_serves_the_same_selection() {
        let dir = tempfile::tempdir().unwrap();
        let src = EmbeddedStore::open(dir.path().join("s.db")).unwrap();
        contract::publish_small(&src, "v1", 40).await;
        let (bytes, summary) = export_snapshot(&src, None).await.unwrap();
        assert_eq!(
            (
                summary.version.as_str(),
                summary.users,
                summary.items,
                summary.popular
            ),
            ("v1", 40, 80, 1)
        );
        let snap = SnapshotStore::from_bytes(bytes).unwrap();
        assert_eq!(snap.active().await.unwrap().unwrap().version, "v1");
        for u in 0..41 {
            let user = format!("u{u}");
            for (k, exclude) in [(1, vec![]), (10, vec![]), (1, vec!["a".to_string()])] {
                assert_eq!(
                    snap.user_top_items("v1", &user, k, &exclude).await.unwrap(),
                    src.user_top_items("v1", &user, k, &exclude).await.unwrap(),
                    "{user} k={k} exclude={exclude:?}"
                );
            }
            assert_eq!(
                snap.user_recs("v1", &user).await.unwrap().map(|d| d.items),
                src.user_recs("v1", &user).await.unwrap().map(|d| d.items)
            );
        }
        assert_eq!(
            snap.popular("v1").await.unwrap(),
            src.popular("v1").await.unwrap()
        );
        assert!(snap
            .user_top_items("v2", "u1", 5, &[])
            .await
            .unwrap()
            .is_none());
        // A list file is a reader only: asking its handle for the full store names the backend.
        let handle = crate::StoreHandle::read_only(std::sync::Arc::new(snap));
        assert!(matches!(
            handle.store("publishing"),
            Err(StoreError::Unsupported {
                backend: "snapshot",
                what: "publishing"
            })
        ));
    }

    /// The read-only list file passes the reader contract every backend passes.
    #[tokio::test]
    async fn the_snapshot_store_passes_the_reader_contract() {
        let dir = tempfile::tempdir().unwrap();
        let src = EmbeddedStore::open(dir.path().join("s.db")).unwrap();
        contract::publish_read_fixture(&src, "r1").await;
        contract::reads(&src, "r1").await;
        let (bytes, _) = export_snapshot(&src, None).await.unwrap();
        let snap = SnapshotStore::from_bytes(bytes).unwrap();
        contract::reads(&snap, "r1").await;
    }
}
