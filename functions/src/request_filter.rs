//! The catalogue filters a request may carry: `category=A,B` (any of), `excludeCategory=C,D`
//! and `filter=EXPR`, a filter expression (see [`topten_model::catalogue::filter`]) or the name
//! of one defined in `TOPTEN_FILTERS`, its `$parameters` bound from the query string.

use std::collections::HashMap;

use topten_model::catalogue::filter::Filter;
use topten_model::catalogue::CatalogueItem;

use crate::config::NamedFilters;
use crate::error::ApiError;

/// Most categories one parameter may list.
const MAX_CATEGORIES: usize = 100;

/// A request's filters, ready to test items.
#[derive(Debug, Default)]
pub struct RequestFilter {
    any_of: Vec<String>,
    none_of: Vec<String>,
    expr: Option<Filter>,
    /// The `$parameters` the expression names: query parameters the route then takes.
    params: Vec<String>,
}

impl RequestFilter {
    /// The filters in `query`, or `None` when it has none.
    pub fn from_query(
        query: Option<&str>,
        named: Option<&NamedFilters>,
    ) -> Result<Option<Self>, ApiError> {
        // Most requests carry no filter: skip the parse (this runs on every request).
        let q = query.unwrap_or("");
        if !(q.contains("ategory") || q.contains("filter") || q.contains('%')) {
            return Ok(None);
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let list = |name: &str| -> Result<Vec<String>, ApiError> {
            let mut out = Vec::new();
            for (_, v) in pairs.iter().filter(|(k, _)| k == name) {
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
            if out.len() > MAX_CATEGORIES {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!("{name} lists more than {MAX_CATEGORIES} categories"),
                ));
            }
            Ok(out)
        };
        let any_of = list("category")?;
        let none_of = list("excludeCategory")?;
        // An empty `filter=` is no filter, as an empty `exclude=` excludes nothing.
        let mut params = Vec::new();
        let expr = match pairs
            .iter()
            .find(|(k, v)| k == "filter" && !v.trim().is_empty())
        {
            None => None,
            Some((_, text)) => {
                let text = text.trim();
                let parsed = match named.and_then(|n| n.get(text)) {
                    Some(f) => f.clone(),
                    None if is_name(text) => {
                        // A bare word is the name of a configured filter; say also why it is
                        // not an expression (`filter=and` is an operator without operands).
                        let as_expression = match Filter::parse(text) {
                            Ok(_) => String::new(),
                            Err(e) => format!("; as an expression: {e}"),
                        };
                        return Err(ApiError::bad_request(
                            "invalid_filter",
                            format!(
                                "filter: no filter named {text:?} (TOPTEN_FILTERS){as_expression}"
                            ),
                        ));
                    }
                    None => Filter::parse(text).map_err(|e| {
                        ApiError::bad_request("invalid_filter", format!("filter: {e}"))
                    })?,
                };
                params = parsed.params();
                let values: HashMap<String, String> = pairs.iter().cloned().collect();
                Some(parsed.bind(&values).map_err(|e| {
                    ApiError::bad_request("invalid_filter", format!("filter: {}", e.message))
                })?)
            }
        };
        if any_of.is_empty() && none_of.is_empty() && expr.is_none() {
            return Ok(None);
        }
        Ok(Some(RequestFilter {
            any_of,
            none_of,
            expr,
            params,
        }))
    }

    /// The `$parameters` the filter expression names (taken from the query string).
    pub fn params(&self) -> &[String] {
        &self.params
    }

    /// Checks that every parameter of `query` is one of `known`, `code`, or a `$parameter` of
    /// `filter`: a 400 `invalid_query` naming the first that is not.
    pub fn check_query(
        query: Option<&str>,
        known: &[&str],
        filter: Option<&RequestFilter>,
    ) -> Result<(), ApiError> {
        let extra = filter.map_or(&[][..], RequestFilter::params);
        match topten_edge::request::first_unknown(query, known, extra) {
            Some(name) => Err(topten_edge::request::unknown_parameter(&name, known).into()),
            None => Ok(()),
        }
    }

    /// Whether the item `item_id` passes, as `item` (its catalogue entry, with live changes)
    /// describes it (an item the catalogue does not list has no categories and no
    /// attributes).
    pub fn allows(&self, item: Option<&CatalogueItem>, item_id: &str) -> bool {
        let bare;
        let item = match item {
            Some(i) => i,
            None => {
                bare = CatalogueItem::new(item_id);
                &bare
            }
        };
        (self.any_of.is_empty() || item.categories.iter().any(|c| self.any_of.contains(c)))
            && !item.categories.iter().any(|c| self.none_of.contains(c))
            && self.expr.as_ref().is_none_or(|f| f.matches(item))
    }
}

/// A bare name (a named filter), as opposed to an expression.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}
