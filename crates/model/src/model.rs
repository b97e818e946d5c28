//! The model directory: everything needed to recommend, in files other tools can read.
//!
//! ```text
//! MODEL_DIR/
//!   model.json          format version, parameters, sizes, training history, metrics,
//!                       data fingerprint and the sha256 of every other file
//!   user_factors.npy    float32 [users, factors]   (numpy.load works directly)
//!   item_factors.npy    float32 [items, factors]
//!   user_ids.txt        external user id of row r on line r + 1
//!   item_ids.txt        external item id of row r on line r + 1
//!   seen_indptr.npy     int64 [users + 1]  \ the training interactions as CSR, so that
//!   seen_indices.npy    uint32 [nnz]        } recommendations never repeat a training item
//!   seen_values.npy     float32 [nnz]      /  and users can be folded in again later
//!   metrics.json, tuning.json, trials.tsv, content_map.json   side files, when present
//! ```
//!
//! Saving writes a sibling temporary directory and renames it into place, so a crash never
//! leaves a half-written model under the final name; loading verifies every checksum.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::als::{AlsParams, IterationReport};
use crate::csr::Csr;
use crate::interactions::IdMap;
use crate::npy;
use crate::output_dir;
use crate::topk::{self, Scored};

/// Version of the directory layout; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// The side files a model directory may hold besides its artifacts: the test metrics and, for
/// a tuned model, the tuning record and its trials table; with a catalogue, the map from
/// catalogue records to item factors ([`crate::content`]). Written and checksummed with the
/// artifacts, so they are never out of step with the model.
pub const SIDE_FILES: [&str; 4] = [
    "metrics.json",
    "tuning.json",
    "trials.tsv",
    "content_map.json",
];

/// The artifact files of a model directory, besides `model.json`.
pub const FILES: [&str; 7] = [
    "user_factors.npy",
    "item_factors.npy",
    "user_ids.txt",
    "item_ids.txt",
    "seen_indptr.npy",
    "seen_indices.npy",
    "seen_values.npy",
];

/// A file of the model directory and its integrity data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Artifact {
    /// File name inside the directory.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex sha256 of the content.
    pub sha256: String,
}

/// `model.json`: what a model is, how it was made and how good it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Model family (`"als"`).
    pub kind: String,
    /// Hyperparameters.
    pub params: AlsParams,
    /// Number of users (rows of `user_factors`).
    pub users: usize,
    /// Number of items (rows of `item_factors`).
    pub items: usize,
    /// Training interactions.
    pub interactions: usize,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Seconds spent fitting.
    pub training_seconds: f64,
    /// Per-iteration loss.
    pub history: Vec<IterationReport>,
    /// sha256 over the training interactions (ids and values), to tell data sets apart.
    pub data_fingerprint: String,
    /// How the data was split, when the trainer split it.
    #[serde(default)]
    pub split: Option<serde_json::Value>,
    /// Test metrics, when evaluated.
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
    /// Where the training data came from.
    #[serde(default)]
    pub source: Option<String>,
    /// How the parameters were chosen, when `topten tune` chose them (summary; the full
    /// table is `tuning.json` and `trials.tsv` beside this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<crate::tune::TuningSummary>,
    /// Receipt time (epoch ms) of the newest live event the training data included, when the
    /// retrain included live events: later events are not in the model, and are folded into
    /// its version when it is published. `None`: no live events were included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_through_ms: Option<i64>,
    /// The score spread, the unit of the popularity dial ([`crate::rescoring::score_scale`]).
    #[serde(default)]
    pub score_scale: f32,
    /// Which rows the factors were fitted on. The seen lists (what lists exclude) may hold
    /// more: an imported model's factors saw only Spark's training side, yet lists still leave
    /// out the holdout rows the user has. `None` in directories written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_on: Option<FittedOn>,
    /// Checksums of the other files.
    pub artifacts: Vec<Artifact>,
}

/// Which rows a model's factors saw (`fitted_on` in `model.json`).
///
/// A published model is refitted on every row after its holdout evaluation, so the figures in
/// `metrics.json` describe a fit that left the holdout out, not the factors beside them; this
/// record is what tells the two apart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FittedOn {
    /// Which rows.
    pub rows: FittedRows,
    /// How many interactions the factors were fitted on.
    pub interactions: usize,
}

/// The rows of [`FittedOn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FittedRows {
    /// Every row given: the training side and the holdout (refitted after evaluation), or
    /// everything when nothing was held out.
    All,
    /// Only the training side of a holdout split (`--no-refit`): the holdout figures describe
    /// these very factors, and lists may repeat holdout items.
    TrainingSide,
    /// Factors fitted elsewhere (Spark) on the rows it was given; topten did not fit them.
    Imported,
}

/// Why a model directory could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// File system error on a path.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A remote model directory (a blob prefix) could not be read or written.
    #[error("{uri}: {source}")]
    Remote {
        /// Remote location.
        uri: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The output path holds something topten did not write.
    #[error(transparent)]
    Output(#[from] output_dir::OutputError),
    /// A file is missing, corrupt, truncated or inconsistent with `model.json`.
    #[error("{path}: {message}")]
    Corrupt {
        /// Path involved.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A trained model in memory: factors, id maps and training interactions.
#[derive(Debug, Clone)]
pub struct Model {
    /// Metadata (`model.json`).
    pub meta: ModelMeta,
    /// External user ids.
    pub users: IdMap,
    /// External item ids.
    pub items: IdMap,
    /// Users × factors.
    pub user_factors: Array2<f32>,
    /// Items × factors.
    pub item_factors: Array2<f32>,
    /// Training interactions (users × items), excluded from recommendations.
    pub seen: Csr,
    /// How `topten tune` chose the parameters (`tuning.json`), for a tuned model.
    pub tuning: Option<crate::tune::TuningRecord>,
    /// The popularity dial's per-item bias ([`crate::rescoring`]), `None` at 0; follows
    /// `meta.params.popularity_penalty` through [`Model::set_popularity_penalty`].
    pub item_bias: Option<Vec<f32>>,
    /// The map from catalogue records to item factors (`content_map.json`), when the model was
    /// trained with a catalogue: the factor of an item no interaction has reached.
    pub content: Option<crate::content::ContentMap>,
}

/// Indented JSON with a final newline, as the side files are written.
fn pretty_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("side files serialise");
    bytes.push(b'\n');
    bytes
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint of training data: sha256 over `user\titem\trating\n` in CSR order.
pub fn fingerprint(users: &IdMap, items: &IdMap, seen: &Csr) -> String {
    let mut h = Sha256::new();
    for u in 0..seen.nrows() {
        let (cols, vals) = seen.row(u);
        for (&i, &v) in cols.iter().zip(vals) {
            h.update(users.id(u as u32).as_bytes());
            h.update(b"\t");
            h.update(items.id(i).as_bytes());
            h.update(format!("\t{v}\n").as_bytes());
        }
    }
    format!(
        "sha256:{}",
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

impl Model {
    /// The model of these parts and metadata, with the popularity dial the metadata names
    /// applied: built or loaded, a model's item bias always follows its parameters.
    fn assemble(
        meta: ModelMeta,
        (users, items): (IdMap, IdMap),
        (user_factors, item_factors): (Array2<f32>, Array2<f32>),
        seen: Csr,
        (tuning, content): SideRecords,
    ) -> Model {
        let mut model = Model {
            meta,
            users,
            items,
            user_factors,
            item_factors,
            seen,
            tuning,
            item_bias: None,
            content,
        };
        model.set_popularity_penalty(model.meta.params.popularity_penalty);
        model
    }

    /// A model from its parts, with the metadata they determine (counts, data fingerprint,
    /// creation time) filled in; fitting history and time, split, metrics and source start
    /// empty for the caller to set. The one place a [`ModelMeta`] is built.
    pub fn from_parts(
        params: AlsParams,
        (users, items): (IdMap, IdMap),
        (user_factors, item_factors): (Array2<f32>, Array2<f32>),
        seen: Csr,
    ) -> Model {
        let meta = ModelMeta {
            format_version: FORMAT_VERSION,
            kind: "als".into(),
            params,
            users: users.len(),
            items: items.len(),
            interactions: seen.nnz(),
            created_at: crate::clock::now_rfc3339(),
            training_seconds: 0.0,
            history: vec![],
            data_fingerprint: fingerprint(&users, &items, &seen),
            split: None,
            metrics: None,
            source: None,
            tuning: None,
            events_through_ms: None,
            score_scale: crate::rescoring::score_scale(&user_factors, &item_factors),
            fitted_on: None,
            artifacts: vec![],
        };
        let factors = (user_factors, item_factors);
        Model::assemble(meta, (users, items), factors, seen, (None, None))
    }

    /// Sets the popularity dial ([`crate::rescoring`]): every list computed from now on, and
    /// every version published from the model, ranks with it.
    pub fn set_popularity_penalty(&mut self, beta: f32) {
        self.meta.params.popularity_penalty = beta;
        self.item_bias = crate::rescoring::popularity_bias(
            beta,
            self.meta.score_scale,
            &crate::rescoring::item_counts(&self.seen, self.items.len()),
        );
    }

    /// The k best unseen items for dense user `u`.
    pub fn recommend(&self, u: u32, k: usize) -> Vec<Scored> {
        let x = self.user_factors.row(u as usize);
        topk::top_k_for_vector(
            x.as_slice().expect("contiguous"),
            &self.item_factors,
            self.item_bias.as_deref(),
            k,
            self.seen.row(u as usize).0,
        )
    }

    /// The k best unseen items for every user, indexed by dense user id.
    pub fn recommend_all(&self, k: usize) -> Vec<Vec<Scored>> {
        topk::top_k_all(
            &self.user_factors,
            &self.item_factors,
            self.item_bias.as_deref(),
            k,
            Some(&self.seen),
        )
    }

    /// Predicted score of dense (user, item).
    pub fn predict(&self, u: u32, i: u32) -> f32 {
        crate::linalg::dot(
            self.user_factors.row(u as usize).as_slice().unwrap(),
            self.item_factors.row(i as usize).as_slice().unwrap(),
        )
    }

    /// Adds `rows` to the seen lists (what every list leaves out), without refitting: for
    /// factors fitted elsewhere on part of a user's history, whose holdout rows are still
    /// items the user has. Rows of users or items the model does not know are skipped; pairs
    /// already seen keep their value. Returns how many pairs were added.
    pub fn extend_history(&mut self, rows: &crate::interactions::Ratings) -> usize {
        let mut known: rustc_hash::FxHashSet<(u32, u32)> = Default::default();
        let mut triplets: Vec<(u32, u32, f32)> = Vec::with_capacity(self.seen.nnz());
        for u in 0..self.seen.nrows() {
            let (cols, vals) = self.seen.row(u);
            for (&i, &v) in cols.iter().zip(vals) {
                triplets.push((u as u32, i, v));
            }
        }
        let before = triplets.len();
        for r in &rows.records {
            let (Some(u), Some(i)) = (
                self.users.get(rows.users.id(r.user)),
                self.items.get(rows.items.id(r.item)),
            ) else {
                continue;
            };
            if self.seen.row(u as usize).0.binary_search(&i).is_err() && known.insert((u, i)) {
                triplets.push((u, i, r.rating as f32));
            }
        }
        let added = triplets.len() - before;
        if added > 0 {
            self.seen =
                Csr::from_triplets(triplets.into_iter(), self.users.len(), self.items.len());
            self.meta.interactions = self.seen.nnz();
            self.meta.data_fingerprint = fingerprint(&self.users, &self.items, &self.seen);
            self.set_popularity_penalty(self.meta.params.popularity_penalty);
        }
        added
    }

    /// The k items with most training interactions (the cold-start fallback), with their
    /// interaction counts as scores.
    pub fn popular_items(&self, k: usize) -> Vec<Scored> {
        let mut counts = vec![0f32; self.items.len()];
        for &i in &self.seen.indices {
            counts[i as usize] += 1.0;
        }
        topk::select(&counts, k, &[])
    }

    /// The artifact files' contents, recording their sizes and checksums in `meta.artifacts`.
    pub fn encode_files(&mut self) -> Vec<(&'static str, Vec<u8>)> {
        let k = self.user_factors.ncols();
        let ids = |map: &IdMap| {
            map.ids()
                .iter()
                .flat_map(|s| [s.as_bytes(), b"\n"])
                .flatten()
                .copied()
                .collect::<Vec<u8>>()
        };
        let indptr: Vec<i64> = self.seen.indptr.iter().map(|&v| v as i64).collect();
        let contents: [Vec<u8>; 7] = [
            npy::to_bytes(
                self.user_factors.as_standard_layout().as_slice().unwrap(),
                &[self.users.len(), k],
            ),
            npy::to_bytes(
                self.item_factors.as_standard_layout().as_slice().unwrap(),
                &[self.items.len(), k],
            ),
            ids(&self.users),
            ids(&self.items),
            npy::to_bytes(&indptr, &[indptr.len()]),
            npy::to_bytes(&self.seen.indices, &[self.seen.nnz()]),
            npy::to_bytes(&self.seen.values, &[self.seen.nnz()]),
        ];
        let mut side: Vec<(&'static str, Vec<u8>)> = Vec::new();
        if let Some(m) = &self.meta.metrics {
            side.push((SIDE_FILES[0], pretty_json(m)));
        }
        if let Some(t) = &self.tuning {
            side.push((SIDE_FILES[1], pretty_json(t)));
            side.push((SIDE_FILES[2], t.trials_tsv().into_bytes()));
        }
        if let Some(c) = &self.content {
            side.push((SIDE_FILES[3], pretty_json(c)));
        }
        self.meta.artifacts.clear();
        let mut out = Vec::with_capacity(FILES.len() + side.len());
        for (file, bytes) in FILES.iter().copied().zip(contents).chain(side) {
            self.meta.artifacts.push(Artifact {
                file: file.to_string(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
            out.push((file, bytes));
        }
        out
    }

    /// Writes the model directory atomically (temporary sibling, then rename).
    ///
    /// `dir` may be new, an empty directory or a model directory topten wrote before
    /// ([`crate::output_dir`]); anything else is refused and left untouched. The temporary
    /// sibling is removed if writing fails, so a failed run leaves nothing behind.
    pub fn save(&mut self, dir: &Path) -> Result<(), ModelError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ModelError::Io { path, source }
        };
        let claim = output_dir::claim(dir, &output_dir::MODEL_DIR)?;
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io(parent))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempdir_in(parent)
            .map_err(io(parent))?;

        for (file, bytes) in self.encode_files() {
            let path = tmp.path().join(file);
            write_synced(&path, &bytes).map_err(io(&path))?;
        }
        let meta_path = tmp.path().join("model.json");
        let json = serde_json::to_vec_pretty(&self.meta).expect("metadata serialises");
        write_synced(&meta_path, &json).map_err(io(&meta_path))?;

        match claim {
            output_dir::Claim::New => {
                fs::rename(tmp.path(), dir).map_err(io(dir))?;
            }
            output_dir::Claim::Empty => {
                // rename(2) replaces an empty directory in one step.
                fs::rename(tmp.path(), dir).map_err(io(dir))?;
            }
            output_dir::Claim::Replace => {
                // Move the old model aside first so the final name is never half-written; the
                // aside name is fresh, so nothing else is ever overwritten by the move.
                let old = tempfile::Builder::new()
                    .prefix(&format!(".{name}.old-"))
                    .tempdir_in(parent)
                    .map_err(io(parent))?;
                fs::rename(dir, old.path()).map_err(io(dir))?;
                if let Err(e) = fs::rename(tmp.path(), dir) {
                    let _ = fs::rename(old.path(), dir);
                    return Err(io(dir)(e));
                }
                drop(old); // removes the previous model
            }
        }
        let _ = tmp.keep(); // renamed away: nothing left to remove
        Ok(())
    }

    /// Reads and verifies a model directory.
    pub fn load(dir: &Path) -> Result<Model, ModelError> {
        Model::load_with(dir, &mut |file| {
            let path = dir.join(file);
            fs::read(&path).map_err(|source| ModelError::Io { path, source })
        })
    }

    /// Reads and verifies a model whose files `fetch` returns by name (remote directories
    /// supply their own `fetch`).
    pub fn load_with(
        dir: &Path,
        fetch: &mut dyn FnMut(&str) -> Result<Vec<u8>, ModelError>,
    ) -> Result<Model, ModelError> {
        let meta_path = dir.join("model.json");
        let meta_bytes = fetch("model.json")?;
        let mut meta: ModelMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| ModelError::Corrupt {
                path: meta_path.clone(),
                message: format!("invalid model.json: {e}"),
            })?;
        if meta.format_version != FORMAT_VERSION {
            return Err(ModelError::Corrupt {
                path: meta_path,
                message: format!(
                    "format version {} is not supported (expected {FORMAT_VERSION})",
                    meta.format_version
                ),
            });
        }
        let mut contents = Vec::with_capacity(FILES.len());
        for file in FILES {
            let path = dir.join(file);
            let artifact = meta
                .artifacts
                .iter()
                .find(|a| a.file == file)
                .ok_or_else(|| ModelError::Corrupt {
                    path: meta_path.clone(),
                    message: format!("no checksum recorded for {file}"),
                })?;
            let bytes = fetch(file)?;
            if bytes.len() as u64 != artifact.bytes || sha256_hex(&bytes) != artifact.sha256 {
                return Err(ModelError::Corrupt {
                    path,
                    message: format!(
                        "checksum mismatch ({} bytes, expected {}): the model is truncated or corrupted",
                        bytes.len(),
                        artifact.bytes
                    ),
                });
            }
            contents.push((path, bytes));
        }
        let (user_factors, item_factors, users, items, seen) = decode_artifacts(dir, &contents)?;
        let side = read_side_files(dir, &meta, fetch)?;
        if meta.score_scale == 0.0 {
            // Written before the scale was recorded.
            meta.score_scale = crate::rescoring::score_scale(&user_factors, &item_factors);
        }
        let factors = (user_factors, item_factors);
        Ok(Model::assemble(meta, (users, items), factors, seen, side))
    }
}

fn corrupt(path: &Path, message: String) -> ModelError {
    ModelError::Corrupt {
        path: path.to_path_buf(),
        message,
    }
}

/// The decoded artifacts of a model directory, in [`FILES`] order.
type Artifacts = (Array2<f32>, Array2<f32>, IdMap, IdMap, Csr);

/// Decodes the verified contents of [`FILES`] and checks that they agree on the number of
/// users, items and factors.
fn decode_artifacts(dir: &Path, contents: &[(PathBuf, Vec<u8>)]) -> Result<Artifacts, ModelError> {
    let matrix = |(path, bytes): &(PathBuf, Vec<u8>)| -> Result<Array2<f32>, ModelError> {
        let (data, shape) =
            npy::from_bytes::<f32>(bytes).map_err(|e| corrupt(path, e.to_string()))?;
        match shape[..] {
            [r, c] => {
                Array2::from_shape_vec((r, c), data).map_err(|e| corrupt(path, e.to_string()))
            }
            _ => Err(corrupt(
                path,
                format!("expected a 2-D array, got shape {shape:?}"),
            )),
        }
    };
    let id_map = |(path, bytes): &(PathBuf, Vec<u8>)| -> Result<IdMap, ModelError> {
        let text = std::str::from_utf8(bytes).map_err(|e| corrupt(path, e.to_string()))?;
        Ok(IdMap::from_ids(text.lines().map(str::to_owned)))
    };
    let user_factors = matrix(&contents[0])?;
    let item_factors = matrix(&contents[1])?;
    let users = id_map(&contents[2])?;
    let items = id_map(&contents[3])?;
    let (indptr, _) = npy::from_bytes::<i64>(&contents[4].1)
        .map_err(|e| corrupt(&contents[4].0, e.to_string()))?;
    let (indices, _) = npy::from_bytes::<u32>(&contents[5].1)
        .map_err(|e| corrupt(&contents[5].0, e.to_string()))?;
    let (values, _) = npy::from_bytes::<f32>(&contents[6].1)
        .map_err(|e| corrupt(&contents[6].0, e.to_string()))?;
    let seen = Csr {
        indptr: indptr.iter().map(|&v| v as usize).collect(),
        indices,
        values,
        ncols: items.len(),
    };
    let consistent = user_factors.nrows() == users.len()
        && item_factors.nrows() == items.len()
        && user_factors.ncols() == item_factors.ncols()
        && seen.indptr.len() == users.len() + 1
        && seen.indptr.last() == Some(&seen.indices.len())
        && seen.indices.iter().all(|&i| (i as usize) < items.len());
    if !consistent {
        return Err(corrupt(
            dir,
            "files disagree on the number of users, items or factors".into(),
        ));
    }
    Ok((user_factors, item_factors, users, items, seen))
}

/// The records read from side files: the tuning record and the content map.
type SideRecords = (
    Option<crate::tune::TuningRecord>,
    Option<crate::content::ContentMap>,
);

/// Verifies the side files the model recorded (their checksums) and reads the tuning record
/// and the content map.
fn read_side_files(
    dir: &Path,
    meta: &ModelMeta,
    fetch: &mut dyn FnMut(&str) -> Result<Vec<u8>, ModelError>,
) -> Result<SideRecords, ModelError> {
    let (mut tuning, mut content) = (None, None);
    for file in SIDE_FILES {
        let Some(artifact) = meta.artifacts.iter().find(|a| a.file == file) else {
            continue;
        };
        let path = dir.join(file);
        let bytes = fetch(file)?;
        if bytes.len() as u64 != artifact.bytes || sha256_hex(&bytes) != artifact.sha256 {
            return Err(corrupt(
                &path,
                "checksum mismatch: the file was changed or truncated".into(),
            ));
        }
        if file == "tuning.json" {
            tuning = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| corrupt(&path, format!("invalid tuning.json: {e}")))?,
            );
        }
        if file == "content_map.json" {
            let map: crate::content::ContentMap = serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(&path, format!("invalid content_map.json: {e}")))?;
            map.check()
                .map_err(|e| corrupt(&path, format!("invalid content_map.json: {e}")))?;
            content = Some(map);
        }
    }
    Ok((tuning, content))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let users = IdMap::from_ids(["a".to_string(), "b".to_string()]);
        let items = IdMap::from_ids(["x".to_string(), "y".to_string(), "z".to_string()]);
        let seen = Csr::from_triplets(
            [(0u32, 0u32, 5.0f32), (1, 1, 3.0), (1, 0, 1.0)].into_iter(),
            2,
            3,
        );
        Model::from_parts(
            AlsParams::explicit(),
            (users, items),
            (
                Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, 1.0]).unwrap(),
                Array2::from_shape_vec((3, 2), vec![0.9, 0.1, 0.2, 0.8, 0.5, 0.5]).unwrap(),
            ),
            seen,
        )
    }

    #[test]
    fn save_load_round_trip_and_recommend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let mut m = tiny();
        m.save(&path).unwrap();
        m.save(&path).unwrap(); // overwriting an existing model works
        let back = Model::load(&path).unwrap();
        assert_eq!(back.user_factors, m.user_factors);
        assert_eq!(back.seen, m.seen);
        assert_eq!(back.items.id(2), "z");
        // User a has seen x; z (0.5) beats y (0.2).
        let recs: Vec<u32> = back.recommend(0, 5).iter().map(|s| s.item).collect();
        assert_eq!(recs, vec![2, 1]);
        assert_eq!(back.popular_items(1)[0].item, 0);
    }

    #[test]
    fn corrupted_or_truncated_artifacts_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        tiny().save(&path).unwrap();
        let f = path.join("item_factors.npy");
        let bytes = fs::read(&f).unwrap();
        fs::write(&f, &bytes[..bytes.len() - 4]).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("truncated or corrupted"), "{err}");
    }

    #[test]
    fn side_files_are_written_checksummed_and_read_back_typed() {
        use crate::tune::{TuneConfig, TuneResult, TuningRecord};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let mut m = tiny();
        m.meta.metrics = Some(serde_json::json!({"ndcg_at_k": 0.25}));
        let trial = crate::tune::Trial {
            config: 0,
            bracket: 0,
            rung: 0,
            params: AlsParams::explicit(),
            validation: Default::default(),
            beyond: Default::default(),
            score: 0.5,
            feasible: true,
            seconds: 1.0,
            promoted: false,
            dial_sweep: false,
            served: None,
            refined: false,
        };
        let result = TuneResult {
            best: AlsParams::explicit(),
            best_trial: 0,
            trials: vec![trial],
            fit_rows: 3,
            validation_rows: 1,
            validation_users: 1,
            holdout: crate::tune::Holdout::Random,
            seconds: 1.0,
            dial: vec![],
        };
        let record = TuningRecord::new(&TuneConfig::default(), &result, AlsParams::explicit());
        m.meta.tuning = Some(record.summary.clone());
        m.tuning = Some(record.clone());
        let catalogue = crate::catalogue::Catalogue::from_items(["x", "y", "z"].map(|id| {
            let mut it = crate::catalogue::CatalogueItem::new(id);
            it.title = Some(format!("The {id} film"));
            it
        }));
        let map = crate::content::ContentMap::for_model(&m, &catalogue).unwrap();
        m.content = Some(map.clone());
        m.save(&path).unwrap();
        for file in SIDE_FILES {
            assert!(path.join(file).is_file(), "{file} written");
            assert!(
                m.meta.artifacts.iter().any(|a| a.file == file),
                "{file} checksummed"
            );
        }
        let metrics: serde_json::Value =
            serde_json::from_slice(&fs::read(path.join("metrics.json")).unwrap()).unwrap();
        assert_eq!(metrics["ndcg_at_k"], 0.25);
        assert_eq!(
            fs::read_to_string(path.join("trials.tsv")).unwrap(),
            record.trials_tsv()
        );
        let back = Model::load(&path).unwrap();
        assert_eq!(back.tuning, Some(record));
        assert_eq!(back.content, Some(map));
        // A changed side file is caught like a changed artifact.
        fs::write(path.join("tuning.json"), b"{}").unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("tuning.json") && err.contains("checksum"),
            "{err}"
        );
    }
}
