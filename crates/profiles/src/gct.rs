//! CMap GCT text files (versions 1.2 and 1.3) read into a [`ProfileTable`].
//!
//! GCT stores genes as rows and samples as columns; we transpose so rows are samples, as in
//! every other table here. Column ids become `Metadata_cid` and each column-metadata field
//! `F` becomes `Metadata_F`; row (gene) ids become the feature names.

use std::io::BufRead;
use std::path::Path;

use ndarray::Array2;

use crate::error::{ProfileError, Result};
use crate::io::{open_maybe_gz, parse_feature};
use crate::table::ProfileTable;

/// Reads a GCT 1.2 or 1.3 file (optionally gzipped).
pub fn read_gct(path: &Path) -> Result<ProfileTable> {
    let label = path.display().to_string();
    let reader = open_maybe_gz(path)?;
    read_gct_from(reader, &label)
}

fn parse_err(label: &str, line: usize, message: impl Into<String>) -> ProfileError {
    ProfileError::Parse {
        path: label.to_string(),
        line,
        message: message.into(),
    }
}

/// Reads GCT text from any buffered reader; `label` names it in errors.
pub fn read_gct_from(reader: impl BufRead, label: &str) -> Result<ProfileTable> {
    let mut lines = reader.lines().enumerate();
    let mut next_line = |what: &str| -> Result<(usize, String)> {
        match lines.next() {
            Some((i, Ok(l))) => Ok((i + 1, l.trim_end_matches(['\r', '\n']).to_string())),
            Some((i, Err(e))) => Err(parse_err(label, i + 1, e.to_string())),
            None => Err(ProfileError::invalid(
                label,
                format!("file ends before the {what}"),
            )),
        }
    };
    let (ln, version) = next_line("version line")?;
    let version = version.trim();
    let v13 = match version {
        "#1.3" => true,
        "#1.2" => false,
        other => {
            return Err(parse_err(
                label,
                ln,
                format!("expected '#1.2' or '#1.3', found '{other}'"),
            ))
        }
    };
    let (ln, dims) = next_line("dimensions line")?;
    let nums: Vec<usize> = dims
        .split('\t')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            parse_err(
                label,
                ln,
                format!("dimensions must be whole numbers, found '{dims}'"),
            )
        })?;
    let expected = if v13 { 4 } else { 2 };
    if nums.len() != expected {
        return Err(parse_err(
            label,
            ln,
            format!("expected {expected} dimensions, found {}", nums.len()),
        ));
    }
    let (n_genes, n_samples) = (nums[0], nums[1]);
    let (n_rmeta, n_cmeta) = if v13 { (nums[2], nums[3]) } else { (1, 0) };
    let width = n_rmeta
        .checked_add(n_samples)
        .and_then(|w| w.checked_add(1))
        .ok_or_else(|| parse_err(label, ln, format!("dimensions too large: '{dims}'")))?;
    let split = |ln: usize, l: &str| -> Result<Vec<String>> {
        let f: Vec<String> = l.split('\t').map(|s| s.to_string()).collect();
        if f.len() != width {
            return Err(ProfileError::Ragged {
                path: label.to_string(),
                line: ln,
                expected: width,
                found: f.len(),
            });
        }
        Ok(f)
    };
    let (ln, header) = next_line("header line")?;
    let header = split(ln, &header)?;
    let sample_ids: Vec<String> = header[1 + n_rmeta..].to_vec();
    let mut meta_names = vec!["Metadata_cid".to_string()];
    let mut meta_cols = vec![sample_ids];
    for _ in 0..n_cmeta {
        let (ln, l) = next_line("column-metadata lines")?;
        let f = split(ln, &l)?;
        meta_names.push(format!("Metadata_{}", f[0]));
        meta_cols.push(f[1 + n_rmeta..].to_vec());
    }
    // Rows are collected as read, not allocated from the dimension line: a header may claim
    // any size, the body is what is there.
    let mut genes = Vec::new();
    let mut rows: Vec<f64> = Vec::new();
    for g in 0..n_genes {
        let (ln, l) = next_line(&format!(
            "data line for gene {} of the {n_genes} the dimension line declares",
            g + 1
        ))?;
        let f = split(ln, &l)?;
        for (s, v) in f[1 + n_rmeta..].iter().enumerate() {
            rows.push(match v.trim() {
                "na" | "-666" => f64::NAN,
                t => parse_feature(t).ok_or_else(|| ProfileError::NotNumeric {
                    path: label.to_string(),
                    line: ln,
                    column: header[1 + n_rmeta + s].clone(),
                    value: v.clone(),
                })?,
            });
        }
        genes.push(f[0].clone());
    }
    // More data lines than declared is as wrong as fewer: never drop rows silently.
    loop {
        match next_line("end") {
            Ok((_, l)) if l.trim().is_empty() => continue,
            Ok((ln, _)) => {
                return Err(parse_err(
                    label,
                    ln,
                    format!(
                        "the dimension line declares {n_genes} data rows, but the file has more"
                    ),
                ))
            }
            Err(ProfileError::Invalid { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    let values = Array2::from_shape_vec((n_genes, n_samples), rows)
        .expect("one value per sample on every row")
        .reversed_axes()
        .as_standard_layout()
        .into_owned();
    ProfileTable::new(label, meta_names, meta_cols, genes, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "#1.3\n2\t3\t1\t1\nid\tsymbol\tS1\tS2\tS3\npert\tna\tDMSO\tdrugA\tdrugB\ng1\tTP53\t1.0\t2.0\tna\ng2\tEGFR\t3.5\t-1\t0\n";

    #[test]
    fn reads_tiny_gct_transposed() {
        let t = read_gct_from(TINY.as_bytes(), "tiny.gct").unwrap();
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.feature_names(), &["g1", "g2"]);
        assert_eq!(t.metadata("Metadata_cid").unwrap(), &["S1", "S2", "S3"]);
        assert_eq!(t.metadata("Metadata_pert").unwrap()[1], "drugA");
        assert_eq!(t.features()[[1, 1]], -1.0);
        assert!(t.features()[[2, 0]].is_nan());
    }

    #[test]
    fn row_counts_must_match_the_dimension_line() {
        let more = TINY.replace("#1.3\n2\t3", "#1.3\n1\t3");
        let e = read_gct_from(more.as_bytes(), "more.gct")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("more.gct, line 6") && e.contains("declares 1 data rows"),
            "{e}"
        );
        let fewer = TINY.replace("#1.3\n2\t3", "#1.3\n3\t3");
        let e = read_gct_from(fewer.as_bytes(), "fewer.gct")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fewer.gct") && e.contains("gene 3 of the 3"),
            "{e}"
        );
        // A dimension line claiming a huge size allocates nothing before the body is read.
        let huge = TINY.replace("#1.3\n2\t3", "#1.3\n2000000000\t3");
        assert!(read_gct_from(huge.as_bytes(), "huge.gct").is_err());
        // Trailing blank lines are fine.
        assert!(read_gct_from(format!("{TINY}\n\n").as_bytes(), "t.gct").is_ok());
    }

    #[test]
    fn truncated_gct_is_an_error() {
        let cut = &TINY[..TINY.len() - 12];
        let e = read_gct_from(cut.as_bytes(), "cut.gct")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.gct"), "{e}");
        let e = read_gct_from("#2.0\n".as_bytes(), "v.gct")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("#1.3"), "{e}");
    }
}
