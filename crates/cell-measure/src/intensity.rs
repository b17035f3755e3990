//! `Intensity`: CellProfiler's `MeasureObjectIntensity` for one channel.

use ndarray::ArrayView2;

use crate::error::{finite, Result};
use crate::objects::{Object, Objects};

/// Intensity of one object in one channel, named as CellProfiler names them
/// (`Intensity_<Name>_<Channel>`, `Location_<Name>_<Channel>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Intensity {
    /// Sum over the object's pixels.
    pub integrated: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Sum over the edge pixels (a 4-neighbour has another label).
    pub integrated_edge: f64,
    /// Mean over the edge pixels.
    pub mean_edge: f64,
    /// Standard deviation over the edge pixels.
    pub std_edge: f64,
    /// Minimum over the edge pixels.
    pub min_edge: f64,
    /// Maximum over the edge pixels.
    pub max_edge: f64,
    /// Distance between the intensity-weighted centre and the geometric centre, pixels.
    pub mass_displacement: f64,
    /// 25th percentile (CellProfiler's convention: position n·q in the sorted values,
    /// linearly interpolated).
    pub lower_quartile: f64,
    /// Median (same convention).
    pub median: f64,
    /// Median absolute deviation from the median (same convention).
    pub mad: f64,
    /// 75th percentile.
    pub upper_quartile: f64,
    /// Column of the intensity-weighted centre.
    pub center_mass_x: f64,
    /// Row of the intensity-weighted centre.
    pub center_mass_y: f64,
    /// Column of the brightest pixel (the first in raster order on ties).
    pub max_x: f64,
    /// Row of the brightest pixel.
    pub max_y: f64,
}

impl Intensity {
    /// `(CellProfiler name with its Intensity_ or Location_ prefix, value)`, in a fixed order.
    /// The feature names, in the order of [`Self::features`].
    pub const NAMES: [&'static str; 19] = [
        "Intensity_IntegratedIntensity",
        "Intensity_MeanIntensity",
        "Intensity_StdIntensity",
        "Intensity_MinIntensity",
        "Intensity_MaxIntensity",
        "Intensity_IntegratedIntensityEdge",
        "Intensity_MeanIntensityEdge",
        "Intensity_StdIntensityEdge",
        "Intensity_MinIntensityEdge",
        "Intensity_MaxIntensityEdge",
        "Intensity_MassDisplacement",
        "Intensity_LowerQuartileIntensity",
        "Intensity_MedianIntensity",
        "Intensity_MADIntensity",
        "Intensity_UpperQuartileIntensity",
        "Location_CenterMassIntensity_X",
        "Location_CenterMassIntensity_Y",
        "Location_MaxIntensity_X",
        "Location_MaxIntensity_Y",
    ];

    /// The values, in the order of [`Self::NAMES`].
    pub fn values(&self) -> [f64; 19] {
        [
            self.integrated,
            self.mean,
            self.std,
            self.min,
            self.max,
            self.integrated_edge,
            self.mean_edge,
            self.std_edge,
            self.min_edge,
            self.max_edge,
            self.mass_displacement,
            self.lower_quartile,
            self.median,
            self.mad,
            self.upper_quartile,
            self.center_mass_x,
            self.center_mass_y,
            self.max_x,
            self.max_y,
        ]
    }

    /// `(name, value)` pairs, in the order of [`Self::NAMES`].
    pub fn features(&self) -> [(&'static str, f64); 19] {
        let v = self.values();
        std::array::from_fn(|i| (Self::NAMES[i], v[i]))
    }
}

/// [`Intensity`] of every object in `pixels` (same size as the label image; CellProfiler's
/// scale: 16-bit values / 65535), in the objects' order. A non-finite pixel inside an object is
/// an error naming its position.
pub fn measure_intensity(objects: &Objects, pixels: ArrayView2<'_, f64>) -> Result<Vec<Intensity>> {
    objects.check_size(pixels.dim())?;
    objects
        .objects()
        .iter()
        .map(|o| intensity_of(objects, o, &pixels))
        .collect()
}

/// Mean and population s.d. (two passes, as numpy).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// CellProfiler's quantile: position n·q in the sorted values, linear between the neighbours,
/// the upper one clamped to the last value. `v` is reordered (a selection, not a sort: O(n)).
fn quantile(v: &mut [f64], q: f64) -> f64 {
    let n = v.len();
    let pos = n as f64 * q;
    let lo = (pos.floor() as usize).min(n - 1);
    let f = pos - lo as f64;
    let (_, &mut below, above) = v.select_nth_unstable_by(lo, f64::total_cmp);
    // The next value in sorted order is the smallest of those after position lo.
    let next = above
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .unwrap_or(below);
    below * (1.0 - f) + next * f
}

fn intensity_of(objects: &Objects, o: &Object, pixels: &ArrayView2<'_, f64>) -> Result<Intensity> {
    let mut values = Vec::with_capacity(o.pixels.len());
    let mut edge = Vec::new();
    for &(r, c) in &o.pixels {
        let v = finite(pixels[[r, c]], r, c)?;
        values.push(v);
        if objects.is_edge(o, r, c) {
            edge.push(v);
        }
    }
    let integrated: f64 = values.iter().sum();
    let (mean, std) = mean_std(&values);
    // The first brightest pixel in raster order.
    let argmax = values
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > values[best] { i } else { best });
    let n = values.len() as f64;
    let (mut gy, mut gx, mut wy, mut wx) = (0.0, 0.0, 0.0, 0.0);
    for (&(r, c), &v) in o.pixels.iter().zip(&values) {
        gy += r as f64;
        gx += c as f64;
        wy += r as f64 * v;
        wx += c as f64 * v;
    }
    let (gy, gx) = (gy / n, gx / n);
    let (cy, cx) = if integrated != 0.0 {
        (wy / integrated, wx / integrated)
    } else {
        (f64::NAN, f64::NAN)
    };
    let mut scratch = values.clone();
    let median = quantile(&mut scratch, 0.5);
    let lower_quartile = quantile(&mut scratch, 0.25);
    let upper_quartile = quantile(&mut scratch, 0.75);
    let (min, max) = scratch
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    scratch
        .iter_mut()
        .zip(&values)
        .for_each(|(d, v)| *d = (v - median).abs());
    let mad = quantile(&mut scratch, 0.5);
    let (edge_mean, edge_std) = if edge.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        mean_std(&edge)
    };
    let fold = |init: f64, f: fn(f64, f64) -> f64| {
        if edge.is_empty() {
            f64::NAN
        } else {
            edge.iter().copied().fold(init, f)
        }
    };
    Ok(Intensity {
        integrated,
        mean,
        std,
        min,
        max,
        integrated_edge: edge.iter().sum(),
        mean_edge: edge_mean,
        std_edge: edge_std,
        min_edge: fold(f64::INFINITY, f64::min),
        max_edge: fold(f64::NEG_INFINITY, f64::max),
        mass_displacement: ((cy - gy).powi(2) + (cx - gx).powi(2)).sqrt(),
        lower_quartile,
        median,
        mad,
        upper_quartile,
        center_mass_x: cx,
        center_mass_y: cy,
        max_x: o.pixels[argmax].1 as f64,
        max_y: o.pixels[argmax].0 as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn quartiles_follow_cellprofiler_not_numpy() {
        // n·q: for 4 values the lower quartile sits at position 1 (numpy's (n−1)·q: 0.75).
        let mut s = [4.0, 2.0, 1.0, 3.0];
        assert_eq!(quantile(&mut s, 0.25), 2.0);
        assert_eq!(quantile(&mut s, 0.5), 3.0);
        assert_eq!(quantile(&mut s, 0.75), 4.0);
        assert_eq!(quantile(&mut [7.0], 0.5), 7.0);
        // Between neighbours: 5 values, q = 0.5 sits at 2.5.
        assert_eq!(quantile(&mut [5.0, 1.0, 4.0, 2.0, 3.0], 0.5), 3.5);
    }

    #[test]
    fn a_bright_corner_displaces_the_mass_and_edges_skip_the_interior() {
        let objects = Objects::from_mask(ndarray::Array2::from_elem((3, 3), true).view());
        let px = array![[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
        let m = &measure_intensity(&objects, px.view()).unwrap()[0];
        // All mass at (0, 0); the geometric centre is (1, 1).
        assert_eq!((m.center_mass_x, m.center_mass_y), (0.0, 0.0));
        assert!((m.mass_displacement - 2f64.sqrt()).abs() < 1e-12);
        // The object fills the image, so no pixel has a neighbour of another label.
        assert!(m.mean_edge.is_nan() && m.integrated_edge == 0.0);
        assert_eq!((m.max_x, m.max_y, m.integrated), (0.0, 0.0, 1.0));
    }

    #[test]
    fn non_finite_pixels_and_wrong_sizes_are_refused() {
        let objects = Objects::from_mask(array![[true, false]].view());
        let e = measure_intensity(&objects, array![[f64::NAN, 0.0]].view()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pixel at row 1, column 1 (1-based) is NaN: expected a finite intensity"
        );
        let e = measure_intensity(&objects, array![[0.0]].view()).unwrap_err();
        assert!(e.to_string().contains("(1, 2)"), "{e}");
    }
}
