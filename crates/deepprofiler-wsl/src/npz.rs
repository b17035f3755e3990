//! DeepProfiler's own per-site feature files as one single-cell table, so that its profiles can
//! be compared with ours or carried over: `features/<plate>/<well>/<site>.npz` (or
//! `<plate>/<well>_<site>.npz`), each holding `features` (cells × features, float32) and
//! `locations` (cells × ≥ 2: x, y), as DeepProfiler's `profile` writes them.
//!
//! Like pycytominer's `DeepProfilerData.get_single_cells`, plate, well and site come from the
//! path, features are named `<prefix>_<j>`, and the first two location columns are the cell's
//! centre. Unlike it, the `metadata` entry is never read: it is a pickled pandas object, and
//! unpickling runs code from the file. Locations are metadata here
//! (`Metadata_Location_Center_X/Y`), so that they are not taken for features. Every array's
//! header is checked against the bytes the archive holds before anything is allocated.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use ndarray_npy::ReadNpyExt;
use profiles::ProfileTable;

use crate::error::{DpError, Result};

/// How [`read_deepprofiler_npz`] names what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpzParams {
    /// Features are `<prefix>_0`, `<prefix>_1`, … (pycytominer's fallback prefix: `DP`).
    pub feature_prefix: String,
    /// Between well and site in `<plate>/<well>_<site>.npz` file names.
    pub site_delimiter: char,
}

impl Default for NpzParams {
    fn default() -> Self {
        NpzParams {
            feature_prefix: "DP".into(),
            site_delimiter: '_',
        }
    }
}

/// Every `*.npz` under `dir` (in path order) as one table: `Metadata_Plate`, `Metadata_Well`,
/// `Metadata_Site`, `Metadata_Location_Center_X/Y` (when the files hold locations), then the
/// features. Sites without cells add no rows. Errors name the file.
pub fn read_deepprofiler_npz(dir: &Path, params: &NpzParams) -> Result<ProfileTable> {
    if params.feature_prefix.is_empty() {
        return Err(DpError::Config {
            path: "feature_prefix".into(),
            message: "must not be empty".into(),
        });
    }
    let files = crate::features::files_under(dir, "npz")?;
    if files.is_empty() {
        return Err(DpError::data(
            dir.display().to_string(),
            "no .npz files under this folder; expected DeepProfiler's features/<plate>/<well>/<site>.npz",
        ));
    }
    let mut meta: Vec<Vec<String>> = vec![Vec::new(); 5];
    let mut blocks: Vec<Array2<f64>> = Vec::new();
    let mut width: Option<(usize, PathBuf)> = None;
    let mut with_locations: Option<bool> = None;
    for file in &files {
        let (plate, well, site) = site_of(dir, file, params.site_delimiter)?;
        let site_data = read_site(file)?;
        let n = site_data.features.nrows();
        match &width {
            Some((w, first)) if *w != site_data.features.ncols() => {
                return Err(DpError::data(
                    file.display().to_string(),
                    format!(
                        "{} features per cell, {} in {}; every site must come from one model",
                        site_data.features.ncols(),
                        w,
                        first.display()
                    ),
                ))
            }
            Some(_) => {}
            None => width = Some((site_data.features.ncols(), file.clone())),
        }
        let has = site_data.locations.is_some();
        if *with_locations.get_or_insert(has) != has {
            return Err(DpError::data(
                file.display().to_string(),
                "some sites have locations and others not",
            ));
        }
        for _ in 0..n {
            meta[0].push(plate.clone());
            meta[1].push(well.clone());
            meta[2].push(site.clone());
        }
        if let Some(loc) = site_data.locations {
            meta[3].extend(loc.iter().map(|p| p.0.clone()));
            meta[4].extend(loc.into_iter().map(|p| p.1));
        }
        blocks.push(site_data.features);
    }
    let (width, _) = width.expect("at least one file");
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    let features = ndarray::concatenate(Axis(0), &views).expect("same widths");
    let mut names: Vec<String> = [
        "Plate",
        "Well",
        "Site",
        "Location_Center_X",
        "Location_Center_Y",
    ]
    .iter()
    .map(|n| format!("Metadata_{n}"))
    .collect();
    if with_locations != Some(true) {
        names.truncate(3);
        meta.truncate(3);
    }
    Ok(ProfileTable::new(
        dir.display().to_string(),
        names,
        meta,
        (0..width)
            .map(|j| format!("{}_{j}", params.feature_prefix))
            .collect(),
        features,
    )?)
}

/// (plate, well, site) from `plate/well/site.npz` or `plate/well<delim>site.npz` under `dir`.
fn site_of(dir: &Path, file: &Path, delimiter: char) -> Result<(String, String, String)> {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    let parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let bad = || {
        DpError::data(
            file.display().to_string(),
            format!(
                "cannot tell plate, well and site from its path; expected \
                 <plate>/<well>/<site>.npz or <plate>/<well>{delimiter}<site>.npz under {}",
                dir.display()
            ),
        )
    };
    match parts.as_slice() {
        [.., plate, well, site] if parts.len() >= 3 => {
            Ok((plate.clone(), well.clone(), site.clone()))
        }
        [plate, stem] => {
            let mut it = stem.rsplitn(2, delimiter);
            let site = it.next().ok_or_else(bad)?;
            let rest = it.next().ok_or_else(bad)?;
            // pycytominer takes the last two pieces: `…_B02_4` → well B02, site 4.
            let well = rest.rsplit(delimiter).next().ok_or_else(bad)?;
            if well.is_empty() || site.is_empty() {
                return Err(bad());
            }
            Ok((plate.clone(), well.to_string(), site.to_string()))
        }
        _ => Err(bad()),
    }
}

struct Site {
    features: Array2<f64>,
    /// Per cell: x and y as text (`profiles::python_repr` for floats, digits for integers).
    locations: Option<Vec<(String, String)>>,
}

fn read_site(file: &Path) -> Result<Site> {
    let bad = |message: String| DpError::File {
        path: file.to_path_buf(),
        message,
    };
    let f = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(f).map_err(|e| bad(format!("not a readable .npz archive ({e})")))?;
    let mut entry = |name: &str| -> Result<Option<Vec<u8>>> {
        let mut e = match zip.by_name(&format!("{name}.npy")) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(bad(format!("array '{name}': {e}"))),
        };
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes)
            .map_err(|e| bad(format!("array '{name}': {e}")))?;
        Ok(Some(bytes))
    };
    let features = entry("features")?.ok_or_else(|| {
        bad("no array 'features'; expected DeepProfiler's per-site features".into())
    })?;
    let locations = entry("locations")?;
    let features = matrix_f64(&features).map_err(|m| bad(format!("array 'features': {m}")))?;
    let locations = match locations {
        None => None,
        Some(bytes) => {
            let loc = locations_text(&bytes).map_err(|m| bad(format!("array 'locations': {m}")))?;
            if loc.len() != features.nrows() {
                return Err(bad(format!(
                    "{} locations for {} cells",
                    loc.len(),
                    features.nrows()
                )));
            }
            Some(loc)
        }
    };
    Ok(Site {
        features,
        locations,
    })
}

/// The `descr` and `shape` of a .npy header, checked against the bytes after it.
fn npy_header(bytes: &[u8]) -> std::result::Result<(String, Vec<usize>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!(".npy version {v} is not one NumPy writes")),
    };
    let header = bytes
        .get(start..start + len)
        .ok_or("the .npy header runs past the end of the array")?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest.to_string())
    };
    let descr = field("descr")
        .and_then(|r| {
            r.strip_prefix('\'')
                .and_then(|r| r.split('\'').next())
                .map(str::to_string)
        })
        .ok_or("the .npy header has no dtype")?;
    let shape_text = field("shape")
        .and_then(|r| {
            r.strip_prefix('(')
                .and_then(|r| r.split(')').next())
                .map(str::to_string)
        })
        .ok_or("the .npy header has no shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("shape ({shape_text}) is not sizes"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let item = descr[2..].parse::<usize>().unwrap_or(0);
    let need = shape
        .iter()
        .try_fold(item.max(1), |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape ({shape_text}) overflows"))?;
    let have = bytes.len() - start - len;
    if need > have {
        return Err(format!(
            "shape ({shape_text}) of {descr} needs {need} bytes, the archive holds {have}"
        ));
    }
    Ok((descr, shape))
}

fn matrix_f64(bytes: &[u8]) -> std::result::Result<Array2<f64>, String> {
    let (descr, shape) = npy_header(bytes)?;
    if shape.len() != 2 {
        return Err(format!(
            "{} dimensions; expected cells × features",
            shape.len()
        ));
    }
    match descr.as_str() {
        "<f4" => Array2::<f32>::read_npy(bytes)
            .map(|a| a.mapv(f64::from))
            .map_err(|e| profiles::one_line(&e.to_string())),
        "<f8" => Array2::<f64>::read_npy(bytes).map_err(|e| profiles::one_line(&e.to_string())),
        other => Err(format!("dtype {other}; expected float32 or float64")),
    }
}

fn locations_text(bytes: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let (descr, shape) = npy_header(bytes)?;
    if shape.len() != 2 || shape[1] < 2 {
        return Err(format!("shape {shape:?}; expected cells × (x, y, …)"));
    }
    let err = |e: ndarray_npy::ReadNpyError| profiles::one_line(&e.to_string());
    let pairs = |a: Array2<String>| {
        a.rows()
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    };
    Ok(match descr.as_str() {
        "<f8" => pairs(
            Array2::<f64>::read_npy(bytes)
                .map_err(err)?
                .mapv(profiles::python_repr),
        ),
        "<f4" => pairs(
            Array2::<f32>::read_npy(bytes)
                .map_err(err)?
                .mapv(|v| profiles::python_repr(f64::from(v))),
        ),
        "<i8" => pairs(
            Array2::<i64>::read_npy(bytes)
                .map_err(err)?
                .mapv(|v| v.to_string()),
        ),
        "<i4" => pairs(
            Array2::<i32>::read_npy(bytes)
                .map_err(err)?
                .mapv(|v| v.to_string()),
        ),
        other => return Err(format!("dtype {other}; expected numbers")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_before_allocating() {
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&Array2::<f32>::zeros((3, 4)), &mut bytes).unwrap();
        assert_eq!(npy_header(&bytes).unwrap(), ("<f4".to_string(), vec![3, 4]));
        // The same header claiming 10^12 cells: refused, not allocated.
        let at = bytes.windows(6).position(|w| w == b"(3, 4)").unwrap();
        let mut big = bytes[..at].to_vec();
        big.extend_from_slice(b"(999999999999, 4)");
        big.extend_from_slice(&bytes[at + 6..]);
        let e = matrix_f64(&big).unwrap_err();
        assert!(e.contains("needs") && e.contains("holds"), "{e}");
        assert!(matrix_f64(&bytes[..20]).is_err());
        assert!(matrix_f64(b"not numpy at all").is_err());
    }

    #[test]
    fn plate_well_site_from_both_layouts() {
        let d = Path::new("/f");
        assert_eq!(
            site_of(d, Path::new("/f/P1/B02/4.npz"), '_').unwrap(),
            ("P1".into(), "B02".into(), "4".into())
        );
        assert_eq!(
            site_of(d, Path::new("/f/P1/x_B02_4.npz"), '_').unwrap(),
            ("P1".into(), "B02".into(), "4".into())
        );
        assert!(site_of(d, Path::new("/f/B02_4.npz"), '_').is_err());
        assert!(site_of(d, Path::new("/f/P1/B024.npz"), '_').is_err());
    }
}
