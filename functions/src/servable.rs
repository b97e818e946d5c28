//! What may be served now: the active version's catalogue, the items it hides at this moment
//! (unavailable, or past their expiry), and the titles live changes gave items.
//!
//! It is kept in two layers so that a live change costs what it changes, not what the
//! catalogue holds. The **base** layer is the version's catalogue with the live changes known
//! when it was made; it is made once per version, again when the next expiry passes
//! ([`Servable::stale`]), and again once [`REBASE_AFTER`] changes have piled up above it. The
//! **recent** layer holds the changes since, and a new change copies only that layer. A
//! request pays one or two hash lookups per candidate item, and answers carry a live title
//! from the next request on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use topten_model::catalogue::{Catalogue, CatalogueItem};
use topten_store::ItemScore;

/// Changed items the recent layer holds before the next change folds everything into a new
/// base layer. A change copies the recent layer, so this bounds its cost; a rebase costs a
/// pass over the whole catalogue, so this also spreads that cost over as many changes.
pub const REBASE_AFTER: usize = 1024;

/// The version's catalogue, with the live changes known when it was made.
#[derive(Debug)]
struct BaseLayer {
    catalogue: Catalogue,
    hidden: HashSet<String>,
    /// Titles set by live changes, over the titles stored with the version's lists.
    titles: HashMap<String, String>,
}

/// An item changed since the base layer was made, and whether it was hidden then.
#[derive(Debug, Clone)]
struct RecentItem {
    item: CatalogueItem,
    hidden: bool,
}

/// A version's catalogue with the items it hides as of a moment.
#[derive(Debug, Clone)]
pub struct Servable {
    base: Arc<BaseLayer>,
    recent: HashMap<String, RecentItem>,
    /// Whether a recent item is hidden, and whether one has a title: kept with each change
    /// so that a request does not look through the recent layer to learn it.
    recent_hides: bool,
    recent_titled: bool,
    /// The next expiry after the moment the sets were made (epoch seconds): stale from then
    /// on.
    valid_until: i64,
}

impl Servable {
    /// The items `catalogue` hides at `now_secs`.
    pub fn at(catalogue: Catalogue, now_secs: i64) -> Self {
        let hidden = catalogue
            .items()
            .iter()
            .filter(|i| !i.servable_at(now_secs))
            .map(|i| i.item_id.clone())
            .collect();
        let valid_until = catalogue
            .items()
            .iter()
            .filter_map(|i| i.expires_at)
            .filter(|&t| t > now_secs)
            .min()
            .unwrap_or(i64::MAX);
        Servable {
            base: Arc::new(BaseLayer {
                catalogue,
                hidden,
                titles: HashMap::new(),
            }),
            recent: HashMap::new(),
            recent_hides: false,
            recent_titled: false,
            valid_until,
        }
    }

    /// With `titles` (item id → title, from live changes) served over the stored titles.
    pub fn with_titles(mut self, titles: HashMap<String, String>) -> Self {
        match Arc::get_mut(&mut self.base) {
            Some(base) => base.titles = titles,
            None => unreachable!("with_titles is called on a fresh Servable"),
        }
        self
    }

    /// This, with `changed` (live changes, each item whole as it now stands) on top as of
    /// `now_secs`. Copies the recent layer only: the base layer is shared.
    pub fn with_changes(
        &self,
        changed: impl IntoIterator<Item = CatalogueItem>,
        now_secs: i64,
    ) -> Self {
        let mut next = self.clone();
        for item in changed {
            if let Some(t) = item.expires_at.filter(|&t| t > now_secs) {
                next.valid_until = next.valid_until.min(t);
            }
            let hidden = !item.servable_at(now_secs);
            next.recent
                .insert(item.item_id.clone(), RecentItem { item, hidden });
        }
        // A change may replace a hidden or titled item: look through the layer once here.
        next.recent_hides = next.recent.values().any(|r| r.hidden);
        next.recent_titled = next.recent.values().any(|r| r.item.title.is_some());
        next
    }

    /// Changed items above the base layer.
    pub fn recent_changes(&self) -> usize {
        self.recent.len()
    }

    /// The item as the catalogue (and the live changes on it) describes it.
    pub fn get(&self, item_id: &str) -> Option<&CatalogueItem> {
        match self.recent.get(item_id) {
            Some(r) => Some(&r.item),
            None => self.base.catalogue.get(item_id),
        }
    }

    /// The title a live change gave `item_id`, if one did.
    pub fn title(&self, item_id: &str) -> Option<&str> {
        match self.recent.get(item_id) {
            Some(r) => r.item.title.as_deref(),
            None => self.base.titles.get(item_id).map(String::as_str),
        }
    }

    /// Whether no live change gave any item a title.
    fn no_titles(&self) -> bool {
        self.base.titles.is_empty() && !self.recent_titled
    }

    /// Gives each of `items` its live title, where a live change set one.
    pub fn retitle(&self, items: &mut [ItemScore]) {
        if self.no_titles() {
            return;
        }
        for item in items {
            if let Some(t) = self.title(&item.item_id) {
                item.title = Some(t.to_owned());
            }
        }
    }

    /// [`Servable::retitle`] for a JSON array of items as stored: `None` when no item of it
    /// has a new live title, so the bytes stand as they are (no parse at all while no live
    /// change set a title).
    pub fn retitle_json(&self, items_json: &[u8]) -> Result<Option<Vec<u8>>, serde_json::Error> {
        if self.no_titles() {
            return Ok(None);
        }
        let mut items: Vec<ItemScore> = serde_json::from_slice(items_json)?;
        let changed = items.iter().any(|i| {
            self.title(&i.item_id)
                .is_some_and(|t| i.title.as_deref() != Some(t))
        });
        if !changed {
            return Ok(None);
        }
        self.retitle(&mut items);
        serde_json::to_vec(&items).map(Some)
    }

    /// Whether an expiry has passed since this was made.
    pub fn stale(&self, now_secs: i64) -> bool {
        now_secs >= self.valid_until
    }

    /// Whether anything is hidden (else a selection need not test ids against it).
    pub fn hides_any(&self) -> bool {
        !self.base.hidden.is_empty() || self.recent_hides
    }

    /// Whether `item_id` may be served (items the catalogue does not list may).
    pub fn allows(&self, item_id: &str) -> bool {
        match self.recent.get(item_id) {
            Some(r) => !r.hidden,
            None => !self.base.hidden.contains(item_id),
        }
    }

    /// Every item as served: the base layer's, with the recent changes in place, in the
    /// catalogue's order (new items last).
    pub fn catalogue(&self) -> Catalogue {
        let mut out = self.base.catalogue.clone();
        for r in self.recent.values() {
            out.upsert(r.item.clone());
        }
        out
    }
}

/// An item's title: the live catalogue's (`servable`), else the one the version was published
/// with (`serving`), if either has one.
pub fn item_title(
    servable: Option<&Servable>,
    serving: Option<&topten_model::serving_model::ServingModel>,
    id: &str,
) -> Option<String> {
    let live = servable.and_then(|s| s.title(id));
    live.map(str::to_owned).or_else(|| {
        let m = serving?;
        m.titles.get(m.items.get(id)? as usize).cloned().flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_unavailable_and_expired_items_and_goes_stale_at_the_next_expiry() {
        let mut gone = CatalogueItem::new("gone");
        gone.available = false;
        let mut offer = CatalogueItem::new("offer");
        offer.expires_at = Some(100);
        let mut later = CatalogueItem::new("later");
        later.expires_at = Some(200);
        let c = Catalogue::from_items([CatalogueItem::new("a"), gone, offer, later]);
        let s = Servable::at(c, 50);
        assert!(s.allows("a") && s.allows("offer") && s.allows("unlisted"));
        assert!(!s.allows("gone"));
        assert!(!s.stale(99) && s.stale(100));
        let s = Servable::at(s.catalogue(), 100);
        assert!(!s.allows("offer") && s.allows("later"));
        assert!(!s.stale(199) && s.stale(200));
        assert!(!Servable::at(s.catalogue(), 200).allows("later"));
    }

    #[test]
    fn live_titles_replace_stored_ones_and_leave_the_rest_byte_for_byte() {
        let s = Servable::at(Catalogue::default(), 0);
        let stored = br#"[{"itemId":"a","score":0.5,"title":"Old"},{"itemId":"b","score":0.25}]"#;
        assert_eq!(s.retitle_json(stored).unwrap(), None);
        let s = s.with_titles(HashMap::from([("a".to_owned(), "New \"A\"".to_owned())]));
        let got = s.retitle_json(stored).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"[{"itemId":"a","score":0.5,"title":"New \"A\""},{"itemId":"b","score":0.25}]"#
        );
        let other = br#"[{"itemId":"b","score":0.25}]"#;
        assert_eq!(s.retitle_json(other).unwrap(), None);
    }

    /// A recent change overrides the base layer in every answer (hidden or shown again,
    /// title set or cleared, attributes), and agrees with a base layer made from scratch
    /// with the same changes.
    #[test]
    fn recent_changes_override_the_base_layer_as_a_full_rebuild_would() {
        let mut gone = CatalogueItem::new("gone");
        gone.available = false;
        let mut titled = CatalogueItem::new("t");
        titled.title = Some("Live".into());
        let base = Catalogue::from_items([CatalogueItem::new("a"), gone.clone(), titled.clone()]);
        let s = Servable::at(base.clone(), 10)
            .with_titles(HashMap::from([("t".to_owned(), "Live".to_owned())]));
        assert!(s.hides_any() && !s.allows("gone"));

        let mut back = gone.clone();
        back.available = true;
        let mut a = CatalogueItem::new("a");
        a.available = false;
        a.categories = vec!["Drama".into()];
        let untitled = CatalogueItem::new("t");
        let mut soon = CatalogueItem::new("new");
        soon.expires_at = Some(50);
        let changed = vec![back, a, untitled, soon];
        let layered = s.with_changes(changed.clone(), 10);
        assert_eq!(layered.recent_changes(), 4);
        assert_eq!(s.recent_changes(), 0, "the original is untouched");

        let mut rebuilt_catalogue = base;
        for c in &changed {
            rebuilt_catalogue.upsert(c.clone());
        }
        let rebuilt = Servable::at(rebuilt_catalogue.clone(), 10);
        for id in ["a", "gone", "t", "new", "unlisted"] {
            assert_eq!(layered.allows(id), rebuilt.allows(id), "{id}");
            assert_eq!(layered.get(id), rebuilt_catalogue.get(id), "{id}");
        }
        assert_eq!(
            layered.title("t"),
            None,
            "a change without a title clears the live one"
        );
        assert!(layered.stale(50) && !layered.stale(49));
        let mut items = layered.catalogue().items().to_vec();
        let mut expected = rebuilt_catalogue.items().to_vec();
        items.sort_by(|x, y| x.item_id.cmp(&y.item_id));
        expected.sort_by(|x, y| x.item_id.cmp(&y.item_id));
        assert_eq!(items, expected);
    }
}
