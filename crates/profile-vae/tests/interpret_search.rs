//! Latent traversal, feature-group summaries, latent correlation and the hyperparameter search.

use ndarray::{array, Array2};
use profile_vae::*;
use rand::SeedableRng;

fn seeded(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Three hidden factors → d features, plus noise: something a small VAE can learn.
    let f = Array2::from_shape_fn((n, 3), |_| profiles::synthetic::standard_normal(&mut rng));
    let w = Array2::from_shape_fn((3, d), |_| profiles::synthetic::standard_normal(&mut rng));
    f.dot(&w)
        + Array2::from_shape_fn((n, d), |_| {
            0.1 * profiles::synthetic::standard_normal(&mut rng)
        })
}

#[test]
fn feature_names_parse_into_compartment_and_channel() {
    let cases = [
        ("Cells_Intensity_MeanIntensity_DNA", ("Cells", "DNA")),
        ("Nuclei_Texture_Variance_RNA_10_0", ("Nuclei", "RNA")),
        (
            "Cytoplasm_Correlation_Correlation_AGP_ER",
            ("Cytoplasm", "AGP"),
        ),
        ("Cells_AreaShape_Zernike_5_1", ("Cells", "AreaShape")),
        ("Nuclei_Granularity_1_Mito", ("Nuclei", "Mito")),
        (
            "Cells_Neighbors_NumberOfNeighbors_Adjacent",
            ("Cells", "Other"),
        ),
    ];
    for (name, (c, ch)) in cases {
        assert_eq!(
            feature_group(name),
            (c.to_string(), ch.to_string()),
            "{name}"
        );
    }
}

#[test]
fn pca_traversal_is_twice_the_component_and_groups_average_it() {
    let x = seeded(60, 4, 3);
    let pca = Pca::fit(x.view(), 2).unwrap();
    let t = latent_traversal(&pca, 2, 3.0).unwrap();
    // PCA decodes linearly: decode(+3e_k) − decode(−3e_k) = 6 × (component k).
    let e = Array2::from_diag_elem(2, 1.0);
    let dir = pca.inverse(e.view()).unwrap() - pca.inverse(Array2::zeros((2, 2)).view()).unwrap();
    for (a, b) in t.iter().zip((dir * 6.0).iter()) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    let names: Vec<String> = [
        "Cells_Intensity_MeanIntensity_DNA",
        "Cells_Texture_Variance_DNA_3_0",
        "Nuclei_AreaShape_Area",
        "Cells_Granularity_1_Mito",
    ]
    .map(String::from)
    .to_vec();
    let traversal = array![[1.0, -3.0, 2.0, 0.5], [0.0, 1.0, -4.0, 0.0]];
    let s = summarise_by_group(traversal.view(), &names).unwrap();
    assert_eq!(s.groups, ["Cells-DNA", "Cells-Mito", "Nuclei-AreaShape"]);
    assert_eq!(s.sizes, [2, 1, 1]);
    assert_eq!(s.values, array![[2.0, 0.5, 2.0], [0.5, 0.0, 4.0]]);
    assert!(summarise_by_group(traversal.view(), &names[..3]).is_err());
    assert!(latent_traversal(&pca, 0, 3.0).is_err());
    assert!(latent_traversal(&pca, 2, f64::NAN).is_err());
}

#[test]
fn latent_correlation_is_one_on_copies_and_zero_on_constants() {
    let z = array![[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [4.0, 8.0, 5.0]];
    let c = latent_correlation(z.view());
    assert!((c[[0, 1]] - 1.0).abs() < 1e-12);
    assert_eq!(c[[0, 2]], 0.0);
    assert_eq!(c[[2, 2]], 1.0);
}

#[test]
fn random_search_ranks_distinct_trials_by_validation_loss() {
    let x = seeded(120, 12, 7);
    let (train, val) = (
        x.slice(ndarray::s![..96, ..]),
        x.slice(ndarray::s![96.., ..]),
    );
    let params = SearchParams {
        space: SearchSpace {
            latent: vec![2, 4],
            learning_rate: vec![1e-2, 1e-5],
            batch_size: vec![16, 32],
            batch_norm: vec![true, false],
        },
        trials: 6,
        max_epochs: 8,
        patience: 3,
        seed: 11,
    };
    let base = VaeConfig {
        hidden: vec![16],
        ..VaeConfig::vanilla(12)
    };
    let dir = tempfile::tempdir().unwrap();
    let trials = random_search(&base, train, val, &params, dir.path()).unwrap();
    assert!(!trials.is_empty() && trials.len() <= 6);
    assert!(trials.windows(2).all(|w| w[0].val_loss <= w[1].val_loss));
    assert!(trials
        .iter()
        .all(|t| t.val_loss.is_finite() && t.epochs >= 1));
    // A learning rate of 1e-5 barely moves in 8 epochs: the winner uses 1e-2.
    assert_eq!(trials[0].learning_rate, 1e-2, "{trials:?}");
    let saved: Vec<Trial> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("search.json")).unwrap())
            .unwrap();
    assert_eq!(saved, trials);
    // Same seed, same ranking.
    let again = random_search(&base, train, val, &params, &dir.path().join("again")).unwrap();
    assert_eq!(again, trials);
    let bad = SearchParams {
        trials: 0,
        ..params.clone()
    };
    assert!(random_search(&base, train, val, &bad, dir.path()).is_err());
    let empty = SearchParams {
        space: SearchSpace {
            latent: vec![],
            ..params.space.clone()
        },
        ..params
    };
    assert!(random_search(&base, train, val, &empty, dir.path()).is_err());
}
