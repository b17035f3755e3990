//! `cellpaint deepprofiler train|profile|evaluate`: the Cell Painting CNN from the shell, on
//! crops exported by `cellpaint prepare crops`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cellpaint_core::DeviceChoice;
use clap::{Args, Subcommand};
use deepprofiler_wsl::aggregate::{sphere_wells, treatment_profiles, well_profiles};
use deepprofiler_wsl::crops::{annotate, read_annotations, read_exported_crops};
use deepprofiler_wsl::features::extract_to_disk;
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::{train_classifier, DeepProfilerConfig, FittedClassifier};
use profiles::ReadOptions;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum DeepProfilerCommand {
    /// Train the weakly supervised CNN on exported crops (resumes a run found in --out).
    Train(TrainArgs),
    /// Extract features per site, then well profiles (sphered on controls) and treatment profiles.
    Profile(ProfileArgs),
    /// mAP and folds of enrichment of treatment profiles against MOA annotations.
    Evaluate(EvaluateArgs),
    /// DeepProfiler's own per-site feature files (features/<plate>/<well>/<site>.npz) as one
    /// single-cell table (CSV, Parquet…), ready for `cellpaint aggregate`.
    Collect(CollectArgs),
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// DeepProfiler's features folder (outputs/results/features/).
    pub features: PathBuf,
    /// Single-cell table to write (.csv[.gz], .parquet).
    pub output: PathBuf,
    /// Features are named <prefix>_0, <prefix>_1, … (pycytominer's fallback: DP).
    #[arg(long, default_value = "DP")]
    pub feature_prefix: String,
    /// Between well and site in <plate>/<well>_<site>.npz names.
    #[arg(long, default_value_t = '_')]
    pub site_delimiter: char,
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Settings: our JSON (strict), or DeepProfiler's with --deepprofiler-config. Paper
    /// defaults when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read --config as a DeepProfiler config; unsupported keys are listed, not fatal.
    #[arg(long)]
    pub deepprofiler_config: bool,
}

impl ConfigArg {
    fn load(&self, quiet: bool) -> Result<DeepProfilerConfig> {
        let Some(path) = &self.config else {
            return Ok(DeepProfilerConfig::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let source = path.display().to_string();
        if self.deepprofiler_config {
            let (c, unsupported) = DeepProfilerConfig::from_deepprofiler_json(&text, &source)?;
            if !unsupported.is_empty() && !quiet {
                eprintln!(
                    "{source}: not supported, ignored: {}",
                    unsupported.join(", ")
                );
            }
            Ok(c)
        } else {
            Ok(DeepProfilerConfig::from_json(&text, &source)?)
        }
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Directory of exported crops (sc-metadata.csv + PNGs).
    #[arg(long)]
    pub crops: PathBuf,
    /// Run directory: config, metrics.jsonl, checkpoints, model.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub run: crate::training::RunArgs,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// A run directory written by `deepprofiler train`.
    #[arg(long, required_unless_present = "weights", conflicts_with = "weights")]
    pub model: Option<PathBuf>,
    /// Instead of --model: a Keras EfficientNet-B0 saved as HDF5, such as DeepProfiler's
    /// published Cell_Painting_CNN_v1.hdf5 (docs/deepprofiler.md says where to get it).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// With --weights: metadata columns, crop size, feature layer (paper defaults when absent).
    #[command(flatten)]
    pub config: ConfigArg,
    #[arg(long)]
    pub crops: PathBuf,
    /// Output directory: features/<plate>/<well>/<site>.csv, wells.csv, treatments.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Tap to average (default: the config's profile.feature_layer, block6a_activation).
    #[arg(long)]
    pub tap: Option<String>,
    /// Annotation table with the label and MOA columns, joined onto the cells.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Skip sphering.
    #[arg(long)]
    pub no_sphering: bool,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Treatment profiles (e.g. treatments.csv from `deepprofiler profile`).
    pub profiles: PathBuf,
    /// MOA column (several MOAs joined with |).
    #[arg(long, default_value = "Metadata_moa")]
    pub moa_field: String,
    #[arg(long, default_value_t = 99.0)]
    pub percentile: f64,
}

fn say(quiet: bool, m: &str) {
    if !quiet {
        eprintln!("{m}");
    }
}

pub fn run(cmd: DeepProfilerCommand, q: bool) -> Result<()> {
    match cmd {
        DeepProfilerCommand::Train(a) => {
            let cfg = a.config.load(q)?;
            let meta = &cfg.dataset.metadata;
            let crops = read_exported_crops(&a.crops, cfg.dataset.images.channels.len(), meta)?;
            let (tr, va) = partition(&crops.cells, meta, &cfg.train.partition, a.run.seed)?;
            say(
                q,
                &format!(
                    "{} cells: {} train, {} validate",
                    crops.len(),
                    tr.len(),
                    va.len()
                ),
            );
            let (train, val) = (crops.subset(&tr), crops.subset(&va));
            let m = train_classifier(
                &cfg,
                &train,
                Some(&val),
                &a.out,
                a.run.seed,
                a.run.options(q),
                &a.run.device.device()?,
            )?;
            let last = m.summary.as_ref().and_then(|s| s.last.clone());
            say(q, &crate::training::trained_message(last.as_ref(), &a.out));
            Ok(())
        }
        DeepProfilerCommand::Profile(a) => {
            let device = a.device.device()?;
            let model = match (&a.model, &a.weights) {
                (Some(dir), _) => FittedClassifier::load(dir, &device)?,
                (None, Some(h5)) => {
                    let (m, report) =
                        FittedClassifier::from_keras_h5(h5, &a.config.load(q)?, &device)?;
                    say(
                        q,
                        &format!(
                            "{}: {} tensors loaded ({} channels, {} classes); {} unused",
                            h5.display(),
                            report.loaded,
                            m.meta.channels,
                            m.meta.classes.len(),
                            report.unused.len()
                        ),
                    );
                    m
                }
                (None, None) => anyhow::bail!("give --model or --weights"),
            };
            let cfg = &model.meta.config;
            let meta = &cfg.dataset.metadata;
            let mut crops = read_exported_crops(&a.crops, model.meta.channels, meta)?;
            if let Some(p) = &a.annotations {
                annotate(&mut crops.cells, &read_annotations(p, meta)?, meta)?;
            }
            let tap = a
                .tap
                .clone()
                .unwrap_or_else(|| cfg.profile.feature_layer.clone());
            let cells = extract_to_disk(&model, &crops, &tap, meta, &a.out.join("features"))?;
            let wells = well_profiles(&cells, meta)?;
            let wells = if a.no_sphering {
                wells
            } else {
                sphere_wells(&wells, meta, cfg.profile.sphering_lambda)?
            };
            let treatments = treatment_profiles(&wells, meta)?;
            write(&a.out.join("wells.csv"), &wells)?;
            write(&a.out.join("treatments.csv"), &treatments)?;
            profiles::write_json(
                &a.out.join("profile.run.json"),
                &json!({"command": "deepprofiler profile", "model": a.model,
                        "weights": a.weights, "backbone": cfg.train.model.backbone, "tap": tap,
                        "sphering": !a.no_sphering, "cells": cells.n_rows(),
                        "wells": wells.n_rows(), "treatments": treatments.n_rows()}),
            )?;
            say(
                q,
                &format!(
                    "{} cells → {} wells → {} treatments in {}",
                    cells.n_rows(),
                    wells.n_rows(),
                    treatments.n_rows(),
                    a.out.display()
                ),
            );
            Ok(())
        }
        DeepProfilerCommand::Evaluate(a) => {
            let t = profiles::read_table(&a.profiles, &ReadOptions::default())?;
            let sim = profiling_eval::Similarity::Cosine;
            let map = profiling_eval::interpolated_map(&t, sim, &a.moa_field, Some('|'), 11)?;
            let foe = profiling_eval::folds_of_enrichment(
                &t,
                sim,
                &a.moa_field,
                Some('|'),
                a.percentile,
            )?;
            crate::print_line(
                &json!({"profiles": a.profiles, "mAP": map.map, "queries": map.per_query.len(),
                       "folds_of_enrichment": foe.mean, "percentile": a.percentile})
                .to_string(),
            )
        }
        DeepProfilerCommand::Collect(a) => {
            let params = deepprofiler_wsl::NpzParams {
                feature_prefix: a.feature_prefix.clone(),
                site_delimiter: a.site_delimiter,
            };
            let cells = deepprofiler_wsl::read_deepprofiler_npz(&a.features, &params)?;
            write(&a.output, &cells)?;
            say(
                q,
                &format!(
                    "{} cells × {} features from {} → {}",
                    cells.n_rows(),
                    cells.n_features(),
                    a.features.display(),
                    a.output.display()
                ),
            );
            Ok(())
        }
    }
}

fn write(path: &Path, t: &profiles::ProfileTable) -> Result<()> {
    profiles::write_table(t, path).with_context(|| format!("writing {}", path.display()))
}
