//! `cellpaint moa-profiler train|embed|evaluate`: MOAProfiler from the shell, on the fields of
//! an image index (e.g. `cellpaint simulate images`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cellpaint_core::DeviceChoice;
use clap::{Args, Subcommand, ValueEnum};
use moa_profiler::evaluate::{
    embedding_metrics, evaluation_rows, field_classification, holdout_metrics, COMPOUND, MOA,
};
use moa_profiler::split::{compound_holdout, well_holdout};
use moa_profiler::{train_moa_profiler, FieldSet, FittedMoaProfiler, MoaProfilerConfig};
use profiles::{ProfileTable, ReadOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Column of `wells.csv` naming each well's set.
pub const SET: &str = "Metadata_set";
/// Column of `wells.csv` naming the split the model was trained with (`well`, `compound`).
pub const SPLIT: &str = "Metadata_split";

#[derive(Subcommand, Debug)]
pub enum MoaProfilerCommand {
    /// Split the wells, then train the field classifier (resumes a run found in --out).
    Train(TrainArgs),
    /// Field class probabilities and DMSO-standardised well embeddings of an index's fields.
    Embed(EmbedArgs),
    /// The paper's metrics on `embed` output (or any well table with the same columns).
    Evaluate(EvaluateArgs),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// 60/10/30 of each MOA's wells (Figure 3).
    Well,
    /// One compound per MOA held out (Figure 4).
    Compound,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Image index (CellProfiler LoadData or DeepProfiler style) of the fields.
    #[arg(long)]
    pub index: PathBuf,
    /// Run directory: split.json, metrics.jsonl, checkpoints, model.
    #[arg(long)]
    pub out: PathBuf,
    /// Settings as JSON (strict); the paper's when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "well")]
    pub split: SplitKind,
    /// Overrides the config's image_size (fields are resized to it).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Overrides the config's epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub run: crate::training::RunArgs,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// A run directory written by `moa-profiler train`.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub index: PathBuf,
    /// Output directory: wells.csv (embeddings), fields.csv (class probabilities).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Well table with Metadata_Plate/Well/compound/moa/set/split columns (wells.csv of
    /// `embed`).
    #[arg(long)]
    pub wells: PathBuf,
    /// Field class probabilities (fields.csv of `embed`), for accuracy and AUPRC.
    #[arg(long)]
    pub fields: Option<PathBuf>,
    #[arg(long, default_value = "DMSO")]
    pub control: String,
    /// Also write the JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The split a run was trained on, by (plate, well).
#[derive(Debug, Serialize, Deserialize)]
struct SplitFile {
    kind: SplitKind,
    seed: u64,
    train: Vec<(String, String)>,
    valid: Vec<(String, String)>,
    test: Vec<(String, String)>,
}

const CHANNELS: [&str; 5] = ["DNA", "ER", "RNA", "AGP", "Mito"];

fn say(quiet: bool, m: &str) {
    if !quiet {
        eprintln!("{m}");
    }
}

fn write(path: &Path, t: &ProfileTable) -> Result<()> {
    profiles::write_table(t, path).with_context(|| format!("writing {}", path.display()))
}

pub fn run(cmd: MoaProfilerCommand, q: bool) -> Result<()> {
    match cmd {
        MoaProfilerCommand::Train(a) => {
            let mut cfg = match &a.config {
                Some(p) => MoaProfilerConfig::from_json_file(p)?,
                None => MoaProfilerConfig::default(),
            };
            cfg.image_size = a.image_size.unwrap_or(cfg.image_size);
            cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
            cfg.check()?;
            let data = FieldSet::from_index(&a.index, &CHANNELS, &cfg)?;
            let split = match a.split {
                SplitKind::Well => {
                    well_holdout(&data.wells, &cfg.control, [0.6, 0.1, 0.3], a.run.seed)?
                }
                SplitKind::Compound => compound_holdout(&data.wells, &cfg.control, a.run.seed)?,
            };
            let names = |rows: &[usize]| -> Vec<(String, String)> {
                rows.iter()
                    .map(|&w| (data.wells[w].plate.clone(), data.wells[w].well.clone()))
                    .collect()
            };
            say(
                q,
                &format!(
                    "{} fields of {} wells: {} train, {} validate, {} test wells",
                    data.len(),
                    data.wells.len(),
                    split.train.len(),
                    split.valid.len(),
                    split.test.len()
                ),
            );
            let run = a.run.options(q);
            let m = train_moa_profiler(
                &cfg,
                &data,
                &split,
                &a.out,
                a.run.seed,
                run,
                &a.run.device.device()?,
            )?;
            // Written with the model, after the run directory was checked to hold this run
            // (the split is part of its fingerprint).
            profiles::write_json(
                &a.out.join("split.json"),
                &SplitFile {
                    kind: a.split,
                    seed: a.run.seed,
                    train: names(&split.train),
                    valid: names(&split.valid),
                    test: names(&split.test),
                },
            )?;

            say(
                q,
                &match m.meta.best_epoch {
                    Some(b) => format!(
                        "trained; best epoch {} of {}; model in {}",
                        b + 1,
                        cfg.epochs,
                        a.out.display()
                    ),
                    None => format!(
                        "trained {} epochs; model in {}",
                        cfg.epochs,
                        a.out.display()
                    ),
                },
            );
            Ok(())
        }
        MoaProfilerCommand::Embed(a) => {
            let model = FittedMoaProfiler::load(&a.model, &a.device.device()?)?;
            let data = FieldSet::from_index(&a.index, &CHANNELS, &model.meta.config)?;
            let split_path = a.model.join("split.json");
            let split: SplitFile = serde_json::from_str(
                &std::fs::read_to_string(&split_path)
                    .with_context(|| format!("reading {}", split_path.display()))?,
            )
            .with_context(|| format!("parsing {}", split_path.display()))?;
            let mut set_of: HashMap<(String, String), &str> = HashMap::new();
            for (name, wells) in [
                ("train", &split.train),
                ("valid", &split.valid),
                ("test", &split.test),
            ] {
                for w in wells {
                    set_of.insert(w.clone(), name);
                }
            }
            let set: Vec<String> = data
                .wells
                .iter()
                .map(|w| {
                    set_of
                        .get(&(w.plate.clone(), w.well.clone()))
                        .unwrap_or(&"none")
                        .to_string()
                })
                .collect();
            let mut wells = model.well_profiles(&data)?;
            wells.set_metadata(SET, set.clone())?;
            let kind = serde_json::to_value(split.kind)?;
            let kind = kind.as_str().unwrap_or_default();
            wells.set_metadata(SPLIT, vec![kind.to_string(); wells.n_rows()])?;
            // Field class probabilities, one column per class.
            let probs = model.predict_probabilities(&data)?;
            let classes = &model.meta.classes;
            let x = ndarray::Array2::from_shape_fn((probs.len(), classes.len()), |(i, j)| {
                probs[i][j] as f64
            });
            let field_wells: Vec<_> = data
                .field_well
                .iter()
                .map(|&w| data.wells[w].clone())
                .collect();
            let mut fields = moa_profiler::evaluate::well_table(
                "fields",
                &field_wells,
                x,
                classes.iter().map(|c| format!("p_{c}")).collect(),
            )?;
            fields.set_metadata(
                SET,
                data.field_well.iter().map(|&w| set[w].clone()).collect(),
            )?;
            write(&a.out.join("wells.csv"), &wells)?;
            write(&a.out.join("fields.csv"), &fields)?;
            say(
                q,
                &format!(
                    "{} fields → {} wells ({}-d) in {}",
                    data.len(),
                    wells.n_rows(),
                    wells.n_features(),
                    a.out.display()
                ),
            );
            Ok(())
        }
        MoaProfilerCommand::Evaluate(a) => {
            let wells = profiles::read_table(&a.wells, &ReadOptions::default())?;
            let set = wells.metadata(SET)?.to_vec();
            let rows_in = |t: &ProfileTable, names: &[&str]| -> Result<Vec<usize>> {
                let s = t.metadata(SET)?;
                Ok((0..t.n_rows())
                    .filter(|&r| names.contains(&s[r].as_str()))
                    .collect())
            };
            if !set.iter().any(|s| s == "test") {
                bail!("{}: no well has {SET} = test", a.wells.display());
            }
            let test_rows = rows_in(&wells, &["test"])?;
            let test = wells.select_rows(&test_rows);
            let train = wells.select_rows(&rows_in(&wells, &["train"])?);
            let eval_test = wells.select_rows(&evaluation_rows(&wells, &a.control, &test_rows)?);
            let mut out = json!({"wells": a.wells, "test_wells": test.n_rows(),
                                 "evaluated_wells": eval_test.n_rows()});
            out["embedding"] =
                match embedding_metrics(&eval_test, Some(&train), &a.control, Default::default()) {
                    Ok(m) => serde_json::to_value(m)?,
                    Err(e) => json!({"error": e.to_string()}),
                };
            // A compound hold-out run: its test wells are the held-out compounds.
            if wells.metadata(SPLIT)?.iter().any(|k| k == "compound") {
                let known = wells.select_rows(&rows_in(&wells, &["train", "valid"])?);
                let cpd = test.metadata(COMPOUND)?;
                let heldout = test.select_rows(
                    &(0..test.n_rows())
                        .filter(|&r| cpd[r] != a.control)
                        .collect::<Vec<_>>(),
                );
                out["compound_holdout"] =
                    serde_json::to_value(holdout_metrics(&known, &heldout, &a.control)?)?;
            }
            if let Some(p) = &a.fields {
                let f = profiles::read_table(p, &ReadOptions::default())?;
                let rows = rows_in(&f, &["test"])?;
                let f = f.select_rows(&rows);
                let classes: Vec<String> = f
                    .feature_names()
                    .iter()
                    .map(|n| n.strip_prefix("p_").unwrap_or(n).to_string())
                    .collect();
                let probs: Vec<Vec<f32>> = f
                    .features()
                    .rows()
                    .into_iter()
                    .map(|r| r.iter().map(|&v| v as f32).collect())
                    .collect();
                out["field_classification"] = serde_json::to_value(field_classification(
                    &probs,
                    f.metadata(MOA)?,
                    &classes,
                    &a.control,
                )?)?;
            }
            if let Some(o) = &a.out {
                profiles::write_json(o, &out)?;
            }
            crate::print_line(&out.to_string())
        }
    }
}
