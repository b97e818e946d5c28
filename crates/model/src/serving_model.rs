//! What serving needs of a model beyond precomputed lists: item ids, titles and factors, so a
//! handler can fold in a user's fresh interactions (one ALS half-step), score every item and
//! find similar items, without the user factors or the training data.
//!
//! Encoded as `TTS1`, a little-endian u32 length, a JSON header (version, parameters, item ids,
//! titles) and the item factors as little-endian f32 rows. Per-user training histories travel
//! separately ([`encode_history`]) so that only the users being folded in are read.

use std::collections::HashMap;
use std::sync::OnceLock;

use ndarray::Array2;

use crate::als::{fold_in_user, AlsParams, Feedback};
use crate::interactions::IdMap;
use crate::model::Model;
use crate::topk::{self, Scored};

const MAGIC: &[u8; 4] = b"TTS1";

/// The serving view of a model version.
#[derive(Debug)]
pub struct ServingModel {
    /// Version it belongs to.
    pub version: String,
    /// Parameters of the model (fold-in must use the same objective).
    pub params: AlsParams,
    /// Item ids, in factor row order.
    pub items: IdMap,
    /// Display titles, where known.
    pub titles: Vec<Option<String>>,
    /// Items × factors.
    pub item_factors: Array2<f32>,
    /// When the version was published (epoch ms).
    pub created_ms: i64,
    /// Events received at or after this time (epoch ms) are not in the model's training data,
    /// so fold-in adds them to the stored history: 0 for a model trained on files alone (every
    /// live event counts), just after the newest included event for a retrain.
    pub events_after_ms: i64,
    /// Training interactions per item, in factor row order: the popularity behind the
    /// cold-start list, so that list can be refilled past its stored length. Empty in
    /// snapshots written before it was recorded.
    pub item_counts: Vec<u32>,
    /// The model's score spread, the unit of the popularity dial ([`crate::rescoring`]); 0 in
    /// serving models written before it was recorded (the dial then does nothing).
    pub score_scale: f32,
    /// The model's map from catalogue records to item factors ([`crate::content`]), when it
    /// was trained with a catalogue: published with the version, so every backend serves it.
    pub content: Option<crate::content::ContentMap>,
    /// Rows below this were trained; rows from it on are catalogue items the model has no
    /// factor for, scored with their content factor ([`ServingModel::with_catalogue_items`]).
    pub trained_rows: usize,
    /// `XᵀX + λI` over the trained user factors (implicit models only): the part of an item
    /// fold-in's system that every user contributes, stored so that an item's factor can be
    /// solved from the few users who touched it ([`ServingModel::fold_in_item`]). `None` for
    /// explicit models, which need none, and in serving models written before it was recorded.
    pub user_gramian: Option<Array2<f32>>,
    gramian: OnceLock<Option<Array2<f32>>>,
    item_bias: OnceLock<Option<Vec<f32>>>,
    normalized: OnceLock<Array2<f32>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    version: String,
    params: AlsParams,
    items: Vec<String>,
    titles: Vec<Option<String>>,
    factors: usize,
    #[serde(default)]
    created_ms: i64,
    #[serde(default)]
    item_counts: Vec<u32>,
    /// Absent in serving models written before it was recorded: they used `created_ms`.
    #[serde(default)]
    events_after_ms: Option<i64>,
    #[serde(default)]
    score_scale: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<crate::content::ContentMap>,
    /// [`ServingModel::user_gramian`], row-major.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_gramian: Option<Vec<f32>>,
}

/// Why a serving could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid model serving: {0}")]
pub struct ServingModelError(pub String);

/// An encoded serving model's JSON header and factor data, after checking the magic and the
/// header's length.
fn split_encoded(bytes: &[u8]) -> Result<(&[u8], &[u8]), ServingModelError> {
    let bad = |m: &str| ServingModelError(m.to_owned());
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing magic"))?;
    let len = u32::from_le_bytes(
        rest.get(..4)
            .ok_or_else(|| bad("truncated"))?
            .try_into()
            .unwrap(),
    ) as usize;
    let json = rest
        .get(4..4 + len)
        .ok_or_else(|| bad("truncated header"))?;
    Ok((json, &rest[4 + len..]))
}

impl ServingModel {
    /// The serving of a model published as `version`.
    pub fn from_model(
        model: &Model,
        version: &str,
        titles: Option<&HashMap<String, String>>,
    ) -> Self {
        let ids = model.items.ids();
        let mut counts = vec![0u32; ids.len()];
        for &i in &model.seen.indices {
            counts[i as usize] += 1;
        }
        let mut snap = ServingModel::new(
            version.to_owned(),
            model.meta.params.clone(),
            model.items.clone(),
            ids.iter()
                .map(|i| titles.and_then(|t| t.get(i).cloned()))
                .collect(),
            model.item_factors.clone(),
        );
        snap.item_counts = counts;
        snap.events_after_ms = model.meta.events_through_ms.map_or(0, |t| t + 1);
        snap.score_scale = model.meta.score_scale;
        snap.content = model.content.clone();
        snap.trained_rows = model.items.len();
        snap.user_gramian = crate::als::fold_in_gramian(&model.user_factors, &model.meta.params);
        snap
    }

    fn new(
        version: String,
        params: AlsParams,
        items: IdMap,
        titles: Vec<Option<String>>,
        item_factors: Array2<f32>,
    ) -> Self {
        ServingModel {
            version,
            params,
            items,
            titles,
            item_factors,
            created_ms: crate::clock::now_ms(),
            item_counts: Vec::new(),
            events_after_ms: 0,
            score_scale: 0.0,
            content: None,
            trained_rows: 0,
            user_gramian: None,
            gramian: OnceLock::new(),
            item_bias: OnceLock::new(),
            normalized: OnceLock::new(),
        }
    }

    /// Serialises the serving.
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            version: self.version.clone(),
            params: self.params.clone(),
            items: self.items.ids().to_vec(),
            titles: self.titles.clone(),
            factors: self.item_factors.ncols(),
            created_ms: self.created_ms,
            item_counts: self.item_counts.clone(),
            events_after_ms: Some(self.events_after_ms),
            score_scale: self.score_scale,
            content: self.content.clone(),
            user_gramian: self
                .user_gramian
                .as_ref()
                .map(|g| g.iter().copied().collect()),
        };
        let json = serde_json::to_vec(&header).expect("header serialises");
        let mut out = Vec::with_capacity(8 + json.len() + self.item_factors.len() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        for v in self.item_factors.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// The `events_after_ms` of an encoded serving model, from its header alone (what
    /// retention needs to know which events the version folds in, without its factors).
    pub fn decode_events_after_ms(bytes: &[u8]) -> Result<i64, ServingModelError> {
        #[derive(serde::Deserialize)]
        struct Times {
            #[serde(default)]
            created_ms: i64,
            #[serde(default)]
            events_after_ms: Option<i64>,
        }
        let times: Times = Self::decode_header(bytes)?;
        Ok(times.events_after_ms.unwrap_or(times.created_ms))
    }

    /// The item ids of an encoded serving model, in index order, from its header alone (what
    /// an export needs to name the items of a stored training history).
    pub fn decode_item_ids(bytes: &[u8]) -> Result<Vec<String>, ServingModelError> {
        #[derive(serde::Deserialize)]
        struct Ids {
            items: Vec<String>,
        }
        Ok(Self::decode_header::<Ids>(bytes)?.items)
    }

    /// Part of the JSON header of an encoded serving model.
    fn decode_header<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServingModelError> {
        let (json, _) = split_encoded(bytes)?;
        serde_json::from_slice(json).map_err(|e| ServingModelError(e.to_string()))
    }

    /// Decodes [`ServingModel::encode`]'s output, checking every length.
    pub fn decode(bytes: &[u8]) -> Result<Self, ServingModelError> {
        let bad = |m: &str| ServingModelError(m.to_owned());
        let (json, data) = split_encoded(bytes)?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| ServingModelError(e.to_string()))?;
        let (n, k) = (header.items.len(), header.factors);
        if n.checked_mul(k).and_then(|nk| nk.checked_mul(4)) != Some(data.len())
            || header.titles.len() != n
        {
            return Err(bad("factor data does not match the header"));
        }
        // Fold-in sizes its vectors from the parameters, scoring from the factor rows; and one
        // row per distinct id (a repeated id would leave rows without an id).
        if header.params.factors != k {
            return Err(bad(
                "the parameters' factor count does not match the factor data",
            ));
        }
        let items = IdMap::from_ids(header.items);
        if items.len() != n {
            return Err(bad("an item id appears twice"));
        }
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let factors =
            Array2::from_shape_vec((n, k), values).map_err(|e| ServingModelError(e.to_string()))?;
        let mut snap =
            ServingModel::new(header.version, header.params, items, header.titles, factors);
        snap.created_ms = header.created_ms;
        if !header.item_counts.is_empty() && header.item_counts.len() != n {
            return Err(bad("item counts do not match the header"));
        }
        snap.item_counts = header.item_counts;
        snap.events_after_ms = header.events_after_ms.unwrap_or(header.created_ms);
        if !header.score_scale.is_finite() || header.score_scale < 0.0 {
            return Err(bad("the score scale is not a non-negative number"));
        }
        snap.score_scale = header.score_scale;
        if let Some(map) = &header.content {
            map.check().map_err(|e| bad(&format!("content map: {e}")))?;
            if map.factors != k {
                return Err(bad("the content map's factor count does not match"));
            }
        }
        snap.content = header.content;
        snap.trained_rows = n;
        if let Some(g) = header.user_gramian {
            if g.len() != k * k || g.iter().any(|v| !v.is_finite()) {
                return Err(bad("the user Gramian does not match the factor count"));
            }
            snap.user_gramian = Some(Array2::from_shape_vec((k, k), g).expect("k × k values"));
        }
        Ok(snap)
    }

    /// This version with the catalogue items it has no factor for added as rows, each with
    /// its content factor ([`crate::content`]), so that fold-in, refill, ranking and similar
    /// items take them from the moment they are in the catalogue. `None` when the version has
    /// no content map or every record already has a row.
    pub fn with_catalogue_items<'a>(
        &self,
        records: impl IntoIterator<Item = &'a crate::catalogue::CatalogueItem>,
    ) -> Option<ServingModel> {
        let map = self.content.as_ref()?;
        let new: Vec<&crate::catalogue::CatalogueItem> = records
            .into_iter()
            .filter(|r| self.items.get(&r.item_id).is_none())
            .collect();
        if new.is_empty() {
            return None;
        }
        let content = map.factors(new.iter().map(|r| Some(*r)));
        let rows = new
            .iter()
            .zip(content.rows())
            .map(|(r, f)| (r.item_id.as_str(), r.title.clone(), f.to_vec(), 0));
        Some(self.with_rows(rows))
    }

    /// This version with the factors of items solved from live events
    /// ([`ServingModel::fold_in_item`]): each replaces the item's row, or is added as a row
    /// when the version has none for it. `(item id, factor, live interactions)`; the
    /// interactions count towards the item's popularity. Factors of another length are skipped.
    pub fn with_item_factors<'a>(
        &self,
        folded: impl IntoIterator<Item = (&'a str, &'a [f32], u32)>,
    ) -> ServingModel {
        let k = self.item_factors.ncols();
        self.with_rows(
            folded
                .into_iter()
                .filter(|(_, f, _)| f.len() == k)
                .map(|(id, f, n)| (id, None, f.to_vec(), n)),
        )
    }

    /// A copy with rows replaced or added: `(item id, title, factor, interactions)`. A
    /// replaced row keeps its title unless a new one is given, and adds the interactions to
    /// its count; an added row takes them as its count. Everything published stays.
    fn with_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = (&'a str, Option<String>, Vec<f32>, u32)>,
    ) -> ServingModel {
        let (mut items, mut titles) = (self.items.clone(), self.titles.clone());
        let mut counts = self.item_counts.clone();
        let counted = counts.len() == items.len();
        let mut replaced: Vec<(u32, Vec<f32>)> = Vec::new();
        let mut added: Vec<f32> = Vec::new();
        for (id, title, factor, interactions) in rows {
            match items.get(id) {
                Some(row) => {
                    if title.is_some() {
                        titles[row as usize] = title;
                    }
                    if counted {
                        counts[row as usize] = counts[row as usize].saturating_add(interactions);
                    }
                    replaced.push((row, factor));
                }
                None => {
                    items.intern(id);
                    titles.push(title);
                    if counted {
                        counts.push(interactions);
                    }
                    added.extend(factor);
                }
            }
        }
        let (n, k) = self.item_factors.dim();
        let mut factors = Array2::zeros((items.len(), k));
        factors
            .slice_mut(ndarray::s![..n, ..])
            .assign(&self.item_factors);
        if items.len() > n {
            factors.slice_mut(ndarray::s![n.., ..]).assign(
                &ndarray::ArrayView2::from_shape((items.len() - n, k), &added).expect("k per row"),
            );
        }
        for (row, factor) in replaced {
            factors
                .row_mut(row as usize)
                .assign(&ndarray::ArrayView1::from(&factor[..]));
        }
        let mut out = ServingModel::new(
            self.version.clone(),
            self.params.clone(),
            items,
            titles,
            factors,
        );
        out.created_ms = self.created_ms;
        out.events_after_ms = self.events_after_ms;
        out.item_counts = counts;
        out.score_scale = self.score_scale;
        out.content = self.content.clone();
        out.trained_rows = self.trained_rows;
        out.user_gramian = self.user_gramian.clone();
        out
    }

    /// An item's factor from the users who interacted with it, holding their factors fixed:
    /// the ALS half-step for one item, pulled towards `prior` (the item's content factor or
    /// its trained factor; zero when `None`) so that an item with one interaction stays near
    /// what is known of it ([`crate::als::fold_in_towards`]). `users` are `(user factor,
    /// value)`, one per user (values merged as training merges them). An implicit model needs
    /// [`ServingModel::user_gramian`], since every user who did *not* touch the item counts
    /// too: `None` without it, or without users.
    pub fn fold_in_item(
        &self,
        users: &[(Vec<f32>, f32)],
        prior: Option<&[f32]>,
    ) -> Option<Vec<f32>> {
        let k = self.item_factors.ncols();
        if users.is_empty() || users.iter().any(|(x, _)| x.len() != k) {
            return None;
        }
        let gram = match self.params.feedback {
            Feedback::Implicit => Some(self.user_gramian.as_ref()?),
            Feedback::Explicit => None,
        };
        let flat: Vec<f32> = users.iter().flat_map(|(x, _)| x.iter().copied()).collect();
        let x = Array2::from_shape_vec((users.len(), k), flat).expect("k per user");
        let rows: Vec<u32> = (0..users.len() as u32).collect();
        let values: Vec<f32> = users.iter().map(|(_, v)| *v).collect();
        let zero = vec![0f32; k];
        Some(crate::als::fold_in_towards(
            &x,
            &rows,
            &values,
            &self.params,
            gram,
            prior.filter(|p| p.len() == k).unwrap_or(&zero),
        ))
    }

    /// `item_id`'s row when training made it (not a catalogue item at its content factor, nor
    /// an item known by its live events alone).
    pub fn trained_row(&self, item_id: &str) -> Option<u32> {
        self.items
            .get(item_id)
            .filter(|&row| (row as usize) < self.trained_rows)
    }

    /// The factor of the user of `history` (fold-in, as the lists use it): the fixed side
    /// of an item fold-in.
    pub fn user_factor(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.fold_in_history(history).0
    }

    /// How a user's repeated values for one item combine: ratings keep the latest, implicit
    /// strengths add up (as fold-in and training merge them).
    pub fn merge_values(&self, earlier: f32, later: f32) -> f32 {
        match self.params.feedback {
            Feedback::Explicit => later,
            Feedback::Implicit => earlier + later,
        }
    }

    /// The `n` most popular items (most training interactions, ties by row) for which `keep`
    /// holds: the cold-start list beyond its stored length. Scored as the published list is,
    /// on the scale of personal scores: interactions as a share of the most popular item's,
    /// in [0, 1].
    pub fn popular(&self, n: usize, keep: &dyn Fn(&str) -> bool) -> Vec<Scored> {
        let mut order: Vec<u32> = (0..self.item_counts.len() as u32)
            .filter(|&i| keep(self.items.id(i)))
            .collect();
        let counts = &self.item_counts;
        let n = n.min(order.len());
        if n == 0 {
            return Vec::new();
        }
        order.select_nth_unstable_by(n - 1, |&a, &b| {
            counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b))
        });
        order.truncate(n);
        order.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
        order
            .into_iter()
            .map(|item| Scored {
                item,
                score: counts[item as usize] as f32 / max,
            })
            .collect()
    }

    /// The popularity dial's per-item bias ([`crate::rescoring`]), `None` at 0 or without
    /// item counts.
    pub fn item_bias(&self) -> Option<&[f32]> {
        self.item_bias
            .get_or_init(|| {
                if self.item_counts.len() != self.items.len() {
                    return None;
                }
                crate::rescoring::popularity_bias(
                    self.params.popularity_penalty,
                    self.score_scale,
                    &self.item_counts,
                )
            })
            .as_deref()
    }

    fn gramian(&self) -> Option<&Array2<f32>> {
        self.gramian
            .get_or_init(|| crate::als::fold_in_gramian(&self.item_factors, &self.params))
            .as_ref()
    }

    /// Folds in a user from their interactions `(item index, value)` (training history plus
    /// live events) and returns their `n` best items not among those interactions.
    pub fn recommend_for_history(&self, history: &[(u32, f32)], n: usize) -> Vec<Scored> {
        let (x, seen) = self.fold_in_history(history);
        topk::top_k_for_vector(&x, &self.item_factors, self.item_bias(), n, &seen)
    }

    /// [`ServingModel::recommend_for_history`] keeping only items for which `keep` holds (by
    /// external id): the scores are computed once, and the best candidates are checked in
    /// score order, widening the candidate set until `n` pass or every item was looked at.
    pub fn recommend_for_history_where(
        &self,
        history: &[(u32, f32)],
        n: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<Scored> {
        self.factor_and_best_where(history, n, keep).1
    }

    /// [`ServingModel::recommend_for_history_where`] with the user's folded-in factor, which
    /// a stored list keeps beside its items.
    pub fn factor_and_best_where(
        &self,
        history: &[(u32, f32)],
        n: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> (Vec<f32>, Vec<Scored>) {
        let (x, seen) = self.fold_in_history(history);
        let scores = topk::scores_for_vector(&x, &self.item_factors, self.item_bias());
        let best = self.best_where(&scores, n, &seen, keep);
        (x, best)
    }

    /// The `n` best of `scores`, skipping `skip` (sorted) and items `keep` rejects: the best
    /// candidates are checked in score order, widening the candidate set until `n` pass or
    /// every item was looked at.
    fn best_where(
        &self,
        scores: &[f32],
        n: usize,
        skip: &[u32],
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<Scored> {
        let mut wanted = (2 * n).max(16).min(scores.len());
        loop {
            let top = topk::select(scores, wanted, skip);
            let kept: Vec<Scored> = top
                .into_iter()
                .filter(|s| keep(self.items.id(s.item)))
                .take(n)
                .collect();
            if kept.len() == n || wanted >= scores.len() {
                return kept;
            }
            wanted = (wanted * 4).min(scores.len());
        }
    }

    /// Scores of `items` (factor rows) for the user of `history` (fold-in), with the
    /// popularity dial as the lists have it: what re-ranking a caller's own candidates needs.
    /// `None` for an empty history (nothing to score from).
    pub fn score_items(&self, history: &[(u32, f32)], items: &[u32]) -> Option<Vec<f32>> {
        if history.is_empty() {
            return None;
        }
        let (x, _) = self.fold_in_history(history);
        let bias = self.item_bias();
        Some(
            items
                .iter()
                .map(|&i| {
                    crate::linalg::dot(
                        &x,
                        self.item_factors
                            .row(i as usize)
                            .as_slice()
                            .expect("contiguous rows"),
                    ) + bias.map_or(0.0, |b| b[i as usize])
                })
                .collect(),
        )
    }

    /// The up to `n` interactions of `history` that contributed most to `target`'s score for
    /// this user ([`crate::als::explain`]), as `(item row, weight)`; empty for the
    /// non-negative model.
    pub fn explain(&self, history: &[(u32, f32)], target: u32, n: usize) -> Vec<(u32, f32)> {
        let (items, values) = self.merged_history(history);
        crate::als::explain(&self.item_factors, &items, &values, &self.params, target, n)
            .unwrap_or_default()
    }

    /// `history` with out-of-range items dropped and repeats merged (ratings keep the latest
    /// value, implicit strengths add up), sorted by item.
    fn merged_history(&self, history: &[(u32, f32)]) -> (Vec<u32>, Vec<f32>) {
        let mut merged: Vec<(u32, f32)> = history
            .iter()
            .copied()
            .filter(|(i, _)| (*i as usize) < self.items.len())
            .collect();
        merged.sort_by_key(|p| p.0);
        merged.dedup_by(|later, earlier| {
            // Repeated items: ratings keep the latest value, implicit strengths add up.
            if later.0 == earlier.0 {
                earlier.1 = self.merge_values(earlier.1, later.1);
                true
            } else {
                false
            }
        });
        merged.iter().copied().unzip()
    }

    /// The user's factor folded in from `history`, and the items of that history (sorted).
    fn fold_in_history(&self, history: &[(u32, f32)]) -> (Vec<f32>, Vec<u32>) {
        let (items, values) = self.merged_history(history);
        let x = fold_in_user(
            &self.item_factors,
            &items,
            &values,
            &self.params,
            self.gramian(),
        );
        (x, items)
    }

    /// The `k` items most similar to `item` by cosine of their factors.
    pub fn similar_items(&self, item: u32, k: usize) -> Vec<Scored> {
        self.similar_items_where(item, k, &|_| true)
    }

    /// [`ServingModel::similar_items`] keeping only items for which `keep` holds (by external
    /// id), checked in similarity order until `k` pass.
    pub fn similar_items_where(
        &self,
        item: u32,
        k: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<Scored> {
        let normalized = self.normalized.get_or_init(|| {
            let mut m = self.item_factors.clone();
            for mut row in m.rows_mut() {
                let norm = row.dot(&row).sqrt();
                if norm > 0.0 {
                    row.mapv_inplace(|v| v / norm);
                }
            }
            m
        });
        let query = normalized.row(item as usize).to_vec();
        // Item-to-item similarity: the popularity dial is about users' lists, not this.
        let scores = topk::scores_for_vector(&query, normalized, None);
        self.best_where(&scores, k, &[item], keep)
    }
}

/// Encodes a user's training history as little-endian `(u32 item index, f32 value)` pairs.
pub fn encode_history(items: &[u32], values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.len() * 8);
    for (i, v) in items.iter().zip(values) {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes [`encode_history`].
pub fn decode_history(bytes: &[u8]) -> Vec<(u32, f32)> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            (
                u32::from_le_bytes(c[..4].try_into().unwrap()),
                f32::from_le_bytes(c[4..].try_into().unwrap()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
