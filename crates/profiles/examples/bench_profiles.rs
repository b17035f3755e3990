//! Table I/O and profile operations on a seeded 10,000 × 1,000 plate, in seconds:
//! `cargo xtask bench profiles` (ours and scripts/bench_profiles_pycytominer.py alternating on
//! the same file), or `cargo run --release -p cellpaint-profiles --example bench_profiles [OUT]`.
//!
//! Writes the plate to target/bench/profiles_input.csv (untimed; the peer reads the same file),
//! then times: reading it, writing it as CSV and as .csv.gz, writing and reading it as Parquet
//! (snappy), mad_robustize normalisation on all
//! wells, and feature selection (variance and correlation thresholds), each once.

use std::time::Instant;

use cellpaint_profiles::{
    feature_select, normalize, read_table, write_table, FeatureSelectOp, FeatureSelectParams,
    NormalizeMethod, NormalizeParams, ReadOptions, SyntheticPlate,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1);
    let plate = SyntheticPlate {
        seed: 0,
        n_controls: 1_000,
        n_compounds: 2_250,
        n_doses: 4,
        n_moas: 20,
        n_features: 1_000,
        n_factors: 20,
    }
    .generate();
    std::fs::create_dir_all("target/bench")?;
    let input = std::path::Path::new("target/bench/profiles_input.csv");
    write_table(&plate, input)?;
    let dir = tempfile::tempdir()?;

    let time = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| {
        let start = Instant::now();
        f().map(|()| start.elapsed().as_secs_f64())
    };
    let mut table = None;
    let read_csv_s = time(&mut || {
        table = Some(read_table(input, &ReadOptions::default())?);
        Ok(())
    })?;
    let table = table.expect("read");
    let write_csv_s = time(&mut || Ok(write_table(&table, dir.path().join("out.csv"))?))?;
    let write_csv_gz_s = time(&mut || Ok(write_table(&table, dir.path().join("out.csv.gz"))?))?;
    let gz_mb = std::fs::metadata(dir.path().join("out.csv.gz"))?.len() as f64 / 1e6;
    let parquet = dir.path().join("out.parquet");
    let write_parquet_s = time(&mut || Ok(write_table(&table, &parquet)?))?;
    let parquet_mb = std::fs::metadata(&parquet)?.len() as f64 / 1e6;
    let read_parquet_s = time(&mut || {
        let back = read_table(&parquet, &ReadOptions::default())?;
        assert_eq!(back.n_rows(), table.n_rows());
        Ok(())
    })?;
    let normalize_s = time(&mut || {
        normalize(&table, &NormalizeParams::new(NormalizeMethod::MadRobustize))?;
        Ok(())
    })?;
    let mut kept = 0;
    let feature_select_s = time(&mut || {
        let params = FeatureSelectParams {
            operations: vec![
                FeatureSelectOp::VarianceThreshold,
                FeatureSelectOp::CorrelationThreshold,
            ],
            ..Default::default()
        };
        kept = feature_select(&table, &params)?.0.n_features();
        Ok(())
    })?;
    let result = serde_json::json!({
        "table": format!("{} rows × {} features, seeded", table.n_rows(), table.n_features()),
        "threads": rayon::current_num_threads(),
        "read_csv_s": read_csv_s,
        "write_csv_s": write_csv_s,
        "write_csv_gz_s": write_csv_gz_s,
        "csv_gz_mb": gz_mb,
        "write_parquet_s": write_parquet_s,
        "read_parquet_s": read_parquet_s,
        "parquet_mb": parquet_mb,
        "normalize_s": normalize_s,
        "feature_select_s": feature_select_s,
        "features_kept": kept,
    });
    let text = serde_json::to_string_pretty(&result)?;
    match out {
        Some(path) => std::fs::write(path, text + "\n")?,
        None => println!("{text}"),
    }
    Ok(())
}
