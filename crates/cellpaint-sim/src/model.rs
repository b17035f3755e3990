//! The latent morphology model: named factors, MOA and compound effects, dose–response, the
//! confounders, and the linear map from latent factors to CellProfiler-like features.

use ndarray::{Array1, Array2};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{normal, unit_vector};

/// The latent factors every simulated phenotype lives in.
pub const LATENT_NAMES: [&str; 15] = [
    "nucleus_size",
    "cell_size",
    "nucleus_shape",
    "cell_shape",
    "intensity_DNA",
    "intensity_ER",
    "intensity_RNA",
    "intensity_AGP",
    "intensity_Mito",
    "texture_DNA",
    "texture_ER",
    "texture_RNA",
    "texture_AGP",
    "texture_Mito",
    "cell_count",
];
/// Latent factors.
pub const N_LATENT: usize = LATENT_NAMES.len();
/// Index of the nucleus size factor (log radius scale).
pub const NUCLEUS_SIZE: usize = 0;
/// Index of the cell size factor.
pub const CELL_SIZE: usize = 1;
/// Index of the nucleus elongation factor.
pub const NUCLEUS_SHAPE: usize = 2;
/// Index of the cell elongation factor.
pub const CELL_SHAPE: usize = 3;
/// Index of the first of five channel intensity factors (in [`CHANNELS`] order).
pub const INTENSITY: usize = 4;
/// Index of the first of five channel texture factors (in [`CHANNELS`] order).
pub const TEXTURE: usize = 9;
/// Index of the well-level cell count factor.
pub const CELL_COUNT: usize = 14;
/// The five Cell Painting channels, in the order of the intensity and texture factors.
pub const CHANNELS: [&str; 5] = ["DNA", "ER", "RNA", "AGP", "Mito"];

/// Hill dose–response: the fraction of the full effect at `dose`.
pub fn dose_response(dose: f64, ec50: f64, hill: f64) -> f64 {
    let r = (dose / ec50).powf(hill);
    r / (1.0 + r)
}

/// A feature: its CellProfiler-style name and the factor it mainly measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// CellProfiler-style name, e.g. `Cells_Intensity_MeanIntensity_ER`.
    pub name: String,
    /// Index of the latent factor it mainly measures.
    pub factor: usize,
}

/// Names `n` features, cycling over compartments × measurement groups × channels, each tied to
/// the latent factor it measures.
pub fn feature_specs(n: usize) -> Vec<FeatureSpec> {
    let mut templates: Vec<(String, usize)> = Vec::new();
    for comp in ["Nuclei", "Cells", "Cytoplasm"] {
        let (size, shape) = if comp == "Nuclei" {
            (NUCLEUS_SIZE, NUCLEUS_SHAPE)
        } else {
            (CELL_SIZE, CELL_SHAPE)
        };
        for m in ["Area", "Perimeter", "MajorAxisLength", "MinorAxisLength"] {
            templates.push((format!("{comp}_AreaShape_{m}"), size));
        }
        for m in ["Eccentricity", "FormFactor", "Solidity", "Extent"] {
            templates.push((format!("{comp}_AreaShape_{m}"), shape));
        }
        for (c, ch) in CHANNELS.iter().enumerate() {
            for m in [
                "MeanIntensity",
                "IntegratedIntensity",
                "MedianIntensity",
                "UpperQuartileIntensity",
            ] {
                templates.push((format!("{comp}_Intensity_{m}_{ch}"), INTENSITY + c));
            }
            for m in ["Contrast", "Entropy", "Variance", "InverseDifferenceMoment"] {
                templates.push((format!("{comp}_Texture_{m}_{ch}_3_00_256"), TEXTURE + c));
            }
        }
    }
    templates.push((
        "Cells_Neighbors_NumberOfNeighbors_Adjacent".into(),
        CELL_COUNT,
    ));
    templates.push(("Image_Count_Cells".into(), CELL_COUNT));
    // Interleave so the first N_LATENT features already cover every factor.
    let mut by_factor: Vec<Vec<String>> = vec![Vec::new(); N_LATENT];
    for (name, f) in templates {
        by_factor[f].push(name);
    }
    let mut out = Vec::with_capacity(n);
    let mut round = 0;
    while out.len() < n {
        for (f, names) in by_factor.iter().enumerate() {
            if out.len() == n {
                break;
            }
            let k = round % names.len();
            let rep = round / names.len();
            let name = if rep == 0 {
                names[k].clone()
            } else {
                format!("{}_{rep}", names[k])
            };
            out.push(FeatureSpec { name, factor: f });
        }
        round += 1;
    }
    out
}

/// The latent → feature map: each feature loads ≈1 on its own factor and a little on others,
/// and has its own measurement-noise scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMap {
    /// One per feature.
    pub specs: Vec<FeatureSpec>,
    /// `n_features × N_LATENT`.
    pub loadings: Array2<f64>,
    /// Per feature: multiplier of the measurement noise (between 0.5 and 2).
    pub noise_scale: Array1<f64>,
}

impl FeatureMap {
    /// `n` features covering every factor, loadings and noise scales drawn from `rng`.
    pub fn new(n: usize, rng: &mut impl Rng) -> Self {
        let specs = feature_specs(n);
        let mut loadings = Array2::zeros((n, N_LATENT));
        for (j, spec) in specs.iter().enumerate() {
            for k in 0..N_LATENT {
                loadings[[j, k]] = 0.15 * normal(rng);
            }
            loadings[[j, spec.factor]] = 0.7 + 0.6 * rng.random::<f64>();
        }
        let noise_scale =
            Array1::from_shape_fn(n, |_| (0.5f64).powf(1.0 - 2.0 * rng.random::<f64>()));
        Self {
            specs,
            loadings,
            noise_scale,
        }
    }

    /// The features' names, in column order.
    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }
}

/// A random MOA direction of length `effect`, sparse-ish: cell biology moves a few factors.
pub fn moa_vector(effect: f64, rng: &mut impl Rng) -> Array1<f64> {
    let mut v = unit_vector(N_LATENT, rng);
    // Emphasise 3–5 factors so MOAs look like distinct phenotypes.
    let k = rng.random_range(3..=5);
    for _ in 0..k {
        let i = rng.random_range(0..N_LATENT);
        v[i] *= 3.0;
    }
    let n = v.dot(&v).sqrt();
    v.mapv(|x| x * effect / n)
}
