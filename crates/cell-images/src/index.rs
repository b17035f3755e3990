//! Image index CSVs: CellProfiler LoadData (`FileName_Orig<Ch>`, `PathName_Orig<Ch>`) and
//! DeepProfiler's index (one column per channel holding a path), with plate/well/site columns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};
use crate::field::Field;

/// A CSV reader and its header, errors naming the file.
pub(crate) fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| ImageError::invalid(path.display(), e.to_string()))?;
    let headers = rdr
        .headers()
        .map_err(|e| ImageError::invalid(path.display(), e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    Ok((rdr, headers))
}

/// One field of view in an index: where its channel files are, and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRecord {
    /// `Metadata_Plate`.
    pub plate: String,
    /// `Metadata_Well`.
    pub well: String,
    /// `Metadata_Site`.
    pub site: String,
    /// One path per channel, in the index's channel order.
    pub paths: Vec<PathBuf>,
    /// Every `Metadata_*` column of the row (prefix kept).
    pub metadata: BTreeMap<String, String>,
    /// 1-based line of the row in the CSV, for error messages.
    pub line: usize,
}

/// A parsed index: the channels it was asked for and one record per row.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageIndex {
    /// The CSV the index was read from (named in errors).
    pub source: PathBuf,
    /// The channels asked for, in the order of each record's `paths`.
    pub channels: Vec<String>,
    /// One record per CSV row, in file order.
    pub fields: Vec<FieldRecord>,
}

/// Where an index's relative paths resolve: `root`, default the CSV's directory.
fn root_of(index: &Path, root: Option<&Path>) -> PathBuf {
    root.map(Path::to_path_buf)
        .or_else(|| index.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// A LoadData file: `name` in directory `dir` (its `PathName_` cell, when not empty), resolved
/// against `root` when relative.
fn joined(root: &Path, dir: Option<&str>, name: &str) -> PathBuf {
    let p = match dir.filter(|d| !d.trim().is_empty()) {
        Some(d) => PathBuf::from(d.trim()).join(name),
        None => PathBuf::from(name),
    };
    if p.is_relative() {
        root.join(p)
    } else {
        p
    }
}

fn find(headers: &[String], names: &[String]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| headers.iter().position(|h| h == n))
}

impl ImageIndex {
    /// Reads an index. Relative paths resolve against `root`, default the CSV's directory.
    /// For each channel `Ch` the file comes from `FileName_OrigCh` (joined to `PathName_OrigCh`
    /// when present) or, DeepProfiler style, from a column named `Ch`.
    pub fn read(path: impl AsRef<Path>, channels: &[&str], root: Option<&Path>) -> Result<Self> {
        let path = path.as_ref();
        let root = root_of(path, root);
        let (mut rdr, headers) = open_csv(path)?;
        let meta_col = |key: &str| {
            let names = [
                format!("Metadata_{key}"),
                format!("Image_Metadata_{key}"),
                key.to_string(),
            ];
            find(&headers, &names).ok_or_else(|| {
                ImageError::invalid(
                    path.display(),
                    format!(
                        "no column Metadata_{key} (or Image_Metadata_{key}); columns: {}",
                        headers
                            .iter()
                            .map(|h| profiles::shown(h))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        };
        let (plate_c, well_c, site_c) = (meta_col("Plate")?, meta_col("Well")?, meta_col("Site")?);
        let mut channel_cols = Vec::new();
        for ch in channels {
            let file = find(
                &headers,
                &[
                    format!("FileName_Orig{ch}"),
                    format!("Image_FileName_Orig{ch}"),
                    ch.to_string(),
                ],
            );
            let dir = find(
                &headers,
                &[
                    format!("PathName_Orig{ch}"),
                    format!("Image_PathName_Orig{ch}"),
                ],
            );
            match file {
                Some(f) => channel_cols.push((f, dir)),
                None => {
                    return Err(ImageError::invalid(
                        path.display(),
                        format!("no column for channel '{ch}': expected FileName_Orig{ch} (LoadData) or {ch} (DeepProfiler index)"),
                    ))
                }
            }
        }
        let mut fields = Vec::new();
        for (i, row) in rdr.records().enumerate() {
            let line = i + 2;
            let row = row.map_err(|e| {
                ImageError::invalid(format!("{}, line {line}", path.display()), e.to_string())
            })?;
            let mut paths = Vec::with_capacity(channels.len());
            for (k, &(f, d)) in channel_cols.iter().enumerate() {
                let name = row.get(f).unwrap_or("").trim();
                if name.is_empty() {
                    return Err(ImageError::invalid(
                        format!("{}, line {line}", path.display()),
                        format!("empty file name for channel '{}'", channels[k]),
                    ));
                }
                paths.push(joined(&root, d.and_then(|d| row.get(d)), name));
            }
            let metadata = headers
                .iter()
                .zip(row.iter())
                .filter(|(h, _)| h.starts_with("Metadata_") || h.starts_with("Image_Metadata_"))
                .map(|(h, v)| (h.clone(), v.to_string()))
                .collect();
            fields.push(FieldRecord {
                plate: row.get(plate_c).unwrap_or("").to_string(),
                well: row.get(well_c).unwrap_or("").to_string(),
                site: row.get(site_c).unwrap_or("").to_string(),
                paths,
                metadata,
                line,
            });
        }
        Ok(Self {
            source: path.to_path_buf(),
            channels: channels.iter().map(|s| s.to_string()).collect(),
            fields,
        })
    }

    /// Loads one field's channel stack; a missing or mismatched file names the index row too.
    pub fn load(&self, record: &FieldRecord) -> Result<Field> {
        Field::load(&self.channels, &record.paths).map_err(|e| match e {
            ImageError::Io { path, cause } => ImageError::Invalid {
                path: format!(
                    "{} (index {}, line {})",
                    path.display(),
                    self.source.display(),
                    record.line
                ),
                message: cause.to_string(),
            },
            other => other,
        })
    }

    /// Records grouped by plate, plates in first-seen order.
    pub fn plates(&self) -> Vec<(String, Vec<&FieldRecord>)> {
        let mut out: Vec<(String, Vec<&FieldRecord>)> = Vec::new();
        for r in &self.fields {
            match out.iter_mut().find(|(p, _)| *p == r.plate) {
                Some((_, v)) => v.push(r),
                None => out.push((r.plate.clone(), vec![r])),
            }
        }
        out
    }
}

/// The file of `object` (e.g. `Nuclei`) for each row of the index at `path`, in row order:
/// CellProfiler LoadData's `ObjectsFileName_<object>`, joined to `ObjectsPathName_<object>` when
/// present; relative paths resolve against `root`, default the CSV's directory (as
/// [`ImageIndex::read`]). A missing column or an empty name is an error naming the file, and
/// the line.
pub fn object_paths(
    path: impl AsRef<Path>,
    object: &str,
    root: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let path = path.as_ref();
    let root = root_of(path, root);
    let (mut rdr, headers) = open_csv(path)?;
    let file = find(&headers, &[format!("ObjectsFileName_{object}")]).ok_or_else(|| {
        ImageError::invalid(
            path.display(),
            format!("no column ObjectsFileName_{object} (CellProfiler LoadData's name for the {object} objects' image)"),
        )
    })?;
    let dir = find(&headers, &[format!("ObjectsPathName_{object}")]);
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| {
            ImageError::invalid(format!("{}, line {line}", path.display()), e.to_string())
        })?;
        let name = row.get(file).unwrap_or("").trim();
        if name.is_empty() {
            return Err(ImageError::invalid(
                format!("{}, line {line}", path.display()),
                format!("empty ObjectsFileName_{object}"),
            ));
        }
        out.push(joined(&root, dir.and_then(|d| row.get(d)), name));
    }
    Ok(out)
}

/// Writes a LoadData-style index (plate, well, site, `FileName_Orig<Ch>`, `PathName_Orig<Ch>`,
/// plus extra metadata columns), atomically. Paths are written as given.
pub fn write_index(
    path: impl AsRef<Path>,
    channels: &[String],
    records: &[FieldRecord],
) -> Result<()> {
    let path = path.as_ref();
    let extra: Vec<String> = {
        let mut keys: Vec<String> = records
            .iter()
            .flat_map(|r| r.metadata.keys().cloned())
            .filter(|k| {
                !matches!(
                    k.as_str(),
                    "Metadata_Plate" | "Metadata_Well" | "Metadata_Site"
                )
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    profiles::write_atomic(path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        let mut header = vec![
            "Metadata_Plate".to_string(),
            "Metadata_Well".into(),
            "Metadata_Site".into(),
        ];
        header.extend(extra.iter().cloned());
        for ch in channels {
            header.push(format!("FileName_Orig{ch}"));
            header.push(format!("PathName_Orig{ch}"));
        }
        wtr.write_record(&header)?;
        for r in records {
            let mut row = vec![r.plate.clone(), r.well.clone(), r.site.clone()];
            for k in &extra {
                row.push(r.metadata.get(k).cloned().unwrap_or_default());
            }
            for p in &r.paths {
                let file = p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let dir = p
                    .parent()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default();
                row.push(file);
                row.push(dir);
            }
            wtr.write_record(&row)?;
        }
        wtr.flush()
    })?;
    Ok(())
}
