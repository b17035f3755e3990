//! `cargo bench -p profiling-eval`: AP + mAP (null 10,000) on 10,000 profiles × 1,000 features
//! in 100 replicate groups, seeded. Plain timing harness (no criterion) to keep build time low;
//! prints the median of 3 runs.

use std::time::Instant;

use ndarray::Array2;
use profiles::ProfileTable;
use profiling_eval::*;
use rand::{Rng, SeedableRng};

fn table(n: usize, p: usize, groups: usize, seed: u64) -> ProfileTable {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f64>> = (0..groups)
        .map(|_| (0..p).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut x = Array2::<f64>::zeros((n, p));
    for r in 0..n {
        for c in 0..p {
            x[[r, c]] = 0.3 * centres[r % groups][c] + rng.random_range(-1.0..1.0);
        }
    }
    ProfileTable::new(
        "bench",
        vec!["Metadata_group".into()],
        vec![(0..n).map(|r| format!("g{:03}", r % groups)).collect()],
        (0..p).map(|c| format!("f{c}")).collect(),
        x,
    )
    .unwrap()
}

fn main() {
    // BENCH_N overrides the number of profiles (e.g. to compare with a slower peer).
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (p, groups) = (1_000, 100);
    let t = table(n, p, groups, 7);
    let spec = PairSpec {
        pos_sameby: vec!["Metadata_group".into()],
        neg_diffby: vec!["Metadata_group".into()],
        ..Default::default()
    };
    let params = MapParams {
        sameby: vec!["Metadata_group".into()],
        null_size: 10_000,
        threshold: 0.05,
        seed: 0,
    };
    if std::env::var_os("PROFILE_PARTS").is_some() {
        let s0 = Instant::now();
        let prep = Prepared::new(t.features(), Similarity::Cosine);
        let s1 = Instant::now();
        let sums: Vec<f64> = prep.map_rows(64, |_, sims| sims[0]);
        let s2 = Instant::now();
        let aps = average_precision(&t, &spec, Similarity::Cosine).unwrap();
        let s3 = Instant::now();
        mean_average_precision(&t, &aps, &params).unwrap();
        let s4 = Instant::now();
        println!(
            "prepare {:?} gemm {:?} ap {:?} map+null {:?} ({})",
            s1 - s0,
            s2 - s1,
            s3 - s2,
            s4 - s3,
            sums.len()
        );
    }
    let mut times = Vec::new();
    let mut mean = 0.0;
    for _ in 0..3 {
        let start = Instant::now();
        let aps = average_precision(&t, &spec, Similarity::Cosine).unwrap();
        let maps = mean_average_precision(&t, &aps, &params).unwrap();
        times.push(start.elapsed().as_secs_f64());
        mean = maps.iter().map(|g| g.mean_average_precision).sum::<f64>() / maps.len() as f64;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "map_{n}_x_1k_100_groups: median {:.2} s (runs {:?}), {} threads, mean mAP {:.4}",
        times[1],
        times.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>(),
        rayon::current_num_threads(),
        mean
    );
}
