//! A seeded synthetic plate: the embedded default when no real data is at hand, and a test
//! fixture with known structure (correlated features, DMSO controls, compounds sharing MOAs).

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::table::ProfileTable;

/// Shape of the synthetic plate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticPlate {
    /// Seed of every random draw.
    pub seed: u64,
    /// Control (DMSO) wells.
    pub n_controls: usize,
    /// Treated compounds.
    pub n_compounds: usize,
    /// Doses per compound (one well each).
    pub n_doses: usize,
    /// Mechanisms of action the compounds are drawn from.
    pub n_moas: usize,
    /// Feature columns.
    pub n_features: usize,
    /// Number of shared latent factors that make the features correlated.
    pub n_factors: usize,
}

impl Default for SyntheticPlate {
    fn default() -> Self {
        Self {
            seed: 0,
            n_controls: 24,
            n_compounds: 16,
            n_doses: 4,
            n_moas: 4,
            n_features: 60,
            n_factors: 6,
        }
    }
}

/// A standard normal draw (Box–Muller), so the fixture depends only on `rand`'s uniform stream.
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl SyntheticPlate {
    /// Generates the plate: same seed, same table, on every machine.
    pub fn generate(&self) -> ProfileTable {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let p = self.n_features;
        let normal = |rng: &mut ChaCha8Rng| standard_normal(rng);
        let loadings: Vec<Vec<f64>> = (0..p)
            .map(|_| (0..self.n_factors).map(|_| normal(&mut rng)).collect())
            .collect();
        let moa_effects: Vec<Vec<f64>> = (0..self.n_moas)
            .map(|_| (0..p).map(|_| 1.5 * normal(&mut rng)).collect())
            .collect();
        let n = self.n_controls + self.n_compounds * self.n_doses;
        let (mut plate, mut well, mut sample, mut moa, mut dose) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut x = Array2::<f64>::zeros((n, p));
        for r in 0..n {
            plate.push("SYNTH0001".to_string());
            well.push(format!(
                "{}{:02}",
                (b'A' + (r / 24) as u8) as char,
                r % 24 + 1
            ));
            let factors: Vec<f64> = (0..self.n_factors).map(|_| normal(&mut rng)).collect();
            for c in 0..p {
                let shared: f64 = loadings[c].iter().zip(&factors).map(|(l, f)| l * f).sum();
                x[[r, c]] = shared + 0.5 * normal(&mut rng);
            }
            if r < self.n_controls {
                sample.push("DMSO".to_string());
                moa.push(String::new());
                dose.push("0".to_string());
            } else {
                let k = r - self.n_controls;
                let (cpd, d) = (k / self.n_doses, k % self.n_doses);
                let m = cpd % self.n_moas;
                let strength = 0.5 * (d + 1) as f64;
                for c in 0..p {
                    x[[r, c]] += strength * moa_effects[m][c];
                }
                sample.push(format!("BRD-SYN{:04}", cpd + 1));
                moa.push(format!("synthetic moa {}", m + 1));
                dose.push(format!("{}", [0.1, 1.0, 3.0, 10.0, 30.0, 100.0][d.min(5)]));
            }
        }
        ProfileTable::new(
            format!("synthetic plate (seed {})", self.seed),
            [
                "Metadata_Plate",
                "Metadata_Well",
                "Metadata_broad_sample",
                "Metadata_moa",
                "Metadata_mmoles_per_liter",
            ]
            .map(String::from)
            .to_vec(),
            vec![plate, well, sample, moa, dose],
            (0..p)
                .map(|c| format!("Cells_Synthetic_Feature_{c:03}"))
                .collect(),
            x,
        )
        .expect("synthetic table is well formed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_plate_other_seed_other_plate() {
        let a = SyntheticPlate::default().generate();
        let b = SyntheticPlate::default().generate();
        assert_eq!(a, b);
        let c = SyntheticPlate {
            seed: 1,
            ..Default::default()
        }
        .generate();
        assert_ne!(a.features(), c.features());
        assert_eq!(a.n_rows(), 24 + 16 * 4);
        assert_eq!(a.metadata("Metadata_broad_sample").unwrap()[0], "DMSO");
    }
}
