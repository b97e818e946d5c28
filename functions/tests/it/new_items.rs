//! Items training never saw, served from their catalogue records: a version published from a
//! model with a content map scores every catalogue item it lacks (in the published catalogue
//! or added live) with its content factor, in similar items, ranking and refilled lists. And
//! served from their first live events: item fold-in solves their factors from the users who
//! touched them, known users and session-only ones alike.

use crate::common::{ids, post_events_ok, send};
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

fn trained(ratings: &Ratings) -> topten_model::model::Model {
    let params = topten_model::als::AlsParams {
        factors: 8,
        iterations: 10,
        regularization: 1.0,
        threads: 1,
        ..topten_model::als::AlsParams::implicit()
    };
    topten_model::pipeline::train(ratings, &params, None, &mut |_| {}).unwrap()
}

#[tokio::test]
async fn an_item_added_today_is_similar_ranked_and_recommended_by_its_record() {
    let dir = tempfile::tempdir().unwrap();
    // This test is about scoring new items, not the places kept for them.
    let router = with_catalogue(dir.path(), |c| c.new_item_slots = 0).await;

    // Not in the catalogue yet: no similar items.
    let (status, _) = send(&router, "GET", "/api/items/new-comedy/similar?k=5", None).await;
    assert_eq!(status, 404);
    // Added live, with a genre and nothing else.
    let added = serde_json::json!({"itemId": "new-comedy", "categories": ["Comedy"]});
    let (status, body) = send(&router, "PUT", "/api/items/new-comedy", Some(added)).await;
    assert!(status == 200 || status == 201, "{status} {body}");

    for (item, genre) in [("new-comedy", 1), ("unwatched-horror", 2)] {
        assert_similar_of_genre(&router, item, genre).await;
    }

    // A comedy fan ranks the new comedy above a drama and a horror film they have not seen.
    let fan = "u1";
    assert_ranks_first(
        &router,
        fan,
        [unwatched(fan, 0)[0].clone(), unwatched(fan, 2)[0].clone()],
        "new-comedy",
    )
    .await;

    // The fan's stored list (ten trained items, comedies mostly) excluded, the list is refilled
    // from the whole catalogue: the new comedy is in it, ahead of every film of another genre.
    let first = assert_refill_holds(&router, fan, "new-comedy", 1).await;
    assert!(
        !first.contains(&"new-comedy".to_string()),
        "stored lists hold trained items: {first:?}"
    );
}

/// `fan` ranks `want` above two films they have not watched.
async fn assert_ranks_first(router: &axum::Router, fan: &str, films: [String; 2], want: &str) {
    let body = serde_json::json!({"itemIds": [films[0], films[1], want]});
    let (status, ranked) = send(
        router,
        "POST",
        &format!("/api/recommendations/{fan}/rank"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{ranked}");
    assert_eq!(ranked["items"][0]["itemId"], want, "{ranked}");
    assert!(ranked["items"][0]["score"].is_number(), "{ranked}");
}

/// `fan`'s stored list excluded, their list refilled to twenty from the whole catalogue holds
/// `item` ahead of every film not of `genre`. Returns the stored list's first ten.
async fn assert_refill_holds(
    router: &axum::Router,
    fan: &str,
    item: &str,
    genre: u32,
) -> Vec<String> {
    let (_, first) = send(
        router,
        "GET",
        &format!("/api/recommendations/{fan}?k=10"),
        None,
    )
    .await;
    let first = ids(&first);
    let (status, refilled) = send(
        router,
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
    assert_eq!(refilled.len(), 20, "{refilled:?}");
    let at = refilled.iter().position(|id| id == item);
    let other = refilled
        .iter()
        .position(|id| id.starts_with('f') && genre_of(id) != genre);
    assert!(
        at.is_some() && (other.is_none() || at < other),
        "{refilled:?}"
    );
    first
}

/// A handler over a version of [`tastes`] published without a catalogue (no content map:
/// an item the model does not know has nothing but its events), `tweak` applied.
async fn without_catalogue(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> axum::Router {
    let (ratings, _) = tastes();
    serve(dir, &trained(&ratings), None, tweak).await
}

/// A handler over `model` published (with `catalogue`, ten items per user) to a new store in
/// `dir`, the pointer read afresh on every request, `tweak` applied.
async fn serve(
    dir: &std::path::Path,
    model: &topten_model::model::Model,
    catalogue: Option<Catalogue>,
    tweak: impl FnOnce(&mut Config),
) -> axum::Router {
    let path = dir.join("store.db");
    {
        let store = EmbeddedStore::open(&path).unwrap();
        let opts = PublishOptions {
            catalogue,
            items_per_user: 10,
            ..PublishOptions::default()
        };
        publish(&store, model, &opts, &mut |_, _| {}).await.unwrap();
    }
    let mut config = Config {
        store_uri: format!("embedded:{}", path.display()),
        active_ttl_ms: 0,
        ..Config::default()
    };
    tweak(&mut config);
    app(state_from_config(config).unwrap())
}

fn click(user: &str, item: &str) -> serde_json::Value {
    serde_json::json!({"userId": user, "itemId": item, "type": "click"})
}

/// Films of `genre` that `user` has not watched in training.
fn unwatched(user: &str, genre: u32) -> Vec<String> {
    let (ratings, _) = tastes();
    (0..60)
        .map(|i| format!("f{i}"))
        .filter(|id| {
            genre_of(id) == genre
                && !ratings
                    .records
                    .iter()
                    .any(|r| ratings.users.id(r.user) == user && ratings.items.id(r.item) == id)
        })
        .collect()
}

/// `similar` of `item` holds only films of `genre` (and other new items).
async fn assert_similar_of_genre(router: &axum::Router, item: &str, genre: u32) {
    let (status, body) = send(
        router,
        "GET",
        &format!("/api/items/{item}/similar?k=5"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{item}: {body}");
    let similar = ids(&body);
    assert_eq!(similar.len(), 5, "{body}");
    assert!(
        similar
            .iter()
            .all(|id| !id.starts_with('f') || genre_of(id) == genre),
        "{item} is like {}, not {similar:?}",
        GENRES[genre as usize]
    );
}

/// An item no version and no catalogue knows gets a factor from the horror fans who clicked
/// it: similar items both ways, ranking, and the refill of other horror fans take it.
#[tokio::test]
async fn an_unknown_item_is_folded_in_from_its_first_events() {
    let dir = tempfile::tempdir().unwrap();
    // The refill below is the point here, not the place kept for new items.
    let router = without_catalogue(dir.path(), |c| c.new_item_slots = 0).await;
    let (status, _) = send(&router, "GET", "/api/items/mystery/similar?k=5", None).await;
    assert_eq!(status, 404);

    // Six horror fans (users 2, 5, …, 17: u % 3 == 2) click it.
    let clicks: Vec<_> = (0..6)
        .map(|n| click(&format!("u{}", 2 + 3 * n), "mystery"))
        .collect();
    let answer = post_events_ok(&router, serde_json::json!(clicks)).await;
    assert_eq!(
        answer["itemsFoldedIn"],
        serde_json::json!(["mystery"]),
        "{answer}"
    );
    assert_similar_of_genre(&router, "mystery", 2).await;

    // The other way round: a horror film's similar items put it ahead of every other genre.
    let (status, body) = send(&router, "GET", "/api/items/f2/similar?k=25", None).await;
    assert_eq!(status, 200, "{body}");
    let similar = ids(&body);
    let at = similar.iter().position(|id| id == "mystery");
    let other = similar
        .iter()
        .position(|id| id.starts_with('f') && genre_of(id) != 2);
    assert!(
        at.is_some() && (other.is_none() || at < other),
        "{similar:?}"
    );

    // Another horror fan ranks it first among unseen films of each genre.
    let fan = "u29";
    assert_ranks_first(
        &router,
        fan,
        [unwatched(fan, 0)[0].clone(), unwatched(fan, 1)[0].clone()],
        "mystery",
    )
    .await;

    // Their stored list (trained items) excluded, the refill holds it, ahead of other genres.
    assert_refill_holds(&router, fan, "mystery", 2).await;
}

/// Both ways round: a new item seen only by users the version does not know (session ids,
/// known by their events alone) is folded in from them; and such a user who touches a new
/// item is served a list of their taste.
#[tokio::test]
async fn new_items_and_session_users_fold_each_other_in() {
    let dir = tempfile::tempdir().unwrap();
    let router = without_catalogue(dir.path(), |_| {}).await;
    let mut events = Vec::new();
    for s in 0..4 {
        let user = format!("session-{s}");
        // Two comedies each (films of genre 1), then the new item.
        for f in [1 + 3 * s, 4 + 3 * s] {
            events.push(click(&user, &format!("f{f}")));
        }
        events.push(click(&user, "new-sitcom"));
    }
    let answer = post_events_ok(&router, serde_json::json!(events)).await;
    assert_eq!(
        answer["itemsFoldedIn"],
        serde_json::json!(["new-sitcom"]),
        "{answer}"
    );
    assert_eq!(answer["refreshed"].as_array().unwrap().len(), 4, "{answer}");
    assert_similar_of_genre(&router, "new-sitcom", 1).await;

    // A fifth session touches only the new item: its list comes from the item's factor.
    let answer = post_events_ok(
        &router,
        serde_json::json!([click("session-new", "new-sitcom")]),
    )
    .await;
    assert_eq!(
        answer["refreshed"],
        serde_json::json!(["session-new"]),
        "{answer}"
    );
    let (status, body) = send(&router, "GET", "/api/recommendations/session-new?k=5", None).await;
    assert_eq!(status, 200, "{body}");
    let list = ids(&body);
    assert_eq!(list.len(), 5, "{body}");
    assert!(!list.contains(&"new-sitcom".to_string()), "{list:?}");
    assert!(list.iter().all(|id| genre_of(id) == 1), "{list:?}");
}

/// An item is solved at most once per interval on an instance: events in between are solved
/// in the background once it has passed; a well-known item is never folded in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_is_solved_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let router = without_catalogue(dir.path(), |c| c.item_fold_in_secs = 1).await;
    let first = post_events_ok(
        &router,
        serde_json::json!([click("u2", "mystery"), click("u5", "f0")]),
    )
    .await;
    // f0 was trained from forty interactions: its factor stands.
    assert_eq!(
        first["itemsFoldedIn"],
        serde_json::json!(["mystery"]),
        "{first}"
    );
    let second = post_events_ok(&router, serde_json::json!([click("u8", "mystery")])).await;
    assert_eq!(second["itemsFoldedIn"], serde_json::json!([]), "{second}");
    let solved = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("topten_items_folded_in_total "))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    };
    let mut total = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let resp = crate::common::oneshot(&router, "GET", "/api/metrics").await;
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        total = solved(&String::from_utf8_lossy(&bytes));
        if total == 2 {
            break;
        }
    }
    assert_eq!(total, 2, "the waiting solve ran once");
}

/// A handler over a version of [`tastes`] trained with its catalogue (a content map), the
/// catalogue published with it, plus one catalogue film nobody watched (it has no factor, only
/// a record); `tweak` applied.
async fn with_catalogue(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> axum::Router {
    let (ratings, mut catalogue) = tastes();
    let mut model = trained(&ratings);
    model.content = Some(topten_model::content::ContentMap::for_model(&model, &catalogue).unwrap());
    catalogue.upsert(film("unwatched-horror", 2));
    serve(dir, &model, Some(catalogue), tweak).await
}

/// The list's items marked `"reason": "new"`, and all its ids.
async fn list(router: &axum::Router, uri: &str) -> (Vec<String>, Vec<String>) {
    let (status, body) = send(router, "GET", uri, None).await;
    assert_eq!(status, 200, "{uri}: {body}");
    let new = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"] == "new")
        .map(|i| i["itemId"].as_str().unwrap().to_owned())
        .collect();
    (new, ids(&body))
}

/// Personal lists keep their last place of every ten for the user's best-scoring new item
/// (marked `"reason": "new"`), within the request's filters and the catalogue, never one the
/// user has.
#[tokio::test]
async fn new_items_take_the_last_places_of_personal_lists() {
    let dir = tempfile::tempdir().unwrap();
    let router = with_catalogue(dir.path(), |_| {}).await;
    for (id, genre) in [("new-comedy", "Comedy"), ("new-drama", "Drama")] {
        let item = serde_json::json!({"itemId": id, "categories": [genre]});
        let (status, body) = send(&router, "PUT", &format!("/api/items/{id}"), Some(item)).await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }
    // A comedy fan (u1), a horror fan (u2), a drama fan (u0): each gets the new item of
    // their genre in the last place, and only there.
    for (user, want) in [
        ("u1", "new-comedy"),
        ("u2", "unwatched-horror"),
        ("u0", "new-drama"),
    ] {
        let (new, all) = list(&router, &format!("/api/recommendations/{user}?k=10")).await;
        assert_eq!(new, vec![want.to_string()], "{user}: {all:?}");
        assert_eq!(all.len(), 10);
        assert_eq!(all[9], want, "{user}: {all:?}");
        assert!(
            all[..9].iter().all(|id| id.starts_with('f')),
            "{user}: {all:?}"
        );
    }
    // Twenty items: two places (the stored list holds ten, so they come after it).
    let (new, all) = list(&router, "/api/recommendations/u1?k=20").await;
    assert_eq!(new.len(), 2, "{all:?}");
    assert_eq!(&all[all.len() - 2..], &new[..], "{all:?}");
    // The request's filters apply: no comedy, and not the one excluded by name.
    let (new, _) = list(
        &router,
        "/api/recommendations/u1?k=10&excludeCategory=Comedy",
    )
    .await;
    assert!(new.len() == 1 && new[0] != "new-comedy", "{new:?}");
    let (new, _) = list(&router, "/api/recommendations/u1?k=10&exclude=new-comedy").await;
    assert!(new.len() == 1 && new[0] != "new-comedy", "{new:?}");
    // Withdrawn: never offered.
    let key_less = send(&router, "DELETE", "/api/items/new-drama", None).await;
    assert!(key_less.0 == 200 || key_less.0 == 204, "{key_less:?}");
    let (new, _) = list(&router, "/api/recommendations/u0?k=10").await;
    assert!(!new.contains(&"new-drama".to_string()), "{new:?}");
    // A user who has the new item is not offered it again.
    post_events_ok(&router, serde_json::json!([click("u1", "new-comedy")])).await;
    let (new, all) = list(&router, "/api/recommendations/u1?k=10").await;
    assert!(!all.contains(&"new-comedy".to_string()), "{all:?}");
    assert_eq!(new.len(), 1, "{all:?}");
}

/// No places without new items: with the setting at 0, and once the items are older than
/// TOPTEN_NEW_ITEM_DAYS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_places_when_switched_off_or_nothing_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let off = with_catalogue(dir.path(), |c| c.new_item_slots = 0).await;
    let (new, all) = list(&off, "/api/recommendations/u2?k=10").await;
    assert!(
        new.is_empty() && all.iter().all(|id| id.starts_with('f')),
        "{all:?}"
    );
    drop(off);
    let dir = tempfile::tempdir().unwrap();
    // New for a fifth of a second: the catalogue film is new when published, then not.
    let short = with_catalogue(dir.path(), |c| c.new_item_days = 0.2 / 86_400.0).await;
    let (new, _) = list(&short, "/api/recommendations/u2?k=10").await;
    assert_eq!(new, vec!["unwatched-horror".to_string()]);
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let (new, all) = list(&short, "/api/recommendations/u2?k=10").await;
    assert!(new.is_empty(), "{all:?}");
}
