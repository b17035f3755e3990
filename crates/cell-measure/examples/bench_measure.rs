//! Objects measured per second (AreaShape + Intensity on the 3 channels; and separately
//! Granularity + RadialDistribution on the 3 channels) on the five real NF1 fields with CellProfiler's nucleus and cell masks; images are decoded before the clock
//! starts. The ten masks are measured in parallel (rayon, as `cellpaint measure` measures
//! fields); `threads` says how many. `cargo xtask bench measure` runs it beside `scripts/bench_measure_cp.py`
//! (cp_measure 0.3.0 on the same objects and pixels), alternating.

use std::time::Instant;

use cell_measure::{
    measure_intensity, measure_shapes, GranularSpectrum, GranularityParams, Objects,
    RadialGeometry, RadialParams,
};
use ndarray::Array2;
use rayon::prelude::*;

const FIELDS: [(&str, &str); 5] = [
    ("B7", "3"),
    ("D6", "2"),
    ("D7", "1"),
    ("F7", "2"),
    ("H12", "1"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = profiles::resolve_data_dir(None)?
        .ok_or("no data directory (CELLPAINT_DATA or ../shared/data)")?
        .join("images/nf1_schwann_3ch");
    let read = |sub: &str, file: String| -> Result<Array2<u16>, Box<dyn std::error::Error>> {
        Ok(cell_images::read_plane(dir.join(sub).join(file))?.pixels)
    };
    // (labels, three channels) per field and object kind.
    let mut work = Vec::new();
    for (well, site) in FIELDS {
        let channels = ["1_{s}_DAPI", "2_{s}_GFP", "3_{s}_RFP"]
            .iter()
            .map(|c| {
                let name = format!("{well}_01_{}_001.tif", c.replace("{s}", site));
                Ok(read("Plate_2_images", name)?.mapv(|v| f64::from(v) / 65535.0))
            })
            .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
        for mask in [
            format!("{well}_01_1_{site}_DAPI_001_MaskNuclei.tiff"),
            format!("{well}_01_3_{site}_RFP_001_MaskCells.tiff"),
        ] {
            work.push((
                read("Plate_2_masks", mask)?.mapv(|v| v > 0),
                channels.clone(),
            ));
        }
    }
    let rounds = 5;
    let start = Instant::now();
    let mut objects = 0;
    for _ in 0..rounds {
        objects += work
            .par_iter()
            .map(|(mask, channels)| {
                let o = Objects::from_mask(mask.view());
                std::hint::black_box(measure_shapes(&o));
                for ch in channels {
                    std::hint::black_box(measure_intensity(&o, ch.view())?);
                }
                Ok(o.count())
            })
            .collect::<cell_measure::Result<Vec<usize>>>()?
            .iter()
            .sum::<usize>();
    }
    let seconds = start.elapsed().as_secs_f64();
    // Granularity (CellProfiler's defaults; one spectrum per field and channel, as cp_measure
    // computes it per call) and RadialDistribution (4 rings) of the same objects.
    let rounds_gr = std::env::var("GR_ROUNDS").map_or(2, |v| v.parse().unwrap());
    let start = Instant::now();
    for _ in 0..rounds_gr {
        work.par_iter()
            .map(|(mask, channels)| {
                let o = Objects::from_mask(mask.view());
                let geometry = RadialGeometry::of(&o, &RadialParams::default())?;
                for ch in channels {
                    let spectrum = GranularSpectrum::new(ch.view(), &GranularityParams::default())?;
                    std::hint::black_box(spectrum.of_objects(&o)?);
                    std::hint::black_box(geometry.values(&o, ch.view())?);
                }
                Ok(())
            })
            .collect::<cell_measure::Result<Vec<()>>>()?;
    }
    let seconds_gr = start.elapsed().as_secs_f64();
    let result = serde_json::json!({
        "work": "AreaShape + Intensity (3 channels) of the NF1 nuclei and cell components, 5 fields; \
                 separately Granularity + RadialDistribution (3 channels)",
        "threads": rayon::current_num_threads(),
        "objects": objects / rounds,
        "objects_per_s": objects as f64 / seconds,
        "granularity_radial_objects_per_s": (objects / rounds * rounds_gr) as f64 / seconds_gr,
    });
    println!("{result}");
    if let Some(path) = std::env::args().nth(1) {
        profiles::write_json(std::path::Path::new(&path), &result)?;
    }
    Ok(())
}
