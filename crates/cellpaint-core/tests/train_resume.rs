//! The training loop on a seeded regression: it learns, resumes bit-for-bit after a crash,
//! and stops early.

use std::collections::HashMap;

use cellpaint_core::candle::{DType, Device, Module, Tensor};
use cellpaint_core::rng::Rng;
use cellpaint_core::*;
use rand::Rng as _;

struct Regression {
    map: SeededVarMap,
    model: candle_nn::Linear,
    opt: AnyOptimizer,
    x: Tensor,
    y: Tensor,
    crash_at_epoch: Option<usize>,
    /// From this epoch on, steps report a NaN loss.
    nan_loss_at_epoch: Option<usize>,
    /// After this epoch's last step, the weights are set to NaN (the loss reported stays finite).
    nan_weights_at_epoch: Option<usize>,
    /// Reported as `val_loss` of each epoch instead of the real one (to place the best epoch).
    val_losses: Option<Vec<f64>>,
    /// The weights at each validation, oldest first.
    seen_weights: Vec<Vec<f32>>,
}

impl Regression {
    fn new(seed: u64, crash_at_epoch: Option<usize>) -> Self {
        // y = x·[1, −2, 0.5, 3] + 0.7 + noise, 256 rows, from a fixed data seed.
        let mut rng = rng::seeded_rng(99);
        let xs: Vec<f32> = (0..256 * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w = [1.0f32, -2.0, 0.5, 3.0];
        let ys: Vec<f32> = xs
            .chunks(4)
            .map(|r| {
                r.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>()
                    + 0.7
                    + rng.random_range(-0.05..0.05)
            })
            .collect();
        let map = SeededVarMap::new(seed);
        let model =
            candle_nn::linear(4, 1, map.var_builder(DType::F32, &Device::Cpu).pp("fc")).unwrap();
        let vars = map.named_vars().into_iter().map(|(_, v)| v).collect();
        let opt = OptimizerConfig::Sgd(SgdParams {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            ..Default::default()
        })
        .build(vars)
        .unwrap();
        Self {
            map,
            model,
            opt,
            x: Tensor::from_vec(xs, (256, 4), &Device::Cpu).unwrap(),
            y: Tensor::from_vec(ys, (256, 1), &Device::Cpu).unwrap(),
            crash_at_epoch,
            nan_loss_at_epoch: None,
            nan_weights_at_epoch: None,
            val_losses: None,
            seen_weights: Vec::new(),
        }
    }
    fn mse(&self, x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        (self.model.forward(x)? - y)?.sqr()?.mean_all()
    }
}

impl TrainTask for Regression {
    fn steps_per_epoch(&self) -> usize {
        8
    }
    fn train_step(&mut self, epoch: usize, step: usize, rng: &mut Rng) -> Result<Metrics> {
        if Some(epoch) == self.crash_at_epoch {
            return Err(CoreError::Config("simulated crash".into()));
        }
        let idx: Vec<u32> = (0..32).map(|_| rng.random_range(0..256u32)).collect();
        let idx = Tensor::new(idx.as_slice(), &Device::Cpu)?;
        let loss = self.mse(
            &self.x.index_select(&idx, 0)?,
            &self.y.index_select(&idx, 0)?,
        )?;
        self.opt.backward_step(&loss)?;
        if Some(epoch) == self.nan_weights_at_epoch && step + 1 == self.steps_per_epoch() {
            let w = &self.map.named_vars()[0].1;
            w.set(&(w.as_tensor() * f64::NAN)?)?;
        }
        let mut l = loss.to_scalar::<f32>()? as f64;
        if self.nan_loss_at_epoch.is_some_and(|e| epoch >= e) {
            l = f64::NAN;
        }
        Ok(Metrics::from([("loss".into(), l)]))
    }
    fn validate(&mut self, epoch: usize) -> Result<Metrics> {
        self.seen_weights.push(weights(self));
        let mut l = self.mse(&self.x, &self.y)?.to_scalar::<f32>()? as f64;
        if let Some(v) = &self.val_losses {
            l = v[epoch];
        }
        Ok(Metrics::from([("val_loss".into(), l)]))
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.set_learning_rate(lr)
    }
    fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut s = self.map.tensors();
        s.extend(self.opt.state()?);
        Ok(s)
    }
    fn load_state(&mut self, state: HashMap<String, Tensor>) -> Result<()> {
        self.map.load_tensors(&state)?;
        self.opt.load_state(&state)
    }
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 3,
        base_lr: 0.05,
        schedule: LrSchedule::MultiStep {
            milestones: vec![4],
            gamma: 0.5,
        },
        early_stopping: None,
        checkpoint_every: 1,
        quiet: true,
    }
}

fn weights(t: &Regression) -> Vec<f32> {
    t.map.tensors()["fc.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn history(dir: &std::path::Path) -> Vec<EpochRecord> {
    read_history(dir).unwrap()
}

#[test]
fn a_bad_history_line_is_named_by_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let mut t = Regression::new(1, None);
    Trainer::new(config(2), d.path())
        .unwrap()
        .run(&mut t)
        .unwrap();
    let path = d.path().join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"epoch\": \"two\"}\n");
    std::fs::write(&path, text).unwrap();
    let e = read_history(d.path()).unwrap_err().to_string();
    assert!(
        e.contains("metrics.jsonl: line 3, column ") && e.contains("expected an epoch record"),
        "{e}"
    );
    assert!(read_history(&d.path().join("absent")).is_err());
}

#[test]
fn learns_and_resumes_bit_for_bit_after_a_crash() {
    let a = tempfile::tempdir().unwrap();
    let mut straight = Regression::new(1, None);
    let first = straight.validate(0).unwrap()["val_loss"];
    let summary = Trainer::new(config(6), a.path())
        .unwrap()
        .run(&mut straight)
        .unwrap();
    let last = summary.last.unwrap().metrics["val_loss"];
    assert!(last < first / 20.0, "val_loss {first} → {last}");
    let w = weights(&straight);
    assert!(
        (w[1] + 2.0).abs() < 0.1 && (w[3] - 3.0).abs() < 0.1,
        "{w:?}"
    );

    let b = tempfile::tempdir().unwrap();
    let mut crashing = Regression::new(1, Some(3));
    let e = Trainer::new(config(6), b.path())
        .unwrap()
        .run(&mut crashing)
        .unwrap_err();
    assert!(e.to_string().contains("simulated crash"));
    let mut resumed = Regression::new(1, None);
    let s = Trainer::new(config(6), b.path())
        .unwrap()
        .run(&mut resumed)
        .unwrap();
    assert_eq!(s.resumed_from_epoch, Some(3));
    assert_eq!(
        weights(&resumed),
        w,
        "same weights as the uninterrupted run"
    );
    let (ha, hb) = (history(a.path()), history(b.path()));
    assert_eq!(ha.len(), 6);
    assert_eq!(hb.len(), 6);
    for (x, y) in ha.iter().zip(&hb) {
        assert_eq!((x.epoch, x.lr, &x.metrics), (y.epoch, y.lr, &y.metrics));
    }
    assert_eq!(ha[4].lr, 0.025, "multi-step schedule halves at epoch 4");
    assert!(b.path().join("config.json").exists() && b.path().join("summary.json").exists());
}

#[test]
fn early_stopping_stops_and_keeps_best() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = Regression::new(2, None);
    let mut cfg = config(50);
    cfg.base_lr = 0.0; // nothing improves after the first epoch
    cfg.schedule = LrSchedule::Constant;
    cfg.early_stopping = Some(EarlyStopping {
        monitor: "val_loss".into(),
        mode: Mode::Min,
        patience: 3,
        min_delta: 0.0,
    });
    let s = Trainer::new(cfg.clone(), dir.path())
        .unwrap()
        .run(&mut task)
        .unwrap();
    assert!(s.stopped_early);
    assert_eq!(s.epochs_done, 4);
    assert_eq!(s.best_epoch, Some(0));
    assert!(dir.path().join("checkpoints/best.safetensors").exists());
    cfg.early_stopping.as_mut().unwrap().monitor = "accuracy".into();
    let other = tempfile::tempdir().unwrap();
    let e = Trainer::new(cfg, other.path())
        .unwrap()
        .run(&mut Regression::new(2, None))
        .unwrap_err();
    assert!(
        e.to_string().contains("'accuracy'") && e.to_string().contains("val_loss"),
        "{e}"
    );
}

#[test]
fn best_checkpoint_holds_the_best_epoch_written_at_the_next_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = Regression::new(4, None);
    // Best at epoch 2 (0-based); checkpoints after epochs 4 and 6 (the last).
    task.val_losses = Some(vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0]);
    let mut cfg = config(6);
    cfg.checkpoint_every = 4;
    cfg.early_stopping = Some(EarlyStopping {
        monitor: "val_loss".into(),
        mode: Mode::Min,
        patience: usize::MAX,
        min_delta: 0.0,
    });
    let s = Trainer::new(cfg, dir.path())
        .unwrap()
        .run(&mut task)
        .unwrap();
    assert_eq!((s.best_epoch, s.epochs_done), (Some(2), 6));
    let (best, _): (HashMap<String, Tensor>, serde_json::Value) =
        load_checkpoint(&dir.path().join("checkpoints"), "best", &Device::Cpu)
            .unwrap()
            .unwrap();
    let w: Vec<f32> = best["fc.weight"].flatten_all().unwrap().to_vec1().unwrap();
    // The weights of epoch 2, not the later ones the task went on to (updated in place).
    assert_eq!(w, task.seen_weights[2]);
    assert_ne!(w, weights(&task));
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let d = tempfile::tempdir().unwrap();
        let mut t = Regression::new(seed, None);
        Trainer::new(config(2), d.path())
            .unwrap()
            .run(&mut t)
            .unwrap();
        weights(&t)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    cellpaint_core::testing::dir_snapshot(dir).unwrap()
}

fn data(v: &str) -> Fingerprint {
    Fingerprint::new().with("data", &v).unwrap()
}

#[test]
fn a_run_directory_belongs_to_one_run() {
    let d = tempfile::tempdir().unwrap();
    let trainer = |epochs, fp: &str| {
        Trainer::new(config(epochs), d.path())
            .unwrap()
            .with_fingerprint(data(fp))
    };
    let mut a = Regression::new(1, None);
    trainer(3, "plate-1").run(&mut a).unwrap();
    let done = snapshot(d.path());

    // Other data, other seed, other rate: refused before a byte is written.
    let e = trainer(3, "plate-2")
        .run(&mut Regression::new(1, None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("belongs to another run") && e.contains(r#"data was "plate-1", now "plate-2""#),
        "{e}"
    );
    let mut other_seed = config(3);
    other_seed.seed = 4;
    let e = Trainer::new(other_seed, d.path())
        .unwrap()
        .with_fingerprint(data("plate-1"))
        .claim()
        .unwrap_err()
        .to_string();
    assert!(e.contains("train.seed was 3, now 4"), "{e}");
    // Fewer epochs than done: an error.
    let e = trainer(2, "plate-1").claim().unwrap_err().to_string();
    assert!(e.contains("3 epochs are already done"), "{e}");
    assert_eq!(snapshot(d.path()), done, "refused runs wrote nothing");

    // The same run resumes (and may be extended).
    assert_eq!(
        trainer(3, "plate-1").claim().unwrap(),
        Claim::Resume { epochs_done: 3 }
    );
    let mut b = Regression::new(1, None);
    let s = trainer(5, "plate-1").run(&mut b).unwrap();
    assert_eq!(s.resumed_from_epoch, Some(3));
    assert_eq!(s.epochs_done, 5);

    // Restart discards the old run: the new one starts from scratch.
    let mut c = Regression::new(1, None);
    let s = trainer(2, "plate-2").restart(true).run(&mut c).unwrap();
    assert_eq!(s.resumed_from_epoch, None);
    assert_eq!(history(d.path()).len(), 2);
    let fresh = tempfile::tempdir().unwrap();
    let mut f = Regression::new(1, None);
    Trainer::new(config(2), fresh.path())
        .unwrap()
        .with_fingerprint(data("plate-2"))
        .run(&mut f)
        .unwrap();
    assert_eq!(weights(&c), weights(&f));

    // A directory with checkpoints but no fingerprint (an older cellpaint) is refused.
    std::fs::remove_file(d.path().join("fingerprint.json")).unwrap();
    let e = trainer(2, "plate-2").claim().unwrap_err().to_string();
    assert!(e.contains("without a fingerprint"), "{e}");
}

#[test]
fn diverged_training_stops_with_an_error_and_saves_nothing_non_finite() {
    // A NaN loss at epoch 3: the error names epoch and step; epochs 1-2 stay saved.
    let d = tempfile::tempdir().unwrap();
    let mut t = Regression::new(1, None);
    t.nan_loss_at_epoch = Some(2);
    let e = Trainer::new(config(5), d.path())
        .unwrap()
        .run(&mut t)
        .unwrap_err();
    assert!(matches!(e, CoreError::Diverged(_)), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("epoch 3, step 1: loss is NaN") && e.contains("learning rate"),
        "{e}"
    );
    assert_eq!(history(d.path()).len(), 2);
    let (state, _) =
        load_checkpoint::<serde_json::Value>(&d.path().join("checkpoints"), "last", &Device::Cpu)
            .unwrap()
            .unwrap();
    for (name, t) in &state {
        assert_eq!(train::count_non_finite(t).unwrap(), 0, "{name}");
    }

    // NaN weights behind a finite loss: caught before the checkpoint, which is not written.
    let d = tempfile::tempdir().unwrap();
    let mut t = Regression::new(1, None);
    t.nan_weights_at_epoch = Some(0);
    let e = Trainer::new(config(2), d.path())
        .unwrap()
        .run(&mut t)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("epoch 1: ") && e.contains("non-finite values in 'fc."),
        "{e}"
    );
    assert!(!d.path().join("checkpoints/last.json").exists());
}
