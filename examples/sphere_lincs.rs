//! Sphere the LINCS plate on its DMSO wells and show what sphering does to the controls.
//!
//! `cargo run --release -p cellpaint-examples --example sphere_lincs`
//! (uses the seeded synthetic plate when no data directory is found)

use ndarray::Axis;
use profiles::data::known;
use profiles::{read_table, resolve_data_dir, ReadOptions, Selection, SyntheticPlate};
use sphering::{SpheringMethod, SpheringParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plate = match resolve_data_dir(None)? {
        Some(dir) => read_table(dir.join(known::LINCS_PLATE), &ReadOptions::default())?,
        None => {
            eprintln!("no data directory: using the seeded synthetic plate");
            SyntheticPlate::default().generate()
        }
    };
    let dmso: Selection = "Metadata_broad_sample=DMSO".parse()?;
    let rows = plate.rows_matching(&[dmso])?;
    let controls = plate.features().select(Axis(0), &rows);
    let fitted = SpheringParams::new(SpheringMethod::Zca)
        .lambda(0.01)
        .fit(controls.view())?;
    let white = fitted.transform(plate.features())?;
    let top: Vec<String> = fitted
        .eigenvalues
        .iter()
        .take(5)
        .map(|v| format!("{v:.3}"))
        .collect();
    println!(
        "{}: {} wells, {} features, {} DMSO wells",
        plate.source(),
        plate.n_rows(),
        plate.n_features(),
        rows.len()
    );
    println!("largest control-covariance eigenvalues: {}", top.join(", "));
    let spread = |m: ndarray::ArrayView2<f64>| m.var_axis(Axis(0), 0.0).mean().unwrap_or(f64::NAN);
    println!(
        "mean per-feature variance of DMSO wells: before {:.3}, after {:.3}",
        spread(controls.view()),
        spread(white.select(Axis(0), &rows).view())
    );
    Ok(())
}
