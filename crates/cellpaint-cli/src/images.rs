//! Image commands: `prepare illum|compress|crops`, `detect-nuclei`, `simulate profiles|images`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cell_images::compress::CompressionReport;
use cell_images::*;
use cellpaint_sim::SimConfig;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

pub(crate) fn bar(len: usize, quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn say(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("{msg}");
    }
}

#[derive(Args, Debug, Clone)]
pub struct IndexArgs {
    /// Image index CSV: CellProfiler LoadData (FileName_Orig<Ch>, PathName_Orig<Ch>) or
    /// DeepProfiler style (a column per channel), with Metadata_Plate/Well/Site.
    #[arg(long)]
    pub index: PathBuf,
    /// Channels, in the order the stack should have.
    #[arg(long, value_delimiter = ',', default_value = "DNA,ER,RNA,AGP,Mito")]
    pub channels: Vec<String>,
    /// Directory relative paths resolve against (default: the index's directory).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

impl IndexArgs {
    fn read(&self) -> Result<ImageIndex> {
        let ch: Vec<&str> = self.channels.iter().map(String::as_str).collect();
        let idx = ImageIndex::read(&self.index, &ch, self.root.as_deref())?;
        if idx.fields.is_empty() {
            bail!("{}: the index lists no fields", self.index.display());
        }
        Ok(idx)
    }
}

#[derive(Subcommand, Debug)]
pub enum PrepareCommand {
    /// Fit one illumination function per plate and channel (writes <OUT>/<plate>.illum.tiff).
    Illum(IllumArgs),
    /// Illumination-correct, stretch to 8 bits and write lossless PNGs; reports the compression.
    Compress(CompressArgs),
    /// Cut single-cell crops around nuclei and export them in DeepProfiler's layout.
    Crops(CropsArgs),
}

#[derive(Args, Debug)]
pub struct IllumArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub down_scale_factor: usize,
    /// Median filter diameter at the reduced scale.
    #[arg(long, default_value_t = 24)]
    pub median_filter_size: usize,
}

#[derive(Args, Debug)]
pub struct CompressArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    /// Directory with <plate>.illum.tiff from `prepare illum` (no correction when omitted).
    #[arg(long)]
    pub illum: Option<PathBuf>,
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 0.05)]
    pub lower_percentile: f64,
    #[arg(long, default_value_t = 99.95)]
    pub upper_percentile: f64,
    #[arg(long, default_value_t = 1.0)]
    pub scaling_factor: f64,
}

#[derive(Args, Debug)]
pub struct CropsArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    #[arg(long)]
    pub illum: Option<PathBuf>,
    /// Nucleus locations per field, a path template with {plate}, {well}, {site}
    /// (e.g. "locations/{plate}/{well}_s{site}.csv"); nuclei are detected when omitted.
    #[arg(long)]
    pub locations: Option<String>,
    /// Metadata column whose value names each crop's target (default: "cell").
    #[arg(long)]
    pub target: Option<String>,
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 128)]
    pub box_size: usize,
    /// What to do with cells whose box leaves the image: skip or pad.
    #[arg(long, default_value = "skip", value_parser = ["skip", "pad"])]
    pub border: String,
}

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// The DNA (Hoechst) image: TIFF or PNG.
    pub image: PathBuf,
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 2.0)]
    pub smoothing_sigma: f32,
    /// Smallest distance between nucleus centres, pixels (about a nucleus radius).
    #[arg(long, default_value_t = 12.0)]
    pub min_distance: f32,
    #[arg(long, default_value_t = 100)]
    pub min_area: usize,
    /// Keep nuclei that touch the border.
    #[arg(long)]
    pub keep_border: bool,
}

#[derive(Subcommand, Debug)]
pub enum SimulateCommand {
    /// Well-level CellProfiler-like profiles (+ OUT.truth.json with the ground truth).
    Profiles(SimProfilesArgs),
    /// 5-channel 16-bit fields, nucleus locations and an index CSV (+ truth.json).
    Images(SimImagesArgs),
    /// A real plate's summary statistics beside a simulated plate processed the same way,
    /// each against its tolerance (docs/simulator.md).
    Calibrate(crate::calibrate::SimCalibrateArgs),
}

#[derive(Args, Debug)]
pub struct SimSettings {
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Size: tiny (2 plates), default (4 plates, 46 compounds), benchmark (2 batches × 4 plates, 320 compounds).
    #[arg(long)]
    pub preset: Option<String>,
    /// A JSON file of SimConfig fields overriding the preset (see cellpaint-sim's README).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl SimSettings {
    pub(crate) fn resolve(&self, default_preset: &str) -> Result<SimConfig> {
        let preset = self.preset.as_deref().unwrap_or(default_preset);
        let mut cfg = SimConfig::preset(preset, self.seed)?;
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut base = serde_json::to_value(&cfg)?;
            let over: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", path.display()))?;
            let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) else {
                bail!(
                    "{}: expected a JSON object of SimConfig fields",
                    path.display()
                );
            };
            for (k, v) in o {
                b.insert(k.clone(), v.clone());
            }
            cfg = serde_json::from_value(base)
                .with_context(|| format!("{}: bad simulation settings", path.display()))?;
            cfg.seed = if o.contains_key("seed") {
                cfg.seed
            } else {
                self.seed
            };
        }
        cfg.check()?;
        Ok(cfg)
    }
}

#[derive(Args, Debug)]
pub struct SimProfilesArgs {
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub settings: SimSettings,
}

#[derive(Args, Debug)]
pub struct SimImagesArgs {
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub settings: SimSettings,
    /// Render at most this many wells per plate (a quarter of them controls); all by default.
    #[arg(long)]
    pub max_wells_per_plate: Option<usize>,
}

fn illum_path(dir: &Path, plate: &str) -> PathBuf {
    dir.join(format!("{plate}.illum.tiff"))
}

fn load_illum(dir: Option<&Path>, plate: &str) -> Result<Option<IlluminationFunction>> {
    dir.map(|d| IlluminationFunction::load(illum_path(d, plate)))
        .transpose()
        .map_err(Into::into)
}

fn field_label(r: &FieldRecord) -> String {
    format!("{} {} site {}", r.plate, r.well, r.site)
}

pub fn prepare(cmd: PrepareCommand, q: bool) -> Result<()> {
    match cmd {
        PrepareCommand::Illum(a) => {
            let idx = a.index.read()?;
            let params = IlluminationParams {
                down_scale_factor: a.down_scale_factor,
                median_filter_size: a.median_filter_size,
                ..Default::default()
            };
            params.check()?;
            let mut plates = Vec::new();
            for (plate, records) in idx.plates() {
                let pb = bar(records.len(), q, &format!("illumination {plate}"));
                let mut acc = params.accumulator()?;
                // Streaming: a few fields in memory at a time, loaded in parallel.
                for chunk in records.chunks(rayon::current_num_threads().max(1)) {
                    let fields: Vec<Result<Field>> =
                        chunk.par_iter().map(|r| Ok(idx.load(r)?)).collect();
                    for (f, r) in fields.into_iter().zip(chunk) {
                        acc.add(&f?, &field_label(r))?;
                        pb.inc(1);
                    }
                }
                pb.finish_and_clear();
                let n = acc.count();
                let func = acc.finish(&idx.channels)?;
                let out = illum_path(&a.output, &plate);
                func.save(&out)?;
                say(
                    q,
                    &format!(
                        "{plate}: illumination function from {n} fields → {}",
                        out.display()
                    ),
                );
                plates.push(json!({"plate": plate, "fields": n, "file": out}));
            }
            profiles::write_json(
                &a.output.join("illum.run.json"),
                &json!({"command": "prepare illum", "index": idx.source, "channels": idx.channels, "params": params, "plates": plates}),
            )?;
            Ok(())
        }
        PrepareCommand::Compress(a) => {
            let idx = a.index.read()?;
            let params = CompressionParams {
                lower_percentile: a.lower_percentile,
                upper_percentile: a.upper_percentile,
                scaling_factor: a.scaling_factor,
            };
            params.check()?;
            let mut total = CompressionReport::default();
            for (plate, records) in idx.plates() {
                let illum = load_illum(a.illum.as_deref(), &plate)?;
                let pb = bar(records.len(), q, &format!("compress {plate}"));
                let reports: Vec<Result<CompressionReport>> = records
                    .par_iter()
                    .map(|r| {
                        let mut field = idx.load(r)?;
                        if let Some(f) = &illum {
                            field = f.apply(&field)?;
                        }
                        let (_, rep) =
                            compress_field(&field, &r.paths, &a.output.join(&plate), &params)?;
                        pb.inc(1);
                        Ok(rep)
                    })
                    .collect();
                pb.finish_and_clear();
                for r in reports {
                    total.add(r?);
                }
            }
            say(
                q,
                &format!(
                    "compressed {} files: {:.1} MB → {:.1} MB, factor {:.2}",
                    total.files,
                    total.bytes_in as f64 / 1e6,
                    total.bytes_out as f64 / 1e6,
                    total.factor()
                ),
            );
            profiles::write_json(
                &a.output.join("compress.run.json"),
                &json!({"command": "prepare compress", "index": idx.source, "params": params, "illum": a.illum, "report": total, "factor": total.factor()}),
            )?;
            Ok(())
        }
        PrepareCommand::Crops(a) => {
            let idx = a.index.read()?;
            let params = CropParams {
                box_size: a.box_size,
                border: if a.border == "pad" {
                    BorderPolicy::Pad
                } else {
                    BorderPolicy::Skip
                },
                ..Default::default()
            };
            let dna = idx.channels.iter().position(|c| c == "DNA");
            if a.locations.is_none() && dna.is_none() {
                bail!(
                    "no --locations given and no DNA channel to detect nuclei on (channels: {})",
                    idx.channels.join(", ")
                );
            }
            let mut rows = Vec::new();
            for (plate, records) in idx.plates() {
                let illum = load_illum(a.illum.as_deref(), &plate)?;
                let pb = bar(records.len(), q, &format!("crops {plate}"));
                let out: Vec<Result<Vec<cell_images::crops::ExportedCell>>> = records
                    .par_iter()
                    .map(|r| {
                        let mut field = idx.load(r)?;
                        if let Some(f) = &illum {
                            field = f.apply(&field)?;
                        }
                        let centers = match &a.locations {
                            Some(t) => {
                                let p = t
                                    .replace("{plate}", &r.plate)
                                    .replace("{well}", &r.well)
                                    .replace("{site}", &r.site);
                                let p = if Path::new(&p).is_relative() {
                                    idx.source.parent().unwrap_or(Path::new(".")).join(p)
                                } else {
                                    PathBuf::from(p)
                                };
                                read_locations(&p)?
                            }
                            None => detect_nuclei(
                                field.channel(dna.expect("checked")),
                                &NucleusParams::default(),
                            )
                            .map_err(|e| {
                                let dna_file = &r.paths[dna.expect("checked")];
                                anyhow::anyhow!("{}: {e}", dna_file.display())
                            })?
                            .nuclei
                            .iter()
                            .map(|n| (n.x, n.y))
                            .collect(),
                        };
                        let crops = extract_crops(&field, &centers, &params).map_err(|e| {
                            anyhow::anyhow!(
                                "{} (index {}, line {}): {e}",
                                r.paths[0].display(),
                                idx.source.display(),
                                r.line
                            )
                        })?;
                        let target = match &a.target {
                            Some(col) => r.metadata.get(col).cloned().with_context(|| {
                                format!("{}: no metadata column {col}", field_label(r))
                            })?,
                            None => "cell".to_string(),
                        };
                        let target = target.replace(['/', '|'], "_");
                        pb.inc(1);
                        Ok(export_crops(
                            &a.output, &r.plate, &r.well, &r.site, &target, &crops,
                        )?)
                    })
                    .collect();
                pb.finish_and_clear();
                for o in out {
                    rows.extend(o?);
                }
            }
            let meta = write_sc_metadata(&a.output, &rows)?;
            say(
                q,
                &format!(
                    "exported {} single-cell crops; metadata in {}",
                    rows.len(),
                    meta.display()
                ),
            );
            profiles::write_json(
                &a.output.join("crops.run.json"),
                &json!({"command": "prepare crops", "index": idx.source, "params": params, "illum": a.illum, "locations": a.locations, "cells": rows.len()}),
            )?;
            Ok(())
        }
    }
}

pub fn detect(a: DetectArgs, q: bool) -> Result<()> {
    let plane = read_plane(&a.image)?;
    let params = NucleusParams {
        smoothing_sigma: a.smoothing_sigma,
        min_distance: a.min_distance,
        min_area: a.min_area,
        exclude_border: !a.keep_border,
    };
    let seg = detect_nuclei(plane.pixels.mapv(|v| v as f32).view(), &params)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.image.display()))?;
    write_locations(&a.output, &seg.nuclei)?;
    say(
        q,
        &format!(
            "{}: {} nuclei (Otsu level {} of 255) → {}",
            a.image.display(),
            seg.nuclei.len(),
            seg.threshold,
            a.output.display()
        ),
    );
    let mut run = a.output.clone().into_os_string();
    run.push(".run.json");
    profiles::write_json(
        Path::new(&run),
        &json!({"command": "detect-nuclei", "image": a.image, "params": params, "nuclei": seg.nuclei.len(), "otsu_level": seg.threshold}),
    )?;
    Ok(())
}

pub fn simulate(cmd: SimulateCommand, q: bool) -> Result<()> {
    match cmd {
        SimulateCommand::Profiles(a) => {
            let cfg = a.settings.resolve("default")?;
            let screen = cellpaint_sim::write_profiles(&cfg, &a.output)?;
            say(
                q,
                &format!(
                    "simulated {} wells on {} plates ({} compounds, {} MOAs, {} features) → {}; truth in {}",
                    screen.wells.len(),
                    screen.truth.plates.len(),
                    screen.truth.compounds.len(),
                    screen.truth.moas.len(),
                    cfg.n_features,
                    a.output.display(),
                    cellpaint_sim::truth_path(&a.output).display()
                ),
            );
            Ok(())
        }
        SimulateCommand::Calibrate(a) => crate::calibrate::calibrate(a, q),
        SimulateCommand::Images(a) => {
            let cfg = a.settings.resolve("tiny")?;
            let screen = cellpaint_sim::Screen::design(&cfg)?;
            let wells = cellpaint_sim::select_wells(&screen, a.max_wells_per_plate);
            let pb = bar(wells.len() * cfg.sites_per_well, q, "rendering fields");
            let records =
                cellpaint_sim::write_images(&screen, &a.output, &wells, &|n| pb.inc(n as u64))?;
            pb.finish_and_clear();
            profiles::write_json(&a.output.join("truth.json"), &screen.truth)?;
            profiles::write_table(&screen.profiles()?, a.output.join("profiles.csv.gz"))?;
            say(
                q,
                &format!(
                    "rendered {} fields ({}×{} px, 5 channels) in {}; index.csv, locations/, truth.json, profiles.csv.gz beside them",
                    records.len(),
                    cfg.image_size,
                    cfg.image_size,
                    a.output.display()
                ),
            );
            Ok(())
        }
    }
}
