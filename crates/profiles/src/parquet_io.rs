//! Parquet tables: one file, or a folder of parts read as one table, and writing.
//!
//! A Parquet file read here gives the same table as the CSV that pandas writes from it
//! (`pd.read_parquet(p).to_csv(index=False)`), so every command gives the same result on
//! either input:
//! - metadata columns become text the way pandas prints them: integers as digits (as floats,
//!   `1.0`, when the column has nulls, since pandas then holds it as float64), floats as
//!   Python's `repr`, booleans `True`/`False`, timestamps `2020-11-03 00:58:31.537` at the
//!   finest unit the column needs, dates `2020-11-03`, nulls as empty text;
//! - feature columns become `f64`: float64 as stored, float32 and integers widened exactly,
//!   nulls as NaN; text feature columns are parsed as a CSV's cells are (digits and pandas'
//!   missing-value strings; anything else is an error, as in a CSV); boolean or temporal
//!   feature columns are refused.
//! - pandas' index columns (`__index_level_0__`) are not data and are skipped.
//!
//! Writing: metadata as optional UTF-8 strings (missing values, [`crate::table::is_missing`], as
//! nulls, as pandas writes them), features as optional float64 (NaN as null, as pyarrow writes
//! pandas' NaN), snappy-compressed, one row group per 1 Mi rows. pandas, pyarrow and
//! pycytominer read it back as the table written.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ndarray::Array2;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescriptor, ColumnPath, Type};
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::io::{shown, MetadataColumns};
use crate::table::{is_missing, ProfileTable};

/// Rows per row group written (pyarrow's default is 1 Mi rows too).
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// Records decoded per call: bounds what a corrupt row count can make us reserve.
const BATCH: usize = 8192;

/// True when `path` names a Parquet file or a folder holding Parquet parts.
pub fn is_parquet(path: &Path) -> bool {
    path.to_string_lossy().to_lowercase().ends_with(".parquet") || !parquet_parts(path).is_empty()
}

/// The `*.parquet` files of a folder, by name; hidden and `_`-prefixed files (`_SUCCESS`,
/// `_metadata`) are not parts. Empty when `path` is not a folder.
pub(crate) fn parquet_parts(path: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let mut parts: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            p.is_file()
                && name.to_lowercase().ends_with(".parquet")
                && !name.starts_with('.')
                && !name.starts_with('_')
        })
        .collect();
    parts.sort();
    parts
}

/// Reads a Parquet file, or every part of a folder as one table (same columns, in order).
pub(crate) fn read_parquet(path: &Path, metadata: &MetadataColumns) -> Result<ProfileTable> {
    if !path.is_dir() {
        return read_parquet_file(path, metadata);
    }
    let parts = parquet_parts(path);
    let label = path.display().to_string();
    if parts.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "folder holds no .parquet parts; expected a Parquet file or a folder of them",
        ));
    }
    let tables = parts
        .iter()
        .map(|p| read_parquet_file(p, metadata))
        .collect::<Result<Vec<_>>>()?;
    ProfileTable::stack(&tables, label)
}

/// What a column holds, from its physical and logical types.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Bool,
    Int {
        unsigned: bool,
    },
    Float,
    Timestamp {
        unit_ns: i64,
        utc: bool,
    },
    Date,
    /// pyarrow's `null` type: every value is null.
    Null,
}

fn kind_of(descr: &ColumnDescriptor) -> std::result::Result<Kind, String> {
    use parquet::basic::ConvertedType as C;
    let logical = descr.logical_type_ref();
    let physical = descr.physical_type();
    let kind = match (physical, logical) {
        (_, Some(LogicalType::Unknown)) => Kind::Null,
        (
            PhysicalType::BYTE_ARRAY,
            None | Some(LogicalType::String | LogicalType::Enum | LogicalType::Json),
        ) => Kind::Text,
        (PhysicalType::BOOLEAN, None) => Kind::Bool,
        (PhysicalType::INT32 | PhysicalType::INT64, Some(LogicalType::Integer(t))) => Kind::Int {
            unsigned: !t.is_signed,
        },
        (PhysicalType::INT32 | PhysicalType::INT64, None) => match descr.converted_type() {
            C::NONE | C::INT_8 | C::INT_16 | C::INT_32 | C::INT_64 => Kind::Int { unsigned: false },
            C::UINT_8 | C::UINT_16 | C::UINT_32 | C::UINT_64 => Kind::Int { unsigned: true },
            C::DATE => Kind::Date,
            C::TIMESTAMP_MILLIS => Kind::Timestamp {
                unit_ns: 1_000_000,
                utc: true,
            },
            C::TIMESTAMP_MICROS => Kind::Timestamp {
                unit_ns: 1_000,
                utc: true,
            },
            other => return Err(format!("{physical} ({other})")),
        },
        (PhysicalType::INT32, Some(LogicalType::Date)) => Kind::Date,
        (PhysicalType::INT64, Some(LogicalType::Timestamp(t))) => Kind::Timestamp {
            unit_ns: match t.unit {
                TimeUnit::MILLIS => 1_000_000,
                TimeUnit::MICROS => 1_000,
                TimeUnit::NANOS => 1,
            },
            utc: t.is_adjusted_to_u_t_c,
        },
        (PhysicalType::FLOAT | PhysicalType::DOUBLE, None) => Kind::Float,
        (p, Some(l)) => return Err(format!("{p} ({l:?})")),
        (p, None) => return Err(format!("{p}")),
    };
    Ok(kind)
}

/// One column's values as read: present values in order, and which rows are null.
enum Values {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<ByteArray>),
}

pub(crate) struct RawColumn {
    values: Values,
    /// Per row: present (`true`) or null. Empty when the column is required.
    present: Vec<bool>,
    rows: usize,
}

fn read_column(reader: ColumnReader, max_def: i16) -> parquet::errors::Result<RawColumn> {
    let mut defs: Vec<i16> = Vec::new();
    let mut rows = 0usize;
    macro_rules! drain {
        ($r:expr, $variant:ident) => {{
            let mut r = $r;
            let mut values = Vec::new();
            loop {
                let (records, _, _) =
                    r.read_records(BATCH, (max_def > 0).then_some(&mut defs), None, &mut values)?;
                if records == 0 {
                    break;
                }
                rows += records;
            }
            Values::$variant(values)
        }};
    }
    let values = match reader {
        ColumnReader::BoolColumnReader(r) => drain!(r, Bool),
        ColumnReader::Int32ColumnReader(r) => drain!(r, I32),
        ColumnReader::Int64ColumnReader(r) => drain!(r, I64),
        ColumnReader::FloatColumnReader(r) => drain!(r, F32),
        ColumnReader::DoubleColumnReader(r) => drain!(r, F64),
        ColumnReader::ByteArrayColumnReader(r) => drain!(r, Bytes),
        ColumnReader::Int96ColumnReader(_) | ColumnReader::FixedLenByteArrayColumnReader(_) => {
            unreachable!("refused by kind_of before reading")
        }
    };
    let present = if max_def > 0 {
        defs.iter().map(|&d| d == max_def).collect()
    } else {
        Vec::new()
    };
    Ok(RawColumn {
        values,
        present,
        rows,
    })
}

impl RawColumn {
    fn is_present(&self, row: usize) -> bool {
        self.present.is_empty() || self.present[row]
    }
    fn n_present(&self) -> usize {
        match &self.values {
            Values::Bool(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Bytes(v) => v.len(),
        }
    }

    /// Walks the rows, calling `f(row, Some(value index))` or `f(row, None)` for nulls.
    fn for_rows(&self, mut f: impl FnMut(usize, Option<usize>)) {
        let mut k = 0;
        for row in 0..self.rows {
            if self.is_present(row) {
                f(row, Some(k));
                k += 1;
            } else {
                f(row, None);
            }
        }
    }

    fn as_f64(&self, kind: Kind, out: &mut [f64]) {
        let get = |k: usize| -> f64 {
            match (&self.values, kind) {
                (Values::I32(v), Kind::Int { unsigned: true }) => v[k] as u32 as f64,
                (Values::I64(v), Kind::Int { unsigned: true }) => v[k] as u64 as f64,
                (Values::I32(v), _) => v[k] as f64,
                (Values::I64(v), _) => v[k] as f64,
                (Values::F32(v), _) => v[k] as f64,
                (Values::F64(v), _) => v[k],
                _ => f64::NAN,
            }
        };
        self.for_rows(|row, k| out[row] = k.map(get).unwrap_or(f64::NAN));
    }

    fn as_text(&self, kind: Kind, column: &str, label: &str) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(self.rows);
        let has_null = self.n_present() < self.rows;
        let mut bad: Option<usize> = None;
        // pandas prints a timestamp column at the finest unit any of its values needs.
        let stamp_digits = match (&self.values, kind) {
            (Values::I64(v), Kind::Timestamp { unit_ns, .. }) => fraction_digits(v, unit_ns),
            _ => 0,
        };
        self.for_rows(|row, k| {
            let Some(k) = k else {
                out.push(String::new());
                return;
            };
            let text = match (&self.values, kind) {
                (Values::Bytes(v), _) => match std::str::from_utf8(v[k].data()) {
                    Ok(s) => s.to_string(),
                    Err(_) => {
                        bad.get_or_insert(row);
                        String::new()
                    }
                },
                (Values::Bool(v), _) => if v[k] { "True" } else { "False" }.to_string(),
                (Values::I32(v), Kind::Date) => date_text(v[k] as i64),
                (Values::I64(v), Kind::Timestamp { unit_ns, utc }) => {
                    timestamp_text(v[k], unit_ns, stamp_digits, utc)
                }
                (Values::I32(v), Kind::Int { unsigned }) => {
                    let x = if unsigned {
                        v[k] as u32 as i64
                    } else {
                        v[k] as i64
                    };
                    int_text(x as i128, has_null)
                }
                (Values::I64(v), Kind::Int { unsigned }) => {
                    let x = if unsigned {
                        v[k] as u64 as i128
                    } else {
                        v[k] as i128
                    };
                    int_text(x, has_null)
                }
                (Values::F32(v), _) => float32_repr(v[k]),
                (Values::F64(v), _) => python_repr(v[k]),
                _ => String::new(),
            };
            out.push(text);
        });
        if let Some(row) = bad {
            return Err(ProfileError::invalid(
                label,
                format!(
                    "row {}, column {}: not UTF-8 text; expected a UTF-8 string",
                    row + 1,
                    shown(column)
                ),
            ));
        }
        Ok(out)
    }
}

fn int_text(x: i128, as_float: bool) -> String {
    if as_float {
        python_repr(x as f64)
    } else {
        x.to_string()
    }
}

/// A float64 as Python's `repr` (and so pandas' CSV) writes it: the shortest digits that
/// read back to the same value, the nearer to the exact value when two are shortest and, when
/// both are equally near, the even one (Rust's shortest formatting rounds such ties up);
/// positional from 1e-4 up to 1e16 (`0.0001`, `10.0`), else `1e-05`, `1.5e+16`; NaN as empty
/// text (pandas' missing value), infinities `inf`/`-inf`.
pub fn python_repr(v: f64) -> String {
    if v.is_nan() {
        return String::new();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    repr_of(v.is_sign_negative(), &format!("{:e}", v.abs()), v.abs())
}

/// A float32 as numpy's `repr` of a float32 writes it (pandas' CSV of a float32 column).
pub(crate) fn float32_repr(v: f32) -> String {
    if v.is_nan() {
        return String::new();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    repr_of(
        v.is_sign_negative(),
        &format!("{:e}", v.abs()),
        v.abs() as f64,
    )
}

/// `shortest` is Rust's shortest `{:e}` of the magnitude `exact` (`1.5e16`, `1e-5`).
fn repr_of(negative: bool, shortest: &str, exact: f64) -> String {
    let (mantissa, exp) = shortest.split_once('e').expect("{:e} has an exponent");
    let mut exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let mut digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).collect();
    let n = digits.len();
    // A tie: the exact value is the n shortest digits' midpoint, `T5` with nothing after.
    let longer = format!("{exact:.n$e}");
    if longer.split_once('e').map(|(m, _)| m.ends_with('5')) == Some(true) {
        let full = format!("{exact:.1100e}");
        let (m, e) = full.split_once('e').expect("{:e} has an exponent");
        let all: Vec<u8> = m.bytes().filter(|b| b.is_ascii_digit()).collect();
        let tie = e.parse::<i32>() == Ok(exp)
            && all[n] == b'5'
            && all[n + 1..].iter().all(|&d| d == b'0');
        if tie {
            digits = all[..n].to_vec();
            if (digits[n - 1] - b'0') % 2 == 1 {
                // Round up to the even neighbour, carrying.
                let mut i = n;
                loop {
                    if i == 0 {
                        digits.insert(0, b'1');
                        digits.pop();
                        exp += 1;
                        break;
                    }
                    i -= 1;
                    if digits[i] == b'9' {
                        digits[i] = b'0';
                    } else {
                        digits[i] += 1;
                        break;
                    }
                }
            }
            while digits.len() > 1 && digits.last() == Some(&b'0') {
                digits.pop();
            }
        }
    }
    let digits = String::from_utf8(digits).expect("ASCII digits");
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let (int, frac) = if exp >= 0 {
            let e = exp as usize + 1;
            if digits.len() > e {
                (digits[..e].to_string(), digits[e..].to_string())
            } else {
                (format!("{digits:0<e$}"), "0".to_string())
            }
        } else {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat((-exp - 1) as usize)),
            )
        };
        format!("{sign}{int}.{frac}")
    } else {
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{head}{dot}{tail}e{esign}{:02}", exp.abs())
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Digits of the fractional second pandas prints for a column: 0, 3, 6 or 9.
fn fraction_digits(values: &[i64], unit_ns: i64) -> usize {
    let mut digits = 0;
    for &v in values {
        let ns = (v as i128 * unit_ns as i128).rem_euclid(1_000_000_000) as i64;
        let need = if ns == 0 {
            0
        } else if ns % 1_000_000 == 0 {
            3
        } else if ns % 1_000 == 0 {
            6
        } else {
            9
        };
        digits = digits.max(need);
    }
    digits
}

fn timestamp_text(v: i64, unit_ns: i64, digits: usize, utc: bool) -> String {
    let ns = v as i128 * unit_ns as i128;
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let frac = ns.rem_euclid(1_000_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut text = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if digits > 0 {
        let f = format!("{frac:09}");
        text.push('.');
        text.push_str(&f[..digits]);
    }
    if utc {
        text.push_str("+00:00");
    }
    text
}

fn parquet_error(label: &str, e: impl std::fmt::Display) -> ProfileError {
    ProfileError::invalid(label, format!("not a readable Parquet file: {e}"))
}

/// A flat column of a Parquet file as cellpaint reads it.
pub(crate) struct ParquetColumn {
    /// Index among the file's leaf columns.
    pub(crate) index: usize,
    pub(crate) name: String,
    kind: Kind,
    pub(crate) is_meta: bool,
    max_def: i16,
}

/// The readable columns of a file (pandas' index skipped) and its row groups' row counts;
/// nested, repeated, duplicate or unreadable columns, or no feature column, are errors.
pub(crate) fn columns_of<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    label: &str,
    metadata: &MetadataColumns,
) -> Result<(Vec<ParquetColumn>, Vec<usize>)> {
    let label = label.to_string();
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    for field in schema.root_schema().get_fields() {
        if !field.is_primitive() {
            return Err(ProfileError::invalid(
                &label,
                format!(
                    "column {} is nested (a list, map or struct); expected flat columns of \
                     numbers or text",
                    shown(field.name())
                ),
            ));
        }
    }
    // (file column index, name, kind, is metadata)
    let mut columns = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for i in 0..schema.num_columns() {
        let descr = schema.column(i);
        let name = descr.name().to_string();
        if name.starts_with("__index_level_") && name.ends_with("__") {
            continue; // pandas' index, not data
        }
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(ProfileError::DuplicateColumn {
                path: label.clone(),
                column: shown(&name),
                first: first + 1,
                second: i + 1,
            });
        }
        let is_meta = metadata.is_metadata(&name);
        let kind = kind_of(&descr).map_err(|t| {
            ProfileError::invalid(
                &label,
                format!(
                    "column {} ({}) has Parquet type {t}, which cellpaint does not read; \
                     expected numbers, text, booleans, dates or timestamps",
                    i + 1,
                    shown(&name)
                ),
            )
        })?;
        // Text features are parsed as a CSV's cells are (CellProfiler's `TableNumber` is
        // digits stored as text); booleans and times are not features.
        if !is_meta
            && !matches!(
                kind,
                Kind::Int { .. } | Kind::Float | Kind::Null | Kind::Text
            )
        {
            return Err(ProfileError::invalid(
                &label,
                format!(
                    "column {} ({}) holds {}, not numbers; a feature column must be numeric \
                     (metadata columns are those named by the metadata rule, e.g. the \
                     Metadata_ prefix)",
                    i + 1,
                    shown(&name),
                    if kind == Kind::Bool {
                        "booleans"
                    } else {
                        "dates or timestamps"
                    }
                ),
            ));
        }
        columns.push((
            i,
            name,
            kind,
            is_meta,
            descr.max_def_level(),
            descr.max_rep_level(),
        ));
    }
    if columns.iter().all(|c| c.3) {
        return Err(ProfileError::invalid(
            &label,
            "no feature columns: every column is metadata",
        ));
    }
    if let Some(c) = columns.iter().find(|c| c.5 > 0) {
        return Err(ProfileError::invalid(
            &label,
            format!(
                "column {} is repeated; expected one value per row",
                shown(&c.1)
            ),
        ));
    }
    let n_groups = reader.num_row_groups();
    let group_rows: Vec<usize> = (0..n_groups)
        .map(|g| meta.row_group(g).num_rows().max(0) as usize)
        .collect();
    let n_rows: usize = group_rows.iter().sum();
    if meta.file_metadata().num_rows() as i128 != n_rows as i128 {
        return Err(parquet_error(
            &label,
            format!(
                "footer says {} rows, its row groups {n_rows}",
                meta.file_metadata().num_rows()
            ),
        ));
    }
    let columns = columns
        .into_iter()
        .map(|(index, name, kind, is_meta, max_def, _)| ParquetColumn {
            index,
            name,
            kind,
            is_meta,
            max_def,
        })
        .collect();
    Ok((columns, group_rows))
}

/// One row group's chunk of a feature column into `out`: numbers widened, text parsed as a
/// CSV's cells; `first_row` (0-based, of the whole file) places errors.
fn chunk_features(
    chunk: &RawColumn,
    column: &ParquetColumn,
    label: &str,
    first_row: usize,
    out: &mut [f64],
) -> Result<()> {
    if column.kind != Kind::Text {
        chunk.as_f64(column.kind, out);
        return Ok(());
    }
    let text = chunk.as_text(column.kind, &column.name, label)?;
    for (r, cell) in text.iter().enumerate() {
        out[r] = crate::io::parse_feature(cell).ok_or_else(|| {
            ProfileError::invalid(
                label,
                format!(
                    "row {}, column {}: {} is not a number; a feature column must be numeric \
                     (metadata columns are those named by the metadata rule, e.g. the \
                     Metadata_ prefix)",
                    first_row + r + 1,
                    shown(&column.name),
                    shown(cell)
                ),
            )
        })?;
    }
    Ok(())
}

/// Row group `g`'s chunk of `column`, checked to hold `rows` values.
pub(crate) fn read_chunk<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    g: usize,
    column: &ParquetColumn,
    rows: usize,
    label: &str,
) -> Result<RawColumn> {
    let chunk = reader
        .get_row_group(g)
        .and_then(|rg| rg.get_column_reader(column.index))
        .and_then(|r| read_column(r, column.max_def))
        .map_err(|e| {
            parquet_error(
                label,
                format!("row group {}, column {}: {e}", g + 1, shown(&column.name)),
            )
        })?;
    if chunk.rows != rows {
        return Err(parquet_error(
            label,
            format!(
                "row group {}, column {}: {} values for {rows} rows",
                g + 1,
                shown(&column.name),
                chunk.rows
            ),
        ));
    }
    Ok(chunk)
}

/// A feature column of a whole file as `f64` (see the module docs).
pub(crate) fn feature_column<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    column: &ParquetColumn,
    group_rows: &[usize],
    label: &str,
    out: &mut Vec<f64>,
) -> Result<()> {
    let mut start = 0;
    for (g, &rows) in group_rows.iter().enumerate() {
        let chunk = read_chunk(reader, g, column, rows, label)?;
        let at = out.len();
        out.resize(at + rows, f64::NAN);
        chunk_features(&chunk, column, label, start, &mut out[at..])?;
        start += rows;
    }
    Ok(())
}

/// Row group `g` of a metadata column as text (see the module docs).
pub(crate) fn text_chunk<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    g: usize,
    column: &ParquetColumn,
    rows: usize,
    label: &str,
) -> Result<Vec<String>> {
    read_chunk(reader, g, column, rows, label)?.as_text(column.kind, &column.name, label)
}

fn read_parquet_file(path: &Path, metadata: &MetadataColumns) -> Result<ProfileTable> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ProfileError::io(path, e))?;
    let reader =
        SerializedFileReader::new(Bytes::from(bytes)).map_err(|e| parquet_error(&label, e))?;
    let (columns, group_rows) = columns_of(&reader, &label, metadata)?;
    let n_groups = group_rows.len();
    let n_rows: usize = group_rows.iter().sum();
    // Every (row group, column) chunk decodes on its own thread.
    let jobs: Vec<(usize, usize)> = (0..n_groups)
        .flat_map(|g| (0..columns.len()).map(move |c| (g, c)))
        .collect();
    let raw: Vec<RawColumn> = jobs
        .par_iter()
        .map(|&(g, c)| read_chunk(&reader, g, &columns[c], group_rows[g], &label))
        .collect::<Result<_>>()?;
    let chunk = |g: usize, c: usize| &raw[g * columns.len() + c];

    let feat: Vec<usize> = (0..columns.len())
        .filter(|&c| !columns[c].is_meta)
        .collect();
    let meta_cols: Vec<usize> = (0..columns.len()).filter(|&c| columns[c].is_meta).collect();
    // Features column by column (parallel), then into the row-major matrix.
    let by_column: Vec<Vec<f64>> = feat
        .par_iter()
        .map(|&c| {
            let mut v = vec![f64::NAN; n_rows];
            let mut start = 0;
            for (g, &rows) in group_rows.iter().enumerate() {
                let out = &mut v[start..start + rows];
                chunk_features(chunk(g, c), &columns[c], &label, start, out)?;
                start += rows;
            }
            Ok(v)
        })
        .collect::<Result<_>>()?;
    let mut features = Array2::<f64>::zeros((n_rows, feat.len()));
    features
        .axis_iter_mut(ndarray::Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            for (j, col) in by_column.iter().enumerate() {
                row[j] = col[r];
            }
        });
    let meta_values = meta_cols
        .par_iter()
        .map(|&c| {
            let mut text = Vec::with_capacity(n_rows);
            for g in 0..n_groups {
                text.extend(chunk(g, c).as_text(columns[c].kind, &columns[c].name, &label)?);
            }
            Ok(text)
        })
        .collect::<Result<Vec<_>>>()?;
    ProfileTable::new(
        label,
        meta_cols.iter().map(|&c| columns[c].name.clone()).collect(),
        meta_values,
        feat.iter().map(|&c| columns[c].name.clone()).collect(),
        features,
    )
}

/// Encodes a table as a Parquet file in memory (see the module docs for the types).
pub(crate) fn parquet_bytes(table: &ProfileTable) -> parquet::errors::Result<Vec<u8>> {
    let mut fields = Vec::new();
    for name in table.metadata_names() {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(Some(LogicalType::String))
                .build()?,
        ));
    }
    for name in table.feature_names() {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, PhysicalType::DOUBLE)
                .with_repetition(Repetition::OPTIONAL)
                .build()?,
        ));
    }
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?,
    );
    // Dictionaries pay for repeated metadata text, not for measured values.
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_created_by(format!("cellpaint-profiles {}", env!("CARGO_PKG_VERSION")));
    for name in table.metadata_names() {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), true);
    }
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props.build()))?;
    let features = table.features();
    let n = table.n_rows();
    let mut start = 0;
    while start < n || (n == 0 && start == 0) {
        let end = (start + ROW_GROUP_ROWS).min(n);
        let mut group = writer.next_row_group()?;
        for name in table.metadata_names() {
            let column = &table.metadata(name).expect("own column")[start..end];
            let mut defs = Vec::with_capacity(column.len());
            let mut values = Vec::with_capacity(column.len());
            for v in column {
                if is_missing(v) {
                    defs.push(0);
                } else {
                    defs.push(1);
                    values.push(ByteArray::from(v.as_str()));
                }
            }
            let mut col = group.next_column()?.expect("one writer per schema column");
            col.typed::<ByteArrayType>()
                .write_batch(&values, Some(&defs), None)?;
            col.close()?;
        }
        for j in 0..table.n_features() {
            let column = features.slice(ndarray::s![start..end, j]);
            let mut defs = Vec::with_capacity(column.len());
            let mut values = Vec::with_capacity(column.len());
            for &v in column {
                if v.is_nan() {
                    defs.push(0);
                } else {
                    defs.push(1);
                    values.push(v);
                }
            }
            let mut col = group.next_column()?.expect("one writer per schema column");
            col.typed::<DoubleType>()
                .write_batch(&values, Some(&defs), None)?;
            col.close()?;
        }
        group.close()?;
        if n == 0 {
            break;
        }
        start = end;
    }
    writer.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python() {
        // Each pair was printed by CPython 3.11's repr.
        for (v, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (10.0, "10.0"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (2.5e300, "2.5e+300"),
            (5e-324, "5e-324"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-1234.5678, "-1234.5678"),
            // Ties between two shortest strings go to the even digit, as in CPython.
            (0.209171295166015625, "0.20917129516601562"),
            (-0.209171295166015625, "-0.20917129516601562"),
            (0.19729435443878174, "0.19729435443878174"),
            (123.0, "123.0"),
            (1.25e-3, "0.00125"),
        ] {
            assert_eq!(python_repr(v), want, "{v:e}");
        }
        assert_eq!(python_repr(f64::NAN), "");
        assert_eq!(python_repr(f64::NEG_INFINITY), "-inf");
        // numpy's repr of float32 values: shortest float32 digits.
        assert_eq!(float32_repr(0.1f32), "0.1");
        assert_eq!(float32_repr(16777216.0f32), "16777216.0");
    }

    #[test]
    fn dates_and_timestamps_print_as_pandas() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(18_569), "2020-11-03");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(date_text(11_016), "2000-02-29");
        // 2020-11-03 00:58:31.537 in microseconds.
        let us = 1_604_365_111_537_000i64;
        assert_eq!(fraction_digits(&[us], 1_000), 3);
        assert_eq!(
            timestamp_text(us, 1_000, 3, false),
            "2020-11-03 00:58:31.537"
        );
        assert_eq!(
            timestamp_text(us, 1_000, 6, true),
            "2020-11-03 00:58:31.537000+00:00"
        );
        assert_eq!(fraction_digits(&[1_000_000], 1_000), 0);
        assert_eq!(
            timestamp_text(-1, 1_000_000_000, 0, false),
            "1969-12-31 23:59:59"
        );
    }

    /// A file with the column types pyarrow writes from pandas, built with the parquet crate.
    fn typed_file(text_feature: bool) -> Vec<u8> {
        use parquet::basic::TimestampType;
        use parquet::data_type::{BoolType, FloatType, Int32Type, Int64Type};
        let prim = |name: &str, t: PhysicalType, rep: Repetition, l: Option<LogicalType>| {
            Arc::new(
                Type::primitive_type_builder(name, t)
                    .with_repetition(rep)
                    .with_logical_type(l)
                    .build()
                    .unwrap(),
            )
        };
        let stamp = LogicalType::Timestamp(TimestampType {
            is_adjusted_to_u_t_c: false,
            unit: TimeUnit::MICROS,
        });
        let last = if text_feature {
            "Cells_Text"
        } else {
            "Cells_Count"
        };
        let fields = vec![
            prim(
                "Metadata_Int",
                PhysicalType::INT64,
                Repetition::OPTIONAL,
                None,
            ),
            prim(
                "Metadata_Flag",
                PhysicalType::BOOLEAN,
                Repetition::REQUIRED,
                None,
            ),
            prim(
                "Metadata_Time",
                PhysicalType::INT64,
                Repetition::REQUIRED,
                Some(stamp),
            ),
            prim(
                "Metadata_Dose",
                PhysicalType::DOUBLE,
                Repetition::OPTIONAL,
                None,
            ),
            prim("Cells_F32", PhysicalType::FLOAT, Repetition::REQUIRED, None),
            prim(
                "Cells_Maybe",
                PhysicalType::DOUBLE,
                Repetition::OPTIONAL,
                None,
            ),
            if text_feature {
                prim(
                    last,
                    PhysicalType::BYTE_ARRAY,
                    Repetition::REQUIRED,
                    Some(LogicalType::String),
                )
            } else {
                prim(last, PhysicalType::INT32, Repetition::REQUIRED, None)
            },
        ];
        let schema = Arc::new(
            Type::group_type_builder("schema")
                .with_fields(fields)
                .build()
                .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
        let mut g = w.next_row_group().unwrap();
        let us = 1_604_365_111_537_000i64;
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&[3, 4], Some(&[1, 0, 1]), None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<BoolType>()
            .write_batch(&[true, false, true], None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&[us, us + 1_000, us], None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<DoubleType>()
            .write_batch(&[0.1, 1e-5], Some(&[1, 1, 0]), None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<FloatType>()
            .write_batch(&[0.1, 2.0, -1.5], None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        c.typed::<DoubleType>()
            .write_batch(&[7.0], Some(&[0, 1, 0]), None)
            .unwrap();
        c.close().unwrap();
        let mut c = g.next_column().unwrap().unwrap();
        if text_feature {
            let v: Vec<ByteArray> = ["a", "b", "c"].iter().map(|&s| s.into()).collect();
            c.typed::<ByteArrayType>()
                .write_batch(&v, None, None)
                .unwrap();
        } else {
            c.typed::<Int32Type>()
                .write_batch(&[1, 2, 3], None, None)
                .unwrap();
        }
        c.close().unwrap();
        g.close().unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn column_types_read_as_pandas_prints_them() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("typed.parquet");
        std::fs::write(&path, typed_file(false)).unwrap();
        let t = read_parquet(&path, &MetadataColumns::default()).unwrap();
        // An integer column with a null is float64 in pandas: "3.0", "", "4.0".
        assert_eq!(t.metadata("Metadata_Int").unwrap(), ["3.0", "", "4.0"]);
        assert_eq!(
            t.metadata("Metadata_Flag").unwrap(),
            ["True", "False", "True"]
        );
        assert_eq!(
            t.metadata("Metadata_Time").unwrap(),
            [
                "2020-11-03 00:58:31.537000",
                "2020-11-03 00:58:31.538000",
                "2020-11-03 00:58:31.537000"
            ]
            .map(|s| &s[..23])
        );
        assert_eq!(t.metadata("Metadata_Dose").unwrap(), ["0.1", "1e-05", ""]);
        assert_eq!(
            t.feature_names(),
            ["Cells_F32", "Cells_Maybe", "Cells_Count"]
        );
        let f = t.features();
        // float32 widened exactly, not through its shortest decimal.
        assert_eq!(f[[0, 0]], 0.1f32 as f64);
        assert!(f[[0, 1]].is_nan() && f[[1, 1]] == 7.0 && f[[2, 1]].is_nan());
        assert_eq!(f.column(2).to_vec(), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn bad_files_are_errors_naming_file_and_column() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("text.parquet");
        std::fs::write(&path, typed_file(true)).unwrap();
        let e = read_parquet(&path, &MetadataColumns::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("text.parquet") && e.contains("row 1, column Cells_Text: a is not a number"),
            "{e}"
        );
        // Truncated anywhere: an error, never a panic.
        let bytes = typed_file(false);
        for cut in [0, 4, bytes.len() / 2, bytes.len() - 9, bytes.len() - 1] {
            let p = tmp.path().join(format!("cut{cut}.parquet"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = read_parquet(&p, &MetadataColumns::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("cut{cut}.parquet")), "{e}");
        }
        // Corrupt page bytes: an error too.
        let mut bad = bytes.clone();
        for b in bad.iter_mut().skip(8).take(40) {
            *b ^= 0x5a;
        }
        let p = tmp.path().join("flipped.parquet");
        std::fs::write(&p, &bad).unwrap();
        assert!(read_parquet(&p, &MetadataColumns::default()).is_err());
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = read_parquet(&empty, &MetadataColumns::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no .parquet parts"), "{e}");
    }

    #[test]
    fn written_tables_read_back_with_nulls_and_no_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let t = ProfileTable::new(
            "t",
            vec!["Metadata_Well".into()],
            vec![vec!["A01".into(), "".into()]],
            vec!["f".into(), "g".into()],
            Array2::from_shape_vec((2, 2), vec![1.5, f64::NAN, f64::INFINITY, -0.0]).unwrap(),
        )
        .unwrap();
        let p = tmp.path().join("t.parquet");
        std::fs::write(&p, parquet_bytes(&t).unwrap()).unwrap();
        let back = read_parquet(&p, &MetadataColumns::default()).unwrap();
        assert_eq!(back.metadata("Metadata_Well").unwrap(), ["A01", ""]);
        let f = back.features();
        assert!(f[[0, 0]] == 1.5 && f[[0, 1]].is_nan() && f[[1, 0]] == f64::INFINITY);
        assert!(f[[1, 1]] == 0.0 && f[[1, 1]].is_sign_negative());
        let none = t.select_rows(&[]);
        std::fs::write(&p, parquet_bytes(&none).unwrap()).unwrap();
        let back = read_parquet(&p, &MetadataColumns::default()).unwrap();
        assert_eq!((back.n_rows(), back.n_features()), (0, 2));
    }
}
