//! CMap GCTX files (HDF5) read into the same [`ProfileTable`] as their text GCT.
//!
//! The layout is cmapPy's and cmapM's: the matrix at `/0/DATA/0/matrix` with samples as rows
//! and genes as columns (our orientation already), sample ids at `/0/META/COL/id`, gene ids
//! at `/0/META/ROW/id`, and one dataset per column-metadata field beside the sample ids. As
//! for text GCT ([`crate::gct`]): sample ids become `Metadata_cid`, each column-metadata field
//! `F` becomes `Metadata_F` (in the order the file stores them: by name for files libhdf5
//! writes by default), gene ids become the feature names, and row metadata is not read.
//! Values are widened to `f64`; CMap's null `-666` in the matrix reads as NaN. Metadata stored
//! as numbers reads as pandas prints them (integers as digits, floats as Python's `repr`).

use std::path::Path;

use ndarray::Array2;

use crate::error::{ProfileError, Result};
use crate::hdf5::Hdf5File;
use crate::table::ProfileTable;

const MATRIX: &str = "/0/DATA/0/matrix";
const COL: &str = "/0/META/COL";
const ROW_IDS: &str = "/0/META/ROW/id";

/// Reads a GCTX file.
pub fn read_gctx(path: &Path) -> Result<ProfileTable> {
    let label = path.display().to_string();
    let file = Hdf5File::open(path)?;
    let matrix = file.dataset(MATRIX)?;
    let (n_samples, n_genes) = match matrix.shape[..] {
        [s, g] => (s, g),
        _ => {
            return Err(ProfileError::invalid(
                &label,
                format!(
                    "{MATRIX} has {} dimensions, expected 2 (samples × genes)",
                    matrix.shape.len()
                ),
            ))
        }
    };
    let one_per = |name: &str, values: Vec<String>, n: usize, what: &str| -> Result<Vec<String>> {
        if values.len() != n {
            return Err(ProfileError::invalid(
                &label,
                format!(
                    "{} has {} entries, but {MATRIX} has {n} {what}",
                    crate::io::shown(name),
                    values.len()
                ),
            ));
        }
        Ok(values)
    };
    let genes = one_per(
        ROW_IDS,
        file.dataset(ROW_IDS)?.read_text()?,
        n_genes,
        "genes",
    )?;
    let mut names = vec!["Metadata_cid".to_string()];
    let col_ids = format!("{COL}/id");
    let mut columns = vec![one_per(
        &col_ids,
        file.dataset(&col_ids)?.read_text()?,
        n_samples,
        "samples",
    )?];
    for field in file.members(COL)? {
        if field == "id" {
            continue;
        }
        let name = format!("{COL}/{field}");
        let values = file.dataset(&name)?.read_text()?;
        columns.push(one_per(&name, values, n_samples, "samples")?);
        names.push(format!("Metadata_{field}"));
    }
    let values: Vec<f64> = matrix
        .read_f64()?
        .into_iter()
        .map(|v| if v == -666.0 { f64::NAN } else { v })
        .collect();
    let values = Array2::from_shape_vec((n_samples, n_genes), values)
        .expect("the matrix holds samples × genes values");
    ProfileTable::new(label, names, columns, genes, values)
}
