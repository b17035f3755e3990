//! Does the classifier learn a separable toy problem? Prints accuracy per epoch.
#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;
use cellpaint_core::candle::Device;
use deepprofiler_wsl::config::{DeepProfilerConfig, Partition};
use deepprofiler_wsl::crops::toy_crops;
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::train_classifier;
fn main() {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let all = toy_crops(1);
    let mut c = DeepProfilerConfig::default();
    let epochs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(8);
    let lr: f64 = std::env::args()
        .nth(2)
        .map(|a| a.parse().unwrap())
        .unwrap_or(0.05);
    c.train.model.epochs = epochs;
    c.train.model.batch_size = 16;
    c.train.model.input_size = 32;
    c.train.model.width_mult = 0.5;
    c.train.model.learning_rate = lr;
    c.train.model.lr_schedule = cellpaint_core::LrSchedule::Constant;
    let m = &c.dataset.metadata;
    let (tr, va) = partition(
        &all.cells,
        m,
        &Partition::LeaveCellsOut {
            train_fraction: 0.6,
        },
        0,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = train_classifier(
        &c,
        &all.subset(&tr),
        Some(&all.subset(&va)),
        dir.path(),
        0,
        true,
        &Device::Cpu,
    )
    .unwrap();
    let _ = f;
    print!(
        "{}",
        std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap()
    );
}
