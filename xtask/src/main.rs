//! `cargo xtask <task>`: project automation.
//!
//! * `reproduce <paper>` — regenerate a paper's figures and tables end to end
//! * `bench <name>` — a benchmark beside its PyTorch peer (`bench.rs`)
//! * `ci` — runs `.ci/run`: the workspace tests, sphering on LAPACK, the CUDA type check

use std::process::Command;

mod bench;

use anyhow::{bail, Context, Result};

/// Papers `reproduce` knows (the `reproduce` crate's binary runs them); each method issue adds
/// its entry here.
const PAPERS: &[(&str, &str)] = &[
    ("cell-painting-vae", "reproduce"),
    ("cytovae", "reproduce"),
    ("deepprofiler", "reproduce"),
    ("moa-profiler", "reproduce"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("reproduce") => reproduce(args.get(1).map(String::as_str), &args[2.min(args.len())..]),
        Some("ci") => ci(),
        Some("bench") => bench::run(args.get(1).map(String::as_str), cargo),
        _ => {
            eprintln!("usage: cargo xtask reproduce <paper> [--quick] [--data DIR] [--out DIR] [--seed N] | cargo xtask bench <efficientnet|vaegan|vae|measure|profiles|map> | cargo xtask ci");
            std::process::exit(2)
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `reproduce <paper> [--data DIR] [--quick] [--out DIR] [--seed N] [--quiet]`.
fn reproduce(paper: Option<&str>, rest: &[String]) -> Result<()> {
    let known = if PAPERS.is_empty() {
        "none yet".to_string()
    } else {
        PAPERS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(paper) = paper else {
        bail!("which paper? known: {known}")
    };
    match PAPERS.iter().find(|(n, _)| *n == paper) {
        Some((_, package)) => {
            let mut args = vec!["run", "--release", "-p", package, "--", paper];
            args.extend(rest.iter().map(String::as_str));
            cargo(&args)
        }
        None => bail!("unknown paper '{paper}'; known: {known}"),
    }
}

/// Exactly what CI runs: `.ci/run` (the README's test command with CI=true, the LAPACK
/// backend's tests, the docs build, the CUDA type check).
fn ci() -> Result<()> {
    eprintln!("$ bash .ci/run");
    let status = Command::new("bash")
        .arg(".ci/run")
        // What CI runs: the real-data tests fail loudly instead of skipping.
        .env("CI", "true")
        .status()
        .context("running .ci/run")?;
    if !status.success() {
        bail!(".ci/run failed ({status})");
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
