//! The epoch loop every method reuses: learning-rate schedule, per-epoch seeded randomness,
//! progress bar, metrics as JSON lines, early stopping, checkpoints and resume.
//!
//! A method implements [`TrainTask`] (one step, optional validation, its state as tensors);
//! [`Trainer::run`] does the rest. Run directory layout:
//!
//! * `config.json` — the resolved [`TrainConfig`]
//! * `metrics.jsonl` — one line per finished epoch
//! * `checkpoints/last.{safetensors,json}` and `checkpoints/best.{…}` (with early stopping;
//!   the best epoch's state is written with the next `last` checkpoint)
//! * `summary.json` — written when the run ends
//!
//! * `fingerprint.json` — what defines the run ([`Fingerprint`]): written first, checked first
//!
//! Killed at any point, a run started again with the same directory resumes after its last
//! checkpoint and, because each epoch's randomness derives from (seed, epoch), ends with the
//! same weights as an uninterrupted run. A directory belongs to one run: started with another
//! fingerprint (config, seed, data, format), [`Trainer::claim`] refuses it before anything is
//! written, unless [`RunOptions::restart`] says to discard the old run.
//!
//! Training that diverges stops: a non-finite metric (loss) of a step is an error naming the
//! epoch and step, and no checkpoint with a non-finite weight is ever written.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::error::{CoreError, Result};
use crate::fingerprint::{Fingerprint, RUN_FORMAT};
use crate::rng::{epoch_rng, Rng};
use crate::schedule::LrSchedule;

/// Named scalar metrics of a step or an epoch.
pub type Metrics = BTreeMap<String, f64>;

/// Whether a monitored metric should go down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// Stop when `monitor` has not improved by `min_delta` for `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Metric name as in `metrics.jsonl` (e.g. `val_loss`).
    pub monitor: String,
    /// Whether that metric should fall or rise.
    pub mode: Mode,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
}

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to train (a resumed run may extend them).
    pub epochs: usize,
    /// Seed of every random choice of the loop (shuffling, augmentation, dropout).
    pub seed: u64,
    /// The rate the schedule scales.
    pub base_lr: f64,
    /// How the rate changes over epochs (constant by default).
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Stop early and keep a `best` checkpoint (none by default).
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Save `last` every this many epochs (and always at the end).
    #[serde(default = "one")]
    pub checkpoint_every: usize,
    /// No progress bar.
    #[serde(default)]
    pub quiet: bool,
}

fn one() -> usize {
    1
}

impl TrainConfig {
    /// At least one epoch, a checkpoint interval ≥ 1, a rate ≥ 0 and a valid schedule.
    pub fn check(&self) -> Result<()> {
        self.schedule.check()?;
        if self.epochs == 0 || self.checkpoint_every == 0 || !(self.base_lr >= 0.0) {
            return Err(CoreError::Config(format!(
                "epochs and checkpoint_every must be ≥ 1 and base_lr ≥ 0 (got {}, {}, {})",
                self.epochs, self.checkpoint_every, self.base_lr
            )));
        }
        Ok(())
    }
}

/// What a method supplies to be trained.
pub trait TrainTask {
    /// Steps (mini-batches) in one epoch.
    fn steps_per_epoch(&self) -> usize;
    /// One optimisation step; returns its metrics (e.g. `loss`), averaged over the epoch.
    fn train_step(&mut self, epoch: usize, step: usize, rng: &mut Rng) -> Result<Metrics>;
    /// Metrics after an epoch (e.g. `val_loss`); none by default.
    fn validate(&mut self, _epoch: usize) -> Result<Metrics> {
        Ok(Metrics::new())
    }
    /// Sets the optimiser's rate for the next epoch.
    fn set_learning_rate(&mut self, lr: f64);
    /// Everything needed to continue: model variables and optimiser state.
    fn state(&self) -> Result<HashMap<String, Tensor>>;
    /// Restores what [`TrainTask::state`] returned.
    fn load_state(&mut self, state: HashMap<String, Tensor>) -> Result<()>;
    /// Device the state is loaded onto.
    fn device(&self) -> Device {
        Device::Cpu
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// The rate used in it.
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Training metrics (averaged over its steps) and validation metrics.
    pub metrics: Metrics,
}

/// Progress saved with each checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    epochs_done: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    epochs_without_improvement: usize,
    stopped_early: bool,
    history: Vec<EpochRecord>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epochs completed in total, earlier runs included.
    pub epochs_done: usize,
    /// Epochs an earlier run had completed when this one resumed.
    pub resumed_from_epoch: Option<usize>,
    /// Early stopping ended the run.
    pub stopped_early: bool,
    /// Best value of the early-stopping metric (with early stopping).
    pub best: Option<f64>,
    /// Epoch of that value.
    pub best_epoch: Option<usize>,
    /// The last epoch's record.
    pub last: Option<EpochRecord>,
}

/// How a method's training entry point treats its run directory and terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// No progress bar.
    pub quiet: bool,
    /// Discard a different run found in the directory (its checkpoints, metrics and summary)
    /// instead of refusing it.
    pub restart: bool,
}

impl RunOptions {
    /// `quiet` as given, refusing another run's directory.
    pub fn quiet(quiet: bool) -> Self {
        Self {
            quiet,
            restart: false,
        }
    }
}

/// A plain `bool` is `quiet` (the older signature of the methods' `train` functions).
impl From<bool> for RunOptions {
    fn from(quiet: bool) -> Self {
        Self::quiet(quiet)
    }
}

/// What [`Trainer::claim`] found in the run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nothing of a run was there.
    New,
    /// The same run: it resumes after `epochs_done` epochs.
    Resume {
        /// Epochs the run had completed.
        epochs_done: usize,
    },
    /// Another run was there and was discarded (with [`RunOptions::restart`]).
    Restarted,
}

/// Runs a [`TrainTask`] in a run directory.
pub struct Trainer {
    /// Loop settings (checked).
    pub config: TrainConfig,
    /// Where checkpoints, `metrics.jsonl`, `config.json` and the fingerprint go.
    pub run_dir: PathBuf,
    /// What defines the run besides the loop settings (the method's config, data identity).
    pub fingerprint: Fingerprint,
    /// Discard another run found in `run_dir` instead of refusing it.
    pub restart: bool,
}

impl Trainer {
    /// Checks `config`; the fingerprint starts empty and restart off.
    pub fn new(config: TrainConfig, run_dir: impl Into<PathBuf>) -> Result<Self> {
        config.check()?;
        Ok(Self {
            config,
            run_dir: run_dir.into(),
            fingerprint: Fingerprint::new(),
            restart: false,
        })
    }

    /// Adds what defines the run beyond the loop's own settings: the method's resolved config,
    /// the identity of its data, its model version.
    pub fn with_fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = self.fingerprint.merge(&fingerprint);
        self
    }

    /// Discard another run found in the directory instead of refusing it.
    pub fn restart(mut self, restart: bool) -> Self {
        self.restart = restart;
        self
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.run_dir.join("checkpoints")
    }

    /// The full fingerprint: the format version, the loop settings that shape the weights
    /// (seed, rate, schedule, early stopping; not `epochs`, which may grow, nor `quiet`) and
    /// the method's entries.
    pub fn full_fingerprint(&self) -> Result<Fingerprint> {
        let c = &self.config;
        Ok(Fingerprint::new()
            .with("format", &RUN_FORMAT)?
            .with("train.seed", &c.seed)?
            .with("train.base_lr", &c.base_lr)?
            .with("train.schedule", &c.schedule)?
            .with("train.early_stopping", &c.early_stopping)?
            .merge(&self.fingerprint))
    }

    /// Checks that the run directory is new or holds this same run, before anything is
    /// written; with `restart`, discards another run's checkpoints, metrics and summary. Then
    /// records the fingerprint. Methods call it before writing their own files (split,
    /// config); [`Trainer::run`] calls it again (a no-op the second time).
    pub fn claim(&self) -> Result<Claim> {
        let dir = &self.run_dir;
        let new = self.full_fingerprint()?;
        let old = Fingerprint::read(dir)?;
        let last_json = self.checkpoint_dir().join("last.json");
        let has_run = last_json.exists() || dir.join("metrics.jsonl").exists();
        let claim = match old {
            Some(old) if old == new => {
                let epochs_done = match read_sidecar_progress(&last_json)? {
                    Some(p) => p.epochs_done,
                    None => 0,
                };
                if self.config.epochs < epochs_done {
                    return Err(CoreError::Run(format!(
                        "{}: {epochs_done} epochs are already done, more than the {} asked for \
                         (ask for ≥ {epochs_done} to continue, or restart the run)",
                        dir.display(),
                        self.config.epochs
                    )));
                }
                return Ok(if has_run {
                    Claim::Resume { epochs_done }
                } else {
                    Claim::New
                });
            }
            Some(old) if !self.restart => {
                let (key, was, now) = old.first_difference(&new).expect("they differ");
                return Err(CoreError::Run(format!(
                    "{} belongs to another run: {key} was {was}, now {now} (restart to discard \
                     that run — `--restart` on the command line — or use another directory)",
                    dir.display()
                )));
            }
            None if has_run && !self.restart => {
                return Err(CoreError::Run(format!(
                    "{} holds a run without a fingerprint (an older cellpaint wrote it), so it \
                     cannot be told apart from this one: restart to discard it (`--restart`) \
                     or use another directory",
                    dir.display()
                )));
            }
            _ if has_run || dir.join(crate::fingerprint::FILE).exists() => {
                self.discard_run()?;
                Claim::Restarted
            }
            _ => Claim::New,
        };
        new.write(dir)?;
        Ok(claim)
    }

    /// Removes what the loop wrote: checkpoints, metrics, summary, loop config, fingerprint.
    fn discard_run(&self) -> Result<()> {
        let io = |path: PathBuf| move |cause| CoreError::Io { path, cause };
        let ckpt = self.checkpoint_dir();
        if ckpt.exists() {
            std::fs::remove_dir_all(&ckpt).map_err(io(ckpt.clone()))?;
        }
        for f in [
            "metrics.jsonl",
            "summary.json",
            "config.json",
            crate::fingerprint::FILE,
        ] {
            let p = self.run_dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(io(p.clone()))?;
            }
        }
        Ok(())
    }

    /// Claims the run directory (refusing another run's, before writing), resumes from its
    /// `last` checkpoint if any, trains the remaining epochs with checkpoints, metrics and
    /// early stopping, and stops with [`CoreError::Diverged`] on a non-finite metric.
    pub fn run(&self, task: &mut impl TrainTask) -> Result<TrainSummary> {
        let cfg = &self.config;
        self.claim()?;
        profiles::write_json(&self.run_dir.join("config.json"), cfg)?;
        let mut progress = Progress::default();
        let mut resumed_from_epoch = None;
        if let Some((state, saved)) =
            load_checkpoint::<Progress>(&self.checkpoint_dir(), "last", &task.device())?
        {
            task.load_state(state)?;
            resumed_from_epoch = Some(saved.epochs_done);
            progress = saved;
        }
        write_history(&self.run_dir, &progress.history)?;
        let bar = if cfg.quiet {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new((cfg.epochs * task.steps_per_epoch()) as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps, epoch {msg} [{elapsed} < {eta}]",
            )
            .expect("valid template"),
        );
        bar.set_position((progress.epochs_done * task.steps_per_epoch()) as u64);
        let start_epoch = progress.epochs_done;
        let mut pending_best: Option<(HashMap<String, Tensor>, Progress)> = None;
        for epoch in start_epoch..cfg.epochs {
            if progress.stopped_early {
                break;
            }
            let started = Instant::now();
            let lr = cfg.schedule.lr_at(epoch, cfg.base_lr);
            task.set_learning_rate(lr);
            let mut rng = epoch_rng(cfg.seed, epoch);
            let mut sums = Metrics::new();
            let steps = task.steps_per_epoch();
            for step in 0..steps {
                for (k, v) in task.train_step(epoch, step, &mut rng)? {
                    if !v.is_finite() {
                        return Err(CoreError::Diverged(format!(
                            "epoch {}, step {}: {k} is {v}: training diverged (learning rate \
                             {lr:e} too high, or inputs not scaled); nothing of this epoch was \
                             saved",
                            epoch + 1,
                            step + 1
                        )));
                    }
                    *sums.entry(k).or_insert(0.0) += v;
                }
                bar.inc(1);
            }
            let mut metrics: Metrics = sums
                .into_iter()
                .map(|(k, v)| (k, v / steps.max(1) as f64))
                .collect();
            metrics.extend(task.validate(epoch)?);
            bar.set_message(format!(
                "{}/{} {}",
                epoch + 1,
                cfg.epochs,
                metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.4}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            let record = EpochRecord {
                epoch,
                lr,
                seconds: started.elapsed().as_secs_f64(),
                metrics,
            };
            append_history(&self.run_dir, &record)?;
            progress.history.push(record.clone());
            progress.epochs_done = epoch + 1;
            if let Some(es) = &cfg.early_stopping {
                let value = *record.metrics.get(&es.monitor).ok_or_else(|| {
                    CoreError::Config(format!(
                        "early stopping monitors '{}', but the epoch reported only: {}",
                        es.monitor,
                        record
                            .metrics
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                let improved = match (progress.best, es.mode) {
                    (None, _) => true,
                    (Some(b), Mode::Min) => value < b - es.min_delta,
                    (Some(b), Mode::Max) => value > b + es.min_delta,
                };
                if improved {
                    progress.best = Some(value);
                    progress.best_epoch = Some(epoch);
                    progress.epochs_without_improvement = 0;
                    // Kept in memory and written with the next `last` checkpoint: writing (and
                    // syncing) a best checkpoint at every improving epoch cost more than the
                    // epoch itself on small models (the profile VAE at one step per epoch).
                    // The snapshot is a copy: the task's tensors are updated in place.
                    let state = finite_state(task, epoch)?
                        .into_iter()
                        .map(|(k, t)| Ok((k, t.copy()?)))
                        .collect::<Result<HashMap<_, _>>>()?;
                    pending_best = Some((state, progress.clone()));
                } else {
                    progress.epochs_without_improvement += 1;
                    progress.stopped_early = progress.epochs_without_improvement >= es.patience;
                }
            }
            let last_epoch = epoch + 1 == cfg.epochs || progress.stopped_early;
            if (epoch + 1) % cfg.checkpoint_every == 0 || last_epoch {
                // Best before last: a run killed between the two resumes from the previous
                // `last`, whose progress names an older best epoch, and trains past it again.
                if let Some((state, at)) = pending_best.take() {
                    save_checkpoint(&self.checkpoint_dir(), "best", &state, &at)?;
                }
                let state = finite_state(task, epoch)?;
                save_checkpoint(&self.checkpoint_dir(), "last", &state, &progress)?;
            }
        }
        bar.finish_and_clear();
        let summary = TrainSummary {
            epochs_done: progress.epochs_done,
            resumed_from_epoch,
            stopped_early: progress.stopped_early,
            best: progress.best,
            best_epoch: progress.best_epoch,
            last: progress.history.last().cloned(),
        };
        profiles::write_json(&self.run_dir.join("summary.json"), &summary)?;
        Ok(summary)
    }
}

/// Number of non-finite values in a float tensor (0 for integer tensors).
pub fn count_non_finite(t: &candle_core::Tensor) -> Result<usize> {
    use candle_core::DType;
    if !matches!(
        t.dtype(),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64
    ) {
        return Ok(0);
    }
    let flat = t.flatten_all()?;
    Ok(if t.dtype() == DType::F64 {
        flat.to_vec1::<f64>()?
            .iter()
            .filter(|x| !x.is_finite())
            .count()
    } else {
        // f32 holds every f16/bf16 value; no f64 copy of the weights at each checkpoint.
        flat.to_dtype(DType::F32)?
            .to_vec1::<f32>()?
            .iter()
            .filter(|x| !x.is_finite())
            .count()
    })
}

/// The task's state, refused if any float tensor holds a non-finite value: a diverged model
/// is never saved.
fn finite_state(task: &impl TrainTask, epoch: usize) -> Result<HashMap<String, Tensor>> {
    let state = task.state()?;
    let mut names: Vec<&String> = state.keys().collect();
    names.sort();
    for name in names {
        let bad = count_non_finite(&state[name])?;
        if bad > 0 {
            return Err(CoreError::Diverged(format!(
                "epoch {}: {bad} non-finite values in '{name}' after the epoch's steps: training \
                 diverged (learning rate too high, or inputs not scaled); no checkpoint was saved",
                epoch + 1
            )));
        }
    }
    Ok(state)
}

/// The progress recorded in a checkpoint sidecar, without loading its tensors.
fn read_sidecar_progress(path: &Path) -> Result<Option<Progress>> {
    #[derive(Deserialize)]
    struct Meta {
        meta: Progress,
    }
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|cause| CoreError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let m: Meta = serde_json::from_str(&text).map_err(|e| CoreError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("unreadable sidecar JSON ({e})"),
    })?;
    Ok(Some(m.meta))
}

/// The per-epoch records of the run in `dir` (its `metrics.jsonl`), oldest first. A line that
/// is not a record is an error naming the file, its 1-based line and column.
pub fn read_history(dir: &Path) -> Result<Vec<EpochRecord>> {
    let path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|cause| CoreError::Io {
        path: path.clone(),
        cause,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                CoreError::Run(format!(
                    "{}: line {}, column {}: expected an epoch record ({e})",
                    path.display(),
                    i + 1,
                    e.column()
                ))
            })
        })
        .collect()
}

/// Rewrites `metrics.jsonl` to exactly the checkpointed history (dropping lines of epochs a
/// crash interrupted before their checkpoint).
fn write_history(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    profiles::write_atomic(&dir.join("metrics.jsonl"), |w| {
        for r in history {
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(())
}

fn append_history(dir: &Path, record: &EpochRecord) -> Result<()> {
    let path = dir.join("metrics.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|source| CoreError::Io {
            path: path.clone(),
            cause: source,
        })?;
    let mut line = serde_json::to_vec(record).map_err(|e| CoreError::Config(e.to_string()))?;
    line.push(b'\n');
    f.write_all(&line).map_err(|source| CoreError::Io {
        path,
        cause: source,
    })
}
