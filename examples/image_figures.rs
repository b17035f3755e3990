//! Figures for docs/images.md: the real 5-channel field before and after DeepProfiler-style
//! preparation, its illumination functions, detected nuclei against CellProfiler's outlines,
//! its single-cell crops, and one simulated field per MOA.
//!
//! ```text
//! cargo run --release -p cellpaint-examples --example image_figures -- docs/images
//! ```

use std::path::PathBuf;

use cell_images::io::write_png_rgb8;
use cell_images::nuclei::count_outlined_objects;
use cell_images::resize::{percentiles_of, resize};
use cell_images::*;
use cellpaint_sim::{render_site, Screen, SimConfig};
use ndarray::{s, Array2, Array3, ArrayView2, Axis};

const SHOW: usize = 360;

/// A plane stretched between its 0.5 and 99.5 percentiles to [0, 1].
fn display(plane: ArrayView2<f32>) -> Array2<f32> {
    let mut v: Vec<f32> = plane.iter().copied().collect();
    let p = percentiles_of(&mut v, &[0.5, 99.5]);
    let r = (p[1] - p[0]).max(1e-6);
    plane.mapv(|x| ((x - p[0]) / r).clamp(0.0, 1.0))
}

fn gray_to_rgb(g: &Array2<f32>) -> Array3<u8> {
    let (h, w) = g.dim();
    Array3::from_shape_fn((h, w, 3), |(y, x, _)| (g[[y, x]] * 255.0).round() as u8)
}

/// Channels side by side, each shrunk to SHOW × SHOW and stretched for display.
fn strip(stack: &Array3<f32>, stretch: bool) -> Array2<f32> {
    let c = stack.shape()[0];
    let mut out = Array2::zeros((SHOW, SHOW * c + 4 * (c - 1)));
    for k in 0..c {
        let small = resize(stack.index_axis(Axis(0), k), SHOW, SHOW);
        let shown = if stretch {
            display(small.view())
        } else {
            small
        };
        let x0 = k * (SHOW + 4);
        out.slice_mut(s![.., x0..x0 + SHOW]).assign(&shown);
    }
    out
}

/// Cell Painting false colour: DNA blue, ER + RNA green, AGP + Mito red.
fn composite(stack: &Array3<f32>) -> Array3<u8> {
    let d: Vec<Array2<f32>> = (0..5)
        .map(|k| display(stack.index_axis(Axis(0), k)))
        .collect();
    let (h, w) = d[0].dim();
    Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
        let v = match c {
            0 => 0.6 * d[3][[y, x]] + 0.6 * d[4][[y, x]],
            1 => 0.6 * d[1][[y, x]] + 0.5 * d[2][[y, x]],
            _ => d[0][[y, x]],
        };
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/images".into()),
    );
    std::fs::create_dir_all(&out)?;
    let data = profiles::resolve_data_dir(None)?.ok_or("no data directory: set CELLPAINT_DATA")?;
    let field_dir = data.join("images/cellpainting_5ch/pediatric_BR00143976_C03_site3/images");
    let orig = field_dir.join("orig");
    let paths: Vec<PathBuf> = [5, 2, 6, 3, 4]
        .iter()
        .map(|n| orig.join(format!("r03c03f03p01-ch{n}sk1fk1fl1.tiff")))
        .collect();
    let channels: Vec<String> = CELL_PAINTING_CHANNELS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let field = Field::load(&channels, &paths)?;

    // Before: raw 16-bit, one fixed linear range per channel (min..max) so shading shows.
    let raw = field.pixels.clone();
    let mut raw_scaled = raw.clone();
    cell_images::field::min_max_scale(&mut raw_scaled);
    let before = strip(&raw_scaled.mapv(|v| v.powf(0.5)), false);
    write_png_rgb8(out.join("real_field_raw.png"), &gray_to_rgb(&before))?;

    let mut acc = IlluminationParams::default().accumulator()?;
    acc.add(&field, "field")?;
    let illum = acc.finish(&channels)?;
    let mut ill = illum.functions.clone();
    cell_images::field::min_max_scale(&mut ill);
    write_png_rgb8(
        out.join("real_field_illumination.png"),
        &gray_to_rgb(&strip(&ill, false)),
    )?;

    let corrected = illum.apply(&field)?;
    let tmp = tempfile::tempdir()?;
    let (pngs, report) = compress_field(
        &corrected,
        &paths,
        tmp.path(),
        &CompressionParams::default(),
    )?;
    let mut after = Array3::zeros((5, 1080, 1080));
    for (k, p) in pngs.iter().enumerate() {
        after
            .index_axis_mut(Axis(0), k)
            .assign(&read_plane(p)?.pixels.mapv(|v| v as f32 / 255.0));
    }
    write_png_rgb8(
        out.join("real_field_prepared.png"),
        &gray_to_rgb(&strip(&after, false)),
    )?;
    let small = Array3::from_shape_fn((5, 540, 540), |(k, y, x)| {
        let c = after.index_axis(Axis(0), k);
        (c[[2 * y, 2 * x]]
            + c[[2 * y + 1, 2 * x]]
            + c[[2 * y, 2 * x + 1]]
            + c[[2 * y + 1, 2 * x + 1]])
            / 4.0
    });
    write_png_rgb8(out.join("real_field_composite.png"), &composite(&small))?;

    // Nuclei: detected centres (red crosses) over CellProfiler's outlines (green) on DNA.
    let seg = detect_nuclei(corrected.channel(0), &NucleusParams::default())?;
    let outlines = read_image(field_dir.join("outlines/NucleiOutlines_BR00143976_C03_3.tiff"))?;
    let mask = outlines
        .pixels
        .map_axis(Axis(0), |px| px.iter().any(|&v| v > 0));
    let reference = count_outlined_objects(mask.view(), 20);
    let dna = display(corrected.channel(0));
    let mut overlay =
        Array3::from_shape_fn((1080, 1080, 3), |(y, x, _)| (dna[[y, x]] * 200.0) as u8);
    for ((y, x), &m) in mask.indexed_iter() {
        if m {
            overlay[[y, x, 0]] = 0;
            overlay[[y, x, 1]] = 255;
            overlay[[y, x, 2]] = 0;
        }
    }
    for n in &seg.nuclei {
        let (cx, cy) = (n.x.round() as isize, n.y.round() as isize);
        for d in -7isize..=7 {
            for (y, x) in [
                (cy + d, cx),
                (cy, cx + d),
                (cy + d, cx + 1),
                (cy + 1, cx + d),
            ] {
                if (0..1080).contains(&y) && (0..1080).contains(&x) {
                    overlay[[y as usize, x as usize, 0]] = 255;
                    overlay[[y as usize, x as usize, 1]] = 0;
                    overlay[[y as usize, x as usize, 2]] = 0;
                }
            }
        }
    }
    write_png_rgb8(out.join("real_field_nuclei.png"), &overlay)?;

    // Crops: up to 6 cells, channels side by side.
    let centers: Vec<(f64, f64)> = seg.nuclei.iter().map(|n| (n.x, n.y)).collect();
    let crops = extract_crops(&corrected, &centers, &CropParams::default())?;
    let n = crops.len().min(6);
    let mut grid = Array2::<f32>::ones((n * 132, 5 * 132));
    for (i, c) in crops.iter().take(n).enumerate() {
        for k in 0..5 {
            grid.slice_mut(s![i * 132..i * 132 + 128, k * 132..k * 132 + 128])
                .assign(&c.pixels.index_axis(Axis(0), k));
        }
    }
    write_png_rgb8(out.join("real_field_crops.png"), &gray_to_rgb(&grid))?;

    // One simulated field per MOA at the top dose, plus a control, all on the first plate.
    let cfg = SimConfig {
        image_size: 384,
        ..SimConfig::tiny(7)
    };
    let screen = Screen::design(&cfg)?;
    let top = cfg.doses.iter().copied().fold(0.0, f64::max);
    let mut shown = Vec::new();
    let control = screen
        .wells
        .iter()
        .position(|w| w.plate == 0 && w.compound.is_none())
        .ok_or("no control")?;
    shown.push(("control".to_string(), control));
    for (m, moa) in screen.truth.moas.iter().enumerate() {
        let well = screen.wells.iter().position(|w| {
            w.plate == 0
                && w.dose_um == top
                && w.compound
                    .is_some_and(|c| screen.truth.compounds[c].moas == vec![m])
        });
        if let Some(w) = well {
            shown.push((moa.name.clone(), w));
        }
    }
    let mut rows = Vec::new();
    for (i, (label, w)) in shown.iter().enumerate() {
        let site = render_site(&screen, *w, 0);
        let stack = site.pixels.mapv(|v| v as f32);
        let file = format!("simulated_{i}_{}.png", label.replace(' ', "_"));
        write_png_rgb8(out.join(&file), &composite(&stack))?;
        rows.push(format!(
            "| {label} | {} | {} | `{file}` |",
            screen.wells[*w].name(),
            site.nuclei.len()
        ));
    }
    let summary = format!(
        "compression factor {:.2} ({} → {} bytes); nuclei detected {} vs {} outlined by CellProfiler; {} crops\n\n| MOA | well | cells | file |\n|---|---|---|---|\n{}\n",
        report.factor(),
        report.bytes_in,
        report.bytes_out,
        seg.nuclei.len(),
        reference,
        crops.len(),
        rows.join("\n")
    );
    print!("{summary}");
    Ok(())
}
