//! `cellpaint eval …`: evaluation metrics from the shell. Each writes a CSV (`-o`) of per-group
//! results and prints a one-line summary, or the summary as JSON with `--json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use profiles::{ProfileTable, ReadOptions, Selection};
use profiling_eval::moa_profiler::knn_all_k;
use profiling_eval::*;
use serde_json::json;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub metric: Metric,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Profiles to evaluate (.csv/.tsv, optionally .gz).
    pub input: PathBuf,
    /// Per-group results as CSV.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Print the summary as JSON on stdout instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Only evaluate rows matching these selections (repeatable), e.g. Metadata_Plate=P1.
    #[arg(long)]
    pub keep: Vec<Selection>,
    /// Drop every feature with a NaN or ±inf value (pycytominer's drop_na_columns at cutoff
    /// 0) and say how many. Without it a non-finite feature value is an error naming the
    /// file, line and column: metrics on NaN-filled profiles would silently change.
    #[arg(long)]
    pub drop_na_features: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MapOptions {
    /// cosine | pearson | spearman | euclidean
    #[arg(long, default_value = "cosine")]
    pub similarity: Similarity,
    /// Random rank lists in the null distribution of each mAP (1 to 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub null_size: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Significance level (on BH-corrected p-values in the summary).
    #[arg(long, default_value_t = 0.05)]
    pub threshold: f64,
}

impl MapOptions {
    fn settings(&self) -> MapSettings {
        MapSettings {
            similarity: self.similarity,
            null_size: self.null_size as usize,
            threshold: self.threshold,
            seed: self.seed,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Metric {
    /// Mean average precision with copairs' pair definitions.
    Map {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_delimiter = ',', required = true)]
        pos_sameby: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        pos_diffby: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        neg_sameby: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        neg_diffby: Vec<String>,
        /// Columns grouping queries into one mAP each (default: --pos-sameby).
        #[arg(long, value_delimiter = ',')]
        group_by: Vec<String>,
        #[command(flatten)]
        map: MapOptions,
    },
    /// Phenotypic activity: is each treatment distinguishable from the controls?
    Activity {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Metadata_broad_sample")]
        by: String,
        #[arg(long, default_value = "Metadata_broad_sample=DMSO")]
        controls: Vec<Selection>,
        #[command(flatten)]
        map: MapOptions,
    },
    /// Consistency: do treatments sharing an annotation (e.g. MOA) look alike?
    Consistency {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Metadata_moa")]
        by: String,
        /// Positives must differ on this column (e.g. be other compounds).
        #[arg(long, default_value = "Metadata_broad_sample")]
        diff: String,
        #[command(flatten)]
        map: MapOptions,
    },
    /// Enrichment odds ratio of replicate pairs among the most similar pairs (cytominer-eval).
    Enrichment {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_delimiter = ',', default_value = "Metadata_broad_sample")]
        by: Vec<String>,
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "0.99,0.98,0.97,0.96,0.95,0.9"
        )]
        percentiles: Vec<f64>,
        #[arg(long, default_value = "pearson")]
        similarity: Similarity,
    },
    /// Leave-one-out kNN majority vote for k = 1..k-max, support-weighted scores.
    Knn {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Metadata_moa")]
        by: String,
        #[arg(long, default_value_t = 10)]
        k_max: usize,
        #[arg(long, default_value = "pearson")]
        similarity: Similarity,
    },
    /// Not-same-compound (and with --batch, not-same-batch) 1-NN classification accuracy.
    Nsc {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Metadata_moa")]
        label: String,
        #[arg(long, default_value = "Metadata_broad_sample")]
        compound: String,
        #[arg(long)]
        batch: Option<String>,
        #[arg(long, default_value = "cosine")]
        similarity: Similarity,
    },
    /// Fraction of replicate pairs more similar than a quantile of non-replicate pairs.
    ReplicateReproducibility {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_delimiter = ',', default_value = "Metadata_broad_sample")]
        by: Vec<String>,
        #[arg(long, default_value_t = 0.95)]
        quantile: f64,
        #[arg(long, default_value = "pearson")]
        similarity: Similarity,
    },
    /// Precision and recall of replicate pairs among each group's k most similar pairs.
    PrecisionAtK {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_delimiter = ',', default_value = "Metadata_broad_sample")]
        by: Vec<String>,
        /// Query groups (default: --by).
        #[arg(long, value_delimiter = ',')]
        group_by: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
        k: Vec<usize>,
        #[arg(long, default_value = "pearson")]
        similarity: Similarity,
    },
    /// grit: similarity to the perturbation's group, z-scored against controls.
    Grit {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "Metadata_broad_sample")]
        profile: String,
        #[arg(long, default_value = "Metadata_moa")]
        group: String,
        #[arg(long, value_delimiter = ',', default_value = "DMSO")]
        controls: Vec<String>,
        #[arg(long, default_value = "pearson")]
        similarity: Similarity,
    },
}

fn load(c: &Common) -> Result<ProfileTable> {
    let mut t = profiles::read_table(&c.input, &ReadOptions::default())?;
    if c.drop_na_features {
        let (kept, dropped) = t.drop_non_finite_features();
        if !dropped.is_empty() {
            eprintln!(
                "{}: dropped {} of {} features with a non-finite value (--drop-na-features)",
                c.input.display(),
                dropped.len(),
                t.n_features()
            );
        }
        t = kept;
    } else {
        t.require_finite(
            "evaluation needs finite features (as copairs does): pass --drop-na-features to drop \
             such columns, or run feature-select --operations drop_na_columns",
        )?;
    }
    if c.keep.is_empty() {
        return Ok(t);
    }
    let rows = t.rows_matching(&c.keep)?;
    Ok(t.select_rows(&rows))
}

fn write_csv(path: &Option<PathBuf>, header: &[String], rows: Vec<Vec<String>>) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    profiles::write_atomic(path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(header)?;
        for r in rows {
            wtr.write_record(&r)?;
        }
        wtr.flush()
    })
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn report(common: &Common, summary: serde_json::Value, sentence: String) -> Result<()> {
    if common.json {
        crate::print_line(&summary.to_string())
    } else {
        crate::print_line(&sentence)
    }
}

fn f(v: f64) -> String {
    profiles::io::format_f64(v)
}

fn map_report(
    common: &Common,
    group_cols: &[String],
    maps: &[GroupMap],
    threshold: f64,
) -> Result<()> {
    let mut header = group_cols.to_vec();
    header.extend(
        [
            "mean_average_precision",
            "mean_normalized_average_precision",
            "p_value",
            "exact_p_value",
            "corrected_p_value",
            "below_p",
            "below_corrected_p",
            "n_queries",
        ]
        .map(String::from),
    );
    let rows = maps
        .iter()
        .map(|g| {
            let mut r = g.key.clone();
            r.extend([
                f(g.mean_average_precision),
                f(g.mean_normalized_average_precision),
                f(g.p_value),
                g.exact_p_value.map(f).unwrap_or_default(),
                f(g.corrected_p_value),
                g.below_p.to_string(),
                g.below_corrected_p.to_string(),
                g.rows.len().to_string(),
            ]);
            r
        })
        .collect();
    write_csv(&common.output, &header, rows)?;
    let n = maps.len() as f64;
    let mean = maps.iter().map(|g| g.mean_average_precision).sum::<f64>() / n;
    let frac = maps.iter().filter(|g| g.below_corrected_p).count() as f64 / n;
    report(
        common,
        json!({"groups": maps.len(), "mean_map": mean, "fraction_significant": frac, "threshold": threshold}),
        format!(
            "mAP {mean:.4} over {} groups; {:.1}% significant (BH-corrected p < {threshold})",
            maps.len(),
            100.0 * frac
        ),
    )?;
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<()> {
    match args.metric {
        Metric::Map {
            common,
            pos_sameby,
            pos_diffby,
            neg_sameby,
            neg_diffby,
            group_by,
            map,
        } => {
            let t = load(&common)?;
            let group_by = if group_by.is_empty() {
                pos_sameby.clone()
            } else {
                group_by
            };
            let spec = PairSpec {
                pos_sameby,
                pos_diffby,
                neg_sameby,
                neg_diffby,
            };
            let aps = average_precision(&t, &spec, map.similarity)?;
            let params = MapParams {
                sameby: group_by.clone(),
                null_size: map.null_size as usize,
                threshold: map.threshold,
                seed: map.seed,
            };
            let maps = mean_average_precision(&t, &aps, &params)?;
            map_report(&common, &group_by, &maps, map.threshold)
        }
        Metric::Activity {
            common,
            by,
            controls,
            map,
        } => {
            let t = load(&common)?;
            let (_, maps) = activity_map(&t, &by, &controls, &map.settings())?;
            map_report(&common, &[by], &maps, map.threshold)
        }
        Metric::Consistency {
            common,
            by,
            diff,
            map,
        } => {
            let t = load(&common)?;
            let (_, _, maps) = consistency_map(&t, &by, &diff, &map.settings())?;
            map_report(&common, &[by], &maps, map.threshold)
        }
        Metric::Enrichment {
            common,
            by,
            percentiles,
            similarity,
        } => {
            let t = load(&common)?;
            let e = enrichment(&t, similarity, &by, &percentiles)?;
            let header = ["percentile", "threshold", "odds_ratio", "p_value"].map(String::from);
            write_csv(
                &common.output,
                &header,
                e.iter()
                    .map(|r| {
                        vec![
                            f(r.percentile),
                            f(r.threshold),
                            f(r.odds_ratio),
                            f(r.p_value),
                        ]
                    })
                    .collect(),
            )?;
            report(
                &common,
                json!(e),
                format!(
                    "odds ratio {:.2} at percentile {} ({} percentiles)",
                    e[0].odds_ratio,
                    e[0].percentile,
                    e.len()
                ),
            )?;
            Ok(())
        }
        Metric::Knn {
            common,
            by,
            k_max,
            similarity,
        } => {
            let t = load(&common)?;
            let scores = knn_all_k(&t, similarity, &by, Some(k_max))?;
            let header = ["k", "accuracy", "precision", "recall", "f1"].map(String::from);
            write_csv(
                &common.output,
                &header,
                scores
                    .iter()
                    .map(|(k, s)| {
                        vec![
                            k.to_string(),
                            f(s.accuracy),
                            f(s.precision),
                            f(s.recall),
                            f(s.f1),
                        ]
                    })
                    .collect(),
            )?;
            let best = scores
                .iter()
                .max_by(|a, b| a.1.f1.total_cmp(&b.1.f1))
                .expect("k_max ≥ 1");
            report(
                &common,
                json!(scores),
                format!(
                    "best weighted F1 {:.3} at k = {} (accuracy {:.3})",
                    best.1.f1, best.0, best.1.accuracy
                ),
            )?;
            Ok(())
        }
        Metric::Nsc {
            common,
            label,
            compound,
            batch,
            similarity,
        } => {
            let t = load(&common)?;
            let r = nsc(&t, similarity, &label, &compound, batch.as_deref())?;
            let header = ["row", "predicted", "truth"].map(String::from);
            write_csv(
                &common.output,
                &header,
                r.predictions
                    .iter()
                    .map(|(i, p, q)| vec![i.to_string(), p.clone(), q.clone()])
                    .collect(),
            )?;
            let name = if batch.is_some() { "NSCB" } else { "NSC" };
            report(
                &common,
                json!({"metric": name, "accuracy": r.accuracy, "queries": r.n_queries}),
                format!(
                    "{name} accuracy {:.4} over {} profiles",
                    r.accuracy, r.n_queries
                ),
            )?;
            Ok(())
        }
        Metric::ReplicateReproducibility {
            common,
            by,
            quantile,
            similarity,
        } => {
            let t = load(&common)?;
            let r = replicate_reproducibility(&t, similarity, &by, quantile)?;
            let mut header = by.clone();
            header.push("median_replicate_similarity".into());
            write_csv(
                &common.output,
                &header,
                r.median_per_group
                    .iter()
                    .map(|(k, m)| k.iter().cloned().chain([f(*m)]).collect())
                    .collect(),
            )?;
            report(&common, json!({"fraction": r.fraction, "threshold": r.threshold, "replicate_pairs": r.n_replicate_pairs}), format!("{:.1}% of {} replicate pairs above the {quantile} quantile of non-replicates ({:.4})", 100.0 * r.fraction, r.n_replicate_pairs, r.threshold))?;
            Ok(())
        }
        Metric::PrecisionAtK {
            common,
            by,
            group_by,
            k,
            similarity,
        } => {
            let t = load(&common)?;
            let group_by = if group_by.is_empty() {
                by.clone()
            } else {
                group_by
            };
            let r = precision_recall(&t, similarity, &by, &group_by, &k)?;
            let mut header = group_by.clone();
            header.extend(["k", "precision", "recall"].map(String::from));
            write_csv(
                &common.output,
                &header,
                r.iter()
                    .map(|p| {
                        p.key
                            .iter()
                            .cloned()
                            .chain([p.k.to_string(), f(p.precision), f(p.recall)])
                            .collect()
                    })
                    .collect(),
            )?;
            let parts: Vec<String> = k
                .iter()
                .map(|&kk| {
                    let v: Vec<f64> = r
                        .iter()
                        .filter(|p| p.k == kk)
                        .map(|p| p.precision)
                        .collect();
                    format!(
                        "precision@{kk} {:.3}",
                        v.iter().sum::<f64>() / v.len() as f64
                    )
                })
                .collect();
            report(&common, json!(r), format!("mean {}", parts.join(", ")))?;
            Ok(())
        }
        Metric::Grit {
            common,
            profile,
            group,
            controls,
            similarity,
        } => {
            let t = load(&common)?;
            let g = grit(&t, similarity, &profile, &group, &controls, Summary::Mean)?;
            let header = ["perturbation", "group", "grit"].map(String::from);
            write_csv(
                &common.output,
                &header,
                g.iter()
                    .map(|x| vec![x.perturbation.clone(), x.group.clone(), f(x.grit)])
                    .collect(),
            )?;
            let v: Vec<f64> = g.iter().map(|x| x.grit).filter(|x| !x.is_nan()).collect();
            report(
                &common,
                json!(g),
                format!(
                    "mean grit {:.3} over {} perturbations with a group",
                    v.iter().sum::<f64>() / v.len().max(1) as f64,
                    v.len()
                ),
            )?;
            Ok(())
        }
    }
}
