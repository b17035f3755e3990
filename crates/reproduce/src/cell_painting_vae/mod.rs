//! `reproduce cell-painting-vae`: Way et al. 2022 (PLOS Comp Bio), "Cell morphology readouts
//! and VAE latent spaces predict drug polypharmacology" — Table 1, Table 2 with the β sweep,
//! Figures 2/S4, S1–S3, S5, 3/S7, 4/S8/S9, S11 and S12 on the real LINCS and L1000 plates and a
//! simulated screen with known A|B = A + B.

pub mod data;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use cellpaint_core::{EarlyStopping, LrSchedule, Mode, TrainConfig};
use ndarray::{Array2, ArrayView2, Axis};
use profile_vae::{
    fit, latent_arithmetic, latent_correlation, latent_traversal, random_search, select_beta,
    shuffle_columns, shuffled_null, summarise_by_group, z_scores, ArithmeticResult, Embedding,
    FittedVae, Pca, RawFeatures, SearchParams, VaeConfig,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::figures::{dot_plot, heatmap, xy_chart, Series};
use crate::report::{sig, Claim, Report};
use crate::Options;
use data::{rows, split, Dataset};

const VARIANTS: [&str; 3] = ["vanilla", "beta", "mmd"];
const LABELS: [&str; 3] = ["Vanilla", "β", "MMD"];

/// What `--quick` changes; everything else is the paper's.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The CI-sized run.
    pub quick: bool,
    /// Seed of every split, initialisation and draw.
    pub seed: u64,
    /// Fraction of the paper's epochs trained (1 in the full run).
    pub epoch_scale: f64,
    /// Hyperparameter search (the paper's Figure 2 grid).
    pub search: SearchParams,
    /// β values of the β sweep.
    pub betas: Vec<f64>,
    /// The simulated screen with known polypharmacology.
    pub simulation: cellpaint_sim::SimConfig,
    /// Fewest Adam steps per model: the paper's epochs over its thousands of rows were
    /// thousands of steps, the same epochs over our few hundred rows only hundreds.
    pub min_steps: usize,
    /// Label shuffles for the arithmetic null (paper: 10).
    pub shuffles: usize,
    /// A|B targets left out and retrained without (paper: 5).
    pub leave_out: usize,
    /// Discard a VAE's earlier run whose settings or data differ instead of refusing it.
    pub restart: bool,
}

impl Settings {
    /// The paper's settings, or the quick run's with `quick`.
    pub fn new(quick: bool, seed: u64) -> Self {
        let mut search = SearchParams {
            seed,
            ..Default::default()
        };
        if quick {
            search.trials = 4;
            search.max_epochs = 20;
            search.patience = 5;
        }
        let simulation = if quick {
            cellpaint_sim::SimConfig {
                seed,
                ..Default::default()
            }
        } else {
            cellpaint_sim::SimConfig {
                seed,
                n_moas: 20,
                n_combinations: 20,
                ..Default::default()
            }
        };
        Self {
            quick,
            seed,
            epoch_scale: if quick { 0.3 } else { 1.0 },
            search,
            betas: if quick {
                vec![0.1, 0.3, 1.0, 3.0]
            } else {
                vec![0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0]
            },
            simulation,
            min_steps: if quick { 250 } else { 3000 },
            shuffles: 10,
            leave_out: if quick { 2 } else { 5 },
            restart: false,
        }
    }

    /// Epochs for a model the paper trained `paper` epochs, on `rows` rows in batches of `batch`.
    fn epochs(&self, paper: usize, rows: usize, batch: usize) -> usize {
        let per_epoch = rows.div_ceil(batch).max(1);
        ((paper as f64 * self.epoch_scale).round() as usize)
            .max(self.min_steps.div_ceil(per_epoch))
            .max(8)
    }
}

/// Reconstruction quality on held-out rows (in the scaled [0, 1] space, as the paper).
#[derive(Debug, Clone, Serialize)]
struct Quality {
    mse: f64,
    emd_mean: f64,
    emd_p05: f64,
    emd_p95: f64,
}

fn quality(vae: &FittedVae, test: ArrayView2<'_, f64>) -> Result<Quality> {
    let x = vae.scaler.transform(test)?;
    let r = vae.scaler.transform(vae.reconstruct(test)?.view())?;
    let mse = (&x - &r).mapv(|v| v * v).mean().unwrap_or(f64::NAN);
    let mut emd: Vec<f64> = x
        .outer_iter()
        .zip(r.outer_iter())
        .map(|(a, b)| profiling_eval::vae::emd_1d(&a.to_vec(), &b.to_vec()))
        .collect();
    emd.sort_by(f64::total_cmp);
    Ok(Quality {
        mse,
        emd_mean: emd.iter().sum::<f64>() / emd.len() as f64,
        emd_p05: profiles::stats::quantile_sorted(&emd, 0.05),
        emd_p95: profiles::stats::quantile_sorted(&emd, 0.95),
    })
}

fn vae_config(ds: &Dataset, variant: usize) -> VaeConfig {
    let h = &ds.hyper;
    let base = VaeConfig {
        hidden: vec![h.hidden],
        latent: h.latent,
        ..VaeConfig::vanilla(ds.x.ncols())
    };
    match variant {
        0 => base,
        1 => VaeConfig {
            beta: h.beta,
            ..base
        },
        _ => VaeConfig {
            beta: 0.0,
            mmd_lambda: h.mmd_lambda,
            ..base
        },
    }
}

fn train_config(epochs: usize, lr: f64, seed: u64, early: bool) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        base_lr: lr,
        schedule: LrSchedule::Constant,
        early_stopping: early.then(|| EarlyStopping {
            monitor: "val_loss".into(),
            mode: Mode::Min,
            patience: 10,
            min_delta: 0.0,
        }),
        checkpoint_every: 50,
        quiet: true,
    }
}

/// Validation reconstruction loss per epoch, from a run's metrics.jsonl.
fn curve(run_dir: &Path) -> Result<Vec<f64>> {
    Ok(cellpaint_core::read_history(run_dir)?
        .iter()
        .map(|r| r.metrics.get("val_recon").copied().unwrap_or(f64::NAN))
        .collect())
}

/// A dataset's three VAEs, their shuffled twins and the split.
struct Models {
    vaes: Vec<FittedVae>,
    quality: Vec<(Quality, Quality)>,
    curves: Vec<(Vec<f64>, Vec<f64>)>,
    train: Vec<usize>,
    test: Vec<usize>,
}

fn train_models(ds: &Dataset, s: &Settings, runs: &Path, log: &dyn Fn(&str)) -> Result<Models> {
    let (tr, va, te) = split(ds.x.nrows(), s.seed);
    let (train, val, test) = (rows(&ds.x, &tr), rows(&ds.x, &va), rows(&ds.x, &te));
    let shuffled = |x: &Array2<f64>, k: u64| shuffle_columns(x.view(), s.seed + k);
    let (strain, sval, stest) = (shuffled(&train, 1), shuffled(&val, 2), shuffled(&test, 3));
    let mut m = Models {
        vaes: Vec::new(),
        quality: Vec::new(),
        curves: Vec::new(),
        train: tr,
        test: te,
    };
    for (v, name) in VARIANTS.iter().enumerate() {
        log(&format!("  {}: {name} VAE and its shuffled twin", ds.key));
        let cfg = vae_config(ds, v);
        let epochs = s.epochs(ds.hyper.epochs[v], train.nrows(), ds.hyper.batch_size);
        let tc = train_config(epochs, ds.hyper.lr, s.seed, false);
        let dir = runs.join(ds.key).join(name);
        let sdir = runs.join(ds.key).join(format!("{name}_shuffled"));
        let (vae, _) = fit(
            cfg.clone(),
            train.view(),
            Some(val.view()),
            ds.hyper.batch_size,
            tc.clone(),
            &dir,
            s.restart,
        )?;
        let (svae, _) = fit(
            cfg,
            strain.view(),
            Some(sval.view()),
            ds.hyper.batch_size,
            tc,
            &sdir,
            s.restart,
        )?;
        m.quality
            .push((quality(&vae, test.view())?, quality(&svae, stest.view())?));
        m.curves.push((curve(&dir)?, curve(&sdir)?));
        m.vaes.push(vae);
    }
    Ok(m)
}

/// Trace of the covariance of `x`'s rows.
fn total_variance(x: ArrayView2<'_, f64>) -> f64 {
    let n = x.nrows() as f64;
    let mean = x.mean_axis(Axis(0)).expect("rows");
    (&x - &mean).mapv(|v| v * v).sum() / (n - 1.0).max(1.0)
}

fn mean_abs_offdiag(c: &Array2<f64>) -> f64 {
    let k = c.nrows();
    if k < 2 {
        return 0.0;
    }
    let s: f64 = c
        .indexed_iter()
        .filter(|((i, j), _)| i != j)
        .map(|(_, v)| v.abs())
        .sum();
    s / (k * (k - 1)) as f64
}

/// Latent features whose traversal moves the output by ≥ 10 % of the most active one.
fn active_latents(traversal: &Array2<f64>) -> usize {
    let norms: Vec<f64> = traversal
        .outer_iter()
        .map(|r| r.mapv(|v| v * v).sum().sqrt())
        .collect();
    let max = norms.iter().copied().fold(0.0, f64::max);
    norms.iter().filter(|&&n| n >= 0.1 * max && n > 0.0).count()
}

/// Arithmetic results for one embedding: real, shuffled null, z-scores.
#[derive(Debug, Clone, Serialize)]
struct Lsa {
    model: String,
    real: Vec<ArithmeticResult>,
    mean_l2: f64,
    mean_l2_shuffled: f64,
    mean_pearson: f64,
    mean_pearson_shuffled: f64,
    /// (target, z, p): negative z = closer than the shuffled predictions.
    z: Vec<(String, f64, f64)>,
}

fn mean_of(r: &[ArithmeticResult], f: impl Fn(&ArithmeticResult) -> f64) -> f64 {
    let v: Vec<f64> = r.iter().map(f).filter(|v| v.is_finite()).collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn lsa(
    name: &str,
    emb: &dyn Embedding,
    x: ArrayView2<'_, f64>,
    labels: &[String],
    s: &Settings,
) -> Result<Lsa> {
    let real = latent_arithmetic(emb, x, labels, "DMSO")?;
    let null = shuffled_null(emb, x, labels, "DMSO", s.shuffles, s.seed)?;
    let flat: Vec<ArithmeticResult> = null.iter().flatten().cloned().collect();
    Ok(Lsa {
        model: name.into(),
        mean_l2: mean_of(&real, |r| r.l2),
        mean_l2_shuffled: mean_of(&flat, |r| r.l2),
        mean_pearson: mean_of(&real, |r| r.pearson),
        mean_pearson_shuffled: mean_of(&flat, |r| r.pearson),
        z: z_scores(&real, &null),
        real,
    })
}

/// Rows with a label (annotated compounds and DMSO): the arithmetic's input.
fn annotated(ds: &Dataset) -> (Array2<f64>, Vec<String>) {
    let keep: Vec<usize> = (0..ds.labels.len())
        .filter(|&i| !ds.labels[i].is_empty())
        .collect();
    (
        rows(&ds.x, &keep),
        keep.iter().map(|&i| ds.labels[i].clone()).collect(),
    )
}

fn all_lsa(ds: &Dataset, m: &Models, s: &Settings) -> Result<Vec<Lsa>> {
    let (x, labels) = annotated(ds);
    let pca = Pca::fit(rows(&ds.x, &m.train).view(), ds.hyper.latent)?;
    let mut out = Vec::new();
    for (v, vae) in m.vaes.iter().enumerate() {
        out.push(lsa(LABELS[v], vae, x.view(), &labels, s)?);
    }
    out.push(lsa("PCA", &pca, x.view(), &labels, s)?);
    out.push(lsa("raw", &RawFeatures, x.view(), &labels, s)?);
    Ok(out)
}

/// Rank (0 = best) of each target by z within one model's results.
fn z_rank(l: &Lsa, target: &str) -> Option<usize> {
    let mut z: Vec<(&str, f64)> = l.z.iter().map(|(t, z, _)| (t.as_str(), *z)).collect();
    z.sort_by(|a, b| a.1.total_cmp(&b.1));
    z.iter().position(|(t, _)| *t == target)
}

fn fmt_q(q: &Quality) -> (String, String) {
    (
        sig(q.mse, 3),
        format!(
            "{} ({}, {})",
            sig(q.emd_mean, 2),
            sig(q.emd_p05, 2),
            sig(q.emd_p95, 2)
        ),
    )
}

/// The paper's Table 1: (dataset key, MSE per variant, shuffled MSE, EMD per variant, EMD shuffled).
const PAPER_TABLE1: [(&str, [&str; 3], [&str; 3], [&str; 3], [&str; 3]); 3] = [
    (
        "cp_level5",
        ["0.00387", "0.00272", "0.00435"],
        ["0.0088", "0.0088", "0.0088"],
        [
            "0.016 (0.006, 0.040)",
            "0.012 (0.005, 0.028)",
            "0.016 (0.005, 0.04)",
        ],
        [
            "0.024 (0.0096, 0.060)",
            "0.024 (0.01, 0.06)",
            "0.024 (0.01, 0.06)",
        ],
    ),
    (
        "cp_level4",
        ["0.00145", "0.00091", "0.00075"],
        ["0.0014", "0.0014", "0.0014"],
        [
            "0.006 (0.004, 0.009)",
            "0.0045 (0.002, 0.013)",
            "0.0039 (0.0022, 0.01)",
        ],
        [
            "0.0053 (0.004, 0.008)",
            "0.0051 (0.004, 0.008)",
            "0.0051 (0.004, 0.008)",
        ],
    ),
    (
        "l1000",
        ["0.85", "1.23", "1.27"],
        ["1.85", "2.10", "2.05"],
        [
            "0.249 (0.14, 0.36)",
            "0.445 (0.23, 0.73)",
            "0.475 (0.25, 0.79)",
        ],
        [
            "0.61 (0.28, 1.94)",
            "0.67 (0.29, 2.25)",
            "0.64 (0.29, 2.027)",
        ],
    ),
];

/// Paper's mean LSA L2 (real vs shuffled), CP level 5 and L1000.
const PAPER_LSA: [(&str, &str, &str); 5] = [
    ("Vanilla", "1.26 vs 1.35", "—"),
    ("β", "1.25 vs 1.38", "12.33 vs 13.50"),
    ("MMD", "1.22 vs 1.34", "12.27 vs 13.57"),
    ("PCA", "1.50 vs 1.59", "—"),
    ("raw", "1.55 vs 1.61", "—"),
];

/// Runs the reproduction into `opts.out`.
pub fn run(opts: &Options) -> Result<()> {
    let started = Instant::now();
    let s = Settings {
        restart: opts.restart,
        ..Settings::new(opts.quick, opts.seed)
    };
    let out = &opts.out;
    let crate::output::Output {
        figures: figs,
        runs,
    } = crate::output::prepare_output(opts, &s)?;
    let quiet = opts.quiet;
    let log = crate::output::progress(quiet, started);

    let data_dir = profiles::resolve_data_dir(opts.data.as_deref())?;
    let mut datasets: Vec<Dataset> = Vec::new();
    match &data_dir {
        Some(dir) => {
            log(&format!("reading real data from {}", dir.display()));
            let (l5, l4) = data::lincs(dir)?;
            datasets.push(l5);
            datasets.push(l4);
            datasets.push(data::l1000(dir)?);
        }
        None => log("no data directory: the real-data parts are skipped"),
    }
    log("simulating a screen");
    let (sim, screen) = data::simulated(&s.simulation)?;
    let n_combos = screen
        .truth
        .compounds
        .iter()
        .filter(|c| c.moas.len() == 2)
        .count();
    datasets.push(sim);

    let mut report =
        Report::new("Reproduction: VAEs on Cell Painting and L1000 profiles (Way et al. 2022)");
    let mut claims: Vec<Claim> = Vec::new();
    let mut metrics = serde_json::Map::new();
    report.para(&format!(
        "Mode: **{}** (seed {}). Data: {}. Simulated screen: {} wells × {} features, {} MOAs, \
         {} A|B compounds whose parts are on the screen (A|B = A + B, non-additivity {}). \
         Resolved settings: `config.json`; every number below is in `metrics.json`; each \
         model's run (config, scaler, weights, per-epoch `metrics.jsonl`) is under `{}`.",
        if s.quick { "quick" } else { "full" },
        s.seed,
        data_dir
            .as_ref()
            .map_or("none found (real-data parts skipped)".to_string(), |d| d
                .display()
                .to_string()),
        datasets.last().expect("sim").x.nrows(),
        datasets.last().expect("sim").x.ncols(),
        s.simulation.n_moas,
        n_combos,
        s.simulation.non_additivity,
        runs.strip_prefix(out).unwrap_or(&runs).display(),
    ));

    // Table 1 and the training curves.
    let mut all_models = Vec::new();
    for ds in &datasets {
        log(&format!(
            "training on {} ({} × {})",
            ds.name,
            ds.x.nrows(),
            ds.x.ncols()
        ));
        all_models.push(train_models(ds, &s, &runs, &log)?);
    }
    report.heading("Table 1: reconstruction of held-out profiles");
    report.para(
        "MSE and per-sample earth mover's distance (mean, with the 5th and 95th percentiles) on \
         the 10 % test split, in the min-max scaled space; each shuffled twin is trained and \
         tested on column-permuted data. Paper values in brackets. The paper's L1000 inputs \
         were scaled differently from ours, so only the ordering is comparable there.",
    );
    let mut t1 = Vec::new();
    for (ds, m) in datasets.iter().zip(&all_models) {
        let paper = PAPER_TABLE1.iter().find(|p| p.0 == ds.key);
        for v in 0..3 {
            let (q, sq) = &m.quality[v];
            let ((mse, emd), (smse, semd)) = (fmt_q(q), fmt_q(sq));
            let p = |col: &[&str; 3]| format!(" [{}]", col[v]);
            t1.push(vec![
                ds.name.to_string(),
                LABELS[v].to_string(),
                mse + &paper.map_or(String::new(), |p0| p(&p0.1)),
                smse + &paper.map_or(String::new(), |p0| p(&p0.2)),
                emd + &paper.map_or(String::new(), |p0| p(&p0.3)),
                semd + &paper.map_or(String::new(), |p0| p(&p0.4)),
            ]);
            let paper_holds = paper.map(|p0| {
                p0.1[v].parse::<f64>().unwrap_or(f64::NAN)
                    < p0.2[v].parse::<f64>().unwrap_or(f64::NAN)
            });
            claims.push(Claim::new(
                &format!("table1.{}.{}.mse_below_shuffled", ds.key, VARIANTS[v]),
                &format!(
                    "{} {}-VAE reconstructs test profiles better (MSE) than its shuffled-data twin",
                    ds.name, LABELS[v]
                ),
                paper.map_or("not in the paper".to_string(), |p0| {
                    format!(
                        "{} vs {}{}",
                        p0.1[v],
                        p0.2[v],
                        if paper_holds == Some(false) {
                            " (does not hold in the paper)"
                        } else {
                            ""
                        }
                    )
                }),
                format!("{} vs {}", sig(q.mse, 3), sig(sq.mse, 3)),
                Some(q.mse < sq.mse),
            ));
        }
        let best = (0..3)
            .min_by(|&a, &b| m.quality[a].0.mse.total_cmp(&m.quality[b].0.mse))
            .expect("3");
        if ds.key == "cp_level5" {
            claims.push(Claim::new(
                "table1.cp_level5.beta_best",
                "On Cell Painting level 5 the β-VAE reconstructs best of the three VAEs",
                "β 0.00272 < vanilla 0.00387 < MMD 0.00435",
                format!(
                    "vanilla {}, β {}, MMD {}",
                    sig(m.quality[0].0.mse, 3),
                    sig(m.quality[1].0.mse, 3),
                    sig(m.quality[2].0.mse, 3)
                ),
                Some(best == 1),
            ));
        }
        metrics.insert(
            format!("table1.{}", ds.key),
            json!(VARIANTS
                .iter()
                .zip(&m.quality)
                .map(|(v, (q, sq))| json!({"variant": v, "model": q, "shuffled": sq}))
                .collect::<Vec<_>>()),
        );
        // S1–S3: validation reconstruction per epoch, real vs shuffled.
        let mut series = Vec::new();
        for v in 0..3 {
            let (c, sc) = &m.curves[v];
            let pts = |c: &[f64]| {
                c.iter()
                    .enumerate()
                    .map(|(i, &y)| ((i + 1) as f64, y))
                    .collect()
            };
            series.push(Series::new(format!("{} real", LABELS[v]), pts(c)));
            series.push(Series::new(format!("{} shuffled", LABELS[v]), pts(sc)));
        }
        xy_chart(
            &figs.join(format!("s1-s3_curves_{}.svg", ds.key)),
            &format!("Validation reconstruction loss: {}", ds.name),
            "epoch",
            "val reconstruction (sum of squares)",
            &series,
            false,
            false,
        )?;
    }
    report.table(
        &["data", "VAE", "MSE", "MSE shuffled", "EMD", "EMD shuffled"],
        &t1,
    );
    for ds in &datasets {
        report.figure(
            &format!("figures/s1-s3_curves_{}.svg", ds.key),
            &format!("S1–S3: training curves, real vs shuffled, {}", ds.name),
        );
    }

    // Table 2: hyperparameter search and the β sweep, on level 5 (or the simulation).
    let (search_idx, search_ds) = datasets
        .iter()
        .enumerate()
        .find(|(_, d)| d.key == "cp_level5")
        .unwrap_or((datasets.len() - 1, datasets.last().expect("sim")));
    log(&format!(
        "hyperparameter search ({} trials) on {}",
        s.search.trials, search_ds.name
    ));
    let m = &all_models[search_idx];
    let (train, val) = (
        rows(&search_ds.x, &m.train),
        rows(&search_ds.x, &split(search_ds.x.nrows(), s.seed).1),
    );
    let base = VaeConfig {
        hidden: vec![search_ds.hyper.hidden],
        ..VaeConfig::vanilla(search_ds.x.ncols())
    };
    let trials = random_search(
        &base,
        train.view(),
        val.view(),
        &s.search,
        &runs.join("search"),
    )?;
    log(&format!("β sweep over {:?}", s.betas));
    let beta_cfg = vae_config(search_ds, 1);
    let (sweep, best_beta) = select_beta(
        &beta_cfg,
        train.view(),
        &s.betas,
        search_ds.hyper.batch_size,
        &train_config(
            s.epochs(
                search_ds.hyper.epochs[1],
                train.nrows(),
                search_ds.hyper.batch_size,
            ),
            search_ds.hyper.lr,
            s.seed,
            false,
        ),
        &runs.join("beta_sweep"),
    )?;
    report.heading("Table 2: hyperparameters");
    report.para(&format!(
        "Random search (seeded; the paper used Keras Tuner's Bayesian optimisation) over the \
         paper's space — latent 5–150 step 5, learning rate 10⁻²…10⁻⁵, batch 32–512 step 32, \
         encoder batch norm on/off — with β = 1, {} trials of at most {} epochs with early \
         stopping (patience {}), on {}. Best five:",
        s.search.trials, s.search.max_epochs, s.search.patience, search_ds.name
    ));
    let rows_t2: Vec<Vec<String>> = trials
        .iter()
        .take(5)
        .map(|t| {
            vec![
                t.latent.to_string(),
                format!("{:e}", t.learning_rate),
                t.batch_norm.to_string(),
                t.batch_size.to_string(),
                sig(t.val_loss, 4),
                t.epochs.to_string(),
            ]
        })
        .collect();
    report.table(
        &[
            "latent",
            "learning rate",
            "encoder BN",
            "batch",
            "val loss",
            "epochs",
        ],
        &rows_t2,
    );
    report.para(
        "Paper (Table 2): level 5 — latent 10, lr 0.001, BN true, batch 96, val loss 2.24; \
         level 4 — 90, 0.0001, true, 32, 0.74; L1000 — 65, 0.001, true, 512, 1363.45. The \
         models above Table 1 use the paper's values, so that the comparison is like for like.",
    );
    let winner = &trials[0];
    claims.push(Claim::new(
        "table2.small_latent",
        "A small latent space (≤ 20 of 5–150) is best on Cell Painting level 5",
        "latent 10",
        format!(
            "latent {} (lr {:e}, batch {}, BN {})",
            winner.latent, winner.learning_rate, winner.batch_size, winner.batch_norm
        ),
        Some(winner.latent <= 20),
    ));
    xy_chart(
        &figs.join("table2_beta_sweep.svg"),
        "β selection: Hausdorff distance of simulated to training profiles",
        "β",
        "symmetric Hausdorff distance",
        &[Series::new("β-VAE", sweep.clone())],
        true,
        false,
    )?;
    report.figure("figures/table2_beta_sweep.svg", "β sweep (lower is better)");
    let chosen = sweep[best_beta].0;
    claims.push(Claim::new(
        "table2.beta_below_one",
        "The Hausdorff-optimal β for Cell Painting level 5 is below 1",
        "β = 0.3",
        format!(
            "β = {chosen} (distances: {})",
            sweep
                .iter()
                .map(|(b, d)| format!("{b}: {}", sig(*d, 3)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(chosen < 1.0),
    ));
    metrics.insert("table2.search".into(), json!(trials));
    metrics.insert(
        "table2.beta_sweep".into(),
        json!({"scores": sweep, "best_beta": chosen}),
    );

    // Fig 2/S4: original, reconstructed and simulated test profiles in 2-D; spread of simulations.
    report.heading("Figures 2/S4: original, reconstructed and simulated profiles");
    report.para(
        "2-D PCA fitted on the original test profiles (scaled), with the β-VAE's \
         reconstructions and as many profiles decoded from N(0, I) projected into it. UMAP was \
         not used: no maintained Rust crate; PCA is linear and deterministic. The spread of \
         each model's simulations is their total variance relative to the real test set's.",
    );
    let mut spread_rows = Vec::new();
    for (ds, m) in datasets.iter().zip(&all_models) {
        let test = rows(&ds.x, &m.test);
        let vae = &m.vaes[1];
        let xs = vae.scaler.transform(test.view())?;
        let pca2 = Pca::fit(xs.view(), 2)?;
        let proj = |a: &Array2<f64>| -> Result<Vec<(f64, f64)>> {
            let p = pca2.transform(a.view())?;
            Ok(p.outer_iter().map(|r| (r[0], r[1])).collect())
        };
        let rec = vae.scaler.transform(vae.reconstruct(test.view())?.view())?;
        let simulated = vae
            .scaler
            .transform(vae.simulate(test.nrows(), s.seed)?.view())?;
        xy_chart(
            &figs.join(format!("fig2_embedding_{}.svg", ds.key)),
            &format!(
                "{}: test profiles, β-VAE reconstructions and simulations",
                ds.name
            ),
            "PC 1",
            "PC 2",
            &[
                Series::new("original", proj(&xs)?),
                Series::new("reconstructed", proj(&rec)?),
                Series::new("simulated", proj(&simulated)?),
            ],
            false,
            true,
        )?;
        report.figure(
            &format!("figures/fig2_embedding_{}.svg", ds.key),
            &format!("Fig 2/S4: {}", ds.name),
        );
        let real_var = total_variance(xs.view());
        let mut spread = Vec::new();
        for vae in &m.vaes {
            let sim = vae
                .scaler
                .transform(vae.simulate(test.nrows(), s.seed)?.view())?;
            spread.push(total_variance(sim.view()) / real_var);
        }
        spread_rows.push(vec![
            ds.name.to_string(),
            sig(spread[0], 3),
            sig(spread[1], 3),
            sig(spread[2], 3),
        ]);
        if ds.key == "cp_level5" || (ds.key == "simulated" && data_dir.is_none()) {
            claims.push(Claim::new(
                &format!("fig2.{}.vanilla_constricted", ds.key),
                "Simulated profiles are more constricted for the vanilla VAE than for the β- and MMD-VAEs",
                "visual (UMAP, Fig 2)",
                format!("variance of simulations / real: vanilla {}, β {}, MMD {}", sig(spread[0], 3), sig(spread[1], 3), sig(spread[2], 3)),
                Some(spread[0] < spread[1] && spread[0] < spread[2]),
            ));
        }
        metrics.insert(format!("fig2.{}.simulation_spread", ds.key), json!(spread));
    }
    report.table(&["data", "Vanilla", "β", "MMD"], &spread_rows);

    // S5: latent correlations; Fig 3/S7: traversals by feature group.
    report.heading("Figures S5, 3 and S7: latent correlations and traversals");
    let mut latent_rows = Vec::new();
    for (ds, m) in datasets.iter().zip(&all_models) {
        let z: Vec<Array2<f64>> = m
            .vaes
            .iter()
            .map(|v| v.embed(ds.x.view()))
            .collect::<Result<_, _>>()?;
        let corr: Vec<Array2<f64>> = z.iter().map(|z| latent_correlation(z.view())).collect();
        let offdiag: Vec<f64> = corr.iter().map(mean_abs_offdiag).collect();
        let pca = Pca::fit(rows(&ds.x, &m.train).view(), ds.hyper.latent)?;
        let mut traversals: Vec<(String, Array2<f64>)> = Vec::new();
        for (v, vae) in m.vaes.iter().enumerate() {
            traversals.push((
                LABELS[v].into(),
                latent_traversal(vae, ds.hyper.latent, 3.0)?,
            ));
        }
        // PCA's unit is one standard deviation of each component, as the VAE prior's.
        let sd: Vec<f64> = pca.explained_variance.iter().map(|v| v.sqrt()).collect();
        let mut pt = latent_traversal(&pca, ds.hyper.latent, 3.0)?;
        for (mut r, s) in pt.outer_iter_mut().zip(&sd) {
            r *= *s;
        }
        traversals.push(("PCA".into(), pt));
        let active: Vec<usize> = traversals.iter().map(|(_, t)| active_latents(t)).collect();
        latent_rows.push(vec![
            ds.name.to_string(),
            format!(
                "{} / {} / {}",
                sig(offdiag[0], 2),
                sig(offdiag[1], 2),
                sig(offdiag[2], 2)
            ),
            format!(
                "{} / {} / {} / {} of {}",
                active[0], active[1], active[2], active[3], ds.hyper.latent
            ),
        ]);
        metrics.insert(
            format!("latents.{}", ds.key),
            json!({"mean_abs_offdiagonal_correlation": offdiag, "active_latents_vanilla_beta_mmd_pca": active}),
        );
        if ds.key == "cp_level5" || (ds.key == "simulated" && data_dir.is_none()) {
            claims.push(Claim::new(
                &format!("s5.{}.beta_more_correlated", ds.key),
                "β-VAE latents are more correlated than the vanilla VAE's (reconstruction/disentanglement trade-off)",
                "S5 Fig (visual)",
                format!("mean |r| off-diagonal: vanilla {}, β {}", sig(offdiag[0], 3), sig(offdiag[1], 3)),
                Some(offdiag[1] > offdiag[0]),
            ));
            claims.push(Claim::new(
                &format!("s7.{}.mmd_all_active", ds.key),
                "All MMD-VAE latent features are active, while the β-VAE leaves some nearly unused",
                "MMD 10 of 10 active; β 5 of 10 encode little",
                format!(
                    "active (≥ 10 % of the strongest): MMD {}, β {} of {}",
                    active[2], active[1], ds.hyper.latent
                ),
                Some(active[2] == ds.hyper.latent && active[1] < ds.hyper.latent),
            ));
            heatmap(
                &figs.join(format!("s5_latent_correlation_{}.svg", ds.key)),
                &format!("S5: β-VAE latent correlation, {}", ds.name),
                &(0..ds.hyper.latent)
                    .map(|i| format!("z{i}"))
                    .collect::<Vec<_>>(),
                &(0..ds.hyper.latent)
                    .map(|i| format!("z{i}"))
                    .collect::<Vec<_>>(),
                corr[1].view(),
                -1.0,
                1.0,
            )?;
            report.figure(
                &format!("figures/s5_latent_correlation_{}.svg", ds.key),
                &format!("S5: {}", ds.name),
            );
            for (name, t) in &traversals {
                let g = summarise_by_group(t.view(), &ds.feature_names)?;
                // Normalised per group (column) as the paper's heatmap.
                let mut v = g.values.clone();
                for mut col in v.columns_mut() {
                    let max = col.iter().copied().fold(0.0, f64::max);
                    if max > 0.0 {
                        col /= max;
                    }
                }
                let file = format!(
                    "fig3_traversal_{}_{}.svg",
                    ds.key,
                    name.replace('β', "beta").to_lowercase()
                );
                heatmap(
                    &figs.join(&file),
                    &format!(
                        "Traversal ±3, mean |Δ| per feature group ({name}, {})",
                        ds.name
                    ),
                    &(0..ds.hyper.latent)
                        .map(|i| format!("z{i}"))
                        .collect::<Vec<_>>(),
                    &g.groups,
                    v.view(),
                    -1.0,
                    1.0,
                )?;
                report.figure(
                    &format!("figures/{file}"),
                    &format!("Fig 3/S7: {name}, {}", ds.name),
                );
                metrics.insert(format!("fig3.{}.{}", ds.key, name), json!(g));
            }
        }
    }
    report.table(
        &[
            "data",
            "mean |r| between latents (Vanilla / β / MMD)",
            "active latents (Vanilla / β / MMD / PCA)",
        ],
        &latent_rows,
    );

    // Fig 4/S8/S9/S11: latent space arithmetic.
    report.heading("Figures 4, S8, S9, S11: latent space arithmetic");
    report.para(
        "Prediction of A|B = decode(mean z(A) − mean z(DMSO) + mean z(B)) with μ as the \
         embedding (the reference used a sampled z); L2 and Pearson to the real mean A|B \
         profile, on all annotated rows; null = the MOA column shuffled 10 times. PCA has as \
         many components as the VAE's latent space.",
    );
    let mut lsa_rows = Vec::new();
    let mut sim_lsa: Option<Vec<Lsa>> = None;
    for (ds, m) in datasets.iter().zip(&all_models) {
        let (_, labels) = annotated(ds);
        let targets = profile_vae::valid_targets(&labels);
        if targets.is_empty() {
            lsa_rows.push(vec![
                ds.name.to_string(),
                "0 valid A|B targets".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            claims.push(Claim::new(
                &format!("fig4.{}.testable", ds.key),
                &format!("Latent space arithmetic on {}", ds.name),
                "214 two-MOA compounds over 136 plates",
                format!(
                    "no A|B label with both parts on this plate ({} labels)",
                    labels.iter().filter(|l| l.contains('|')).count()
                ),
                None,
            ));
            continue;
        }
        log(&format!(
            "latent space arithmetic on {} ({} targets)",
            ds.name,
            targets.len()
        ));
        let results = all_lsa(ds, m, &s)?;
        for r in &results {
            let paper = PAPER_LSA.iter().find(|p| p.0 == r.model).map_or("", |p| {
                if ds.key == "l1000" {
                    p.2
                } else {
                    p.1
                }
            });
            lsa_rows.push(vec![
                ds.name.to_string(),
                format!("{} ({} targets)", r.model, targets.len()),
                format!("{} vs {}", sig(r.mean_l2, 3), sig(r.mean_l2_shuffled, 3)),
                paper.to_string(),
                format!(
                    "{} vs {}",
                    sig(r.mean_pearson, 3),
                    sig(r.mean_pearson_shuffled, 3)
                ),
                format!(
                    "{} of {}",
                    r.z.iter().filter(|z| z.1 < 0.0).count(),
                    r.z.len()
                ),
            ]);
            if r.model != "raw" {
                claims.push(Claim::new(
                    &format!("fig4.{}.{}.real_below_shuffled", ds.key, r.model.replace('β', "beta").to_lowercase()),
                    &format!("{}: predicted A|B is closer to the real A|B with real than with shuffled MOA labels ({})", ds.name, r.model),
                    paper.to_string(),
                    format!("mean L2 {} vs {}", sig(r.mean_l2, 3), sig(r.mean_l2_shuffled, 3)),
                    Some(r.mean_l2 < r.mean_l2_shuffled),
                ));
            }
        }
        let l2 = |name: &str| {
            results
                .iter()
                .find(|r| r.model == name)
                .map_or(f64::NAN, |r| r.mean_l2)
        };
        let best_vae = ["Vanilla", "β", "MMD"]
            .into_iter()
            .min_by(|a, b| l2(a).total_cmp(&l2(b)))
            .expect("3");
        if ds.key != "l1000" {
            claims.push(Claim::new(
                &format!("fig4.{}.vae_beats_pca_and_raw", ds.key),
                &format!(
                    "{}: every VAE predicts A|B better (lower L2) than PCA and than raw features",
                    ds.name
                ),
                "VAEs 1.22–1.26 < PCA 1.50 < raw 1.55",
                format!(
                    "Vanilla {}, β {}, MMD {}, PCA {}, raw {}",
                    sig(l2("Vanilla"), 3),
                    sig(l2("β"), 3),
                    sig(l2("MMD"), 3),
                    sig(l2("PCA"), 3),
                    sig(l2("raw"), 3)
                ),
                Some(
                    ["Vanilla", "β", "MMD"]
                        .iter()
                        .all(|v| l2(v) < l2("PCA") && l2(v) < l2("raw")),
                ),
            ));
            claims.push(Claim::new(
                &format!("fig4.{}.mmd_best_vae", ds.key),
                &format!(
                    "{}: the MMD-VAE predicts A|B best of the three VAEs",
                    ds.name
                ),
                "MMD 1.22 < β 1.25 < vanilla 1.26",
                format!("best: {best_vae}"),
                Some(best_vae == "MMD"),
            ));
            let z_best = results
                .iter()
                .filter(|r| r.model != "raw")
                .map(|r| {
                    (
                        r.model.clone(),
                        r.z.iter().filter(|z| z.1 < 0.0).count() as f64 / r.z.len() as f64,
                    )
                })
                .collect::<Vec<_>>();
            claims.push(Claim::new(
                &format!("s11.{}.majority_better_than_random", ds.key),
                &format!(
                    "{}: for most A|B targets the real prediction beats the shuffled ones (z < 0)",
                    ds.name
                ),
                "majority of MOAs (S11 Fig)",
                z_best
                    .iter()
                    .map(|(m, f)| format!("{m} {:.0} %", f * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(
                    z_best
                        .iter()
                        .filter(|(m, _)| m != "PCA")
                        .all(|(_, f)| *f > 0.5),
                ),
            ));
        }
        let cats: Vec<String> = results.iter().map(|r| r.model.clone()).collect();
        dot_plot(
            &figs.join(format!("fig4_lsa_l2_{}.svg", ds.key)),
            &format!("Fig 4/S8: mean L2, predicted vs real A|B ({})", ds.name),
            "mean L2 (lower is better)",
            &cats,
            &[
                ("real".into(), results.iter().map(|r| r.mean_l2).collect()),
                (
                    "shuffled".into(),
                    results.iter().map(|r| r.mean_l2_shuffled).collect(),
                ),
            ],
        )?;
        dot_plot(
            &figs.join(format!("s9_lsa_pearson_{}.svg", ds.key)),
            &format!("S9: mean Pearson, predicted vs real A|B ({})", ds.name),
            "mean Pearson r (higher is better)",
            &cats,
            &[
                (
                    "real".into(),
                    results.iter().map(|r| r.mean_pearson).collect(),
                ),
                (
                    "shuffled".into(),
                    results.iter().map(|r| r.mean_pearson_shuffled).collect(),
                ),
            ],
        )?;
        let target_names: Vec<String> = results[0].z.iter().map(|z| z.0.clone()).collect();
        let zmat = Array2::from_shape_fn((cats.len(), target_names.len()), |(i, j)| {
            results[i]
                .z
                .iter()
                .find(|z| z.0 == target_names[j])
                .map_or(f64::NAN, |z| z.1)
        });
        heatmap(
            &figs.join(format!("s11_zscores_{}.svg", ds.key)),
            &format!(
                "S11: per-target z of the L2 distance ({}; negative = better than shuffled)",
                ds.name
            ),
            &cats,
            &target_names,
            zmat.view(),
            -3.0,
            3.0,
        )?;
        for (f, c) in [
            (format!("fig4_lsa_l2_{}.svg", ds.key), "Fig 4/S8: mean L2"),
            (format!("s9_lsa_pearson_{}.svg", ds.key), "S9: mean Pearson"),
            (
                format!("s11_zscores_{}.svg", ds.key),
                "S11: per-target z-scores",
            ),
        ] {
            report.figure(&format!("figures/{f}"), &format!("{c}, {}", ds.name));
        }
        metrics.insert(format!("lsa.{}", ds.key), json!(results));
        if ds.key == "simulated" {
            sim_lsa = Some(results);
        }
    }
    report.table(
        &[
            "data",
            "space",
            "mean L2 real vs shuffled",
            "paper (CP level 5 / L1000)",
            "mean Pearson real vs shuffled",
            "targets with z < 0",
        ],
        &lsa_rows,
    );

    // S12: leave the best-predicted targets (and their parts) out of training, retrain, re-rank.
    if let Some(results) = sim_lsa {
        let (si, ds) = datasets
            .iter()
            .enumerate()
            .find(|(_, d)| d.key == "simulated")
            .expect("sim");
        let m = &all_models[si];
        let mut by_z = results[2].z.clone();
        by_z.sort_by(|a, b| a.1.total_cmp(&b.1));
        let k = s.leave_out.min(by_z.len().saturating_sub(1)).max(1);
        let left_out: Vec<String> = by_z.iter().take(k).map(|z| z.0.clone()).collect();
        log(&format!("leave-{k}-out retraining without {left_out:?}"));
        let drop: std::collections::HashSet<&str> = left_out
            .iter()
            .flat_map(|t| {
                let (a, b) = t.split_once('|').expect("A|B");
                [t.as_str(), a, b]
            })
            .collect();
        let keep: Vec<usize> = m
            .train
            .iter()
            .copied()
            .filter(|&i| !drop.contains(ds.labels[i].as_str()))
            .collect();
        let (_, va, _) = split(ds.x.nrows(), s.seed);
        let val: Vec<usize> = va
            .into_iter()
            .filter(|&i| !drop.contains(ds.labels[i].as_str()))
            .collect();
        let (x, labels) = annotated(ds);
        let mut s12 = Vec::new();
        for v in 0..3 {
            let (vae, _) = fit(
                vae_config(ds, v),
                rows(&ds.x, &keep).view(),
                Some(rows(&ds.x, &val).view()),
                ds.hyper.batch_size,
                train_config(
                    s.epochs(ds.hyper.epochs[v], keep.len(), ds.hyper.batch_size),
                    ds.hyper.lr,
                    s.seed,
                    false,
                ),
                &runs.join("leave_out").join(VARIANTS[v]),
                s.restart,
            )?;
            let after = lsa(LABELS[v], &vae, x.view(), &labels, &s)?;
            let before = &results[v];
            let ranks: Vec<(String, usize, usize)> = left_out
                .iter()
                .map(|t| {
                    (
                        t.clone(),
                        z_rank(before, t).unwrap_or(usize::MAX),
                        z_rank(&after, t).unwrap_or(usize::MAX),
                    )
                })
                .collect();
            s12.push((LABELS[v], ranks, after));
        }
        let n_targets = results[0].z.len();
        report.heading("Figure S12: leave-out retraining");
        report.para(&format!(
            "The {k} targets best predicted by the MMD-VAE ({}) and their single-MOA parts are \
             removed from training; each VAE is retrained and the arithmetic repeated on all \
             rows. Rank by z among {n_targets} targets (1 = best), before → after:",
            left_out.join(", ")
        ));
        let rows_s12: Vec<Vec<String>> = s12
            .iter()
            .map(|(name, ranks, _)| {
                let mut r = vec![name.to_string()];
                r.extend(
                    ranks
                        .iter()
                        .map(|(_, b, a)| format!("{} → {}", b + 1, a + 1)),
                );
                r
            })
            .collect();
        let mut header = vec!["VAE"];
        header.extend(left_out.iter().map(String::as_str));
        report.table(&header, &rows_s12);
        let mean_after: Vec<f64> = s12
            .iter()
            .map(|(_, r, _)| r.iter().map(|x| x.2 as f64).sum::<f64>() / r.len() as f64)
            .collect();
        claims.push(Claim::new(
            "s12.simulated.left_out_stay_top",
            "Targets left out of training (with their parts) remain among the better-predicted half after retraining",
            "the five left-out MOAs remain among the best predicted (S12A)",
            format!(
                "mean rank after retraining (0-based, of {n_targets}): {}",
                LABELS.iter().zip(&mean_after).map(|(l, r)| format!("{l} {r:.1}")).collect::<Vec<_>>().join(", ")
            ),
            Some(mean_after.iter().all(|&r| r < n_targets as f64 / 2.0)),
        ));
        metrics.insert(
            "s12.simulated".into(),
            json!(s12
                .iter()
                .map(|(n, r, a)| json!({"model": n, "ranks_before_after": r, "after": a}))
                .collect::<Vec<_>>()),
        );
    }

    let held = claims.iter().filter(|c| c.holds == Some(true)).count();
    let failed = claims.iter().filter(|c| c.holds == Some(false)).count();
    let untestable = claims.len() - held - failed;
    report.heading("Claims");
    report.para(&format!(
        "{held} hold, {failed} do not, {untestable} cannot be tested on this data (also in `claims.json`)."
    ));
    report.claims(&claims);
    report.heading("What differs from the paper");
    report.para(
        "- The real Cell Painting data is one LINCS plate (384 wells, 454 features after the \
           upstream feature selection), not 136 plates with 588 features; level 5 here is the \
           MODZ consensus of that plate per compound and dose, so it has ~340 rows instead of \
           thousands. Its A|B compounds' single-MOA parts are not on this plate, so the \
           arithmetic is tested on the simulated screen (and on the one L1000 target).\n\
         - Inputs are min-max scaled for every dataset, L1000 included; λ for the L1000 MMD-VAE \
           is 10⁴ instead of 10⁷ for that reason.\n\
         - Embeddings use μ, not a sampled z (the reference's choice makes the arithmetic \
           stochastic).\n\
         - 2-D embeddings are PCA, not UMAP; hyperparameter search is random, not Bayesian.\n\
         - The simulated screen's A|B effects are additive by construction, so raw-feature \
           arithmetic is close to optimal there; whether VAEs beat raw features is a property \
           of real data the simulation cannot settle.",
    );
    report.para(&format!(
        "Wall time: {:.1} s on this machine ({} mode).",
        started.elapsed().as_secs_f64(),
        if s.quick { "quick" } else { "full" }
    ));
    metrics.insert(
        "wall_seconds".into(),
        json!(started.elapsed().as_secs_f64()),
    );
    profiles::write_json(&out.join("metrics.json"), &Value::Object(metrics))?;
    crate::report::write_report(out, &report, &claims)?;
    log(&format!(
        "done: {held} claims hold, {failed} do not, {untestable} untestable → {}",
        out.join("report.md").display()
    ));
    Ok(())
}
