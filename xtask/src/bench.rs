//! `cargo xtask bench <name>`: our benchmark and, where its PyTorch peer is installed, the
//! peer's, alternating (ours, peer, ours, peer…) so machine noise hits both sides; prints and
//! writes target/bench/NAME.json with every round, the medians and the ratios.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

/// A benchmark with a Rust example and a PyTorch script that print the same keys.
struct Bench {
    name: &'static str,
    package: &'static str,
    example: &'static str,
    peer_script: &'static str,
    /// Python modules the peer imports (checked before it runs).
    peer_modules: &'static str,
    /// What the peer is, as it appears in the summary.
    peer: &'static str,
}

const BENCHES: &[Bench] = &[
    Bench {
        name: "efficientnet",
        package: "cellpaint-core",
        example: "bench_efficientnet",
        peer_script: "scripts/bench_efficientnet_torch.py",
        peer_modules: "torch, torchvision",
        peer: "PyTorch",
    },
    Bench {
        name: "vaegan",
        package: "cyto-vaegan",
        example: "bench_vaegan",
        peer_script: "scripts/bench_vaegan_torch.py",
        peer_modules: "torch",
        peer: "PyTorch",
    },
    Bench {
        name: "vae",
        package: "profile-vae",
        example: "bench_vae",
        peer_script: "scripts/bench_vae_torch.py",
        peer_modules: "torch",
        peer: "PyTorch",
    },
    Bench {
        name: "measure",
        package: "cell-measure",
        example: "bench_measure",
        peer_script: "scripts/bench_measure_cp.py",
        peer_modules: "cp_measure, tifffile",
        peer: "cp_measure",
    },
    Bench {
        name: "profiles",
        package: "cellpaint-profiles",
        example: "bench_profiles",
        peer_script: "scripts/bench_profiles_pycytominer.py",
        peer_modules: "pycytominer",
        peer: "pycytominer",
    },
];

/// Known benchmark names, for usage lines.
pub fn known() -> String {
    let mut names: Vec<&str> = BENCHES.iter().map(|b| b.name).collect();
    names.push("map");
    names.join(", ")
}

/// Runs one benchmark. `BENCH_ROUNDS` (default 2) sets the rounds per side; the peer runs with
/// `CELLPAINT_TORCH_PYTHON` (default `python3`) when it imports the peer's modules.
pub fn run(what: Option<&str>, cargo: impl Fn(&[&str]) -> Result<()>) -> Result<()> {
    std::fs::create_dir_all("target/bench")?;
    if what == Some("map") {
        // mAP: the plain timing harness in profiling-eval/benches (its README has copairs beside it).
        return cargo(&["bench", "-p", "profiling-eval"]);
    }
    let Some(bench) = BENCHES.iter().find(|b| Some(b.name) == what) else {
        bail!("which benchmark? known: {}", known())
    };
    cargo(&[
        "build",
        "--release",
        "-p",
        bench.package,
        "--example",
        bench.example,
    ])?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let binary = Path::new(&target)
        .join("release/examples")
        .join(bench.example);
    let rounds: usize = match std::env::var("BENCH_ROUNDS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .with_context(|| format!("BENCH_ROUNDS must be a whole number ≥ 1, got '{v}'"))?,
        Err(_) => 2,
    };
    let python = std::env::var("CELLPAINT_TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let peer = Command::new(&python)
        .args(["-c", &format!("import {}", bench.peer_modules)])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !peer {
        eprintln!(
            "the {} peer is not installed ({python} cannot import {}): ours only",
            bench.peer, bench.peer_modules
        );
    }
    let ours_file = format!("target/bench/{}.ours.json", bench.name);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}: cellpaint");
        let status = Command::new(&binary)
            .arg(&ours_file)
            .status()
            .with_context(|| format!("running {}", binary.display()))?;
        if !status.success() {
            bail!("{} failed ({status})", binary.display());
        }
        let text =
            std::fs::read_to_string(&ours_file).with_context(|| format!("reading {ours_file}"))?;
        ours.push(
            serde_json::from_str::<Value>(&text).with_context(|| format!("parsing {ours_file}"))?,
        );
        if peer {
            eprintln!("round {round}/{rounds}: {}", bench.peer);
            let out = Command::new(&python)
                .arg(bench.peer_script)
                .output()
                .with_context(|| format!("running {python} {}", bench.peer_script))?;
            if !out.status.success() {
                bail!(
                    "{} failed ({}): {}",
                    bench.peer_script,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
            theirs.push(
                serde_json::from_slice::<Value>(&out.stdout)
                    .with_context(|| format!("parsing the output of {}", bench.peer_script))?,
            );
        }
    }
    let _ = std::fs::remove_file(&ours_file);
    let result = summarise(bench.name, bench.peer, &ours, &theirs);
    let text = serde_json::to_string_pretty(&result)?;
    println!("{text}");
    let path = format!("target/bench/{}.json", bench.name);
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, &path)?;
    eprintln!("wrote {path}");
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// How many times better we are on a measurement (> 1: cellpaint faster or smaller): seconds
/// and megabytes are lower-is-better, rates (`…per_s`) higher-is-better.
fn advantage(key: &str, ours: f64, peer: f64) -> f64 {
    if key.contains("per_s") {
        ours / peer
    } else {
        peer / ours
    }
}

/// Per numeric key: every round's value on each side, the medians and our advantage.
fn summarise(name: &str, peer: &str, ours: &[Value], theirs: &[Value]) -> Value {
    let key_of_peer = peer.to_lowercase();
    let numbers = |runs: &[Value], key: &str| -> Vec<f64> {
        runs.iter().filter_map(|r| r.get(key)?.as_f64()).collect()
    };
    let mut measured = Map::new();
    if let Some(Value::Object(first)) = ours.first() {
        for (key, value) in first {
            if !value.is_number() || key == "threads" {
                continue;
            }
            let (o, p) = (numbers(ours, key), numbers(theirs, key));
            let mo = median(o.clone());
            let mut entry = json!({"cellpaint": o, "cellpaint_median": mo});
            if !p.is_empty() {
                let mp = median(p.clone());
                entry[key_of_peer.as_str()] = json!(p);
                entry[format!("{key_of_peer}_median").as_str()] = json!(mp);
                entry["cellpaint_advantage"] = json!(advantage(key, mo, mp));
            }
            measured.insert(key.clone(), entry);
        }
    }
    let about = |runs: &[Value]| {
        runs.first().map(|r| {
            let mut m = r.as_object().cloned().unwrap_or_default();
            m.retain(|_, v| !v.is_number() || v.as_u64().is_some());
            Value::Object(m)
        })
    };
    json!({
        "bench": name,
        "rounds": ours.len(),
        "order": if theirs.is_empty() { "cellpaint only".to_string() } else { format!("alternating: cellpaint, {peer}, cellpaint, {peer}, …") },
        "cellpaint_advantage_means": "peer ÷ ours for seconds and MB, ours ÷ peer for rates (> 1: cellpaint is faster or smaller)",
        "cellpaint": about(ours),
        key_of_peer.as_str(): about(theirs),
        "measured": Value::Object(measured),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_medians_and_orients_ratios() {
        let ours = vec![
            json!({"model": "a", "threads": 2, "train_step_s": 2.0, "infer_crops_per_s": 30.0}),
            json!({"model": "a", "threads": 2, "train_step_s": 4.0, "infer_crops_per_s": 50.0}),
        ];
        let peer = vec![
            json!({"train_step_s": 1.0, "infer_crops_per_s": 100.0}),
            json!({"train_step_s": 2.0, "infer_crops_per_s": 100.0}),
        ];
        let s = summarise("x", "PyTorch", &ours, &peer);
        let m = &s["measured"];
        assert_eq!(m["train_step_s"]["cellpaint_median"], 3.0);
        assert_eq!(m["train_step_s"]["cellpaint_advantage"], 0.5);
        assert_eq!(m["infer_crops_per_s"]["cellpaint_advantage"], 0.4);
        assert!(m.get("threads").is_none());
        assert_eq!(s["cellpaint"]["threads"], 2);
        let alone = summarise("x", "PyTorch", &ours, &[]);
        assert!(alone["measured"]["train_step_s"].get("pytorch").is_none());
    }
}
