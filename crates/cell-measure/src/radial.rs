//! `RadialDistribution`: CellProfiler's `MeasureObjectIntensityDistribution` with scaled
//! bins — how an object's intensity is spread from its centre to its edge.
//!
//! The centre is the object's pixel farthest from its edge (Euclidean distance to the nearest
//! pixel outside it; the first in raster order on ties). Each pixel's distance from the centre
//! is the shortest 8-connected path inside the object (steps 1 and √2), and its normalised
//! distance `d_centre / (d_centre + d_edge + 0.001)` puts it in one of `bins` rings. Per ring:
//! `FracAtD`, the fraction of the object's intensity in it; `MeanFrac`, that fraction over the
//! fraction of the object's pixels in it; `RadialCV`, the coefficient of variation of the mean
//! intensities of 8 wedges around the centre.

use ndarray::{Array2, ArrayView2};

use crate::distance::squared_distance_to_outside;
use crate::error::{finite, MeasureError, Result};
use crate::objects::{Object, Objects};

/// The three per-ring features, CellProfiler's names, in the order of a ring's values.
pub const RADIAL_FEATURES: [&str; 3] = ["FracAtD", "MeanFrac", "RadialCV"];

/// MeasureObjectIntensityDistribution's settings (scaled bins, the object's own centre).
/// `Default` is CellProfiler's 4 rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadialParams {
    /// Number of rings from centre to edge.
    pub bins: usize,
}

impl Default for RadialParams {
    fn default() -> Self {
        Self { bins: 4 }
    }
}

impl RadialParams {
    /// The settings, or an error naming the one out of range.
    pub fn checked(self) -> Result<Self> {
        if self.bins == 0 || self.bins > 100 {
            return Err(MeasureError::Setting {
                what: "radial distribution bins (expected 1 to 100)".into(),
                value: self.bins.to_string(),
            });
        }
        Ok(self)
    }

    /// Column names for `channel`, in the order of [`RadialGeometry::values`]' output: for each feature
    /// of [`RADIAL_FEATURES`], each ring, CellProfiler's `RadialDistribution_<F>_<Channel>_<k>of<n>`.
    pub fn names(&self, channel: &str) -> Vec<String> {
        RADIAL_FEATURES
            .iter()
            .flat_map(|f| {
                (1..=self.bins)
                    .map(move |k| format!("RadialDistribution_{f}_{channel}_{k}of{}", self.bins))
            })
            .collect()
    }
}

/// Where each pixel of one object lies: its ring and wedge. Channel-independent, so computed
/// once per object set ([`RadialGeometry::of`]) and used for every channel.
#[derive(Debug, Clone)]
pub struct RadialGeometry {
    bins: usize,
    /// Per object, per pixel (in the order of [`Object::pixels`]): `Some((ring, wedge))`, or
    /// `None` for a pixel no path from the centre reaches (a second piece of the object).
    places: Vec<Vec<Option<(u8, u8)>>>,
}

impl RadialGeometry {
    /// Rings and wedges of every object of `objects`.
    pub fn of(objects: &Objects, params: &RadialParams) -> Result<Self> {
        let params = params.clone().checked()?;
        let dim = objects.labels().dim();
        let places = objects
            .objects()
            .iter()
            .map(|o| places_of(o, dim, params.bins))
            .collect();
        Ok(Self {
            bins: params.bins,
            places,
        })
    }

    /// The `3 × bins` values ([`RadialParams::names`] order) of every object in `pixels`.
    pub fn values(&self, objects: &Objects, pixels: ArrayView2<'_, f64>) -> Result<Vec<Vec<f64>>> {
        objects.check_size(pixels.dim())?;
        let nb = self.bins;
        objects
            .objects()
            .iter()
            .zip(&self.places)
            .map(|(o, places)| {
                // Sums and counts per ring and per (ring, wedge).
                let mut sum = vec![0.0; nb];
                let mut count = vec![0usize; nb];
                let mut wedge_sum = vec![[0.0f64; 8]; nb];
                let mut wedge_count = vec![[0usize; 8]; nb];
                for (&(r, c), place) in o.pixels.iter().zip(places) {
                    let v = finite(pixels[[r, c]], r, c)?;
                    if let Some((ring, wedge)) = *place {
                        let (ring, wedge) = (ring as usize, wedge as usize);
                        sum[ring] += v;
                        count[ring] += 1;
                        wedge_sum[ring][wedge] += v;
                        wedge_count[ring][wedge] += 1;
                    }
                }
                let total: f64 = sum.iter().sum();
                let pixels_total: usize = count.iter().sum();
                let mut out = vec![0.0; 3 * nb];
                for k in 0..nb {
                    let frac = sum[k] / total;
                    let pixel_frac = count[k] as f64 / pixels_total as f64;
                    out[k] = frac;
                    out[nb + k] = frac / (pixel_frac + f64::EPSILON);
                    let means: Vec<f64> = (0..8)
                        .filter(|&w| wedge_count[k][w] > 0)
                        .map(|w| wedge_sum[k][w] / wedge_count[k][w] as f64)
                        .collect();
                    out[2 * nb + k] = if means.is_empty() {
                        0.0
                    } else {
                        let m = means.iter().sum::<f64>() / means.len() as f64;
                        let var = means.iter().map(|x| (x - m) * (x - m)).sum::<f64>()
                            / means.len() as f64;
                        var.sqrt() / m
                    };
                }
                Ok(out)
            })
            .collect()
    }
}

/// [`RadialGeometry`] of `objects` read out in `pixels`: `3 × bins` values per object.
pub fn measure_radial_distribution(
    objects: &Objects,
    pixels: ArrayView2<'_, f64>,
    params: &RadialParams,
) -> Result<Vec<Vec<f64>>> {
    objects.check_size(pixels.dim())?;
    RadialGeometry::of(objects, params)?.values(objects, pixels)
}

/// Ring and wedge of each pixel of `o`, worked out in its bounding box grown by one pixel.
fn places_of(o: &Object, (h, w): (usize, usize), bins: usize) -> Vec<Option<(u8, u8)>> {
    // The box grown by one pixel where the image allows.
    let top = o.min.0.saturating_sub(1);
    let left = o.min.1.saturating_sub(1);
    let bottom = (o.max.0 + 1).min(h);
    let right = (o.max.1 + 1).min(w);
    let (bh, bw) = (bottom - top, right - left);
    let mut inside = Array2::from_elem((bh, bw), false);
    for &(r, c) in &o.pixels {
        inside[[r - top, c - left]] = true;
    }
    let edge2 = squared_distance_to_outside(&inside);
    // The centre: the largest distance to the edge, first in raster order.
    let mut centre = (o.pixels[0].0 - top, o.pixels[0].1 - left);
    for &(r, c) in &o.pixels {
        let p = (r - top, c - left);
        if edge2[p] > edge2[centre] {
            centre = p;
        }
    }
    // Path length from the centre inside the object: CellProfiler's propagate with no image
    // term (steps 1 and √2).
    let mut seed = Array2::<u32>::zeros(inside.dim());
    seed[centre] = 1;
    let (_, from_centre) = crate::segment::propagate(None, seed.view(), &inside, 1.0);
    let (ci, cj) = (centre.0 as isize, centre.1 as isize);
    o.pixels
        .iter()
        .map(|&(r, c)| {
            let p = (r - top, c - left);
            let d = from_centre[p];
            if !d.is_finite() {
                return None;
            }
            let to_edge = edge2[p].sqrt();
            let normalised = d / (d + to_edge + 0.001);
            let ring = ((normalised * bins as f64) as usize).min(bins - 1);
            let (i, j) = (p.0 as isize, p.1 as isize);
            let wedge =
                (i > ci) as u8 + 2 * (j > cj) as u8 + 4 * ((i - ci).abs() > (j - cj).abs()) as u8;
            Some((ring as u8, wedge))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_with_a_bright_centre_has_its_intensity_in_the_inner_ring() {
        // A disk of radius 10 on a 25×25 field; intensity 1 within 3 pixels of the centre,
        // 0.1 elsewhere in the disk.
        let n = 25;
        let mut labels = Array2::<u32>::zeros((n, n));
        let mut px = Array2::<f64>::zeros((n, n));
        for r in 0..n {
            for c in 0..n {
                let d2 = (r as f64 - 12.0).powi(2) + (c as f64 - 12.0).powi(2);
                if d2 <= 100.0 {
                    labels[[r, c]] = 1;
                    px[[r, c]] = if d2 <= 9.0 { 1.0 } else { 0.1 };
                }
            }
        }
        let objects = Objects::from_labels(labels);
        let v = measure_radial_distribution(&objects, px.view(), &RadialParams::default()).unwrap();
        let v = &v[0];
        let frac: f64 = v[..4].iter().sum();
        assert!((frac - 1.0).abs() < 1e-12);
        // The inner ring holds far more than its share of pixels' worth of intensity.
        assert!(v[4] > 2.0 && v[7] < 1.0, "{v:?}");
        // The outer rings are uniform (0.1) all round: CV 0.
        assert!(v[10].abs() < 1e-12 && v[11].abs() < 1e-12, "{v:?}");
        // One half bright, the other dark: the wedges differ in every ring.
        let half = Array2::from_shape_fn((n, n), |(_, c)| if c > 12 { 1.0 } else { 0.1 });
        let h =
            measure_radial_distribution(&objects, half.view(), &RadialParams::default()).unwrap();
        assert!(h[0][8..].iter().all(|&cv| cv > 0.5), "{:?}", h[0]);
        // Constant intensity: MeanFrac 1 in every ring, CV 0.
        let flat = measure_radial_distribution(
            &objects,
            Array2::from_elem((n, n), 0.5).view(),
            &RadialParams::default(),
        )
        .unwrap();
        for k in 0..4 {
            assert!((flat[0][4 + k] - 1.0).abs() < 1e-9 && flat[0][8 + k].abs() < 1e-12);
        }
    }
}
