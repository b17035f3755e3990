//! Memory and time of `cellpaint aggregate` on single cells in Parquet (streamed column by
//! column): writes a seeded folder of single-cell parts (CytoTable's layout: Metadata_Plate,
//! Metadata_Well, Metadata_Site, then float64 features; 384 wells, 100,000 cells a part) for
//! `cellpaint aggregate DIR wells.csv` to be run on under `/usr/bin/time -v`.
//!
//! `cargo run --release -p cellpaint-profiles --example bench_parquet_aggregate -- CELLS FEATURES DIR`

use cellpaint_profiles::{write_table, ProfileTable};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (cells, features): (usize, usize) = (args[1].parse()?, args[2].parse()?);
    let dir = std::path::Path::new(&args[3]);
    std::fs::create_dir_all(dir)?;
    const PART: usize = 100_000;
    const WELLS: usize = 384;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let names: Vec<String> = (0..features)
        .map(|j| format!("Cells_Feature_{j:04}"))
        .collect();
    for (k, start) in (0..cells).step_by(PART).enumerate() {
        let n = PART.min(cells - start);
        // Cells in random wells (not grouped), as a database export mixes sites.
        let wells: Vec<usize> = (0..n).map(|_| rng.random_range(0..WELLS)).collect();
        let well = |w: usize| format!("{}{:02}", (b'A' + (w / 24) as u8) as char, w % 24 + 1);
        let meta = vec![
            vec!["P1".to_string(); n],
            wells.iter().map(|&w| well(w)).collect(),
            (0..n)
                .map(|_| rng.random_range(1..10).to_string())
                .collect(),
        ];
        let values = Array2::from_shape_fn((n, features), |(i, j)| {
            wells[i] as f64 * 0.01 + j as f64 + rng.random::<f64>()
        });
        let table = ProfileTable::new(
            "synthetic cells",
            vec![
                "Metadata_Plate".into(),
                "Metadata_Well".into(),
                "Metadata_Site".into(),
            ],
            meta,
            names.clone(),
            values,
        )?;
        write_table(&table, dir.join(format!("part-{k:04}.parquet")))?;
    }
    println!("{cells} cells × {features} features in {}", dir.display());
    Ok(())
}
