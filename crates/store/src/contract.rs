//! The store contract: one suite every backend must pass (run from each backend's tests).

use crate::*;

fn doc(version: &str, user: &str, items: &[(&str, f32)]) -> UserRecs {
    UserRecs {
        id: doc_id(version, user),
        user_id: user.to_owned(),
        items: items
            .iter()
            .map(|(i, s)| ItemScore {
                item_id: i.to_string(),
                score: *s,
                title: None,
            })
            .collect(),
        model_version: version.to_owned(),
        created_at: "2026-01-01T00:00:00Z".into(),
        factor: None,
        has_new: Vec::new(),
    }
}

fn info(version: &str, users: usize, created_at: &str) -> VersionInfo {
    VersionInfo {
        version: version.to_owned(),
        status: VersionStatus::Writing,
        created_at: created_at.to_owned(),
        expected_users: users,
        users: 0,
        items_per_user: 2,
        model: serde_json::json!({}),
        quality: None,
    }
}

/// Writes the popular list [x 10.0 "X"] of `version`, which both the read fixture and the
/// lifecycle test expect.
async fn write_popular_x(store: &dyn Store, version: &str) {
    store
        .write_popular(
            version,
            &[ItemScore {
                item_id: "x".into(),
                score: 10.0,
                title: Some("X".into()),
            }],
        )
        .await
        .unwrap();
}

/// The names of the store's versions, in its listing's order, which the lifecycle test checks
/// after each deletion.
async fn version_names(store: &dyn Store) -> Vec<String> {
    store
        .versions()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect()
}

/// Publishes `users` users (`u0..`) as `version` and activates it.
pub async fn publish_small(store: &dyn Store, version: &str, users: usize) {
    store
        .create_version(&info(
            version,
            users,
            &format!("2026-01-01T00:00:0{}Z", version.len() % 10),
        ))
        .await
        .unwrap();
    let docs: Vec<UserRecs> = (0..users)
        .map(|u| doc(version, &format!("u{u}"), &[("a", 2.0), ("b", 1.0)]))
        .collect();
    store.write_users(version, &docs).await.unwrap();
    store
        .write_popular(
            version,
            &[ItemScore {
                item_id: "p".into(),
                score: 9.0,
                title: None,
            }],
        )
        .await
        .unwrap();
    store.finish_version(version).await.unwrap();
    store.activate(version).await.unwrap();
}

/// Publishes and activates the version [`reads`] checks: alice [x 0.9, y 0.5], bob [z 0.7],
/// popular [x "X"].
pub async fn publish_read_fixture(store: &dyn Store, version: &str) {
    store
        .create_version(&info(version, 2, "2026-01-01T00:00:01Z"))
        .await
        .unwrap();
    store
        .write_users(
            version,
            &[
                doc(version, "alice", &[("x", 0.9), ("y", 0.5)]),
                doc(version, "bob", &[("z", 0.7)]),
            ],
        )
        .await
        .unwrap();
    write_popular_x(store, version).await;
    store.finish_version(version).await.unwrap();
    store.activate(version).await.unwrap();
}

/// What every reader, read-only ones included, answers for a version holding alice [x 0.9,
/// y 0.5], bob [z 0.7] and the popular list [x "X"] ([`publish_read_fixture`]).
pub async fn reads(reader: &dyn RecsReader, version: &str) {
    let alice = reader.user_recs(version, "alice").await.unwrap().unwrap();
    assert_eq!(alice.items[0].item_id, "x");
    assert_eq!(alice.id, doc_id(version, "alice"));
    assert!(reader.user_recs(version, "nobody").await.unwrap().is_none());
    let mut ids = reader.user_ids(version).await.unwrap();
    ids.sort();
    assert_eq!(ids, ["alice", "bob"]);
    // The serving selection equals filtering the decoded document, for the request's exclude
    // and for the items a catalogue hides.
    let hidden_x: std::collections::HashSet<String> = ["x".to_string()].into();
    let no_hidden = std::collections::HashSet::new();
    for (k, exclude, hidden) in [
        (1, vec![], None),
        (5, vec![], None),
        (1, vec!["x".to_string()], None),
        (2, vec!["y".to_string()], None),
        (2, vec![], Some(&hidden_x)),
        (2, vec!["y".to_string()], Some(&hidden_x)),
        (2, vec![], Some(&no_hidden)),
    ] {
        let filter = ItemFilter {
            exclude: &exclude,
            hidden,
            has: None,
            allow: None,
        };
        let top = reader
            .user_top_items(version, "alice", k, &filter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(top.model_version, version);
        let want: Vec<&ItemScore> = alice
            .items
            .iter()
            .filter(|i| !exclude.contains(&i.item_id))
            .filter(|i| hidden.is_none_or(|h| !h.contains(&i.item_id)))
            .take(k)
            .collect();
        assert_eq!(
            top.items_json,
            serde_json::to_vec(&want).unwrap(),
            "k={k} exclude={exclude:?} hidden={hidden:?}"
        );
        assert_eq!(top.exhausted, want.len() < k);
    }
    assert!(reader
        .user_top_items(version, "nobody", 5, &ItemFilter::default())
        .await
        .unwrap()
        .is_none());
    assert!(reader
        .user_recs("v9-unknown", "alice")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        reader.popular(version).await.unwrap().unwrap()[0]
            .title
            .as_deref(),
        Some("X")
    );
}

/// The whole contract.
/// Long because it is a checklist: one behaviour after another on one store, in the order a
/// backend meets them; each check is a few lines and says what it checks.
pub async fn run(store: &dyn Store) {
    item_edits(store).await;
    store.health().await.unwrap();
    assert!(
        store.active().await.unwrap().is_none(),
        "a new store has no active version"
    );

    // A version being written is invisible to readers of the active pointer and cannot be activated.
    store
        .create_version(&info("v1", 2, "2026-01-01T00:00:01Z"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_version(&info("v1", 2, "2026-01-01T00:00:01Z"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .write_users("v1", &[doc("v1", "alice", &[("x", 0.9), ("y", 0.5)])])
        .await
        .unwrap();
    assert!(matches!(
        store.activate("v1").await,
        Err(StoreError::Conflict(_))
    ));
    // Completing with a missing document is refused.
    assert!(matches!(
        store.finish_version("v1").await,
        Err(StoreError::Conflict(_))
    ));
    store
        .write_users("v1", &[doc("v1", "bob", &[("z", 0.7)])])
        .await
        .unwrap();
    write_popular_x(store, "v1").await;
    let done = store.finish_version("v1").await.unwrap();
    assert_eq!((done.status, done.users), (VersionStatus::Complete, 2));
    assert!(matches!(
        store.write_users("v1", &[doc("v1", "carol", &[])]).await,
        Err(StoreError::Conflict(_))
    ));
    store.activate("v1").await.unwrap();
    assert_eq!(store.active().await.unwrap().unwrap().version, "v1");

    // Point reads, as every reader must answer them.
    reads(store, "v1").await;

    // A second version, activation, rollback.
    store
        .create_version(&info("v2", 1, "2026-01-01T00:00:02Z"))
        .await
        .unwrap();
    store
        .write_users("v2", &[doc("v2", "alice", &[("w", 1.0)])])
        .await
        .unwrap();
    store.write_popular("v2", &[]).await.unwrap();
    // The catalogue travels with the version, byte for byte (about 2 MB: more than one chunk).
    let catalogue: Vec<u8> = (0..40_000)
        .flat_map(|i| {
            format!("{{\"itemId\":\"i{i}\",\"title\":\"Item {i} of the catalogue\"}}\n")
                .into_bytes()
        })
        .collect();
    assert!(store.catalogue("v2").await.unwrap().is_none());
    store.write_catalogue("v2", &catalogue).await.unwrap();
    assert_eq!(store.catalogue("v2").await.unwrap().unwrap(), catalogue);
    store.finish_version("v2").await.unwrap();
    assert!(matches!(
        store.write_catalogue("v2", b"").await,
        Err(StoreError::Conflict(_))
    ));
    item_factors(store, "v2").await;
    let a = store.activate("v2").await.unwrap();
    assert_eq!(a.history, vec!["v1".to_string()]);
    // Old version still readable by version id (what makes rollback instant).
    assert_eq!(
        store.user_recs("v1", "alice").await.unwrap().unwrap().items[0].item_id,
        "x"
    );
    assert_eq!(
        store.user_recs("v2", "alice").await.unwrap().unwrap().items[0].item_id,
        "w"
    );
    assert_eq!(store.rollback().await.unwrap().version, "v1");
    assert_eq!(store.active().await.unwrap().unwrap().version, "v1");

    // Versions listing and deletion rules.
    assert_eq!(
        version_names(store).await,
        vec!["v1".to_string(), "v2".to_string()]
    );
    assert!(matches!(
        store.delete_version("v1").await,
        Err(StoreError::Conflict(_))
    ));
    store.delete_version("v2").await.unwrap();
    assert!(store.user_recs("v2", "alice").await.unwrap().is_none());
    assert!(store.catalogue("v2").await.unwrap().is_none());
    assert!(store.item_factors_since("v2", 0).await.unwrap().is_empty());
    assert!(store.version("v2").await.unwrap().is_none());
    assert!(matches!(
        store.delete_version("v2").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.rollback().await,
        Err(StoreError::NotFound(_))
    ));

    // Prune keeps the active version and the newest complete ones; drops stale incomplete ones.
    store
        .create_version(&info("v3-stale", 5, "2026-01-01T00:00:03Z"))
        .await
        .unwrap();
    for (v, t) in [
        ("v4", "2026-01-01T00:00:04Z"),
        ("v5", "2026-01-01T00:00:05Z"),
    ] {
        store.create_version(&info(v, 1, t)).await.unwrap();
        store.write_users(v, &[doc(v, "u", &[])]).await.unwrap();
        store.finish_version(v).await.unwrap();
    }
    store.activate("v1").await.unwrap();
    let deleted = lifecycle::prune(store, 1, false).await.unwrap();
    assert_eq!(deleted, vec!["v4".to_string(), "v3-stale".to_string()]);
    assert_eq!(
        version_names(store).await,
        vec!["v1".to_string(), "v5".to_string()]
    );
    experiments(store).await;
}

/// Item factors solved from live events: stored in the (complete) `version` only, the latest
/// per item, read back from a time on (an item id with odd characters too).
async fn item_factors(store: &dyn Store, version: &str) {
    use crate::ItemFactor;
    let factor = |item: &str, x: f32, at: i64| ItemFactor {
        item_id: item.to_owned(),
        factor: vec![x, -x, 0.25],
        users: 3,
        solved_ms: at,
        first_event_ms: 0,
    };
    assert!(store
        .item_factors_since(version, 0)
        .await
        .unwrap()
        .is_empty());
    let odd = "new/item ü #1?";
    store
        .put_item_factors(
            version,
            &[factor("n1", 0.5, 1_000), factor(odd, 1.5, 2_000)],
        )
        .await
        .unwrap();
    store
        .put_item_factors(version, &[factor("n1", 0.75, 3_000)])
        .await
        .unwrap();
    let mut all = store.item_factors_since(version, 0).await.unwrap();
    all.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    assert_eq!(
        all,
        vec![factor("n1", 0.75, 3_000), factor(odd, 1.5, 2_000)]
    );
    let recent = store.item_factors_since(version, 2_500).await.unwrap();
    assert_eq!(recent, vec![factor("n1", 0.75, 3_000)]);
    // Another version has none of them.
    assert!(store.item_factors_since("v1", 0).await.unwrap().is_empty());
}

/// Experiments: one at a time, a complete candidate other than the active version, a stable
/// split at the requested share, no other pointer change while one runs, its candidate kept,
/// and stop and promote ending it.
pub async fn experiments(store: &dyn Store) {
    let conflict = |r: Result<ActiveVersion, StoreError>| matches!(r, Err(StoreError::Conflict(_)));
    publish_small(store, "xa", 3).await;
    for (v, finish) in [("xb", true), ("xc", false)] {
        store
            .create_version(&info(v, 1, "2026-01-01T00:00:09Z"))
            .await
            .unwrap();
        store
            .write_users(v, &[doc(v, "u0", &[("c", 1.0)])])
            .await
            .unwrap();
        if finish {
            store.finish_version(v).await.unwrap();
        }
    }
    assert!(matches!(
        store.start_experiment("xb", 0.0).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.start_experiment("xb", 1.5).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.start_experiment("xa", 0.5).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(
        conflict(store.start_experiment("xc", 0.5).await),
        "a version being written"
    );
    assert!(matches!(
        store.start_experiment("nope", 0.5).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.stop_experiment(None).await,
        Err(StoreError::NotFound(_))
    ));

    let started = store.start_experiment("xb", 0.3).await.unwrap();
    let running = started.experiment.clone().unwrap();
    assert_eq!(
        (
            started.version.as_str(),
            running.candidate.as_str(),
            running.share
        ),
        ("xa", "xb", 0.3)
    );
    let active = store.active().await.unwrap().unwrap();
    assert_eq!(
        active.experiment.as_ref(),
        Some(&running),
        "the pointer holds the experiment"
    );
    let candidates = (0..2000)
        .filter(|u| active.serving(&format!("user-{u}")).0 == "xb")
        .count();
    assert!(
        (500..=700).contains(&candidates),
        "30% of 2000 users: {candidates}"
    );
    assert_eq!(
        active.serving("user-7"),
        store.active().await.unwrap().unwrap().serving("user-7")
    );
    // Nothing else moves the pointer while it runs, and its candidate stays.
    assert!(conflict(store.start_experiment("xb", 0.5).await));
    assert!(conflict(store.activate("xb").await));
    assert!(conflict(store.rollback().await));
    assert!(matches!(
        store.delete_version("xb").await,
        Err(StoreError::Conflict(_))
    ));
    store.activate("xa").await.unwrap(); // already active: no change, no conflict
    assert_eq!(
        store.active().await.unwrap().unwrap().experiment.as_ref(),
        Some(&running)
    );

    // Stop: everyone is back on the active version.
    assert_eq!(store.stop_experiment(None).await.unwrap(), running);
    let active = store.active().await.unwrap().unwrap();
    assert_eq!(
        (active.version.as_str(), active.experiment.as_ref()),
        ("xa", None)
    );
    assert_eq!(active.serving("user-1"), ("xa", None));

    // Promote: the candidate becomes active by the normal rules, the old one is remembered.
    let again = store.start_experiment("xb", 1.0).await.unwrap();
    assert_ne!(
        again.experiment.as_ref().unwrap().id,
        running.id,
        "a new salt per experiment"
    );
    let promoted = store.promote_experiment(None).await.unwrap();
    assert_eq!(
        (promoted.version.as_str(), promoted.experiment.as_ref()),
        ("xb", None)
    );
    assert_eq!(promoted.history.first().map(String::as_str), Some("xa"));
    assert!(matches!(
        store.promote_experiment(None).await,
        Err(StoreError::NotFound(_))
    ));
    store.rollback().await.unwrap();
    assert_eq!(store.active().await.unwrap().unwrap().version, "xa");
}

/// The real-time part of the contract: snapshots, histories, write-back and events.
/// Long because it is a checklist: one behaviour after another on one store, in the order a
/// backend meets them; each check is a few lines and says what it checks.
pub async fn run_realtime(store: &dyn Store) {
    use crate::events::StoredEvent;
    store
        .create_version(&info("rt1", 1, "2026-02-01T00:00:00Z"))
        .await
        .unwrap();
    store
        .write_serving_model("rt1", b"snapshot-bytes")
        .await
        .unwrap();
    store
        .write_users("rt1", &[doc("rt1", "ann", &[("a", 1.0)])])
        .await
        .unwrap();
    store
        .write_histories("rt1", &[("ann".into(), vec![1, 2, 3])])
        .await
        .unwrap();
    // Write-back is for complete versions only.
    assert!(store
        .upsert_users_recs(&[doc("rt1", "ann", &[("b", 2.0)])])
        .await
        .is_err());
    store.write_popular("rt1", &[]).await.unwrap();
    store.finish_version("rt1").await.unwrap();
    assert_eq!(
        store.serving_model("rt1").await.unwrap().as_deref(),
        Some(&b"snapshot-bytes"[..])
    );
    assert_eq!(
        store.user_history("rt1", "ann").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert!(store.user_history("rt1", "bob").await.unwrap().is_none());
    store
        .upsert_users_recs(&[doc("rt1", "ann", &[("b", 2.0)])])
        .await
        .unwrap();
    store
        .upsert_users_recs(&[doc("rt1", "newcomer", &[("c", 1.0)])])
        .await
        .unwrap();
    assert_eq!(
        store.user_recs("rt1", "ann").await.unwrap().unwrap().items[0].item_id,
        "b"
    );
    assert_eq!(
        store
            .user_recs("rt1", "newcomer")
            .await
            .unwrap()
            .unwrap()
            .items[0]
            .item_id,
        "c"
    );
    assert!(store
        .upsert_users_recs(&[doc("nope", "ann", &[])])
        .await
        .is_err());
    // The batch form writes every document (publishing folds in many users at once).
    store
        .upsert_users_recs(&[
            doc("rt1", "dan", &[("d", 1.0)]),
            doc("rt1", "eve", &[("e", 1.0)]),
        ])
        .await
        .unwrap();
    for (user, item) in [("dan", "d"), ("eve", "e")] {
        let got = store.user_recs("rt1", user).await.unwrap().unwrap();
        assert_eq!(got.items[0].item_id, item);
    }

    let ev = |id: Option<&str>, user: &str, item: &str, at: i64| StoredEvent {
        event_id: id.map(str::to_owned),
        ..StoredEvent::interaction(user, item, "click", 1.0, at)
    };
    assert_eq!(
        store
            .append_events(&[
                ev(Some("e1"), "ann", "x", 1000),
                ev(None, "ann", "y", 2000),
                ev(Some("e2"), "bob", "x", 3000)
            ])
            .await
            .unwrap(),
        3
    );
    // Retried ids are skipped; new ones in the same batch still land.
    assert_eq!(
        store
            .append_events(&[
                ev(Some("e1"), "ann", "x", 4000),
                ev(Some("e3"), "ann", "z", 5000)
            ])
            .await
            .unwrap(),
        1
    );
    // Event ids are unique per user, on every backend: another user's "e1" is not a retry.
    assert_eq!(
        store
            .append_events(&[ev(Some("e1"), "cid", "w", 5500)])
            .await
            .unwrap(),
        1
    );
    let ann: Vec<String> = store
        .user_events("ann")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.item_id)
        .collect();
    assert_eq!(ann, vec!["x", "y", "z"]);
    assert!(
        store.user_events("an").await.unwrap().is_empty(),
        "user prefixes must not leak"
    );
    let since: Vec<i64> = store
        .events_since(2500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.received_at_ms)
        .collect();
    assert_eq!(since, vec![3000, 5000, 5500]);
    // The bound is inclusive, and a read past the newest event is empty.
    let at = |ms: i64| async move {
        store
            .events_since(ms)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.received_at_ms)
            .collect::<Vec<i64>>()
    };
    assert_eq!(at(5000).await, vec![5000, 5500]);
    assert!(at(5501).await.is_empty());
    // An impression and an attributed click keep their items, id and attribution.
    let attribution = crate::events::Attribution {
        version: "rt1".into(),
        arm: Some(topten_experiments::Arm::Candidate),
        experiment: Some("exp".into()),
        recommendation_id: Some("r1:rt1:candidate:15e80000000000000007".into()),
        via: crate::events::Via::Impression,
        shown_ms: 5600,
    };
    let shown = StoredEvent {
        event_id: Some("i1".into()),
        attribution: Some(attribution.clone()),
        ..StoredEvent::impression("fay", &["x", "y"], 5600)
    };
    let clicked = StoredEvent {
        attribution: Some(attribution),
        ..ev(Some("c1"), "fay", "x", 5700)
    };
    store
        .append_events(&[shown.clone(), clicked.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.user_events("fay").await.unwrap(),
        vec![shown, clicked]
    );
    answer_counts(store).await;
    // Deleting a version removes its snapshot and histories too.
    store.activate("rt1").await.unwrap();
    store
        .create_version(&info("rt2", 0, "2026-02-02T00:00:00Z"))
        .await
        .unwrap();
    store.write_popular("rt2", &[]).await.unwrap();
    store.finish_version("rt2").await.unwrap();
    store.activate("rt2").await.unwrap();
    store.delete_version("rt1").await.unwrap();
    assert!(store.serving_model("rt1").await.unwrap().is_none());
    assert!(store.user_history("rt1", "ann").await.unwrap().is_none());
}

/// Answer counts: each instance's document replaces its own and no other.
pub async fn answer_counts(store: &dyn Store) {
    use crate::answer_counts::{AnswerCountRow, AnswerCounts};
    let counts = |instance: &str, answers: u64| AnswerCounts {
        instance: instance.into(),
        saved_ms: 1000,
        rows: vec![AnswerCountRow {
            version: "v1".into(),
            arm: None,
            hour_ms: 3_600_000,
            answers,
        }],
    };
    store
        .save_answer_counts(&counts("host-a:1", 5))
        .await
        .unwrap();
    store
        .save_answer_counts(&counts("host-b:2", 7))
        .await
        .unwrap();
    store
        .save_answer_counts(&counts("host-a:1", 9))
        .await
        .unwrap();
    let mut all = store.answer_counts().await.unwrap();
    all.sort_by(|a, b| a.instance.cmp(&b.instance));
    assert_eq!(all, vec![counts("host-a:1", 9), counts("host-b:2", 7)]);
}

/// Live item changes: the latest change of an item replaces the earlier one, reads find it by
/// id, and `live_items_since` returns exactly the changes at or after its time, oldest first.
pub async fn item_edits(store: &dyn Store) {
    use topten_model::catalogue::live::LiveItem;
    use topten_model::catalogue::CatalogueItem;
    let live = |id: &str, available: bool, ms: i64| LiveItem {
        item: CatalogueItem {
            available,
            title: Some(format!("title of {id}")),
            ..CatalogueItem::new(id)
        },
        withdrawn: false,
        changed_ms: ms,
        created_ms: 0,
    };
    assert!(store.live_item("a/b?c#d%").await.unwrap().is_none());
    assert!(store.live_items_since(0).await.unwrap().is_empty());
    store
        .put_live_items(&[live("a/b?c#d%", false, 1_000), live("x", true, 2_000)])
        .await
        .unwrap();
    store
        .put_live_items(&[live("y", false, 3_000)])
        .await
        .unwrap();
    assert_eq!(
        store.live_item("a/b?c#d%").await.unwrap(),
        Some(live("a/b?c#d%", false, 1_000))
    );
    let ids = |v: Vec<LiveItem>| v.into_iter().map(|l| l.item.item_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.live_items_since(0).await.unwrap()),
        ["a/b?c#d%", "x", "y"]
    );
    assert_eq!(
        ids(store.live_items_since(2_000).await.unwrap()),
        ["x", "y"]
    );
    // A newer change of x replaces the older one, in reads and in the changes since a time.
    let mut withdrawn = live("x", true, 4_000);
    withdrawn.withdrawn = true;
    store.put_live_items(&[withdrawn.clone()]).await.unwrap();
    assert_eq!(store.live_item("x").await.unwrap(), Some(withdrawn));
    assert_eq!(
        ids(store.live_items_since(2_500).await.unwrap()),
        ["y", "x"]
    );
    assert_eq!(
        ids(store.live_items_since(4_001).await.unwrap()),
        Vec::<String>::new()
    );
}

/// Concurrent read-modify-writes of one item lose nothing: 40 writers each add their own
/// attribute to item `conc` at once, and every attribute is there at the end; a sold-out
/// marking raced against a title change keeps both.
pub async fn concurrent_item_edits(store: std::sync::Arc<dyn Store>) {
    use topten_model::catalogue::live::LiveItem;
    use topten_model::catalogue::{AttributeValue, CatalogueItem};
    const WRITERS: usize = 40;
    // Each writer changes the item as it stands (or a new one) by one field.
    async fn change(
        store: std::sync::Arc<dyn Store>,
        id: &'static str,
        edit: impl Fn(&mut CatalogueItem) + Send + Sync,
    ) {
        let update = |now: &[Option<LiveItem>]| {
            let mut item = now[0]
                .as_ref()
                .map(|l| l.item.clone())
                .unwrap_or_else(|| CatalogueItem::new(id));
            edit(&mut item);
            Some(vec![LiveItem {
                item,
                withdrawn: false,
                changed_ms: 1_000,
                created_ms: 0,
            }])
        };
        let stored = store
            .update_live_items(&[id.to_owned()], &update)
            .await
            .unwrap();
        assert!(stored.is_some());
    }
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                change(store, "conc", move |item| {
                    item.attributes
                        .insert(format!("k{i}"), AttributeValue::Number(i as f64));
                })
                .await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let item = store.live_item("conc").await.unwrap().unwrap().item;
    let missing: Vec<usize> = (0..WRITERS)
        .filter(|i| !item.attributes.contains_key(&format!("k{i}")))
        .collect();
    assert!(missing.is_empty(), "attributes lost: {missing:?}");

    for round in 0..10 {
        let sold_out = tokio::spawn(change(store.clone(), "race", |i| i.available = false));
        let retitled = tokio::spawn(change(store.clone(), "race", move |i| {
            i.title = Some(format!("title {round}"))
        }));
        sold_out.await.unwrap();
        retitled.await.unwrap();
        let item = store.live_item("race").await.unwrap().unwrap().item;
        assert!(
            !item.available && item.title.as_deref() == Some(&format!("title {round}")),
            "round {round}: {item:?}"
        );
        change(store.clone(), "race", |i| i.available = true).await;
    }

    // A refusing update stores nothing.
    let before = store.live_item("conc").await.unwrap();
    let refused = store
        .update_live_items(&["conc".to_owned()], &|_| None)
        .await
        .unwrap();
    assert!(refused.is_none());
    assert_eq!(store.live_item("conc").await.unwrap(), before);
}

/// Erasure: a retention pass deletes exactly the events that happened before the cutoff and
/// were received before the needed-events bound (a late event with an old timestamp counts by
/// its timestamp), in batches of at most the limit, with their client ids (a retry of a pruned
/// id is a new event); item changes and stale answer counts go by time; forgetting a user
/// removes their events, their list and history in every version and nothing of anyone
/// else's, idempotently; tombstones are kept and moved forward.
pub async fn erasure(store: &dyn Store) {
    use crate::answer_counts::AnswerCounts;
    use crate::events::StoredEvent;
    use topten_model::catalogue::live::LiveItem;
    use topten_model::catalogue::CatalogueItem;
    let ev = |user: &str, item: &str, happened_ms: i64, received_ms: i64, id: Option<&str>| {
        StoredEvent {
            event_id: id.map(str::to_owned),
            timestamp: happened_ms / 1000,
            ..StoredEvent::interaction(user, item, "click", 1.0, received_ms)
        }
    };
    let due = |happened_before_ms: i64, received_before_ms: i64| crate::EventsDue {
        happened_before_ms,
        received_before_ms,
    };
    let items = |events: Vec<StoredEvent>| {
        let mut v: Vec<String> = events.into_iter().map(|e| e.item_id).collect();
        v.sort();
        v
    };
    store
        .append_events(&[
            ev("e1", "old", 10_000, 11_000, Some("id-old")),
            ev("e1", "new", 90_000, 91_000, None),
            // Received late: new to the store, old by its own time.
            ev("e2", "late", 20_000, 95_000, None),
            ev("e2", "mid", 40_000, 41_000, None),
            ev("e3", "x", 30_000, 31_000, None),
        ])
        .await
        .unwrap();
    // Happened before 50 s, but only what was received before 60 s may go: "late" stays.
    assert_eq!(store.prune_events(due(50_000, 60_000), 2).await.unwrap(), 2);
    assert_eq!(store.prune_events(due(50_000, 60_000), 2).await.unwrap(), 1);
    assert_eq!(store.prune_events(due(50_000, 60_000), 2).await.unwrap(), 0);
    assert_eq!(items(store.user_events("e1").await.unwrap()), ["new"]);
    assert_eq!(items(store.user_events("e2").await.unwrap()), ["late"]);
    assert!(store.user_events("e3").await.unwrap().is_empty());
    assert_eq!(items(store.events_since(0).await.unwrap()), ["late", "new"]);
    // Once nothing needs it, the late event goes by its own time.
    assert_eq!(
        store.prune_events(due(50_000, 100_000), 10).await.unwrap(),
        1
    );
    assert_eq!(items(store.events_since(0).await.unwrap()), ["new"]);
    // The pruned id is free again: the same id is a new event.
    assert_eq!(
        store
            .append_events(&[ev("e1", "again", 95_000, 96_000, Some("id-old"))])
            .await
            .unwrap(),
        1
    );

    // Item changes by the time they were made.
    let live = |id: &str, ms: i64| LiveItem {
        item: CatalogueItem::new(id),
        withdrawn: false,
        changed_ms: ms,
        created_ms: 0,
    };
    store
        .put_live_items(&[live("c1", 1_000), live("c2", 2_000), live("c3", 5_000)])
        .await
        .unwrap();
    assert_eq!(store.prune_item_changes(3_000, 1).await.unwrap(), 1);
    assert_eq!(store.prune_item_changes(3_000, 10).await.unwrap(), 1);
    assert!(store.live_item("c1").await.unwrap().is_none());
    assert!(store.live_item("c2").await.unwrap().is_none());
    assert!(store.live_item("c3").await.unwrap().is_some());
    assert_eq!(store.live_items_since(0).await.unwrap().len(), 1);

    // Answer counts of instances that stopped saving.
    for (instance, saved_ms) in [("gone", 1_000), ("alive", 9_000)] {
        store
            .save_answer_counts(&AnswerCounts {
                instance: instance.into(),
                saved_ms,
                rows: Vec::new(),
            })
            .await
            .unwrap();
    }
    assert_eq!(store.prune_answer_counts(5_000).await.unwrap(), 1);
    let left: Vec<String> = store
        .answer_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.instance)
        .collect();
    assert_eq!(left, ["alive"]);

    // Forgetting: events, list and history in every version, nobody else's.
    for v in ["er1", "er2"] {
        store
            .create_version(&info(v, 2, "2026-03-01T00:00:00Z"))
            .await
            .unwrap();
        store
            .write_users(
                v,
                &[doc(v, "gone", &[("a", 1.0)]), doc(v, "kept", &[("b", 1.0)])],
            )
            .await
            .unwrap();
        store
            .write_histories(v, &[("gone".into(), vec![1]), ("kept".into(), vec![2])])
            .await
            .unwrap();
        store.write_popular(v, &[]).await.unwrap();
        store.finish_version(v).await.unwrap();
    }
    store
        .append_events(&[
            ev("gone", "a", 1_000, 1_000, Some("g1")),
            StoredEvent::impression("gone", &["a", "b"], 2_000),
            ev("kept", "b", 1_000, 1_000, Some("g1")),
        ])
        .await
        .unwrap();
    assert_eq!(store.delete_user_events("gone").await.unwrap(), 2);
    assert_eq!(store.delete_user_events("gone").await.unwrap(), 0);
    assert!(store.user_events("gone").await.unwrap().is_empty());
    assert_eq!(store.user_events("kept").await.unwrap().len(), 1);
    assert!(!store
        .events_since(0)
        .await
        .unwrap()
        .iter()
        .any(|e| e.user_id == "gone"));
    for v in ["er1", "er2"] {
        let gone = store.delete_user_in_version(v, "gone").await.unwrap();
        assert_eq!(
            gone,
            crate::UserInVersion {
                list: true,
                history: true
            }
        );
        let again = store.delete_user_in_version(v, "gone").await.unwrap();
        assert_eq!(again, crate::UserInVersion::default());
        assert!(store.user_history(v, "gone").await.unwrap().is_none());
        assert!(store.user_history(v, "kept").await.unwrap().is_some());
        assert!(store
            .user_top_items(v, "gone", 10, &ItemFilter::default())
            .await
            .unwrap()
            .is_none());
        assert!(store
            .user_top_items(v, "kept", 10, &ItemFilter::default())
            .await
            .unwrap()
            .is_some());
    }
    // The user's id is free again: the same client id is a new event.
    assert_eq!(
        store
            .append_events(&[ev("gone", "a", 5_000, 5_000, Some("g1"))])
            .await
            .unwrap(),
        1
    );

    // Tombstones: one per user, the latest kept.
    assert!(store.tombstones().await.unwrap().is_empty());
    for (user, ms) in [("t1", 1_000), ("t2", 2_000), ("t1", 3_000)] {
        store
            .put_tombstone(&crate::Tombstone {
                user_id: user.into(),
                forgotten_ms: ms,
            })
            .await
            .unwrap();
    }
    let mut stones = store.tombstones().await.unwrap();
    stones.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    assert_eq!(
        stones,
        vec![
            crate::Tombstone {
                user_id: "t1".into(),
                forgotten_ms: 3_000
            },
            crate::Tombstone {
                user_id: "t2".into(),
                forgotten_ms: 2_000
            },
        ]
    );
}
