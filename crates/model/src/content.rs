//! Content-based item factors: a ridge regression from an item's catalogue record to its ALS
//! factor, so that an item nobody has touched yet still has a factor to score with
//! ("attribute-to-feature mapping", Gantner et al., ICDM 2010).
//!
//! Fitted at train time on the items the model knows; applied to any catalogue record.
//!
//! # Features
//! Each record becomes a sparse vector of three groups, each scaled so that no group drowns
//! the others however many entries it has:
//! - **categorical**, one entry per category (`category:drama`) and per text or yes/no
//!   attribute (`brand=acme`, `organic=true`), kept when at least [`MIN_SUPPORT`] fitted items
//!   carry it (at most [`MAX_VOCABULARY`], the most frequent); the group has unit length;
//! - **title tokens**, hashed into [`TITLE_BUCKETS`] buckets (FNV-1a: a fixed function, so a
//!   stored map reads titles the way it was fitted). A token is a run of letters and digits,
//!   lower-cased; in scripts written without spaces (Han, Hiragana, Katakana, Thai) every
//!   character is a token. The group has unit length;
//! - **numeric attributes** present in at least [`MIN_SUPPORT`] fitted items, each mapped
//!   through `sign(x)·ln(1 + |x|)` (prices and counts are skewed), standardised with the fitted
//!   items' mean and deviation and clipped to ±3; a missing value is the mean (0).
//!
//! An item with no features at all gets the mean factor of the fitted items.
//!
//! # Fit
//! Centred factors `V − v̄` are regressed on the features with an L2 penalty λ, in the primal
//! (`(XᵀX + λI) W = Xᵀ(V − v̄)`: the feature dimension is capped, the item count is not). λ is
//! chosen from [`LAMBDAS`] by the factor error on a fifth of the items held out of the fit,
//! then the map is fitted again on all of them.

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2};

use crate::catalogue::{AttributeValue, Catalogue, CatalogueItem};
use crate::linalg;

/// Fewest fitted items a categorical or numeric feature must appear in to be kept: a feature
/// of one item only memorises that item's factor.
pub const MIN_SUPPORT: usize = 2;
/// Most categorical features kept (the most frequent).
pub const MAX_VOCABULARY: usize = 1024;
/// Hash buckets of title tokens.
pub const TITLE_BUCKETS: usize = 256;
/// Candidate L2 penalties.
pub const LAMBDAS: [f64; 5] = [0.1, 1.0, 10.0, 100.0, 1000.0];

/// A fitted map from catalogue records to item factors (`content_map.json` in a model
/// directory).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentMap {
    /// Categorical features, in weight-row order.
    pub vocabulary: Vec<String>,
    /// Numeric attributes, in weight-row order after the vocabulary.
    pub numeric: Vec<NumericFeature>,
    /// Title hash buckets, the last weight rows.
    pub title_buckets: usize,
    /// The chosen L2 penalty.
    pub lambda: f64,
    /// Factors per item.
    pub factors: usize,
    /// Items the map was fitted on.
    pub fitted_items: usize,
    /// Fitted items that had at least one feature.
    pub items_with_features: usize,
    /// Mean factor of the fitted items (what an item without features gets).
    pub mean: Vec<f32>,
    /// Weights, `dimensions × factors` row-major.
    pub weights: Vec<f32>,
}

/// A numeric attribute and how it is standardised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NumericFeature {
    /// Attribute name.
    pub name: String,
    /// Mean of the log-mapped value over the fitted items that have it.
    pub mean: f64,
    /// Its standard deviation.
    pub std: f64,
}

/// Why a map could not be fitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// No item to fit on.
    #[error("no items to fit the content map on")]
    NoItems,
    /// The factors and the records disagree in count.
    #[error("{records} catalogue records for {factors} item factors")]
    Shape {
        /// Records given.
        records: usize,
        /// Factor rows given.
        factors: usize,
    },
}

/// The categorical features of a record, as their names.
fn categorical(item: &CatalogueItem) -> impl Iterator<Item = String> + '_ {
    let categories = item
        .categories
        .iter()
        .map(|c| format!("category:{}", c.trim().to_lowercase()));
    let attributes = item
        .attributes
        .iter()
        .filter_map(|(name, value)| match value {
            AttributeValue::Text(t) => Some(format!("{name}={}", t.trim().to_lowercase())),
            AttributeValue::Bool(b) => Some(format!("{name}={b}")),
            AttributeValue::Number(_) => None,
        });
    categories.chain(attributes)
}

fn numeric_value(item: &CatalogueItem, name: &str) -> Option<f64> {
    match item.attributes.get(name)? {
        AttributeValue::Number(x) if x.is_finite() => Some(x.signum() * x.abs().ln_1p()),
        _ => None,
    }
}

/// Whether `c` belongs to a script written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F        // Thai
        | 0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF      // Han extension A
        | 0x4E00..=0x9FFF      // Han
        | 0xF900..=0xFAFF      // Han compatibility
        | 0x20000..=0x2FFFF) // Han extensions B on
}

/// The title's tokens (see the module doc).
pub fn title_tokens(title: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() && !unspaced(c) {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if unspaced(c) {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// FNV-1a, 64 bits: fixed for good, so a stored map hashes titles as it was fitted.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Scales `entries` to unit length.
fn unit(entries: &mut [(usize, f64)]) {
    let norm = entries.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        entries.iter_mut().for_each(|(_, v)| *v /= norm);
    }
}

/// The feature layout a map reads records with.
struct Layout<'a> {
    index: HashMap<&'a str, usize>,
    numeric: &'a [NumericFeature],
    title_buckets: usize,
}

impl<'a> Layout<'a> {
    fn new(vocabulary: &'a [String], numeric: &'a [NumericFeature], title_buckets: usize) -> Self {
        Layout {
            index: vocabulary
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i))
                .collect(),
            numeric,
            title_buckets,
        }
    }

    fn dimensions(&self) -> usize {
        self.index.len() + self.numeric.len() + self.title_buckets
    }

    /// The record's sparse feature vector (index, value), indices ascending within groups.
    fn features(&self, item: &CatalogueItem) -> Vec<(usize, f64)> {
        let mut out: Vec<(usize, f64)> = categorical(item)
            .filter_map(|name| self.index.get(name.as_str()).map(|&i| (i, 1.0)))
            .collect();
        out.sort_unstable_by_key(|e| e.0);
        out.dedup_by_key(|e| e.0);
        unit(&mut out);
        let base = self.index.len();
        for (j, f) in self.numeric.iter().enumerate() {
            if let Some(x) = numeric_value(item, &f.name) {
                out.push((base + j, ((x - f.mean) / f.std).clamp(-3.0, 3.0)));
            }
        }
        if self.title_buckets > 0 {
            let base = base + self.numeric.len();
            let mut counts: HashMap<usize, f64> = HashMap::new();
            for token in title_tokens(item.title.as_deref().unwrap_or("")) {
                let bucket = (fnv1a(token.as_bytes()) % self.title_buckets as u64) as usize;
                *counts.entry(base + bucket).or_default() += 1.0;
            }
            let mut title: Vec<(usize, f64)> = counts.into_iter().collect();
            title.sort_unstable_by_key(|e| e.0);
            unit(&mut title);
            out.extend(title);
        }
        out
    }
}

impl ContentMap {
    /// Fits the map on `records[i]` (a record, or `None` for an item the catalogue lacks)
    /// against `factors` row `i`.
    pub fn fit(
        records: &[Option<&CatalogueItem>],
        factors: ArrayView2<'_, f32>,
    ) -> Result<ContentMap, ContentError> {
        if records.len() != factors.nrows() {
            return Err(ContentError::Shape {
                records: records.len(),
                factors: factors.nrows(),
            });
        }
        if records.is_empty() {
            return Err(ContentError::NoItems);
        }
        let (vocabulary, numeric) = feature_names(records);
        let layout = Layout::new(&vocabulary, &numeric, TITLE_BUCKETS);
        let rows: Vec<Vec<(usize, f64)>> = records
            .iter()
            .map(|r| r.map(|item| layout.features(item)).unwrap_or_default())
            .collect();
        let n = records.len();
        let k = factors.ncols();
        let mut mean = vec![0f64; k];
        for row in factors.rows() {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred = |i: usize| -> Vec<f64> {
            factors
                .row(i)
                .iter()
                .zip(&mean)
                .map(|(&v, m)| f64::from(v) - m)
                .collect()
        };
        let targets: Vec<Vec<f64>> = (0..n).map(centred).collect();
        let d = layout.dimensions();
        // λ by the factor error on every fifth item, fitted on the others.
        let (fit_rows, check_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 4);
        let lambda = if check_rows.is_empty() || fit_rows.is_empty() {
            LAMBDAS[2]
        } else {
            let mut best = (f64::INFINITY, LAMBDAS[2]);
            for lambda in LAMBDAS {
                let w = ridge(&rows, &targets, &fit_rows, d, k, lambda);
                let error: f64 = check_rows
                    .iter()
                    .map(|&i| {
                        let p = predict(&w, &rows[i], k);
                        p.iter()
                            .zip(&targets[i])
                            .map(|(a, b)| (a - b).powi(2))
                            .sum::<f64>()
                    })
                    .sum();
                if error < best.0 {
                    best = (error, lambda);
                }
            }
            best.1
        };
        let all: Vec<usize> = (0..n).collect();
        let weights = ridge(&rows, &targets, &all, d, k, lambda);
        Ok(ContentMap {
            items_with_features: rows.iter().filter(|r| !r.is_empty()).count(),
            vocabulary,
            numeric,
            title_buckets: TITLE_BUCKETS,
            lambda,
            factors: k,
            fitted_items: n,
            mean: mean.iter().map(|&m| m as f32).collect(),
            weights: weights.iter().map(|&w| w as f32).collect(),
        })
    }

    /// Fits the map on a model's item factors and their records in `catalogue`.
    pub fn for_model(
        model: &crate::model::Model,
        catalogue: &Catalogue,
    ) -> Result<ContentMap, ContentError> {
        let records: Vec<Option<&CatalogueItem>> = model
            .items
            .ids()
            .iter()
            .map(|id| catalogue.get(id))
            .collect();
        ContentMap::fit(&records, model.item_factors.view())
    }

    /// The factor of a record (`None`: an item the catalogue lacks, which gets the mean).
    pub fn factor(&self, item: Option<&CatalogueItem>) -> Vec<f32> {
        let layout = Layout::new(&self.vocabulary, &self.numeric, self.title_buckets);
        self.factor_with(&layout, item)
    }

    /// The factors of `records`, one row each, `records × factors`: the feature layout is
    /// built once for all of them.
    pub fn factors<'r>(
        &self,
        records: impl ExactSizeIterator<Item = Option<&'r CatalogueItem>>,
    ) -> Array2<f32> {
        let layout = Layout::new(&self.vocabulary, &self.numeric, self.title_buckets);
        let mut out = Array2::zeros((records.len(), self.factors));
        for (mut row, record) in out.rows_mut().into_iter().zip(records) {
            let v = self.factor_with(&layout, record);
            row.iter_mut().zip(v).for_each(|(o, v)| *o = v);
        }
        out
    }

    /// The factors of `items` (catalogue records looked up by id), `items × factors`.
    pub fn factors_for(&self, ids: &[&str], catalogue: &Catalogue) -> Array2<f32> {
        self.factors(ids.iter().map(|id| catalogue.get(id)))
    }

    fn factor_with(&self, layout: &Layout<'_>, item: Option<&CatalogueItem>) -> Vec<f32> {
        let mut out = self.mean.clone();
        let Some(item) = item else { return out };
        let k = self.factors;
        for (j, x) in layout.features(item) {
            let row = &self.weights[j * k..(j + 1) * k];
            out.iter_mut()
                .zip(row)
                .for_each(|(o, &w)| *o += (x as f32) * w);
        }
        out
    }

    /// Checks that the weights fit the layout (a map read from a file).
    pub fn check(&self) -> Result<(), String> {
        let d = self.vocabulary.len() + self.numeric.len() + self.title_buckets;
        if self.weights.len() != d * self.factors || self.mean.len() != self.factors {
            return Err(format!(
                "{} weights and {} means for {d} features × {} factors",
                self.weights.len(),
                self.mean.len(),
                self.factors
            ));
        }
        if self
            .numeric
            .iter()
            .any(|f| !(f.std > 0.0) || !f.mean.is_finite())
        {
            return Err("a numeric feature without a positive deviation".into());
        }
        Ok(())
    }
}

/// The categorical features with enough support (most frequent first, then by name) and the
/// numeric attributes with enough support and spread.
fn feature_names(records: &[Option<&CatalogueItem>]) -> (Vec<String>, Vec<NumericFeature>) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut numbers: HashMap<&str, Vec<f64>> = HashMap::new();
    for item in records.iter().flatten() {
        let mut names: Vec<String> = categorical(item).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            *counts.entry(name).or_default() += 1;
        }
        for (name, value) in &item.attributes {
            if let AttributeValue::Number(_) = value {
                if let Some(x) = numeric_value(item, name) {
                    numbers.entry(name.as_str()).or_default().push(x);
                }
            }
        }
    }
    let mut vocabulary: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|(_, c)| *c >= MIN_SUPPORT)
        .collect();
    vocabulary.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    vocabulary.truncate(MAX_VOCABULARY);
    let mut numeric: Vec<NumericFeature> = numbers
        .into_iter()
        .filter(|(_, xs)| xs.len() >= MIN_SUPPORT)
        .filter_map(|(name, xs)| {
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            (var > 1e-12).then(|| NumericFeature {
                name: name.to_owned(),
                mean,
                std: var.sqrt(),
            })
        })
        .collect();
    numeric.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    (vocabulary.into_iter().map(|(s, _)| s).collect(), numeric)
}

/// Ridge weights (`d × k`, row-major) from the rows `use_rows` of `x` and `y`.
fn ridge(
    x: &[Vec<(usize, f64)>],
    y: &[Vec<f64>],
    use_rows: &[usize],
    d: usize,
    k: usize,
    lambda: f64,
) -> Vec<f64> {
    let mut a = vec![0f64; d * d];
    let mut b = vec![0f64; d * k];
    for &i in use_rows {
        let row = &x[i];
        for &(p, xp) in row {
            for &(q, xq) in row {
                a[p * d + q] += xp * xq;
            }
            for (c, &t) in y[i].iter().enumerate() {
                b[p * k + c] += xp * t;
            }
        }
    }
    for p in 0..d {
        a[p * d + p] += lambda;
    }
    // Always positive definite (λ > 0): the factor exists.
    let factored = linalg::cholesky_factor(&mut a, d);
    debug_assert!(factored);
    let mut column = vec![0f64; d];
    for c in 0..k {
        for p in 0..d {
            column[p] = b[p * k + c];
        }
        linalg::cholesky_substitute(&a, &mut column, d);
        for p in 0..d {
            b[p * k + c] = column[p];
        }
    }
    b
}

fn predict(w: &[f64], row: &[(usize, f64)], k: usize) -> Vec<f64> {
    let mut out = vec![0f64; k];
    for &(p, x) in row {
        out.iter_mut()
            .zip(&w[p * k..(p + 1) * k])
            .for_each(|(o, &wv)| *o += x * wv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CatalogueItem;

    fn item(id: &str, title: &str, categories: &[&str]) -> CatalogueItem {
        let mut it = CatalogueItem::new(id);
        it.title = Some(title.into());
        it.categories = categories.iter().map(|c| c.to_string()).collect();
        it
    }

    #[test]
    fn tokens_split_words_and_unspaced_scripts() {
        assert_eq!(title_tokens("Toy Story (1995)"), ["toy", "story", "1995"]);
        assert_eq!(
            title_tokens("Amélie — Le Fabuleux"),
            ["amélie", "le", "fabuleux"]
        );
        assert_eq!(
            title_tokens("千と千尋の神隠し"),
            ["千", "と", "千", "尋", "の", "神", "隠", "し"]
        );
        assert_eq!(title_tokens("Москва 2"), ["москва", "2"]);
        assert!(title_tokens("  ").is_empty());
    }

    /// The primal ridge solve agrees with the dual form `W = Xᵀ (X Xᵀ + λI)⁻¹ Y`, computed
    /// independently with dense matrices.
    #[test]
    fn ridge_matches_the_dual_form() {
        let x: Vec<Vec<(usize, f64)>> = vec![
            vec![(0, 1.0), (2, 0.5)],
            vec![(1, 1.0)],
            vec![(0, 0.3), (1, 0.7), (3, 2.0)],
            vec![(2, 1.0), (3, -1.0)],
            vec![],
        ];
        let y: Vec<Vec<f64>> = vec![
            vec![1.0, -1.0],
            vec![0.5, 0.0],
            vec![-0.2, 0.8],
            vec![0.0, 1.5],
            vec![0.3, 0.3],
        ];
        let (n, d, k, lambda) = (5, 4, 2, 0.7);
        let w = ridge(&x, &y, &[0, 1, 2, 3, 4], d, k, lambda);
        let dense = |i: usize| {
            let mut r = vec![0f64; d];
            for &(p, v) in &x[i] {
                r[p] = v;
            }
            r
        };
        let xs: Vec<Vec<f64>> = (0..n).map(dense).collect();
        let mut gram = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                gram[i * n + j] = (0..d).map(|p| xs[i][p] * xs[j][p]).sum::<f64>()
                    + if i == j { lambda } else { 0.0 };
            }
        }
        for c in 0..k {
            let mut alpha: Vec<f64> = (0..n).map(|i| y[i][c]).collect();
            assert!(linalg::cholesky_solve(&mut gram.clone(), &mut alpha, n));
            for p in 0..d {
                let want: f64 = (0..n).map(|i| xs[i][p] * alpha[i]).sum();
                assert!(
                    (w[p * k + c] - want).abs() < 1e-9,
                    "{p},{c}: {} vs {want}",
                    w[p * k + c]
                );
            }
        }
    }

    /// Factors that are a linear function of the categories are recovered for records the
    /// map never saw, and a record without features gets the mean.
    #[test]
    fn a_linear_truth_is_recovered_for_unseen_records() {
        let genre_factor = |g: &str| match g {
            "a" => [1.0f32, 0.0],
            "b" => [0.0, 1.0],
            _ => [-1.0, -1.0],
        };
        let mut items = Vec::new();
        let mut rows = Vec::new();
        for i in 0..60 {
            let g = ["a", "b", "c"][i % 3];
            items.push(item(&format!("i{i}"), "", &[g]));
            rows.extend(genre_factor(g));
        }
        let factors = Array2::from_shape_vec((60, 2), rows).unwrap();
        let records: Vec<Option<&CatalogueItem>> = items.iter().map(Some).collect();
        let map = ContentMap::fit(&records, factors.view()).unwrap();
        map.check().unwrap();
        assert_eq!(map.fitted_items, 60);
        assert_eq!(map.vocabulary.len(), 3);
        for g in ["a", "b", "c"] {
            let v = map.factor(Some(&item("new", "", &[g])));
            let want = genre_factor(g);
            assert!(
                (v[0] - want[0]).abs() < 0.1 && (v[1] - want[1]).abs() < 0.1,
                "{g}: {v:?} vs {want:?}"
            );
        }
        let mean = map.factor(None);
        assert!(
            (mean[0] - 0.0).abs() < 1e-5 && (mean[1] - 0.0).abs() < 1e-5,
            "{mean:?}"
        );
        assert_eq!(map.factor(Some(&item("new", "", &["unknown"]))), mean);
    }

    #[test]
    fn numeric_and_text_attributes_are_features() {
        let mut items = Vec::new();
        let mut rows = Vec::new();
        for i in 0..40 {
            let mut it = CatalogueItem::new(format!("i{i}"));
            let price = 1.0 + i as f64;
            it.attributes
                .insert("price".into(), AttributeValue::Number(price));
            it.attributes.insert(
                "brand".into(),
                AttributeValue::Text(if i % 2 == 0 { "Acme" } else { "Zed" }.into()),
            );
            rows.extend([price.ln_1p() as f32, if i % 2 == 0 { 1.0 } else { -1.0 }]);
            items.push(it);
        }
        let factors = Array2::from_shape_vec((40, 2), rows).unwrap();
        let records: Vec<Option<&CatalogueItem>> = items.iter().map(Some).collect();
        let map = ContentMap::fit(&records, factors.view()).unwrap();
        assert_eq!(map.numeric.len(), 1);
        assert_eq!(map.vocabulary, ["brand=acme", "brand=zed"]);
        let cheap = map.factor(Some(&items[2]));
        let dear = map.factor(Some(&items[38]));
        assert!(dear[0] > cheap[0], "{cheap:?} {dear:?}");
        assert!(cheap[1] > 0.5 && map.factor(Some(&items[3]))[1] < -0.5);
    }
}
