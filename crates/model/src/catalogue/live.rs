//! Live changes to the catalogue: a partial document (`{"available": false}`) applied to an
//! item as it stands, and the item as the live change left it. Live changes apply on top of
//! every version's catalogue, newest first, until another change of the same item.

use std::collections::BTreeMap;

use super::{parse_rfc3339, AttributeValue, CatalogueItem};

/// Most categories one item may have (a live change beyond it is refused).
pub const MAX_CATEGORIES: usize = 100;
/// Longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Most attributes one change may set or remove.
pub const MAX_ATTRIBUTES_PER_CHANGE: usize = 100;
/// Most attributes one item may have after a change.
pub const MAX_ATTRIBUTES: usize = 1000;
/// Longest attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 64;
/// Longest text attribute value, in characters.
pub const MAX_ATTRIBUTE_TEXT_CHARS: usize = 1000;

/// A partial item document: every field given replaces the item's, the others stay.
/// `expiresAt: null` removes an expiry; an attribute set to `null` is removed.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemPatch {
    /// The item id (required in a batch, checked against the path in a PUT).
    #[serde(default)]
    pub item_id: Option<String>,
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New categories.
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// New availability.
    #[serde(default)]
    pub available: Option<bool>,
    /// New expiry (RFC 3339), or `null` for none.
    #[serde(default, deserialize_with = "some_or_null")]
    pub expires_at: Option<Option<String>>,
    /// Attributes to set (a value) or remove (`null`).
    #[serde(default)]
    pub attributes: BTreeMap<String, Option<AttributeValue>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(serde::Deserialize::deserialize(d)?))
}

impl ItemPatch {
    /// The item after this change, on top of `base` (the item as it stands, if it is known).
    /// The error names the field (`expiresAt`, `attributes.price`).
    pub fn apply(
        &self,
        item_id: &str,
        base: Option<&CatalogueItem>,
    ) -> Result<CatalogueItem, (String, String)> {
        self.check_limits()?;
        let mut item = base.cloned().unwrap_or_else(|| CatalogueItem::new(item_id));
        if let Some(t) = &self.title {
            item.title = Some(t.trim().to_owned()).filter(|t| !t.is_empty());
        }
        if let Some(c) = &self.categories {
            item.categories = super::clean_categories(c.clone());
        }
        if let Some(a) = self.available {
            item.available = a;
        }
        match &self.expires_at {
            None => {}
            Some(None) => item.expires_at = None,
            Some(Some(t)) => {
                item.expires_at = Some(parse_rfc3339(t).map_err(|m| {
                    (
                        "expiresAt".to_owned(),
                        m.trim_start_matches("expiresAt ").to_owned(),
                    )
                })?)
            }
        }
        for (k, v) in &self.attributes {
            match v {
                None => {
                    item.attributes.remove(k);
                }
                Some(AttributeValue::Number(n)) if !n.is_finite() => {
                    return Err((format!("attributes.{k}"), "not a finite number".into()))
                }
                Some(v) => {
                    item.attributes.insert(k.clone(), v.clone());
                }
            }
        }
        if item.attributes.len() > MAX_ATTRIBUTES {
            return Err((
                "attributes".into(),
                format!(
                    "the item would have {} attributes; at most {MAX_ATTRIBUTES}",
                    item.attributes.len()
                ),
            ));
        }
        Ok(item)
    }

    /// The documented limits of one change (the constants above), checked before any work
    /// proportional to the change is done; the error names the field.
    pub fn check_limits(&self) -> Result<(), (String, String)> {
        let too_long = |what: &str, s: &str, max: usize| {
            let n = s.chars().count();
            (n > max).then(|| (what.to_owned(), format!("{n} characters; at most {max}")))
        };
        if let Some(e) = self
            .title
            .as_deref()
            .and_then(|t| too_long("title", t, MAX_TITLE_CHARS))
        {
            return Err(e);
        }
        if let Some(c) = &self.categories {
            if c.len() > MAX_CATEGORIES {
                return Err((
                    "categories".into(),
                    format!("{} categories; at most {MAX_CATEGORIES}", c.len()),
                ));
            }
            for (i, cat) in c.iter().enumerate() {
                if let Some(e) = too_long(&format!("categories[{i}]"), cat, MAX_CATEGORY_CHARS) {
                    return Err(e);
                }
            }
        }
        if self.attributes.len() > MAX_ATTRIBUTES_PER_CHANGE {
            return Err((
                "attributes".into(),
                format!(
                    "{} attributes in one change; at most {MAX_ATTRIBUTES_PER_CHANGE}",
                    self.attributes.len()
                ),
            ));
        }
        for (k, v) in &self.attributes {
            if let Some(e) = too_long("attributes", k, MAX_ATTRIBUTE_NAME_CHARS) {
                return Err((e.0, format!("an attribute name has {}", e.1)));
            }
            if let Some(AttributeValue::Text(t)) = v {
                if let Some(e) = too_long(&format!("attributes.{k}"), t, MAX_ATTRIBUTE_TEXT_CHARS) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// An item as a live change left it, stored durably and applied on top of every version's
/// catalogue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveItem {
    /// The whole item after the change.
    pub item: CatalogueItem,
    /// Withdrawn (`DELETE`): never served again until a change makes it available.
    #[serde(default)]
    pub withdrawn: bool,
    /// When the change was received (epoch ms); later changes of the same item replace it.
    pub changed_ms: i64,
    /// When the item first came live (epoch ms), kept through later changes: how old a new
    /// item is. 0 for an item that was in a published catalogue or known to the model before
    /// its first live change, and in changes stored before it was recorded.
    #[serde(default)]
    pub created_ms: i64,
}

impl LiveItem {
    /// The catalogue item to serve from: withdrawn items are unavailable.
    pub fn effective(&self) -> CatalogueItem {
        let mut item = self.item.clone();
        if self.withdrawn {
            item.available = false;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_replaces_the_fields_it_gives() {
        let mut base = CatalogueItem::new("1");
        base.title = Some("Old".into());
        base.categories = vec!["a".into()];
        base.expires_at = Some(100);
        base.attributes
            .insert("price".into(), AttributeValue::Number(5.0));
        base.attributes
            .insert("brand".into(), AttributeValue::Text("x".into()));
        let p: ItemPatch = serde_json::from_str(
            r#"{"available": false, "expiresAt": null, "attributes": {"price": 7, "brand": null, "new": "y"}}"#,
        )
        .unwrap();
        let got = p.apply("1", Some(&base)).unwrap();
        assert!(!got.available);
        assert_eq!(got.title.as_deref(), Some("Old"));
        assert_eq!(got.categories, ["a"]);
        assert_eq!(got.expires_at, None);
        assert_eq!(got.attributes["price"], AttributeValue::Number(7.0));
        assert!(!got.attributes.contains_key("brand"));
        assert_eq!(got.attributes["new"], AttributeValue::Text("y".into()));
        // Without a base the item starts available and bare.
        let fresh: ItemPatch =
            serde_json::from_str(r#"{"title": "New", "expiresAt": "2027-01-01T00:00:00Z"}"#)
                .unwrap();
        let item = fresh.apply("2", None).unwrap();
        assert_eq!((item.item_id.as_str(), item.available), ("2", true));
        assert!(item.expires_at.is_some());
        let bad: ItemPatch = serde_json::from_str(r#"{"expiresAt": "soon"}"#).unwrap();
        assert_eq!(bad.apply("3", None).unwrap_err().0, "expiresAt");
        assert!(serde_json::from_str::<ItemPatch>(r#"{"colour": 1}"#).is_err());
    }
}
