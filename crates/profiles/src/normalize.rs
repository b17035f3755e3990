//! `normalize`: per-feature scaling fit on all rows or on controls, optionally per plate
//! (pycytominer `normalize`, with sklearn's scalers' formulas).

use ndarray::{Array1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::stats;
use crate::table::{ProfileTable, Selection};

/// The scaling applied to each feature: `(x - center) / scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormalizeMethod {
    /// center = mean, scale = standard deviation (ddof 0), as sklearn `StandardScaler`.
    Standardize,
    /// center = median, scale = interquartile range (25th–75th), as sklearn `RobustScaler`.
    Robustize,
    /// center = median, scale = 1.4826 × median absolute deviation + ε (pycytominer `RobustMAD`).
    MadRobustize,
    /// center = min, scale = max − min: fit rows land in [0, 1] (sklearn `MinMaxScaler`).
    MinMax,
}

impl std::str::FromStr for NormalizeMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "standardize" => Ok(Self::Standardize),
            "robustize" => Ok(Self::Robustize),
            "mad_robustize" => Ok(Self::MadRobustize),
            "minmax" | "min_max" => Ok(Self::MinMax),
            _ => Err(format!(
                "unknown normalization '{s}' (standardize, robustize, mad_robustize, minmax)"
            )),
        }
    }
}

/// Settings for [`normalize`]; defaults are pycytominer's (`mad_robustize`, all rows, ε 1e-18).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NormalizeParams {
    /// How each feature is centred and scaled.
    pub method: NormalizeMethod,
    /// Rows the scaler is fit on (all rows when empty), e.g. `Metadata_broad_sample=DMSO`.
    pub fit_on: Vec<Selection>,
    /// Normalize each group separately, e.g. `["Metadata_Plate"]` for per-plate normalization.
    pub per: Vec<String>,
    /// Added to the MAD scale (pycytominer's `mad_robustize_epsilon`).
    pub mad_epsilon: f64,
}

impl Default for NormalizeParams {
    fn default() -> Self {
        Self {
            method: NormalizeMethod::MadRobustize,
            fit_on: Vec::new(),
            per: Vec::new(),
            mad_epsilon: 1e-18,
        }
    }
}

impl NormalizeParams {
    /// pycytominer's defaults with `method`.
    pub fn new(method: NormalizeMethod) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }
    /// Also fit the scaler on the rows `selection` picks.
    pub fn fit_on(mut self, selection: Selection) -> Self {
        self.fit_on.push(selection);
        self
    }
    /// Also normalize separately per value of `column`.
    pub fn per<S: Into<String>>(mut self, column: S) -> Self {
        self.per.push(column.into());
        self
    }
    /// Rejects settings that cannot work, before any data is touched.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ProfileError::invalid("normalize parameters", m));
        if !(self.mad_epsilon >= 0.0 && self.mad_epsilon.is_finite()) {
            return bad(format!("mad_epsilon must be ≥ 0, got {}", self.mad_epsilon));
        }
        Ok(())
    }
}

/// A fitted per-feature scaler.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    /// Subtracted from each feature.
    pub center: Array1<f64>,
    /// What each centred feature is divided by.
    pub scale: Array1<f64>,
}

impl Scaler {
    /// Fits `method` on the rows of `x`. A feature that is all-NaN or has zero spread over
    /// these rows is an error naming it: dividing by zero would silently produce inf/NaN.
    pub fn fit(
        method: NormalizeMethod,
        mad_epsilon: f64,
        x: ArrayView2<'_, f64>,
        feature_names: &[String],
        source: &str,
    ) -> Result<Scaler> {
        let n = x.nrows();
        let fitted: Vec<Result<(f64, f64)>> = (0..x.ncols())
            .into_par_iter()
            .map(|c| {
                let col = x.column(c);
                let mut v = stats::finite_values(col.iter().copied());
                let bad = |message: String| ProfileError::BadFeature {
                    path: source.to_string(),
                    column: feature_names[c].clone(),
                    message,
                };
                if v.is_empty() {
                    return Err(bad(format!("all {n} values used to fit {method:?} are NaN")));
                }
                let (center, spread) = match method {
                    NormalizeMethod::Standardize => stats::mean_std(v.iter().copied()),
                    NormalizeMethod::Robustize => {
                        let q75 = stats::quantile_in_place(&mut v, 0.75);
                        let q25 = stats::quantile_in_place(&mut v, 0.25);
                        (stats::quantile_in_place(&mut v, 0.5), q75 - q25)
                    }
                    NormalizeMethod::MadRobustize => {
                        let med = stats::quantile_in_place(&mut v, 0.5);
                        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
                        (med, 1.4826 * stats::quantile_in_place(&mut dev, 0.5))
                    }
                    NormalizeMethod::MinMax => {
                        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        (lo, hi - lo)
                    }
                };
                if spread == 0.0 || !spread.is_finite() {
                    return Err(bad(format!(
                        "zero spread over the {} rows used to fit {method:?} (value {center}); \
                         remove it first, e.g. `cellpaint feature-select --operations variance_threshold`",
                        v.len()
                    )));
                }
                let scale = match method {
                    NormalizeMethod::MadRobustize => spread + mad_epsilon,
                    _ => spread,
                };
                Ok((center, scale))
            })
            .collect();
        let mut center = Array1::zeros(x.ncols());
        let mut scale = Array1::zeros(x.ncols());
        for (c, r) in fitted.into_iter().enumerate() {
            let (m, s) = r?;
            center[c] = m;
            scale[c] = s;
        }
        Ok(Scaler { center, scale })
    }

    /// Applies the scaler to rows of a matrix in place.
    pub fn apply(&self, mut rows: ndarray::ArrayViewMut2<'_, f64>) {
        rows.axis_iter_mut(Axis(0)).for_each(|mut row| {
            row -= &self.center;
            row /= &self.scale;
        });
    }
}

/// Normalizes every feature: fit on `params.fit_on` rows (within each `params.per` group),
/// applied to all rows of that group. Metadata is unchanged.
pub fn normalize(table: &ProfileTable, params: &NormalizeParams) -> Result<ProfileTable> {
    params.check()?;
    let groups: Vec<(Vec<String>, Vec<usize>)> = if params.per.is_empty() {
        vec![(Vec::new(), (0..table.n_rows()).collect())]
    } else {
        table.group_rows(&params.per)?
    };
    let fit_mask: Vec<bool> = if params.fit_on.is_empty() {
        vec![true; table.n_rows()]
    } else {
        let rows = match table.rows_matching(&params.fit_on) {
            Ok(r) => r,
            Err(ProfileError::EmptySelection {
                path, selection, ..
            }) => {
                return Err(ProfileError::EmptySelection {
                    path,
                    selection,
                    context: " (no control rows to fit the normalization on)".into(),
                })
            }
            Err(e) => return Err(e),
        };
        let mut m = vec![false; table.n_rows()];
        rows.into_iter().for_each(|r| m[r] = true);
        m
    };
    let mut out = table.clone();
    for (key, rows) in groups {
        let fit_rows: Vec<usize> = rows.iter().copied().filter(|&r| fit_mask[r]).collect();
        if fit_rows.is_empty() {
            if params.fit_on.is_empty() {
                return Err(ProfileError::invalid(
                    table.source(),
                    "the table has no data rows to fit the normalization on",
                ));
            }
            let sel: Vec<String> = params.fit_on.iter().map(|s| s.to_string()).collect();
            let group: Vec<String> = params
                .per
                .iter()
                .zip(&key)
                .map(|(c, v)| format!("{c} = {v}"))
                .collect();
            return Err(ProfileError::EmptySelection {
                path: table.source().to_string(),
                selection: sel.join(" and "),
                context: format!(
                    " in the group where {} (every group needs its own controls)",
                    group.join(" and ")
                ),
            });
        }
        let fit = table.features().select(Axis(0), &fit_rows);
        let scaler = Scaler::fit(
            params.method,
            params.mad_epsilon,
            fit.view(),
            table.feature_names(),
            table.source(),
        )?;
        let x = out.features_mut();
        for &r in &rows {
            scaler.apply(x.slice_mut(ndarray::s![r..r + 1, ..]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn plate() -> ProfileTable {
        ProfileTable::new(
            "plate",
            vec!["Metadata_Plate".into(), "Metadata_pert".into()],
            vec![
                vec![
                    "P1".into(),
                    "P1".into(),
                    "P1".into(),
                    "P2".into(),
                    "P2".into(),
                    "P2".into(),
                ],
                vec![
                    "DMSO".into(),
                    "DMSO".into(),
                    "drug".into(),
                    "DMSO".into(),
                    "DMSO".into(),
                    "drug".into(),
                ],
            ],
            vec!["f".into(), "g".into()],
            array![
                [1.0, 0.0],
                [3.0, 4.0],
                [10.0, 8.0],
                [10.0, 1.0],
                [20.0, 3.0],
                [40.0, 9.0]
            ],
        )
        .unwrap()
    }

    #[test]
    fn standardize_on_controls_per_plate_by_hand() {
        // P1 DMSO f = {1, 3}: mean 2, sd 1 → drug 10 ↦ 8. P2 DMSO f = {10, 20}: mean 15, sd 5 → 40 ↦ 5.
        let p = NormalizeParams::new(NormalizeMethod::Standardize)
            .fit_on("Metadata_pert=DMSO".parse().unwrap())
            .per("Metadata_Plate");
        let out = normalize(&plate(), &p).unwrap();
        assert_eq!(
            out.features().column(0).to_vec(),
            vec![-1.0, 1.0, 8.0, -1.0, 1.0, 5.0]
        );
        // g, P1 DMSO {0, 4}: mean 2 sd 2 → drug 8 ↦ 3
        assert_eq!(out.features()[[2, 1]], 3.0);
    }

    #[test]
    fn robust_scalers_by_hand() {
        // All rows f = {1,3,10,10,20,40}: median 10; |dev| = {9,7,0,0,10,30} → MAD 8 → scale 11.8608
        let out = normalize(&plate(), &NormalizeParams::default()).unwrap();
        assert!((out.features()[[5, 0]] - 30.0 / 11.8608).abs() < 1e-12);
        // IQR: sorted {1,3,10,10,20,40}, q25 = 3 + 0.25*7 = 4.75, q75 = 10 + 0.75*10 = 17.5 → 12.75
        let out = normalize(&plate(), &NormalizeParams::new(NormalizeMethod::Robustize)).unwrap();
        assert!((out.features()[[5, 0]] - 30.0 / 12.75).abs() < 1e-12);
        let out = normalize(&plate(), &NormalizeParams::new(NormalizeMethod::MinMax)).unwrap();
        assert_eq!(out.features().column(0).to_vec()[5], 1.0);
        assert_eq!(out.features().column(0).to_vec()[0], 0.0);
    }

    #[test]
    fn constant_feature_and_missing_controls_are_errors() {
        let mut t = plate();
        t.features_mut().column_mut(1).fill(2.0);
        let e = normalize(&t, &NormalizeParams::new(NormalizeMethod::Standardize)).unwrap_err();
        assert!(
            e.to_string().contains("column 'g'") && e.to_string().contains("zero spread"),
            "{e}"
        );
        let p = NormalizeParams::new(NormalizeMethod::Standardize)
            .fit_on("Metadata_pert=DMSO".parse().unwrap())
            .per("Metadata_Plate");
        let mut t = plate();
        t.set_metadata(
            "Metadata_pert",
            vec![
                "DMSO".into(),
                "DMSO".into(),
                "x".into(),
                "x".into(),
                "x".into(),
                "x".into(),
            ],
        )
        .unwrap();
        let e = normalize(&t, &p).unwrap_err().to_string();
        assert!(
            e.contains("in the group where Metadata_Plate = P2")
                && e.contains("Metadata_pert=DMSO"),
            "{e}"
        );
        // An empty table reads as a sentence, not as an empty selection.
        let e = plate()
            .select_rows(&[])
            .rows_matching(&[])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "plate: the table has no data rows");
    }
}
