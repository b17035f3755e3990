//! Invariants that must hold on any input, checked on seeded random tables (many shapes, NaNs,
//! ties, tiny and huge scales): normalization inverts, sphered controls are white, mAP lies in
//! [0, 1] and ignores row order, aggregation ignores row order. Each case prints its seed on
//! failure, so it can be replayed alone.

use ndarray::{Array2, Axis};
use profiles::normalize::{NormalizeMethod, Scaler};
use profiles::{aggregate, AggregateOp, ProfileTable};
use profiling_eval::{average_precision, mean_average_precision, MapParams, PairSpec, Similarity};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sphering::{Regularization, SpheringMethod, SpheringParams};

const CASES: u64 = 40;

/// A random table: `groups` treatments spread over 1–3 plates, features on a random scale
/// with a random offset; `nan_rate` of the values NaN.
fn random_table(
    rng: &mut ChaCha8Rng,
    n: usize,
    p: usize,
    groups: usize,
    nan_rate: f64,
) -> ProfileTable {
    let scale = 10f64.powf(rng.random_range(-6.0..6.0));
    let offset = rng.random_range(-1e3..1e3);
    let treatment: Vec<String> = (0..n).map(|i| format!("t{}", i % groups)).collect();
    let plate: Vec<String> = (0..n)
        .map(|_| format!("P{}", rng.random_range(0..3)))
        .collect();
    let x = Array2::from_shape_fn((n, p), |(i, _)| {
        if rng.random_bool(nan_rate) {
            f64::NAN
        } else {
            // A treatment effect, so groups differ and mAP has something to find.
            offset + scale * (rng.random_range(-1.0..1.0) + 0.5 * (i % groups) as f64)
        }
    });
    ProfileTable::new(
        "random.csv",
        vec!["Metadata_Plate".into(), "Metadata_treatment".into()],
        vec![plate, treatment],
        (0..p).map(|c| format!("f{c}")).collect(),
        x,
    )
    .unwrap()
}

fn shuffled(table: &ProfileTable, rng: &mut ChaCha8Rng) -> ProfileTable {
    let mut order: Vec<usize> = (0..table.n_rows()).collect();
    order.shuffle(rng);
    table.select_rows(&order)
}

#[test]
fn normalization_inverts_where_it_is_defined() {
    for seed in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (n, p) = (rng.random_range(3..60), rng.random_range(1..12));
        let t = random_table(&mut rng, n, p, 3, 0.05);
        let names = t.feature_names().to_vec();
        for method in [
            NormalizeMethod::Standardize,
            NormalizeMethod::Robustize,
            NormalizeMethod::MadRobustize,
            NormalizeMethod::MinMax,
        ] {
            // A feature with no spread has no inverse: fit refuses it (tested in the crate).
            let Ok(s) = Scaler::fit(method, 1e-18, t.features(), &names, "random.csv") else {
                continue;
            };
            let mut y = t.features().to_owned();
            s.apply(y.view_mut());
            let back = &y * &s.scale + &s.center;
            for (a, b) in t.features().iter().zip(back.iter()) {
                assert!(
                    (a.is_nan() && b.is_nan())
                        || (a - b).abs()
                            <= 1e-9 * a.abs().max(s.scale.iter().fold(0.0, |m, v| m.max(v.abs()))),
                    "seed {seed} {method:?}: {a} came back as {b}"
                );
            }
            if method == NormalizeMethod::Standardize && !t.features().iter().any(|v| v.is_nan()) {
                for c in y.columns() {
                    let mean = c.mean().unwrap();
                    let sd = c.std(0.0);
                    assert!(
                        mean.abs() < 1e-9 && (sd - 1.0).abs() < 1e-9,
                        "seed {seed}: mean {mean}, sd {sd}"
                    );
                }
            }
        }
    }
}

#[test]
fn sphered_controls_have_identity_covariance() {
    for seed in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = rng.random_range(1..10);
        let n = d + rng.random_range(2..50);
        let scale = 10f64.powf(rng.random_range(-3.0..3.0));
        // Correlated features: a random mixing of independent ones.
        let z = Array2::from_shape_fn((n, d), |_| rng.random_range(-1.0..1.0));
        let mix = Array2::from_shape_fn((d, d), |(i, j)| {
            if i == j {
                1.0
            } else {
                rng.random_range(-0.5..0.5)
            }
        });
        let x = z.dot(&mix) * scale + rng.random_range(-100.0..100.0);
        for method in [
            SpheringMethod::Zca,
            SpheringMethod::Pca,
            SpheringMethod::ZcaCor,
            SpheringMethod::PcaCor,
        ] {
            for (reg, ddof) in [
                (Regularization::Eigenvalue { lambda: 0.0 }, 0.0),
                (Regularization::SingularValue { epsilon: 0.0 }, 1.0),
            ] {
                let fitted = SpheringParams {
                    method,
                    regularization: reg,
                }
                .fit(x.view())
                .unwrap();
                let y = fitted.transform(x.view()).unwrap();
                let mean = y.mean_axis(Axis(0)).unwrap();
                let yc = &y - &mean;
                let cov = yc.t().dot(&yc) / (n as f64 - ddof);
                for ((i, j), v) in cov.indexed_iter() {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (v - want).abs() < 1e-6,
                        "seed {seed} {method} {reg:?}: cov[{i},{j}] = {v}"
                    );
                }
                assert!(
                    mean.iter().all(|m| m.abs() < 1e-6),
                    "seed {seed} {method}: mean {mean}"
                );
            }
        }
    }
}

#[test]
fn map_lies_in_unit_interval_and_ignores_row_order() {
    let spec = PairSpec {
        pos_sameby: vec!["Metadata_treatment".into()],
        neg_diffby: vec!["Metadata_treatment".into()],
        ..Default::default()
    };
    for seed in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let groups = rng.random_range(2..6);
        let n = groups * rng.random_range(2..6);
        let p = rng.random_range(2..8);
        let t = random_table(&mut rng, n, p, groups, 0.0);
        let params = MapParams {
            sameby: vec!["Metadata_treatment".into()],
            null_size: 200,
            threshold: 0.05,
            seed,
        };
        let map_of = |t: &ProfileTable, similarity| {
            let aps = average_precision(t, &spec, similarity).unwrap();
            for q in &aps {
                assert!(
                    (0.0..=1.0).contains(&q.average_precision),
                    "seed {seed}: AP {}",
                    q.average_precision
                );
            }
            let mut groups = mean_average_precision(t, &aps, &params).unwrap();
            groups.sort_by(|a, b| a.key.cmp(&b.key));
            groups
        };
        for similarity in [
            Similarity::Cosine,
            Similarity::Pearson,
            Similarity::Euclidean,
        ] {
            let a = map_of(&t, similarity);
            let b = map_of(&shuffled(&t, &mut rng), similarity);
            assert_eq!(a.len(), b.len());
            for (g, h) in a.iter().zip(&b) {
                assert_eq!(g.key, h.key);
                for v in [g.mean_average_precision, g.p_value, g.corrected_p_value] {
                    assert!((0.0..=1.0).contains(&v), "seed {seed}: {v} outside [0, 1]");
                }
                assert!(
                    (g.mean_average_precision - h.mean_average_precision).abs() < 1e-12,
                    "seed {seed} {similarity:?} group {:?}: mAP {} vs {} after shuffling rows",
                    g.key,
                    g.mean_average_precision,
                    h.mean_average_precision
                );
            }
        }
    }
}

#[test]
fn aggregation_ignores_row_order() {
    for seed in 0..CASES {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let groups = rng.random_range(1..6);
        let n = rng.random_range(groups..80);
        let p = rng.random_range(1..8);
        let t = random_table(&mut rng, n, p, groups, 0.1);
        let s = shuffled(&t, &mut rng);
        let strata = ["Metadata_Plate", "Metadata_treatment"];
        for op in [AggregateOp::Median, AggregateOp::Mean] {
            let a = aggregate(&t, &strata, op).unwrap();
            let b = aggregate(&s, &strata, op).unwrap();
            for name in strata {
                assert_eq!(
                    a.metadata(name).unwrap(),
                    b.metadata(name).unwrap(),
                    "seed {seed}"
                );
            }
            for (u, v) in a.features().iter().zip(b.features().iter()) {
                // The median is exact; a mean may differ in its last bits with summation order.
                let same = (u.is_nan() && v.is_nan())
                    || if op == AggregateOp::Median {
                        u == v
                    } else {
                        (u - v).abs() <= 1e-12 * u.abs().max(1.0)
                    };
                assert!(same, "seed {seed} {op:?}: {u} vs {v} after shuffling rows");
            }
        }
    }
}
