//! `cargo bench -p topten-core --bench parse`: ratings-file parsing speed (MB/s), against
//! reading the same file and counting lines (the I/O floor) in the same run.
//! `TOPTEN_BENCH_PARSE_ROWS` sets the size (default 5,000,000 rows, about 115 MB).

use std::io::Read;
use std::time::Instant;

use topten_model::ingest::{read_ratings, ReadOptions};

mod common;

/// CPU seconds (user + system) this process has used, from /proc (Linux), so throughput can be
/// judged even when other work shares the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::synth_ratings(dir.path());
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let mb = bytes / 1e6;

    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut f = std::fs::File::open(&path).unwrap();
    let mut lines = 0usize;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    let floor = start.elapsed().as_secs_f64();

    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let (r, _) = read_ratings(&path, &ReadOptions::default()).unwrap();
    let parse = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(r.len(), lines);
    let threads = rayon::current_num_threads() as f64;
    println!("| file | rows | read + count lines | parse, wall clock | parse, CPU time | MB per CPU-second x {threads} threads |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {mb:.0} MB | {lines} | {:.0} MB/s ({floor:.2} s) | {:.0} MB/s ({parse:.2} s) | {cpu:.2} s | {:.0} MB/s |",
        mb / floor,
        mb / parse,
        mb / cpu * threads
    );
}
