//! `cellpaint profile-vae train|embed|simulate|arithmetic|traverse`: the profile VAEs of Way et
//! al. (vanilla, β, MMD) on any profile table (CSV/TSV/GCT), from the shell.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cellpaint_core::{LrSchedule, TrainConfig};
use clap::{Args, Subcommand, ValueEnum};

use crate::training::ModelArg;
use ndarray::{Array2, Axis};
use profile_vae::{
    fit_on, latent_arithmetic, latent_traversal, moa_labels, shuffled_null, summarise_by_group,
    z_scores, FitSettings, FittedVae, VaeConfig,
};
use profiles::{ProfileTable, ReadOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum ProfileVaeCommand {
    /// Train a VAE on a profile table's features (resumes the same run found in --out).
    Train(TrainArgs),
    /// Latent means μ of each profile: metadata columns, then `latent_1` … `latent_k`.
    Embed(EmbedArgs),
    /// Profiles decoded from draws of the N(0, I) prior, in the training features' units.
    Simulate(SimulateArgs),
    /// Latent space arithmetic: predict each A|B compound's mean profile as
    /// decode(z̄(A) − z̄(control) + z̄(B)), against a null with shuffled labels.
    Arithmetic(ArithmeticArgs),
    /// Decode each latent moved to ±m with the others at 0; the difference per feature, and
    /// summarised per CellProfiler compartment × channel.
    Traverse(TraverseArgs),
}

/// Which of the paper's three models.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// β = 1.
    Vanilla,
    /// β = `beta` (the paper's level-5 choice, 0.3).
    Beta,
    /// β = 0 and λ·MMD with λ = `mmd_lambda` (1000).
    Mmd,
}

/// Settings of `profile-vae train` (JSON with --config; strict). The defaults are the paper's
/// Cell Painting level-5 models (Table 2): one hidden layer of 250, 10 latents, batch 96, Adam
/// 1e-3, β 0.3, λ 1000, 100 epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaeSettings {
    /// Which model.
    pub variant: Variant,
    /// Encoder hidden widths (the decoder mirrors them).
    pub hidden: Vec<usize>,
    /// Latent dimensions.
    pub latent: usize,
    /// β of the β-VAE.
    pub beta: f64,
    /// λ of the MMD-VAE.
    pub mmd_lambda: f64,
    /// Profiles per Adam step.
    pub batch_size: usize,
    /// Adam's rate (constant).
    pub learning_rate: f64,
    /// Epochs.
    pub epochs: usize,
    /// Share of the rows (seeded draw) held out for the validation loss; 0 for none.
    pub validation_fraction: f64,
}

impl Default for VaeSettings {
    fn default() -> Self {
        Self {
            variant: Variant::Beta,
            hidden: vec![250],
            latent: 10,
            beta: 0.3,
            mmd_lambda: 1000.0,
            batch_size: 96,
            learning_rate: 1e-3,
            epochs: 100,
            validation_fraction: 0.1,
        }
    }
}

impl VaeSettings {
    fn check(&self) -> Result<()> {
        if self.latent == 0 || self.batch_size == 0 || self.hidden.contains(&0) {
            bail!("latent, batch_size and every hidden width must be ≥ 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            bail!("learning_rate must be > 0 (got {})", self.learning_rate);
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            bail!(
                "validation_fraction must be in [0, 1) (got {})",
                self.validation_fraction
            );
        }
        if !(self.beta >= 0.0 && self.mmd_lambda >= 0.0) {
            bail!("beta and mmd_lambda must be ≥ 0");
        }
        Ok(())
    }

    /// The model for `input_dim` features.
    pub fn model(&self, input_dim: usize) -> VaeConfig {
        let (beta, mmd_lambda) = match self.variant {
            Variant::Vanilla => (1.0, 0.0),
            Variant::Beta => (self.beta, 0.0),
            Variant::Mmd => (0.0, self.mmd_lambda),
        };
        VaeConfig {
            hidden: self.hidden.clone(),
            latent: self.latent,
            beta,
            mmd_lambda,
            ..VaeConfig::vanilla(input_dim)
        }
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Profile table (.csv, .tsv, .gct, optionally .gz); every feature column is an input.
    pub input: PathBuf,
    /// Run directory: settings.json, features.json, metrics.jsonl, checkpoints, the model.
    #[arg(long)]
    pub out: PathBuf,
    /// Settings as JSON (strict; see `VaeSettings`); the paper's level-5 β-VAE when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Overrides the config's variant.
    #[arg(long, value_enum)]
    pub variant: Option<Variant>,
    /// Overrides the config's epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub run: crate::training::RunArgs,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Profiles with (at least) the training features, by name.
    pub input: PathBuf,
    /// Output table of latent means.
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Profiles to draw.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output table (`Metadata_simulated` 1…n, then the training features).
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct ArithmeticArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Profiles with the training features and the MOA and sample columns.
    pub input: PathBuf,
    /// Output table: one row per A|B target (distance, Pearson, z against the null, p).
    pub output: PathBuf,
    /// MOA annotation column; two mechanisms are joined with `|`.
    #[arg(long, default_value = "Metadata_moa")]
    pub moa_column: String,
    /// Sample (compound) column; rows equal to --control are the reference.
    #[arg(long, default_value = "Metadata_broad_sample")]
    pub sample_column: String,
    #[arg(long, default_value = "DMSO")]
    pub control: String,
    /// Label shuffles for the null (the paper's 10).
    #[arg(long, default_value_t = 10)]
    pub shuffles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct TraverseArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Where each latent moves to (±m; the paper's 3).
    #[arg(long, default_value_t = 3.0)]
    pub magnitude: f64,
    /// Output table: one row per latent (`Metadata_latent`), one column per feature.
    pub output: PathBuf,
    /// Also the per-group summary (latent × compartment × channel: mean |Δ|, features).
    #[arg(long)]
    pub groups: Option<PathBuf>,
}

fn say(quiet: bool, m: &str) {
    if !quiet {
        eprintln!("{m}");
    }
}

fn write(path: &Path, t: &ProfileTable) -> Result<()> {
    profiles::write_table(t, path).with_context(|| format!("writing {}", path.display()))
}

/// `OUT.run.json` beside an output table, as every table command writes.
fn write_run(output: &Path, value: &serde_json::Value) -> Result<()> {
    let mut s = output.as_os_str().to_owned();
    s.push(".run.json");
    profiles::write_json(Path::new(&s), value)?;
    Ok(())
}

const FEATURES: &str = "features.json";

fn read_input(path: &Path) -> Result<ProfileTable> {
    let t = profiles::read_table(path, &ReadOptions::default())?;
    t.require_finite("the VAE needs every value; drop or impute non-finite features first")?;
    if t.n_rows() == 0 || t.n_features() == 0 {
        bail!("{}: no profiles or no feature columns", path.display());
    }
    Ok(t)
}

/// A trained model and the feature names it was trained on.
struct Model {
    vae: FittedVae,
    features: Vec<String>,
}

impl Model {
    fn load(m: &ModelArg) -> Result<Self> {
        let vae = FittedVae::load_on(&m.model, &m.device.device()?)?;
        let path = m.model.join(FEATURES);
        let features: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&path).with_context(|| {
                format!("reading {} (written by profile-vae train)", path.display())
            })?)
            .with_context(|| format!("parsing {}", path.display()))?;
        if features.len() != vae.config.input_dim {
            bail!(
                "{}: {} feature names for a model of {} inputs",
                path.display(),
                features.len(),
                vae.config.input_dim
            );
        }
        Ok(Self { vae, features })
    }

    /// `t`'s training features in training order; a missing one is an error naming it.
    fn inputs(&self, t: &ProfileTable) -> Result<Array2<f64>> {
        let names = t.feature_names();
        let cols = self
            .features
            .iter()
            .map(|f| {
                names.iter().position(|n| n == f).with_context(|| {
                    format!(
                        "{}: no feature column '{f}' (the model has {} features; {} here)",
                        t.source(),
                        self.features.len(),
                        names.len()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(t.features().select(Axis(1), &cols))
    }
}

/// Seeded split of `n` rows: (train, validation).
fn split_rows(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut cellpaint_core::rng::seeded_rng(seed));
    let n_val = ((n as f64) * fraction).round() as usize;
    let n_val = if n - n_val == 0 { 0 } else { n_val };
    let (va, tr) = order.split_at(n_val);
    let (mut tr, mut va) = (tr.to_vec(), va.to_vec());
    tr.sort_unstable();
    va.sort_unstable();
    (tr, va)
}

pub fn run(cmd: ProfileVaeCommand, q: bool) -> Result<()> {
    match cmd {
        ProfileVaeCommand::Train(a) => train(a, q),
        ProfileVaeCommand::Embed(a) => {
            let m = Model::load(&a.model)?;
            let t = read_input(&a.input)?;
            let z = m.vae.embed(m.inputs(&t)?.view())?;
            let names = (1..=z.ncols()).map(|k| format!("latent_{k}")).collect();
            let out = t.with_features(names, z)?;
            write(&a.output, &out)?;
            write_run(
                &a.output,
                &json!({"command": "profile-vae embed", "model": a.model.model,
                        "input": a.input, "profiles": out.n_rows(), "latents": out.n_features()}),
            )?;
            say(
                q,
                &format!(
                    "{} profiles → {} latents in {}",
                    out.n_rows(),
                    out.n_features(),
                    a.output.display()
                ),
            );
            Ok(())
        }
        ProfileVaeCommand::Simulate(a) => {
            let m = Model::load(&a.model)?;
            if a.count == 0 || a.count > 10_000_000 {
                bail!("--count must be in 1..=10000000 (got {})", a.count);
            }
            let x = m.vae.simulate(a.count, a.seed)?;
            let ids = (1..=a.count).map(|i| i.to_string()).collect();
            let out = ProfileTable::new(
                "simulated",
                vec!["Metadata_simulated".into()],
                vec![ids],
                m.features.clone(),
                x,
            )?;
            write(&a.output, &out)?;
            write_run(
                &a.output,
                &json!({"command": "profile-vae simulate", "model": a.model.model,
                        "count": a.count, "seed": a.seed}),
            )?;
            say(
                q,
                &format!("{} profiles in {}", a.count, a.output.display()),
            );
            Ok(())
        }
        ProfileVaeCommand::Arithmetic(a) => arithmetic(a, q),
        ProfileVaeCommand::Traverse(a) => {
            let m = Model::load(&a.model)?;
            let d = latent_traversal(&m.vae, m.vae.config.latent, a.magnitude)?;
            let ids = (1..=d.nrows()).map(|k| k.to_string()).collect();
            let out = ProfileTable::new(
                "traversal",
                vec!["Metadata_latent".into()],
                vec![ids],
                m.features.clone(),
                d.clone(),
            )?;
            write(&a.output, &out)?;
            if let Some(g) = &a.groups {
                profiles::write_json(g, &summarise_by_group(d.view(), &m.features)?)?;
            }
            write_run(
                &a.output,
                &json!({"command": "profile-vae traverse", "model": a.model.model,
                        "magnitude": a.magnitude, "groups": a.groups}),
            )?;
            say(
                q,
                &format!(
                    "{} latents × {} features in {}",
                    d.nrows(),
                    d.ncols(),
                    a.output.display()
                ),
            );
            Ok(())
        }
    }
}

fn train(a: TrainArgs, q: bool) -> Result<()> {
    let mut s = match &a.config {
        Some(p) => crate::training::read_config::<VaeSettings>(p)?,
        None => VaeSettings::default(),
    };
    s.variant = a.variant.unwrap_or(s.variant);
    s.epochs = a.epochs.unwrap_or(s.epochs);
    s.check()?;
    let t = read_input(&a.input)?;
    let x = t.features();
    let (tr, va) = split_rows(t.n_rows(), s.validation_fraction, a.run.seed);
    let train_x = x.select(Axis(0), &tr);
    let val_x = (!va.is_empty()).then(|| x.select(Axis(0), &va));
    say(
        q,
        &format!(
            "{} profiles × {} features: {} train, {} validate",
            t.n_rows(),
            t.n_features(),
            tr.len(),
            va.len()
        ),
    );
    let model = s.model(t.n_features());
    let train_cfg = TrainConfig {
        epochs: s.epochs,
        seed: a.run.seed,
        base_lr: s.learning_rate,
        schedule: LrSchedule::Constant,
        early_stopping: None,
        checkpoint_every: 10,
        quiet: q,
    };
    let (vae, summary) = fit_on(
        model,
        train_x.view(),
        val_x.as_ref().map(|v| v.view()),
        FitSettings {
            batch_size: s.batch_size,
            train: train_cfg,
            run_dir: &a.out,
            restart: a.run.restart,
            device: a.run.device.device()?,
        },
    )?;
    // Written after the run directory was checked to hold this run (the data and settings
    // are part of its fingerprint).
    vae.save(&a.out)?;
    profiles::write_json(&a.out.join(FEATURES), &t.feature_names())?;
    profiles::write_json(&a.out.join("settings.json"), &s)?;
    let last = summary.last.clone();
    profiles::write_json(
        &a.out.join("train.run.json"),
        &json!({"command": "profile-vae train", "input": a.input, "seed": a.run.seed,
                "settings": s, "device": a.run.device, "profiles": t.n_rows(),
                "features": t.n_features(), "train_rows": tr.len(), "validation_rows": va.len(),
                "last_epoch": last}),
    )?;
    say(q, &crate::training::trained_message(last.as_ref(), &a.out));
    Ok(())
}

fn arithmetic(a: ArithmeticArgs, q: bool) -> Result<()> {
    let m = Model::load(&a.model)?;
    let t = read_input(&a.input)?;
    let labels = moa_labels(
        t.metadata(&a.moa_column)?,
        t.metadata(&a.sample_column)?,
        &a.control,
    );
    // Annotated rows and controls only (an unannotated compound belongs to no mean).
    let keep: Vec<usize> = (0..labels.len())
        .filter(|&r| !labels[r].is_empty())
        .collect();
    let x = m.inputs(&t)?.select(Axis(0), &keep);
    let labels: Vec<String> = keep.iter().map(|&r| labels[r].clone()).collect();
    if !labels.iter().any(|l| *l == a.control) {
        bail!(
            "{}: no row has {} = '{}' (the arithmetic subtracts the control mean)",
            a.input.display(),
            a.sample_column,
            a.control
        );
    }
    let real = latent_arithmetic(&m.vae, x.view(), &labels, &a.control)?;
    if real.is_empty() {
        bail!(
            "{}: no A|B label in {} with both A and B present",
            a.input.display(),
            a.moa_column
        );
    }
    let null = shuffled_null(&m.vae, x.view(), &labels, &a.control, a.shuffles, a.seed)?;
    let z = z_scores(&real, &null);
    let null_l2 = |target: &str| -> f64 {
        let v: Vec<f64> = null
            .iter()
            .filter_map(|n| n.iter().find(|r| r.target == target))
            .map(|r| r.l2)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let features = Array2::from_shape_fn((real.len(), 5), |(i, j)| match j {
        0 => real[i].l2,
        1 => real[i].pearson,
        2 => null_l2(&real[i].target),
        3 => z[i].1,
        _ => z[i].2,
    });
    let out = ProfileTable::new(
        "arithmetic",
        vec!["Metadata_target".into()],
        vec![real.iter().map(|r| r.target.clone()).collect()],
        ["l2", "pearson", "l2_shuffled_mean", "z", "p"]
            .map(String::from)
            .to_vec(),
        features,
    )?;
    write(&a.output, &out)?;
    let mean = |j: usize| out.features().column(j).mean().unwrap_or(f64::NAN);
    write_run(
        &a.output,
        &json!({"command": "profile-vae arithmetic", "model": a.model.model, "input": a.input,
                "control": a.control, "shuffles": a.shuffles, "seed": a.seed,
                "targets": real.len(), "mean_l2": mean(0), "mean_l2_shuffled": mean(2),
                "mean_pearson": mean(1)}),
    )?;
    say(
        q,
        &format!(
            "{} A|B targets: mean distance {:.4} (shuffled {:.4}), mean Pearson {:.3}; {}",
            real.len(),
            mean(0),
            mean(2),
            mean(1),
            a.output.display()
        ),
    );
    Ok(())
}
