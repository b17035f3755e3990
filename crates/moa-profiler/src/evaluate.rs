//! The paper's evaluation (Methods, "Evaluation metrics"), wired to `profiling_eval`: any
//! well-level embedding (MOAProfiler's, CellProfiler's, DeepProfiler's) goes through the same
//! code. Well tables carry the metadata columns [`PLATE`], [`WELL`], [`COMPOUND`], [`MOA`];
//! similarity is Pearson throughout.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::Array2;
use profiles::ProfileTable;
use profiling_eval::moa_profiler::{
    class_latent_assignment, holdout_aggregated, holdout_votes, intra_inter_delta, knn_all_k,
    micro_precision_recall, moa_profiler_percentiles, nearest_centroid, pairwise_enrichment,
    three_group_similarity, weighted_scores, PrCurve, Scores, ThreeGroups,
};
use profiling_eval::{logistic_probe, ProbeParams, Similarity};
use serde::{Deserialize, Serialize};

use crate::error::{MoaError, Result};
use crate::split::WellInfo;

/// Plate column of the well tables built here.
pub const PLATE: &str = "Metadata_Plate";
/// Well column.
pub const WELL: &str = "Metadata_Well";
/// Compound column.
pub const COMPOUND: &str = "Metadata_compound";
/// MOA column.
pub const MOA: &str = "Metadata_moa";

/// A well table from well embeddings `(wells, d)`, their feature names and the wells'
/// metadata.
pub fn well_table(
    source: &str,
    wells: &[WellInfo],
    x: Array2<f64>,
    names: Vec<String>,
) -> Result<ProfileTable> {
    let col = |f: fn(&WellInfo) -> &String| wells.iter().map(|w| f(w).clone()).collect();
    Ok(ProfileTable::new(
        source,
        vec![PLATE.into(), WELL.into(), COMPOUND.into(), MOA.into()],
        vec![
            col(|w| &w.plate),
            col(|w| &w.well),
            col(|w| &w.compound),
            col(|w| &w.moa),
        ],
        names,
        x,
    )?)
}

/// The wells the paper evaluates on, among `rows` (e.g. the test wells): not the control, and
/// of an MOA that has ≥ 2 compounds in the whole table.
pub fn evaluation_rows(table: &ProfileTable, control: &str, rows: &[usize]) -> Result<Vec<usize>> {
    let (cpd, moa) = (table.metadata(COMPOUND)?, table.metadata(MOA)?);
    let mut compounds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (c, m) in cpd.iter().zip(moa) {
        if c != control {
            compounds.entry(m).or_default().insert(c);
        }
    }
    Ok(rows
        .iter()
        .copied()
        .filter(|&r| cpd[r] != control && compounds[moa[r].as_str()].len() >= 2)
        .collect())
}

/// Field classification on test fields (the control left out, as the paper).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldClassification {
    /// Fields scored (the control's left out).
    pub n_fields: usize,
    /// Classes scored.
    pub n_classes: usize,
    /// Fraction of fields whose most probable class is right.
    pub accuracy: f64,
    /// 1 / number of classes scored.
    pub random_accuracy: f64,
    /// Micro-averaged precision–recall curve and its average precision.
    pub pr: PrCurve,
}

/// Accuracy and micro-averaged PR curve of class probabilities `probs` (columns in `classes`
/// order) for fields whose true class is `truth`; fields and the column of the control are
/// left out.
pub fn field_classification(
    probs: &[Vec<f32>],
    truth: &[String],
    classes: &[String],
    control: &str,
) -> Result<FieldClassification> {
    let scored: Vec<usize> = (0..classes.len())
        .filter(|&c| classes[c] != control)
        .collect();
    let mut t = Vec::with_capacity(truth.len());
    for (i, l) in truth.iter().enumerate() {
        t.push(classes.binary_search(l).map_err(|_| {
            MoaError::data(
                "field classification",
                format!("field {i}: unknown class '{l}'"),
            )
        })?);
    }
    let keep: Vec<usize> = (0..truth.len())
        .filter(|&i| scored.contains(&t[i]))
        .collect();
    if keep.is_empty() {
        return Err(MoaError::data(
            "field classification",
            "no test field of a scored class",
        ));
    }
    let correct = keep
        .iter()
        .filter(|&&i| cellpaint_core::classify::argmax(&probs[i]) == t[i])
        .count();
    Ok(FieldClassification {
        n_fields: keep.len(),
        n_classes: scored.len(),
        accuracy: correct as f64 / keep.len() as f64,
        random_accuracy: 1.0 / scored.len() as f64,
        pr: micro_precision_recall(probs, &t, &scored)?,
    })
}

/// Every embedding metric of Figure 3b–f on one well table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingMetrics {
    /// Wells evaluated.
    pub n_wells: usize,
    /// MOAs among them.
    pub n_moas: usize,
    /// (percentile, enrichment) for 98.0…99.8.
    pub enrichment: Vec<(f64, f64)>,
    /// Enrichment at the 99th percentile.
    pub enrichment_at_99: f64,
    /// Mean Pearson similarity of pairs of wells of one MOA.
    pub intra_moa: f64,
    /// Mean Pearson similarity of pairs of wells of different MOAs.
    pub inter_moa: f64,
    /// `intra_moa − inter_moa`.
    pub delta: f64,
    /// Scores for every k = 1 … n − 2.
    pub knn: Vec<(usize, Scores)>,
    /// The best k and its weighted F1.
    pub knn_best_f1: (usize, f64),
    /// Each well's MOA from the most similar MOA centroid (the query left out).
    pub class_latent_assignment: Scores,
    /// Figure 3f's three pair groups and their z-tests (when every group has pairs).
    pub three_groups: Option<ThreeGroups>,
    /// Logistic regression trained on the training wells, scored on these.
    pub logistic_probe: Option<Scores>,
}

/// Figure 3b–f metrics on `test` (rows chosen with [`evaluation_rows`]); with `train`,
/// also the logistic-regression probe fit on its wells (control excluded).
pub fn embedding_metrics(
    test: &ProfileTable,
    train: Option<&ProfileTable>,
    control: &str,
    probe: ProbeParams,
) -> Result<EmbeddingMetrics> {
    let sim = Similarity::Pearson;
    let percentiles = moa_profiler_percentiles();
    let enrichment = pairwise_enrichment(test, sim, MOA, &percentiles)?;
    let enrichment_at_99 = enrichment
        .iter()
        .find(|(p, _)| (p - 99.0).abs() < 1e-9)
        .map_or(f64::NAN, |e| e.1);
    let (intra_moa, inter_moa, delta) = intra_inter_delta(test, sim, MOA)?;
    let knn = knn_all_k(test, sim, MOA, None)?;
    let knn_best_f1 = knn
        .iter()
        .map(|(k, s)| (*k, s.f1))
        .fold((0, f64::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b });
    let class_latent = class_latent_assignment(test, sim, MOA)?;
    // Too few pairs of one kind (e.g. one compound per MOA) leaves the test undefined.
    let three_groups = three_group_similarity(test, sim, COMPOUND, MOA).ok();
    let logistic = match train {
        Some(tr) => {
            let cpd = tr.metadata(COMPOUND)?;
            let rows: Vec<usize> = (0..tr.n_rows()).filter(|&r| cpd[r] != control).collect();
            let tr = tr.select_rows(&rows);
            Some(logistic_probe(
                tr.features(),
                tr.metadata(MOA)?,
                test.features(),
                test.metadata(MOA)?,
                probe,
            )?)
        }
        None => None,
    };
    let mut moas: Vec<&String> = test.metadata(MOA)?.iter().collect();
    moas.sort();
    moas.dedup();
    Ok(EmbeddingMetrics {
        n_wells: test.n_rows(),
        n_moas: moas.len(),
        enrichment,
        enrichment_at_99,
        intra_moa,
        inter_moa,
        delta,
        knn,
        knn_best_f1,
        class_latent_assignment: class_latent,
        three_groups,
        logistic_probe: logistic,
    })
}

/// Figure 4b–c: MOAs of held-out compounds from training-MOA centroids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldoutMetrics {
    /// Held-out compounds.
    pub n_compounds: usize,
    /// Training MOAs (centroids).
    pub n_moas: usize,
    /// Held-out wells whose nearest MOA centroid is right.
    pub well_accuracy: f64,
    /// Individual vote: compounds whose wells' majority is right.
    pub individual_vote: f64,
    /// Aggregated vote: compounds whose median embedding's nearest centroid is right.
    pub aggregated_vote: f64,
    /// Weighted scores of the per-compound aggregated predictions.
    pub aggregated_scores: Scores,
    /// (compound, predicted, truth) of the aggregated vote.
    pub predictions: Vec<(String, String, String)>,
}

/// The compound hold-out evaluation: centroids (median well embedding per MOA) from `train`
/// (control wells left out), queries the wells of `heldout`.
pub fn holdout_metrics(
    train: &ProfileTable,
    heldout: &ProfileTable,
    control: &str,
) -> Result<HoldoutMetrics> {
    let sim = Similarity::Pearson;
    let cpd = train.metadata(COMPOUND)?;
    let rows: Vec<usize> = (0..train.n_rows()).filter(|&r| cpd[r] != control).collect();
    let train = train.select_rows(&rows);
    let well_pred = nearest_centroid(&train, MOA, heldout, sim)?;
    let (well_accuracy, individual_vote) = holdout_votes(
        heldout.metadata(COMPOUND)?,
        heldout.metadata(MOA)?,
        &well_pred,
    );
    let (aggregated_vote, predictions) = holdout_aggregated(&train, MOA, heldout, COMPOUND, sim)?;
    let truth: Vec<String> = predictions.iter().map(|p| p.2.clone()).collect();
    let pred: Vec<String> = predictions.iter().map(|p| p.1.clone()).collect();
    let mut moas = truth.clone();
    moas.sort();
    moas.dedup();
    Ok(HoldoutMetrics {
        n_compounds: predictions.len(),
        n_moas: moas.len(),
        well_accuracy,
        individual_vote,
        aggregated_vote,
        aggregated_scores: weighted_scores(&truth, &pred),
        predictions,
    })
}
