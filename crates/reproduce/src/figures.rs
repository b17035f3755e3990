//! SVG figures with plotters: line charts, scatter plots, grouped dot plots and heatmaps.
//! Each renders into memory and is written atomically.

use std::path::Path;

use anyhow::{anyhow, Result};
use ndarray::ArrayView2;
use plotters::prelude::*;

/// A named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

fn save(path: &Path, svg: String) -> Result<()> {
    profiles::write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
    Ok(())
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a figure: {e:?}")
}

fn bounds(series: &[Series], log_x: bool) -> (f64, f64, f64, f64) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.1, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| {
        if b > a {
            (b - a) * 0.05
        } else {
            a.abs().max(1.0) * 0.05
        }
    };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    if log_x {
        (x0 / 1.2, x1 * 1.2, y0 - py, y1 + py)
    } else {
        (x0 - px, x1 + px, y0 - py, y1 + py)
    }
}

/// Lines (`points: false`) or markers (`points: true`) for each series, with a legend.
pub fn xy_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
    points: bool,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (x0, x1, y0, y1) = bounds(series, log_x);
        let mut b = ChartBuilder::on(&root);
        b.caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .draw()
                    .map_err(plot_err)?;
                for (i, s) in series.iter().enumerate() {
                    let color = Palette99::pick(i).to_rgba();
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_x || *x > 0.0))
                        .collect();
                    let anno = if points {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                            .map_err(plot_err)?
                    } else {
                        chart
                            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                            .map_err(plot_err)?
                    };
                    anno.label(s.name.clone()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                    });
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(plot_err)?;
            }};
        }
        if log_x {
            draw!(b
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(plot_err)?);
        } else {
            draw!(b.build_cartesian_2d(x0..x1, y0..y1).map_err(plot_err)?);
        }
        root.present().map_err(plot_err)?;
    }
    save(path, svg)
}

/// One column of dots per category, one colour per series (e.g. mean L2 of real vs shuffled
/// for each model).
pub fn dot_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let all: Vec<f64> = series
            .iter()
            .flat_map(|s| s.1.iter().copied())
            .filter(|v| v.is_finite())
            .collect();
        let lo = all.iter().copied().fold(f64::MAX, f64::min);
        let hi = all.iter().copied().fold(f64::MIN, f64::max);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.1).max(1e-9);
        let n = categories.len() as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-1..n, (lo - pad)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_labels(categories.len() + 2)
            .x_label_formatter(&|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| categories.get(i).cloned())
                    .unwrap_or_default()
            })
            .y_desc(y_label)
            .draw()
            .map_err(plot_err)?;
        for (k, (name, values)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        .map(|(i, &v)| Circle::new((i as i32, v), 6, color.filled())),
                )
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x + 7, y), 5, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    save(path, svg)
}

/// Blue (low) – white – red (high) on [lo, hi]; white at the midpoint.
fn diverging(v: f64, lo: f64, hi: f64) -> RGBColor {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mix = |a: f64, b: f64, t: f64| (a + (b - a) * t).round() as u8;
    if t < 0.5 {
        let s = t / 0.5;
        RGBColor(
            mix(33.0, 255.0, s),
            mix(102.0, 255.0, s),
            mix(172.0, 255.0, s),
        )
    } else {
        let s = (t - 0.5) / 0.5;
        RGBColor(
            mix(255.0, 178.0, s),
            mix(255.0, 24.0, s),
            mix(255.0, 43.0, s),
        )
    }
}

/// A heatmap of `values` (rows × columns) with labelled rows and columns; the colour scale runs
/// over [lo, hi] (values outside are clipped) and each cell prints its value.
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    path: &Path,
    title: &str,
    row_labels: &[String],
    col_labels: &[String],
    values: ArrayView2<'_, f64>,
    lo: f64,
    hi: f64,
) -> Result<()> {
    let (nr, nc) = values.dim();
    if row_labels.len() != nr || col_labels.len() != nc {
        return Err(anyhow!(
            "heatmap '{title}': {}×{} labels for a {nr}×{nc} matrix",
            row_labels.len(),
            col_labels.len()
        ));
    }
    let cell = 36u32;
    let (w, h) = (160 + cell * nc as u32 + 20, 60 + cell * nr as u32 + 150);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        root.draw(&Text::new(title.to_string(), (10, 10), ("sans-serif", 16)))
            .map_err(plot_err)?;
        let (x0, y0) = (160i32, 50i32);
        for i in 0..nr {
            root.draw(&Text::new(
                row_labels[i].clone(),
                (6, y0 + i as i32 * cell as i32 + cell as i32 / 2 - 6),
                ("sans-serif", 12),
            ))
            .map_err(plot_err)?;
            for j in 0..nc {
                let v = values[[i, j]];
                let (x, y) = (x0 + (j as u32 * cell) as i32, y0 + (i as u32 * cell) as i32);
                let color = if v.is_finite() {
                    diverging(v, lo, hi)
                } else {
                    RGBColor(200, 200, 200)
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    color.filled(),
                ))
                .map_err(plot_err)?;
                root.draw(&Text::new(
                    format!("{v:.2}"),
                    (x + 4, y + cell as i32 / 2 - 5),
                    ("sans-serif", 10),
                ))
                .map_err(plot_err)?;
            }
        }
        for (j, label) in col_labels.iter().enumerate() {
            let x = x0 + (j as u32 * cell) as i32 + cell as i32 / 2 - 6;
            let y = y0 + (nr as u32 * cell) as i32 + 6;
            let style =
                TextStyle::from(("sans-serif", 12).into_font()).transform(FontTransform::Rotate90);
            root.draw(&Text::new(label.clone(), (x, y), style))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    save(path, svg)
}
