//! Does the classifier learn a separable toy problem? Prints accuracy per epoch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use cellpaint_core::candle::Device;
use deepprofiler_wsl::config::{DeepProfilerConfig, MetadataConfig, Partition};
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::{train_classifier, CellCrops};
use ndarray::{Array2, Array4};
use profiles::ProfileTable;
use rand::Rng;
fn crops(seed: u64) -> CellCrops {
    let m = MetadataConfig::default();
    let mut rng = cellpaint_core::rng::seeded_rng(seed);
    let treatments = [("DMSO", ""), ("t1", "m1"), ("t2", "m1"), ("t3", "m2")];
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); 5];
    let mut px = Vec::new();
    for plate in ["P1", "P2"] {
        for (w, (t, moa)) in treatments.iter().enumerate() {
            for site in ["1", "2"] {
                for _ in 0..6 {
                    let mut x = Array4::<f32>::zeros((1, 5, 32, 32));
                    let (cx, cy) = (rng.random_range(12.0..20.0), rng.random_range(12.0..20.0));
                    let r = 4.0 + 2.0 * w as f32;
                    for c in 0..5 {
                        for y in 0..32 {
                            for xx in 0..32 {
                                let d = ((xx as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                                let on = d < r && (c == 0 || c == w);
                                x[[0, c, y, xx]] =
                                    if on { 0.8 } else { 0.1 } + rng.random_range(0.0..0.1);
                            }
                        }
                    }
                    px.push(x);
                    for (k, v) in [plate, &format!("W{w}"), site, t, moa].iter().enumerate() {
                        cols[k].push(v.to_string());
                    }
                }
            }
        }
    }
    let views: Vec<_> = px.iter().map(|a| a.view()).collect();
    let pixels = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    let n = pixels.dim().0;
    let cells = ProfileTable::new(
        "synthetic cells",
        vec![
            m.plate_field.clone(),
            m.well_field.clone(),
            m.site_field.clone(),
            m.label_field.clone(),
            m.moa_field.clone(),
        ],
        cols,
        vec![],
        Array2::zeros((n, 0)),
    )
    .unwrap();
    CellCrops::new(pixels, cells, &m).unwrap()
}
fn main() {
    let all = crops(1);
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
