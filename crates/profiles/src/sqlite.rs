//! CellProfiler single-cell databases (SQLite, as ExportToDatabase and cytominer-database write
//! them) aggregated to wells in one streamed pass (feature `sqlite`).
//!
//! The compartment tables (`Per_Cells`, `Per_Cytoplasm`, `Per_Nuclei`, or without the `Per_`
//! prefix) are joined on `ImageNumber` and `ObjectNumber` (and `TableNumber` where every table
//! has it), the image table (`Per_Image` or `Image`) gives the strata, and SQLite returns the
//! rows ordered by the strata (its external sort spills to a temporary file, not to memory).
//! Each group is aggregated as soon as its last cell has gone by, so memory holds one group's
//! cells, not the database: peak memory grows with the largest well (cells × features × 8 bytes)
//! and the number of features, not with the number of cells or wells.
//!
//! Features are every compartment column but the keys (pycytominer's SingleCells takes every
//! compartment-prefixed column the same way); SQL NULL is NaN, text cells are parsed as a
//! CSV's are. The result equals [`crate::aggregate()`] of the joined single-cell table: groups
//! in the same (pandas `groupby`) order, the same medians and means.

use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::aggregate::AggregateOp;
use crate::error::{ProfileError, Result};
use crate::io::shown;
use crate::table::{compare_keys, ProfileTable};

/// What [`aggregate_sqlite`] joins and groups.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteAggregate {
    /// Compartment tables, joined on image and object number (`Per_<name>` or `<name>`).
    pub compartments: Vec<String>,
    /// Image-table columns to group by; `Metadata_Plate` also finds CellProfiler's
    /// `Image_Metadata_Plate`. The output names them as given here.
    pub strata: Vec<String>,
    /// Median (pycytominer's default) or mean.
    pub operation: AggregateOp,
}

impl Default for SqliteAggregate {
    fn default() -> Self {
        SqliteAggregate {
            compartments: vec!["Cells".into(), "Cytoplasm".into(), "Nuclei".into()],
            strata: vec!["Metadata_Plate".into(), "Metadata_Well".into()],
            operation: AggregateOp::Median,
        }
    }
}

const KEYS: [&str; 3] = ["TableNumber", "ImageNumber", "ObjectNumber"];

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Columns of `table`, or None when there is no such table.
fn columns(db: &Connection, table: &str) -> rusqlite::Result<Option<Vec<String>>> {
    let mut st = db.prepare(&format!("PRAGMA table_info({})", quoted(table)))?;
    let names: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((!names.is_empty()).then_some(names))
}

/// Aggregates the single cells of a CellProfiler SQLite database to one row per stratum.
pub fn aggregate_sqlite(path: &Path, params: &SqliteAggregate) -> Result<ProfileTable> {
    let label = path.display().to_string();
    let sql = |e: rusqlite::Error| ProfileError::invalid(&label, format!("SQLite: {e}"));
    if params.compartments.is_empty() || params.strata.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "needs at least one compartment and one strata column",
        ));
    }
    if !path.is_file() {
        return Err(ProfileError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such database file"),
        ));
    }
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    // The sort and any automatic join index go to a temporary file; 64 MB of page cache.
    db.execute_batch("PRAGMA temp_store = FILE; PRAGMA cache_size = -65536;")
        .map_err(sql)?;
    let find = |names: &[String]| -> Result<(String, Vec<String>)> {
        for n in names {
            if let Some(cols) = columns(&db, n).map_err(sql)? {
                return Ok((n.clone(), cols));
            }
        }
        Err(ProfileError::invalid(
            &label,
            format!(
                "no table {}; expected a CellProfiler database",
                names.join(" or ")
            ),
        ))
    };
    let (image, image_cols) = find(&["Per_Image".into(), "Image".into()])?;
    let mut strata_cols = Vec::new();
    for s in &params.strata {
        let found = [s.clone(), format!("Image_{s}")]
            .into_iter()
            .find(|c| image_cols.contains(c))
            .ok_or_else(|| {
                ProfileError::invalid(
                    &label,
                    format!("table {image} has no column {} (or Image_{s})", shown(s)),
                )
            })?;
        strata_cols.push(found);
    }
    let mut tables = Vec::new();
    for c in &params.compartments {
        tables.push(find(&[format!("Per_{c}"), c.clone()])?);
    }
    for (t, cols) in &tables {
        for k in &KEYS[1..] {
            if !cols.iter().any(|c| c == k) {
                return Err(ProfileError::invalid(
                    &label,
                    format!("table {t} has no {k} column; expected CellProfiler's object tables"),
                ));
            }
        }
    }
    let with_table_number = image_cols.iter().any(|c| c == "TableNumber")
        && tables
            .iter()
            .all(|(_, cols)| cols.iter().any(|c| c == "TableNumber"));
    // Features: every non-key column of every compartment, in table then column order.
    let mut select = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut origin: Vec<String> = Vec::new();
    for (k, (t, cols)) in tables.iter().enumerate() {
        for c in cols.iter().filter(|c| !KEYS.contains(&c.as_str())) {
            select.push(format!("c{k}.{}", quoted(c)));
            names.push(c.clone());
            origin.push(t.clone());
        }
    }
    if names.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "the compartment tables hold no features",
        ));
    }
    let mut joins = String::new();
    let on = |a: &str, b: &str, object: bool| {
        let mut keys = vec!["ImageNumber"];
        if object {
            keys.push("ObjectNumber");
        }
        if with_table_number {
            keys.push("TableNumber");
        }
        keys.iter()
            .map(|k| format!("{a}.{k} = {b}.{k}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    for (k, (t, _)) in tables.iter().enumerate().skip(1) {
        joins.push_str(&format!(
            " JOIN {} c{k} ON {}",
            quoted(t),
            on(&format!("c{k}"), "c0", true)
        ));
    }
    let strata_sql: Vec<String> = strata_cols
        .iter()
        .map(|c| format!("i.{}", quoted(c)))
        .collect();
    let query = format!(
        "SELECT {}, {} FROM {} c0{joins} JOIN {} i ON {} ORDER BY {}",
        strata_sql.join(", "),
        select.join(", "),
        quoted(&tables[0].0),
        quoted(&image),
        on("i", "c0", false),
        strata_sql.join(", "),
    );
    let mut st = db.prepare(&query).map_err(sql)?;
    let mut rows = st.query([]).map_err(sql)?;
    let (n_strata, p) = (strata_cols.len(), names.len());
    let mut groups: Vec<(Vec<String>, Vec<f64>)> = Vec::new();
    let mut key: Option<Vec<String>> = None;
    let mut buffer: Vec<f64> = Vec::new();
    let mut n_cells = 0usize;
    let flush = |key: Vec<String>, buffer: &mut Vec<f64>, groups: &mut Vec<_>| {
        groups.push((key, combine(buffer, p, params.operation)));
        buffer.clear();
    };
    while let Some(row) = rows.next().map_err(sql)? {
        let mut this = Vec::with_capacity(n_strata);
        for s in 0..n_strata {
            this.push(match row.get_ref(s).map_err(sql)? {
                ValueRef::Null => String::new(),
                ValueRef::Integer(i) => i.to_string(),
                ValueRef::Real(f) => crate::parquet_io::python_repr(f),
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
            });
        }
        if key.as_ref() != Some(&this) {
            if let Some(done) = key.take() {
                flush(done, &mut buffer, &mut groups);
            }
            key = Some(this);
        }
        for j in 0..p {
            let v = match row.get_ref(n_strata + j).map_err(sql)? {
                ValueRef::Null => f64::NAN,
                ValueRef::Integer(i) => i as f64,
                ValueRef::Real(f) => f,
                ValueRef::Text(t) => std::str::from_utf8(t)
                    .ok()
                    .and_then(crate::io::parse_feature)
                    .ok_or_else(|| {
                        ProfileError::invalid(
                            &label,
                            format!(
                                "table {}, column {}, cell {} of group {}: {} is not a number",
                                origin[j],
                                shown(&names[j]),
                                n_cells + 1,
                                key.as_ref().map(|k| k.join("/")).unwrap_or_default(),
                                shown(&String::from_utf8_lossy(t))
                            ),
                        )
                    })?,
                ValueRef::Blob(_) => {
                    return Err(ProfileError::invalid(
                        &label,
                        format!(
                            "table {}, column {}: a blob, not a number",
                            origin[j],
                            shown(&names[j])
                        ),
                    ))
                }
            };
            buffer.push(v);
        }
        n_cells += 1;
    }
    if let Some(done) = key.take() {
        flush(done, &mut buffer, &mut groups);
    }
    if groups.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "no cells: the join of the compartment tables is empty",
        ));
    }
    // pandas groupby order (numbers by value, then text), whatever SQLite's collation was.
    groups.sort_by(|a, b| compare_keys(&a.0, &b.0));
    let n = groups.len();
    let mut meta: Vec<Vec<String>> = vec![Vec::with_capacity(n); n_strata];
    let mut values = Vec::with_capacity(n * p);
    for (k, v) in groups {
        for (s, text) in k.into_iter().enumerate() {
            meta[s].push(text);
        }
        values.extend(v);
    }
    ProfileTable::new(
        label,
        params.strata.clone(),
        meta,
        names,
        Array2::from_shape_vec((n, p), values).expect("one value per group and feature"),
    )
}

/// One group's cells (row-major, `p` per cell) → one value per feature.
fn combine(cells: &[f64], p: usize, op: AggregateOp) -> Vec<f64> {
    let n = cells.len() / p;
    (0..p)
        .into_par_iter()
        .map(|j| op.apply((0..n).map(|i| cells[i * p + j])))
        .collect()
}

/// Writes a seeded synthetic CellProfiler database for tests and benchmarks, with
/// cytominer-database's table names (what pycytominer's SingleCells reads): an `Image` table
/// (`TableNumber`, `ImageNumber`, `Metadata_Plate`, `Metadata_Well`, `Metadata_Site`) and
/// `Cells`, `Cytoplasm`, `Nuclei` with `cells` objects spread over `wells` wells of
/// 4 sites, `features` columns in all (`<Compartment>_F<j>`, split across the three), about 1 in
/// 1,000 values NULL, and pycytominer's linking columns (`Cytoplasm_Parent_Cells`,
/// `Cytoplasm_Parent_Nuclei`) so that pycytominer's SingleCells reads it too.
pub fn write_synthetic_database(
    path: &Path,
    cells: usize,
    features: usize,
    wells: usize,
    seed: u64,
) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let label = path.display().to_string();
    let sql = |e: rusqlite::Error| ProfileError::invalid(&label, format!("SQLite: {e}"));
    if wells == 0 || features < 3 {
        return Err(ProfileError::invalid(
            &label,
            "needs ≥ 1 well and ≥ 3 features",
        ));
    }
    let _ = std::fs::remove_file(path);
    let mut db = Connection::open(path).map_err(sql)?;
    db.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .map_err(sql)?;
    let tx = db.transaction().map_err(sql)?;
    tx.execute_batch(
        "CREATE TABLE Image (TableNumber INTEGER, ImageNumber INTEGER, Metadata_Plate TEXT, \
         Metadata_Well TEXT, Metadata_Site INTEGER);",
    )
    .map_err(sql)?;
    let sites = wells * 4;
    {
        let mut st = tx
            .prepare("INSERT INTO Image VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(sql)?;
        for i in 0..sites {
            let w = i / 4;
            let well = format!("{}{:02}", (b'A' + (w / 24 % 16) as u8) as char, w % 24 + 1);
            st.execute(rusqlite::params![
                0,
                i as i64 + 1,
                format!("P{}", w / 384 + 1),
                well,
                (i % 4) as i64 + 1
            ])
            .map_err(sql)?;
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (k, comp) in ["Cells", "Cytoplasm", "Nuclei"].iter().enumerate() {
        let width = features / 3 + usize::from(k < features % 3);
        let mut cols = vec![
            "TableNumber INTEGER".to_string(),
            "ImageNumber INTEGER".into(),
            "ObjectNumber INTEGER".into(),
        ];
        if *comp == "Cytoplasm" {
            cols.push("Cytoplasm_Parent_Cells INTEGER".into());
            cols.push("Cytoplasm_Parent_Nuclei INTEGER".into());
        }
        let first_feature = cols.len();
        cols.extend((0..width).map(|j| format!("{comp}_F{j} REAL")));
        tx.execute_batch(&format!("CREATE TABLE {comp} ({});", cols.join(", ")))
            .map_err(sql)?;
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let mut st = tx
            .prepare(&format!("INSERT INTO {comp} VALUES ({})", marks.join(", ")))
            .map_err(sql)?;
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(cols.len());
        for c in 0..cells {
            let image = c % sites;
            let object = c / sites + 1;
            values.clear();
            values.push(0i64.into());
            values.push((image as i64 + 1).into());
            values.push((object as i64).into());
            if *comp == "Cytoplasm" {
                values.push((object as i64).into());
                values.push((object as i64).into());
            }
            // A per-well shift, so wells differ, plus per-cell noise.
            let shift = (image / 4) as f64 * 0.01;
            for _ in first_feature..cols.len() {
                let v: f64 = rng.random::<f64>() + shift;
                values.push(if rng.random_ratio(1, 1000) {
                    rusqlite::types::Value::Null
                } else {
                    v.into()
                });
            }
            st.execute(rusqlite::params_from_iter(values.iter()))
                .map_err(sql)?;
        }
    }
    tx.commit().map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed aggregate equals the in-memory one on the same cells, read by a plain join.
    #[test]
    fn streamed_aggregate_equals_in_memory_aggregate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cells.sqlite");
        write_synthetic_database(&path, 2_000, 31, 12, 7).unwrap();
        for op in [AggregateOp::Median, AggregateOp::Mean] {
            let params = SqliteAggregate {
                operation: op,
                ..Default::default()
            };
            let ours = aggregate_sqlite(&path, &params).unwrap();
            // The single cells, joined without ORDER BY, into a table.
            let db = Connection::open(&path).unwrap();
            let feats: Vec<String> = ["Cells", "Cytoplasm", "Nuclei"]
                .iter()
                .flat_map(|c| {
                    columns(&db, c)
                        .unwrap()
                        .unwrap()
                        .into_iter()
                        .filter(|n| !KEYS.contains(&n.as_str()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut st = db
                .prepare(&format!(
                    "SELECT i.Metadata_Plate, i.Metadata_Well, {} FROM Cells a \
                     JOIN Cytoplasm b USING (TableNumber, ImageNumber, ObjectNumber) \
                     JOIN Nuclei c USING (TableNumber, ImageNumber, ObjectNumber) \
                     JOIN Image i USING (TableNumber, ImageNumber)",
                    feats
                        .iter()
                        .map(|f| quoted(f))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .unwrap();
            let mut meta = vec![Vec::new(), Vec::new()];
            let mut values = Vec::new();
            let mut rows = st.query([]).unwrap();
            let mut n = 0;
            while let Some(r) = rows.next().unwrap() {
                meta[0].push(r.get::<_, String>(0).unwrap());
                meta[1].push(r.get::<_, String>(1).unwrap());
                for j in 0..feats.len() {
                    values.push(r.get::<_, Option<f64>>(2 + j).unwrap().unwrap_or(f64::NAN));
                }
                n += 1;
            }
            assert_eq!(n, 2_000);
            let cells = ProfileTable::new(
                "cells",
                vec!["Metadata_Plate".into(), "Metadata_Well".into()],
                meta,
                feats.clone(),
                Array2::from_shape_vec((n, feats.len()), values).unwrap(),
            )
            .unwrap();
            let want = crate::aggregate(&cells, &["Metadata_Plate", "Metadata_Well"], op).unwrap();
            assert_eq!(ours.n_rows(), 12);
            assert_eq!(ours.feature_names(), want.feature_names());
            assert_eq!(
                ours.metadata("Metadata_Well").unwrap(),
                want.metadata("Metadata_Well").unwrap()
            );
            let worst = ours
                .features()
                .iter()
                .zip(want.features().iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            // Medians are the same values; means differ only by summation order.
            assert!(worst < 1e-12, "{op:?}: {worst}");
        }
    }

    #[test]
    fn missing_tables_and_columns_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cells.sqlite");
        write_synthetic_database(&path, 50, 6, 2, 1).unwrap();
        let e = aggregate_sqlite(
            &path,
            &SqliteAggregate {
                compartments: vec!["Cells".into(), "Organelles".into()],
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cells.sqlite") && e.contains("Per_Organelles or Organelles"),
            "{e}"
        );
        let e = aggregate_sqlite(
            &path,
            &SqliteAggregate {
                strata: vec!["Metadata_Batch".into()],
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no column Metadata_Batch"), "{e}");
        std::fs::write(
            tmp.path().join("junk.sqlite"),
            b"not a database at all, truly",
        )
        .unwrap();
        assert!(
            aggregate_sqlite(&tmp.path().join("junk.sqlite"), &SqliteAggregate::default()).is_err()
        );
    }
}
