//! What may be served now: the active version's catalogue, and the set of items it hides at
//! this moment (unavailable, or past their expiry). The handler makes it once per version and
//! again when the next expiry passes ([`Servable::stale`]) or live changes arrive, so a request
//! pays one hash lookup per candidate item.

use std::collections::HashSet;

use topten_model::catalogue::Catalogue;

/// A version's catalogue with the items it hides as of a moment.
#[derive(Debug)]
pub struct Servable {
    catalogue: Catalogue,
    hidden: HashSet<String>,
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
            valid_until,
        }
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
}
