//! The stored-document format: what a user's list, a version and the active pointer look like
//! in every store, and the fast paths that select from a stored list without decoding it.
//!
//! A user's list is stored as the exact JSON `serde_json` gives for [`UserRecs`]
//! (`{id, userId, items: [{itemId, score, title?}], modelVersion, createdAt}`). Serving copies
//! item JSON fragments into the response instead of parsing every item
//! ([`top_items_from_json`], [`join_fragments`]). Backends that can store bytes keep the
//! **indexed form** ([`encode_doc`]): the JSON behind a small index of where each item's JSON
//! starts and ends (`TT1\0`, item count, offset pairs, all little-endian u32), which lets the
//! serving path copy the first k items without scanning the rest (about 10x faster than parsing
//! a 50-item document).

use std::collections::HashSet;

use topten_edge::snapshot::Item;

/// One recommended item as stored and served.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemScore {
    /// External item id.
    pub item_id: String,
    /// Model score (higher is better).
    pub score: f32,
    /// Display title, when the publisher was given an item file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A user's precomputed recommendations in one version: one document, one point read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecs {
    /// Document id (`{version}:{userId}`).
    pub id: String,
    /// External user id (the partition key in Cosmos DB).
    pub user_id: String,
    /// Best first.
    pub items: Vec<ItemScore>,
    /// Version the document belongs to.
    pub model_version: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The user's factor in the version (trained, or folded in with the events the list was
    /// written from): what scores items the stored list cannot hold, such as new items in
    /// their reserved places, without another read. Absent in documents written before it was
    /// stored, and in list files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Vec<f32>>,
    /// Items the version did not train that the user has (live events), which the stored list
    /// leaves out by construction but a new item's place must too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_new: Vec<String>,
}

/// What a stored document holds beside its items ([`UserRecs::factor`],
/// [`UserRecs::has_new`]): read only when a request needs it.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocTail {
    /// [`UserRecs::factor`].
    #[serde(default)]
    pub factor: Option<Vec<f32>>,
    /// [`UserRecs::has_new`].
    #[serde(default)]
    pub has_new: Vec<String>,
}

/// The serving answer for one user: the first k stored items not excluded, as a JSON array
/// (`[{"itemId":..,"score":..},..]`), ready to be copied into a response. Two are equal when
/// they select the same items: whether the ids' places were noted is a reading aid, not part
/// of the answer.
#[derive(Debug, Clone)]
pub struct TopItems {
    /// Version of the document.
    pub model_version: String,
    /// JSON array of the selected items, best first.
    pub items_json: Vec<u8>,
    /// How many items were selected.
    pub count: usize,
    /// The stored list ran out before `k` items were selected (filters removed too many).
    pub exhausted: bool,
    /// Where each selected item's id lies in `items_json` (byte ranges, in order), when every
    /// one was read straight from the bytes as it was selected; `None` when one was not (an id
    /// with an escape, a list of another shape). The GET path signs every answer over its item
    /// ids, and reading them here, where the selection looks at each item anyway, spares it a
    /// second pass over the JSON.
    pub id_spans: Option<Vec<(u32, u32)>>,
}

impl PartialEq for TopItems {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.model_version,
            &self.items_json,
            self.count,
            self.exhausted,
        ) == (
            &other.model_version,
            &other.items_json,
            other.count,
            other.exhausted,
        )
    }
}

impl TopItems {
    /// The answer for `count` items selected (as `items_json`) when `k` were asked for: the
    /// list is exhausted when fewer came out.
    pub fn selected(model_version: String, items_json: Vec<u8>, count: usize, k: usize) -> Self {
        TopItems {
            model_version,
            items_json,
            count,
            exhausted: count < k,
            id_spans: None,
        }
    }
}

/// The strings at `spans` of `json` (`None` if one is out of bounds or not UTF-8).
pub fn ids_at<'a>(json: &'a [u8], spans: &[(u32, u32)]) -> Option<Vec<&'a str>> {
    spans
        .iter()
        .map(|&(a, b)| std::str::from_utf8(json.get(a as usize..b as usize)?).ok())
        .collect()
}

/// Items selected from a stored list: the JSON array, how many, and where their ids lie in it
/// (see [`TopItems::id_spans`]).
pub struct Joined {
    /// JSON array of the selected items.
    pub json: Vec<u8>,
    /// How many items it holds.
    pub count: usize,
    /// Byte ranges of the items' ids in `json`, when every one was read straight.
    pub id_spans: Option<Vec<(u32, u32)>>,
}

impl Joined {
    /// As the answer to a request for `k` items of `model_version`.
    pub fn into_top_items(self, model_version: String, k: usize) -> TopItems {
        TopItems {
            id_spans: self.id_spans,
            ..TopItems::selected(model_version, self.json, self.count, k)
        }
    }
}

#[derive(serde::Deserialize)]
struct RawDoc<'a> {
    #[serde(borrow, rename = "modelVersion")]
    model_version: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct RawItemId<'a> {
    #[serde(borrow, rename = "itemId")]
    item_id: std::borrow::Cow<'a, str>,
}

/// Which stored items a selection skips: the request's `exclude`, the items that may not be
/// served now (the catalogue's unavailable and expired ones), the items the user has (where
/// the answer computes a list rather than reading the user's own), and those a request filter
/// (categories, a filter expression) does not allow.
#[derive(Clone, Copy, Default)]
pub struct ItemFilter<'a> {
    /// Ids the request excludes.
    pub exclude: &'a [String],
    /// Ids that may not be served.
    pub hidden: Option<&'a HashSet<String>>,
    /// Ids the user has (their history and live events).
    pub has: Option<&'a HashSet<String>>,
    /// The request's own test, by item id.
    pub allow: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

impl std::fmt::Debug for ItemFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemFilter")
            .field("exclude", &self.exclude)
            .field("hidden", &self.hidden.map(HashSet::len))
            .field("has", &self.has.map(HashSet::len))
            .field("allow", &self.allow.is_some())
            .finish()
    }
}

impl<'a> ItemFilter<'a> {
    /// A filter of the request's `exclude` only.
    pub fn exclude(exclude: &'a [String]) -> Self {
        ItemFilter {
            exclude,
            ..ItemFilter::default()
        }
    }

    /// Whether the filter skips nothing (then selection need not read item ids).
    pub fn is_empty(&self) -> bool {
        self.exclude.is_empty()
            && self.hidden.is_none_or(HashSet::is_empty)
            && self.has.is_none_or(HashSet::is_empty)
            && self.allow.is_none()
    }

    /// Whether `item_id` is skipped.
    pub fn skips(&self, item_id: &str) -> bool {
        self.exclude.iter().any(|e| e == item_id)
            || self.hidden.is_some_and(|h| h.contains(item_id))
            || self.has.is_some_and(|h| h.contains(item_id))
            || self.allow.is_some_and(|allow| !allow(item_id))
    }
}

/// Whether a stored item fragment (`{"itemId":...}`) is skipped by `filter`.
pub fn fragment_skipped(
    fragment: &[u8],
    filter: &ItemFilter<'_>,
) -> Result<bool, serde_json::Error> {
    if filter.is_empty() {
        return Ok(false);
    }
    Ok(filter.skips(&fragment_item_id(fragment)?))
}

/// A stored item fragment's `itemId`. Every writer of stored lists serialises an
/// [`ItemScore`], which opens with the id, so the id is read straight from the bytes when it
/// holds no escape (a JSON string without one is its own text); anything else is parsed. The
/// filtered GET path calls this for every stored item it looks at (`cargo bench -p
/// topten-functions --bench router`, "with excludeCategory").
fn fragment_item_id(fragment: &[u8]) -> Result<std::borrow::Cow<'_, str>, serde_json::Error> {
    if let Some(id) = plain_item_id(fragment) {
        return Ok(std::borrow::Cow::Borrowed(id));
    }
    let id: RawItemId = serde_json::from_slice(fragment)?;
    Ok(id.item_id)
}

/// How every stored item fragment opens.
const ITEM_OPEN: &[u8] = br#"{"itemId":""#;

/// The id of a fragment that opens with it and holds no escape in it (its own text), else
/// `None`; it then starts at `ITEM_OPEN.len()`.
fn plain_item_id(fragment: &[u8]) -> Option<&str> {
    let rest = fragment.strip_prefix(ITEM_OPEN)?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    (rest[end] == b'"')
        .then(|| std::str::from_utf8(&rest[..end]).ok())
        .flatten()
}

/// Selects from a stored JSON document without decoding each item (the generic path).
pub fn top_items_from_json(
    json: &[u8],
    k: usize,
    filter: &ItemFilter<'_>,
) -> Result<TopItems, serde_json::Error> {
    let doc: RawDoc = serde_json::from_slice(json)?;
    let fragments = doc.items.iter().map(|i| i.get().as_bytes());
    Ok(join_fragments(fragments, k, filter)?.into_top_items(doc.model_version.into_owned(), k))
}

/// Joins the first `k` fragments `filter` does not skip into a JSON array, noting where each
/// one's id lies in it.
pub fn join_fragments<'a>(
    fragments: impl Iterator<Item = &'a [u8]>,
    k: usize,
    filter: &ItemFilter<'_>,
) -> Result<Joined, serde_json::Error> {
    let mut out = Vec::with_capacity(1024);
    let mut spans = Some(Vec::with_capacity(k.min(64)));
    out.push(b'[');
    let mut n = 0;
    for f in fragments {
        if n == k {
            break;
        }
        if fragment_skipped(f, filter)? {
            continue;
        }
        if n > 0 {
            out.push(b',');
        }
        let start = out.len() + ITEM_OPEN.len();
        match (spans.as_mut(), plain_item_id(f)) {
            (Some(s), Some(id)) => s.push((start as u32, (start + id.len()) as u32)),
            _ => spans = None,
        }
        out.extend_from_slice(f);
        n += 1;
    }
    out.push(b']');
    // Offsets are u32: a longer selection is only ever read by a JSON parser.
    let spans = spans.filter(|_| out.len() <= u32::MAX as usize);
    Ok(Joined {
        json: out,
        count: n,
        id_spans: spans,
    })
}

/// The popular (cold-start) list on the scale of personal scores: each item's score is its
/// interactions as a share of the most popular item's, in [0, 1] (the most popular item
/// scores 1), not a raw count. Idempotent, so lists stored before the rule are rescaled when
/// read and lists stored after it are left as they are.
pub fn normalise_popular(items: &mut [ItemScore]) {
    let max = items.iter().map(|i| i.score).fold(0.0f32, f32::max);
    if max > 0.0 && max != 1.0 && max.is_finite() {
        for i in items.iter_mut() {
            i.score /= max;
        }
    }
}

/// Lifecycle of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Being written; never served.
    Writing,
    /// Fully written and verified; can be activated.
    Complete,
}

/// What a version is: its status, size and the model that produced it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Version id, sortable by creation time (`v20261126T083306Z-ab12cd`).
    pub version: String,
    /// Lifecycle status.
    pub status: VersionStatus,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// User documents expected.
    pub expected_users: usize,
    /// User documents written and verified (set when complete).
    pub users: usize,
    /// Items stored per user.
    pub items_per_user: usize,
    /// Model summary: parameters, metrics, data fingerprint, source.
    #[serde(default)]
    pub model: serde_json::Value,
    /// Quality-gate decision that led to this version (retrain only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<serde_json::Value>,
}

/// Sorts versions oldest first (ties by id): the order every backend lists them in.
pub fn oldest_first(versions: &mut [VersionInfo]) {
    versions.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.version.cmp(&b.version))
    });
}

/// The pointer the handler follows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveVersion {
    /// Active version id.
    pub version: String,
    /// When it became active.
    pub activated_at: String,
    /// Previously active versions, most recent first (what `rollback` returns to).
    #[serde(default)]
    pub history: Vec<String>,
    /// The experiment running against the active version, if any. It lives in the pointer so
    /// that every instance learns of it (and of its end) with the pointer it already caches,
    /// and so that starting, stopping and promoting are atomic pointer decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
    /// Ended experiments, most recent first (at most [`PAST_EXPERIMENTS`]): kept in the pointer
    /// so that ending an experiment and recording how it ended are one atomic write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_experiments: Vec<ExperimentRecord>,
}

/// How many ended experiments the active pointer keeps.
pub const PAST_EXPERIMENTS: usize = 20;

/// An ended experiment: what ran, how it ended, who or what ended it, and its final report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentRecord {
    /// The experiment as it ran.
    pub experiment: Experiment,
    /// The version the control arm was served from.
    pub control: String,
    /// When it ended (RFC 3339).
    pub ended_at: String,
    /// `stopped` (everyone back on the control version) or `promoted` (the candidate
    /// activated).
    pub decision: String,
    /// Who or what ended it (`topten experiment promote` by a user, the retrain, ...).
    pub decided_by: String,
    /// The report at the end (`topten_live::online_report::ExperimentReport` as JSON).
    pub report: serde_json::Value,
}

impl ActiveVersion {
    /// `past` with `record` first, at most [`PAST_EXPERIMENTS`].
    fn with_record(
        past: &[ExperimentRecord],
        record: Option<&ExperimentRecord>,
    ) -> Vec<ExperimentRecord> {
        record
            .into_iter()
            .chain(
                past.iter()
                    .filter(|p| record.is_none_or(|r| r.experiment.id != p.experiment.id)),
            )
            .take(PAST_EXPERIMENTS)
            .cloned()
            .collect()
    }

    /// The pointer with `record` added to its past experiments.
    pub fn recording(&self, record: Option<&ExperimentRecord>) -> Vec<ExperimentRecord> {
        ActiveVersion::with_record(&self.past_experiments, record)
    }
}

/// A running experiment: a share of users is served from a candidate version instead of the
/// active one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    /// Experiment id, unique per experiment; also the salt of its split, so each experiment
    /// draws its arms afresh.
    pub id: String,
    /// The version the candidate arm is served from.
    pub candidate: String,
    /// The share of users in the candidate arm (above 0, at most 1).
    pub share: f64,
    /// When it started (RFC 3339).
    pub started_at: String,
}

impl ActiveVersion {
    /// The version that serves `user_id`, and the user's arm while an experiment runs: the
    /// stable split of [`topten_experiments::assign`], so a user stays in one arm.
    pub fn serving(&self, user_id: &str) -> (&str, Option<topten_experiments::Arm>) {
        use topten_experiments::Arm;
        match &self.experiment {
            None => (&self.version, None),
            Some(e) => match topten_experiments::assign(&e.id, user_id, e.share) {
                Arm::Candidate => (&e.candidate, Some(Arm::Candidate)),
                Arm::Control => (&self.version, Some(Arm::Control)),
            },
        }
    }
}

/// Document id of a user's recommendations in a version.
pub fn doc_id(version: &str, user_id: &str) -> String {
    format!("{version}:{user_id}")
}

const MAGIC: &[u8; 4] = b"TT1\0";

/// Encodes a document in the indexed form (see the module docs).
pub fn encode_doc(doc: &UserRecs) -> Result<Vec<u8>, serde_json::Error> {
    let mut json = Vec::with_capacity(64 + doc.items.len() * 64);
    json.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut json, &doc.id)?;
    json.extend_from_slice(b",\"userId\":");
    serde_json::to_writer(&mut json, &doc.user_id)?;
    json.extend_from_slice(b",\"items\":[");
    let mut spans = Vec::with_capacity(doc.items.len());
    for (n, item) in doc.items.iter().enumerate() {
        if n > 0 {
            json.push(b',');
        }
        let start = json.len();
        serde_json::to_writer(&mut json, item)?;
        spans.push((start as u32, json.len() as u32));
    }
    json.extend_from_slice(b"],\"modelVersion\":");
    serde_json::to_writer(&mut json, &doc.model_version)?;
    json.extend_from_slice(b",\"createdAt\":");
    serde_json::to_writer(&mut json, &doc.created_at)?;
    // As serde writes them: absent when empty.
    if let Some(factor) = &doc.factor {
        json.extend_from_slice(b",\"factor\":");
        serde_json::to_writer(&mut json, factor)?;
    }
    if !doc.has_new.is_empty() {
        json.extend_from_slice(b",\"hasNew\":");
        serde_json::to_writer(&mut json, &doc.has_new)?;
    }
    json.push(b'}');
    let mut out = Vec::with_capacity(8 + spans.len() * 8 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(spans.len() as u32).to_le_bytes());
    for (a, b) in spans {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    out.extend_from_slice(&json);
    Ok(out)
}

/// What a stored value (indexed form, or plain JSON) holds beside its items ([`DocTail`]). In
/// the indexed form only the JSON after the last item is parsed (the fields [`encode_doc`]
/// writes after the items), not the items themselves.
pub fn doc_tail(value: &[u8]) -> Result<DocTail, serde_json::Error> {
    if let Some((spans, json)) = decode_doc(value) {
        if let Some((_, end)) = spans.last() {
            // `],"modelVersion":…}` after the last item: the same fields as an object.
            if let Some(rest) = json.get(end..).and_then(|r| r.strip_prefix(b"],")) {
                let mut object = Vec::with_capacity(rest.len() + 1);
                object.push(b'{');
                object.extend_from_slice(rest);
                return serde_json::from_slice(&object);
            }
        }
        return serde_json::from_slice(json);
    }
    serde_json::from_slice(value)
}

/// Selects from a stored value (indexed form, or plain JSON) of `version`: the serving read of
/// the backends that store bytes.
pub fn top_items_from_stored(
    value: &[u8],
    version: &str,
    k: usize,
    filter: &ItemFilter<'_>,
) -> Result<TopItems, serde_json::Error> {
    // Documents are keyed by version, so the key already says which version this is.
    match decode_doc(value) {
        Some((spans, json)) => {
            let fragments = spans.filter_map(|(a, b)| json.get(a..b));
            Ok(join_fragments(fragments, k, filter)?.into_top_items(version.to_owned(), k))
        }
        None => Ok(TopItems {
            model_version: version.to_owned(),
            ..top_items_from_json(value, k, filter)?
        }),
    }
}

/// Splits a stored value into its item spans and JSON.
pub fn decode_doc(value: &[u8]) -> Option<(impl Iterator<Item = (usize, usize)> + '_, &[u8])> {
    let rest = value.strip_prefix(MAGIC)?;
    let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let index = rest.get(4..4 + n * 8)?;
    let json = rest.get(4 + n * 8..)?;
    let spans = index.chunks_exact(8).map(|c| {
        (
            u32::from_le_bytes(c[..4].try_into().unwrap()) as usize,
            u32::from_le_bytes(c[4..].try_into().unwrap()) as usize,
        )
    });
    Some((spans, json))
}

/// The JSON of a stored value (indexed or plain).
pub fn json_part(value: &[u8]) -> &[u8] {
    decode_doc(value).map(|(_, json)| json).unwrap_or(value)
}

#[derive(serde::Deserialize)]
struct RawItems<'a> {
    #[serde(borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

/// Splits a stored user document into `(item id, item JSON exactly as stored)`.
pub fn document_items(json: &[u8]) -> Result<Vec<Item>, serde_json::Error> {
    let doc: RawItems = serde_json::from_slice(json)?;
    doc.items
        .iter()
        .map(|raw| {
            let id: RawItemId = serde_json::from_str(raw.get())?;
            Ok((id.item_id.into_owned(), raw.get().as_bytes().to_vec()))
        })
        .collect()
}

/// An item as the handler serialises it.
pub fn serialised_item(item: &ItemScore) -> Item {
    (
        item.item_id.clone(),
        serde_json::to_vec(item).expect("serialising an item"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast read of a fragment's id agrees with serde_json on every shape a fragment can
    /// take: written by [`ItemScore`] (plain, escaped, non-ASCII ids, with a title) and not
    /// (another field first, whitespace).
    #[test]
    fn fragment_ids_read_as_serde_reads_them() {
        let ids = [
            "42",
            "a\"b",
            "back\\slash",
            "ünïcödé ✓",
            "tab\there",
            "",
            "x/y",
        ];
        let mut fragments: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| {
                serde_json::to_vec(&ItemScore {
                    item_id: (*id).into(),
                    score: 0.5,
                    title: Some("T \"1\"".into()),
                })
                .unwrap()
            })
            .collect();
        fragments.push(br#"{"score":1,"itemId":"late"}"#.to_vec());
        fragments.push(br#"{ "itemId" : "spaced" }"#.to_vec());
        for f in &fragments {
            let serde: RawItemId = serde_json::from_slice(f).unwrap();
            assert_eq!(
                fragment_item_id(f).unwrap(),
                serde.item_id,
                "{}",
                String::from_utf8_lossy(f)
            );
        }
        assert!(fragment_item_id(b"{\"score\":1}").is_err());
    }

    /// The id spans a selection notes point at the ids a JSON parser reads from its array,
    /// whatever the filter skipped; one id it cannot read straight drops them all.
    #[test]
    fn joined_id_spans_point_at_the_parsed_ids() {
        let item = |id: &str| {
            serde_json::to_vec(&ItemScore {
                item_id: id.into(),
                score: 0.5,
                title: Some(format!("{{\"itemId\":\"not-{id}\"}}")),
            })
            .unwrap()
        };
        let plain: Vec<Vec<u8>> = ["a", "ünï", "b", "c", "4"]
            .iter()
            .map(|i| item(i))
            .collect();
        let skip = vec!["b".to_owned()];
        for (k, filter) in [
            (3, ItemFilter::exclude(&[])),
            (10, ItemFilter::exclude(&skip)),
            (0, ItemFilter::exclude(&[])),
        ] {
            let joined = join_fragments(plain.iter().map(Vec::as_slice), k, &filter).unwrap();
            let parsed: Vec<ItemScore> = serde_json::from_slice(&joined.json).unwrap();
            let spans = joined.id_spans.as_deref().expect("plain ids are spanned");
            let ids = ids_at(&joined.json, spans).unwrap();
            let want: Vec<&str> = parsed.iter().map(|i| i.item_id.as_str()).collect();
            assert_eq!(ids, want);
            assert_eq!(joined.count, want.len());
        }
        let mut escaped = plain.clone();
        escaped.insert(1, item("q\"uote"));
        let joined = join_fragments(
            escaped.iter().map(Vec::as_slice),
            10,
            &ItemFilter::exclude(&[]),
        )
        .unwrap();
        assert_eq!(joined.count, 6);
        assert!(joined.id_spans.is_none());
    }
}
