//! Annotating profiles with plate maps and other metadata, as pycytominer's `annotate` does:
//! every column of the annotation tables gets the `Metadata_` prefix, the plate map is joined
//! on its well (or on plate map name + well, after the barcode → plate map table), and external
//! metadata (e.g. compound → MOA) is joined on a key the user names.
//!
//! Where pycytominer is silent we are strict: a profile row the plate map does not cover is an
//! error (pycytominer's inner join drops it; [`Unmatched::Drop`] does the same on request), and
//! a key that two annotation rows share with different values is an error naming both lines
//! (pycytominer would duplicate the profile). Rows that repeat a key with identical values are
//! one row. A missing key value (empty, `NA`, …) never matches anything. Values are copied as
//! written (`10` stays `10`; pandas would write `10.0` when the column has a gap).

use std::collections::HashMap;
use std::path::Path;

use ndarray::Axis;

use crate::error::{ProfileError, Result};
use crate::io::shown;
use crate::table::{is_missing, ProfileTable};

const PREFIX: &str = "Metadata_";

/// A table of text columns (a plate map, a barcode → plate map table, compound annotations),
/// read from CSV or TSV. It keeps each row's 1-based line for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataTable {
    source: String,
    names: Vec<String>,
    rows: Vec<Vec<String>>,
    lines: Vec<usize>,
    /// For tables joined from several files: the first row of each file and its name.
    parts: Vec<(usize, String)>,
}

impl MetadataTable {
    /// Reads a delimited text table (optionally gzipped). The delimiter is the one the header
    /// line uses (tab or comma; pycytominer sniffs it the same way); a header with both or
    /// neither follows the extension (`.tsv`, `.txt` → tab).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut crate::io::open_maybe_gz(path)?, &mut text)
            .map_err(|e| ProfileError::io(path, e))?;
        let header = text.lines().next().unwrap_or("");
        let delimiter = match (header.contains('\t'), header.contains(',')) {
            (true, false) => b'\t',
            (false, true) => b',',
            _ => crate::io::delimiter_for(path),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut records = rdr.records();
        let names: Vec<String> = match records.next() {
            None => {
                return Err(ProfileError::invalid(
                    &label,
                    "file is empty (no header line)",
                ))
            }
            Some(h) => h
                .map_err(|e| crate::io::csv_error(&label, e, 1))?
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        // 1-based lines from byte offsets (csv's own line count skips blank lines).
        let (mut at_byte, mut at_line) = (0usize, 1usize);
        for rec in records {
            let rec = rec.map_err(|e| crate::io::csv_error(&label, e, at_line + 1))?;
            let mut byte = rec.position().map_or(at_byte, |p| p.byte() as usize);
            // The record's position is where reading began, before the blank lines it skipped.
            while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
                byte += 1;
            }
            at_line += text.as_bytes()[at_byte..byte]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            at_byte = byte;
            let line = at_line;
            if rec.len() == 1 && rec.get(0).is_some_and(|s| s.trim().is_empty()) {
                continue; // blank line
            }
            if rec.len() != names.len() {
                return Err(ProfileError::Ragged {
                    path: label,
                    line,
                    expected: names.len(),
                    found: rec.len(),
                });
            }
            rows.push(rec.iter().map(|s| s.to_string()).collect());
            lines.push(line);
        }
        Self::with_lines(label, names, rows, lines)
    }

    /// A table from rows in memory (line numbers in messages count from 2, as in a file with
    /// a header).
    pub fn new(
        source: impl Into<String>,
        names: Vec<String>,
        rows: Vec<Vec<String>>,
    ) -> Result<Self> {
        let lines = (2..rows.len() + 2).collect();
        Self::with_lines(source.into(), names, rows, lines)
    }

    fn with_lines(
        source: String,
        names: Vec<String>,
        rows: Vec<Vec<String>>,
        lines: Vec<usize>,
    ) -> Result<Self> {
        let mut seen = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(first) = seen.insert(prefixed(n), i) {
                return Err(ProfileError::DuplicateColumn {
                    path: source,
                    column: shown(n),
                    first: first + 1,
                    second: i + 1,
                });
            }
        }
        if let Some((r, row)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != names.len())
        {
            return Err(ProfileError::Ragged {
                path: source,
                line: lines[r],
                expected: names.len(),
                found: row.len(),
            });
        }
        Ok(Self {
            parts: vec![(0, source.clone())],
            source,
            names,
            rows,
            lines,
        })
    }

    /// Several tables with the same columns (e.g. one plate map file per plate map) as one;
    /// messages still name each row's own file and line.
    pub fn concat(tables: Vec<MetadataTable>) -> Result<Self> {
        let mut it = tables.into_iter();
        let Some(mut all) = it.next() else {
            return Err(ProfileError::invalid("annotation tables", "no table given"));
        };
        for t in it {
            if t.names != all.names {
                return Err(ProfileError::invalid(
                    &t.source,
                    format!(
                        "its columns ({}) differ from those of {} ({}); tables joined as one \
                         need the same header",
                        t.names.join(", "),
                        all.source,
                        all.names.join(", ")
                    ),
                ));
            }
            all.parts.push((all.rows.len(), t.source.clone()));
            all.rows.extend(t.rows);
            all.lines.extend(t.lines);
        }
        if all.parts.len() > 1 {
            all.source = format!("{} (and {} more files)", all.source, all.parts.len() - 1);
        }
        Ok(all)
    }

    /// The column names as written.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// The file (or label) the table came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The column a join names: its name after the `Metadata_` prefix (`Metadata_well_position`,
    /// as pycytominer's `join_on`) or as written (`well_position`).
    fn column(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| prefixed(n) == name || n == name)
            .ok_or_else(|| ProfileError::MissingColumn {
                path: self.source.clone(),
                column: shown(name),
                available: format!(
                    "its columns are: {}",
                    self.names
                        .iter()
                        .map(|n| shown(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Where row `r` is, for messages: its file and its 1-based line.
    fn place(&self, r: usize) -> String {
        let part = self.parts.iter().rev().find(|(first, _)| *first <= r);
        let file = part.map_or(self.source.as_str(), |(_, f)| f.as_str());
        format!("{file}, line {}", self.lines[r])
    }
}

/// `Metadata_` + `name`, unless it has the prefix already (pycytominer's rule for every
/// annotation table).
pub fn prefixed(name: &str) -> String {
    if name.starts_with(PREFIX) {
        name.to_string()
    } else {
        format!("{PREFIX}{name}")
    }
}

/// One pair of join columns: `table` in the annotation table (with or without the `Metadata_`
/// prefix), `profiles` in the profiles.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyPair {
    /// The annotation table's column.
    pub table: String,
    /// The profiles' metadata column.
    pub profiles: String,
}

impl KeyPair {
    /// `table` in the annotation table equals `profiles` in the profiles.
    pub fn new(table: impl Into<String>, profiles: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            profiles: profiles.into(),
        }
    }

    /// Parses `TABLE=PROFILES` (or one name for both).
    pub fn parse(text: &str) -> Result<Self> {
        let (t, p) = text.split_once('=').unwrap_or((text, text));
        if t.trim().is_empty() || p.trim().is_empty() {
            return Err(ProfileError::invalid(
                "join columns",
                format!(
                    "'{}': expected TABLE_COLUMN=PROFILE_COLUMN (e.g. \
                     Metadata_well_position=Metadata_Well) or one column name for both",
                    shown(text)
                ),
            ));
        }
        Ok(Self::new(t.trim(), p.trim()))
    }
}

impl std::str::FromStr for KeyPair {
    type Err = ProfileError;
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

/// What happens to a profile row the annotation table has no row for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// Refuse the whole table, naming the first such row (the default for plate maps).
    #[default]
    Error,
    /// Leave the row out (pycytominer's inner join).
    Drop,
    /// Keep the row with empty annotations (a left join: external metadata).
    Keep,
}

/// What one join did, for the run record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JoinCounts {
    /// The annotation table joined.
    pub table: String,
    /// Profile rows that found their annotation row.
    pub matched: usize,
    /// Profile rows that did not (dropped or kept empty, by the rule in force).
    pub unmatched: usize,
    /// Annotation rows no profile row used (e.g. empty wells, other plate maps).
    pub unused: usize,
    /// The columns added, as named in the output.
    pub added: Vec<String>,
}

/// How one annotation table is joined onto the profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Join<'a> {
    /// The annotation table.
    pub table: &'a MetadataTable,
    /// The key columns (all must be equal).
    pub on: Vec<KeyPair>,
    /// Profile rows without an annotation row.
    pub unmatched: Unmatched,
    /// The table's columns go before the profiles' metadata and the rows follow the table's
    /// order (pycytominer's plate map merge, where the plate map is the left table); otherwise
    /// after, in the profiles' order.
    pub table_first: bool,
    /// Appended to an added column whose name the profiles already use (`_platemap`,
    /// `_external` in pycytominer).
    pub clash_suffix: String,
}

/// Joins one annotation table onto the profiles: each profile row gets the values of the
/// annotation row whose key columns equal its own. The table's key columns are not added (the
/// profiles have them).
pub fn join_metadata(profiles: &ProfileTable, join: &Join) -> Result<(ProfileTable, JoinCounts)> {
    let table = join.table;
    if join.on.is_empty() {
        return Err(ProfileError::invalid(
            table.source(),
            "no join columns given (e.g. Metadata_well_position=Metadata_Well)",
        ));
    }
    let table_keys: Vec<usize> = join
        .on
        .iter()
        .map(|k| {
            table
                .column(&prefixed(&k.table))
                .or_else(|_| table.column(&k.table))
        })
        .collect::<Result<_>>()?;
    let profile_keys: Vec<&[String]> = join
        .on
        .iter()
        .map(|k| profiles.metadata(&k.profiles))
        .collect::<Result<_>>()?;

    // The annotation rows by key; a key repeated with other values is ambiguous.
    let mut index: HashMap<Vec<&str>, usize> = HashMap::with_capacity(table.n_rows());
    for (r, row) in table.rows.iter().enumerate() {
        let key: Vec<&str> = table_keys.iter().map(|&c| row[c].as_str()).collect();
        if key.iter().any(|v| is_missing(v)) {
            continue;
        }
        if let Some(&first) = index.get(&key) {
            if table.rows[first] != *row {
                let differs = (0..table.names.len())
                    .find(|&c| table.rows[first][c] != row[c])
                    .expect("rows differ somewhere");
                return Err(ProfileError::invalid(
                    &table.place(r),
                    format!(
                        "key {} appears again (first at {}) with another value of '{}' \
                         ('{}' then '{}'); the annotation is ambiguous",
                        describe_key(&join.on, &key),
                        table.place(first),
                        shown(&table.names[differs]),
                        shown(&table.rows[first][differs]),
                        shown(&row[differs])
                    ),
                ));
            }
            continue;
        }
        index.insert(key, r);
    }

    // Each profile row's annotation row.
    let mut found: Vec<Option<usize>> = Vec::with_capacity(profiles.n_rows());
    for r in 0..profiles.n_rows() {
        let key: Vec<&str> = profile_keys.iter().map(|c| c[r].as_str()).collect();
        let hit = if key.iter().any(|v| is_missing(v)) {
            None
        } else {
            index.get(&key).copied()
        };
        if hit.is_none() && join.unmatched == Unmatched::Error {
            let n = (r..profiles.n_rows())
                .filter(|&q| {
                    let k: Vec<&str> = profile_keys.iter().map(|c| c[q].as_str()).collect();
                    k.iter().any(|v| is_missing(v)) || !index.contains_key(&k)
                })
                .count();
            return Err(ProfileError::invalid(
                &format!("{}, line {}", profiles.source(), r + 2),
                format!(
                    "no row of {} has {}{}; every profile row needs one (or drop such rows on \
                     purpose: --drop-unmatched)",
                    table.source(),
                    describe_key(&join.on, &key),
                    if n > 1 {
                        format!(" ({n} profile rows from here on are not covered)")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        found.push(hit);
    }

    // Output rows: matched (and, for a left join, unmatched) profile rows, in the order asked.
    let mut rows: Vec<usize> = (0..profiles.n_rows())
        .filter(|&r| found[r].is_some() || join.unmatched == Unmatched::Keep)
        .collect();
    if join.table_first {
        rows.sort_by_key(|&r| found[r].unwrap_or(usize::MAX)); // stable: profile order within
    }
    let matched = found.iter().filter(|f| f.is_some()).count();
    let used: std::collections::HashSet<usize> = found.iter().flatten().copied().collect();
    let unused = index.values().filter(|r| !used.contains(r)).count();

    // The table's other columns, renamed on a clash as pandas' merge suffixes do.
    let taken = |name: &str| {
        profiles.metadata_names().iter().any(|n| n == name)
            || profiles.feature_names().iter().any(|n| n == name)
    };
    let mut added_names = Vec::new();
    let mut added = Vec::new();
    for c in (0..table.names.len()).filter(|c| !table_keys.contains(c)) {
        let mut name = prefixed(&table.names[c]);
        if taken(&name) {
            name.push_str(&join.clash_suffix);
            if taken(&name) || join.clash_suffix.is_empty() {
                return Err(ProfileError::invalid(
                    table.source(),
                    format!(
                        "column '{}' is already in the profiles{}",
                        shown(&table.names[c]),
                        if join.clash_suffix.is_empty() {
                            String::new()
                        } else {
                            format!(", and so is '{}'", shown(&name))
                        }
                    ),
                ));
            }
        }
        added.push(
            rows.iter()
                .map(|&r| found[r].map_or_else(String::new, |t| table.rows[t][c].clone()))
                .collect::<Vec<String>>(),
        );
        added_names.push(name);
    }
    let kept_names = profiles.metadata_names().to_vec();
    let kept: Vec<Vec<String>> = kept_names
        .iter()
        .map(|n| {
            let col = profiles.metadata(n).expect("listed metadata column");
            rows.iter().map(|&r| col[r].clone()).collect()
        })
        .collect();
    let (names, columns) = if join.table_first {
        (
            [added_names.clone(), kept_names].concat(),
            added.into_iter().chain(kept).collect(),
        )
    } else {
        (
            [kept_names, added_names.clone()].concat(),
            kept.into_iter().chain(added).collect(),
        )
    };
    let out = ProfileTable::new(
        profiles.source(),
        names,
        columns,
        profiles.feature_names().to_vec(),
        profiles.features().select(Axis(0), &rows),
    )?;
    let counts = JoinCounts {
        table: table.source().to_string(),
        matched,
        unmatched: profiles.n_rows() - matched,
        unused,
        added: added_names,
    };
    Ok((out, counts))
}

fn describe_key(on: &[KeyPair], key: &[&str]) -> String {
    let parts: Vec<String> = on
        .iter()
        .zip(key)
        .map(|(k, v)| format!("{}='{}'", shown(&k.profiles), shown(v)))
        .collect();
    parts.join(", ")
}

/// The settings of [`annotate`], pycytominer's defaults where it has them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnotateParams {
    /// Plate map column = profile column (pycytominer's `join_on`; default
    /// `Metadata_well_position` = `Metadata_Well`; with a barcode table, plate map name and
    /// well).
    pub join_on: Vec<KeyPair>,
    /// Barcode table column = profile column (default `Metadata_Assay_Plate_Barcode` =
    /// `Metadata_Plate`, the layout of the Broad's `barcode_platemap.csv`).
    pub barcode_on: Vec<KeyPair>,
    /// External metadata column = profile column (pycytominer's `external_join_right` and
    /// `external_join_left`); required with external metadata.
    pub external_on: Vec<KeyPair>,
    /// Profile rows the plate map (or barcode table) does not cover.
    pub unmatched: Unmatched,
}

impl Default for AnnotateParams {
    fn default() -> Self {
        Self {
            join_on: vec![KeyPair::new("Metadata_well_position", "Metadata_Well")],
            barcode_on: vec![KeyPair::new(
                "Metadata_Assay_Plate_Barcode",
                "Metadata_Plate",
            )],
            external_on: Vec::new(),
            unmatched: Unmatched::Error,
        }
    }
}

impl AnnotateParams {
    /// The join for plate maps that list several maps (a `plate_map_name` column) reached
    /// through a barcode table: plate map name and well.
    pub fn plate_map_and_well() -> Vec<KeyPair> {
        vec![
            KeyPair::new("Metadata_plate_map_name", "Metadata_Plate_Map_Name"),
            KeyPair::new("Metadata_well_position", "Metadata_Well"),
        ]
    }
}

/// What [`annotate`] did, join by join.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnnotateReport {
    /// The barcode → plate map join, if there was one.
    pub barcodes: Option<JoinCounts>,
    /// The plate map join.
    pub platemap: JoinCounts,
    /// The external metadata join, if there was one.
    pub external: Option<JoinCounts>,
}

/// pycytominer's `annotate`: optionally the barcode table (plate → plate map name and batch,
/// added after the profiles' metadata), then the plate map (its columns first, its row
/// order, as pycytominer's merge), then external metadata (a left join: rows without a match
/// keep empty values).
pub fn annotate(
    profiles: &ProfileTable,
    platemap: &MetadataTable,
    barcodes: Option<&MetadataTable>,
    external: Option<&MetadataTable>,
    params: &AnnotateParams,
) -> Result<(ProfileTable, AnnotateReport)> {
    let mut table = profiles.clone();
    let barcode_counts = match barcodes {
        Some(b) => {
            let (t, c) = join_metadata(
                &table,
                &Join {
                    table: b,
                    on: params.barcode_on.clone(),
                    unmatched: params.unmatched,
                    table_first: false,
                    clash_suffix: "_barcode".into(),
                },
            )?;
            table = t;
            Some(c)
        }
        None => None,
    };
    let (t, platemap_counts) = join_metadata(
        &table,
        &Join {
            table: platemap,
            on: params.join_on.clone(),
            unmatched: params.unmatched,
            table_first: true,
            clash_suffix: "_platemap".into(),
        },
    )?;
    table = t;
    let external_counts = match external {
        Some(e) => {
            if params.external_on.is_empty() {
                return Err(ProfileError::invalid(
                    e.source(),
                    "external metadata needs its join columns (e.g. \
                     Metadata_broad_sample=Metadata_broad_sample)",
                ));
            }
            let (t, c) = join_metadata(
                &table,
                &Join {
                    table: e,
                    on: params.external_on.clone(),
                    unmatched: Unmatched::Keep,
                    table_first: false,
                    clash_suffix: "_external".into(),
                },
            )?;
            table = t;
            Some(c)
        }
        None => None,
    };
    Ok((
        table,
        AnnotateReport {
            barcodes: barcode_counts,
            platemap: platemap_counts,
            external: external_counts,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn profiles() -> ProfileTable {
        ProfileTable::new(
            "p.csv",
            vec!["Metadata_Plate".into(), "Metadata_Well".into()],
            vec![
                vec!["P1".into(), "P1".into(), "P2".into()],
                vec!["B02".into(), "A01".into(), "A01".into()],
            ],
            vec!["f".into()],
            array![[1.0], [2.0], [3.0]],
        )
        .unwrap()
    }

    fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    fn platemap() -> MetadataTable {
        MetadataTable::new(
            "map.txt",
            vec![
                "well_position".into(),
                "broad_sample".into(),
                "Plate".into(),
            ],
            strings(&[
                &["A01", "DMSO", "x"],
                &["B02", "BRD-1", "y"],
                &["C03", "BRD-2", "z"],
            ]),
        )
        .unwrap()
    }

    #[test]
    fn plate_map_columns_come_first_in_plate_map_order_with_clashes_suffixed() {
        let (t, report) = annotate(
            &profiles(),
            &platemap(),
            None,
            None,
            &AnnotateParams::default(),
        )
        .unwrap();
        assert_eq!(
            t.metadata_names(),
            [
                "Metadata_broad_sample",
                "Metadata_Plate_platemap",
                "Metadata_Plate",
                "Metadata_Well"
            ]
        );
        // The plate map's order (A01 before B02), the profiles' order within a well.
        assert_eq!(t.metadata("Metadata_Well").unwrap(), ["A01", "A01", "B02"]);
        assert_eq!(t.metadata("Metadata_Plate").unwrap(), ["P1", "P2", "P1"]);
        assert_eq!(
            t.metadata("Metadata_broad_sample").unwrap(),
            ["DMSO", "DMSO", "BRD-1"]
        );
        assert_eq!(t.features().column(0).to_vec(), [2.0, 3.0, 1.0]);
        assert_eq!(report.platemap.matched, 3);
        assert_eq!(report.platemap.unused, 1); // C03
    }

    #[test]
    fn an_uncovered_profile_row_is_an_error_unless_dropped() {
        let map = MetadataTable::new(
            "map.txt",
            vec!["well_position".into(), "broad_sample".into()],
            strings(&[&["A01", "DMSO"]]),
        )
        .unwrap();
        let err = annotate(&profiles(), &map, None, None, &AnnotateParams::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "p.csv, line 2: no row of map.txt has Metadata_Well='B02'; every profile row \
             needs one (or drop such rows on purpose: --drop-unmatched)"
        );
        let params = AnnotateParams {
            unmatched: Unmatched::Drop,
            ..Default::default()
        };
        let (t, report) = annotate(&profiles(), &map, None, None, &params).unwrap();
        assert_eq!(t.n_rows(), 2);
        assert_eq!(report.platemap.unmatched, 1);
    }

    #[test]
    fn a_key_repeated_with_other_values_is_an_error_naming_both_lines() {
        let map = MetadataTable::new(
            "map.txt",
            vec!["well_position".into(), "broad_sample".into()],
            strings(&[
                &["A01", "DMSO"],
                &["B02", "BRD-1"],
                &["A01", "DMSO"],
                &["B02", "BRD-9"],
            ]),
        )
        .unwrap();
        let err = annotate(&profiles(), &map, None, None, &AnnotateParams::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "map.txt, line 5: key Metadata_Well='B02' appears again (first at map.txt, line 3) \
             with another value of 'broad_sample' ('BRD-1' then 'BRD-9'); the annotation is \
             ambiguous"
        );
    }

    #[test]
    fn external_metadata_is_a_left_join_and_missing_keys_never_match() {
        let external = MetadataTable::new(
            "moa.tsv",
            vec!["broad_sample".into(), "moa".into()],
            strings(&[&["BRD-1", "tubulin inhibitor"], &["", "should not match"]]),
        )
        .unwrap();
        let map = MetadataTable::new(
            "map.txt",
            vec!["well_position".into(), "broad_sample".into()],
            strings(&[&["A01", ""], &["B02", "BRD-1"]]),
        )
        .unwrap();
        let params = AnnotateParams {
            external_on: vec![KeyPair::parse("broad_sample=Metadata_broad_sample").unwrap()],
            ..Default::default()
        };
        let (t, report) = annotate(&profiles(), &map, None, Some(&external), &params).unwrap();
        assert_eq!(
            t.metadata("Metadata_moa").unwrap(),
            ["", "", "tubulin inhibitor"]
        );
        let ext = report.external.unwrap();
        assert_eq!((ext.matched, ext.unmatched, ext.unused), (1, 2, 0));
    }

    #[test]
    fn reads_tab_or_comma_from_the_header_and_names_ragged_lines() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = dir.path().join("map.csv");
        std::fs::write(
            &tsv,
            "well_position\tbroad_sample\nA01\tDMSO\n\nB02\tBRD-1\n",
        )
        .unwrap();
        let t = MetadataTable::read(&tsv).unwrap();
        assert_eq!(t.names(), ["well_position", "broad_sample"]);
        assert_eq!(t.n_rows(), 2);
        assert_eq!(t.place(1), format!("{}, line 4", tsv.display()));
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "a,b\n1,2\n3\n").unwrap();
        let err = MetadataTable::read(&bad).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}, line 3: expected 2 fields as in the header, found 1",
                bad.display()
            )
        );
    }
}
