//! PCA baseline and latent space arithmetic on data with a known additive answer.

use ndarray::{array, Array2};
use profile_vae::*;
use rand::SeedableRng;

#[test]
fn pca_on_a_line_and_a_plane() {
    // Points on y = 2x: first direction (1, 2)/√5, variance of the projections.
    let x = array![[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
    let p = Pca::fit(x.view(), 1).unwrap();
    let c = p.components.row(0);
    assert!((c[0] - 1.0 / 5f64.sqrt()).abs() < 1e-12 && (c[1] - 2.0 / 5f64.sqrt()).abs() < 1e-12);
    // projections ±1.5√5, ±0.5√5 → variance (ddof 1) = 5·(2.25+0.25)·2/3 = 25/3
    assert!((p.explained_variance[0] - 25.0 / 3.0).abs() < 1e-10);
    let back = p.inverse(p.transform(x.view()).unwrap().view()).unwrap();
    assert!((&back - &x).iter().all(|v| v.abs() < 1e-12));
    assert!(Pca::fit(x.view(), 3).is_err());
}

/// DMSO, A, B and A|B = A + B wells around a baseline, plus an unrelated C.
fn additive(seed: u64) -> (Array2<f64>, Vec<String>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let d = 20;
    let mut normal = || profiles::synthetic::standard_normal(&mut rng);
    let base: Vec<f64> = (0..d).map(|_| normal()).collect();
    let ea: Vec<f64> = (0..d).map(|_| 2.0 * normal()).collect();
    let eb: Vec<f64> = (0..d).map(|_| 2.0 * normal()).collect();
    let ec: Vec<f64> = (0..d).map(|_| 2.0 * normal()).collect();
    let groups: [(&str, Vec<f64>); 5] = [
        ("DMSO", vec![0.0; d]),
        ("A", ea.clone()),
        ("B", eb.clone()),
        ("A|B", ea.iter().zip(&eb).map(|(a, b)| a + b).collect()),
        ("C", ec),
    ];
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (label, effect) in groups.iter() {
        for _ in 0..12 {
            rows.extend(base.iter().zip(effect).map(|(b, e)| b + e + 0.3 * normal()));
            labels.push(label.to_string());
        }
    }
    (
        Array2::from_shape_vec((labels.len(), d), rows).unwrap(),
        labels,
    )
}

#[test]
fn targets_are_pairs_whose_parts_occur() {
    let l: Vec<String> = ["A", "B", "A|B", "C|D", "C", "A|B|C", "DMSO"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        valid_targets(&l),
        vec![("A".into(), "B".into(), "A|B".into())]
    );
}

#[test]
fn arithmetic_recovers_an_additive_combination() {
    let (x, labels) = additive(1);
    for (name, emb) in [
        ("raw", Box::new(RawFeatures) as Box<dyn Embedding>),
        ("pca", Box::new(Pca::fit(x.view(), 5).unwrap())),
    ] {
        let real = latent_arithmetic(emb.as_ref(), x.view(), &labels, "DMSO").unwrap();
        assert_eq!(real.len(), 1);
        let null = shuffled_null(emb.as_ref(), x.view(), &labels, "DMSO", 10, 7).unwrap();
        let null_mean = null.iter().map(|n| n[0].l2).sum::<f64>() / 10.0;
        let z = z_scores(&real, &null);
        eprintln!(
            "{name}: L2 {:.3} (shuffled mean {null_mean:.3}), Pearson {:.3}, z {:.2}, p {:.4}",
            real[0].l2, real[0].pearson, z[0].1, z[0].2
        );
        assert!(real[0].l2 < 0.5 * null_mean, "{name}");
        assert!(real[0].pearson > 0.95, "{name}");
        // Real beats all ten shuffles; with 11 values |z| cannot exceed √10, so −1.5 is strong.
        assert!(null.iter().all(|n| n[0].l2 > real[0].l2), "{name}");
        assert!(z[0].1 < -1.5 && z[0].2 < 0.07, "{name}");
    }
    let e = latent_arithmetic(&RawFeatures, x.view(), &labels, "EMPTY").unwrap_err();
    assert!(e.to_string().contains("no 'EMPTY' rows"), "{e}");
}

#[test]
fn real_plate_two_moa_targets() {
    let Some(dir) = profiles::data::data_dir_for_tests() else {
        return;
    };
    let t = profiles::read_table(
        dir.join(profiles::data::known::LINCS_PLATE),
        &Default::default(),
    )
    .unwrap();
    let moa = t.metadata("Metadata_moa").unwrap();
    let sample = t.metadata("Metadata_broad_sample").unwrap();
    let labels = moa_labels(moa, sample, "DMSO");
    let targets = valid_targets(&labels);
    let two_moa: std::collections::BTreeSet<&String> = labels
        .iter()
        .filter(|l| l.matches('|').count() == 1)
        .collect();
    eprintln!(
        "LINCS plate: {} two-MOA labels, {} with both parts on the plate: {:?}",
        two_moa.len(),
        targets.len(),
        targets
    );
    // Facts of this plate that make its arithmetic test empty: 7 two-MOA labels, and for none
    // of them are both single-MOA parts present.
    assert_eq!(two_moa.len(), 7);
    for l in &two_moa {
        let (a, b) = l.split_once('|').unwrap();
        assert!(
            !(labels.iter().any(|x| x == a) && labels.iter().any(|x| x == b)),
            "{l}"
        );
    }
    let real = latent_arithmetic(&RawFeatures, t.features(), &labels, "DMSO").unwrap();
    assert_eq!(real.len(), targets.len());
    assert!(real.iter().all(|r| r.l2.is_finite()));
}

#[test]
fn the_null_scores_shuffled_predictions_against_the_real_combination() {
    use rand::seq::SliceRandom;
    let (x, labels) = additive(4);
    let null = shuffled_null(&RawFeatures, x.view(), &labels, "DMSO", 3, 9).unwrap();
    // Replay the same shuffles: predict from shuffled means, compare with the real A|B mean.
    let mean = |l: &[String], which: &str| {
        let rows: Vec<usize> = (0..l.len()).filter(|&i| l[i] == which).collect();
        x.select(ndarray::Axis(0), &rows)
            .mean_axis(ndarray::Axis(0))
            .unwrap()
    };
    let truth = mean(&labels, "A|B");
    let mut rng = cellpaint_core::rng::seeded_rng(9);
    for n in &null {
        let mut l = labels.clone();
        l.shuffle(&mut rng);
        let pred = mean(&l, "A") - mean(&l, "DMSO") + mean(&l, "B");
        let l2 = (&pred - &truth).mapv(|v| v * v).sum().sqrt();
        assert_eq!(n.len(), 1);
        assert!((n[0].l2 - l2).abs() < 1e-9, "{} vs {l2}", n[0].l2);
    }
}
