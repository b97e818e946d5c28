//! Items training never saw, served from their catalogue records: a version published from a
//! model with a content map scores every catalogue item it lacks (in the published catalogue
//! or added live) with its content factor, in similar items, ranking and refilled lists.

use crate::common::{ids, send};
use topten_functions::{app, state_from_config, Config};
use topten_live::publish::{publish, PublishOptions};
use topten_model::catalogue::{Catalogue, CatalogueItem};
use topten_model::interactions::{IdMap, Interaction, Ratings};
use topten_store::embedded::EmbeddedStore;

const GENRES: [&str; 3] = ["drama", "comedy", "horror"];

/// Three tastes, one per genre: user `u` watches only films of genre `u % 3` (film `i` is
/// of genre `i % 3`).
fn tastes() -> (Ratings, Catalogue) {
    let (users, films) = (120u32, 60u32);
    let mut records = Vec::new();
    for u in 0..users {
        let mine: Vec<u32> = (0..films).filter(|i| i % 3 == u % 3).collect();
        for k in 0..10u32 {
            // A spread of each user's genre, different per user.
            let i = mine[((u * 7 + k * 3) as usize) % mine.len()];
            records.push(Interaction {
                user: u,
                item: i,
                rating: 1.0,
                timestamp: i64::from(k),
            });
        }
    }
    records.sort_by_key(|r| (r.user, r.item));
    records.dedup_by_key(|r| (r.user, r.item));
    let ratings = Ratings {
        users: IdMap::from_ids((0..users).map(|u| format!("u{u}"))),
        items: IdMap::from_ids((0..films).map(|i| format!("f{i}"))),
        records,
        has_timestamps: true,
    };
    let catalogue = Catalogue::from_items((0..films).map(|i| film(&format!("f{i}"), i % 3)));
    (ratings, catalogue)
}

fn film(id: &str, genre: u32) -> CatalogueItem {
    let mut it = CatalogueItem::new(id);
    it.categories = vec![GENRES[genre as usize].into()];
    it
}

fn genre_of(id: &str) -> u32 {
    id.trim_start_matches('f').parse::<u32>().unwrap() % 3
}

#[tokio::test]
async fn an_item_added_today_is_similar_ranked_and_recommended_by_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (ratings, mut catalogue) = tastes();
    let params = topten_model::als::AlsParams {
        factors: 8,
        iterations: 10,
        regularization: 1.0,
        threads: 1,
        ..topten_model::als::AlsParams::implicit()
    };
    let mut model = topten_model::pipeline::train(&ratings, &params, None, &mut |_| {}).unwrap();
    model.content = Some(topten_model::content::ContentMap::for_model(&model, &catalogue).unwrap());
    // One film of the catalogue nobody has watched yet: it has no factor, only a record.
    catalogue.upsert(film("unwatched-horror", 2));
    let path = dir.path().join("store.db");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        let opts = PublishOptions {
            catalogue: Some(catalogue),
            items_per_user: 10,
            ..PublishOptions::default()
        };
        publish(&store, &model, &opts, &mut |_, _| {})
            .await
            .unwrap();
    }
    let router = app(state_from_config(Config {
        store_uri: format!("embedded:{}", path.display()),
        active_ttl_ms: 0,
        ..Config::default()
    })
    .unwrap());

    // Not in the catalogue yet: no similar items.
    let (status, _) = send(&router, "GET", "/api/items/new-comedy/similar?k=5", None).await;
    assert_eq!(status, 404);
    // Added live, with a genre and nothing else.
    let added = serde_json::json!({"itemId": "new-comedy", "categories": ["Comedy"]});
    let (status, body) = send(&router, "PUT", "/api/items/new-comedy", Some(added)).await;
    assert!(status == 200 || status == 201, "{status} {body}");

    for (item, genre) in [("new-comedy", 1), ("unwatched-horror", 2)] {
        let (status, body) = send(
            &router,
            "GET",
            &format!("/api/items/{item}/similar?k=5"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{item}: {body}");
        let similar = ids(&body);
        assert_eq!(similar.len(), 5, "{body}");
        for id in &similar {
            assert!(
                !id.starts_with('f') || genre_of(id) == genre,
                "{item} ({}) is not like {id}: {similar:?}",
                GENRES[genre as usize]
            );
        }
    }

    // A comedy fan ranks the new comedy above a drama and a horror film they have not seen.
    let fan = "u1";
    let unseen = |genre: u32| {
        (0..60)
            .map(|i| format!("f{i}"))
            .find(|id| {
                genre_of(id) == genre
                    && !ratings
                        .records
                        .iter()
                        .any(|r| ratings.users.id(r.user) == fan && ratings.items.id(r.item) == id)
            })
            .unwrap()
    };
    let body = serde_json::json!({"itemIds": [unseen(0), unseen(2), "new-comedy"]});
    let (status, ranked) = send(
        &router,
        "POST",
        &format!("/api/recommendations/{fan}/rank"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{ranked}");
    assert_eq!(ranked["items"][0]["itemId"], "new-comedy", "{ranked}");
    assert!(ranked["items"][0]["score"].is_number(), "{ranked}");

    // The fan's stored list (ten trained items, comedies mostly) excluded, the list is refilled
    // from the whole catalogue: the new comedy is in it, ahead of every film of another genre.
    let (_, first) = send(
        &router,
        "GET",
        &format!("/api/recommendations/{fan}?k=10"),
        None,
    )
    .await;
    let first = ids(&first);
    assert!(
        !first.contains(&"new-comedy".to_string()),
        "stored lists hold trained items: {first:?}"
    );
    let (status, refilled) = send(
        &router,
        "GET",
        &format!(
            "/api/recommendations/{fan}?k=20&exclude={}",
            first.join(",")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{refilled}");
    let refilled = ids(&refilled);
    assert_eq!(refilled.len(), 20);
    let at = refilled.iter().position(|id| id == "new-comedy");
    let other_genre = refilled
        .iter()
        .position(|id| id.starts_with('f') && genre_of(id) != 1);
    assert!(
        at.is_some() && (other_genre.is_none() || at < other_genre),
        "{refilled:?}"
    );
}
