//! Model directories in Blob Storage: the files of a local model directory
//! ([`topten_model::model`]), uploaded in an order that never lets anything load a
//! half-written one.

use std::path::PathBuf;

use topten_model::model::{Model, ModelError, FILES, SIDE_FILES};
use topten_model::output_dir;

/// Saving a [`Model`] to a [`crate::blob::Location`]: a local directory or a blob prefix.
pub trait SaveModel {
    /// Writes the model to a local directory or a blob prefix.
    fn save_to(
        &mut self,
        loc: &crate::blob::Location,
        progress: Option<crate::blob::Progress>,
    ) -> Result<(), ModelError>;

    /// [`SaveModel::save_to`] with a hook called before each blob upload (tests interrupt
    /// uploads with it).
    fn save_to_with(
        &mut self,
        loc: &crate::blob::Location,
        progress: Option<crate::blob::Progress>,
        before_upload: &mut dyn FnMut(&str) -> Result<(), ModelError>,
    ) -> Result<(), ModelError>;
}

impl SaveModel for Model {
    /// Writes the model to a local directory or a blob prefix.
    ///
    /// Blob: any existing `model.json` there is deleted first, the artifacts are uploaded (in
    /// blocks, committed per file), and `model.json`, which names every artifact's checksum, goes
    /// last: an interrupted upload leaves no `model.json`, so nothing can load or reference a
    /// half-written model.
    fn save_to(
        &mut self,
        loc: &crate::blob::Location,
        progress: Option<crate::blob::Progress>,
    ) -> Result<(), ModelError> {
        self.save_to_with(loc, progress, &mut |_| Ok(()))
    }

    /// [`SaveModel::save_to`] with a hook called before each blob upload (tests interrupt uploads with it).
    fn save_to_with(
        &mut self,
        loc: &crate::blob::Location,
        progress: Option<crate::blob::Progress>,
        before_upload: &mut dyn FnMut(&str) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        use crate::blob::{self, Location};
        if let Location::Local(dir) = loc {
            return self.save(dir);
        }
        let files = self.encode_files();
        let json = serde_json::to_vec_pretty(&self.meta).expect("metadata serialises");
        let blob_err = |uri: &str| {
            let uri = uri.to_owned();
            move |source| ModelError::Remote {
                uri,
                source: Box::new(source),
            }
        };
        let Location::Blob(meta_loc) = loc.join("model.json") else {
            unreachable!()
        };
        let Location::Blob(prefix) = loc.join("") else {
            unreachable!()
        };
        claim_blob_prefix(&prefix, &meta_loc)?;
        {
            let m = meta_loc.clone();
            blob::block_on(async move { blob::delete(&m).await })
                .map_err(blob_err(&meta_loc.display))?;
        }
        let mut all: Vec<(String, Vec<u8>)> =
            files.into_iter().map(|(f, b)| (f.to_owned(), b)).collect();
        all.push(("model.json".into(), json));
        for (file, bytes) in all {
            before_upload(&file)?;
            let Location::Blob(target) = loc.join(&file) else {
                unreachable!()
            };
            let p = progress.clone();
            let t = target.clone();
            blob::block_on(async move { blob::upload(&t, &bytes, p.as_ref()).await })
                .map_err(blob_err(&target.display))?;
        }
        Ok(())
    }
}

/// The blob form of [`output_dir::claim`]: a prefix may be written when it holds nothing
/// but the files of a topten model (a finished one, or one whose upload was interrupted).
fn claim_blob_prefix(
    prefix: &crate::blob::BlobLocation,
    meta_loc: &crate::blob::BlobLocation,
) -> Result<(), ModelError> {
    use crate::blob;
    let blob_err = |source: blob::BlobError| ModelError::Remote {
        uri: prefix.display.clone(),
        source: Box::new(source),
    };
    let p = prefix.clone();
    let names = blob::block_on(async move { blob::list(&p).await }).map_err(blob_err)?;
    let refuse = |found: String| {
        ModelError::Output(output_dir::OutputError::NotOurs {
            what: output_dir::MODEL_DIR.what,
            path: PathBuf::from(&prefix.display),
            found,
        })
    };
    let foreign: Vec<&str> = names
        .iter()
        .map(|b| b.path.strip_prefix(&prefix.path).unwrap_or(&b.path))
        .filter(|n| *n != "model.json" && !FILES.contains(n) && !SIDE_FILES.contains(n))
        .collect();
    if !foreign.is_empty() {
        return Err(refuse(format!(
            "a blob prefix with {} other blob(s) ({})",
            foreign.len(),
            foreign
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if names.iter().any(|b| b.path == meta_loc.path) {
        let m = meta_loc.clone();
        let bytes = blob::block_on(async move { blob::read_all(&m).await }).map_err(blob_err)?;
        if !(output_dir::MODEL_DIR.is_ours)(&bytes) {
            return Err(refuse("a model.json topten did not write".into()));
        }
    }
    Ok(())
}

/// Reads and verifies a model from a local directory or a blob prefix.
pub fn load_model(loc: &crate::blob::Location) -> Result<Model, ModelError> {
    use crate::blob::{self, Location};
    match loc {
        Location::Local(dir) => Model::load(dir),
        Location::Blob(_) => {
            Model::load_with(&PathBuf::from(loc.to_string()), &mut |file| {
                let Location::Blob(b) = loc.join(file) else {
                    unreachable!()
                };
                let b2 = b.clone();
                blob::block_on(async move { blob::read_all(&b2).await }).map_err(|source| match source {
                    blob::BlobError::NotFound(_) if file == "model.json" => ModelError::Corrupt {
                        path: PathBuf::from(b.display.clone()),
                        message: "no model.json: not a model directory, or its upload did not finish".into(),
                    },
                    source => ModelError::Remote { uri: b.display.clone(), source: Box::new(source) },
                })
            })
        }
    }
}
