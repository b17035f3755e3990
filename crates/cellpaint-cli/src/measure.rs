//! `cellpaint measure`: CellProfiler's per-object measurements (AreaShape, Intensity,
//! Correlation, Texture, Granularity, RadialDistribution) of the objects a LoadData index names
//! or, where it names none, of the nuclei and cells cellpaint segments; one single-cell table
//! per object.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use cell_images::{
    detect_nuclei, object_paths, read_plane, FieldRecord, ImageIndex, NucleusParams,
};
use cell_measure::{segment_cells, CellParams, FeatureSet, MeasuredField, Objects};
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
    /// Without such a column, `Nuclei` are found on `--nuclei-channel`, `Cells` grown from the
    /// nuclei on `--cell-channel` (CellProfiler's IdentifySecondaryObjects by propagation), and
    /// `Cytoplasm` is Cells minus the inside of Nuclei (IdentifyTertiaryObjects), keeping each
    /// cell's number.
    #[arg(long, value_delimiter = ',', default_value = "Nuclei,Cells,Cytoplasm")]
    pub objects: Vec<String>,
    /// Channel nuclei are found on when the index has no `ObjectsFileName_Nuclei`.
    #[arg(long, default_value = "DNA")]
    pub nuclei_channel: String,
    /// Channel cells are grown on from their nuclei when the index has no
    /// `ObjectsFileName_Cells` (a whole-cell stain: AGP, RNA, or actin).
    #[arg(long, default_value = "AGP")]
    pub cell_channel: String,
    /// Output directory: one table per object, `<Object>.csv.gz`, `Metadata_` columns first.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Texture (Haralick) distance in pixels (CellProfiler's default 3); 0 skips texture.
    #[arg(long, default_value_t = 3)]
    pub texture_scale: usize,
    /// Feature families to leave out (AreaShape is always measured: it gives the centres).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub skip: Vec<Family>,
}

/// A feature family `--skip` can leave out.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Intensity,
    Correlation,
    Texture,
    Granularity,
    Radial,
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

/// How each field's objects are made.
enum Recipe {
    /// A label image or binary mask per index row.
    File(Vec<PathBuf>),
    /// Nuclei found on this channel (`cell_images::detect_nuclei`, its default settings).
    FindNuclei { channel: usize },
    /// Cells grown from these nuclei on this channel (`cell_measure::segment_cells`).
    GrowCells { nuclei: Box<Recipe>, channel: usize },
    /// CellProfiler's tertiary objects: cells minus the inside of nuclei.
    CellsMinusNuclei {
        cells: Box<Recipe>,
        nuclei: Box<Recipe>,
    },
}

impl Recipe {
    /// The mask file of field `i`, if this object is read from one (named in errors).
    fn file(&self, i: usize) -> Option<&Path> {
        match self {
            Recipe::File(paths) => Some(&paths[i]),
            Recipe::GrowCells { nuclei, .. } => nuclei.file(i),
            Recipe::CellsMinusNuclei { cells, .. } => cells.file(i),
            Recipe::FindNuclei { .. } => None,
        }
    }

    /// The objects of field `i` (`record`), whose channels (0–1) are `channels`. `made` keeps
    /// what was read or segmented for this field, so Nuclei, Cells and Cytoplasm share one
    /// segmentation (a plan has one way to find nuclei and one to grow cells).
    fn objects(
        &self,
        index: &ImageIndex,
        record: &FieldRecord,
        i: usize,
        channels: &[Array2<f64>],
        made: &mut HashMap<String, Rc<Objects>>,
    ) -> Result<Rc<Objects>> {
        let key = match self {
            Recipe::File(paths) => paths[i].display().to_string(),
            Recipe::FindNuclei { .. } => "found nuclei".into(),
            Recipe::GrowCells { .. } => "grown cells".into(),
            Recipe::CellsMinusNuclei { .. } => "cytoplasm".into(),
        };
        if let Some(o) = made.get(&key) {
            return Ok(Rc::clone(o));
        }
        let (h, w) = channels[0].dim();
        let objects = match self {
            Recipe::File(paths) => read_objects(index, record, &paths[i], (h, w))?,
            Recipe::FindNuclei { channel } => {
                let dna = channels[*channel].mapv(|v| v as f32);
                let found = detect_nuclei(dna.view(), &NucleusParams::default())?;
                Objects::from_labels(found.labels)
            }
            Recipe::GrowCells { nuclei, channel } => {
                let n = nuclei.objects(index, record, i, channels, made)?;
                segment_cells(&n, channels[*channel].view(), &CellParams::default())?.0
            }
            Recipe::CellsMinusNuclei { cells, nuclei } => {
                let c = cells.objects(index, record, i, channels, made)?;
                let n = nuclei.objects(index, record, i, channels, made)?;
                c.minus_inside_of(&n)?
            }
        };
        let objects = Rc::new(objects);
        made.insert(key, Rc::clone(&objects));
        Ok(objects)
    }
}

/// The objects of one image, checked against the field's size.
fn read_objects(
    index: &ImageIndex,
    record: &FieldRecord,
    path: &Path,
    (h, w): (usize, usize),
) -> Result<Objects> {
    let plane = read_plane(path)?;
    if plane.pixels.dim() != (h, w) {
        bail!(
            "{} (index {}, line {}): the objects image is {}×{} but the channels are {}×{}",
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

/// One field's rows for every object of the plan, in the plan's order: metadata then
/// features, as text. The field is read and segmented once.
fn field_rows(
    index: &ImageIndex,
    record: &FieldRecord,
    i: usize,
    plan: &[(String, Recipe)],
    set: &FeatureSet,
) -> Result<Vec<Vec<Vec<String>>>> {
    let field = index.load(record)?;
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
    // Each channel's granular spectrum once per field, for every compartment.
    let field = MeasuredField::new(&named, set)
        .with_context(|| format!("{}, line {}", index.source.display(), record.line))?;
    let mut made = HashMap::new();
    let mut out = Vec::with_capacity(plan.len());
    for (object, recipe) in plan {
        let place = || match recipe.file(i) {
            Some(p) => p.display().to_string(),
            None => format!("{}, line {}", index.source.display(), record.line),
        };
        let objects = recipe
            .objects(index, record, i, &channels, &mut made)
            .with_context(|| format!("{} ({object})", place()))?;
        let features = field
            .measure(object, &objects)
            .with_context(|| format!("{} (index line {})", place(), record.line))?;
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
        out.push(rows);
    }
    Ok(out)
}

/// One gzipped CSV table being written to a temporary file beside its final name; `finish`
/// moves it into place, dropping it unfinished removes it.
struct TableOut {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    csv: csv::Writer<GzEncoder<std::io::BufWriter<std::fs::File>>>,
}

impl TableOut {
    fn create(path: PathBuf, header: &[String]) -> Result<Self> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".cellpaint-measure-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let file = tmp.as_file().try_clone()?;
        let gz = GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        let mut csv = csv::Writer::from_writer(gz);
        csv.write_record(header)?;
        Ok(Self { path, tmp, csv })
    }

    fn finish(self) -> Result<()> {
        let gz = self
            .csv
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}: {}", self.path.display(), e.error()))?;
        let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // An ordinary file, not the temporary file's private mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        self.tmp
            .persist(&self.path)
            .with_context(|| format!("moving the table to {}", self.path.display()))?;
        Ok(())
    }
}

/// Every family but those skipped, texture at `texture_scale` (0 skips it too).
fn feature_set(texture_scale: usize, skip: &[Family]) -> FeatureSet {
    let d = FeatureSet::default();
    let keep = |f: Family| !skip.contains(&f);
    FeatureSet {
        intensity: keep(Family::Intensity),
        correlation: keep(Family::Correlation),
        texture_scale: (texture_scale > 0 && keep(Family::Texture)).then_some(texture_scale),
        granularity: d.granularity.filter(|_| keep(Family::Granularity)),
        radial: d.radial.filter(|_| keep(Family::Radial)),
        ..d
    }
}

fn header(object: &str, channels: &[String], set: &FeatureSet) -> Vec<String> {
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
    h.extend(set.names(object, &names));
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
    // Every object's source is settled before anything is written: its own column, or
    // segmentation on a channel the index has.
    let paths_of = |o: &str| object_paths(&a.index.index, o, a.index.root.as_deref());
    let channel = |name: &str, object: &str, option: &str| -> Result<usize> {
        index.channels.iter().position(|c| c == name).with_context(|| {
            format!(
                "{}: no column ObjectsFileName_{object}, and no channel {name} to segment {object} on \
                 ({option}; the channels are {})",
                a.index.index.display(),
                index.channels.join(", ")
            )
        })
    };
    let nuclei = || -> Result<Recipe> {
        Ok(match paths_of("Nuclei") {
            Ok(p) => Recipe::File(p),
            Err(_) => Recipe::FindNuclei {
                channel: channel(&a.nuclei_channel, "Nuclei", "--nuclei-channel")?,
            },
        })
    };
    let cells = || -> Result<Recipe> {
        Ok(match paths_of("Cells") {
            Ok(p) => Recipe::File(p),
            Err(_) => Recipe::GrowCells {
                nuclei: Box::new(nuclei()?),
                channel: channel(&a.cell_channel, "Cells", "--cell-channel")?,
            },
        })
    };
    let masks = a
        .objects
        .iter()
        .map(|o| {
            let recipe = match (o.as_str(), paths_of(o)) {
                (_, Ok(p)) => Recipe::File(p),
                ("Nuclei", Err(_)) => nuclei()?,
                ("Cells", Err(_)) => cells()?,
                ("Cytoplasm", Err(_)) => Recipe::CellsMinusNuclei {
                    cells: Box::new(cells()?),
                    nuclei: Box::new(nuclei()?),
                },
                (_, Err(e)) => return Err(e.into()),
            };
            Ok((o.clone(), recipe))
        })
        .collect::<Result<Vec<_>>>()?;
    let set = feature_set(a.texture_scale, &a.skip);
    let bar = crate::images::bar(index.fields.len(), quiet, "measuring");
    // Field by field (each read and segmented once), every object's rows to its own table.
    let mut tables = masks
        .iter()
        .map(|(object, _)| {
            TableOut::create(
                a.output.join(format!("{object}.csv.gz")),
                &header(object, &index.channels, &set),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let jobs: Vec<(usize, &FieldRecord)> = index.fields.iter().enumerate().collect();
    for chunk in jobs.chunks(CHUNK) {
        let done: Vec<Result<Vec<Vec<Vec<String>>>>> = chunk
            .par_iter()
            .map(|&(i, r)| field_rows(&index, r, i, &masks, &set))
            .collect();
        for per_object in done {
            for (table, rows) in tables.iter_mut().zip(per_object?) {
                for row in rows {
                    table.csv.write_record(&row)?;
                }
            }
            bar.inc(1);
        }
    }
    for table in tables {
        table.finish()?;
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
