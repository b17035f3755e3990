//! The profile table: metadata columns (text) beside a dense numeric feature matrix.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{ProfileError, Result};

/// Values pandas reads as missing; we read the same strings as NaN features / missing metadata.
pub const NA_STRINGS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// True when a metadata cell holds one of the strings pandas treats as missing.
pub fn is_missing(value: &str) -> bool {
    NA_STRINGS.contains(&value)
}

/// Profiles: one row per sample (cell, site, well, treatment), metadata as text and
/// features as `f64`.
///
/// Features are `f64` because the peers we are checked against (pycytominer, copairs,
/// numpy sphering) compute in double precision, and agreement to 1e-9 on mAP needs it; at
/// 100,000 profiles × 1,000 features the matrix is 800 MB, which a profiling machine has.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileTable {
    source: String,
    metadata_names: Vec<String>,
    /// Column-major: `metadata[c][r]`.
    metadata: Vec<Vec<String>>,
    feature_names: Vec<String>,
    features: Array2<f64>,
}

impl ProfileTable {
    /// Rows of several tables with the same columns (names and order), one after another,
    /// labelled `source`. An error names the first table whose columns differ, and where.
    pub fn stack(tables: &[ProfileTable], source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let first = tables
            .first()
            .ok_or_else(|| ProfileError::invalid(&source, "no tables to stack"))?;
        for t in &tables[1..] {
            let a: Vec<&String> = first
                .metadata_names
                .iter()
                .chain(&first.feature_names)
                .collect();
            let b: Vec<&String> = t.metadata_names.iter().chain(&t.feature_names).collect();
            if a != b {
                let at = (0..a.len().max(b.len()))
                    .find(|&i| a.get(i) != b.get(i))
                    .unwrap_or(0);
                let name = |n: Option<&&String>| {
                    n.map(|n| crate::io::shown(n))
                        .unwrap_or_else(|| "no column".into())
                };
                return Err(ProfileError::invalid(
                    &t.source,
                    format!(
                        "its columns differ from {}'s at column {}: {} here, {} there; \
                         stacked tables need the same columns in the same order",
                        first.source,
                        at + 1,
                        name(b.get(at)),
                        name(a.get(at)),
                    ),
                ));
            }
        }
        let metadata = (0..first.metadata_names.len())
            .map(|c| {
                tables
                    .iter()
                    .flat_map(|t| t.metadata[c].iter().cloned())
                    .collect()
            })
            .collect();
        let views: Vec<_> = tables.iter().map(|t| t.features.view()).collect();
        let features = ndarray::concatenate(Axis(0), &views).expect("same widths");
        ProfileTable::new(
            source,
            first.metadata_names.clone(),
            metadata,
            first.feature_names.clone(),
            features,
        )
    }

    /// Builds a table, checking that every column has one value per row and names are unique.
    pub fn new(
        source: impl Into<String>,
        metadata_names: Vec<String>,
        metadata: Vec<Vec<String>>,
        feature_names: Vec<String>,
        features: Array2<f64>,
    ) -> Result<Self> {
        let source = source.into();
        let n = features.nrows();
        if metadata_names.len() != metadata.len() {
            return Err(ProfileError::invalid(
                &source,
                format!(
                    "{} metadata names for {} metadata columns",
                    metadata_names.len(),
                    metadata.len()
                ),
            ));
        }
        if feature_names.len() != features.ncols() {
            return Err(ProfileError::invalid(
                &source,
                format!(
                    "{} feature names for {} feature columns",
                    feature_names.len(),
                    features.ncols()
                ),
            ));
        }
        for (name, col) in metadata_names.iter().zip(&metadata) {
            if col.len() != n {
                return Err(ProfileError::invalid(
                    &source,
                    format!(
                        "metadata column '{name}' has {} values for {n} rows",
                        col.len()
                    ),
                ));
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in metadata_names.iter().chain(&feature_names).enumerate() {
            if let Some(first) = seen.insert(name.as_str(), i) {
                return Err(ProfileError::DuplicateColumn {
                    path: source.clone(),
                    column: name.clone(),
                    first: first + 1,
                    second: i + 1,
                });
            }
        }
        Ok(Self {
            source,
            metadata_names,
            metadata,
            feature_names,
            features,
        })
    }

    /// Where the table came from (a file path, or a label); used in every error message.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The table with another source label.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
    /// Rows (profiles).
    pub fn n_rows(&self) -> usize {
        self.features.nrows()
    }
    /// Feature columns.
    pub fn n_features(&self) -> usize {
        self.features.ncols()
    }
    /// The feature columns' names, in order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// The feature matrix, `(rows, features)`.
    pub fn features(&self) -> ArrayView2<'_, f64> {
        self.features.view()
    }
    /// The feature matrix, to change in place.
    pub fn features_mut(&mut self) -> &mut Array2<f64> {
        &mut self.features
    }
    /// The feature matrix, taken out of the table.
    pub fn into_features(self) -> Array2<f64> {
        self.features
    }
    /// The metadata columns' names, in order.
    pub fn metadata_names(&self) -> &[String] {
        &self.metadata_names
    }

    /// The first non-finite feature value, row by row: `(row, feature)`.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        self.features
            .rows()
            .into_iter()
            .enumerate()
            .find_map(|(r, row)| row.iter().position(|v| !v.is_finite()).map(|j| (r, j)))
    }

    /// The workspace's rule for commands that compute on features: a non-finite value is an
    /// error naming the file, the place (the 1-based file line of a delimited table as read —
    /// header on line 1, no quoted line breaks — or the sample id of a GCT) and the column.
    /// `advice` says what the user can do (e.g. the command's `--drop-na-features`). Call it on
    /// the table as read, before selecting rows.
    pub fn require_finite(&self, advice: &str) -> Result<()> {
        let Some((r, j)) = self.first_non_finite() else {
            return Ok(());
        };
        let lower = self.source.to_lowercase();
        let gct = lower.ends_with(".gct") || lower.ends_with(".gct.gz");
        let place = match self.metadata("Metadata_cid") {
            Ok(cid) if gct => format!("sample '{}'", cid[r]),
            _ => format!("line {}", r + 2),
        };
        Err(ProfileError::NonFinite {
            path: self.source.clone(),
            place,
            column: self.feature_names[j].clone(),
            value: self.features[[r, j]],
            advice: advice.to_string(),
        })
    }

    /// Drops every feature with a non-finite value (pycytominer's `drop_na_columns` at
    /// cutoff 0, and ±inf too); returns the table and the dropped names.
    pub fn drop_non_finite_features(&self) -> (ProfileTable, Vec<String>) {
        let (keep, drop): (Vec<usize>, Vec<usize>) = (0..self.n_features())
            .partition(|&j| self.features.column(j).iter().all(|v| v.is_finite()));
        (
            self.select_features(&keep),
            drop.iter()
                .map(|&j| self.feature_names[j].clone())
                .collect(),
        )
    }

    /// One metadata column, or an error listing the metadata columns that exist.
    pub fn metadata(&self, name: &str) -> Result<&[String]> {
        match self.metadata_names.iter().position(|n| n == name) {
            Some(i) => Ok(&self.metadata[i]),
            None => Err(self.missing_column(name)),
        }
    }

    pub(crate) fn missing_column(&self, name: &str) -> ProfileError {
        let kind = if self.feature_names.iter().any(|f| f == name) {
            "it is a feature column, not metadata".to_string()
        } else {
            format!(
                "metadata columns are: {}",
                if self.metadata_names.is_empty() {
                    "(none)".to_string()
                } else {
                    let names: Vec<String> = self
                        .metadata_names
                        .iter()
                        .map(|n| crate::io::shown(n))
                        .collect();
                    names.join(", ")
                }
            )
        };
        ProfileError::MissingColumn {
            path: self.source.clone(),
            column: crate::io::shown(name),
            available: kind,
        }
    }

    /// Index of a feature column by name.
    pub fn feature_index(&self, name: &str) -> Result<usize> {
        self.feature_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| ProfileError::MissingColumn {
                path: self.source.clone(),
                column: name.to_string(),
                available: format!("the table has {} feature columns", self.n_features()),
            })
    }

    /// Adds (or replaces) a metadata column.
    pub fn set_metadata(&mut self, name: &str, values: Vec<String>) -> Result<()> {
        if values.len() != self.n_rows() {
            return Err(ProfileError::invalid(
                &self.source,
                format!(
                    "metadata column '{name}' has {} values for {} rows",
                    values.len(),
                    self.n_rows()
                ),
            ));
        }
        if self.feature_names.iter().any(|f| f == name) {
            return Err(ProfileError::invalid(
                &self.source,
                format!("'{name}' is already a feature column"),
            ));
        }
        match self.metadata_names.iter().position(|n| n == name) {
            Some(i) => self.metadata[i] = values,
            None => {
                self.metadata_names.push(name.to_string());
                self.metadata.push(values);
            }
        }
        Ok(())
    }

    /// The rows at `rows`, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> ProfileTable {
        ProfileTable {
            source: self.source.clone(),
            metadata_names: self.metadata_names.clone(),
            metadata: self
                .metadata
                .iter()
                .map(|c| rows.iter().map(|&r| c[r].clone()).collect())
                .collect(),
            feature_names: self.feature_names.clone(),
            features: self.features.select(Axis(0), rows),
        }
    }

    /// Keeps only the feature columns at `cols`, in that order.
    pub fn select_features(&self, cols: &[usize]) -> ProfileTable {
        ProfileTable {
            source: self.source.clone(),
            metadata_names: self.metadata_names.clone(),
            metadata: self.metadata.clone(),
            feature_names: cols
                .iter()
                .map(|&c| self.feature_names[c].clone())
                .collect(),
            features: select_columns(self.features.view(), cols),
        }
    }

    /// Drops the named feature columns (names not present are ignored).
    pub fn drop_features<S: AsRef<str>>(&self, names: &[S]) -> ProfileTable {
        let drop: HashSet<&str> = names.iter().map(|s| s.as_ref()).collect();
        let keep: Vec<usize> = (0..self.n_features())
            .filter(|&c| !drop.contains(self.feature_names[c].as_str()))
            .collect();
        self.select_features(&keep)
    }

    /// Same rows and metadata with a new feature matrix (e.g. a sphered or embedded one).
    pub fn with_features(&self, feature_names: Vec<String>, features: Array2<f64>) -> Result<Self> {
        if features.nrows() != self.n_rows() {
            return Err(ProfileError::invalid(
                &self.source,
                format!(
                    "new feature matrix has {} rows, table has {}",
                    features.nrows(),
                    self.n_rows()
                ),
            ));
        }
        ProfileTable::new(
            self.source.clone(),
            self.metadata_names.clone(),
            self.metadata.clone(),
            feature_names,
            features,
        )
    }

    /// Keeps only the named metadata columns (in the given order).
    pub fn keep_metadata<S: AsRef<str>>(&self, names: &[S]) -> Result<ProfileTable> {
        let mut cols = Vec::with_capacity(names.len());
        for n in names {
            cols.push(self.metadata(n.as_ref())?.to_vec());
        }
        Ok(ProfileTable {
            source: self.source.clone(),
            metadata_names: names.iter().map(|s| s.as_ref().to_string()).collect(),
            metadata: cols,
            feature_names: self.feature_names.clone(),
            features: self.features.clone(),
        })
    }

    /// Row indices matching every selection; an error when none match.
    pub fn rows_matching(&self, selections: &[Selection]) -> Result<Vec<usize>> {
        let mut keep = vec![true; self.n_rows()];
        for sel in selections {
            let col = self.metadata(&sel.column)?;
            for (k, v) in keep.iter_mut().zip(col) {
                *k &= sel.matches(v);
            }
        }
        let rows: Vec<usize> = (0..self.n_rows()).filter(|&r| keep[r]).collect();
        if rows.is_empty() && selections.is_empty() {
            return Err(ProfileError::invalid(
                &self.source,
                "the table has no data rows",
            ));
        }
        if rows.is_empty() {
            return Err(ProfileError::EmptySelection {
                path: self.source.clone(),
                selection: selections
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                context: String::new(),
            });
        }
        Ok(rows)
    }

    /// Rows grouped by the values of `by`, groups in pandas `groupby` order (values compared
    /// as numbers when both parse as numbers, else as text).
    pub fn group_rows<S: AsRef<str>>(&self, by: &[S]) -> Result<Vec<(Vec<String>, Vec<usize>)>> {
        let cols: Vec<&[String]> = by
            .iter()
            .map(|c| self.metadata(c.as_ref()))
            .collect::<Result<_>>()?;
        let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
        for r in 0..self.n_rows() {
            let key = GroupKey(cols.iter().map(|c| c[r].clone()).collect());
            groups.entry(key).or_default().push(r);
        }
        Ok(groups.into_iter().map(|(k, v)| (k.0, v)).collect())
    }
}

/// A group key ordered like pandas sorts mixed metadata: numerically when both values are
/// numbers (so plate 2 comes before plate 10), as text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupKey(Vec<String>);

impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_keys(&self.0, &other.0)
    }
}

/// Orders multi-column group keys as pandas sorts groups: column by column with
/// [`compare_values`].
pub fn compare_keys(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Numeric comparison when both strings are numbers, else lexicographic.
pub fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => x
            .partial_cmp(&y)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// A row selection on one metadata column: `COLUMN=VALUE` or `COLUMN!=VALUE`.
///
/// This is the `samples=` query of pycytominer, e.g. `Metadata_broad_sample=DMSO`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// The metadata column.
    pub column: String,
    /// The value compared with.
    pub value: String,
    /// `!=` instead of `=`.
    pub negate: bool,
}

impl Selection {
    /// `column=value`.
    pub fn equals(column: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            value: value.into(),
            negate: false,
        }
    }
    /// Whether a row with `v` in the column is selected.
    pub fn matches(&self, v: &str) -> bool {
        (v == self.value) != self.negate
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.negate { "!=" } else { "=" };
        write!(f, "{}{}{}", self.column, op, self.value)
    }
}

impl std::str::FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let (column, value, negate) = if let Some((c, v)) = s.split_once("!=") {
            (c, v, true)
        } else if let Some((c, v)) = s.split_once('=') {
            (c, v, false)
        } else {
            return Err(format!(
                "selection '{s}' should look like COLUMN=VALUE or COLUMN!=VALUE, e.g. Metadata_broad_sample=DMSO"
            ));
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(format!("selection '{s}' names no column"));
        }
        Ok(Selection {
            column: column.to_string(),
            value: value.to_string(),
            negate,
        })
    }
}

/// The columns `cols` of `x`, gathered row by row on every core (ndarray's `select` along
/// the columns of a row-major matrix reads one strided column at a time).
fn select_columns(x: ArrayView2<'_, f64>, cols: &[usize]) -> Array2<f64> {
    use rayon::prelude::*;
    let mut out = Array2::<f64>::zeros((x.nrows(), cols.len()));
    if cols.is_empty() {
        return out;
    }
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut to, from)| {
            for (t, &c) in to.iter_mut().zip(cols) {
                *t = from[c];
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn tiny() -> ProfileTable {
        ProfileTable::new(
            "tiny",
            vec!["Metadata_Plate".into(), "Metadata_Well".into()],
            vec![
                vec!["10".into(), "2".into(), "2".into()],
                vec!["A01".into(), "A02".into(), "A01".into()],
            ],
            vec!["f1".into(), "f2".into()],
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        )
        .unwrap()
    }

    #[test]
    fn groups_sort_numbers_numerically() {
        let g = tiny().group_rows(&["Metadata_Plate"]).unwrap();
        assert_eq!(g[0].0, vec!["2".to_string()]);
        assert_eq!(g[0].1, vec![1, 2]);
        assert_eq!(g[1].0, vec!["10".to_string()]);
    }

    #[test]
    fn selection_parses_and_errors_clearly() {
        let s: Selection = "Metadata_Well!=A01".parse().unwrap();
        assert!(s.negate);
        assert_eq!(tiny().rows_matching(&[s]).unwrap(), vec![1]);
        let none: Selection = "Metadata_Well=Z99".parse().unwrap();
        let e = tiny().rows_matching(&[none]).unwrap_err().to_string();
        assert!(e.contains("Metadata_Well=Z99") && e.contains("tiny"), "{e}");
        let e = tiny().metadata("Metadata_moa").unwrap_err().to_string();
        assert!(e.contains("Metadata_Plate, Metadata_Well"), "{e}");
        assert!("nonsense".parse::<Selection>().is_err());
    }

    #[test]
    fn duplicate_columns_are_rejected() {
        let e = ProfileTable::new(
            "dup",
            vec!["Metadata_A".into()],
            vec![vec!["x".into()]],
            vec!["f".into(), "Metadata_A".into()],
            array![[1.0, 2.0]],
        )
        .unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
    }
}
