//! Seconds per training iteration of each variant (cargo run --release -p cyto-vaegan --example iteration_time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use cyto_vaegan::*;
use ndarray::Array4;
fn main() {
    let arch = ArchConfig::default();
    let n = 64;
    let px = Array4::from_shape_fn((n, 3, 68, 68), |(i, c, y, x)| {
        ((i * 31 + c * 7 + y * x) % 97) as f32
    });
    let meta: Vec<CropMeta> = (0..n)
        .map(|i| CropMeta {
            plate: "p".into(),
            well: "w".into(),
            site: "1".into(),
            compound: format!("c{}", i % 4),
            concentration: "1".into(),
            moa: "m".into(),
            batch: "b".into(),
        })
        .collect();
    let crops = CropSet::new("s", px, meta, &arch).unwrap();
    let dev = cellpaint_core::candle::Device::Cpu;
    let which: Vec<(Variant, usize)> = if std::env::args().count() > 1 {
        vec![(Variant::Vae, 16)]
    } else {
        vec![
            (Variant::Vae, 16usize),
            (Variant::VaePlus, 16),
            (Variant::Vae, 104),
        ]
    };
    for (v, bs) in which {
        let mut cfg = VaeGanConfig::paper(v);
        cfg.batch_size = bs;
        cfg.iterations = 6;
        cfg.iterations_per_record = 6;
        cfg.feature_period = 1;
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let f = fit(&cfg, &crops, dir.path(), 0, true, &dev).unwrap();
        println!(
            "{:?} batch {bs}: {:.3} s/it  {:?}",
            v,
            t.elapsed().as_secs_f64() / 6.0,
            f.summary.clone().unwrap().last.unwrap().metrics
        );
        let t = std::time::Instant::now();
        f.embed(&crops).unwrap();
        println!("embed {n}: {:.3}s", t.elapsed().as_secs_f64());
    }
}
