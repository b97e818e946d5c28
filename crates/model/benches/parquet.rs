//! `cargo bench -p topten-model --bench parquet`: reading interactions from Parquet against
//! reading the same rows as TSV (`u.data`), in the same run. The Parquet file is written as
//! Spark writes one: int32 ids, double ratings, int64 times, Snappy, 1M-row groups.
//! `TOPTEN_BENCH_PARSE_ROWS` sets the size (default 5,000,000 rows).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use topten_model::ingest::{read_ratings, ReadOptions};

mod common;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = common::synth_ratings(dir.path());
    let (r, _) = read_ratings(&tsv, &ReadOptions::default()).unwrap();

    let parquet = dir.path().join("ratings.parquet");
    let id = |ids: &topten_model::interactions::IdMap, i: u32| ids.id(i).parse::<i32>().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Int32, false),
        Field::new("item", DataType::Int32, false),
        Field::new("rating", DataType::Float64, false),
        Field::new("timestamp", DataType::Int64, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&parquet).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    for chunk in r.records.chunks(1 << 20) {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from_iter_values(
                    chunk.iter().map(|x| id(&r.users, x.user)),
                )),
                Arc::new(Int32Array::from_iter_values(
                    chunk.iter().map(|x| id(&r.items, x.item)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    chunk.iter().map(|x| x.rating),
                )),
                Arc::new(Int64Array::from_iter_values(
                    chunk.iter().map(|x| x.timestamp),
                )),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
    }
    writer.close().unwrap();
    drop(r);

    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    let time = |p: &std::path::Path| {
        let mut best = f64::INFINITY;
        let mut n = 0;
        for _ in 0..3 {
            let start = Instant::now();
            let (r, _) = read_ratings(p, &ReadOptions::default()).unwrap();
            best = best.min(start.elapsed().as_secs_f64());
            n = r.len();
        }
        (best, n)
    };
    let (t_tsv, n_tsv) = time(&tsv);
    let (t_pq, n_pq) = time(&parquet);
    assert_eq!(n_tsv, n_pq);
    let threads = rayon::current_num_threads();
    println!("| input | size | rows | read, best of 3 | rows/s | vs TSV |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| TSV (u.data) | {:.0} MB | {n_tsv} | {t_tsv:.2} s | {:.1} M | 1.00 |",
        size(&tsv),
        n_tsv as f64 / t_tsv / 1e6
    );
    println!(
        "| Parquet (Snappy, int32 ids) | {:.0} MB | {n_pq} | {t_pq:.2} s | {:.1} M | {:.2}x |",
        size(&parquet),
        n_pq as f64 / t_pq / 1e6,
        t_tsv / t_pq
    );
    println!("({threads} threads; the ratio is TSV time over Parquet time: above 1 means Parquet reads faster)");
}
