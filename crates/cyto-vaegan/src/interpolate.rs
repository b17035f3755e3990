//! The paper's Figure 3 walk from a control cell to a treated cell: at each step the latents
//! with the largest |target − source| are switched to the target's values, the image is
//! decoded, and its re-encoded embedding is compared with the target's by cosine similarity.

use ndarray::{Array4, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{CytoError, Result};
use crate::train::FittedVaeGan;

/// Latent codes from `from` to `to` in `steps` + 1 stages: stage k has the ⌈k·L/steps⌉
/// coordinates of largest |to − from| taken from `to` (ties by index).
pub fn feature_shift_path(from: &[f32], to: &[f32], steps: usize) -> Vec<Vec<f32>> {
    let l = from.len();
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&a, &b| {
        let (da, db) = ((to[a] - from[a]).abs(), (to[b] - from[b]).abs());
        db.total_cmp(&da).then(a.cmp(&b))
    });
    (0..=steps)
        .map(|k| {
            let m = (k * l).div_ceil(steps.max(1));
            let mut z = from.to_vec();
            for &j in &order[..m.min(l)] {
                z[j] = to[j];
            }
            z
        })
        .collect()
}

/// Cosine similarity of two vectors, accumulated in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The row of `embeddings` (among `rows`) closest to their mean: the paper's target cell.
pub fn closest_to_mean(embeddings: ArrayView2<'_, f32>, rows: &[usize]) -> Option<usize> {
    if rows.is_empty() {
        return None;
    }
    let sub = embeddings.select(Axis(0), rows);
    let mean = sub.mean_axis(Axis(0))?;
    rows.iter()
        .zip(sub.rows())
        .map(|(&r, v)| (r, (&v - &mean).mapv(|d| d * d).sum()))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(r, _)| r)
}

/// Decoded images along the path and each one's cosine similarity to the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interpolation {
    /// `(steps + 1, C, H, W)`.
    pub images: Array4<f32>,
    /// Cosine of each step's re-encoded embedding to the target's.
    pub cosine_to_target: Vec<f64>,
}

/// Walks from latent `from` to latent `to` in `steps` steps through `model`.
pub fn interpolate(
    model: &FittedVaeGan,
    from: &[f32],
    to: &[f32],
    steps: usize,
) -> Result<Interpolation> {
    if from.len() != to.len() || steps == 0 {
        return Err(CytoError::data(
            "interpolation",
            format!(
                "latents of equal length and ≥ 1 step needed (got {}, {}, {steps} steps)",
                from.len(),
                to.len()
            ),
        ));
    }
    let path = feature_shift_path(from, to, steps);
    let z = ndarray::Array2::from_shape_fn((path.len(), from.len()), |(i, j)| path[i][j]);
    let images = model.decode(z.view())?;
    let again = model.embed_pixels(&images)?;
    let cosine_to_target = again
        .rows()
        .into_iter()
        .map(|r| cosine(r.as_slice().expect("standard layout"), to))
        .collect();
    Ok(Interpolation {
        images,
        cosine_to_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_switches_the_largest_differences_first() {
        let from = [0.0, 0.0, 0.0, 0.0];
        let to = [1.0, -5.0, 0.5, 3.0];
        let p = feature_shift_path(&from, &to, 2);
        assert_eq!(p[0], from.to_vec());
        assert_eq!(p[1], vec![0.0, -5.0, 0.0, 3.0]);
        assert_eq!(p[2], to.to_vec());
        assert!((cosine(&to, &to) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
    }

    #[test]
    fn target_is_the_cell_nearest_the_mean() {
        let e = ndarray::array![[0.0f32, 0.0], [10.0, 0.0], [4.0, 1.0], [100.0, 100.0]];
        assert_eq!(closest_to_mean(e.view(), &[0, 1, 2]), Some(2));
        assert_eq!(closest_to_mean(e.view(), &[]), None);
    }
}
