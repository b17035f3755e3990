//! SVG figures with plotters: line charts, scatter plots, grouped dot plots and heatmaps.
//! Each renders into memory and is written atomically.

use std::path::Path;

use anyhow::{anyhow, Result};
use ndarray::ArrayView2;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A named series of (x, y) points.
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series called `name`.
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

/// Points of a series that cannot be drawn: non-finite, or ≤ 0 on a log axis.
fn undrawable(s: &Series, log_x: bool) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .copied()
        .filter(|(x, y)| !(x.is_finite() && y.is_finite() && (!log_x || *x > 0.0)))
        .collect()
}

/// How a value that cannot be drawn is written: `∞`, `−∞`, `n/a`.
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v == f64::INFINITY {
        "∞".into()
    } else if v == f64::NEG_INFINITY {
        "−∞".into()
    } else {
        let a = v.abs();
        if a != 0.0 && !(1e-3..1e4).contains(&a) {
            format!("{v:.2e}")
        } else {
            format!("{v:.3}")
        }
    }
}

/// The legend beside the plot, never over the data: a swatch and a name per series, and under
/// a name the values of that series that could not be drawn.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(String, RGBAColor, Vec<String>)],
) -> Result<()> {
    let mut y = 40;
    for (name, color, notes) in entries {
        area.draw(&Rectangle::new([(8, y - 5), (22, y + 5)], color.filled()))
            .map_err(plot_err)?;
        area.draw(&Text::new(name.clone(), (28, y - 7), ("sans-serif", 13)))
            .map_err(plot_err)?;
        y += 18;
        for n in notes {
            area.draw(&Text::new(
                n.clone(),
                (28, y - 7),
                ("sans-serif", 11).into_font().color(&BLACK.mix(0.7)),
            ))
            .map_err(plot_err)?;
            y += 15;
        }
        y += 4;
    }
    Ok(())
}

/// Lines (`points: false`) or markers (`points: true`) for each series, with the legend beside
/// the plot. A point that cannot be drawn (∞, NaN, ≤ 0 on a log axis) is listed under its
/// series' legend entry with its value, and an infinite y is marked by a triangle at the edge.
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
        let root = SVGBackend::with_string(&mut svg, (960, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (plot_area, legend_area) = root.split_horizontally(720);
        let (x0, x1, y0, y1) = bounds(series, log_x);
        let mut b = ChartBuilder::on(&plot_area);
        b.caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70);
        let mut entries = Vec::new();
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .light_line_style(TRANSPARENT)
                    .bold_line_style(BLACK.mix(0.08))
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
                    if points {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                            .map_err(plot_err)?;
                    } else {
                        chart
                            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                            .map_err(plot_err)?;
                    }
                    let off = undrawable(s, log_x);
                    // An infinite y at a drawable x: a triangle on the top (or bottom) edge.
                    let edge: Vec<(f64, f64)> = off
                        .iter()
                        .filter(|(x, y)| x.is_finite() && (!log_x || *x > 0.0) && y.is_infinite())
                        .map(|&(x, y)| (x, if y > 0.0 { y1 } else { y0 }))
                        .collect();
                    chart
                        .draw_series(
                            edge.iter()
                                .map(|&p| TriangleMarker::new(p, 7, color.filled())),
                        )
                        .map_err(plot_err)?;
                    let notes = off
                        .iter()
                        .map(|&(x, y)| format!("not drawn: ({}, {})", value_text(x), value_text(y)))
                        .collect();
                    entries.push((s.name.clone(), color, notes));
                }
            }};
        }
        if log_x {
            draw!(b
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(plot_err)?);
        } else {
            draw!(b.build_cartesian_2d(x0..x1, y0..y1).map_err(plot_err)?);
        }
        legend(&legend_area, &entries)?;
        root.present().map_err(plot_err)?;
    }
    save(path, svg)
}

/// One panel of [`bar_chart`]: a y axis and one value per category.
pub struct BarPanel {
    /// The y axis label, with units.
    pub y_label: String,
    /// One value per category (a non-finite one is marked, not dropped).
    pub values: Vec<f64>,
}

/// Bars side by side in panels (e.g. mAP and folds of enrichment per representation), each
/// bar labelled with its value. A value that cannot be drawn is a hatched full-height bar
/// labelled `∞` or `n/a`, never left out.
pub fn bar_chart(
    path: &Path,
    title: &str,
    categories: &[String],
    panels: &[BarPanel],
) -> Result<()> {
    if panels.iter().any(|p| p.values.len() != categories.len()) {
        return Err(anyhow!(
            "bar chart '{title}': a panel's values do not match the {} categories",
            categories.len()
        ));
    }
    let mut svg = String::new();
    {
        // Wide enough for each category's label under its bar (≈ 140 px a bar).
        let per_panel = (140 * categories.len() as u32).max(440);
        let width = 120 + per_panel * panels.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, ("sans-serif", 18)).map_err(plot_err)?;
        let n = categories.len();
        for (panel, area) in panels.iter().zip(root.split_evenly((1, panels.len()))) {
            let finite: Vec<f64> = panel
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let hi = finite.iter().copied().fold(0.0f64, f64::max);
            let lo = finite.iter().copied().fold(0.0f64, f64::min);
            let top = if hi > 0.0 { hi * 1.18 } else { 1.0 };
            let mut chart = ChartBuilder::on(&area)
                .margin(14)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.5..n as f64 - 0.5, lo.min(0.0)..top)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.08))
                .y_desc(panel.y_label.as_str())
                .x_labels(n)
                .x_label_formatter(&|v| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 {
                        categories.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(plot_err)?;
            let label_style = TextStyle::from(("sans-serif", 12).into_font())
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            for (i, &v) in panel.values.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let (a, b) = (i as f64 - 0.35, i as f64 + 0.35);
                let (bar_top, style) = if v.is_finite() {
                    (v, color.filled())
                } else {
                    (top * 0.9, color.mix(0.25).filled())
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, 0.0), (b, bar_top)],
                        style,
                    )))
                    .map_err(plot_err)?;
                if !v.is_finite() {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(a, 0.0), (b, bar_top)],
                            color.stroke_width(2),
                        )))
                        .map_err(plot_err)?;
                }
                chart
                    .draw_series(std::iter::once(Text::new(
                        if v.is_finite() {
                            value_text(v)
                        } else {
                            format!("{} (not to scale)", value_text(v))
                        },
                        (i as f64, bar_top.max(0.0) + top * 0.01),
                        label_style.clone(),
                    )))
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    save(path, svg)
}

/// One column of dots per category, one colour per series (e.g. mean L2 of real vs shuffled
/// for each model), the legend beside the plot. A value that cannot be drawn is listed under
/// its series' legend entry with its category.
pub fn dot_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (plot_area, legend_area) = root.split_horizontally(720);
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
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(-1..n, (lo - pad)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .disable_x_mesh()
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
        let mut entries = Vec::new();
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
                .map_err(plot_err)?;
            let notes = values
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_finite())
                .map(|(i, &v)| {
                    let c = categories.get(i).map(String::as_str).unwrap_or("?");
                    format!("not drawn: {c} = {}", value_text(v))
                })
                .collect();
            entries.push((name.clone(), color, notes));
        }
        legend(&legend_area, &entries)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_cannot_be_drawn_are_marked_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("xy.svg");
        let series = [
            Series::new("classical", vec![(1.0, f64::INFINITY)]),
            Series::new("network", vec![(0.2, 3.5)]),
            Series::new("broken", vec![(f64::NAN, 1.0)]),
        ];
        xy_chart(&p, "t", "mAP", "folds", &series, false, true).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        for want in [
            "classical",
            "network",
            "broken",
            "not drawn: (1.000, ∞)",
            "not drawn: (n/a, 1.000)",
        ] {
            assert!(svg.contains(want), "missing {want}");
        }
        let p = dir.path().join("bars.svg");
        let cats = vec!["classical".to_string(), "random".into(), "trained".into()];
        bar_chart(
            &p,
            "t",
            &cats,
            &[
                BarPanel {
                    y_label: "mAP".into(),
                    values: vec![1.0, 0.2, 0.4],
                },
                BarPanel {
                    y_label: "folds".into(),
                    values: vec![f64::INFINITY, 1.5, f64::NAN],
                },
            ],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        for want in [
            "∞ (not to scale)",
            "n/a (not to scale)",
            "1.500",
            "classical",
            "trained",
        ] {
            assert!(svg.contains(want), "missing {want}");
        }
        let e = bar_chart(
            &p,
            "t",
            &cats,
            &[BarPanel {
                y_label: "x".into(),
                values: vec![1.0],
            }],
        );
        assert!(e.is_err());
    }
}
