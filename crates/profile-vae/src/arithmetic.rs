//! Latent space arithmetic (the paper's polypharmacology test): for compounds annotated with
//! two mechanisms "A|B", predict their profile as decode(mean z(A) − mean z(control) + mean z(B))
//! and measure how close it is to the real mean profile of A|B — in a VAE's latent space, in PCA
//! space, or directly on the raw features — against a null with shuffled labels.

use std::collections::BTreeSet;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;

use crate::error::{Result, VaeError};
use crate::pca::Pca;
use crate::train::FittedVae;

/// A space to do the arithmetic in.
pub trait Embedding {
    /// Raw profiles `(n, d)` to points of the space.
    fn encode(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>>;
    /// Points of the space back to raw profiles.
    fn decode(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>>;
}

impl Embedding for FittedVae {
    fn encode(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.embed(x)
    }
    fn decode(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        FittedVae::decode(self, z)
    }
}

impl Embedding for Pca {
    fn encode(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.transform(x)
    }
    fn decode(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.inverse(z)
    }
}

/// Arithmetic on the raw features themselves.
pub struct RawFeatures;

impl Embedding for RawFeatures {
    fn encode(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Ok(x.to_owned())
    }
    fn decode(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Ok(z.to_owned())
    }
}

/// The arithmetic's labels: `control` where the sample is the control (its MOA field is empty
/// upstream), else the MOA annotation ("" when unannotated).
pub fn moa_labels(moa: &[String], sample: &[String], control: &str) -> Vec<String> {
    moa.iter()
        .zip(sample)
        .map(|(m, s)| if s == control { s.clone() } else { m.clone() })
        .collect()
}

/// (A, B, "A|B") for every label with exactly one `|` whose parts and itself occur.
pub fn valid_targets(labels: &[String]) -> Vec<(String, String, String)> {
    let present: BTreeSet<&str> = labels.iter().map(|s| s.as_str()).collect();
    present
        .iter()
        .filter_map(|l| {
            let (a, b) = l.split_once('|')?;
            (!b.contains('|') && present.contains(a) && present.contains(b))
                .then(|| (a.to_string(), b.to_string(), l.to_string()))
        })
        .collect()
}

/// Result for one A|B target.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArithmeticResult {
    /// The A|B label.
    pub target: String,
    /// Euclidean distance between predicted and real mean A|B profile (raw units).
    pub l2: f64,
    /// Pearson correlation between predicted and real mean A|B profile.
    pub pearson: f64,
}

fn mean_rows(z: &Array2<f64>, labels: &[String], which: &str) -> Option<Array1<f64>> {
    let rows: Vec<usize> = (0..labels.len()).filter(|&r| labels[r] == which).collect();
    (!rows.is_empty()).then(|| z.select(Axis(0), &rows).mean_axis(Axis(0)).expect("rows"))
}

/// Arithmetic for every valid target; `control` names the reference label (e.g. "DMSO").
pub fn latent_arithmetic(
    emb: &dyn Embedding,
    x: ArrayView2<'_, f64>,
    labels: &[String],
    control: &str,
) -> Result<Vec<ArithmeticResult>> {
    check_labels(x, labels)?;
    let z = emb.encode(x)?;
    predict_and_score(emb, &z, x, labels, labels, control)
}

fn check_labels(x: ArrayView2<'_, f64>, labels: &[String]) -> Result<()> {
    if labels.len() != x.nrows() {
        return Err(VaeError::Data(format!(
            "{} labels for {} profiles",
            labels.len(),
            x.nrows()
        )));
    }
    Ok(())
}

/// Predictions from the means under `predict_labels`, scored against the real A|B means under
/// `truth_labels`.
fn predict_and_score(
    emb: &dyn Embedding,
    z: &Array2<f64>,
    x: ArrayView2<'_, f64>,
    predict_labels: &[String],
    truth_labels: &[String],
    control: &str,
) -> Result<Vec<ArithmeticResult>> {
    let raw = x.to_owned();
    let zc = mean_rows(z, predict_labels, control)
        .ok_or_else(|| VaeError::Data(format!("no '{control}' rows to subtract")))?;
    let mut out = Vec::new();
    for (a, b, ab) in valid_targets(truth_labels) {
        let (Some(za), Some(zb), Some(truth)) = (
            mean_rows(z, predict_labels, &a),
            mean_rows(z, predict_labels, &b),
            mean_rows(&raw, truth_labels, &ab),
        ) else {
            continue;
        };
        let pred_z = (&za - &zc + &zb).insert_axis(Axis(0));
        let pred = emb.decode(pred_z.view())?.row(0).to_owned();
        let l2 = (&pred - &truth).mapv(|v| v * v).sum().sqrt();
        let pearson = profiles::stats::pearson(
            pred.as_slice().expect("owned"),
            truth.as_slice().expect("owned"),
        );
        out.push(ArithmeticResult {
            target: ab,
            l2,
            pearson,
        });
    }
    Ok(out)
}

/// The null: the whole label column shuffled `shuffles` times (seeded), predictions made from
/// the shuffled means and scored against the *real* mean A|B profile, as the paper describes
/// ("ten predictions of A|B from randomly permuted input data"). Shuffling the truth as well
/// would compare two near-global means and make the null distances small for no reason.
pub fn shuffled_null(
    emb: &dyn Embedding,
    x: ArrayView2<'_, f64>,
    labels: &[String],
    control: &str,
    shuffles: usize,
    seed: u64,
) -> Result<Vec<Vec<ArithmeticResult>>> {
    check_labels(x, labels)?;
    let z = emb.encode(x)?;
    let mut rng = cellpaint_core::rng::seeded_rng(seed);
    (0..shuffles)
        .map(|_| {
            let mut l = labels.to_vec();
            l.shuffle(&mut rng);
            predict_and_score(emb, &z, x, &l, labels, control)
        })
        .collect()
}

/// Per target: z-score of the real distance within [shuffled distances + real] (population
/// sd), and the one-sided p-value P(Z ≤ z) (small distances are good).
pub fn z_scores(
    real: &[ArithmeticResult],
    null: &[Vec<ArithmeticResult>],
) -> Vec<(String, f64, f64)> {
    real.iter()
        .map(|r| {
            let mut v: Vec<f64> = null
                .iter()
                .filter_map(|n| n.iter().find(|x| x.target == r.target))
                .map(|x| x.l2)
                .collect();
            v.push(r.l2);
            let (m, sd) = profiles::stats::mean_std(v.iter().copied());
            let z = (r.l2 - m) / sd;
            (r.target.clone(), z, profiling_eval::stats::normal_sf(-z))
        })
        .collect()
}
