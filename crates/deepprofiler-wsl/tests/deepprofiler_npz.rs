//! DeepProfiler's own per-site `.npz` feature files, written here as DeepProfiler writes them
//! (`np.savez_compressed(features=float32, metadata=<pickled object>, locations=<DataFrame,
//! so Fortran-ordered float64>)` under `features/<plate>/<well>/<site>.npz`), read into one
//! single-cell table with the public API. The same files through pycytominer 1.7.1's
//! `load_npz_features`/`load_npz_locations` gave the same cells, features equal as float32 and
//! locations to the bit (checked at development time; the pickled metadata is what keeps
//! pycytominer out of CI: reading it means unpickling).

use std::io::Write;

use deepprofiler_wsl::{read_deepprofiler_npz, NpzParams};
use ndarray::{Array2, ShapeBuilder};
use ndarray_npy::WriteNpyExt;

/// `np.save(np.array({...}, dtype=object))`: a 0-d object array, its pickle importing numpy.
const PICKLED_METADATA: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (), }                                                               \n\x80\x04\x95\xc0\x00\x00\x00\x00\x00\x00\x00\x8c\x16numpy._core.multiarray\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05numpy\x94\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94C\x01b\x94\x87\x94R\x94(K\x01)h\x03\x8c\x05dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94}\x94(\x8c\x0eMetadata_Model\x94\x8c\x0cefficientnet\x94\x8c\x0eMetadata_Plate\x94\x8c\x02P1\x94uat\x94b.";

fn npy(a: &Array2<impl ndarray_npy::WritableElement>) -> Vec<u8> {
    let mut v = Vec::new();
    a.write_npy(&mut v).unwrap();
    v
}

fn site(path: &std::path::Path, n: usize, width: usize, seed: usize) -> Array2<f32> {
    let features = Array2::from_shape_fn((n, width), |(i, j)| {
        ((seed * 31 + i * 7 + j) as f32 * 0.37).sin()
    });
    let mut locations = Array2::<f64>::zeros((n, 2).f());
    for i in 0..n {
        locations[[i, 0]] = 10.5 * (i + seed) as f64;
        locations[[i, 1]] = 1000.0 / (i + seed + 1) as f64;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("features.npy", npy(&features)),
        ("metadata.npy", PICKLED_METADATA.to_vec()),
        ("locations.npy", npy(&locations)),
    ] {
        z.start_file(name, opts).unwrap();
        z.write_all(&bytes).unwrap();
    }
    z.finish().unwrap();
    features
}

#[test]
fn deepprofiler_feature_files_become_one_single_cell_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("features");
    let a = site(&root.join("P1/A01/1.npz"), 3, 5, 0);
    let _empty = site(&root.join("P1/A01/2.npz"), 0, 5, 1);
    let b = site(&root.join("P2/B02/1.npz"), 2, 5, 2);
    let params = NpzParams {
        feature_prefix: "efficientnet".into(),
        ..Default::default()
    };
    let t = read_deepprofiler_npz(&root, &params).unwrap();
    assert_eq!(t.n_rows(), 5, "the empty site adds no rows");
    assert_eq!(
        t.metadata_names(),
        [
            "Metadata_Plate",
            "Metadata_Well",
            "Metadata_Site",
            "Metadata_Location_Center_X",
            "Metadata_Location_Center_Y"
        ]
    );
    assert_eq!(t.feature_names()[4], "efficientnet_4");
    assert_eq!(
        t.metadata("Metadata_Plate").unwrap(),
        ["P1", "P1", "P1", "P2", "P2"]
    );
    assert_eq!(t.metadata("Metadata_Well").unwrap()[3], "B02");
    // Fortran-ordered locations read by row: cell 1 of site seed 0 is (10.5, 500.0).
    assert_eq!(t.metadata("Metadata_Location_Center_X").unwrap()[1], "10.5");
    assert_eq!(
        t.metadata("Metadata_Location_Center_Y").unwrap()[1],
        "500.0"
    );
    assert_eq!(t.metadata("Metadata_Location_Center_X").unwrap()[3], "21.0");
    assert_eq!(t.features()[[2, 3]], f64::from(a[[2, 3]]));
    assert_eq!(t.features()[[4, 0]], f64::from(b[[1, 0]]));

    // The other layout: <plate>/<well>_<site>.npz.
    let flat = tmp.path().join("flat");
    site(&flat.join("P3/C03_7.npz"), 1, 5, 3);
    let t = read_deepprofiler_npz(&flat, &NpzParams::default()).unwrap();
    assert_eq!(t.metadata("Metadata_Site").unwrap(), ["7"]);
    assert_eq!(t.feature_names()[0], "DP_0");

    // A site from another model (other width) is refused, naming both files.
    site(&root.join("P2/B02/2.npz"), 2, 4, 4);
    let e = read_deepprofiler_npz(&root, &params)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("P2/B02/2.npz") && e.contains("P1/A01/1.npz"),
        "{e}"
    );
    // A truncated archive is an error naming it, not a panic.
    let bad = root.join("P2/B02/2.npz");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_deepprofiler_npz(&root, &params)
        .unwrap_err()
        .to_string();
    assert!(e.contains("P2/B02/2.npz"), "{e}");
}
