//! What more than one bench needs: the synthetic ratings file the parse benches read.

use std::path::{Path, PathBuf};

use topten_model::synth::{write_udata, SynthParams};

/// Writes `TOPTEN_BENCH_PARSE_ROWS` (default 5,000,000) synthetic u.data rows to
/// `dir/ratings.tsv`, so the TSV and Parquet benches read the same input; returns its path.
pub fn synth_ratings(dir: &Path) -> PathBuf {
    let rows: usize = std::env::var("TOPTEN_BENCH_PARSE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let path = dir.join("ratings.tsv");
    let p = SynthParams {
        users: rows / 100,
        items: rows / 200,
        interactions: rows,
        rank: 4,
        seed: 1,
    };
    write_udata(&p, std::fs::File::create(&path).unwrap()).unwrap();
    path
}
