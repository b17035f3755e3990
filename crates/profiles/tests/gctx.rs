//! GCTX (HDF5) read into the same table as the text GCT it came from: three small files cut
//! from the real L1000 level-3 plate by scripts/gctx_fixture.py (cmapPy's own writer; h5py
//! chunked with shuffle, deflate and Fletcher-32, big-endian, variable-length strings; h5py
//! with libver="latest") against our reading of the real text GCT in ../shared/data.

use std::path::{Path, PathBuf};

use cellpaint_profiles::data::{data_dir_for_tests, data_file, known};
use cellpaint_profiles::{read_table, ProfileTable, ReadOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../fixtures/l1000_cut_{name}.gctx"))
}

fn read(path: &Path) -> ProfileTable {
    read_table(path, &ReadOptions::default()).unwrap()
}

/// Every cell of the GCTX equals the text GCT's: values as the writer stored them (float32,
/// so the text's value rounded to float32), metadata as the same text or the same number.
fn assert_same_as_text(gctx: &ProfileTable, text: &ProfileTable, fields: &[&str]) {
    let cid = text.metadata("Metadata_cid").unwrap();
    let ours = gctx.metadata("Metadata_cid").unwrap();
    assert_eq!(gctx.n_rows(), 42);
    assert_eq!(gctx.n_features(), 50);
    assert_eq!(gctx.feature_names(), &text.feature_names()[..50]);
    let mut names = vec!["Metadata_cid".to_string()];
    names.extend(fields.iter().map(|f| format!("Metadata_{f}")));
    assert_eq!(gctx.metadata_names(), &names[..]);
    for (r, id) in ours.iter().enumerate() {
        let t = cid.iter().position(|c| c == id).unwrap();
        assert_eq!(t, 9 * r, "well order");
        for j in 0..50 {
            let want = text.features()[[t, j]] as f32 as f64;
            let got = gctx.features()[[r, j]];
            assert!(got == want, "{id}, gene {j}: {got} vs {want}");
        }
        for name in &names {
            let want = &text.metadata(name).unwrap()[t];
            let got = &gctx.metadata(name).unwrap()[r];
            // cmapPy stores a numeric field as numbers: the text's `7` comes back as pandas
            // prints the float, `7.0`; the value is the same.
            let same_number = matches!(
                (got.parse::<f64>(), want.parse::<f64>()),
                (Ok(a), Ok(b)) if a == b
            );
            assert!(got == want || same_number, "{id}, {name}: {got} vs {want}");
        }
    }
}

#[test]
fn gctx_files_read_as_the_text_gct_they_were_cut_from() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let text = read(&data_file(&dir, known::L1000_PLATE).unwrap());
    let cmappy = read(&fixture("cmappy"));
    // Symbol-table groups list their members by name.
    assert_same_as_text(
        &cmappy,
        &text,
        &[
            "count_mean",
            "det_well",
            "pert_idose",
            "pert_iname",
            "pert_time",
            "pert_type",
            "qc_f_logp",
            "qc_iqr",
        ],
    );
    let chunked = read(&fixture("chunked"));
    assert_same_as_text(
        &chunked,
        &text,
        &["count_mean", "pert_iname", "pert_type", "qc_iqr"],
    );
    // Compact links keep the order the writer created them in.
    let latest = read(&fixture("latest"));
    assert_same_as_text(
        &latest,
        &text,
        &["pert_iname", "pert_type", "count_mean", "qc_iqr"],
    );
}

#[test]
fn damaged_gctx_files_are_errors_naming_the_file_never_panics() {
    for name in ["cmappy", "chunked", "latest"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.gctx");
        // Cut short anywhere: an error that names the file.
        for cut in [0, 7, 100, bytes.len() / 3, bytes.len() / 2] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let e = read_table(&path, &ReadOptions::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("damaged.gctx"), "{name} cut at {cut}: {e}");
        }
        // One byte changed anywhere (a seeded walk over the file): an answer or an error,
        // never a panic, an abort or a runaway allocation.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut errors = 0;
        for _ in 0..300 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % bytes.len();
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << ((state >> 20) % 8);
            std::fs::write(&path, &damaged).unwrap();
            if let Err(e) = read_table(&path, &ReadOptions::default()) {
                assert!(e.to_string().contains("damaged.gctx"), "{e}");
                errors += 1;
            }
        }
        assert!(errors > 0, "{name}: no damaged copy was refused");
    }
}
