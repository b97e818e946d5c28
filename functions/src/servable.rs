//! What may be served now: the active version's catalogue, the set of items it hides at
//! this moment (unavailable, or past their expiry), and the titles live changes gave items.
//! The handler makes it once per version and again when the next expiry passes
//! ([`Servable::stale`]) or live changes arrive, so a request pays one hash lookup per
//! candidate item, and answers carry a live title from the next request on.

use std::collections::{HashMap, HashSet};

use topten_model::catalogue::Catalogue;
use topten_store::ItemScore;

/// A version's catalogue with the items it hides as of a moment.
#[derive(Debug)]
pub struct Servable {
    catalogue: Catalogue,
    hidden: HashSet<String>,
    /// Titles set by live changes, over the titles stored with the version's lists.
    titles: HashMap<String, String>,
    /// The next expiry after the moment the set was made (epoch seconds): the set is stale
    /// from then on.
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
            catalogue,
            hidden,
            titles: HashMap::new(),
            valid_until,
        }
    }

    /// With `titles` (item id → title, from live changes) served over the stored titles.
    pub fn with_titles(mut self, titles: HashMap<String, String>) -> Self {
        self.titles = titles;
        self
    }

    /// The title a live change gave `item_id`, if one did.
    pub fn title(&self, item_id: &str) -> Option<&str> {
        self.titles.get(item_id).map(String::as_str)
    }

    /// Gives each of `items` its live title, where a live change set one.
    pub fn retitle(&self, items: &mut [ItemScore]) {
        if self.titles.is_empty() {
            return;
        }
        for item in items {
            if let Some(t) = self.titles.get(&item.item_id) {
                item.title = Some(t.clone());
            }
        }
    }

    /// [`Servable::retitle`] for a JSON array of items as stored: the same bytes back when no
    /// item of it has a live title (no parse at all while no live change set a title).
    pub fn retitle_json(&self, items_json: Vec<u8>) -> Result<Vec<u8>, serde_json::Error> {
        if self.titles.is_empty() {
            return Ok(items_json);
        }
        let mut items: Vec<ItemScore> = serde_json::from_slice(&items_json)?;
        let changed = items.iter().any(|i| {
            self.titles
                .get(&i.item_id)
                .is_some_and(|t| i.title.as_ref() != Some(t))
        });
        if !changed {
            return Ok(items_json);
        }
        self.retitle(&mut items);
        serde_json::to_vec(&items)
    }

    /// Whether an expiry has passed since this was made.
    pub fn stale(&self, now_secs: i64) -> bool {
        now_secs >= self.valid_until
    }

    /// Ids that may not be served.
    pub fn hidden(&self) -> &HashSet<String> {
        &self.hidden
    }

    /// Whether `item_id` may be served (items the catalogue does not list may).
    pub fn allows(&self, item_id: &str) -> bool {
        !self.hidden.contains(item_id)
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topten_model::catalogue::CatalogueItem;

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
        let s = Servable::at(s.catalogue().clone(), 100);
        assert!(!s.allows("offer") && s.allows("later"));
        assert!(!s.stale(199) && s.stale(200));
        assert!(!Servable::at(s.catalogue().clone(), 200).allows("later"));
    }

    #[test]
    fn live_titles_replace_stored_ones_and_leave_the_rest_byte_for_byte() {
        let s = Servable::at(Catalogue::default(), 0);
        let stored = br#"[{"itemId":"a","score":0.5,"title":"Old"},{"itemId":"b","score":0.25}]"#;
        assert_eq!(s.retitle_json(stored.to_vec()).unwrap(), stored.to_vec());
        let s = s.with_titles(HashMap::from([("a".to_owned(), "New \"A\"".to_owned())]));
        let got = s.retitle_json(stored.to_vec()).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"[{"itemId":"a","score":0.5,"title":"New \"A\""},{"itemId":"b","score":0.25}]"#
        );
        let other = br#"[{"itemId":"b","score":0.25}]"#;
        assert_eq!(s.retitle_json(other.to_vec()).unwrap(), other.to_vec());
    }
}
