//! Single cells → wells from a CellProfiler SQLite database, streamed: time and peak memory.
//!
//! `cargo run --release -p cellpaint-profiles --features sqlite --example bench_sqlite -- make
//! DB CELLS FEATURES WELLS` writes a seeded synthetic database (untimed);
//! `… -- run DB` aggregates it to well medians and prints seconds and peak RSS (VmHWM) as
//! JSON. scripts/bench_sqlite_pycytominer.py runs pycytominer's SingleCells on the same file.

use std::path::Path;
use std::time::Instant;

use cellpaint_profiles::sqlite::{aggregate_sqlite, write_synthetic_database, SqliteAggregate};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("make") if args.len() == 5 => {
            let start = Instant::now();
            write_synthetic_database(
                Path::new(&args[1]),
                args[2].parse()?,
                args[3].parse()?,
                args[4].parse()?,
                0,
            )?;
            eprintln!(
                "wrote {} in {:.1} s",
                args[1],
                start.elapsed().as_secs_f64()
            );
        }
        Some("run") if args.len() == 2 => {
            let start = Instant::now();
            let wells = aggregate_sqlite(Path::new(&args[1]), &SqliteAggregate::default())?;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "database": args[1],
                    "database_mb": std::fs::metadata(&args[1])?.len() as f64 / 1e6,
                    "wells": wells.n_rows(),
                    "features": wells.n_features(),
                    "aggregate_s": secs,
                    "peak_rss_mb": peak_rss_mb(),
                })
            );
        }
        _ => return Err("usage: bench_sqlite make DB CELLS FEATURES WELLS | run DB".into()),
    }
    Ok(())
}
