//! Label sets: MOA annotations like `"EGFR inhibitor|PI3K inhibitor"` are split on a separator.

use profiles::table::is_missing;
use profiles::ProfileTable;

use crate::error::Result;

/// Each row's labels (empty for a missing annotation), split on `sep` and trimmed.
pub fn label_sets(
    table: &ProfileTable,
    column: &str,
    sep: Option<char>,
) -> Result<Vec<Vec<String>>> {
    Ok(table
        .metadata(column)?
        .iter()
        .map(|v| {
            if is_missing(v) {
                return Vec::new();
            }
            let mut parts: Vec<String> = match sep {
                Some(s) => v
                    .split(s)
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
                None => vec![v.clone()],
            };
            parts.sort();
            parts.dedup();
            parts
        })
        .collect())
}

/// True when two label sets share a label.
pub fn share(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}
