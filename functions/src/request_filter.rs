//! The catalogue filters a request may carry: `category=A,B` (any of), `excludeCategory=C,D`
//! and `filter=EXPR`, a filter expression (see [`topten_model::catalogue::filter`]) or the name
//! of one defined in `TOPTEN_FILTERS`, its `$parameters` bound from the query string.

use std::collections::HashMap;

use topten_model::catalogue::filter::Filter;
use topten_model::catalogue::CatalogueItem;

use crate::config::NamedFilters;
use crate::error::ApiError;
use crate::servable::Servable;

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
    /// The filters of a query: every `category` and `excludeCategory` value (comma-separated
    /// lists), the `filter` text, and `values`, the query's parameters a filter expression's
    /// `$parameters` are bound from. `None` when the query has no filter.
    pub fn from_parts(
        category: &[&str],
        exclude_category: &[&str],
        filter: Option<&str>,
        values: &[(&str, &str)],
        named: Option<&NamedFilters>,
    ) -> Result<Option<Self>, ApiError> {
        let list = |name: &str, raw: &[&str]| -> Result<Vec<String>, ApiError> {
            let out: Vec<String> = raw
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if out.len() > MAX_CATEGORIES {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!("{name} lists more than {MAX_CATEGORIES} categories"),
                ));
            }
            Ok(out)
        };
        let any_of = list("category", category)?;
        let none_of = list("excludeCategory", exclude_category)?;
        // An empty `filter=` is no filter, as an empty `exclude=` excludes nothing.
        let (expr, params) = match filter.map(str::trim).filter(|t| !t.is_empty()) {
            None => (None, Vec::new()),
            Some(text) => {
                let parsed = expression(text, named)?;
                let params = parsed.params();
                let values: HashMap<String, String> = values
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                let bound = parsed.bind(&values).map_err(|e| {
                    ApiError::bad_request("invalid_filter", format!("filter: {}", e.message))
                })?;
                (Some(bound), params)
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

/// Whether a list route may answer with `item_id`: the catalogue serves it now (`servable`;
/// `None`: no catalogue) and the request's filter, if any, allows it.
pub fn served(servable: Option<&Servable>, filter: Option<&RequestFilter>, item_id: &str) -> bool {
    servable.is_none_or(|s| s.allows(item_id))
        && filter.is_none_or(|f| f.allows(servable.and_then(|s| s.get(item_id)), item_id))
}

/// The filter `text` names (a filter of `TOPTEN_FILTERS`) or is.
fn expression(text: &str, named: Option<&NamedFilters>) -> Result<Filter, ApiError> {
    if let Some(f) = named.and_then(|n| n.get(text)) {
        return Ok(f.clone());
    }
    if is_name(text) {
        // A bare word is the name of a configured filter; say also why it is not an
        // expression (`filter=and` is an operator without operands).
        let as_expression = match Filter::parse(text) {
            Ok(_) => String::new(),
            Err(e) => format!("; as an expression: {e}"),
        };
        return Err(ApiError::bad_request(
            "invalid_filter",
            format!("filter: no filter named {text:?} (TOPTEN_FILTERS){as_expression}"),
        ));
    }
    Filter::parse(text).map_err(|e| ApiError::bad_request("invalid_filter", format!("filter: {e}")))
}

/// A bare name (a named filter), as opposed to an expression.
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}
