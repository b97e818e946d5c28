//! `topten export-snapshot`: one version of a store (by default the active one) as a
//! recommendations snapshot ([`topten_edge::snapshot`]): every user's stored items and the
//! popular list, for read-only edge copies (the WebAssembly component, the Lambda function).
//!
//! Users' items are copied as the exact JSON the store holds, so an edge copy answers with the
//! same bytes as the native handler; the popular list is serialised as the handler serialises it.

use topten_edge::snapshot::{Item, SnapshotWriter};

use std::collections::HashSet;

use topten_model::catalogue::Catalogue;

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
    // An edge copy serves what is servable at export time: the items the version's catalogue
    // hides now are left out of every list.
    let now = topten_model::clock::now_ms() / 1000;
    let hidden: HashSet<String> = match store.catalogue(&version).await? {
        None => HashSet::new(),
        Some(bytes) => Catalogue::from_json_lines(&bytes)
            .map_err(|e| StoreError::Backend {
                backend: store.backend(),
                message: format!("stored catalogue of {version}: {e}"),
            })?
            .items()
            .iter()
            .filter(|i| !i.servable_at(now))
            .map(|i| i.item_id.clone())
            .collect(),
    };
    let mut w = SnapshotWriter::new(&version);
    let popular: Vec<Item> = store
        .popular(&version)
        .await?
        .unwrap_or_default()
        .iter()
        .filter(|i| !hidden.contains(&i.item_id))
        .map(serialised_item)
        .collect();
    let summary_popular = popular.len();
    w.set_popular(popular);
    let mut items = 0;
    for user in store.user_ids(&version).await? {
        let Some(json) = store.user_recs_json(&version, &user).await? else {
            continue;
        };
        let mut list = document_items(&json).map_err(|e| invalid(&user, e))?;
        list.retain(|(id, _)| !hidden.contains(id));
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
                    snap.user_top_items("v1", &user, k, &crate::ItemFilter::exclude(&exclude))
                        .await
                        .unwrap(),
                    src.user_top_items("v1", &user, k, &crate::ItemFilter::exclude(&exclude))
                        .await
                        .unwrap(),
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
            .user_top_items("v2", "u1", 5, &crate::ItemFilter::default())
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

    /// An edge copy leaves out what the version's catalogue hides at export time.
    #[tokio::test]
    async fn the_export_leaves_out_hidden_items() {
        use crate::Publisher;
        let dir = tempfile::tempdir().unwrap();
        let src = EmbeddedStore::open(dir.path().join("s.db")).unwrap();
        src.create_version(&crate::VersionInfo {
            version: "c1".into(),
            status: crate::VersionStatus::Writing,
            created_at: "2026-01-01T00:00:00Z".into(),
            expected_users: 1,
            users: 0,
            items_per_user: 2,
            model: serde_json::json!({}),
            quality: None,
        })
        .await
        .unwrap();
        let item = |id: &str| crate::ItemScore {
            item_id: id.into(),
            score: 1.0,
            title: None,
        };
        src.write_users(
            "c1",
            &[crate::UserRecs {
                id: crate::doc_id("c1", "u"),
                user_id: "u".into(),
                items: vec![item("gone"), item("kept")],
                model_version: "c1".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
            }],
        )
        .await
        .unwrap();
        src.write_popular("c1", &[item("gone"), item("kept")])
            .await
            .unwrap();
        src.write_catalogue("c1", b"{\"itemId\":\"gone\",\"available\":false}\n")
            .await
            .unwrap();
        src.finish_version("c1").await.unwrap();
        src.activate("c1").await.unwrap();
        let (bytes, summary) = export_snapshot(&src, None).await.unwrap();
        assert_eq!((summary.items, summary.popular), (1, 1));
        let snap = SnapshotStore::from_bytes(bytes).unwrap();
        let doc = snap.user_recs("c1", "u").await.unwrap().unwrap();
        assert_eq!(doc.items, vec![item("kept")]);
        assert_eq!(
            snap.popular("c1").await.unwrap().unwrap(),
            vec![item("kept")]
        );
    }
}
