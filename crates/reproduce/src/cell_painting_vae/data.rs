//! The datasets of the reproduction: the real LINCS plate at well level ("level 4") and as
//! consensus per compound and dose ("level 5"), the real L1000 plate, and a simulated screen
//! whose A|B compounds are known to be A + B.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ndarray::{Array2, Axis};
use profiles::{ConsensusOp, NormalizeMethod, NormalizeParams, ProfileTable};
use serde::Serialize;

/// Architecture and training settings of one dataset's models (the paper's Table 2 and §1 of
/// REFERENCE-IMPLEMENTATIONS.md).
#[derive(Debug, Clone, Serialize)]
pub struct Hyper {
    /// Units of the one hidden layer (encoder; the decoder mirrors it).
    pub hidden: usize,
    /// Latent dimensions.
    pub latent: usize,
    /// Profiles per Adam step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// β of the β-VAE.
    pub beta: f64,
    /// λ of the MMD-VAE.
    pub mmd_lambda: f64,
    /// Epochs for the vanilla, β and MMD models.
    pub epochs: [usize; 3],
}

/// Profiles with MOA labels ("DMSO" for controls, "" when unannotated).
pub struct Dataset {
    /// Short name used in file names and claim ids (`cell-painting`, `l1000`).
    pub key: &'static str,
    /// Name shown in the report.
    pub name: &'static str,
    /// Feature columns, in the order of `x`'s columns.
    pub feature_names: Vec<String>,
    /// `(profiles, features)`.
    pub x: Array2<f64>,
    /// Each profile's MOA label.
    pub labels: Vec<String>,
    /// The paper's settings for this dataset.
    pub hyper: Hyper,
}

/// The paper's Cell Painting level-5 models: 250 → 10, batch 96, lr 1e-3, β 0.3, λ 1000.
pub fn level5_hyper() -> Hyper {
    Hyper {
        hidden: 250,
        latent: 10,
        batch_size: 96,
        lr: 1e-3,
        beta: 0.3,
        mmd_lambda: 1000.0,
        epochs: [100, 100, 30],
    }
}

fn labels_of(table: &ProfileTable, moa_column: &str, sample_column: &str) -> Result<Vec<String>> {
    Ok(profile_vae::moa_labels(
        table.metadata(moa_column)?,
        table.metadata(sample_column)?,
        "DMSO",
    ))
}

/// The LINCS plate: wells (level 4) and MODZ consensus per compound and dose (level 5).
pub fn lincs(data_dir: &Path) -> Result<(Dataset, Dataset)> {
    let path = data_dir.join(profiles::data::known::LINCS_PLATE);
    let wells = profiles::read_table(&path, &Default::default())
        .with_context(|| format!("reading the LINCS plate {}", path.display()))?;
    let labels = labels_of(&wells, "Metadata_moa", "Metadata_broad_sample")?;
    let moa_of: HashMap<String, String> = wells
        .metadata("Metadata_broad_sample")?
        .iter()
        .cloned()
        .zip(labels.iter().cloned())
        .collect();
    let level5 = profiles::consensus(
        &wells,
        &["Metadata_broad_sample", "Metadata_mmoles_per_liter"],
        ConsensusOp::modz(),
    )?;
    let l5_labels = level5
        .metadata("Metadata_broad_sample")?
        .iter()
        .map(|s| moa_of.get(s).cloned().unwrap_or_default())
        .collect();
    let l4 = Dataset {
        key: "cp_level4",
        name: "Cell Painting level 4 (LINCS wells)",
        feature_names: wells.feature_names().to_vec(),
        x: wells.features().to_owned(),
        labels,
        hyper: Hyper {
            hidden: 250,
            latent: 90,
            batch_size: 32,
            lr: 1e-4,
            beta: 0.06,
            mmd_lambda: 10_000.0,
            epochs: [58, 58, 50],
        },
    };
    let l5 = Dataset {
        key: "cp_level5",
        name: "Cell Painting level 5 (LINCS consensus)",
        feature_names: level5.feature_names().to_vec(),
        x: level5.features().to_owned(),
        labels: l5_labels,
        hyper: level5_hyper(),
    };
    Ok((l5, l4))
}

/// The L1000 plate (978 landmark genes × 377 wells), MOAs from the derived metadata.
pub fn l1000(data_dir: &Path) -> Result<Dataset> {
    let gct = data_dir.join(profiles::data::known::L1000_PLATE);
    let table = profiles::gct::read_gct(&gct)?;
    let meta_path = gct.with_file_name("col_metadata_with_moa.DERIVED.csv");
    let mut reader = csv::Reader::from_path(&meta_path)
        .with_context(|| format!("opening {}", meta_path.display()))?;
    let header = reader.headers()?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column '{name}'", meta_path.display()))
    };
    let (cid, moa) = (col("cid")?, col("moa_from_repurposing_simple")?);
    let mut moa_of = HashMap::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", meta_path.display(), i + 2))?;
        moa_of.insert(rec[cid].to_string(), rec[moa].to_string());
    }
    let inames = table.metadata("Metadata_pert_iname")?;
    let labels: Vec<String> = table
        .metadata("Metadata_cid")?
        .iter()
        .zip(inames)
        .map(|(c, n)| {
            if n == "DMSO" {
                "DMSO".to_string()
            } else {
                moa_of.get(c).cloned().unwrap_or_default()
            }
        })
        .collect();
    if !labels.iter().any(|l| l == "DMSO") {
        bail!("{}: no DMSO wells (pert_iname = DMSO)", gct.display());
    }
    Ok(Dataset {
        key: "l1000",
        name: "L1000 (LJP005 A375 plate)",
        feature_names: table.feature_names().to_vec(),
        x: table.features().to_owned(),
        labels,
        // Inputs are min-max scaled here as for Cell Painting; the paper's λ = 10⁷ was set for
        // its own L1000 scaling, whose reconstruction term is ~10³× larger, so λ = 10⁴.
        hyper: Hyper {
            hidden: 500,
            latent: 65,
            batch_size: 512,
            lr: 1e-3,
            beta: 40.0,
            mmd_lambda: 10_000.0,
            epochs: [180, 180, 180],
        },
    })
}

/// A simulated screen at well level, robust-z normalised per plate against all wells (as the
/// LINCS level-4 profiles are), with the level-5 models' settings (the paper's LSA models).
pub fn simulated(cfg: &cellpaint_sim::SimConfig) -> Result<(Dataset, cellpaint_sim::Screen)> {
    let screen = cellpaint_sim::Screen::design(cfg)?;
    let raw = screen.profiles()?;
    let table = profiles::normalize(
        &raw,
        &NormalizeParams::new(NormalizeMethod::MadRobustize).per("Metadata_Plate"),
    )?;
    let labels = labels_of(&table, "Metadata_moa", "Metadata_broad_sample")?;
    Ok((
        Dataset {
            key: "simulated",
            name: "Simulated screen (wells)",
            feature_names: table.feature_names().to_vec(),
            x: table.features().to_owned(),
            labels,
            hyper: level5_hyper(),
        },
        screen,
    ))
}

/// Seeded 80/10/10 split of row indices.
pub fn split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut rng = cellpaint_core::rng::seeded_rng(seed);
    let order = cellpaint_core::rng::permutation(n, &mut rng);
    let (a, b) = (n * 8 / 10, n * 9 / 10);
    (
        order[..a].to_vec(),
        order[a..b].to_vec(),
        order[b..].to_vec(),
    )
}

/// Rows of `x` at `idx`.
pub fn rows(x: &Array2<f64>, idx: &[usize]) -> Array2<f64> {
    x.select(Axis(0), idx)
}
