//! `topten export-snapshot`: one version of a store (by default the active one) as a
//! recommendations snapshot ([`topten_edge::snapshot`]): every user's stored items and the
//! popular list, for read-only edge copies (the WebAssembly component, the Lambda function).
//!
//! Users' items are copied as the exact JSON the store holds, so an edge copy answers with the
//! same bytes as the native handler; the popular list is serialised as the handler serialises it.

use topten_edge::snapshot::{Item, SnapshotWriter};

use std::collections::{HashMap, HashSet};

use topten_model::catalogue::live::LiveItem;
use topten_model::catalogue::Catalogue;

use crate::documents::{document_items, serialised_item};
use crate::{ItemScore, RecsReader, StoreError};

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

/// Exports `version` (the active one when `None`) with the live item changes `live` on top of
/// its catalogue ([`crate::ItemEdits::live_items_since`]; empty for a read-only source) and
/// returns the file's bytes.
///
/// The file serves nothing the catalogue, as the live changes leave it at export time, forbids:
/// withdrawn, unavailable and expired items are left out of every list; items that expire
/// later are listed with their expiry, so an edge copy stops serving each when it expires;
/// titles changed live replace the stored ones. The popular list is scored on the personal
/// scale ([`crate::normalise_popular`]).
pub async fn export_snapshot(
    store: &dyn RecsReader,
    live: &[LiveItem],
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
    let rules = ServableRules::new(store, &version, live).await?;
    let mut w = SnapshotWriter::new(&version);
    let mut popular: Vec<ItemScore> = store.popular(&version).await?.unwrap_or_default();
    crate::normalise_popular(&mut popular);
    let popular: Vec<Item> = popular
        .iter()
        .filter(|i| !rules.hidden.contains(&i.item_id))
        .map(|i| rules.retitled(serialised_item(i)))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("(popular)", e))?;
    let mut listed: HashSet<String> = popular.iter().map(|(id, _)| id.clone()).collect();
    let summary_popular = popular.len();
    w.set_popular(popular);
    let mut items = 0;
    for user in store.user_ids(&version).await? {
        let Some(json) = store.user_recs_json(&version, &user).await? else {
            continue;
        };
        let mut list = document_items(&json).map_err(|e| invalid(&user, e))?;
        list.retain(|(id, _)| !rules.hidden.contains(id));
        let list: Vec<Item> = list
            .into_iter()
            .map(|item| rules.retitled(item))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(&user, e))?;
        if !rules.expiries.is_empty() {
            listed.extend(list.iter().map(|(id, _)| id.clone()));
        }
        items += list.len();
        w.add_user(&user, list);
    }
    // The expiries of the items the file serves.
    w.set_expiries(
        rules
            .expiries
            .into_iter()
            .filter(|(id, _)| listed.contains(id))
            .collect(),
    );
    let summary = ExportSummary {
        version,
        users: w.users(),
        items,
        popular: summary_popular,
    };
    Ok((w.finish(), summary))
}

/// What the catalogue, with the live changes on top, lets an exported file serve.
struct ServableRules {
    /// Withdrawn, unavailable, or expired at export time.
    hidden: HashSet<String>,
    /// Servable now, but with an expiry: (item id, epoch seconds).
    expiries: Vec<(String, i64)>,
    /// Titles set by live changes.
    titles: HashMap<String, String>,
}

impl ServableRules {
    async fn new(
        store: &dyn RecsReader,
        version: &str,
        live: &[LiveItem],
    ) -> Result<Self, StoreError> {
        let now = topten_model::clock::now_ms() / 1000;
        let mut catalogue = match store.catalogue(version).await? {
            None => Catalogue::default(),
            Some(bytes) => Catalogue::from_json_lines(&bytes).map_err(|e| StoreError::Backend {
                backend: store.backend(),
                message: format!("stored catalogue of {version}: {e}"),
            })?,
        };
        let mut titles = HashMap::new();
        for change in live {
            let item = change.effective();
            if let Some(t) = &item.title {
                titles.insert(item.item_id.clone(), t.clone());
            }
            catalogue.upsert(item);
        }
        let hidden = catalogue
            .items()
            .iter()
            .filter(|i| !i.servable_at(now))
            .map(|i| i.item_id.clone())
            .collect();
        let expiries = catalogue
            .items()
            .iter()
            .filter(|i| i.servable_at(now))
            .filter_map(|i| Some((i.item_id.clone(), i.expires_at?)))
            .collect();
        Ok(ServableRules {
            hidden,
            expiries,
            titles,
        })
    }

    /// `item` with its live title, re-serialised only when that changes it.
    fn retitled(&self, item: Item) -> Result<Item, serde_json::Error> {
        let Some(title) = self.titles.get(&item.0) else {
            return Ok(item);
        };
        let mut parsed: ItemScore = serde_json::from_slice(&item.1)?;
        if parsed.title.as_ref() == Some(title) {
            return Ok(item);
        }
        parsed.title = Some(title.clone());
        Ok(serialised_item(&parsed))
    }
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
        let (bytes, summary) = export_snapshot(&src, &[], None).await.unwrap();
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
        // The popular list on the personal scale, as the handler serves the source's.
        let mut popular = src.popular("v1").await.unwrap().unwrap();
        crate::normalise_popular(&mut popular);
        assert_eq!(snap.popular("v1").await.unwrap(), Some(popular));
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
        let (bytes, _) = export_snapshot(&src, &[], None).await.unwrap();
        let snap = SnapshotStore::from_bytes(bytes).unwrap();
        contract::reads(&snap, "r1").await;
    }

    /// Starts writing version `id` of one user with `items_per_user` items.
    async fn create_writing_version(src: &EmbeddedStore, id: &str, items_per_user: usize) {
        use crate::Publisher;
        src.create_version(&crate::VersionInfo {
            version: id.into(),
            status: crate::VersionStatus::Writing,
            created_at: "2026-01-01T00:00:00Z".into(),
            expected_users: 1,
            users: 0,
            items_per_user,
            model: serde_json::json!({}),
            quality: None,
        })
        .await
        .unwrap();
    }

    /// An edge copy leaves out what the version's catalogue hides at export time.
    #[tokio::test]
    async fn the_export_leaves_out_hidden_items() {
        use crate::Publisher;
        let dir = tempfile::tempdir().unwrap();
        let src = EmbeddedStore::open(dir.path().join("s.db")).unwrap();
        create_writing_version(&src, "c1", 2).await;
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
                factor: None,
                has_new: Vec::new(),
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
        let (bytes, summary) = export_snapshot(&src, &[], None).await.unwrap();
        assert_eq!((summary.items, summary.popular), (1, 1));
        let snap = SnapshotStore::from_bytes(bytes).unwrap();
        let doc = snap.user_recs("c1", "u").await.unwrap().unwrap();
        assert_eq!(doc.items, vec![item("kept")]);
        assert_eq!(
            snap.popular("c1").await.unwrap().unwrap(),
            vec![item("kept")]
        );
    }

    /// The live catalogue changes made up to the export apply to the file: withdrawn,
    /// unavailable and expired items are never served from it, an item that expires later
    /// stops being served when it expires (on the edge path and through the snapshot store),
    /// and a live title replaces the stored one.
    #[tokio::test]
    /// Long because it is one scenario: each step starts from the state the steps before it left,
    /// so splitting it would only pass that state around.
    async fn the_export_honours_live_catalogue_changes() {
        use crate::Publisher;
        use topten_edge::request::Limits;
        use topten_edge::route::{handle, AnswerStamp};
        let dir = tempfile::tempdir().unwrap();
        let src = EmbeddedStore::open(dir.path().join("s.db")).unwrap();
        create_writing_version(&src, "c1", 6).await;
        let item = |id: &str| crate::ItemScore {
            item_id: id.into(),
            score: 1.0,
            title: Some(format!("Old {id}")),
        };
        let ids = [
            "withdrawn",
            "unavailable",
            "expired",
            "offer",
            "renamed",
            "kept",
        ];
        src.write_users(
            "c1",
            &[crate::UserRecs {
                id: crate::doc_id("c1", "u"),
                user_id: "u".into(),
                items: ids.iter().map(|i| item(i)).collect(),
                model_version: "c1".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                factor: None,
                has_new: Vec::new(),
            }],
        )
        .await
        .unwrap();
        src.write_popular("c1", &ids.iter().map(|i| item(i)).collect::<Vec<_>>())
            .await
            .unwrap();
        src.finish_version("c1").await.unwrap();
        src.activate("c1").await.unwrap();
        let now = topten_model::clock::now_ms();
        let later = now / 1000 + 3600;
        let change = |id: &str, f: &dyn Fn(&mut topten_model::catalogue::CatalogueItem)| {
            let mut item = topten_model::catalogue::CatalogueItem::new(id);
            f(&mut item);
            LiveItem {
                item,
                withdrawn: false,
                changed_ms: now,
                created_ms: 0,
            }
        };
        let live = vec![
            LiveItem {
                withdrawn: true,
                ..change("withdrawn", &|_| {})
            },
            change("unavailable", &|i| i.available = false),
            change("expired", &|i| i.expires_at = Some(now / 1000 - 10)),
            change("offer", &|i| i.expires_at = Some(later)),
            change("renamed", &|i| i.title = Some("New \"title\"".into())),
        ];
        use crate::ItemEdits;
        src.put_live_items(&live).await.unwrap();
        let live = src.live_items_since(0).await.unwrap();
        let (bytes, summary) = export_snapshot(&src, &live, None).await.unwrap();
        assert_eq!((summary.items, summary.popular), (3, 3));
        let snap = topten_edge::snapshot::RecsSnapshot::parse(&bytes).unwrap();
        snap.verify().unwrap();
        assert_eq!(snap.expires_at("offer").unwrap(), Some(later));
        let store = SnapshotStore::from_bytes(bytes.clone()).unwrap();
        let served = store.user_recs("c1", "u").await.unwrap().unwrap().items;
        let served_ids: Vec<&str> = served.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(served_ids, ["offer", "renamed", "kept"]);
        assert_eq!(served[1].title.as_deref(), Some("New \"title\""));
        assert_eq!(served[2].title.as_deref(), Some("Old kept"));
        let popular = store.popular("c1").await.unwrap().unwrap();
        assert_eq!(
            popular
                .iter()
                .map(|i| i.item_id.as_str())
                .collect::<Vec<_>>(),
            ["offer", "renamed", "kept"]
        );
        // The snapshot store hands the expiry to the handler as a catalogue.
        let catalogue = topten_model::catalogue::Catalogue::from_json_lines(
            &store.catalogue("c1").await.unwrap().unwrap(),
        )
        .unwrap();
        assert!(catalogue.servable("offer", later - 1) && !catalogue.servable("offer", later));
        // The edge path drops the offer once it has expired, for known and unknown users.
        let keys = topten_edge::answer_id::IdKeys::from_setting("a-key-for-this-test").unwrap();
        let at = |secs: i64| AnswerStamp {
            issued_ms: secs as u64 * 1000,
            nonce: 1,
            keys: &keys,
        };
        for user in ["u", "nobody"] {
            let path = format!("/api/recommendations/{user}");
            let before = handle(
                &snap,
                &Limits::default(),
                "GET",
                &path,
                None,
                Some(at(later - 1)),
            );
            let after = handle(
                &snap,
                &Limits::default(),
                "GET",
                &path,
                None,
                Some(at(later)),
            );
            let body =
                |r: &topten_edge::route::Response| String::from_utf8(r.body.clone()).unwrap();
            assert!(body(&before).contains("\"offer\""), "{}", body(&before));
            assert!(!body(&after).contains("\"offer\""), "{}", body(&after));
            assert!(
                body(&after).contains("New \\\"title\\\""),
                "{}",
                body(&after)
            );
            for gone in ["withdrawn", "unavailable", "expired"] {
                assert!(
                    !body(&before).contains(&format!("\"{gone}\"")),
                    "{}",
                    body(&before)
                );
            }
        }
    }
}
