//! The ground truth is in the data: replicates agree, MOAs cluster, sphering on controls helps,
//! and the images carry the cells the truth says they do.

use cellpaint_sim::*;
use ndarray::{Array2, ArrayView1};
use profiles::{normalize, NormalizeMethod, NormalizeParams, ProfileTable, Selection};
use profiling_eval::map::{activity_map, MapSettings};

fn cosine(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt())
}

/// Standardised per plate on its control wells: removes plate means and scales.
fn per_plate_standardized(t: &ProfileTable) -> ProfileTable {
    let params = NormalizeParams::new(NormalizeMethod::Standardize)
        .fit_on(Selection::equals("Metadata_broad_sample", "DMSO"))
        .per("Metadata_Plate");
    normalize(t, &params).unwrap()
}

#[test]
fn same_seed_same_screen_and_the_design_is_complete() {
    let cfg = SimConfig::tiny(3);
    let a = Screen::design(&cfg).unwrap().profiles().unwrap();
    let b = Screen::design(&cfg).unwrap().profiles().unwrap();
    assert_eq!(a.features(), b.features());
    let c = Screen::design(&SimConfig::tiny(4))
        .unwrap()
        .profiles()
        .unwrap();
    assert_ne!(a.features(), c.features());

    let screen = Screen::design(&cfg).unwrap();
    let n_plates = screen.truth.plates.len();
    assert_eq!(n_plates, 2);
    // Every plate has its controls; every compound × dose appears once per plate.
    for p in 0..n_plates {
        let on = screen.wells.iter().filter(|w| w.plate == p);
        assert_eq!(on.clone().filter(|w| w.compound.is_none()).count(), 16);
        assert_eq!(
            on.filter(|w| w.compound.is_some()).count(),
            cfg.n_compounds() * cfg.doses.len()
        );
    }
    // A|B compounds exist and both parts are present as single-MOA compounds.
    let labels: Vec<&str> = screen
        .truth
        .compounds
        .iter()
        .map(|c| c.moa_label.as_str())
        .collect();
    let combos: Vec<&&str> = labels.iter().filter(|l| l.contains('|')).collect();
    assert_eq!(combos.len(), 2);
    for c in combos {
        for part in c.split('|') {
            assert!(labels.contains(&part), "{part} missing");
        }
    }
    assert_eq!(a.n_features(), 120);
    assert!(a
        .feature_names()
        .iter()
        .any(|n| n == "Nuclei_AreaShape_Area"));
    assert!(a
        .feature_names()
        .iter()
        .any(|n| n.starts_with("Cells_Intensity_MeanIntensity_Mito")));
    // Bad settings are refused with the reason.
    let e = Screen::design(&SimConfig {
        control_wells_per_plate: 0,
        ..SimConfig::tiny(0)
    })
    .unwrap_err();
    assert!(e.to_string().contains("controls"), "{e}");
}

#[test]
fn replicates_agree_and_moas_cluster() {
    let cfg = SimConfig::tiny(11);
    let t = per_plate_standardized(&Screen::design(&cfg).unwrap().profiles().unwrap());
    let x = t.features();
    let sample = t.metadata("Metadata_broad_sample").unwrap();
    let moa = t.metadata("Metadata_moa").unwrap();
    let dose = t.metadata("Metadata_mmoles_per_liter").unwrap();
    let plate = t.metadata("Metadata_Plate").unwrap();
    let top = |r: usize| dose[r] == "10" && sample[r] != "DMSO";
    let (mut rep, mut rand_pairs, mut same_moa, mut diff_moa) = (vec![], vec![], vec![], vec![]);
    for i in 0..t.n_rows() {
        for j in i + 1..t.n_rows() {
            if !(top(i) && top(j)) {
                continue;
            }
            let s = cosine(x.row(i), x.row(j));
            if sample[i] == sample[j] {
                assert_ne!(plate[i], plate[j]);
                rep.push(s);
            } else {
                rand_pairs.push(s);
                if moa[i].contains('|') || moa[j].contains('|') {
                    continue;
                }
                if moa[i] == moa[j] {
                    same_moa.push(s)
                } else {
                    diff_moa.push(s)
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "cosine at 10 µM: replicates {:.3}, other pairs {:.3}; same MOA {:.3}, different MOA {:.3}",
        mean(&rep),
        mean(&rand_pairs),
        mean(&same_moa),
        mean(&diff_moa)
    );
    assert!(mean(&rep) > mean(&rand_pairs) + 0.15);
    assert!(mean(&same_moa) > mean(&diff_moa) + 0.15);
}

#[test]
fn sphering_on_controls_raises_activity_map() {
    let cfg = SimConfig {
        n_features: 60,
        ..SimConfig::tiny(5)
    };
    let t = per_plate_standardized(&Screen::design(&cfg).unwrap().profiles().unwrap());
    let controls = [Selection::equals("Metadata_broad_sample", "DMSO")];
    let settings = MapSettings {
        null_size: 2000,
        ..MapSettings::default()
    };
    let score = |t: &ProfileTable| {
        let (_, groups) = activity_map(t, "Metadata_broad_sample", &controls, &settings).unwrap();
        groups.iter().map(|g| g.mean_average_precision).sum::<f64>() / groups.len() as f64
    };
    let before = score(&t);
    let rows = t.rows_matching(&controls).unwrap();
    let ctrl: Array2<f64> = t.select_rows(&rows).features().to_owned();
    let fitted = sphering::SpheringParams::new(sphering::SpheringMethod::Zca)
        .lambda(1e-2)
        .fit(ctrl.view())
        .unwrap();
    let sphered = t
        .with_features(
            t.feature_names().to_vec(),
            fitted.transform(t.features()).unwrap(),
        )
        .unwrap();
    let after = score(&sphered);
    eprintln!("activity mAP: per-plate standardized {before:.3}, + ZCA on controls {after:.3}");
    assert!(after > before + 0.03, "{before} → {after}");
}

#[test]
fn images_carry_the_cells_of_the_truth() {
    let cfg = SimConfig {
        image_size: 256,
        ..SimConfig::tiny(2)
    };
    let screen = Screen::design(&cfg).unwrap();
    let wells = select_wells(&screen, Some(4));
    assert_eq!(wells.len(), 8);
    let tmp = tempfile::tempdir().unwrap();
    let records = write_images(&screen, tmp.path(), &wells, &|_| {}).unwrap();
    assert_eq!(records.len(), 8);
    let index = cell_images::ImageIndex::read(
        tmp.path().join("index.csv"),
        &cell_images::CELL_PAINTING_CHANNELS,
        None,
    )
    .unwrap();
    assert_eq!(index.fields.len(), 8);
    let (mut truth_total, mut found_total) = (0usize, 0usize);
    for rec in &index.fields {
        let field = index.load(rec).unwrap();
        assert_eq!((field.bits, field.pixels.dim()), (16, (5, 256, 256)));
        let loc = tmp
            .path()
            .join("locations")
            .join(&rec.plate)
            .join(format!("{}_s{}.csv", rec.well, rec.site));
        let truth = cell_images::read_locations(&loc).unwrap();
        let params = cell_images::NucleusParams {
            min_distance: 6.0,
            min_area: 20,
            exclude_border: false,
            ..Default::default()
        };
        let found = cell_images::detect_nuclei(field.channel(0), &params)
            .unwrap()
            .nuclei
            .len();
        truth_total += truth.len();
        found_total += found;
    }
    let rel = (found_total as f64 - truth_total as f64).abs() / truth_total as f64;
    eprintln!(
        "simulated nuclei: {truth_total} drawn, {found_total} detected ({:.1}% apart)",
        rel * 100.0
    );
    assert!(rel < 0.25, "{found_total} vs {truth_total}");
    // Same seed, same pixels.
    let a = render_site(&screen, wells[0], 0).pixels;
    assert_eq!(a, render_site(&screen, wells[0], 0).pixels);
}

#[test]
fn the_true_segmentation_lies_on_the_drawn_cells() {
    let cfg = SimConfig {
        image_size: 256,
        ..SimConfig::tiny(2)
    };
    let screen = Screen::design(&cfg).unwrap();
    let wells = select_wells(&screen, Some(2));
    let (mut checked, mut far) = (0usize, 0usize);
    for &w in &wells {
        let site = render_site(&screen, w, 0);
        let nuclei = cell_measure::Objects::from_labels(site.nucleus_labels.clone());
        let cells = cell_measure::Objects::from_labels(site.cell_labels.clone());
        let shapes = cell_measure::measure_shapes(&nuclei);
        let dna = site
            .pixels
            .index_axis(ndarray::Axis(0), 0)
            .mapv(|v| v as f64 / 65535.0);
        let inside = cell_measure::measure_intensity(&nuclei, dna.view()).unwrap();
        let cytoplasm = cells.minus_inside_of(&nuclei).unwrap();
        let outside = cell_measure::measure_intensity(&cytoplasm, dna.view()).unwrap();
        for (o, s) in nuclei.objects().iter().zip(&shapes) {
            let truth = &site.nuclei[o.label as usize - 1];
            // An unshared nucleus sits on its drawn centre with its drawn area.
            let whole = (s.area - truth.area as f64).abs() <= 0.1 * truth.area as f64;
            if whole {
                checked += 1;
                let d = (s.center_x + 0.5 - truth.x).hypot(s.center_y + 0.5 - truth.y);
                far += usize::from(d > 1.0);
            }
        }
        // DNA is bright inside the nuclei and dim in the cytoplasm around them (2.9× here; the
        // soft nucleus edge and the camera offset keep it from more).
        let mean = |v: &[cell_measure::Intensity]| {
            v.iter().map(|m| m.mean).sum::<f64>() / v.len().max(1) as f64
        };
        assert!(
            mean(&inside) > 2.0 * mean(&outside),
            "{} vs {}",
            mean(&inside),
            mean(&outside)
        );
        assert!(nuclei.count() > 0 && cells.count() >= nuclei.count() / 2);
    }
    assert!(checked >= 20, "only {checked} unshared nuclei");
    assert_eq!(far, 0, "{far} of {checked} nuclei off their drawn centre");
}
