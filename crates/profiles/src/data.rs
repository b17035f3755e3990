//! Where the public data lives: the `CELLPAINT_DATA` setting and the files we know in it.

use std::path::{Path, PathBuf};

use crate::error::{ProfileError, Result};

/// Environment variable naming the data directory.
pub const DATA_ENV: &str = "CELLPAINT_DATA";

/// Relative paths (inside the data directory) of the files the project uses.
pub mod known {
    /// One LINCS Cell Painting plate (SQ00015054), level 4b, 384 wells × 454 features.
    pub const LINCS_PLATE: &str = "profiles/lincs_cp/SQ00015054_normalized_feature_select.csv.gz";
    /// A real L1000 level-3 plate, 978 landmark genes × 377 wells (GCT 1.3).
    pub const L1000_PLATE: &str = "l1000/cmapPy_LJP005_A375_24H/test_l1000.gct";
    /// Reference numbers computed by the peers on the LINCS plate.
    pub const REFERENCE_DIR: &str = "reference";
}

/// Resolves the data directory: an explicit path, else `$CELLPAINT_DATA`, else the first
/// `shared/data` found beside the current directory or one of its parents (so
/// `../shared/data` from a checkout). An explicit path or the variable that does not exist is
/// an error; finding nothing by search is `Ok(None)`.
pub fn resolve_data_dir(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(p) = explicit {
        return existing(p, "--data");
    }
    if let Some(v) = std::env::var_os(DATA_ENV) {
        if !v.is_empty() {
            return existing(Path::new(&v), DATA_ENV);
        }
    }
    let cwd = std::env::current_dir().map_err(|e| ProfileError::io(".", e))?;
    Ok(cwd
        .ancestors()
        .map(|a| a.join("shared").join("data"))
        .find(|c| c.is_dir()))
}

fn existing(p: &Path, what: &str) -> Result<Option<PathBuf>> {
    if p.is_dir() {
        Ok(Some(p.to_path_buf()))
    } else {
        Err(ProfileError::Io {
            path: p.to_path_buf(),
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("data directory given by {what} does not exist"),
            ),
        })
    }
}

/// A file inside the data directory, checked to exist.
pub fn data_file(dir: &Path, relative: &str) -> Result<PathBuf> {
    let p = dir.join(relative);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ProfileError::Io {
            path: p,
            cause: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "expected file is missing from the data directory (see docs/data.md)",
            ),
        })
    }
}

/// For tests and examples that compare against the real data: the data directory, or `None`
/// (with a note on stderr) when it is absent on a user's machine. Under CI (`CI` set) a
/// missing directory is a panic, so reference tests can never pass there without running.
pub fn data_dir_for_tests() -> Option<PathBuf> {
    match resolve_data_dir(None) {
        Ok(Some(d)) => Some(d),
        Ok(None) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but no data directory was found: set {DATA_ENV} or put shared/data beside the checkout")
        }
        Ok(None) => {
            eprintln!(
                "note: no data directory ({DATA_ENV} or ../shared/data); skipping a real-data test"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}
