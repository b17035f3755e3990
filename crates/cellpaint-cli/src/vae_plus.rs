//! `cellpaint vae-plus train|embed|reconstruct|interpolate|evaluate`: the convolutional AE, VAE
//! and VAE+ of Lafarge et al. on single-cell crop packs (a `.npz` of uint16 `[N, H, W, C]` crops
//! with its `_index.csv`, as the BBBC021 pack of the shared data), from the shell.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use crate::training::ModelArg;
use cyto_vaegan::interpolate::{closest_to_mean, interpolate};
use cyto_vaegan::profile::{
    moa_accuracy, treatment_profiles, whiten_by_plate, ProfileParams, Summary,
};
use cyto_vaegan::quality::reconstruction_quality;
use cyto_vaegan::{read_bbbc021, CropMeta, FittedVaeGan, VaeGanConfig, Variant};
use ndarray::Axis;
use profiles::{ProfileTable, ReadOptions};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum VaePlusCommand {
    /// Train the AE, VAE or VAE+ on a crop pack (resumes the same run found in --out).
    Train(TrainArgs),
    /// Each crop's embedding (the latent mean): the crop's metadata, then `z_1` … `z_k`.
    Embed(EmbedArgs),
    /// Reconstruct a seeded sample of crops: MSE, SSIM and sharpness against the originals.
    Reconstruct(ReconstructArgs),
    /// Walk the latent space from one treatment's typical cell to another's (the paper's
    /// Figure 3): cosine of each step's re-encoded embedding to the target's.
    Interpolate(InterpolateArgs),
    /// NSC and NSCB (1-NN MOA accuracy of treatment profiles, cosine) of `embed` output, in the
    /// four profile variants of the paper's Table 1.
    Evaluate(EvaluateArgs),
}

/// Which network (the paper's three).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantArg {
    Ae,
    Vae,
    #[value(name = "vae-plus")]
    VaePlus,
}

impl From<VariantArg> for Variant {
    fn from(v: VariantArg) -> Self {
        match v {
            VariantArg::Ae => Variant::Ae,
            VariantArg::Vae => Variant::Vae,
            VariantArg::VaePlus => Variant::VaePlus,
        }
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Crop pack: `<name>.npz` (array `crops`) beside `<name>_index.csv`.
    pub crops: PathBuf,
    /// Run directory: config, metrics.jsonl, checkpoints, the model.
    #[arg(long)]
    pub out: PathBuf,
    /// Settings as JSON (strict: cyto-vaegan's `VaeGanConfig`); the paper's for the variant
    /// when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The network; without --config, the paper's settings for it (default VAE+).
    #[arg(long, value_enum)]
    pub variant: Option<VariantArg>,
    /// Overrides the config's iterations.
    #[arg(long)]
    pub iterations: Option<usize>,
    #[command(flatten)]
    pub run: crate::training::RunArgs,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArg,
    pub crops: PathBuf,
    /// Output table, one row per crop.
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct ReconstructArgs {
    #[command(flatten)]
    pub model: ModelArg,
    pub crops: PathBuf,
    /// Crops to reconstruct (a seeded sample; all when there are fewer).
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InterpolateArgs {
    #[command(flatten)]
    pub model: ModelArg,
    pub crops: PathBuf,
    /// Start: a compound (all its concentrations) or `compound@concentration`.
    #[arg(long)]
    pub from: String,
    /// Target, the same way.
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value_t = 8)]
    pub steps: usize,
    /// Also write the JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Crop embeddings (`vae-plus embed` output: Metadata_plate/well/site/compound/
    /// concentration/moa/batch, then the features).
    pub embeddings: PathBuf,
    /// The control compound (unlabelled in the classification; whitening is fit on it).
    #[arg(long, default_value = "DMSO")]
    pub control: String,
    /// Also write the JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn say(quiet: bool, m: &str) {
    if !quiet {
        eprintln!("{m}");
    }
}

const META: [&str; 7] = [
    "Metadata_plate",
    "Metadata_well",
    "Metadata_site",
    "Metadata_compound",
    "Metadata_concentration",
    "Metadata_moa",
    "Metadata_batch",
];

fn load(m: &ModelArg, crops: &Path) -> Result<(FittedVaeGan, cyto_vaegan::CropSet)> {
    let model = FittedVaeGan::load(&m.model, &m.device.device()?)?;
    let set = read_bbbc021(crops, &model.config.arch)?;
    Ok((model, set))
}

/// Rows of the crops of `which`: a compound, or `compound@concentration`.
fn rows_of(meta: &[CropMeta], which: &str, source: &Path) -> Result<Vec<usize>> {
    let rows: Vec<usize> = (0..meta.len())
        .filter(|&r| meta[r].compound == which || meta[r].treatment() == which)
        .collect();
    if rows.is_empty() {
        let mut known: Vec<String> = meta.iter().map(CropMeta::treatment).collect();
        known.sort();
        known.dedup();
        bail!(
            "{}: no crop of '{which}' (treatments: {})",
            source.display(),
            known.join(", ")
        );
    }
    Ok(rows)
}

fn print_json(out: Option<&Path>, v: &serde_json::Value) -> Result<()> {
    if let Some(o) = out {
        profiles::write_json(o, v)?;
    }
    crate::print_line(&v.to_string())
}

pub fn run(cmd: VaePlusCommand, q: bool) -> Result<()> {
    match cmd {
        VaePlusCommand::Train(a) => {
            let mut cfg = match &a.config {
                Some(p) => {
                    let c: VaeGanConfig = crate::training::read_config(p)?;
                    if let Some(v) = a.variant {
                        if c.variant != Variant::from(v) {
                            bail!(
                                "--variant {} disagrees with {}'s variant {}",
                                Variant::from(v).slug(),
                                p.display(),
                                c.variant.slug()
                            );
                        }
                    }
                    c
                }
                None => VaeGanConfig::paper(a.variant.map_or(Variant::VaePlus, Variant::from)),
            };
            cfg.iterations = a.iterations.unwrap_or(cfg.iterations);
            cfg.check()?;
            let crops = read_bbbc021(&a.crops, &cfg.arch)?;
            say(
                q,
                &format!(
                    "{} crops; {} for {} iterations of batch {}",
                    crops.len(),
                    cfg.variant.name(),
                    cfg.iterations,
                    cfg.batch_size
                ),
            );
            let m = cyto_vaegan::fit(
                &cfg,
                &crops,
                &a.out,
                a.run.seed,
                a.run.options(q),
                &a.run.device.device()?,
            )?;
            profiles::write_json(
                &a.out.join("train.run.json"),
                &json!({"command": "vae-plus train", "crops": a.crops, "seed": a.run.seed,
                        "device": a.run.device, "config": m.config, "n_crops": crops.len()}),
            )?;
            say(q, &format!("trained; model in {}", a.out.display()));
            Ok(())
        }
        VaePlusCommand::Embed(a) => {
            let (model, crops) = load(&a.model, &a.crops)?;
            let z = model.embed(&crops)?.mapv(f64::from);
            let cols: Vec<Vec<String>> = (0..META.len())
                .map(|j| {
                    crops
                        .meta
                        .iter()
                        .map(|m| {
                            match j {
                                0 => &m.plate,
                                1 => &m.well,
                                2 => &m.site,
                                3 => &m.compound,
                                4 => &m.concentration,
                                5 => &m.moa,
                                _ => &m.batch,
                            }
                            .clone()
                        })
                        .collect()
                })
                .collect();
            let names = (1..=z.ncols()).map(|k| format!("z_{k}")).collect();
            let t = ProfileTable::new(
                a.crops.display().to_string(),
                META.map(String::from).to_vec(),
                cols,
                names,
                z,
            )?;
            profiles::write_table(&t, &a.output)
                .with_context(|| format!("writing {}", a.output.display()))?;
            let mut run = a.output.as_os_str().to_owned();
            run.push(".run.json");
            profiles::write_json(
                Path::new(&run),
                &json!({"command": "vae-plus embed", "model": a.model.model, "crops": a.crops,
                        "n_crops": t.n_rows(), "latent": t.n_features()}),
            )?;
            say(
                q,
                &format!(
                    "{} crops → {}-d in {}",
                    t.n_rows(),
                    t.n_features(),
                    a.output.display()
                ),
            );
            Ok(())
        }
        VaePlusCommand::Reconstruct(a) => {
            let (model, crops) = load(&a.model, &a.crops)?;
            if a.count == 0 {
                bail!("--count must be ≥ 1");
            }
            use rand::seq::index::sample;
            let n = a.count.min(crops.len());
            let mut rows =
                sample(&mut cellpaint_core::rng::seeded_rng(a.seed), crops.len(), n).into_vec();
            rows.sort_unstable();
            let rec = model.reconstruct(&crops, &rows)?;
            let originals = crops.pixels.select(Axis(0), &rows);
            let qual =
                reconstruction_quality(originals.axis_iter(Axis(0)).zip(rec.axis_iter(Axis(0))));
            print_json(
                a.out.as_deref(),
                &json!({"model": a.model.model, "crops": a.crops, "n": n, "seed": a.seed,
                        "mse": qual.mse, "ssim": qual.ssim,
                        "high_frequency_energy_ratio": qual.sharpness}),
            )
        }
        VaePlusCommand::Interpolate(a) => {
            let (model, crops) = load(&a.model, &a.crops)?;
            let z = model.embed(&crops)?;
            let pick = |which: &str| -> Result<usize> {
                let rows = rows_of(&crops.meta, which, &a.crops)?;
                closest_to_mean(z.view(), &rows).context("no crop to start from")
            };
            let (from, to) = (pick(&a.from)?, pick(&a.to)?);
            let path = interpolate(
                &model,
                z.row(from).as_slice().expect("row"),
                z.row(to).as_slice().expect("row"),
                a.steps,
            )?;
            let rising = path
                .cosine_to_target
                .windows(2)
                .filter(|w| w[1] > w[0])
                .count();
            print_json(
                a.out.as_deref(),
                &json!({"model": a.model.model, "from": a.from, "to": a.to,
                        "from_crop": from, "to_crop": to, "steps": a.steps,
                        "cosine_to_target": path.cosine_to_target,
                        "rising_steps": rising}),
            )
        }
        VaePlusCommand::Evaluate(a) => {
            let t = profiles::read_table(&a.embeddings, &ReadOptions::default())?;
            t.require_finite("embeddings must be finite")?;
            let col = |n: &str| t.metadata(n).map(<[String]>::to_vec);
            let c: Vec<Vec<String>> = META.iter().map(|n| col(n)).collect::<Result<_, _>>()?;
            let meta: Vec<CropMeta> = (0..t.n_rows())
                .map(|r| CropMeta {
                    plate: c[0][r].clone(),
                    well: c[1][r].clone(),
                    site: c[2][r].clone(),
                    compound: c[3][r].clone(),
                    concentration: c[4][r].clone(),
                    moa: c[5][r].clone(),
                    batch: c[6][r].clone(),
                })
                .collect();
            let mut out = json!({"embeddings": a.embeddings, "crops": t.n_rows()});
            for (name, mut p) in ProfileParams::table1() {
                p.control = a.control.clone();
                let x = if p.whiten {
                    whiten_by_plate(t.features(), &meta, &p.control, p.lambda)?
                } else {
                    t.features().to_owned()
                };
                let profiles = treatment_profiles(x.view(), &meta, &p)?;
                let acc = moa_accuracy(&profiles)?;
                out[name] = json!({
                    "summary": match p.summary { Summary::Mean => "mean", Summary::MeanSd => "mean+sd" },
                    "whitened": p.whiten, "treatments": profiles.n_rows(),
                    "nsc": acc.nsc.accuracy, "nsc_queries": acc.nsc.n_queries,
                    "nscb": acc.nscb.as_ref().map(|r| r.accuracy),
                    "nscb_queries": acc.nscb.as_ref().map(|r| r.n_queries),
                });
            }
            print_json(a.out.as_deref(), &out)
        }
    }
}
