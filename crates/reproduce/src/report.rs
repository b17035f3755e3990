//! What every reproduction writes: `report.md` (paper's numbers beside ours), `claims.json`
//! (one verdict per checked claim) and JSON metrics, all atomically.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// One checked claim or table value. `holds` is `None` when the data cannot test it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Stable identifier (`network-learns-…`, `figure-3a-…`).
    pub id: String,
    /// The claim in words.
    pub claim: String,
    /// What the paper reports.
    pub paper: String,
    /// What we measured.
    pub ours: String,
    /// The verdict; `None` when the data cannot test it.
    pub holds: Option<bool>,
}

/// The `network-learns-<name>` claim of a classifier's run directory: holds iff the final
/// epoch's training and validation accuracy (`metrics.jsonl`) are both ≥ 2× chance, chance
/// being 1/`classes`. Not testable (`None`) without a finished epoch or a validation set; a
/// missing or unreadable history is an error, not a verdict.
pub fn network_learns(name: &str, run_dir: &Path, classes: usize) -> Result<Claim> {
    let last = cellpaint_core::read_history(run_dir)?.last().cloned();
    let chance = 1.0 / classes.max(1) as f64;
    let get = |k: &str| {
        last.as_ref()
            .and_then(|r| r.metrics.get(k).copied())
            .filter(|v| v.is_finite())
    };
    let (train, val) = (get("accuracy"), get("val_accuracy"));
    let epochs = last.as_ref().map_or(0, |r| r.epoch + 1);
    let (ours, holds) = match (train, val) {
        (Some(t), Some(v)) => (
            format!(
                "after {epochs} epochs: training accuracy {}, validation {} (chance {}, \
                 {} classes; needs ≥ {} on both)",
                sig(t, 3),
                sig(v, 3),
                sig(chance, 3),
                classes,
                sig(2.0 * chance, 3)
            ),
            Some(t >= 2.0 * chance && v >= 2.0 * chance),
        ),
        _ => (
            "no finished epoch with training and validation accuracy".to_string(),
            None,
        ),
    };
    Ok(Claim::new(
        &format!("network-learns-{name}"),
        &format!("The {name} network learns its classification task (≥ 2× chance, training and validation)"),
        "the paper's networks are trained to convergence",
        ours,
        holds,
    ))
}

impl Claim {
    /// A claim with its verdict.
    pub fn new(
        id: &str,
        claim: &str,
        paper: impl Into<String>,
        ours: impl Into<String>,
        holds: Option<bool>,
    ) -> Self {
        Self {
            id: id.into(),
            claim: claim.into(),
            paper: paper.into(),
            ours: ours.into(),
            holds,
        }
    }
}

/// A Markdown report built section by section.
#[derive(Debug, Default)]
pub struct Report {
    text: String,
}

impl Report {
    /// A report headed `title`.
    pub fn new(title: &str) -> Self {
        Self {
            text: format!("# {title}\n\n"),
        }
    }

    /// A section heading.
    pub fn heading(&mut self, h: &str) -> &mut Self {
        let _ = write!(self.text, "## {h}\n\n");
        self
    }

    /// A paragraph.
    pub fn para(&mut self, p: &str) -> &mut Self {
        let _ = write!(self.text, "{}\n\n", p.trim());
        self
    }

    /// A Markdown table; `|` inside cells is escaped.
    pub fn table<S: AsRef<str>>(&mut self, header: &[&str], rows: &[Vec<S>]) -> &mut Self {
        // A|B labels and |r| would otherwise end a cell early.
        let cell = |c: &str| c.replace('|', "\\|");
        let head: Vec<String> = header.iter().map(|h| cell(h)).collect();
        let _ = writeln!(self.text, "| {} |", head.join(" | "));
        let _ = writeln!(self.text, "|{}", "---|".repeat(header.len()));
        for r in rows {
            let cells: Vec<String> = r.iter().map(|c| cell(c.as_ref())).collect();
            let _ = writeln!(self.text, "| {} |", cells.join(" | "));
        }
        self.text.push('\n');
        self
    }

    /// An image with its caption.
    pub fn figure(&mut self, file: &str, caption: &str) -> &mut Self {
        let _ = write!(self.text, "![{caption}]({file})\n\n*{caption}*\n\n");
        self
    }

    /// The claims as a verdict table.
    pub fn claims(&mut self, claims: &[Claim]) -> &mut Self {
        let rows: Vec<Vec<String>> = claims
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.claim.clone(),
                    c.paper.clone(),
                    c.ours.clone(),
                    match c.holds {
                        Some(true) => "holds".into(),
                        Some(false) => "does not hold".into(),
                        None => "not testable here".into(),
                    },
                ]
            })
            .collect();
        self.table(&["id", "claim", "paper", "ours", "verdict"], &rows)
    }

    /// The Markdown so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Writes report.md and claims.json into `dir`.
pub fn write_report(dir: &Path, report: &Report, claims: &[Claim]) -> Result<()> {
    profiles::write_atomic(&dir.join("report.md"), |w| {
        w.write_all(report.text().as_bytes())
    })?;
    profiles::write_json(&dir.join("claims.json"), &claims)?;
    Ok(())
}

/// `x` with `digits` significant digits (tables mix 0.00387 and 12.3).
pub fn sig(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}
