//! Packs of single-cell crops stored as NumPy `.npz` archives (`np.savez_compressed`), as the
//! BBBC021 crops in the shared data are.

use std::fs::File;
use std::path::Path;

use ndarray::{Array4, Ix4};
use ndarray_npy::NpzReader;

use crate::error::{ImageError, Result};

/// Reads array `name` of a `.npz` archive as `uint16[N, H, W, C]` (channels last, NumPy's
/// layout). Errors name the file and say what was found instead: a missing array, another
/// dtype or rank, a truncated or corrupt archive.
pub fn read_npz_crops(path: impl AsRef<Path>, name: &str) -> Result<Array4<u16>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
    let bad = |message: String| ImageError::Decode {
        path: path.to_path_buf(),
        format: "npz",
        // ndarray-npy passes on its header parser's multi-line diagnostics.
        message: profiles::one_line(&message),
    };
    let mut npz = NpzReader::new(file).map_err(|e| bad(format!("not a readable zip ({e})")))?;
    let names = npz
        .names()
        .map_err(|e| bad(format!("cannot list arrays ({e})")))?;
    let entry = [name.to_string(), format!("{name}.npy")]
        .into_iter()
        .find(|n| names.contains(n))
        .ok_or_else(|| bad(format!("no array '{name}' (arrays: {})", names.join(", "))))?;
    npz.by_name::<ndarray::OwnedRepr<u16>, Ix4>(&entry)
        .map_err(|e| {
            bad(format!(
                "array '{name}' is not uint16 with 4 dimensions ({e})"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::NpzWriter;

    fn write(path: &Path, arrays: &[(&str, ndarray::ArrayD<u16>)]) {
        let mut w = NpzWriter::new_compressed(File::create(path).unwrap());
        for (n, a) in arrays {
            w.add_array(*n, a).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn round_trip_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("crops.npz");
        let a = Array4::<u16>::from_shape_fn((2, 4, 4, 3), |(n, y, x, c)| {
            (n * 1000 + y * 100 + x * 10 + c) as u16
        });
        write(&p, &[("crops", a.clone().into_dyn())]);
        assert_eq!(read_npz_crops(&p, "crops").unwrap(), a);

        let e = read_npz_crops(&p, "cells").unwrap_err().to_string();
        assert!(
            e.contains("crops.npz") && e.contains("no array 'cells'"),
            "{e}"
        );

        let q = dir.path().join("flat.npz");
        write(&q, &[("crops", ndarray::ArrayD::<u16>::zeros(vec![3, 4]))]);
        let e = read_npz_crops(&q, "crops").unwrap_err().to_string();
        assert!(e.contains("4 dimensions"), "{e}");

        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join("truncated.npz");
        std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_npz_crops(&t, "crops").unwrap_err().to_string();
        assert!(e.contains("truncated.npz"), "{e}");
    }
}
