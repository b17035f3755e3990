//! From cell embeddings to treatment profiles and MOA classification, as the paper: cells →
//! well mean (or mean + s.d.) → treatment (compound × concentration) median; optional
//! whitening per plate fit on that plate's control cells (Ando et al.'s typical-variation
//! normalisation, done on cells so the covariance of a 256-d embedding has enough samples);
//! NSC / NSCB 1-NN accuracy by cosine similarity (profiling-eval).

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2, Axis};
use profiles::stats::{mean_std, median};
use profiles::ProfileTable;
use profiling_eval::{nsc, NscResult, Similarity};
use serde::{Deserialize, Serialize};
use sphering::{SpheringMethod, SpheringParams};

use crate::data::CropMeta;
use crate::error::{CytoError, Result};

/// How cells are summarised per well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    /// Means of the cells' features.
    Mean,
    /// Means and population standard deviations side by side (Rohban et al.).
    MeanSd,
}

/// Profile settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileParams {
    /// Per-well summary of the cells.
    pub summary: Summary,
    /// Whiten each plate's cells with a ZCA transform fit on its control cells.
    pub whiten: bool,
    /// Eigenvalue regularisation of the whitening.
    pub lambda: f64,
    /// The control compound (left unlabelled in the classification).
    pub control: String,
}

impl Default for ProfileParams {
    fn default() -> Self {
        Self {
            summary: Summary::Mean,
            whiten: false,
            lambda: 0.01,
            control: "DMSO".into(),
        }
    }
}

impl ProfileParams {
    /// The four columns of the paper's Table 1.
    pub fn table1() -> [(&'static str, ProfileParams); 4] {
        let p = |summary, whiten| ProfileParams {
            summary,
            whiten,
            ..Self::default()
        };
        [
            ("Mean", p(Summary::Mean, false)),
            ("Mean+Whitened", p(Summary::Mean, true)),
            ("Mean+S.D.", p(Summary::MeanSd, false)),
            ("Mean+S.D.+Whitened", p(Summary::MeanSd, true)),
        ]
    }
}

fn group<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, Vec<usize>> {
    let mut g: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.enumerate() {
        g.entry(k).or_default().push(i);
    }
    g
}

/// Each plate's cells whitened with a transform fit on its control cells.
pub fn whiten_by_plate(
    embeddings: ArrayView2<'_, f64>,
    meta: &[CropMeta],
    control: &str,
    lambda: f64,
) -> Result<Array2<f64>> {
    let mut out = embeddings.to_owned();
    for (plate, rows) in group(meta.iter().map(|m| m.plate.clone())) {
        let controls: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| meta[i].compound == control)
            .collect();
        if controls.len() < 2 {
            return Err(CytoError::data(
                format!("plate {plate}"),
                format!(
                    "{} '{control}' control cells; whitening needs at least 2",
                    controls.len()
                ),
            ));
        }
        let fitted = SpheringParams::new(SpheringMethod::Zca)
            .lambda(lambda)
            .fit(embeddings.select(Axis(0), &controls).view())?;
        let w = fitted.transform(embeddings.select(Axis(0), &rows).view())?;
        for (k, &i) in rows.iter().enumerate() {
            out.row_mut(i).assign(&w.row(k));
        }
    }
    Ok(out)
}

/// Treatment profiles: one row per compound × concentration, with metadata
/// `Metadata_compound`, `Metadata_concentration`, `Metadata_moa` (empty for the control),
/// `Metadata_batch` (the batches of its wells, joined with `|`) and `Metadata_n_wells`.
pub fn treatment_profiles(
    embeddings: ArrayView2<'_, f64>,
    meta: &[CropMeta],
    params: &ProfileParams,
) -> Result<ProfileTable> {
    if embeddings.nrows() != meta.len() {
        return Err(CytoError::data(
            "embeddings",
            format!("{} rows for {} cells", embeddings.nrows(), meta.len()),
        ));
    }
    if let Some((i, _)) = embeddings
        .rows()
        .into_iter()
        .enumerate()
        .find(|(_, r)| r.iter().any(|v| !v.is_finite()))
    {
        return Err(CytoError::data(
            "embeddings",
            format!("row {i} is not finite"),
        ));
    }
    let cells = if params.whiten {
        whiten_by_plate(embeddings, meta, &params.control, params.lambda)?
    } else {
        embeddings.to_owned()
    };
    let d = cells.ncols();
    let width = match params.summary {
        Summary::Mean => d,
        Summary::MeanSd => 2 * d,
    };
    let wells = group(meta.iter().map(|m| (m.plate.clone(), m.well.clone())));
    let mut well_rows: Vec<(usize, Vec<f64>)> = Vec::with_capacity(wells.len());
    for rows in wells.values() {
        let mut v = vec![0.0; width];
        for j in 0..d {
            let (m, s) = mean_std(rows.iter().map(|&i| cells[[i, j]]));
            v[j] = m;
            if params.summary == Summary::MeanSd {
                v[d + j] = s;
            }
        }
        well_rows.push((rows[0], v));
    }
    let treatments = group(well_rows.iter().map(|(i, _)| {
        let m = &meta[*i];
        (m.compound.clone(), m.concentration.clone())
    }));
    let n = treatments.len();
    let mut x = Array2::<f64>::zeros((n, width));
    let mut cols: Vec<Vec<String>> = vec![Vec::with_capacity(n); 5];
    for (t, ((compound, conc), ws)) in treatments.iter().enumerate() {
        for j in 0..width {
            x[[t, j]] = median(ws.iter().map(|&w| well_rows[w].1[j]));
        }
        let first = &meta[well_rows[ws[0]].0];
        let mut batches: Vec<&str> = ws
            .iter()
            .map(|&w| meta[well_rows[w].0].batch.as_str())
            .collect();
        batches.sort_unstable();
        batches.dedup();
        cols[0].push(compound.clone());
        cols[1].push(conc.clone());
        cols[2].push(if *compound == params.control {
            String::new()
        } else {
            first.moa.clone()
        });
        cols[3].push(batches.join("|"));
        cols[4].push(ws.len().to_string());
    }
    let mut names: Vec<String> = (0..d).map(|j| format!("mean_{j}")).collect();
    if params.summary == Summary::MeanSd {
        names.extend((0..d).map(|j| format!("sd_{j}")));
    }
    Ok(ProfileTable::new(
        "treatment profiles",
        [
            "Metadata_compound",
            "Metadata_concentration",
            "Metadata_moa",
            "Metadata_batch",
            "Metadata_n_wells",
        ]
        .map(String::from)
        .to_vec(),
        cols,
        names,
        x,
    )?)
}

/// NSC and NSCB accuracy of treatment profiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoaAccuracy {
    /// Not-same-compound 1-NN accuracy.
    pub nsc: NscResult,
    /// None when no treatment has a neighbour in another batch.
    pub nscb: Option<NscResult>,
}

/// 1-NN MOA classification of treatment profiles by cosine similarity.
pub fn moa_accuracy(profiles: &ProfileTable) -> Result<MoaAccuracy> {
    let nsc_r = nsc(
        profiles,
        Similarity::Cosine,
        "Metadata_moa",
        "Metadata_compound",
        None,
    )?;
    let nscb = nsc(
        profiles,
        Similarity::Cosine,
        "Metadata_moa",
        "Metadata_compound",
        Some("Metadata_batch"),
    )
    .ok();
    Ok(MoaAccuracy { nsc: nsc_r, nscb })
}

/// Site profiles (the mean of each site's cells), each classified by its most similar site
/// (cosine) on *another plate*: NSC with the plate in the role of the compound. The paper's
/// BBBC021 check that embeddings separate treatments across plates; labels are the cells' MOA
/// (the control's own name for controls). Returns accuracy and number of scored sites.
pub fn leave_one_plate_out(embedding: ArrayView2<'_, f64>, meta: &[CropMeta]) -> Result<NscResult> {
    if embedding.nrows() != meta.len() {
        return Err(CytoError::Config(format!(
            "{} embeddings for {} cells",
            embedding.nrows(),
            meta.len()
        )));
    }
    let sites = group(
        meta.iter()
            .map(|m| (m.plate.clone(), m.well.clone(), m.site.clone())),
    );
    let mut features = Array2::zeros((sites.len(), embedding.ncols()));
    let (mut plates, mut moas) = (Vec::new(), Vec::new());
    for (k, ((plate, _, _), rows)) in sites.iter().enumerate() {
        let mean = embedding.select(Axis(0), rows).mean_axis(Axis(0));
        features.row_mut(k).assign(&mean.expect("a site has cells"));
        plates.push(plate.clone());
        moas.push(meta[rows[0]].moa.clone());
    }
    let table = ProfileTable::new(
        "site profiles",
        vec!["plate".into(), "moa".into()],
        vec![plates, moas],
        (0..embedding.ncols()).map(|j| format!("f{j}")).collect(),
        features,
    )?;
    Ok(nsc(&table, Similarity::Cosine, "moa", "plate", None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn leave_one_plate_out_by_hand() {
        // Two plates, one control and one treated site each. Sites average their cells:
        // P1 control (1, 0), P1 treated (0, 1); P2 control (2, 0.2), P2 treated (0.1, 3).
        // Each site's nearest site on the other plate shares its label: 4 of 4.
        let meta = vec![
            cell("P1", "A01", "DMSO", "DMSO", "b"),
            cell("P1", "A01", "DMSO", "DMSO", "b"),
            cell("P1", "A02", "a", "X", "b"),
            cell("P2", "A01", "DMSO", "DMSO", "b"),
            cell("P2", "A02", "a", "X", "b"),
        ];
        let e = array![[1., 0.5], [1., -0.5], [0., 1.], [2., 0.2], [0.1, 3.]];
        let r = leave_one_plate_out(e.view(), &meta).unwrap();
        assert_eq!((r.accuracy, r.n_queries), (1.0, 4));
        // Swap P2's two sites: every nearest neighbour across plates now has the other label.
        let swapped = array![[1., 0.5], [1., -0.5], [0., 1.], [0.1, 3.], [2., 0.2]];
        let r = leave_one_plate_out(swapped.view(), &meta).unwrap();
        assert_eq!(r.accuracy, 0.0);
        assert!(leave_one_plate_out(e.slice(ndarray::s![..4, ..]), &meta).is_err());
    }

    fn cell(plate: &str, well: &str, compound: &str, moa: &str, batch: &str) -> CropMeta {
        CropMeta {
            plate: plate.into(),
            well: well.into(),
            site: "1".into(),
            compound: compound.into(),
            concentration: "1".into(),
            moa: moa.into(),
            batch: batch.into(),
        }
    }

    #[test]
    fn well_mean_then_treatment_median_by_hand() {
        // Compound a: well P1/A01 cells (1, 0), (3, 2) → mean (2, 1), s.d. (1, 1);
        // well P2/A01 cell (10, 10); well P3/A01 cell (4, 5) → median over 3 wells (4, 5).
        let meta = vec![
            cell("P1", "A01", "a", "X", "b1"),
            cell("P1", "A01", "a", "X", "b1"),
            cell("P2", "A01", "a", "X", "b2"),
            cell("P3", "A01", "a", "X", "b2"),
            cell("P1", "A02", "DMSO", "DMSO", "b1"),
        ];
        let e = array![[1., 0.], [3., 2.], [10., 10.], [4., 5.], [0., 0.]];
        let p = treatment_profiles(e.view(), &meta, &ProfileParams::default()).unwrap();
        assert_eq!(p.metadata("Metadata_compound").unwrap(), &["DMSO", "a"]);
        assert_eq!(p.features().row(1).to_vec(), vec![4.0, 5.0]);
        assert_eq!(p.metadata("Metadata_moa").unwrap(), &["", "X"]);
        assert_eq!(p.metadata("Metadata_batch").unwrap()[1], "b1|b2");
        assert_eq!(p.metadata("Metadata_n_wells").unwrap()[1], "3");
        let sd = ProfileParams {
            summary: Summary::MeanSd,
            ..Default::default()
        };
        let p = treatment_profiles(e.view(), &meta, &sd).unwrap();
        // s.d.s of the three wells: (1, 1), (0, 0), (0, 0) → median 0.
        assert_eq!(p.features().row(1).to_vec(), vec![4.0, 5.0, 0.0, 0.0]);
        assert_eq!(p.features().ncols(), 4);
    }

    #[test]
    fn whitening_uses_each_plates_controls_and_needs_them() {
        let mut meta = Vec::new();
        let mut rows = Vec::new();
        for (p, shift) in [("P1", 0.0), ("P2", 5.0)] {
            for k in 0..6 {
                meta.push(cell(p, "A01", "DMSO", "DMSO", "b"));
                let t = k as f64;
                rows.push([shift + t, 2.0 * (t % 3.0)]);
            }
            meta.push(cell(p, "A02", "a", "X", "b"));
            rows.push([shift + 2.5, 1.0]);
        }
        let e = Array2::from_shape_fn((rows.len(), 2), |(i, j)| rows[i][j]);
        let w = whiten_by_plate(e.view(), &meta, "DMSO", 0.0).unwrap();
        // Per plate, the controls end up centred with identity covariance: the plate shift is
        // gone, so both plates' treated cells coincide.
        let c: Vec<usize> = (0..6).collect();
        let ctl = w.select(Axis(0), &c);
        let mean = ctl.mean_axis(Axis(0)).unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-9), "{mean}");
        assert!((&w.row(6) - &w.row(13)).iter().all(|d| d.abs() < 1e-9));
        let no_ctl: Vec<CropMeta> = meta
            .iter()
            .map(|m| CropMeta {
                compound: "a".into(),
                ..m.clone()
            })
            .collect();
        let err = whiten_by_plate(e.view(), &no_ctl, "DMSO", 0.01)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plate P1") && err.contains("0 'DMSO' control cells"),
            "{err}"
        );
    }

    #[test]
    fn nsc_and_nscb_on_separable_treatments() {
        // Two MOAs, two compounds each, one per batch: profiles point along x (X) or y (Y).
        let mut meta = Vec::new();
        let mut rows = Vec::new();
        for (compound, moa, batch, v) in [
            ("a1", "X", "b1", [1.0, 0.1]),
            ("a2", "X", "b2", [1.0, 0.2]),
            ("c1", "Y", "b1", [0.1, 1.0]),
            ("c2", "Y", "b2", [0.2, 1.0]),
        ] {
            meta.push(cell("P", compound, compound, moa, batch));
            rows.push(v);
        }
        let e = Array2::from_shape_fn((4, 2), |(i, j)| rows[i][j]);
        let p = treatment_profiles(e.view(), &meta, &ProfileParams::default()).unwrap();
        let acc = moa_accuracy(&p).unwrap();
        assert_eq!(acc.nsc.accuracy, 1.0);
        assert_eq!(acc.nscb.unwrap().accuracy, 1.0);
        let nan = array![[f64::NAN, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]];
        assert!(treatment_profiles(nan.view(), &meta, &ProfileParams::default()).is_err());
    }
}
