//! `cellpaint measure`: CellProfiler's per-object measurements (AreaShape, Intensity,
//! Correlation, Texture) of the
//! objects a LoadData index names, one single-cell table per object.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cell_images::{object_paths, read_plane, FieldRecord, ImageIndex};
use cell_measure::{measure_objects, FeatureSet, Objects};
use clap::Args;
use flate2::write::GzEncoder;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::images::IndexArgs;

#[derive(Args, Debug)]
pub struct MeasureArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    /// Objects to measure, each from the index's `ObjectsFileName_<Object>` (and
    /// `ObjectsPathName_<Object>`) columns, as CellProfiler's LoadData takes them: a label
    /// image, or a binary mask (one nonzero value), labelled by 4-connected components.
    /// `Cytoplasm` without its own column is Cells minus the inside of Nuclei (CellProfiler's
    /// IdentifyTertiaryObjects), keeping each cell's number.
    #[arg(long, value_delimiter = ',', default_value = "Nuclei,Cells,Cytoplasm")]
    pub objects: Vec<String>,
    /// Output directory: one table per object, `<Object>.csv.gz`, `Metadata_` columns first.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Texture (Haralick) distance in pixels (CellProfiler's default 3); 0 skips texture.
    #[arg(long, default_value_t = 3)]
    pub texture_scale: usize,
}

/// Fields measured at once (their pixels are in memory together; the rest streams).
const CHUNK: usize = 16;

/// The objects of a mask or label image: one nonzero value = a binary mask.
fn objects_of(labels: Array2<u16>) -> Objects {
    let mut values = labels.iter().copied().filter(|&v| v != 0);
    let first = values.next();
    if values.all(|v| Some(v) == first) {
        Objects::from_mask(labels.mapv(|v| v != 0).view())
    } else {
        Objects::from_labels(labels.mapv(u32::from))
    }
}

/// Where each field's objects come from, per index row.
enum Paths {
    Image(Vec<PathBuf>),
    CellsMinusNuclei(Vec<PathBuf>, Vec<PathBuf>),
}

/// Where one field's objects come from.
enum Source<'a> {
    /// A label image or binary mask.
    Image(&'a Path),
    /// CellProfiler's tertiary objects: cells minus the inside of nuclei.
    CellsMinusNuclei { cells: &'a Path, nuclei: &'a Path },
}

/// The objects of one image, checked against the field's size.
fn read_objects(
    index: &ImageIndex,
    record: &FieldRecord,
    path: &Path,
    object: &str,
    (h, w): (usize, usize),
) -> Result<Objects> {
    let plane = read_plane(path)?;
    if plane.pixels.dim() != (h, w) {
        bail!(
            "{} (index {}, line {}): the {object} image is {}×{} but the channels are {}×{}",
            path.display(),
            index.source.display(),
            record.line,
            plane.pixels.dim().1,
            plane.pixels.dim().0,
            w,
            h
        );
    }
    Ok(objects_of(plane.pixels))
}

/// One field's rows for one object: metadata then features, as text.
fn field_rows(
    index: &ImageIndex,
    record: &FieldRecord,
    source: Source<'_>,
    object: &str,
    texture_scale: usize,
) -> Result<Vec<Vec<String>>> {
    let field = index.load(record)?;
    let (_, h, w) = field.pixels.dim();
    let (objects, mask) = match source {
        Source::Image(path) => (read_objects(index, record, path, object, (h, w))?, path),
        Source::CellsMinusNuclei { cells, nuclei } => {
            let c = read_objects(index, record, cells, "Cells", (h, w))?;
            let n = read_objects(index, record, nuclei, "Nuclei", (h, w))?;
            (c.minus_inside_of(&n)?, cells)
        }
    };
    // CellProfiler's scale: the integer range of the file maps to 0–1.
    let scale = if field.bits == 8 { 255.0 } else { 65535.0 };
    let channels: Vec<Array2<f64>> = field
        .pixels
        .axis_iter(Axis(0))
        .map(|ch| ch.mapv(|v| f64::from(v) / scale))
        .collect();
    let named: Vec<(&str, ArrayView2<'_, f64>)> = index
        .channels
        .iter()
        .map(String::as_str)
        .zip(channels.iter().map(|c| c.view()))
        .collect();
    let features = measure_objects(object, &objects, &named, &feature_set(texture_scale))
        .with_context(|| format!("{} (index line {})", mask.display(), record.line))?;
    // The centre columns come from AreaShape, which `feature_set` always measures.
    let column = |name: &str| features.names.iter().position(|n| n.ends_with(name));
    let (cx, cy) = column("_AreaShape_Center_X")
        .zip(column("_AreaShape_Center_Y"))
        .context("AreaShape's centre columns")?;
    let mut rows = Vec::with_capacity(objects.count());
    for (o, values) in objects.objects().iter().zip(features.values.rows()) {
        let mut row = vec![
            record.plate.clone(),
            record.well.clone(),
            record.site.clone(),
            o.label.to_string(),
            profiles::format_f64(values[cx]),
            profiles::format_f64(values[cy]),
        ];
        row.extend(values.iter().map(|&v| profiles::format_f64(v)));
        rows.push(row);
    }
    Ok(rows)
}

/// Every family, texture at `texture_scale` (0 skips it).
fn feature_set(texture_scale: usize) -> FeatureSet {
    FeatureSet {
        texture_scale: (texture_scale > 0).then_some(texture_scale),
        ..FeatureSet::default()
    }
}

fn header(object: &str, channels: &[String], texture_scale: usize) -> Vec<String> {
    let mut h: Vec<String> = [
        "Metadata_Plate",
        "Metadata_Well",
        "Metadata_Site",
        "Metadata_ObjectNumber",
        "Metadata_Location_Center_X",
        "Metadata_Location_Center_Y",
    ]
    .map(String::from)
    .to_vec();
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    h.extend(feature_set(texture_scale).names(object, &names));
    h
}

pub fn measure(a: MeasureArgs, quiet: bool) -> Result<()> {
    let index = ImageIndex::read(
        &a.index.index,
        &a.index
            .channels
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        a.index.root.as_deref(),
    )?;
    if index.fields.is_empty() {
        bail!("{}: the index lists no fields", a.index.index.display());
    }
    if a.objects.is_empty() {
        bail!("--objects: name at least one object (e.g. Nuclei)");
    }
    // Every object's column is checked before anything is written. Cytoplasm without its own
    // column is Cells minus the inside of Nuclei, as CellProfiler's IdentifyTertiaryObjects.
    let paths_of = |o: &str| object_paths(&a.index.index, o, a.index.root.as_deref());
    let masks = a
        .objects
        .iter()
        .map(|o| {
            let own = paths_of(o);
            let derived = o == "Cytoplasm" && own.is_err();
            let paths = if derived {
                Paths::CellsMinusNuclei(paths_of("Cells")?, paths_of("Nuclei")?)
            } else {
                Paths::Image(own?)
            };
            Ok((o.clone(), paths))
        })
        .collect::<Result<Vec<_>>>()?;
    let bar = crate::images::bar(index.fields.len() * masks.len(), quiet, "measuring");
    for (object, paths) in &masks {
        let out = a.output.join(format!("{object}.csv.gz"));
        let mut failure: Option<anyhow::Error> = None;
        profiles::write_atomic(&out, |w| {
            let mut gz = GzEncoder::new(w, flate2::Compression::default());
            let mut csv = csv::Writer::from_writer(&mut gz);
            csv.write_record(header(object, &index.channels, a.texture_scale))?;
            let jobs: Vec<(usize, &FieldRecord)> = index.fields.iter().enumerate().collect();
            for chunk in jobs.chunks(CHUNK) {
                let done: Vec<Result<Vec<Vec<String>>>> = chunk
                    .par_iter()
                    .map(|&(i, r)| {
                        let source = match paths {
                            Paths::Image(own) => Source::Image(&own[i]),
                            Paths::CellsMinusNuclei(cells, nuclei) => Source::CellsMinusNuclei {
                                cells: &cells[i],
                                nuclei: &nuclei[i],
                            },
                        };
                        field_rows(&index, r, source, object, a.texture_scale)
                    })
                    .collect();
                for rows in done {
                    match rows {
                        Ok(rows) => {
                            for row in rows {
                                csv.write_record(&row)?;
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            return Err(std::io::Error::other("measurement failed"));
                        }
                    }
                    bar.inc(1);
                }
            }
            csv.flush()?;
            drop(csv);
            gz.finish()?.flush()
        })
        .or_else(|e| match failure.take() {
            Some(f) => Err(f),
            None => Err(e.into()),
        })?;
    }
    bar.finish_and_clear();
    if !quiet {
        eprintln!(
            "measured {} fields × {} objects → {}",
            index.fields.len(),
            masks.len(),
            a.output.display()
        );
    }
    Ok(())
}
