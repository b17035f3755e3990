//! Feature extraction, one site at a time: each site's cells go through the network and their
//! features are written to `<out>/<plate>/<well>/<site>.csv` (metadata + features, atomically)
//! before the next site starts, so a long extraction keeps what it has done and resumes by
//! skipping sites already on disk. `<out>/fingerprint.json` records what made the files (the
//! weights' SHA-256, the tap, the model's settings): files made by another model or tap are
//! never reused; they are deleted and recomputed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use profiles::io::{read_table, write_table, ReadOptions};
use profiles::ProfileTable;

use cellpaint_core::fingerprint::tensors_digest;
use cellpaint_core::Fingerprint;

use crate::config::MetadataConfig;
use crate::crops::CellCrops;
use crate::error::{DpError, Result};
use crate::train::FittedClassifier;

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What per-site feature files depend on: the weights, the tap and the model's settings.
pub fn features_fingerprint(model: &FittedClassifier, tap: &str) -> Result<Fingerprint> {
    Ok(Fingerprint::new()
        .with("weights_sha256", &tensors_digest(&model.map.tensors())?)?
        .with("tap", &tap)?
        .with("model", &model.meta)?)
}

/// Extracts `tap` for every cell, site by site, into `out`; sites whose file exists are
/// read back instead of recomputed when they came from the same weights and tap (else `out` is
/// emptied first). Returns all cells' features in the crops' order.
pub fn extract_to_disk(
    model: &FittedClassifier,
    crops: &CellCrops,
    tap: &str,
    meta: &MetadataConfig,
    out: &Path,
) -> Result<ProfileTable> {
    let plates = crops.cells.metadata(&meta.plate_field)?;
    let wells = crops.cells.metadata(&meta.well_field)?;
    let sites = crops.cells.metadata(&meta.site_field)?;
    let mut groups: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
    for i in 0..crops.len() {
        groups
            .entry((plates[i].clone(), wells[i].clone(), sites[i].clone()))
            .or_default()
            .push(i);
    }
    let key = features_fingerprint(model, tap)?;
    if Fingerprint::read(out)?.as_ref() != Some(&key) {
        // Made by another model or tap (or by a cellpaint that did not record it): stale.
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| DpError::File {
                path: out.to_path_buf(),
                message: format!("removing features of another model: {e}"),
            })?;
        }
        key.write(out)?;
    }
    let mut parts: Vec<(Vec<usize>, ProfileTable)> = Vec::new();
    for ((p, w, s), rows) in groups {
        let dir = out.join(safe(&p)).join(safe(&w));
        let path = dir.join(format!("{}.csv", safe(&s)));
        let table = if path.exists() {
            let t = read_table(&path, &ReadOptions::default())?;
            if t.n_rows() != rows.len() {
                return Err(DpError::data(
                    path.display().to_string(),
                    format!(
                        "{} cells on disk, {} in the crops: delete it to recompute",
                        t.n_rows(),
                        rows.len()
                    ),
                ));
            }
            t
        } else {
            let sub = crops.subset(&rows);
            let f = model.features(&sub, tap)?.mapv(f64::from);
            let names = (0..f.ncols()).map(|j| format!("{tap}_{j}")).collect();
            let t = sub.with_features(names, f)?;
            std::fs::create_dir_all(&dir).map_err(|e| DpError::File {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            write_table(&t, &path)?;
            t
        };
        parts.push((rows, table));
    }
    // Back to the crops' row order.
    let width = parts.first().map_or(0, |p| p.1.n_features());
    let names = parts
        .first()
        .map(|p| p.1.feature_names().to_vec())
        .unwrap_or_default();
    let mut x = Array2::<f64>::zeros((crops.len(), width));
    for (rows, t) in &parts {
        if t.n_features() != width {
            return Err(DpError::data(
                t.source(),
                "sites disagree on the feature width",
            ));
        }
        for (k, &i) in rows.iter().enumerate() {
            x.row_mut(i).assign(&t.features().row(k));
        }
    }
    crops.with_features(names, x)
}

/// Every `*.csv` under `dir` (as [`extract_to_disk`] wrote them), stacked in path order.
pub fn read_features(dir: &Path) -> Result<ProfileTable> {
    let files = files_under(dir, "csv")?;
    let tables = files
        .iter()
        .map(|f| read_table(f, &ReadOptions::default()))
        .collect::<profiles::Result<Vec<_>>>()?;
    stack_tables(&tables, &dir.display().to_string())
}

/// Every file under `dir` (recursively) whose extension is `ext` (any case), in path order.
pub(crate) fn files_under(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DpError::File {
            path: d.clone(),
            message: e.to_string(),
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case(ext)) {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Rows of several tables with the same columns, one after another.
pub fn stack_tables(tables: &[ProfileTable], source: &str) -> Result<ProfileTable> {
    if tables.is_empty() {
        return Err(DpError::data(source, "no feature files"));
    }
    Ok(ProfileTable::stack(tables, source)?)
}
