//! Subcommands. Each reads a table, does one pycytominer-style step and writes the result
//! (metadata columns first) plus `OUT.run.json`: the resolved settings and what happened.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ndarray::Axis;
use profiles::data::known;
use profiles::{
    AggregateOp, ConsensusOp, CorrelationMethod, FeatureSelectOp, FeatureSelectParams,
    MetadataColumns, NormalizeMethod, NormalizeParams, ProfileTable, ReadOptions, Selection,
    SyntheticPlate,
};
use serde_json::json;
use sphering::{FittedSphering, Regularization, SpheringMethod, SpheringParams};

#[derive(Parser, Debug)]
#[command(
    name = "cellpaint",
    version,
    about = "Image-based profiling of Cell Painting experiments",
    long_about = "Image-based profiling of Cell Painting experiments.\n\n\
        Tables are CSV or TSV (optionally .gz), Parquet (a file, or a folder of parts), GCT or GCTX,\n\
        chosen by the name, with one row per well (or cell, or treatment).\n\
        Columns starting with Metadata_ describe the sample; all others are numeric features.\n\
        Every command writes its output table and OUT.run.json with the settings it used."
)]
pub struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the standard pipeline (feature selection, then sphering on DMSO wells) on a plate:
    /// by default the real LINCS plate in the data directory, or a seeded synthetic plate if
    /// there is no data directory.
    Pipeline(PipelineArgs),
    /// Scale each feature, e.g. robust z-score against DMSO wells per plate.
    Normalize(NormalizeArgs),
    /// Drop uninformative or redundant features.
    FeatureSelect(FeatureSelectArgs),
    /// Collapse rows to one per group (e.g. cells → wells) by median or mean.
    Aggregate(AggregateArgs),
    /// Add plate map (and compound) metadata to profiles, as pycytominer's annotate.
    Annotate(AnnotateArgs),
    /// Collapse replicate wells into one signature per treatment (median, mean or MODZ).
    Consensus(ConsensusArgs),
    /// Whiten (sphere) profiles against control wells, so controls have identity covariance.
    Sphere(SphereArgs),
    /// Evaluate profiles: mAP (activity, consistency), enrichment, kNN, NSC, grit, ….
    Eval(crate::eval::EvalArgs),
    /// Prepare images as DeepProfiler does: illumination functions, 8-bit PNG compression,
    /// single-cell crops.
    #[command(subcommand)]
    Prepare(crate::images::PrepareCommand),
    /// Find nuclei on a DNA image; writes one row per nucleus with CellProfiler's column names.
    DetectNuclei(crate::images::DetectArgs),
    /// Measure the objects a LoadData index names (ObjectsFileName_<Object>) as CellProfiler
    /// does (AreaShape, Intensity per channel): one single-cell table per object.
    Measure(crate::measure::MeasureArgs),
    /// Simulate a Cell Painting screen with known ground truth.
    #[command(subcommand)]
    Simulate(crate::images::SimulateCommand),
    /// The Cell Painting CNN (DeepProfiler): train on exported crops, profile, evaluate.
    #[command(subcommand)]
    Deepprofiler(crate::deepprofiler::DeepProfilerCommand),
    /// MOAProfiler: train the field-level MOA classifier, embed wells, evaluate.
    #[command(subcommand)]
    MoaProfiler(crate::moa_profiler::MoaProfilerCommand),
    /// Profile VAEs (vanilla, β, MMD; Way et al.): train, embed, simulate, latent arithmetic,
    /// latent traversal.
    #[command(subcommand)]
    ProfileVae(crate::profile_vae::ProfileVaeCommand),
    /// The convolutional AE, VAE and VAE+ (Lafarge et al.) on single-cell crops: train,
    /// embed, reconstruct, interpolate, NSC/NSCB.
    #[command(subcommand)]
    VaePlus(crate::vae_plus::VaePlusCommand),
}

#[derive(Args, Debug, Clone)]
pub struct Io {
    /// Input table (.csv, .tsv, optionally .gz; .parquet, or a folder of .parquet parts; .gct
    /// or .gctx for CMap files).
    pub input: PathBuf,
    /// Output table; .gz compresses; .tsv uses tabs; .parquet writes Parquet (snappy).
    pub output: PathBuf,
    /// Columns starting with this are metadata; several comma-separated prefixes for
    /// CellProfiler single-cell tables (`Metadata_,Image_`).
    #[arg(long, default_value = "Metadata_")]
    pub metadata_prefix: String,
}

/// Whether `a` and `b` name the same file (`b` may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| -> Option<PathBuf> {
        p.canonicalize().ok().or_else(|| {
            let parent = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Some(parent.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

impl Io {
    /// The input's read options; refuses an output that is the input.
    fn read_options(&self) -> Result<ReadOptions> {
        if same_file(&self.input, &self.output) {
            anyhow::bail!(
                "{}: the output is the input; writing it would destroy the data being read (choose another output)",
                self.output.display()
            );
        }
        Ok(ReadOptions {
            metadata: if self.metadata_prefix.contains(',') {
                MetadataColumns::Prefixes(
                    self.metadata_prefix
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            } else {
                MetadataColumns::Prefix(self.metadata_prefix.clone())
            },
            delimiter: None,
        })
    }

    fn read(&self, quiet: bool) -> Result<ProfileTable> {
        let opts = self.read_options()?;
        let t = profiles::read_table(&self.input, &opts)?;
        say(
            quiet,
            &format!(
                "read {} rows × {} features from {}",
                t.n_rows(),
                t.n_features(),
                self.input.display()
            ),
        );
        Ok(t)
    }
    fn write(&self, table: &ProfileTable, run: serde_json::Value, quiet: bool) -> Result<()> {
        profiles::write_table(table, &self.output)?;
        let sidecar = sidecar_path(&self.output);
        profiles::write_json(&sidecar, &run)?;
        say(
            quiet,
            &format!(
                "wrote {} rows × {} features to {} (settings in {})",
                table.n_rows(),
                table.n_features(),
                self.output.display(),
                sidecar.display()
            ),
        );
        Ok(())
    }
}

fn sidecar_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".run.json");
    PathBuf::from(s)
}

fn say(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("{msg}");
    }
}

#[derive(Args, Debug)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub io: Io,
    /// standardize | robustize | mad_robustize | minmax
    #[arg(long, default_value = "mad_robustize")]
    pub method: NormalizeMethod,
    /// Fit on these rows only, e.g. Metadata_broad_sample=DMSO (repeat to combine).
    #[arg(long = "fit-on")]
    pub fit_on: Vec<Selection>,
    /// Normalize each group separately, e.g. Metadata_Plate (repeatable).
    #[arg(long)]
    pub per: Vec<String>,
    /// Added to the MAD (mad_robustize only).
    #[arg(long, default_value_t = 1e-18)]
    pub mad_epsilon: f64,
}

#[derive(Args, Debug)]
pub struct FeatureSelectArgs {
    #[command(flatten)]
    pub io: Io,
    /// Comma-separated: variance_threshold, frequency_threshold, correlation_threshold,
    /// drop_na_columns, blocklist, drop_outliers (pycytominer 1.7's operations).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "variance_threshold,correlation_threshold,drop_na_columns,blocklist"
    )]
    pub operations: Vec<FeatureSelectOp>,
    /// Compute statistics on these rows only (repeatable).
    #[arg(long = "fit-on")]
    pub fit_on: Vec<Selection>,
    /// variance_threshold: drop features whose variance is at most this.
    #[arg(long, default_value_t = 1e-6)]
    pub min_variance: f64,
    /// frequency_threshold: 2nd most common / most common value count below this drops.
    #[arg(long, default_value_t = 0.05)]
    pub freq_cut: f64,
    /// frequency_threshold: distinct values / rows below this drops.
    #[arg(long, default_value_t = 0.01)]
    pub unique_cut: f64,
    #[arg(long, default_value_t = 0.9)]
    pub corr_threshold: f64,
    #[arg(long, default_value = "pearson")]
    pub corr_method: CorrelationMethod,
    #[arg(long, default_value_t = 0.05)]
    pub na_cutoff: f64,
    #[arg(long, default_value_t = 500.0)]
    pub outlier_cutoff: f64,
    /// File with one feature name per line to drop (default: pycytominer's blocklist).
    #[arg(long)]
    pub blocklist: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AggregateArgs {
    #[command(flatten)]
    pub io: Io,
    /// Columns defining the groups, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Metadata_Plate,Metadata_Well"
    )]
    pub strata: Vec<String>,
    /// median | mean
    #[arg(long, default_value = "median")]
    pub operation: AggregateOp,
    /// For a CellProfiler SQLite input (.sqlite, .db): the compartment tables joined on
    /// ImageNumber/ObjectNumber (Per_<name> or <name>); strata are image-table columns
    /// (Metadata_Plate also finds Image_Metadata_Plate).
    #[arg(long, value_delimiter = ',', default_value = "Cells,Cytoplasm,Nuclei")]
    pub compartments: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AnnotateArgs {
    #[command(flatten)]
    pub io: Io,
    /// Plate map(s): CSV/TSV files, or a folder of them, with a well column (e.g.
    /// `well_position`); several files need the same header and a plate map name column.
    #[arg(long, required = true)]
    pub platemap: Vec<PathBuf>,
    /// Barcode table mapping each plate to its plate map (`Assay_Plate_Barcode,
    /// Plate_Map_Name,…`, the Broad's barcode_platemap.csv); its other columns are added too.
    #[arg(long)]
    pub barcode_platemap: Option<PathBuf>,
    /// Plate map column = profile column (repeatable). Default Metadata_well_position =
    /// Metadata_Well; with --barcode-platemap also Metadata_plate_map_name =
    /// Metadata_Plate_Map_Name. Plate map columns are named with the Metadata_ prefix added.
    #[arg(long = "join-on")]
    pub join_on: Vec<profiles::KeyPair>,
    /// Barcode table column = profile column (repeatable).
    #[arg(
        long = "barcode-on",
        default_value = "Metadata_Assay_Plate_Barcode=Metadata_Plate"
    )]
    pub barcode_on: Vec<profiles::KeyPair>,
    /// External metadata (e.g. compound → MOA), joined as a left join: rows it does not cover
    /// keep empty values.
    #[arg(long, requires = "external_on")]
    pub external: Option<PathBuf>,
    /// External column = profile column (repeatable), e.g.
    /// broad_sample=Metadata_broad_sample.
    #[arg(long = "external-on", requires = "external")]
    pub external_on: Vec<profiles::KeyPair>,
    /// Leave out profile rows the plate map does not cover (pycytominer's inner join) instead
    /// of refusing the table.
    #[arg(long)]
    pub drop_unmatched: bool,
}

/// The annotation files of `annotate`: each path, or every .csv/.tsv/.txt (optionally .gz)
/// file of a folder, sorted by name.
fn annotation_tables(paths: &[PathBuf]) -> Result<profiles::MetadataTable> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: reading the folder", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let n = f.to_string_lossy().to_lowercase();
                    let n = n.strip_suffix(".gz").unwrap_or(&n);
                    f.is_file() && [".csv", ".tsv", ".txt"].iter().any(|e| n.ends_with(e))
                })
                .collect();
            if inside.is_empty() {
                bail!("{}: no .csv, .tsv or .txt file in this folder", p.display());
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(p.clone());
        }
    }
    let tables = files
        .iter()
        .map(profiles::MetadataTable::read)
        .collect::<profiles::Result<Vec<_>>>()?;
    Ok(profiles::MetadataTable::concat(tables)?)
}

#[derive(Args, Debug)]
pub struct ConsensusArgs {
    #[command(flatten)]
    pub io: Io,
    /// Columns identifying replicates of one treatment, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Metadata_broad_sample,Metadata_mmoles_per_liter"
    )]
    pub replicate_columns: Vec<String>,
    /// median | mean | modz
    #[arg(long, default_value = "median")]
    pub operation: String,
}

#[derive(Args, Debug, Clone)]
pub struct SphereSettings {
    /// ZCA | PCA | ZCA-cor | PCA-cor
    #[arg(long, default_value = "ZCA")]
    pub method: SpheringMethod,
    /// DeepProfiler regularisation: added to the covariance eigenvalues.
    #[arg(long, conflicts_with = "epsilon")]
    pub lambda: Option<f64>,
    /// pycytominer regularisation: added to the singular values.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Control rows the transform is fit on (repeatable).
    #[arg(long = "fit-on", default_value = "Metadata_broad_sample=DMSO")]
    pub fit_on: Vec<Selection>,
}

impl SphereSettings {
    fn params(&self) -> SpheringParams {
        let p = SpheringParams::new(self.method);
        match (self.lambda, self.epsilon) {
            (_, Some(e)) => p.epsilon(e),
            (Some(l), None) => p.lambda(l),
            (None, None) => p.lambda(0.01),
        }
    }
}

#[derive(Args, Debug)]
pub struct SphereArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub settings: SphereSettings,
    /// Also save the fitted transform as JSON (to apply it to other plates later).
    #[arg(long)]
    pub save_transform: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// Data directory (default: $CELLPAINT_DATA, else ../shared/data when it exists).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Plate to process (default: the LINCS plate in the data directory).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "cellpaint-out")]
    pub out: PathBuf,
    #[command(flatten)]
    pub settings: SphereSettings,
}

pub fn run(cli: Cli) -> Result<()> {
    let q = cli.quiet;
    match cli.command {
        Command::Prepare(c) => crate::images::prepare(c, q),
        Command::DetectNuclei(a) => crate::images::detect(a, q),
        Command::Measure(a) => crate::measure::measure(a, q),
        Command::Simulate(c) => crate::images::simulate(c, q),
        Command::Deepprofiler(c) => crate::deepprofiler::run(c, q),
        Command::MoaProfiler(c) => crate::moa_profiler::run(c, q),
        Command::ProfileVae(c) => crate::profile_vae::run(c, q),
        Command::VaePlus(c) => crate::vae_plus::run(c, q),
        Command::Annotate(a) => {
            let t = a.io.read(q)?;
            let platemap = annotation_tables(&a.platemap)?;
            let barcodes = match &a.barcode_platemap {
                Some(p) => Some(profiles::MetadataTable::read(p)?),
                None => None,
            };
            let external = match &a.external {
                Some(p) => Some(profiles::MetadataTable::read(p)?),
                None => None,
            };
            let mut params = profiles::AnnotateParams {
                barcode_on: a.barcode_on.clone(),
                external_on: a.external_on.clone(),
                unmatched: if a.drop_unmatched {
                    profiles::Unmatched::Drop
                } else {
                    profiles::Unmatched::Error
                },
                ..Default::default()
            };
            if !a.join_on.is_empty() {
                params.join_on = a.join_on.clone();
            } else if barcodes.is_some() {
                params.join_on = profiles::AnnotateParams::plate_map_and_well();
            }
            let (out, report) =
                profiles::annotate(&t, &platemap, barcodes.as_ref(), external.as_ref(), &params)?;
            say(
                q,
                &format!(
                    "annotated {} of {} rows from {}{}",
                    report.platemap.matched,
                    t.n_rows(),
                    platemap.source(),
                    match &report.external {
                        Some(e) => format!("; {} rows found in {}", e.matched, e.table),
                        None => String::new(),
                    }
                ),
            );
            a.io.write(
                &out,
                json!({"command": "annotate", "input": a.io.input, "platemap": a.platemap,
                       "barcode_platemap": a.barcode_platemap, "external": a.external,
                       "join_on": params.join_on, "barcode_on": params.barcode_on,
                       "external_on": params.external_on, "unmatched": params.unmatched,
                       "report": report}),
                q,
            )
        }
        Command::Normalize(a) => {
            let t = a.io.read(q)?;
            let params = NormalizeParams {
                method: a.method,
                fit_on: a.fit_on,
                per: a.per,
                mad_epsilon: a.mad_epsilon,
            };
            let out = profiles::normalize(&t, &params)?;
            a.io.write(
                &out,
                json!({"command": "normalize", "input": a.io.input, "params": params}),
                q,
            )
        }
        Command::FeatureSelect(a) => {
            let t = a.io.read(q)?;
            let blocklist = match &a.blocklist {
                None => None,
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading blocklist {}", p.display()))?
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && *l != "blocklist")
                        .map(String::from)
                        .collect(),
                ),
            };
            let params = FeatureSelectParams {
                operations: a.operations,
                fit_on: a.fit_on,
                min_variance: a.min_variance,
                freq_cut: a.freq_cut,
                unique_cut: a.unique_cut,
                corr_threshold: a.corr_threshold,
                corr_method: a.corr_method,
                na_cutoff: a.na_cutoff,
                outlier_cutoff: a.outlier_cutoff,
                blocklist,
            };
            let (out, report) = profiles::feature_select(&t, &params)?;
            say(
                q,
                &format!("kept {} of {} features", report.n_after, report.n_before),
            );
            a.io.write(&out, json!({"command": "feature-select", "input": a.io.input, "params": params, "report": report}), q)
        }
        Command::Aggregate(a) => {
            let lower = a.io.input.to_string_lossy().to_lowercase();
            if [".sqlite", ".db", ".sqlite3"]
                .iter()
                .any(|e| lower.ends_with(e))
            {
                // A CellProfiler database: joined, sorted and aggregated in one streamed pass.
                let params = profiles::sqlite::SqliteAggregate {
                    compartments: a.compartments.clone(),
                    strata: a.strata.clone(),
                    operation: a.operation,
                };
                let out = profiles::sqlite::aggregate_sqlite(&a.io.input, &params)?;
                return a.io.write(&out, json!({"command": "aggregate", "input": a.io.input, "compartments": a.compartments, "strata": a.strata, "operation": a.operation}), q);
            }
            if profiles::parquet_io::is_parquet(&a.io.input) {
                // Single cells in Parquet: streamed column by column, never held whole.
                let opts = a.io.read_options()?;
                let out = profiles::aggregate_parquet(
                    &a.io.input,
                    &opts.metadata,
                    &a.strata,
                    a.operation,
                )?;
                return a.io.write(&out, json!({"command": "aggregate", "input": a.io.input, "strata": a.strata, "operation": a.operation, "streamed": true}), q);
            }
            let t = a.io.read(q)?;
            let out = profiles::aggregate(&t, &a.strata, a.operation)?;
            a.io.write(&out, json!({"command": "aggregate", "input": a.io.input, "strata": a.strata, "operation": a.operation}), q)
        }
        Command::Consensus(a) => {
            let t = a.io.read(q)?;
            let op = match a.operation.to_ascii_lowercase().as_str() {
                "median" => ConsensusOp::Median,
                "mean" => ConsensusOp::Mean,
                "modz" => ConsensusOp::modz(),
                other => bail!("unknown consensus operation '{other}' (median, mean or modz)"),
            };
            let out = profiles::consensus(&t, &a.replicate_columns, op)?;
            a.io.write(&out, json!({"command": "consensus", "input": a.io.input, "replicate_columns": a.replicate_columns, "operation": op}), q)
        }
        Command::Sphere(a) => {
            let t = a.io.read(q)?;
            let (out, fitted, stats) = sphere(&t, &a.settings, q)?;
            if let Some(p) = &a.save_transform {
                profiles::write_atomic(p, |w| {
                    w.write_all(fitted.to_json().map_err(std::io::Error::other)?.as_bytes())
                })?;
            }
            a.io.write(&out, json!({"command": "sphere", "input": a.io.input, "params": fitted.params, "fit_on": a.settings.fit_on, "controls": stats}), q)
        }
        Command::Pipeline(a) => pipeline(a, q),
        Command::Eval(a) => crate::eval::run(a),
    }
}

/// Fits on the control rows, spheres all rows; returns the table, the transform and control checks.
fn sphere(
    t: &ProfileTable,
    s: &SphereSettings,
    quiet: bool,
) -> Result<(ProfileTable, FittedSphering, serde_json::Value)> {
    // The workspace's NaN rule, with the file line and column (the rows are the file's).
    t.require_finite(
        "sphering needs finite values: drop or impute such features first \
         (feature-select --operations drop_na_columns)",
    )?;
    let rows = t
        .rows_matching(&s.fit_on)
        .context("choosing control rows for sphering (--fit-on)")?;
    let controls = t.features().select(Axis(0), &rows);
    let params = s.params();
    if let Regularization::SingularValue { .. } = params.regularization {
        if rows.len() <= t.n_features() {
            say(quiet, &format!(
                "warning: {} controls for {} features: directions the controls do not span get gain √(n−1)/ε; prefer --lambda (see docs/sphering.md)",
                rows.len(), t.n_features()
            ));
        }
    }
    let fitted = params
        .fit(controls.view())
        .map_err(|e| anyhow::anyhow!("{}: {}", t.source(), e.describe(t.feature_names())))?;
    let white = fitted
        .transform(t.features())
        .map_err(|e| anyhow::anyhow!("{}: {}", t.source(), e.describe(t.feature_names())))?;
    let c = white.select(Axis(0), &rows);
    let mean_abs = c
        .mean_axis(Axis(0))
        .unwrap()
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let centred = &c - &c.mean_axis(Axis(0)).unwrap();
    let var: Vec<f64> = centred
        .axis_iter(Axis(1))
        .map(|col| col.dot(&col) / c.nrows() as f64)
        .collect();
    let stats = json!({
        "n_controls": rows.len(),
        "n_features": t.n_features(),
        "max_abs_control_mean": mean_abs,
        "mean_control_variance": var.iter().sum::<f64>() / var.len() as f64,
        "largest_eigenvalue": fitted.eigenvalues[0],
        "smallest_eigenvalue": fitted.eigenvalues[fitted.eigenvalues.len() - 1],
    });
    let names = fitted.output_names(t.feature_names());
    Ok((t.with_features(names, white)?, fitted, stats))
}

fn pipeline(a: PipelineArgs, q: bool) -> Result<()> {
    let data = profiles::resolve_data_dir(a.data.as_deref())?;
    let (table, source) = match (&a.input, &data) {
        (Some(input), _) => (
            profiles::read_table(input, &ReadOptions::default())?,
            input.display().to_string(),
        ),
        (None, Some(dir)) => {
            let p = profiles::data_file(dir, known::LINCS_PLATE)?;
            (
                profiles::read_table(&p, &ReadOptions::default())?,
                p.display().to_string(),
            )
        }
        (None, None) => {
            let plate = SyntheticPlate::default();
            say(q, &format!(
                "no data directory found (--data, ${} or ../shared/data): running on the embedded synthetic plate (seed {}); see docs/data.md to get the real LINCS plate",
                profiles::DATA_ENV, plate.seed
            ));
            (plate.generate(), "synthetic".to_string())
        }
    };
    say(
        q,
        &format!(
            "plate {source}: {} wells × {} features",
            table.n_rows(),
            table.n_features()
        ),
    );
    let fs_params = FeatureSelectParams::default();
    let (selected, report) = profiles::feature_select(&table, &fs_params)?;
    say(
        q,
        &format!(
            "feature selection kept {} of {} features",
            report.n_after, report.n_before
        ),
    );
    let (sphered, fitted, stats) = sphere(&selected, &a.settings, q)?;
    say(q, &format!(
        "sphered with {} fit on {} control wells: control means ≤ {:.2e}, mean control variance {:.3}",
        fitted.params.method, stats["n_controls"], stats["max_abs_control_mean"].as_f64().unwrap_or(f64::NAN),
        stats["mean_control_variance"].as_f64().unwrap_or(f64::NAN)
    ));
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let out_table = a.out.join("profiles_sphered.csv.gz");
    profiles::write_table(&sphered, &out_table)?;
    let transform = a.out.join("sphering_transform.json");
    profiles::write_atomic(&transform, |w| {
        w.write_all(fitted.to_json().map_err(std::io::Error::other)?.as_bytes())
    })?;
    profiles::write_json(
        &a.out.join("run.json"),
        &json!({
            "command": "pipeline",
            "input": source,
            "data_dir": data,
            "feature_select": {"params": fs_params, "report": report},
            "sphering": {"params": fitted.params, "fit_on": a.settings.fit_on, "controls": stats},
            "outputs": {"profiles": out_table, "transform": transform},
        }),
    )?;
    say(
        q,
        &format!(
            "wrote {} and run.json in {}",
            out_table.display(),
            a.out.display()
        ),
    );
    Ok(())
}
