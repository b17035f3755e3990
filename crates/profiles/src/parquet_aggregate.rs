//! Single cells in Parquet (CytoTable's output, a file or a folder of parts) aggregated to
//! wells without loading the table: Parquet is stored by column, so the strata are read first
//! (one row group at a time) to give every cell its group, and then each feature column is
//! read, combined per group and dropped.
//!
//! Memory holds the cells' group numbers (4 bytes a cell), and per worker thread one feature
//! column of every cell twice (its values and their per-group reordering, 16 bytes a cell),
//! plus the result: about 36 bytes a cell on 2 threads, whatever the number of features (the
//! in-memory path holds 8 bytes a cell *per feature*). The result equals [`crate::aggregate()`]
//! of the table read whole: groups in the same (pandas `groupby`) order, the same medians and
//! means.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use ndarray::Array2;
use parquet::file::reader::SerializedFileReader;
use rayon::prelude::*;

use crate::aggregate::AggregateOp;
use crate::error::{ProfileError, Result};
use crate::io::{shown, MetadataColumns};
use crate::parquet_io::{columns_of, feature_column, parquet_parts, text_chunk, ParquetColumn};
use crate::table::{compare_keys, ProfileTable};

/// A file read at explicit offsets, so that threads reading different column chunks of it never
/// move each other's position (parquet's own `File` reader shares one position between clones).
#[derive(Clone)]
struct PositionedFile(Arc<File>);

struct PositionedRead {
    file: Arc<File>,
    at: u64,
}

impl Read for PositionedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.at)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Length for PositionedFile {
    fn len(&self) -> u64 {
        self.0.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

impl ChunkReader for PositionedFile {
    type T = std::io::BufReader<PositionedRead>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::new(PositionedRead {
            file: self.0.clone(),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buffer = Vec::with_capacity(length);
        PositionedRead {
            file: self.0.clone(),
            at: start,
        }
        .take(length as u64)
        .read_to_end(&mut buffer)?;
        if buffer.len() != length {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "expected {length} bytes at {start}, read {}",
                buffer.len()
            )));
        }
        Ok(buffer.into())
    }
}

struct Part {
    label: String,
    reader: SerializedFileReader<PositionedFile>,
    columns: Vec<ParquetColumn>,
    group_rows: Vec<usize>,
}

fn open(path: &Path, metadata: &MetadataColumns) -> Result<Part> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|e| ProfileError::io(path, e))?;
    let reader = SerializedFileReader::new(PositionedFile(Arc::new(file)))
        .map_err(|e| ProfileError::invalid(&label, format!("not a readable Parquet file: {e}")))?;
    let (columns, group_rows) = columns_of(&reader, &label, metadata)?;
    Ok(Part {
        label,
        reader,
        columns,
        group_rows,
    })
}

/// One row per distinct value of `strata` (in pandas `groupby` order), each feature combined by
/// `op` over the group's cells, streamed from a Parquet file or folder of parts (same columns
/// in every part). Metadata columns other than the strata are dropped, as by
/// [`crate::aggregate()`].
pub fn aggregate_parquet<S: AsRef<str>>(
    path: &Path,
    metadata: &MetadataColumns,
    strata: &[S],
    op: AggregateOp,
) -> Result<ProfileTable> {
    let label = path.display().to_string();
    if strata.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "aggregate needs at least one strata column (e.g. Metadata_Plate, Metadata_Well)",
        ));
    }
    let paths: Vec<PathBuf> = if path.is_dir() {
        parquet_parts(path)
    } else {
        vec![path.to_path_buf()]
    };
    if paths.is_empty() {
        return Err(ProfileError::invalid(
            &label,
            "folder holds no .parquet parts; expected a Parquet file or a folder of them",
        ));
    }
    let parts = paths
        .iter()
        .map(|p| open(p, metadata))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = parts[0].columns.iter().map(|c| c.name.as_str()).collect();
    for part in &parts[1..] {
        let other: Vec<&str> = part.columns.iter().map(|c| c.name.as_str()).collect();
        if other != names {
            let at = names.iter().zip(&other).position(|(a, b)| a != b);
            let which = at.map_or("a different number of columns".to_string(), |i| {
                format!(
                    "column {} is {}, not {}",
                    i + 1,
                    shown(other[i]),
                    shown(names[i])
                )
            });
            return Err(ProfileError::invalid(
                &part.label,
                format!(
                    "this part's columns differ from {}'s: {which}",
                    parts[0].label
                ),
            ));
        }
    }
    let strata_at: Vec<usize> = strata
        .iter()
        .map(|s| {
            let s = s.as_ref();
            (0..names.len())
                .find(|&c| names[c] == s && parts[0].columns[c].is_meta)
                .ok_or_else(|| {
                    let meta: Vec<&str> = (0..names.len())
                        .filter(|&c| parts[0].columns[c].is_meta)
                        .map(|c| names[c])
                        .collect();
                    ProfileError::MissingColumn {
                        path: label.clone(),
                        column: s.to_string(),
                        available: format!(
                            "the strata must be metadata columns{}; metadata columns are: {}",
                            if names.contains(&s) {
                                " (it is read as a feature: see the metadata prefixes)"
                            } else {
                                ""
                            },
                            meta.join(", ")
                        ),
                    }
                })
        })
        .collect::<Result<_>>()?;

    // Pass 1: every cell's group, from the strata alone, one row group at a time.
    let mut ids: HashMap<Vec<String>, u32> = HashMap::new();
    let mut cell_group: Vec<u32> = Vec::new();
    for part in &parts {
        for (g, &rows) in part.group_rows.iter().enumerate() {
            let cols = strata_at
                .iter()
                .map(|&c| text_chunk(&part.reader, g, &part.columns[c], rows, &part.label))
                .collect::<Result<Vec<_>>>()?;
            for r in 0..rows {
                let key: Vec<String> = cols.iter().map(|c| c[r].clone()).collect();
                let next = ids.len() as u32;
                cell_group.push(*ids.entry(key).or_insert(next));
            }
        }
    }
    // Groups in pandas' order; cells sorted by group (a counting sort, stable).
    let mut keys: Vec<(Vec<String>, u32)> = ids.into_iter().collect();
    keys.sort_by(|a, b| compare_keys(&a.0, &b.0));
    let mut rank = vec![0u32; keys.len()];
    for (k, (_, id)) in keys.iter().enumerate() {
        rank[*id as usize] = k as u32;
    }
    let mut starts = vec![0usize; keys.len() + 1];
    for g in &mut cell_group {
        *g = rank[*g as usize];
        starts[*g as usize + 1] += 1;
    }
    for k in 0..keys.len() {
        starts[k + 1] += starts[k];
    }
    let mut order = vec![0u32; cell_group.len()];
    let mut fill = starts.clone();
    for (cell, &g) in cell_group.iter().enumerate() {
        order[fill[g as usize]] = cell as u32;
        fill[g as usize] += 1;
    }
    drop(cell_group);

    // Pass 2: one feature column at a time (one per worker thread).
    let features: Vec<usize> = (0..names.len())
        .filter(|&c| !parts[0].columns[c].is_meta)
        .collect();
    let per_feature: Vec<Vec<f64>> = features
        .par_iter()
        .map(|&c| {
            let mut values = Vec::with_capacity(order.len());
            for part in &parts {
                feature_column(
                    &part.reader,
                    &part.columns[c],
                    &part.group_rows,
                    &part.label,
                    &mut values,
                )?;
            }
            let grouped: Vec<f64> = order.iter().map(|&cell| values[cell as usize]).collect();
            drop(values);
            Ok((0..keys.len())
                .map(|k| op.apply(grouped[starts[k]..starts[k + 1]].iter().copied()))
                .collect())
        })
        .collect::<Result<_>>()?;
    let values = Array2::from_shape_fn((keys.len(), features.len()), |(k, j)| per_feature[j][k]);
    let meta = (0..strata.len())
        .map(|s| keys.iter().map(|(key, _)| key[s].clone()).collect())
        .collect();
    ProfileTable::new(
        label,
        strata.iter().map(|s| s.as_ref().to_string()).collect(),
        meta,
        features.iter().map(|&c| names[c].to_string()).collect(),
        values,
    )
}
