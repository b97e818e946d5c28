//! Fuzz targets of every parser of untrusted input, as plain functions of `&[u8]`.
//!
//! Each target must never panic, and checks what its parser promises beyond not crashing
//! (a panic is the failure libFuzzer reports):
//! - [`ingest`]: the ratings reader (`read_ratings_from`) gives the same answer whatever its
//!   block size, and what it accepts is in range; the items/titles reader (`read_records`).
//! - [`events`]: the `POST /api/events` body as the route parses and validates it.
//! - [`snapshots`]: the model snapshot (`TTS1`, `ServingModel::decode`) and the recommendations
//!   snapshot (`TTRECS1`, `RecsSnapshot::parse`): what decodes can be used without panicking.
//! - [`store_docs`]: stored documents (user lists, version records, events, histories).
//! - [`catalogue`]: catalogue files, live-change batches (`POST /api/items`) and the filter
//!   language: a parsed catalogue round-trips through its stored form, an accepted change
//!   keeps the documented limits and can be stored and read back, a filter never panics.
//!
//! `fuzz_targets/*.rs` hand these to libFuzzer (`cargo fuzz run TARGET`);
//! `functions/tests/it/fuzz_corpus.rs` includes this file and replays every committed corpus file
//! through the same functions in the normal `cargo test`. The file must therefore build with
//! the dependencies of `topten-functions` alone (core, edge, functions, serde_json).

use topten_edge::request::Limits;
use topten_edge::snapshot::RecsSnapshot;
use topten_live::events::{self as core_events, StoredEvent, MAX_EVENTS_PER_REQUEST, MAX_ID_LEN};
use topten_model::ingest::{self, DuplicatePolicy, Format, ReadOptions};
use topten_model::interactions::MAX_ABS_VALUE;
use topten_model::serving_model::{decode_history, ServingModel};
use topten_store::{
    self,
    documents::{document_items, encode_doc},
    ActiveVersion, ItemScore, UserRecs, VersionInfo,
};

/// A target: its name (`fuzz/corpus/NAME/`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// The targets by name, for the corpus replay (`fuzz/corpus/NAME/`).
pub const TARGETS: &[Target] = &[
    ("ingest", ingest),
    ("events", events),
    ("snapshots", snapshots),
    ("store_docs", store_docs),
    ("catalogue", catalogue),
];

/// Ratings and items files. Byte 0 picks the block size (1 to 64 bytes) of the small-block
/// read, byte 1 the options (layout, skipping bad rows, duplicate policy); the rest is the file.
pub fn ingest(data: &[u8]) {
    let [b0, b1, text @ ..] = data else { return };
    let opts = ReadOptions {
        format: [
            Format::Auto,
            Format::UData,
            Format::Dat,
            Format::Csv,
            Format::Tsv,
        ][(b1 % 5) as usize],
        skip_bad_rows: b1 & 0x08 != 0,
        duplicates: [
            DuplicatePolicy::Last,
            DuplicatePolicy::First,
            DuplicatePolicy::Sum,
            DuplicatePolicy::Error,
        ][((b1 >> 4) % 4) as usize],
        ..ReadOptions::default()
    };
    let whole = ingest::read_ratings_from(text, "fuzz", &opts);
    let small = ingest::read_ratings_in_blocks(text, "fuzz", &opts, 1 + (*b0 as usize % 64));
    match (&whole, &small) {
        (Ok((a, ra)), Ok((b, rb))) => {
            assert_eq!(ra, rb, "read reports differ with the block size");
            assert_eq!(a.records, b.records, "records differ with the block size");
            assert_eq!(
                a.users.ids(),
                b.users.ids(),
                "user ids differ with the block size"
            );
            assert_eq!(
                a.items.ids(),
                b.items.ids(),
                "item ids differ with the block size"
            );
            assert_eq!(a.has_timestamps, b.has_timestamps);
            for r in &a.records {
                assert!((r.user as usize) < a.users.len() && (r.item as usize) < a.items.len());
                // Sums of duplicates may grow past one row's limit; each must stay finite.
                assert!(r.rating.is_finite(), "non-finite rating accepted: {r:?}");
                if opts.duplicates != DuplicatePolicy::Sum {
                    assert!(
                        r.rating.abs() <= MAX_ABS_VALUE,
                        "rating beyond the limit: {r:?}"
                    );
                }
            }
            for id in a.users.ids().iter().chain(a.items.ids()) {
                // Tabs are allowed (writers quote them); other control characters are not.
                assert!(
                    !id.chars().any(|c| c.is_control() && c != '\t'),
                    "control character in id {id:?}"
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(
            a.to_string(),
            b.to_string(),
            "errors differ with the block size"
        ),
        _ => panic!(
            "the block size changes the outcome: whole {:?}, small blocks {:?}",
            whole.as_ref().map(|r| &r.1),
            small.as_ref().map(|r| &r.1)
        ),
    }
    for delimiter in [b',', b'\t'] {
        if let Ok(records) = ingest::read_records(text, delimiter, "fuzz") {
            // Lines count '\n' only: records ended by a bare '\r' share a line number.
            let mut last = 1;
            for (line, fields) in &records {
                assert!(*line >= last, "record lines going back: {last} then {line}");
                last = *line;
                assert!(
                    fields.iter().any(|f| !f.trim().is_empty()),
                    "blank record returned"
                );
            }
        }
    }
}

/// The `POST /api/events` body: parsed as the route does, then validated; what validation
/// accepts is what the store may hold.
pub fn events(data: &[u8]) {
    let Ok(parsed) = topten_functions::routes::events::parse(data) else {
        return;
    };
    let now_ms = 1_800_000_000_000;
    let Ok(stored) = core_events::validate(&parsed, now_ms) else {
        return;
    };
    assert!((1..=MAX_EVENTS_PER_REQUEST).contains(&stored.len()));
    assert_eq!(stored.len(), parsed.len());
    for e in &stored {
        // An interaction names one item; an impression lists 1 to 100 and names none.
        let items: Vec<&String> = if e.is_interaction() {
            assert!(e.item_ids.is_empty(), "{e:?}");
            vec![&e.item_id]
        } else {
            assert!(e.item_id.is_empty(), "{e:?}");
            assert!(
                (1..=core_events::MAX_ITEMS_PER_IMPRESSION).contains(&e.item_ids.len()),
                "{e:?}"
            );
            e.item_ids.iter().collect()
        };
        if let Some(id) = &e.recommendation_id {
            assert!(
                topten_edge::answer_id::AnswerId::parse(id).is_ok()
                    || topten_edge::answer_id::is_unsigned_form(id),
                "{id:?}"
            );
        }
        for id in [Some(&e.user_id), e.event_id.as_ref()]
            .into_iter()
            .flatten()
            .chain(items)
        {
            let n = id.chars().count();
            assert!(
                (1..=MAX_ID_LEN).contains(&n) && !id.chars().any(char::is_control),
                "{id:?}"
            );
        }
        assert!(
            e.value.is_finite() && (0.0..=MAX_ABS_VALUE).contains(&e.value),
            "{e:?}"
        );
        assert!((0..=4_102_444_800).contains(&e.timestamp), "{e:?}");
        // The store keeps events as JSON: what is accepted must read back.
        let json = serde_json::to_vec(e).expect("a stored event serialises");
        let back: StoredEvent = serde_json::from_slice(&json).expect("a stored event reads back");
        assert_eq!(&back, e);
        assert_eq!(
            (back.event_id.as_ref(), back.timestamp),
            (e.event_id.as_ref(), e.timestamp)
        );
    }
}

/// Both snapshot formats. What decodes must be usable: the serving calls on it do not panic.
pub fn snapshots(data: &[u8]) {
    if let Ok(snap) = ServingModel::decode(data) {
        let n = snap.items.len();
        assert_eq!(
            snap.item_factors.nrows(),
            n,
            "factor rows and item ids disagree"
        );
        assert_eq!(snap.titles.len(), n);
        let again = ServingModel::decode(&snap.encode()).expect("an encoded snapshot decodes");
        assert_eq!(again.items.ids(), snap.items.ids());
        assert_eq!(again.item_factors.dim(), snap.item_factors.dim());
        let popular = snap.popular(3, &|_| true);
        assert!(popular.len() <= 3);
        if n > 0 {
            let last = (n - 1) as u32;
            for s in snap.similar_items(last, 3) {
                assert!((s.item as usize) < n);
            }
            for s in snap.recommend_for_history(&[(0, 1.0), (last, 2.0), (u32::MAX, 1.0)], 3) {
                assert!((s.item as usize) < n);
            }
        }
    }
    if let Ok(snap) = RecsSnapshot::parse(data) {
        let verified = snap.verify().is_ok();
        let mut users = Vec::new();
        // verify() checks tables and strings, not each item's JSON, which serving copies as
        // is: responses are JSON when the stored items are.
        let is_json =
            |j: &[u8]| serde_json::from_slice::<Box<serde_json::value::RawValue>>(j).is_ok();
        let mut items_json = true;
        for i in 0..snap.users() {
            match snap.entry(i) {
                Ok((user, list)) => {
                    items_json &= list.iter().all(|(_, j)| is_json(j));
                    let items = list.iter().count();
                    assert!(items <= list.len());
                    assert!(
                        !verified || items == list.len(),
                        "verified list with a corrupt entry"
                    );
                    if users.len() < 8 {
                        users.push(user);
                    }
                }
                Err(e) => assert!(!verified, "verified snapshot with a corrupt entry: {e}"),
            }
        }
        if let Ok(popular) = snap.popular() {
            items_json &= popular.iter().all(|(_, j)| is_json(j));
        }
        for user in users.iter().copied().chain(["", "1", "zz"]) {
            let found = snap.user(user);
            if verified && users.contains(&user) {
                assert!(
                    matches!(found, Ok(Some(_))),
                    "verified snapshot loses user {user:?}"
                );
            }
        }
        if verified {
            // The whole request path over the file, as the wasm guest and Lambda serve it.
            for user in users.iter().copied().chain(["nobody"]) {
                let path = format!("/api/recommendations/{}", percent_encode(user));
                for query in [None, Some("k=2"), Some("k=100&exclude=1,2")] {
                    let r = topten_edge::route::handle(
                        &snap,
                        &Limits::default(),
                        "GET",
                        &path,
                        query,
                        None,
                    );
                    if r.status == 200 && items_json {
                        serde_json::from_slice::<Box<serde_json::value::RawValue>>(&r.body)
                            .unwrap_or_else(|e| panic!("200 with a body that is not JSON ({e})"));
                    }
                }
            }
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Stored documents: user lists (as the serving path selects from them, and as export splits
/// them), version records, the active pointer, events, item lists and training histories.
pub fn store_docs(data: &[u8]) {
    for (k, exclude) in [
        (0, vec![]),
        (3, vec![]),
        (100, vec!["1".to_owned(), "i1".to_owned()]),
    ] {
        if let Ok(top) =
            topten_store::top_items_from_json(data, k, &topten_store::ItemFilter::exclude(&exclude))
        {
            // Raw values: JSON syntax, without serde_json's f64 range (a stored 1e999 is
            // valid JSON, copied as is).
            let items: Vec<Box<serde_json::value::RawValue>> =
                serde_json::from_slice(&top.items_json).expect("selected items are a JSON array");
            assert_eq!(items.len(), top.count);
            assert!(top.count <= k);
        }
    }
    if let Ok(items) = document_items(data) {
        for (_, json) in items {
            serde_json::from_slice::<Box<serde_json::value::RawValue>>(&json)
                .expect("an item is JSON");
        }
    }
    if let Ok(doc) = serde_json::from_slice::<UserRecs>(data) {
        let encoded = encode_doc(&doc).expect("a decoded document encodes");
        assert!(encoded.len() > 8);
    }
    let _ = serde_json::from_slice::<VersionInfo>(data);
    let _ = serde_json::from_slice::<ActiveVersion>(data);
    let _ = serde_json::from_slice::<StoredEvent>(data);
    let _ = serde_json::from_slice::<Vec<ItemScore>>(data);
    let history = decode_history(data);
    assert_eq!(history.len(), data.len() / 8);
}

/// Catalogue inputs. Byte 0 picks what the rest is: a catalogue file (JSON Lines, CSV or TSV),
/// a batch of live changes (a JSON array of item documents, as `POST /api/items` takes), or a
/// filter expression (`?filter=`).
pub fn catalogue(data: &[u8]) {
    use topten_model::catalogue::filter::Filter;
    use topten_model::catalogue::live::{self, ItemPatch};
    use topten_model::catalogue::{self as cat, Catalogue, CatalogueItem};

    let [mode, rest @ ..] = data else { return };
    // What every stored item keeps to: its id is valid, and the stored form reads back equal.
    let round_trips = |c: &Catalogue| {
        for item in c.items() {
            assert!(
                topten_edge::ids::check(topten_edge::ids::IdKind::Item, &item.item_id).is_ok(),
                "invalid id accepted: {:?}",
                item.item_id
            );
        }
        let stored = c.to_json_lines();
        match Catalogue::from_json_lines(&stored) {
            Ok(back) => assert_eq!(&back, c, "the stored catalogue reads back different"),
            Err(e) if c.is_empty() => drop(e),
            Err(e) => panic!("the stored catalogue does not read back: {e}"),
        }
    };
    match mode % 3 {
        0 => {
            if let Ok(c) = cat::parse(rest, "fuzz") {
                round_trips(&c);
            }
        }
        1 => {
            let Ok(docs) = serde_json::from_slice::<Vec<serde_json::Value>>(rest) else {
                return;
            };
            let mut base = CatalogueItem::new("fuzz-item");
            base.title = Some("Base".into());
            base.categories = vec!["Drama".into()];
            let mut live = Catalogue::from_items([base]);
            for doc in docs.into_iter().take(64) {
                let Ok(patch) = serde_json::from_value::<ItemPatch>(doc) else {
                    continue;
                };
                let id = match patch.item_id.as_deref() {
                    Some(id)
                        if topten_edge::ids::check(topten_edge::ids::IdKind::Item, id).is_ok() =>
                    {
                        id.to_owned()
                    }
                    _ => "fuzz-item".to_owned(),
                };
                let Ok(item) = patch.apply(&id, live.get(&id)) else {
                    continue;
                };
                // The documented limits hold for what is accepted.
                assert!(item.categories.len() <= live::MAX_CATEGORIES, "{item:?}");
                assert!(
                    item.categories
                        .iter()
                        .all(|c| c.chars().count() <= live::MAX_CATEGORY_CHARS
                            && !c.trim().is_empty())
                );
                assert!(item
                    .title
                    .as_ref()
                    .is_none_or(|t| t.chars().count() <= live::MAX_TITLE_CHARS));
                assert!(item.attributes.len() <= live::MAX_ATTRIBUTES);
                // The same change again changes nothing.
                let again = patch
                    .apply(&id, Some(&item))
                    .expect("a change that applied once applies again");
                assert_eq!(again, item, "a change is not idempotent");
                live.upsert(item);
            }
            round_trips(&live);
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(filter) = Filter::parse(text) else {
                return;
            };
            let mut item = CatalogueItem::new("1");
            item.title = Some("A title".into());
            item.categories = vec!["Drama".into(), "Comedy".into()];
            item.expires_at = Some(1_800_000_000);
            item.attributes
                .insert("price".into(), cat::AttributeValue::Number(9.5));
            item.attributes
                .insert("brand".into(), cat::AttributeValue::Text("acme".into()));
            item.attributes
                .insert("new".into(), cat::AttributeValue::Bool(true));
            let bare = CatalogueItem::new("2");
            let _ = filter.matches(&item) | filter.matches(&bare);
            let params = filter.params();
            for value in ["1", "true", "Drama", ""] {
                let values: std::collections::HashMap<String, String> = params
                    .iter()
                    .map(|p| (p.clone(), value.to_owned()))
                    .collect();
                let bound = filter.bind(&values).expect("every parameter has a value");
                assert!(
                    bound.params().is_empty(),
                    "parameters left after binding all"
                );
                let _ = bound.matches(&item) | bound.matches(&bare);
            }
        }
    }
}
