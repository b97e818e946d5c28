//! The item catalogue: what a shop knows about its items besides interactions (titles,
//! categories, availability, an expiry time, free attributes), read from the file the shop
//! exports and stored with each published version.
//!
//! Two input forms, told apart by the first non-blank character:
//! - **JSON Lines** (`{` first): one object per line,
//!   `{"itemId", "title", "categories": [], "available", "expiresAt", "attributes": {}}`; only
//!   `itemId` is required, unknown fields are errors;
//! - **CSV or TSV with a header** (a tab in the header line means TSV): the columns `itemId`
//!   (also `item_id`, `item`, `movieId`, `id`), `title`, `categories` (values separated by `|`),
//!   `available` (`true`/`false`, also `1`/`0`, `yes`/`no`) and `expiresAt` (RFC 3339); every
//!   other column becomes an attribute, a number where the value parses as one. Empty cells
//!   are absent values.
//!
//! A bad row stops the read with `FILE:LINE` and what is wrong; an item listed twice names
//! both lines. Items default to available and never expire.

pub mod filter;
pub mod live;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use crate::ingest::read_records;

/// An attribute value: a number where the input had one, text otherwise.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A finite number.
    Number(f64),
    /// A yes/no value (JSON Lines only).
    Bool(bool),
    /// Anything else.
    Text(String),
}

/// One item of the catalogue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueItem {
    /// External item id.
    pub item_id: String,
    /// Display title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Categories (genres, departments), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Whether the item may be recommended at all (sold out, withdrawn: `false`).
    #[serde(default = "yes")]
    pub available: bool,
    /// When the item stops being recommendable, as epoch seconds (`expiresAt` in RFC 3339 on
    /// input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Further attributes by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttributeValue>,
}

fn yes() -> bool {
    true
}

impl CatalogueItem {
    /// An available item with no other information.
    pub fn new(item_id: impl Into<String>) -> Self {
        CatalogueItem {
            item_id: item_id.into(),
            title: None,
            categories: Vec::new(),
            available: true,
            expires_at: None,
            attributes: BTreeMap::new(),
        }
    }

    /// Whether the item may be served at `now_secs` (epoch seconds): available and not expired.
    pub fn servable_at(&self, now_secs: i64) -> bool {
        self.available && self.expires_at.is_none_or(|t| now_secs < t)
    }
}

/// The catalogue: items in input order, with an index by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    items: Vec<CatalogueItem>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// A catalogue of `items`; a later item with the same id replaces an earlier one.
    pub fn from_items(items: impl IntoIterator<Item = CatalogueItem>) -> Self {
        let mut c = Catalogue::default();
        for item in items {
            c.upsert(item);
        }
        c
    }

    /// Adds an item, or replaces the one with the same id.
    pub fn upsert(&mut self, item: CatalogueItem) {
        match self.index.get(&item.item_id) {
            Some(&i) => self.items[i] = item,
            None => {
                self.index.insert(item.item_id.clone(), self.items.len());
                self.items.push(item);
            }
        }
    }

    /// The item with this id.
    pub fn get(&self, item_id: &str) -> Option<&CatalogueItem> {
        self.index.get(item_id).map(|&i| &self.items[i])
    }

    /// Every item, in input order.
    pub fn items(&self) -> &[CatalogueItem] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `item_id` may be served at `now_secs`: items the catalogue does not list are
    /// servable (a catalogue restricts what it names; it is not an allow-list).
    pub fn servable(&self, item_id: &str, now_secs: i64) -> bool {
        self.get(item_id).is_none_or(|i| i.servable_at(now_secs))
    }

    /// Titles by item id, for the items that have one.
    pub fn titles(&self) -> HashMap<String, String> {
        self.items
            .iter()
            .filter_map(|i| Some((i.item_id.clone(), i.title.clone()?)))
            .collect()
    }

    /// The catalogue as JSON Lines (the stored form, and the input form).
    pub fn to_json_lines(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.items.len() * 96);
        for item in &self.items {
            serde_json::to_writer(&mut out, item).expect("catalogue items serialise");
            out.push(b'\n');
        }
        out
    }

    /// Reads the stored form back (see [`Catalogue::to_json_lines`]).
    pub fn from_json_lines(bytes: &[u8]) -> Result<Self, CatalogueError> {
        parse(bytes, "stored catalogue")
    }
}

/// Why a catalogue could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("{source_name}: {source}")]
    Io {
        /// File or stream.
        source_name: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{source_name}:{line}: {message}")]
    Row {
        /// File or stream.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file has no header or no items.
    #[error("{source_name}: {message}")]
    File {
        /// File or stream.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a catalogue file (JSON Lines, CSV or TSV).
pub fn read_catalogue(path: &Path) -> Result<Catalogue, CatalogueError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CatalogueError::Io {
        source_name: name.clone(),
        source,
    })?;
    parse(&bytes, &name)
}

/// Reads a catalogue from any reader (a blob download); `source_name` names it in errors.
pub fn read_catalogue_from(
    mut reader: impl Read,
    source_name: &str,
) -> Result<Catalogue, CatalogueError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| CatalogueError::Io {
            source_name: source_name.to_owned(),
            source,
        })?;
    parse(&bytes, source_name)
}

/// Parses catalogue bytes in either form.
pub fn parse(bytes: &[u8], source_name: &str) -> Result<Catalogue, CatalogueError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let items = match first {
        None => {
            return Err(CatalogueError::File {
                source_name: source_name.to_owned(),
                message: "no items".into(),
            })
        }
        Some(b'{') => parse_json_lines(body, source_name)?,
        Some(_) => parse_delimited(body, source_name)?,
    };
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (line, item) in &items {
        if let Some(first) = seen.insert(item.item_id.clone(), *line) {
            return Err(CatalogueError::Row {
                source_name: source_name.to_owned(),
                line: *line,
                message: format!(
                    "item {:?} is listed again (first on line {first})",
                    item.item_id
                ),
            });
        }
    }
    Ok(Catalogue::from_items(items.into_iter().map(|(_, i)| i)))
}

/// The JSON Lines form as written by people: `expiresAt` in RFC 3339.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonItem {
    item_id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default = "yes")]
    available: bool,
    #[serde(default)]
    expires_at: Option<serde_json::Value>,
    #[serde(default)]
    attributes: BTreeMap<String, AttributeValue>,
}

fn parse_json_lines(
    body: &[u8],
    source_name: &str,
) -> Result<Vec<(usize, CatalogueItem)>, CatalogueError> {
    let row = |line: usize, message: String| CatalogueError::Row {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut out = Vec::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let j: JsonItem = serde_json::from_slice(raw).map_err(|e| row(line, e.to_string()))?;
        let item_id = check_id(&j.item_id).map_err(|m| row(line, m))?;
        let expires_at = match j.expires_at {
            None | Some(serde_json::Value::Null) => None,
            // The stored form keeps epoch seconds; people write RFC 3339.
            Some(serde_json::Value::Number(n)) => Some(
                n.as_i64()
                    .ok_or_else(|| row(line, format!("expiresAt {n} is not whole seconds")))?,
            ),
            Some(serde_json::Value::String(s)) => {
                Some(parse_rfc3339(&s).map_err(|m| row(line, m))?)
            }
            Some(other) => {
                return Err(row(
                    line,
                    format!("expiresAt must be an RFC 3339 time, got {other}"),
                ))
            }
        };
        if let Some((k, _)) = j
            .attributes
            .iter()
            .find(|(_, v)| matches!(v, AttributeValue::Number(n) if !n.is_finite()))
        {
            return Err(row(line, format!("attribute {k:?} is not a finite number")));
        }
        out.push((
            line,
            CatalogueItem {
                item_id,
                title: j.title.filter(|t| !t.trim().is_empty()),
                categories: clean_categories(j.categories),
                available: j.available,
                expires_at,
                attributes: j.attributes,
            },
        ));
    }
    Ok(out)
}

const ID_COLUMNS: &[&str] = &[
    "itemid",
    "item_id",
    "item",
    "movieid",
    "id",
    "item_id:token",
];

fn parse_delimited(
    body: &[u8],
    source_name: &str,
) -> Result<Vec<(usize, CatalogueItem)>, CatalogueError> {
    let header_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = if header_line.contains(&b'\t') {
        b'\t'
    } else {
        b','
    };
    let records = read_records(body, delimiter, source_name).map_err(|e| CatalogueError::File {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let mut records = records.into_iter();
    let Some((header_at, header)) = records.next() else {
        return Err(CatalogueError::File {
            source_name: source_name.to_owned(),
            message: "no header line".into(),
        });
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    let find = |wanted: &[&str]| {
        names
            .iter()
            .position(|n| wanted.contains(&n.to_ascii_lowercase().as_str()))
    };
    let id_col = find(ID_COLUMNS).ok_or_else(|| CatalogueError::Row {
        source_name: source_name.to_owned(),
        line: header_at,
        message: format!(
            "the header has no itemId column (found: {})",
            names.join(", ")
        ),
    })?;
    let title_col = find(&["title", "name"]);
    let cat_col = find(&["categories", "category", "genres"]);
    let avail_col = find(&["available"]);
    let exp_col = find(&["expiresat", "expires_at"]);
    let known = [Some(id_col), title_col, cat_col, avail_col, exp_col];
    let mut out = Vec::new();
    for (line, fields) in records {
        let row = |message: String| CatalogueError::Row {
            source_name: source_name.to_owned(),
            line,
            message,
        };
        if fields.len() != names.len() {
            return Err(row(format!(
                "{} fields, the header has {}",
                fields.len(),
                names.len()
            )));
        }
        let cell = |c: Option<usize>| c.map(|c| fields[c].trim()).filter(|v| !v.is_empty());
        let item_id = check_id(&fields[id_col]).map_err(row)?;
        let available = match cell(avail_col) {
            None => true,
            Some(v) => parse_bool(v)
                .ok_or_else(|| row(format!("available must be true or false, got {v:?}")))?,
        };
        let expires_at = cell(exp_col).map(parse_rfc3339).transpose().map_err(row)?;
        let categories = cell(cat_col)
            .map(|v| clean_categories(v.split('|').map(str::to_owned).collect()))
            .unwrap_or_default();
        let mut attributes = BTreeMap::new();
        for (c, name) in names.iter().enumerate() {
            if known.contains(&Some(c)) {
                continue;
            }
            if let Some(v) = cell(Some(c)) {
                let value = match v.parse::<f64>() {
                    Ok(n) if n.is_finite() => AttributeValue::Number(n),
                    _ => AttributeValue::Text(v.to_owned()),
                };
                attributes.insert(name.clone(), value);
            }
        }
        out.push((
            line,
            CatalogueItem {
                item_id,
                title: cell(title_col).map(str::to_owned),
                categories,
                available,
                expires_at,
                attributes,
            },
        ));
    }
    Ok(out)
}

/// The item id of a catalogue row, trimmed as every reader's fields are, checked against
/// [`crate::ids`]' rule.
fn check_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    crate::ids::check(crate::ids::IdKind::Item, id).map_err(|e| format!("itemId: {}", e.0))?;
    Ok(id.to_owned())
}

/// Categories trimmed, without empty ones and repeats, in their first order. Linear: a
/// hash set of those seen (a long list must not cost its square).
fn clean_categories(raw: Vec<String>) -> Vec<String> {
    let mut seen: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(raw.len());
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for c in raw {
        let c = c.trim();
        if !c.is_empty() && seen.insert(c.to_owned()) {
            out.push(c.to_owned());
        }
    }
    out
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Epoch seconds of an RFC 3339 time (`2026-12-31T23:59:59Z`, with an offset or fractions).
pub fn parse_rfc3339(v: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("expiresAt {v:?} is not an RFC 3339 time ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Catalogue, CatalogueError> {
        parse(text.as_bytes(), "items.csv")
    }

    #[test]
    fn csv_with_categories_availability_expiry_and_attributes() {
        let c = read(
            "itemId,title,categories,available,expiresAt,price,brand\n\
             1,Toy Story (1995),Animation|Children's|Comedy,true,,9.99,Pixar\n\
             2,\"Heat, The\",Action,false,2026-12-31T23:59:59Z,,\n\
             3,,,,,12,\n",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        let toy = c.get("1").unwrap();
        assert_eq!(toy.title.as_deref(), Some("Toy Story (1995)"));
        assert_eq!(toy.categories, ["Animation", "Children's", "Comedy"]);
        assert_eq!(toy.attributes["price"], AttributeValue::Number(9.99));
        assert_eq!(
            toy.attributes["brand"],
            AttributeValue::Text("Pixar".into())
        );
        let heat = c.get("2").unwrap();
        assert_eq!(heat.title.as_deref(), Some("Heat, The"));
        assert!(!heat.available);
        // 2026-12-31T23:59:59Z, computed independently: 20818 days after 1970-01-01.
        assert_eq!(heat.expires_at, Some(20_818 * 86_400 + 86_399));
        assert!(heat.attributes.is_empty());
        let three = c.get("3").unwrap();
        assert!(three.available && three.title.is_none() && three.categories.is_empty());
        assert_eq!(c.titles().len(), 2);
    }

    #[test]
    fn tsv_and_json_lines_give_the_same_catalogue() {
        let tsv = read("item_id\ttitle\tgenres\n7\tAlien\tHorror|Sci-Fi\n").unwrap();
        let jsonl =
            read("{\"itemId\":\"7\",\"title\":\"Alien\",\"categories\":[\"Horror\",\"Sci-Fi\"]}\n")
                .unwrap();
        assert_eq!(tsv, jsonl);
        // The stored form reads back to the same catalogue.
        assert_eq!(
            Catalogue::from_json_lines(&jsonl.to_json_lines()).unwrap(),
            jsonl
        );
    }

    #[test]
    fn servability_follows_availability_and_expiry() {
        let c = read(
            "{\"itemId\":\"a\"}\n{\"itemId\":\"b\",\"available\":false}\n\
             {\"itemId\":\"c\",\"expiresAt\":\"1970-01-01T00:01:40Z\"}\n",
        )
        .unwrap();
        assert!(c.servable("a", 1_000));
        assert!(!c.servable("b", 0));
        assert!(c.servable("c", 99) && !c.servable("c", 100));
        assert!(c.servable("not-listed", 0));
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let cases = [
            (
                "itemId,available\n1,true\n2,maybe\n",
                "items.csv:3: available must be true or false",
            ),
            (
                "itemId,expiresAt\n1,tomorrow\n",
                "items.csv:2: expiresAt \"tomorrow\"",
            ),
            (
                "itemId,title\n1,a\n1,b\n",
                "items.csv:3: item \"1\" is listed again (first on line 2)",
            ),
            ("title\nx\n", "items.csv:1: the header has no itemId column"),
            (
                "itemId,title\n1\n",
                "items.csv:2: 1 fields, the header has 2",
            ),
            (
                "{\"itemId\":\"1\"}\n{\"itemId\":\"2\",\"colour\":1}\n",
                "items.csv:2: unknown field `colour`",
            ),
            ("{\"itemId\":\"\"}\n", "items.csv:1: itemId: empty item id"),
            (
                "{\"itemId\":\"trending\"}\n",
                "items.csv:1: itemId: item id \"trending\" is reserved",
            ),
            (
                "itemId,title\na\u{1}b,x\n",
                "items.csv:2: itemId: item id \"a\\u{1}b\" contains",
            ),
            ("", "items.csv: no items"),
        ];
        for (text, want) in cases {
            let err = read(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }
}
