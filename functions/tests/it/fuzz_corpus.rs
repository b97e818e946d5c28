//! Replays the committed fuzz corpus (fuzz/corpus/TARGET/ and fuzz/regressions/TARGET/)
//! through the fuzz targets' own functions (fuzz/src/lib.rs, included here), so the normal
//! `cargo test` proves every input that ever found a bug, and every seed, still passes,
//! without cargo-fuzz or minutes of fuzzing. `bash fuzz/run.sh` fuzzes for real
//! (docs/reliability.md).

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Every corpus and regression file of every target runs through its target without a
/// panic; a target with no corpus at all is a failure (a replay that checks nothing).
#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut failures = Vec::new();
    for (name, target) in targets::TARGETS {
        let inputs: Vec<PathBuf> = ["corpus", "regressions"]
            .iter()
            .flat_map(|d| files(&root.join(d).join(name)))
            .collect();
        assert!(
            inputs.len() >= 3,
            "fuzz target {name}: only {} corpus files under {}",
            inputs.len(),
            root.display()
        );
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| target(&data));
            if result.is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inputs that fail their fuzz target: {failures:#?}"
    );
}
