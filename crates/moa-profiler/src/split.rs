//! MOAProfiler's data rules and splits. Fields of one well always stay together.
//!
//! * Only single-MOA compounds (no `|` in the MOA) and the control are used; the control is a
//!   class but is left out of the metrics.
//! * Well hold-out: per MOA, its wells are split 60 / 10 / 30 into train / validation / test,
//!   every MOA in all three sets (when it has ≥ 3 wells), and the test wells taken round-robin
//!   over plates so they spread over several plates.
//! * Compound hold-out: for every MOA with ≥ 2 compounds one compound (seeded) is held out as
//!   the test set; the other wells split 70 / 30 into train / validation.

use std::collections::BTreeMap;

use cellpaint_core::rng::{derive_seed, permutation, seeded_rng};
use serde::{Deserialize, Serialize};

use crate::error::{MoaError, Result};

/// One well: where it is and what was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WellInfo {
    /// Plate.
    pub plate: String,
    /// Well.
    pub well: String,
    /// Compound (the control's name for control wells).
    pub compound: String,
    /// MOA label; several joined by `|`; the control's own name for controls.
    pub moa: String,
}

/// Indices of wells in each set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training wells.
    pub train: Vec<usize>,
    /// Validation wells (choose the kept epoch).
    pub valid: Vec<usize>,
    /// Test wells (every metric).
    pub test: Vec<usize>,
}

impl Split {
    fn sort(mut self) -> Self {
        self.train.sort_unstable();
        self.valid.sort_unstable();
        self.test.sort_unstable();
        self
    }
}

/// Wells usable by MOAProfiler: single-MOA compounds and the control.
pub fn usable_wells(wells: &[WellInfo], control: &str) -> Vec<usize> {
    (0..wells.len())
        .filter(|&i| {
            let w = &wells[i];
            w.compound == control || (!w.moa.is_empty() && !w.moa.contains('|'))
        })
        .collect()
}

/// Orders wells so consecutive ones come from different plates where possible.
fn round_robin_by_plate(wells: &[WellInfo], rows: &[usize]) -> Vec<usize> {
    let mut by_plate: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        by_plate.entry(&wells[i].plate).or_default().push(i);
    }
    let mut queues: Vec<Vec<usize>> = by_plate.into_values().collect();
    let mut out = Vec::with_capacity(rows.len());
    let (mut k, n_queues) = (0, queues.len());
    while out.len() < rows.len() {
        if let Some(i) = queues[k % n_queues].pop() {
            out.push(i);
        }
        k += 1;
    }
    out
}

fn check_fractions(f: &[f64]) -> Result<()> {
    if f.iter().any(|v| !(*v >= 0.0)) || (f.iter().sum::<f64>() - 1.0).abs() > 1e-9 {
        return Err(MoaError::Config(format!(
            "split fractions must be ≥ 0 and sum to 1, got {f:?}"
        )));
    }
    Ok(())
}

/// The well hold-out split over the usable wells (fractions train / valid / test, e.g.
/// 0.6 / 0.1 / 0.3), stratified by MOA.
pub fn well_holdout(
    wells: &[WellInfo],
    control: &str,
    fractions: [f64; 3],
    seed: u64,
) -> Result<Split> {
    check_fractions(&fractions)?;
    let mut by_moa: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in usable_wells(wells, control) {
        by_moa.entry(&wells[i].moa).or_default().push(i);
    }
    if by_moa.is_empty() {
        return Err(MoaError::data("wells", "no single-MOA or control wells"));
    }
    let mut split = Split::default();
    for (moa, rows) in by_moa {
        let mut rng = seeded_rng(derive_seed(seed, &format!("wells/{moa}")));
        let shuffled: Vec<usize> = permutation(rows.len(), &mut rng)
            .into_iter()
            .map(|k| rows[k])
            .collect();
        let ordered = round_robin_by_plate(wells, &shuffled);
        let n = ordered.len();
        // At least one well per set when there are three or more.
        let mut n_test = (n as f64 * fractions[2]).round() as usize;
        let mut n_valid = (n as f64 * fractions[1]).round() as usize;
        if n >= 3 {
            n_test = n_test.max(1);
            n_valid = n_valid.max(1);
        }
        n_test = n_test.min(n);
        n_valid = n_valid.min(n - n_test);
        split.test.extend(&ordered[..n_test]);
        split.valid.extend(&ordered[n_test..n_test + n_valid]);
        split.train.extend(&ordered[n_test + n_valid..]);
    }
    Ok(split.sort())
}

/// The compound hold-out split: one held-out compound per MOA with ≥ 2 compounds (test); the
/// remaining usable wells 70 / 30 train / valid (by well, seeded).
pub fn compound_holdout(wells: &[WellInfo], control: &str, seed: u64) -> Result<Split> {
    let usable = usable_wells(wells, control);
    let mut compounds: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for &i in &usable {
        if wells[i].compound != control {
            compounds
                .entry(&wells[i].moa)
                .or_default()
                .insert(&wells[i].compound);
        }
    }
    let mut held: Vec<&str> = Vec::new();
    for (moa, set) in &compounds {
        if set.len() >= 2 {
            let list: Vec<&str> = set.iter().copied().collect();
            let mut rng = seeded_rng(derive_seed(seed, &format!("compound/{moa}")));
            held.push(list[permutation(list.len(), &mut rng)[0]]);
        }
    }
    if held.is_empty() {
        return Err(MoaError::data(
            "wells",
            "no MOA has two compounds to hold one out",
        ));
    }
    let mut split = Split::default();
    let rest: Vec<usize> = usable
        .into_iter()
        .filter(|&i| {
            if held.contains(&wells[i].compound.as_str()) {
                split.test.push(i);
                false
            } else {
                true
            }
        })
        .collect();
    let mut rng = seeded_rng(derive_seed(seed, "compound/rest"));
    let order = permutation(rest.len(), &mut rng);
    let n_valid = (rest.len() as f64 * 0.3).round() as usize;
    for (k, &o) in order.iter().enumerate() {
        if k < n_valid {
            split.valid.push(rest[o]);
        } else {
            split.train.push(rest[o]);
        }
    }
    Ok(split.sort())
}

/// Training indices repeated so every class has as many as the largest (MOAProfiler's class
/// balancing by duplication): each class cycles through its own indices.
pub fn balance_by_duplication(rows: &[usize], labels: &[usize]) -> Vec<usize> {
    let mut by: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        by.entry(labels[i]).or_default().push(i);
    }
    let max = by.values().map(Vec::len).max().unwrap_or(0);
    by.values()
        .flat_map(|members| {
            members
                .iter()
                .cycle()
                .take(max)
                .copied()
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 MOAs (A: 2 compounds, B: 2 compounds, C: 1), a 2-MOA compound, DMSO; 2 plates ×
    /// 5 wells per compound.
    fn wells() -> Vec<WellInfo> {
        let mut v = Vec::new();
        for (compound, moa) in [
            ("a1", "A"),
            ("a2", "A"),
            ("b1", "B"),
            ("b2", "B"),
            ("c1", "C"),
            ("ab", "A|B"),
            ("DMSO", "DMSO"),
        ] {
            for plate in ["P1", "P2"] {
                for k in 0..5 {
                    v.push(WellInfo {
                        plate: plate.into(),
                        well: format!("{compound}{k}"),
                        compound: compound.into(),
                        moa: moa.into(),
                    });
                }
            }
        }
        v
    }

    fn disjoint_and_complete(s: &Split, usable: &[usize]) {
        let mut all: Vec<usize> = s
            .train
            .iter()
            .chain(&s.valid)
            .chain(&s.test)
            .copied()
            .collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a well in two sets");
        assert_eq!(all, usable);
    }

    #[test]
    fn well_holdout_is_stratified_disjoint_and_spread_over_plates() {
        let w = wells();
        let usable = usable_wells(&w, "DMSO");
        assert_eq!(usable.len(), 60, "the two-MOA compound is out");
        let s = well_holdout(&w, "DMSO", [0.6, 0.1, 0.3], 1).unwrap();
        disjoint_and_complete(&s, &usable);
        for moa in ["A", "B", "C", "DMSO"] {
            let count = |set: &[usize]| set.iter().filter(|&&i| w[i].moa == moa).count();
            let n = usable.iter().filter(|&&i| w[i].moa == moa).count();
            assert_eq!(count(&s.test), (n as f64 * 0.3).round() as usize, "{moa}");
            assert!(
                count(&s.valid) >= 1 && count(&s.train) >= 1,
                "{moa} in every set"
            );
            let plates: std::collections::BTreeSet<&str> = s
                .test
                .iter()
                .filter(|&&i| w[i].moa == moa)
                .map(|&i| w[i].plate.as_str())
                .collect();
            assert_eq!(plates.len(), 2, "{moa}'s test wells on both plates");
        }
        assert_eq!(
            s,
            well_holdout(&w, "DMSO", [0.6, 0.1, 0.3], 1).unwrap(),
            "seeded"
        );
        assert!(well_holdout(&w, "DMSO", [0.6, 0.1, 0.2], 1).is_err());
    }

    #[test]
    fn compound_holdout_holds_out_one_compound_per_eligible_moa() {
        let w = wells();
        let s = compound_holdout(&w, "DMSO", 3).unwrap();
        disjoint_and_complete(&s, &usable_wells(&w, "DMSO"));
        let held: std::collections::BTreeSet<&str> =
            s.test.iter().map(|&i| w[i].compound.as_str()).collect();
        assert_eq!(
            held.len(),
            2,
            "A and B have two compounds, C has one: {held:?}"
        );
        assert!(held.iter().any(|c| c.starts_with('a')) && held.iter().any(|c| c.starts_with('b')));
        for set in [&s.train, &s.valid] {
            assert!(set.iter().all(|&i| !held.contains(w[i].compound.as_str())));
        }
        // 70 / 30 of the other 40 wells.
        assert_eq!(s.valid.len(), 12);
        let single: Vec<WellInfo> = w
            .iter()
            .filter(|x| x.moa == "C" || x.moa == "DMSO")
            .cloned()
            .collect();
        assert!(compound_holdout(&single, "DMSO", 3)
            .unwrap_err()
            .to_string()
            .contains("two compounds"));
    }

    #[test]
    fn duplication_balances_classes() {
        let labels = [0, 0, 0, 1, 2, 2];
        let b = balance_by_duplication(&[0, 1, 2, 3, 4, 5], &labels);
        assert_eq!(b.len(), 9);
        for c in 0..3 {
            assert_eq!(b.iter().filter(|&&i| labels[i] == c).count(), 3);
        }
        assert_eq!(
            b.iter().filter(|&&i| i == 3).count(),
            3,
            "the single example repeats"
        );
    }
}
