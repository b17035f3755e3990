//! Interpreting latent features (the paper's Fig 3/S7): move one latent feature to ±3 with the
//! others at 0, decode both, and take the difference; then summarise that difference per
//! CellProfiler feature group (compartment × channel, parsed from the feature names).

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::arithmetic::Embedding;
use crate::error::{Result, VaeError};

/// Row `k`: decode(+m·e_k) − decode(−m·e_k), in the decoder's output units
/// (`latent` rows × features).
pub fn latent_traversal(emb: &dyn Embedding, latent: usize, magnitude: f64) -> Result<Array2<f64>> {
    if latent == 0 || !(magnitude > 0.0) {
        return Err(VaeError::Config(format!(
            "traversal needs ≥ 1 latent feature and a magnitude > 0 (got {latent}, {magnitude})"
        )));
    }
    let plus = Array2::from_diag_elem(latent, magnitude);
    let minus = Array2::from_diag_elem(latent, -magnitude);
    Ok(emb.decode(plus.view())? - emb.decode(minus.view())?)
}

/// The image channels of Cell Painting as CellProfiler names them.
pub const CHANNELS: [&str; 5] = ["DNA", "RNA", "ER", "AGP", "Mito"];

/// Compartment and channel of a CellProfiler feature: `Cells_Intensity_MeanIntensity_DNA` →
/// ("Cells", "DNA"). Shape features have no channel ("AreaShape"); correlation features name
/// two channels and are grouped under the first; anything else is "Other".
pub fn feature_group(name: &str) -> (String, String) {
    let mut parts = name.split('_');
    let compartment = parts.next().unwrap_or("").to_string();
    let rest: Vec<&str> = parts.collect();
    let channel = if rest.first() == Some(&"AreaShape") {
        "AreaShape".to_string()
    } else {
        rest.iter()
            .find(|p| CHANNELS.contains(p))
            .map_or_else(|| "Other".to_string(), |c| c.to_string())
    };
    (compartment, channel)
}

/// Latent features × feature groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// "Compartment-Channel", sorted.
    pub groups: Vec<String>,
    /// Features in each group.
    pub sizes: Vec<usize>,
    /// Mean absolute traversal difference of each latent feature over each group's features.
    pub values: Array2<f64>,
}

/// Mean |difference| per (latent feature, compartment × channel group).
pub fn summarise_by_group(
    traversal: ArrayView2<'_, f64>,
    feature_names: &[String],
) -> Result<GroupSummary> {
    if feature_names.len() != traversal.ncols() {
        return Err(VaeError::Data(format!(
            "{} feature names for {} traversal columns",
            feature_names.len(),
            traversal.ncols()
        )));
    }
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (j, n) in feature_names.iter().enumerate() {
        let (c, ch) = feature_group(n);
        members.entry(format!("{c}-{ch}")).or_default().push(j);
    }
    let mut values = Array2::zeros((traversal.nrows(), members.len()));
    for (g, cols) in members.values().enumerate() {
        for k in 0..traversal.nrows() {
            values[[k, g]] =
                cols.iter().map(|&j| traversal[[k, j]].abs()).sum::<f64>() / cols.len() as f64;
        }
    }
    Ok(GroupSummary {
        sizes: members.values().map(Vec::len).collect(),
        groups: members.into_keys().collect(),
        values,
    })
}

/// Pearson correlation between latent features over `z`'s rows (the paper's S5: lower
/// off-diagonal correlation = more disentangled). Constant latents get 0.
pub fn latent_correlation(z: ArrayView2<'_, f64>) -> Array2<f64> {
    let k = z.ncols();
    let cols: Vec<Vec<f64>> = (0..k).map(|j| z.column(j).to_vec()).collect();
    Array2::from_shape_fn((k, k), |(a, b)| {
        if a == b {
            1.0
        } else {
            let r = profiles::stats::pearson(&cols[a], &cols[b]);
            if r.is_finite() {
                r
            } else {
                0.0
            }
        }
    })
}
