//! Treatment-effect ranking (the paper's Methods 5.2): each well's distance to its plate's
//! median control profile, z-scored by the control wells' own distances on that plate,
//! averaged per treatment. Used to pick weak, middle and strong treatments.

use std::collections::BTreeMap;

use profiles::stats::{mean_std, median};
use profiles::ProfileTable;
use serde::{Deserialize, Serialize};

use crate::config::MetadataConfig;
use crate::error::{DpError, Result};

/// One treatment's effect size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreatmentEffect {
    /// The treatment.
    pub label: String,
    /// Mean over its wells of (distance to the plate's median control − mean control
    /// distance) / s.d. of the control distances.
    pub effect: f64,
    /// Wells averaged.
    pub n_wells: usize,
}

/// Effects of every non-control treatment, strongest first (ties by label).
pub fn treatment_effects(
    wells: &ProfileTable,
    meta: &MetadataConfig,
) -> Result<Vec<TreatmentEffect>> {
    let plates = wells.metadata(&meta.plate_field)?;
    let labels = wells.metadata(&meta.label_field)?;
    let x = wells.features();
    let mut by_plate: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in plates.iter().enumerate() {
        by_plate.entry(p).or_default().push(i);
    }
    let mut z = vec![f64::NAN; wells.n_rows()];
    for (plate, rows) in by_plate {
        let ctl: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| labels[i] == meta.control_value)
            .collect();
        if ctl.len() < 2 {
            return Err(DpError::data(
                wells.source(),
                format!(
                    "plate {plate}: {} control wells, effect sizes need at least 2",
                    ctl.len()
                ),
            ));
        }
        let centre: Vec<f64> = (0..x.ncols())
            .map(|j| median(ctl.iter().map(|&i| x[[i, j]])))
            .collect();
        let dist = |i: usize| -> f64 {
            x.row(i)
                .iter()
                .zip(&centre)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (mu, sd) = mean_std(ctl.iter().map(|&i| dist(i)));
        if !(sd > 0.0) {
            return Err(DpError::data(
                wells.source(),
                format!("plate {plate}: the control wells' distances do not vary"),
            ));
        }
        for &i in &rows {
            z[i] = (dist(i) - mu) / sd;
        }
    }
    let mut per: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        if *l != meta.control_value {
            per.entry(l).or_default().push(z[i]);
        }
    }
    let mut out: Vec<TreatmentEffect> = per
        .into_iter()
        .map(|(l, v)| TreatmentEffect {
            label: l.to_string(),
            effect: v.iter().sum::<f64>() / v.len() as f64,
            n_wells: v.len(),
        })
        .collect();
    out.sort_by(|a, b| b.effect.total_cmp(&a.effect).then(a.label.cmp(&b.label)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::tests::cells;
    use crate::aggregate::well_profiles;

    #[test]
    fn effects_by_hand() {
        // Plate P: controls at 0, 2 (1-d) → median 1, distances 1, 1 … add a third at 4 →
        // median 2, distances 2, 0, 2 → mean 4/3, s.d. √(8/9). Treatment "a" at 6: distance 4 →
        // z = (4 − 4/3)/√(8/9).
        let t = cells(&[
            ("P", "A1", "1", "DMSO", "", vec![0.0]),
            ("P", "A2", "1", "DMSO", "", vec![2.0]),
            ("P", "A3", "1", "DMSO", "", vec![4.0]),
            ("P", "B1", "1", "a", "m", vec![6.0]),
            ("P", "B2", "1", "b", "m", vec![2.5]),
        ]);
        let m = MetadataConfig::default();
        let e = treatment_effects(&well_profiles(&t, &m).unwrap(), &m).unwrap();
        assert_eq!(e[0].label, "a");
        let want = (4.0 - 4.0 / 3.0) / (8.0f64 / 9.0).sqrt();
        assert!((e[0].effect - want).abs() < 1e-12, "{e:?}");
        assert_eq!(e[1].label, "b");
        assert!(e[1].effect < e[0].effect);
        let one = cells(&[
            ("P", "A1", "1", "DMSO", "", vec![0.0]),
            ("P", "B1", "1", "a", "m", vec![1.0]),
        ]);
        let err = treatment_effects(&well_profiles(&one, &m).unwrap(), &m)
            .unwrap_err()
            .to_string();
        assert!(err.contains("plate P: 1 control wells"), "{err}");
    }
}
